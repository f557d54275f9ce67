// strata-bench-hotset: a GUPS-like workload whose hot set moves, to judge page
// placement and migration between memory tiers.
//
// This program is NOT linked against strata: run it bare or with
// LD_PRELOAD=libstrata.so (and STRATA_* settings) and compare.
//
// It mallocs a footprint (in chunks, or as one block), touches every page, and
// then runs intervals of random 8-byte read-modify-writes: --hot-fraction of
// them land in a hot set (a contiguous part of the footprint), the rest in the
// cold remainder. At interval --phase-at the hot set moves to the other half of
// the footprint. After each interval, outside the timed loop, it asks the
// kernel which node holds every page of the footprint (move_pages(2) with no
// target nodes) and prints one line:
//   fast_hit    accesses of the interval that hit pages on --fast-node
//   oracle_hit  what the best placement would have given if the fast node held
//               --fast-bytes of the footprint: the interval's most accessed
//               pages first (so the hot set first)
//   node bytes  the footprint's pages on each node, and not present
//   cpu_ms      process CPU time over the access loop, all threads: a
//               preloaded library's background work shows up as cpu_ms - loop_ms
//   migrated_MiB, engine_ms, sampler_ms
//               under strata (found through strata.h, without linking it): bytes
//               its engine moved, and the CPU time of the engine and of its
//               sampling part, all cumulative; 0 without strata
//   hot0_fast_bytes, hot1_fast_bytes (--csv)
//               bytes of the phase-0 and of the phase-1 hot set on --fast-node:
//               where a known set went (promoted, demoted), whoever moved it
//   promoted_bytes (--csv)
//               the part of migrated_bytes that strata's engine promoted
//
//   strata-bench-hotset [--footprint=512M] [--hot=64M] [--hot-fraction=0.9]
//                       [--alloc=chunks|block] [--chunk=2M] [--intervals=10]
//                       [--interval-ms=1000] [--phase-at=K] [--fast-node=0]
//                       [--fast-bytes=SIZE] [--seed=1] [--wait-for=FILE]
//                       [--phase-wait=FILE] [--csv]

#include <numa.h>
#include <numaif.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "strata/strata.h"
#include "suite_common.h"

namespace {

using bench::parse_double;
using bench::parse_size;
using bench::parse_u64;
using bench::Rng;
using bench::size_str;

constexpr const char* kProg = "strata-bench-hotset";
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiB = 1 << 20;
constexpr unsigned long kQueryBatch = 4096;  // pages per move_pages call

struct Options {
  uint64_t footprint = 512 * kMiB;
  uint64_t hot = 64 * kMiB;
  uint64_t hot_offset = 0;
  double hot_fraction = 0.9;
  bool block = false;  // one malloc instead of chunks
  uint64_t chunk = 2 * kMiB;
  uint64_t intervals = 10;
  uint64_t interval_ms = 1000;
  int64_t phase_at = -1;  // -1: intervals / 2; 0: never
  int fast_node = 0;
  int64_t fast_bytes = -1;  // -1: the hot set's size
  uint64_t seed = 1;
  bool csv = false;
  std::string wait_for;    // after the fill: wait until this file exists
  std::string phase_wait;  // at the phase change: wait until this file exists
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "%s: %s (try --help)\n", kProg, msg.c_str());
  std::exit(2);
}

