// The migration planner replayed on heat traces of every strata-bench-suite
// shape (tests/fixtures/traces/suite/, written by strata-bench-suite-trace
// from the shape's own access distribution through a model of the engine's
// adaptive accessed-bit window, with the ground truth as `#truth INTERVAL
// CHUNK ACCESS_SHARE` lines), on three trace sets: the main one and two
// held out (other seeds, footprints, fast tiers and lengths; heldout/), which
// no constant was chosen on. The planner runs at its default settings (EWMA
// heat, promote 0.5, demote 0.1, hold 4, 256 MiB/s) with heat measured as the
// engine does (relative to the interval's top chunk), against a fast tier
// without a cap whose node holds fast_bytes for the program (the suite's
// `strata` peer) and an unlimited slow tier; chunks start where first touch
// puts them.
//
// Asserted on every shape and trace set (check_shape; the few shapes that
// cannot reach a bound have their best achievable one in SUITE_CASE, and
// docs/benchmarks.md says why):
//  - capture: the placement after interval i's moves serves interval i+1; its
//    share of the accesses, over the oracle's (the K chunks with the most
//    accesses, K = fast_bytes / chunk size), summed over settled intervals, is
//    at least 0.9. Settled: 3 or more intervals (3 s at the default 1 s
//    interval, inside the 10 s) into a phase; a shape whose phases
//    last under 4 intervals counts every interval from 3.
//  - no demotion of a currently hot chunk: one with at least promote (0.5)
//    times the accesses of the most accessed chunk in the interval just
//    observed, by the ground truth;
//  - promotion traffic over the run is at most twice the hot sets of its
//    phases (a phase's hot set: the chunks among the K hottest in any of its
//    intervals, at most K).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "policy/migrate_plan.h"
#include "profiler/trace.h"

using namespace strata;

namespace {

struct SuiteTrace {
  std::vector<Observation> obs;
  uint64_t fast_bytes = 0;
  uint64_t chunk_bytes = 2 << 20;
  std::vector<int> phase;                         // per interval
  std::vector<std::map<uint64_t, double>> truth;  // per interval: chunk -> access share
};

// The trace sets: the one constants were chosen on, and held-out ones (other
// seeds, footprints, fast tiers and lengths; regen.sh lists them).
const char* const kSets[] = {"", "seed2", "seed3"};

std::string trace_path(const std::string& shape, const std::string& set) {
  if (set.empty()) return STRATA_FIXTURES "/traces/suite/" + shape + ".trace";
  return STRATA_FIXTURES "/traces/suite/heldout/" + shape + "." + set + ".trace";
}

SuiteTrace load_suite(const std::string& path) {
  SuiteTrace t;
  std::vector<std::string> errors;
  REQUIRE(load_trace(path.c_str(), &t.obs, &errors));
  REQUIRE(errors.empty());
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "#meta") {
      std::string kv;
      while (ls >> kv) {
        const auto eq = kv.find('=');
        const uint64_t v = std::stoull(kv.substr(eq + 1));
        if (kv.starts_with("fast_bytes=")) t.fast_bytes = v;
        if (kv.starts_with("chunk_bytes=")) t.chunk_bytes = v;
      }
    } else if (tag == "#phase") {
      uint64_t k = 0;
      int p = 0;
      ls >> k >> p;
      t.phase.resize(k + 1);
      t.phase[k] = p;
      t.truth.resize(k + 1);
    } else if (tag == "#truth") {
      uint64_t k = 0, chunk = 0;
      double share = 0;
      ls >> k >> chunk >> share;
      REQUIRE(k < t.truth.size());
      t.truth[k][chunk] = share;
    }
  }
  REQUIRE(t.fast_bytes > 0);
  REQUIRE(!t.truth.empty());
  return t;
}

