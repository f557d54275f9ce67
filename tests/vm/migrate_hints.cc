// Range hints against the migration engine, for tests/vm/migrate.sh (inside
// the NUMA test VM). NOT linked against strata: strata/strata.h finds the
// preloaded library through dlsym. Run under strata-run with migration on and
// at least two node-backed tiers:
//
//   strata-run -- strata-vm-migrate-hints [--seconds=S] [--unpin-seconds=S]
//
// Buffers are 2 MiB-aligned multiples of 2 MiB (the engine's chunk), so no
// chunk holds two of them and a hint never spills onto a neighbour:
//   pinned    8 MiB on the slowest tier, STRATA_HINT_PIN to that tier
//   control   8 MiB on the slowest tier, no hint (same accesses as `pinned`)
//   cold      8 MiB on the fastest tier, STRATA_HINT_COLD
//   pin-move  4 MiB on the fastest tier, STRATA_HINT_PIN to the slowest tier
//   hot-hint  4 MiB on the slowest tier, STRATA_HINT_HOT, then never touched
// Then every page of pinned, control, cold and pin-move is written over and
// over for --seconds, while every buffer's pages are located with move_pages(2)
// status queries (independent of strata) every 100 ms. The fast tier must have
// room for all of them: only the hints keep them where they are.
// Finally `pinned` is unpinned (STRATA_HINT_UNPIN) and kept hot for
// --unpin-seconds: it must then be promoted like `control` was.
//
// Prints "ok: ..." and "FAIL: ..." lines; exit status 1 if any check failed.
#include <numaif.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "strata/strata.h"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kChunk = size_t{2} << 20;
constexpr size_t kMiB = size_t{1} << 20;

int g_failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) ++g_failures;
}

struct Buffer {
  explicit Buffer(const char* n) : name(n) {}
  const char* name;
  char* p = nullptr;
  size_t len = 0;
  std::vector<void*> pages;
  std::vector<int> status;
};

// Allocates a chunk-aligned buffer on `tier` (a thread hint naming the tier
// places the allocation there) and writes every byte.
bool allocate(Buffer* b, const char* tier, size_t len) {
  if (strata_thread_hint_push(tier) < 0) {
    std::printf("FAIL: strata_thread_hint_push(\"%s\"): %s\n", tier, std::strerror(errno));
    return false;
  }
  b->p = static_cast<char*>(std::aligned_alloc(kChunk, len));
  strata_thread_hint_pop();
  if (b->p == nullptr) {
    std::printf("FAIL: aligned_alloc(2M, %zu) for %s failed\n", len, b->name);
    return false;
  }
  b->len = len;
  std::memset(b->p, 0x5a, len);
  for (size_t off = 0; off < len; off += kPage) b->pages.push_back(b->p + off);
  b->status.assign(b->pages.size(), -1);
  return true;
}

// Pages of the buffer on `node`, from a move_pages(2) status query.
size_t pages_on(Buffer* b, int node) {
  std::fill(b->status.begin(), b->status.end(), -1);
  if (move_pages(0, b->pages.size(), b->pages.data(), nullptr, b->status.data(), 0) != 0) {
    std::printf("FAIL: move_pages (query) on %s: %s\n", b->name, std::strerror(errno));
    std::exit(1);
  }
  size_t n = 0;
  for (int s : b->status)
    if (s == node) ++n;
  return n;
}

std::string where(Buffer* b, int fast_node, int slow_node) {
  const size_t fast = pages_on(b, fast_node);
  const size_t slow = pages_on(b, slow_node);
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: %zu pages, %zu on fast node %d, %zu on slow node %d", b->name,
                b->pages.size(), fast, fast_node, slow, slow_node);
  return buf;
}

strata_stats get_stats() {
  strata_stats st{};
  st.version = STRATA_STATS_VERSION;
  st.size = sizeof st;
  if (strata_get_stats(&st) != 0) {
    std::printf("FAIL: strata_get_stats: %s\n", std::strerror(errno));
    std::exit(1);
  }
  return st;
}

// Writes one word in every page of each buffer, so that the engine samples
// them as equally hot.
void touch(const std::vector<Buffer*>& bufs) {
  for (Buffer* b : bufs)
    for (size_t off = 0; off < b->len; off += kPage) {
      auto* w = reinterpret_cast<volatile uint64_t*>(b->p + off);
      *w = *w + 1;
    }
}