void print_help() {
  std::printf(
      "usage: %s [options]\n"
      "  --footprint=SIZE     bytes allocated and accessed (default 512M)\n"
      "  --hot=SIZE           hot set, a contiguous part of the footprint (default 64M)\n"
      "  --hot-offset=SIZE    where the hot set starts in the footprint (default 0); the\n"
      "                       phase change moves it by half the footprint\n"
      "  --hot-fraction=F     share of accesses that go to the hot set, 0..1 (default 0.9)\n"
      "  --alloc=chunks|block malloc the footprint in --chunk pieces or at once (default chunks)\n"
      "  --chunk=SIZE         chunk size, a power of two >= 4K (default 2M)\n"
      "  --intervals=N        intervals to run (default 10)\n"
      "  --interval-ms=T      length of the timed access loop of each interval (default 1000)\n"
      "  --phase-at=K         the hot set moves at interval K; 0 = never (default N/2)\n"
      "  --fast-node=N        the node counted as the fast tier (default 0)\n"
      "  --fast-bytes=SIZE    fast-node capacity the oracle may fill (default: --hot)\n"
      "  --seed=S             random seed (default 1)\n"
      "  --wait-for=FILE      after the fill (and the header line), wait until FILE exists\n"
      "                       before the first interval, e.g. for an observer to start\n"
      "  --phase-wait=FILE    at the phase change, wait until FILE exists (nothing is\n"
      "                       accessed meanwhile: every set goes cold)\n"
      "  --csv                comma-separated output with one header line; besides the\n"
      "                       columns above, hot0_fast_bytes and hot1_fast_bytes: bytes of\n"
      "                       the phase-0 and phase-1 hot sets on --fast-node\n"
      "SIZE: bytes with an optional K, M, G or T suffix (binary).\n",
      kProg);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      print_help();
      std::exit(0);
    }
    if (arg == "--csv") {
      o.csv = true;
      continue;
    }
    if (!arg.starts_with("--")) usage_error("unexpected argument \"" + std::string(arg) + "\"");
    std::string_view name = arg;
    std::string_view value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      usage_error(std::string(arg) + ": missing value");
    }
    const std::string shown = std::string(name) + "=" + std::string(value);
    auto bad = [&](const char* expected) { usage_error(shown + ": expected " + expected); };
    uint64_t u = 0;
    if (name == "--footprint" || name == "--hot" || name == "--chunk" || name == "--fast-bytes" ||
        name == "--hot-offset") {
      if (!parse_size(value, &u)) bad("a size (bytes with an optional K, M, G or T suffix)");
      if (name == "--footprint") o.footprint = u;
      if (name == "--hot") o.hot = u;
      if (name == "--hot-offset") o.hot_offset = u;
      if (name == "--chunk") o.chunk = u;
      if (name == "--fast-bytes")
        o.fast_bytes = static_cast<int64_t>(std::min<uint64_t>(u, INT64_MAX));
    } else if (name == "--hot-fraction") {
      if (!parse_double(value, &o.hot_fraction) || !(o.hot_fraction >= 0 && o.hot_fraction <= 1))
        bad("a number in [0, 1]");
    } else if (name == "--alloc") {
      if (value != "chunks" && value != "block") bad("chunks or block");
      o.block = value == "block";
    } else if (name == "--intervals" || name == "--interval-ms" || name == "--phase-at" ||
               name == "--seed") {
      if (!parse_u64(value, &u)) bad("an unsigned integer");
      if (name == "--intervals") o.intervals = u;
      if (name == "--interval-ms") o.interval_ms = u;
      if (name == "--phase-at") o.phase_at = static_cast<int64_t>(std::min<uint64_t>(u, 1 << 30));
      if (name == "--seed") o.seed = u;
    } else if (name == "--wait-for" || name == "--phase-wait") {
      if (value.empty()) bad("a file name");
      (name == "--wait-for" ? o.wait_for : o.phase_wait) = std::string(value);
    } else if (name == "--fast-node") {
      if (!parse_u64(value, &u) || u > 4095) bad("a node number");
      o.fast_node = static_cast<int>(u);
    } else {
      usage_error("unknown option \"" + std::string(name) + "\"");
    }
  }

  auto check = [](bool ok, const std::string& msg) {
    if (!ok) usage_error(msg);
  };
  check(o.footprint >= kPage, "--footprint=" + size_str(o.footprint) + ": expected at least 4K");
  check(o.hot >= 8 && o.hot <= o.footprint, "--hot=" + size_str(o.hot) +
                                                ": expected 8 bytes up to --footprint (" +
                                                size_str(o.footprint) + ")");
  check(o.hot < o.footprint || o.hot_fraction == 1,
        "--hot=" + size_str(o.hot) +
            ": expected less than --footprint unless --hot-fraction=1 (the cold part is empty)");
  check(o.hot_offset < o.footprint, "--hot-offset=" + size_str(o.hot_offset) +
                                        ": expected less than --footprint (" +
                                        size_str(o.footprint) + ")");
  check(o.block || (o.chunk >= kPage && (o.chunk & (o.chunk - 1)) == 0),
        "--chunk=" + size_str(o.chunk) + ": expected a power of two of at least 4K");
  check(o.intervals >= 1 && o.intervals <= 1000000,
        "--intervals=" + std::to_string(o.intervals) + ": expected 1 to 1000000");
  check(o.interval_ms >= 1 && o.interval_ms <= 3600000,
        "--interval-ms=" + std::to_string(o.interval_ms) + ": expected 1 to 3600000");
  if (o.phase_at < 0) o.phase_at = static_cast<int64_t>(o.intervals / 2);
  check(static_cast<uint64_t>(o.phase_at) < o.intervals,
        "--phase-at=" + std::to_string(o.phase_at) + ": expected 0 (never) to --intervals - 1 (" +
            std::to_string(o.intervals - 1) + ")");
  const int max_node = numa_available() < 0 ? 0 : numa_max_node();
  check(o.fast_node <= max_node, "--fast-node=" + std::to_string(o.fast_node) +
                                     ": expected a node of this machine (0-" +
                                     std::to_string(max_node) + ")");
  if (o.fast_bytes < 0) o.fast_bytes = static_cast<int64_t>(o.hot);
  return o;
}

