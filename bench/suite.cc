// strata-bench-suite: one driver, many workload shapes, each with its own
// ground truth, to judge page placement and migration between memory tiers.
//
// Not linked against strata: run it bare or with LD_PRELOAD=libstrata.so and
// compare. `--shape=NAME` picks the shape; its parameters are drawn from
// documented ranges by the seed (printed; `--seed=S` reproduces the run).
// Every interval runs the shape's accesses for --interval-ms, counting each
// access on its page, then asks the kernel where every page is (move_pages(2)
// without target nodes) and prints one CSV line: the share of the interval's
// accesses that hit --fast-node, the share the oracle would have had with the
// interval's most accessed pages on the fast tier (--fast-bytes of them),
// their ratio (capture), bytes per node and strata's counters. A last
// `# summary` line totals the run. See docs/benchmarks.md.
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "suite_common.h"
#include "suite_shapes.h"

namespace {

using namespace bench;

constexpr const char* kProg = "strata-bench-suite";

struct Options {
  std::string shape;
  uint64_t seed = 0;
  bool seed_set = false;
  uint64_t footprint = 0;  // 0: drawn
  int64_t fast_bytes = -1;
  int fast_node = 0;
  uint64_t intervals = 20;
  uint64_t interval_ms = 500;
  uint64_t accesses = 0;  // per interval; 0: time-bound
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "%s: %s (try --help)\n", kProg, msg.c_str());
  std::exit(2);
}

void print_help() {
  std::printf(
      "usage: %s --shape=NAME [options]\n"
      "  --shape=NAME        workload shape (below); --list prints the names\n"
      "  --seed=S            seed of parameters, layout and accesses (default: from the clock,\n"
      "                      printed); the same seed and options give the same run\n"
      "  --footprint=SIZE    bytes the shape allocates (default: drawn, log-uniform 128M-384M)\n"
      "  --fast-bytes=SIZE   fast-tier capacity the oracle may fill (default: footprint / 4)\n"
      "  --fast-node=N       node counted as the fast tier (default 0)\n"
      "  --intervals=N       intervals (default 20)\n"
      "  --interval-ms=T     length of each interval's access loop (default 500)\n"
      "  --accesses=N        exactly N accesses per interval instead of a time (the\n"
      "                      several-threads shape then runs its threads one after another)\n"
      "SIZE: bytes with an optional K, M, G or T suffix.\n"
      "Output: CSV with `#` comment lines (seed, parameters, summary).\n\n"
      "shapes and the ranges their parameters are drawn from (share = of the footprint,\n"
      "intervals = share of --intervals):\n",
      kProg);
  for (const ShapeInfo& s : shape_table()) {
    std::printf("  %s: %s\n", s.name, s.doc);
    for (const ParamSpec& p : s.params) {
      const char* kind = p.kind == ParamSpec::kSize        ? "size, log-uniform"
                         : p.kind == ParamSpec::kShare     ? "share"
                         : p.kind == ParamSpec::kInt       ? "integer"
                         : p.kind == ParamSpec::kIntervals ? "intervals"
                                                           : "number";
      if (p.kind == ParamSpec::kSize)
        std::printf("      %-10s %s-%s (%s): %s\n", p.name,
                    size_str(static_cast<uint64_t>(p.lo)).c_str(),
                    size_str(static_cast<uint64_t>(p.hi)).c_str(), kind, p.doc);
      else
        std::printf("      %-10s %g-%g (%s): %s\n", p.name, p.lo, p.hi, kind, p.doc);
    }
  }
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_help();
      std::exit(0);
    }
    if (arg == "--list") {
      for (const ShapeInfo& s : shape_table()) std::printf("%s\n", s.name);
      std::exit(0);
    }
    const size_t eq = arg.find('=');
    if (!arg.starts_with("--") || eq == std::string_view::npos)
      usage_error("unexpected argument \"" + std::string(arg) + "\" (options are --name=value)");
    const std::string_view name = arg.substr(0, eq);
    const std::string_view value = arg.substr(eq + 1);
    auto bad = [&](const char* expected) {
      usage_error(std::string(arg) + ": expected " + expected);
    };
    uint64_t u = 0;
    if (name == "--shape") {
      o.shape = value;
      if (find_shape(o.shape) == nullptr) bad("a shape name (--list prints them)");
    } else if (name == "--footprint" || name == "--fast-bytes") {
      if (!parse_size(value, &u) || u < (64 << 10) || u > (uint64_t{1} << 42))
        bad("a size from 64K to 4T");
      if (name == "--footprint") o.footprint = u;
      if (name == "--fast-bytes") o.fast_bytes = static_cast<int64_t>(u);
    } else if (name == "--seed") {
      if (!parse_u64(value, &o.seed)) bad("an unsigned integer");
      o.seed_set = true;
    } else if (name == "--intervals" || name == "--interval-ms" || name == "--accesses") {
      if (!parse_u64(value, &u) || u < 1 || u > 1000000000) bad("an integer from 1 to 1e9");
      if (name == "--intervals") o.intervals = u;
      if (name == "--interval-ms") o.interval_ms = u;
      if (name == "--accesses") o.accesses = u;
    } else if (name == "--fast-node") {
      if (!parse_u64(value, &u) || u > static_cast<uint64_t>(max_numa_node()))
        bad(("a node of this machine (0-" + std::to_string(max_numa_node()) + ")").c_str());
      o.fast_node = static_cast<int>(u);
    } else {
      usage_error("unknown option \"" + std::string(name) + "\"");
    }
  }
  if (o.shape.empty()) usage_error("--shape=NAME is required");
  if (!o.seed_set) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    o.seed = static_cast<uint64_t>(ts.tv_nsec) ^ (static_cast<uint64_t>(getpid()) << 32) ^
             static_cast<uint64_t>(ts.tv_sec);
    o.seed %= 1000000000;  // short enough to type
  }
  return o;
}