struct SuiteResult {
  double capture = 0;
  double capture_high = 0;       // against the K' chunks that fit under the high watermark
  uint64_t settled = 0;          // intervals counted in capture
  uint64_t hot_demotions = 0;    // demotions of a currently hot chunk (below)
  uint64_t top_k_demotions = 0;  // demotions of a chunk among the K hottest (reported only)
  uint64_t promoted_bytes = 0;
  uint64_t hot_set_bytes = 0;  // per phase: chunks among the K hottest (at most K), summed
};

// The K chunks with the most accesses (ties by chunk id).
std::set<uint64_t> hottest(const std::map<uint64_t, double>& truth, size_t k) {
  std::vector<std::pair<double, uint64_t>> v;
  for (const auto& [c, s] : truth) v.emplace_back(-s, c);
  std::sort(v.begin(), v.end());
  std::set<uint64_t> out;
  for (size_t i = 0; i < v.size() && i < k; ++i) out.insert(v[i].second);
  return out;
}

// Currently hot in the interval just observed, by the ground truth and in the
// engine's terms (heat is relative to the top chunk, promote = 0.5): at least
// half as many accesses as the interval's most accessed chunk.
bool currently_hot(const std::map<uint64_t, double>& truth, uint64_t chunk) {
  double top = 0;
  for (const auto& [c, s] : truth) top = std::max(top, s);
  const auto it = truth.find(chunk);
  return it != truth.end() && top > 0 && it->second >= MigrateConfig{}.promote * top;
}

double share_of(const std::map<uint64_t, double>& truth, const std::set<uint64_t>& set) {
  double s = 0;
  for (uint64_t c : set) {
    const auto it = truth.find(c);
    if (it != truth.end()) s += it->second;
  }
  return s;
}

SuiteResult replay_suite(const std::string& path) {
  const SuiteTrace t = load_suite(path);
  ReplayConfig rc;  // default MigrateConfig: the engine's defaults
  rc.chunk_bytes = t.chunk_bytes;
  rc.relative = true;
  // The suite's `strata` peer: the fast tier uncapped, its node holding
  // fast_bytes for the program (no watermark headroom to keep).
  PlanTier fast;
  fast.capacity = t.fast_bytes;
  rc.tiers = {fast, PlanTier{}};
  const std::vector<ReplayStep> steps = replay_trace(t.obs, rc);
  REQUIRE(steps.size() == t.truth.size());
  const size_t k = static_cast<size_t>(t.fast_bytes / t.chunk_bytes);
  const size_t k_high = static_cast<size_t>(t.fast_bytes / 100 * fast.high_pct / t.chunk_bytes);

  // Where each interval's phase started, and the shortest complete phase
  // (the last one may be cut short by the end of the trace).
  const size_t n = t.phase.size();
  std::vector<size_t> phase_start(n, 0);
  std::vector<size_t> lengths;
  for (size_t i = 0, start = 0; i < n; ++i) {
    if (i > 0 && t.phase[i] != t.phase[i - 1]) {
      lengths.push_back(i - start);
      start = i;
    }
    phase_start[i] = start;
  }
  const size_t shortest = lengths.empty() ? n : *std::min_element(lengths.begin(), lengths.end());
  SuiteResult r;
  double got = 0, best = 0, best_high = 0;
  std::set<uint64_t> phase_hot;
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::set<uint64_t> hot = hottest(t.truth[i], k);
    if (i > 0 && phase_start[i] == i) {
      r.hot_set_bytes += std::min(phase_hot.size(), k) * t.chunk_bytes;
      phase_hot.clear();
    }
    phase_hot.insert(hot.begin(), hot.end());
    for (const Move& m : steps[i].moves) {
      if (m.to > m.from && hot.count(m.chunk) != 0) ++r.top_k_demotions;
      if (m.to > m.from && currently_hot(t.truth[i], m.chunk)) ++r.hot_demotions;
      if (m.to < m.from) r.promoted_bytes += m.bytes;
    }
    const size_t next = i + 1;
    if (next >= steps.size() || next < 3) continue;
    if (shortest >= 4 && next - phase_start[next] < 3) continue;
    const std::set<uint64_t> on_fast(steps[i].fast.begin(), steps[i].fast.end());
    got += share_of(t.truth[next], on_fast);
    best += share_of(t.truth[next], hottest(t.truth[next], k));
    best_high += share_of(t.truth[next], hottest(t.truth[next], k_high));
    ++r.settled;
  }
  r.capture = best > 0 ? got / best : 0;
  r.capture_high = best_high > 0 ? got / best_high : 0;
  r.hot_set_bytes += std::min(phase_hot.size(), k) * t.chunk_bytes;
  return r;
}

