// strata-bench-suite-trace: writes a heat trace (profiler/trace.h format) of a
// strata-bench-suite shape, from a simulation of its accesses, with the
// ground truth beside it. The planner's replay tests read these traces
// (tests/fixtures/traces/suite/, tests/unit/test_suite_replay.cc).
//
//   strata-bench-suite-trace --shape=NAME [--seed=1] [--footprint=64M]
//       [--fast-bytes=20M] [--intervals=24] [--accesses=N] [--window=adaptive|all]
//       > NAME.trace
//
// The shape runs on made-up addresses laid out like an allocator would (no
// memory is touched), --accesses per interval, deterministically.
// --window=adaptive (the default) models the engine's accessed-bit window
// (src/engine/engine.cc): the referenced fractions come from the first W
// accesses of the interval, W starting at a tenth of the interval and halved
// while the median chunk reads more than a quarter as referenced as the top
// one, doubled while the top one reads under half (W in [interval/1000,
// interval/2], as the window is in [1 ms, interval/2] of a 1 s interval);
// --accesses defaults to 16 per heap page. --window=all reads the fractions
// over the whole interval, by default one access per page. Per interval the
// trace has
//   #phase INTERVAL PHASE          the shape's phase
//   INTERVAL CHUNK FRACTION        per 2 MiB chunk (address >> 21): the share
//                                  of its heap pages referenced in the window
//                                  (every chunk at interval 0, in address
//                                  order; later only chunks with a reference)
//   #truth INTERVAL CHUNK SHARE    the share of the interval's accesses that
//                                  went to the chunk (chunks with any)
// and a `#meta` line gives footprint, fast_bytes and chunk_bytes.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "suite_common.h"
#include "suite_shapes.h"

namespace {

using namespace bench;

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "strata-bench-suite-trace: %s\n", msg.c_str());
  std::exit(2);
}

// The engine's window adaptation (src/engine/engine.cc thread_main), in
// accesses instead of milliseconds.
struct Window {
  uint64_t interval;  // accesses per interval
  bool adaptive;
  uint64_t accesses;
  Window(uint64_t n, bool a)
      : interval(n), adaptive(a), accesses(a ? std::max<uint64_t>(n / 10, 1) : n) {}