double parse_seconds(std::string_view arg, std::string_view name) {
  std::string v(arg.substr(name.size()));
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(d > 0 && d < 3600)) {
    std::fprintf(stderr, "migrate-hints: bad %.*s%s (expected seconds)\n",
                 static_cast<int>(name.size()), name.data(), v.c_str());
    std::exit(2);
  }
  return d;
}

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 4;
  double unpin_seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("--seconds="))
      seconds = parse_seconds(a, "--seconds=");
    else if (a.starts_with("--unpin-seconds="))
      unpin_seconds = parse_seconds(a, "--unpin-seconds=");
    else {
      std::fprintf(stderr, "usage: %s [--seconds=S] [--unpin-seconds=S]\n", argv[0]);
      return 2;
    }
  }
  if (!strata_available()) {
    std::printf("FAIL: strata is not loaded (%s)\n", strata_status());
    return 1;
  }
  std::printf("hints: %s\n", strata_status());
  const strata_stats st0 = get_stats();
  const int nt = st0.tier_count;
  if (nt < 2 || st0.sampler[0] == '\0') {
    std::printf("FAIL: need 2+ tiers and the migration engine (tiers %d, sampler \"%s\")\n", nt,
                st0.sampler);
    return 1;
  }
  const std::string fast = st0.tiers[0].name;
  const std::string slow = st0.tiers[nt - 1].name;
  const int fast_node = st0.tiers[0].node;
  const int slow_node = st0.tiers[nt - 1].node;
  std::printf("hints: fast tier %s (node %d, cap %llu MiB), slow tier %s (node %d), sampler %s\n",
              fast.c_str(), fast_node, st0.tiers[0].capacity >> 20, slow.c_str(), slow_node,
              st0.sampler);
  if (fast_node < 0 || slow_node < 0 || fast_node == slow_node) {
    std::printf("FAIL: the fastest and slowest tiers need distinct nodes\n");
    return 1;
  }

  Buffer pinned("pinned");
  Buffer control("control");
  Buffer cold("cold");
  Buffer pin_move("pin-move");
  Buffer hot_hint("hot-hint");
  if (!allocate(&pinned, slow.c_str(), 8 * kMiB) || !allocate(&control, slow.c_str(), 8 * kMiB) ||
      !allocate(&cold, fast.c_str(), 8 * kMiB) || !allocate(&pin_move, fast.c_str(), 4 * kMiB) ||
      !allocate(&hot_hint, slow.c_str(), 4 * kMiB))
    return 1;
  Buffer* all[] = {&pinned, &control, &cold, &pin_move, &hot_hint};
  for (Buffer* b : all) std::printf("hints: %s at %p, %zu MiB\n", b->name, b->p, b->len >> 20);

  // Where the allocations landed, before any hint.
  for (Buffer* b : {&pinned, &control, &hot_hint})
    check(pages_on(b, slow_node) == b->pages.size(),
          "placed on the slow tier: " + where(b, fast_node, slow_node));
  for (Buffer* b : {&cold, &pin_move})
    check(pages_on(b, fast_node) == b->pages.size(),
          "placed on the fast tier: " + where(b, fast_node, slow_node));

  // The hints, and the moves they make at once.
  auto hint = [](Buffer* b, int h, const char* tier, const char* what) {
    int r = strata_hint_range(b->p, b->len, h, tier);
    check(r == 0, std::string(what) + " on " + b->name + " returns 0" +
                      (r == 0 ? "" : std::string(" (") + std::strerror(errno) + ")"));
  };
  hint(&pinned, STRATA_HINT_PIN, slow.c_str(), "STRATA_HINT_PIN to the slow tier");
  hint(&cold, STRATA_HINT_COLD, nullptr, "STRATA_HINT_COLD");
  hint(&pin_move, STRATA_HINT_PIN, slow.c_str(), "STRATA_HINT_PIN to the slow tier");
  hint(&hot_hint, STRATA_HINT_HOT, nullptr, "STRATA_HINT_HOT");
  check(pages_on(&pinned, slow_node) == pinned.pages.size(),
        "PIN where it is: stays on the slow tier: " + where(&pinned, fast_node, slow_node));
  check(pages_on(&cold, slow_node) == cold.pages.size(),
        "COLD moves the buffer to the slow tier now: " + where(&cold, fast_node, slow_node));
  check(
      pages_on(&pin_move, slow_node) == pin_move.pages.size(),
      "PIN to the slow tier moves the buffer there now: " + where(&pin_move, fast_node, slow_node));
  check(pages_on(&hot_hint, fast_node) == hot_hint.pages.size(),
        "HOT moves the buffer to the fast tier now: " + where(&hot_hint, fast_node, slow_node));

  // Hot phase: pinned, control, cold and pin-move are written equally often.
  const strata_stats st1 = get_stats();
  const std::vector<Buffer*> hot = {&pinned, &control, &cold, &pin_move};
  size_t samples = 0;
  size_t pinned_off = 0;     // most pages of `pinned` seen off the slow node
  size_t cold_fast = 0;      // ... of `cold` on the fast node
  size_t pin_move_fast = 0;  // ... of `pin-move` on the fast node
  size_t hot_hint_off = 0;   // ... of `hot-hint` off the fast node
  double control_at = -1;    // when `control` was first (almost) all on the fast node
  uint64_t passes = 0;
  const auto t0 = Clock::now();
  auto next_sample = t0;
  while (since(t0) < seconds) {
    touch(hot);
    ++passes;
    if (Clock::now() < next_sample) continue;
    next_sample += std::chrono::milliseconds(100);
    ++samples;
    pinned_off = std::max(pinned_off, pinned.pages.size() - pages_on(&pinned, slow_node));
    cold_fast = std::max(cold_fast, pages_on(&cold, fast_node));
    pin_move_fast = std::max(pin_move_fast, pages_on(&pin_move, fast_node));
    hot_hint_off = std::max(hot_hint_off, hot_hint.pages.size() - pages_on(&hot_hint, fast_node));
    if (control_at < 0 && pages_on(&control, fast_node) * 100 >= control.pages.size() * 95)
      control_at = since(t0);
  }
  const strata_stats st2 = get_stats();
  std::printf("hints: hot phase: %.1f s, %" PRIu64
              " passes, %zu placement samples, %llu engine "
              "intervals; promoted %llu KiB in %llu moves, demoted %llu KiB in %llu moves\n",
              since(t0), passes, samples, st2.migrate_intervals - st1.migrate_intervals,
              (st2.promoted_bytes - st1.promoted_bytes) >> 10, st2.promotions - st1.promotions,
              (st2.demoted_bytes - st1.demoted_bytes) >> 10, st2.demotions - st1.demotions);
  for (Buffer* b : all)
    std::printf("hints: after the hot phase: %s\n", where(b, fast_node, slow_node).c_str());
  check(st2.migrate_intervals - st1.migrate_intervals >= 5,
        "the engine ran " + std::to_string(st2.migrate_intervals - st1.migrate_intervals) +
            " intervals during the hot phase (at least 5)");
  check(pages_on(&control, fast_node) * 100 >= control.pages.size() * 95,
        "the unpinned hot buffer was promoted: " + where(&control, fast_node, slow_node) +
            (control_at >= 0 ? " (95% after " + std::to_string(control_at).substr(0, 4) + " s)"
                             : std::string(" (never 95%)")));
  check(samples >= 10 && pinned_off == 0, "the pinned hot buffer never left the slow node (" +
                                              std::to_string(samples) + " samples, at most " +
                                              std::to_string(pinned_off) + " pages elsewhere)");
  check(cold_fast == 0, "the COLD-hinted hot buffer never came back to the fast node (at most " +
                            std::to_string(cold_fast) + " pages there)");
  check(pin_move_fast == 0,
        "the buffer pinned to the slow tier never came back to the fast node (at most " +
            std::to_string(pin_move_fast) + " pages there)");
  check(hot_hint_off == 0, "the HOT-hinted idle buffer never left the fast node (at most " +
                               std::to_string(hot_hint_off) + " pages elsewhere)");
  const unsigned long long promoted = st2.promoted_bytes - st1.promoted_bytes;
  check(promoted >= 7 * kMiB && promoted < 12 * kMiB,
        "the engine promoted " + std::to_string(promoted >> 10) +
            " KiB: the control buffer (8 MiB), not the pinned or COLD ones");

  // Unpin: the same buffer, as hot as before, is now promoted.
  hint(&pinned, STRATA_HINT_UNPIN, nullptr, "STRATA_HINT_UNPIN");
  const auto t1 = Clock::now();
  double pinned_at = -1;
  next_sample = t1;
  while (since(t1) < unpin_seconds) {
    touch(hot);
    if (Clock::now() < next_sample) continue;
    next_sample += std::chrono::milliseconds(100);
    if (pinned_at < 0 && pages_on(&pinned, fast_node) * 100 >= pinned.pages.size() * 95)
      pinned_at = since(t1);
  }
  check(pages_on(&pinned, fast_node) * 100 >= pinned.pages.size() * 95,
        "after STRATA_HINT_UNPIN the hot buffer was promoted: " +
            where(&pinned, fast_node, slow_node) +
            (pinned_at >= 0 ? " (95% after " + std::to_string(pinned_at).substr(0, 4) + " s)"
                            : std::string(" (never 95%)")));
  check(pages_on(&cold, fast_node) == 0,
        "the COLD-hinted buffer is still on the slow tier: " + where(&cold, fast_node, slow_node));

  for (Buffer* b : all) std::free(b->p);
  std::printf("hints: %d check(s) failed\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