double now_ms(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The footprint as the program sees it: a run of words, split across chunks.
struct Footprint {
  std::vector<uint64_t*> base;       // per chunk
  std::vector<uint64_t> first_page;  // per chunk: index of its first page in `pages`
  std::vector<uintptr_t> base_page;  // per chunk: address of its first page >> 12
  std::vector<void*> pages;          // every page the footprint touches
  uint64_t words = 0;
  unsigned chunk_shift = 63;  // word index >> chunk_shift = chunk
  uint64_t chunk_mask = ~0ULL;
};

// Bytes of [lo, hi) in transparent huge pages (AnonHugePages of the VMAs in
// /proc/self/smaps, prorated for VMAs that overlap the range partly).
uint64_t huge_bytes(uintptr_t lo, uintptr_t hi) {
  FILE* f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) return 0;
  char line[512];
  uintptr_t a = 0;
  uintptr_t b = 0;
  bool in = false;
  uint64_t total = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long s = 0;
    unsigned long e = 0;
    if (std::sscanf(line, "%lx-%lx ", &s, &e) == 2 && std::strchr(line, ':') != nullptr &&
        std::strchr(line, '-') < std::strchr(line, ' ')) {
      a = s;
      b = e;
      in = b > lo && a < hi;
      continue;
    }
    unsigned long kb = 0;
    if (in && std::sscanf(line, "AnonHugePages: %lu kB", &kb) == 1 && b > a) {
      const uintptr_t ov = std::min(b, hi) - std::max(a, lo);
      total += static_cast<uint64_t>(static_cast<double>(kb) * 1024.0 * static_cast<double>(ov) /
                                     static_cast<double>(b - a));
    }
  }
  std::fclose(f);
  return total;
}

Footprint allocate(const Options& o) {
  Footprint f;
  const uint64_t chunk = o.block ? o.footprint : o.chunk;
  if (!o.block) {
    f.chunk_shift = static_cast<unsigned>(__builtin_ctzll(chunk / 8));
    f.chunk_mask = chunk / 8 - 1;
  }
  f.words = o.footprint / 8;
  for (uint64_t off = 0; off < o.footprint; off += chunk) {
    const uint64_t size = std::min(chunk, o.footprint - off);
    auto* p = static_cast<uint64_t*>(std::malloc(size));
    if (p == nullptr) {
      std::fprintf(stderr, "%s: malloc(%" PRIu64 ") failed after %" PRIu64 " bytes\n", kProg, size,
                   off);
      std::exit(1);
    }
    std::memset(p, 1, size);  // first touch: every page is present from here on
    const uintptr_t lo = reinterpret_cast<uintptr_t>(p) / kPage;
    const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + size - 1) / kPage;
    f.base.push_back(p);
    f.first_page.push_back(f.pages.size());
    f.base_page.push_back(lo);
    for (uintptr_t pg = lo; pg <= hi; ++pg) f.pages.push_back(reinterpret_cast<void*>(pg * kPage));
  }
  return f;
}

struct Placement {
  std::vector<int> status;           // per page: node, or -errno
  std::vector<uint64_t> node_pages;  // per node
  uint64_t absent_pages = 0;
};

void query_nodes(Footprint& f, int max_node, Placement* pl) {
  pl->status.assign(f.pages.size(), -1);
  pl->node_pages.assign(static_cast<size_t>(max_node) + 1, 0);
  pl->absent_pages = 0;
  for (size_t i = 0; i < f.pages.size(); i += kQueryBatch) {
    const unsigned long n = std::min<unsigned long>(kQueryBatch, f.pages.size() - i);
    if (move_pages(0, n, &f.pages[i], nullptr, &pl->status[i], 0) != 0) {
      std::fprintf(stderr, "%s: move_pages (query): %s\n", kProg, std::strerror(errno));
      std::exit(1);
    }
  }
  for (int s : pl->status) {
    if (s >= 0 && s <= max_node)
      ++pl->node_pages[s];
    else
      ++pl->absent_pages;
  }
}