const SuiteResult& result(const std::string& shape, const std::string& set = "") {
  static std::map<std::string, SuiteResult> cache;
  const std::string path = trace_path(shape, set);
  auto it = cache.find(path);
  if (it == cache.end()) it = cache.emplace(path, replay_suite(path)).first;
  return it->second;
}

// What one shape must reach on every trace set. The defaults are the
// issue's bounds; a shape that cannot reach one has its best achievable bound
// here and the reason in docs/benchmarks.md ("Planner replay").
struct Bound {
  double capture = 0.9;
  uint64_t hot_demotions = 0;
  double traffic = 2;  // promoted bytes over the phases' hot sets
};

void check_shape(const std::string& shape, const Bound& b) {
  for (const char* set : kSets) {
    const SuiteResult& r = result(shape, set);
    INFO(shape << " (" << (set[0] != 0 ? set : "main") << " trace): capture " << r.capture
               << " over " << r.settled << " settled intervals; " << r.hot_demotions
               << " demotions of a currently hot chunk; promoted " << (r.promoted_bytes >> 20)
               << " MiB for hot sets of " << (r.hot_set_bytes >> 20) << " MiB");
    REQUIRE(r.settled > 0);
    CHECK(r.capture >= b.capture);
    CHECK(r.hot_demotions <= b.hot_demotions);
    CHECK(static_cast<double>(r.promoted_bytes) <=
          b.traffic * static_cast<double>(r.hot_set_bytes));
  }
}

}  // namespace

// Prints every shape's numbers on every trace set (hidden; run with "[suite-report]").
TEST_CASE("suite replay: report", "[.][suite-report]") {
  for (const char* set : kSets) {
    for (const char* s :
         {"uniform-mmap", "zipf-malloc", "moving-window", "drift", "scan", "pointer-chase",
          "read-mostly", "write-heavy", "short-phases", "shared-pages", "threads"}) {
      const SuiteResult& r = result(s, set);
      std::printf(
          "%-6s %-14s capture %.3f (%llu intervals)  hot demotions %llu (top-K %llu)  promoted "
          "%llu MiB  hot sets %llu MiB\n",
          set[0] != 0 ? set : "main", s, r.capture, static_cast<unsigned long long>(r.settled),
          static_cast<unsigned long long>(r.hot_demotions),
          static_cast<unsigned long long>(r.top_k_demotions),
          static_cast<unsigned long long>(r.promoted_bytes >> 20),
          static_cast<unsigned long long>(r.hot_set_bytes >> 20));
    }
  }
}

#define SUITE_CASE(SHAPE, ...)                                                              \
  TEST_CASE("suite replay " SHAPE ": capture, no hot demotion, traffic", "[plan][suite]") { \
    check_shape(SHAPE, Bound{__VA_ARGS__});                                                 \
  }

SUITE_CASE("uniform-mmap")
SUITE_CASE("zipf-malloc")
SUITE_CASE("moving-window")
SUITE_CASE("drift", .capture = 0.55)
SUITE_CASE("scan", .capture = 0.55, .hot_demotions = 2, .traffic = 3)
SUITE_CASE("pointer-chase", .capture = 0.85, .hot_demotions = 2)
SUITE_CASE("read-mostly")
SUITE_CASE("write-heavy")
SUITE_CASE("short-phases", .capture = 0.25)
SUITE_CASE("shared-pages", .hot_demotions = 10)
SUITE_CASE("threads")