  void adapt(std::vector<std::pair<double, double>>& seen) {
    if (!adaptive) return;
    double top = 0, total = 0;
    for (const auto& [f, b] : seen) top = std::max(top, f), total += b;
    if (top < 0.02 || total == 0) return;  // the engine skips such a window
    std::sort(seen.begin(), seen.end());
    double acc = 0, median = 0;
    for (const auto& [f, b] : seen) {
      acc += b;
      if (acc >= total / 2) {
        median = f / top;
        break;
      }
    }
    if (median > 0.25)
      accesses = std::max<uint64_t>(interval / 1000, std::max<uint64_t>(accesses / 2, 1));
    else if (top < 0.5)
      accesses = std::min<uint64_t>(interval / 2, accesses * 2);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string shape_name;
  uint64_t seed = 1, footprint = 64 << 20, fast_bytes = 20 << 20, intervals = 24, accesses = 0;
  bool adaptive = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: strata-bench-suite-trace --shape=NAME [--seed=1] [--footprint=64M]\n"
          "       [--fast-bytes=20M] [--intervals=24] [--accesses=N] [--window=adaptive|all]\n"
          "Writes a heat trace of a strata-bench-suite shape with its ground truth.\n");
      return 0;
    }
    if (eq == std::string_view::npos)
      usage_error("unexpected argument \"" + std::string(arg) + "\"");
    const std::string_view name = arg.substr(0, eq), value = arg.substr(eq + 1);
    bool ok = true;
    if (name == "--shape")
      shape_name = value, ok = find_shape(shape_name) != nullptr;
    else if (name == "--seed")
      ok = parse_u64(value, &seed);
    else if (name == "--footprint")
      ok = parse_size(value, &footprint) && footprint >= (1 << 20);
    else if (name == "--fast-bytes")
      ok = parse_size(value, &fast_bytes);
    else if (name == "--intervals")
      ok = parse_u64(value, &intervals) && intervals >= 1 && intervals <= 10000;
    else if (name == "--accesses")
      ok = parse_u64(value, &accesses) && accesses >= 1;
    else if (name == "--window")
      adaptive = value == "adaptive", ok = adaptive || value == "all";
    else
      usage_error("unknown option \"" + std::string(name) + "\"");
    if (!ok) usage_error(std::string(arg) + ": invalid value (see --help)");
  }
  if (shape_name.empty()) usage_error("--shape=NAME is required");
  const ShapeInfo& info = *find_shape(shape_name);
  const RunContext ctx{footprint, intervals};
  // The same streams as strata-bench-suite with this seed.
  const Params params = draw_params(info, ctx, seed);
  Rng rng{seed};
  Heap heap(true);
  auto shape = make_shape(info, params, ctx);
  shape->setup(heap, rng);
  const auto& pages = heap.pages();
  if (accesses == 0) accesses = pages.size() * (adaptive ? 16 : 1);

  std::map<uint64_t, uint64_t> chunk_pages;  // chunk -> heap pages in it
  for (void* p : pages) ++chunk_pages[reinterpret_cast<uintptr_t>(p) >> 21];
  std::printf("# strata-bench-suite-trace --shape=%s --seed=%" PRIu64
              " --footprint=%s"
              " --fast-bytes=%s --intervals=%" PRIu64 " --accesses=%" PRIu64 " --window=%s\n",
              info.name, seed, size_str(footprint).c_str(), size_str(fast_bytes).c_str(), intervals,
              accesses, adaptive ? "adaptive" : "all");
  std::printf("# %s: %s\n# params: %s\n", info.name, info.doc, params.str().c_str());
  std::printf("# %zu objects, %zu pages in %zu chunks of 2 MiB\n", heap.objects(), pages.size(),
              chunk_pages.size());
  std::printf("#meta footprint=%" PRIu64 " fast_bytes=%" PRIu64 " chunk_bytes=2097152\n", footprint,
              fast_bytes);
  std::printf("# INTERVAL CHUNK REFERENCED_FRACTION; #truth INTERVAL CHUNK ACCESS_SHARE\n");

  std::vector<uint32_t> counts(pages.size()), window(pages.size());
  Window w{accesses, adaptive};
  for (uint64_t k = 0; k < intervals; ++k) {
    const int phase = shape->begin_interval(k, rng);
    std::fill(counts.begin(), counts.end(), 0);
    std::fill(window.begin(), window.end(), 0);
    // The window's accesses first, then the rest of the interval's.
    uint64_t n = shape->run(heap, rng, window, 0, w.accesses);
    if (accesses > w.accesses) n += shape->run(heap, rng, counts, 0, accesses - w.accesses);
    std::map<uint64_t, std::pair<uint64_t, uint64_t>> per_chunk;  // referenced pages, accesses
    for (size_t i = 0; i < pages.size(); ++i) {
      if (counts[i] == 0 && window[i] == 0) continue;
      auto& c = per_chunk[reinterpret_cast<uintptr_t>(pages[i]) >> 21];
      c.first += window[i] != 0 ? 1 : 0;
      c.second += counts[i] + window[i];
    }
    std::printf("#phase %" PRIu64 " %d\n", k, phase);
    std::vector<std::pair<double, double>> seen;  // (fraction, pages)
    for (const auto& [chunk, np] : chunk_pages) {
      const auto it = per_chunk.find(chunk);
      const double f = it == per_chunk.end()
                           ? 0.0
                           : static_cast<double>(it->second.first) / static_cast<double>(np);
      seen.emplace_back(f, static_cast<double>(np));
      if ((it == per_chunk.end() || it->second.first == 0) && k > 0) continue;
      std::printf("%" PRIu64 " %" PRIu64 " %.4f\n", k, chunk, f);
    }
    w.adapt(seen);
    for (const auto& [chunk, c] : per_chunk)
      std::printf("#truth %" PRIu64 " %" PRIu64 " %.6f\n", k, chunk,
                  static_cast<double>(c.second) / static_cast<double>(n));
  }
  return 0;
}