struct Totals {
  uint64_t accesses = 0;
  double fast = 0, oracle = 0, cpu_ms = 0;
};

void print_header(int max_node) {
  std::printf("interval,phase,accesses,fast_hit,oracle_hit,capture");
  for (int n = 0; n <= max_node; ++n) std::printf(",node%d_bytes", n);
  std::printf(
      ",absent_bytes,loop_ms,cpu_ms,promoted_bytes,demoted_bytes,engine_cpu_ms,sampler_cpu_ms,"
      "engine_intervals\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  const ShapeInfo& info = *find_shape(o.shape);
  Rng frng{o.seed ^ 0x5851f42d4c957f2dULL};
  if (o.footprint == 0)
    o.footprint = static_cast<uint64_t>(frng.log_range(128 << 20, 384 << 20)) & ~(kPage - 1);
  if (o.fast_bytes < 0) o.fast_bytes = static_cast<int64_t>(o.footprint / 4);
  const RunContext ctx{o.footprint, o.intervals};
  const Params params = draw_params(info, ctx, o.seed);
  std::printf("# %s --shape=%s --seed=%" PRIu64
              " --footprint=%s --fast-bytes=%s --intervals=%" PRIu64 " --interval-ms=%" PRIu64 "\n",
              kProg, info.name, o.seed, size_str(o.footprint).c_str(),
              size_str(static_cast<uint64_t>(o.fast_bytes)).c_str(), o.intervals, o.interval_ms);
  std::printf("# %s: %s\n# params: %s\n", info.name, info.doc, params.str().c_str());
  std::fflush(stdout);

  Rng rng{o.seed};
  Heap heap(false);
  auto shape = make_shape(info, params, ctx);
  shape->setup(heap, rng);
  const int max_node = max_numa_node();
  const uint64_t npages = heap.pages().size();
  const uint64_t oracle_pages =
      std::min<uint64_t>(static_cast<uint64_t>(o.fast_bytes) / kPage, npages);
  std::printf("# heap: %zu objects, %" PRIu64 " pages (%.1f MiB), oracle: best %" PRIu64
              " pages on node %d\n",
              heap.objects(), npages, static_cast<double>(npages * kPage) / kMiB, oracle_pages,
              o.fast_node);
  print_header(max_node);
  std::fflush(stdout);

  std::vector<uint32_t> counts(npages), scratch;
  Placement pl;
  Totals tot;
  for (uint64_t k = 0; k < o.intervals; ++k) {
    const int phase = shape->begin_interval(k, rng);
    std::fill(counts.begin(), counts.end(), 0);
    const double cpu0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    const double t0 = now_ms(CLOCK_MONOTONIC);
    const uint64_t acc =
        shape->run(heap, rng, counts, t0 + static_cast<double>(o.interval_ms), o.accesses);
    const double t1 = now_ms(CLOCK_MONOTONIC);
    const double cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    if (!query_nodes(heap.pages(), max_node, &pl)) {
      std::perror("strata-bench-suite: move_pages (query)");
      return 1;
    }
    const Hits h = fast_and_oracle(counts, pl, o.fast_node, oracle_pages, &scratch);
    const StrataCounters sc = strata_counters();
    const double a = static_cast<double>(acc);
    std::printf("%" PRIu64 ",%d,%" PRIu64 ",%.4f,%.4f,%.4f", k, phase, acc,
                static_cast<double>(h.fast) / a, static_cast<double>(h.oracle) / a,
                h.oracle ? static_cast<double>(h.fast) / static_cast<double>(h.oracle) : 0.0);
    for (uint64_t n : pl.node_pages) std::printf(",%" PRIu64, n * kPage);
    std::printf(",%" PRIu64 ",%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%.1f,%.1f,%" PRIu64 "\n",
                pl.absent_pages * kPage, t1 - t0, cpu, sc.promoted_bytes, sc.demoted_bytes,
                sc.engine_cpu_ms, sc.sampler_cpu_ms, sc.engine_intervals);
    std::fflush(stdout);
    tot.accesses += acc;
    tot.fast += static_cast<double>(h.fast);
    tot.oracle += static_cast<double>(h.oracle);
    tot.cpu_ms += cpu;
  }
  const StrataCounters sc = strata_counters();
  const double a = static_cast<double>(std::max<uint64_t>(tot.accesses, 1));
  std::printf("# summary shape=%s seed=%" PRIu64 " accesses=%" PRIu64
              " fast_hit=%.4f oracle_hit=%.4f capture=%.4f promoted_MiB=%.1f demoted_MiB=%.1f"
              " engine_cpu_ms=%.1f sampler_cpu_ms=%.1f loop_cpu_ms=%.1f sampler_share=%.4f\n",
              info.name, o.seed, tot.accesses, tot.fast / a, tot.oracle / a,
              tot.oracle > 0 ? tot.fast / tot.oracle : 0.0,
              static_cast<double>(sc.promoted_bytes) / kMiB,
              static_cast<double>(sc.demoted_bytes) / kMiB, sc.engine_cpu_ms, sc.sampler_cpu_ms,
              tot.cpu_ms, tot.cpu_ms > 0 ? sc.sampler_cpu_ms / tot.cpu_ms : 0.0);
  return 0;
}