// The index in Footprint::pages of the page that holds word IDX.
uint64_t page_of_word(const Footprint& f, uint64_t idx) {
  const uint64_t c = idx >> f.chunk_shift;
  const auto addr = reinterpret_cast<uintptr_t>(f.base[c] + (idx & f.chunk_mask));
  return f.first_page[c] + (addr / kPage - f.base_page[c]);
}

// Bytes on NODE of the HOT_WORDS words from word START on (wrapping around).
uint64_t set_bytes_on(const Footprint& f, const Placement& pl, uint64_t start, uint64_t hot_words,
                      int node) {
  uint64_t pages = 0;
  for (uint64_t w = 0; w < hot_words; w += kPage / 8)
    if (pl.status[page_of_word(f, (start + w) % f.words)] == node) ++pages;
  return pages * kPage;
}

// --wait-for: polls every 10 ms until PATH exists.
void wait_for_file(const std::string& path) {
  const timespec tick{0, 10 * 1000 * 1000};
  while (access(path.c_str(), F_OK) != 0) nanosleep(&tick, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const int max_node = numa_available() < 0 ? 0 : numa_max_node();
  Footprint f = allocate(o);
  const uint64_t hot_words = std::max<uint64_t>(o.hot / 8, 1);
  const uint64_t cold_words = f.words - std::min(f.words, hot_words);
  const uint64_t npages = f.pages.size();
  const uint64_t oracle_pages =
      std::min<uint64_t>(static_cast<uint64_t>(o.fast_bytes) / kPage, npages);
  std::vector<uint32_t> counts(npages);
  std::vector<uint32_t> sorted(npages);
  Placement pl;
  Rng rng{o.seed};
  // An access goes to the hot set when a uniform 64-bit draw is below this.
  const double scaled = o.hot_fraction * 0x1p64;
  const uint64_t hot_threshold = scaled >= 0x1p64 ? UINT64_MAX : static_cast<uint64_t>(scaled);

  if (o.csv) {
    std::printf("interval,phase,accesses,fast_hit,oracle_hit");
    for (int n = 0; n <= max_node; ++n) std::printf(",node%d_bytes", n);
    std::printf(
        ",absent_bytes,loop_ms,cpu_ms,migrated_bytes,engine_cpu_ms,sampler_cpu_ms,engine_"
        "intervals,hot0_fast_bytes,hot1_fast_bytes,promoted_bytes\n");
  } else {
    std::printf("# %s: footprint %.1f MiB as %s; hot set %.1f MiB gets %.0f%% of accesses", kProg,
                static_cast<double>(o.footprint) / kMiB,
                o.block ? "one block"
                        : (std::to_string(f.base.size()) + " chunks of " +
                           std::to_string(o.chunk >> 10) + " KiB")
                              .c_str(),
                static_cast<double>(o.hot) / kMiB, o.hot_fraction * 100);
    if (o.phase_at > 0)
      std::printf(", moves at interval %" PRId64 "\n", o.phase_at);
    else
      std::printf(", never moves\n");
    std::printf("# %" PRIu64 " intervals of %" PRIu64
                " ms; fast node %d; oracle: best %.1f MiB on it\n",
                o.intervals, o.interval_ms, o.fast_node, static_cast<double>(o.fast_bytes) / kMiB);
    std::printf("%8s %5s %12s %8s %10s", "interval", "phase", "accesses", "fast_hit", "oracle_hit");
    for (int n = 0; n <= max_node; ++n) {
      char label[32];
      std::snprintf(label, sizeof label, "node%d_MiB", n);
      std::printf(" %13s", label);
    }
    std::printf(" %10s %8s %8s %12s %10s %10s\n", "absent_MiB", "loop_ms", "cpu_ms", "migrated_MiB",
                "engine_ms", "sampler_ms");
  }
  std::fflush(stdout);
  if (!o.wait_for.empty()) wait_for_file(o.wait_for);

  const uint64_t hot_start0 = (o.hot_offset / 8) & ~uint64_t{kPage / 8 - 1};  // in words
  const uint64_t hot_start1 = (hot_start0 + ((f.words / 2) & ~uint64_t{kPage / 8 - 1})) % f.words;
  uint64_t hot_start = hot_start0;
  uint64_t total_accesses = 0;
  double total_cpu = 0;
  for (uint64_t interval = 0; interval < o.intervals; ++interval) {
    const int phase = o.phase_at > 0 && interval >= static_cast<uint64_t>(o.phase_at) ? 1 : 0;
    if (phase == 1) hot_start = hot_start1;  // half the footprint further on
    if (phase == 1 && interval == static_cast<uint64_t>(o.phase_at) && !o.phase_wait.empty())
      wait_for_file(o.phase_wait);
    const uint64_t cold_start = hot_start + hot_words;
    std::fill(counts.begin(), counts.end(), 0);

    // Timed loop: only accesses and counting; the clock is read every 1024 accesses.
    uint64_t accesses = 0;
    const double cpu0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    const double t0 = now_ms(CLOCK_MONOTONIC);
    const double deadline = t0 + static_cast<double>(o.interval_ms);
    double t1;
    do {
      for (int k = 0; k < 1024; ++k) {
        uint64_t idx = rng.next() < hot_threshold ? hot_start + rng.below(hot_words)
                                                  : cold_start + rng.below(cold_words);
        while (idx >= f.words) idx -= f.words;
        const uint64_t c = idx >> f.chunk_shift;
        uint64_t* p = f.base[c] + (idx & f.chunk_mask);
        *p = *p * 3 + 1;
        ++counts[f.first_page[c] + (reinterpret_cast<uintptr_t>(p) / kPage - f.base_page[c])];
      }
      accesses += 1024;
      t1 = now_ms(CLOCK_MONOTONIC);
    } while (t1 < deadline);
    const double cpu = now_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    total_accesses += accesses;
    total_cpu += cpu;

    // Placement and the oracle, outside the timed loop.
    query_nodes(f, max_node, &pl);
    uint64_t fast = 0;
    for (uint64_t i = 0; i < npages; ++i)
      if (pl.status[i] == o.fast_node) fast += counts[i];
    sorted = counts;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(oracle_pages),
                     sorted.end(), std::greater<>());
    uint64_t best = 0;
    for (uint64_t i = 0; i < oracle_pages; ++i) best += sorted[i];
    const double acc = static_cast<double>(accesses);
    // strata's migration counters (cumulative), when the program runs under it.
    strata_stats st{};
    st.version = STRATA_STATS_VERSION;
    st.size = sizeof st;
    if (strata_get_stats(&st) != 0 || st.size < sizeof st) st = strata_stats{};
    const uint64_t migrated = st.promoted_bytes + st.demoted_bytes;
    const double engine_ms = static_cast<double>(st.engine_cpu_ns) / 1e6;
    const double sampler_ms = static_cast<double>(st.sampler_cpu_ns) / 1e6;
    const uint64_t engine_intervals = st.migrate_intervals;

    if (o.csv) {
      std::printf("%" PRIu64 ",%d,%" PRIu64 ",%.4f,%.4f", interval, phase, accesses,
                  static_cast<double>(fast) / acc, static_cast<double>(best) / acc);
      for (uint64_t n : pl.node_pages) std::printf(",%" PRIu64, n * kPage);
      std::printf(",%" PRIu64 ",%.1f,%.1f,%" PRIu64 ",%.1f,%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64
                  ",%" PRIu64 "\n",
                  pl.absent_pages * kPage, t1 - t0, cpu, migrated, engine_ms, sampler_ms,
                  engine_intervals, set_bytes_on(f, pl, hot_start0, hot_words, o.fast_node),
                  set_bytes_on(f, pl, hot_start1, hot_words, o.fast_node),
                  static_cast<uint64_t>(st.promoted_bytes));
    } else {
      std::printf("%8" PRIu64 " %5d %12" PRIu64 " %8.3f %10.3f", interval, phase, accesses,
                  static_cast<double>(fast) / acc, static_cast<double>(best) / acc);
      for (uint64_t n : pl.node_pages)
        std::printf(" %13.1f", static_cast<double>(n * kPage) / kMiB);
      std::printf(" %10.1f %8.0f %8.0f %12.1f %10.1f %10.1f\n",
                  static_cast<double>(pl.absent_pages * kPage) / kMiB, t1 - t0, cpu,
                  static_cast<double>(migrated) / kMiB, engine_ms, sampler_ms);
    }
    std::fflush(stdout);
  }
  {
    // On stderr with --csv, so the CSV stays one table.
    uint64_t huge = 0;
    for (size_t c = 0; c < f.base.size(); ++c) {
      const auto lo = reinterpret_cast<uintptr_t>(f.base[c]);
      huge += huge_bytes(lo, lo + (o.block ? o.footprint : o.chunk));
    }
    std::fprintf(o.csv ? stderr : stdout,
                 "# huge pages: %.1f MiB of the footprint in transparent huge pages\n",
                 static_cast<double>(huge) / kMiB);
  }
  if (!o.csv)
    std::printf("# total: %" PRIu64 " accesses, %.0f ms process CPU in the access loops\n",
                total_accesses, total_cpu);
  for (uint64_t* p : f.base) std::free(p);
  return 0;
}
