// The migration planner replayed on heat traces of every strata-bench-suite
// shape (tests/fixtures/traces/suite/, written by strata-bench-suite-trace
// from the shape's own access distribution, with the ground truth as
// `#truth INTERVAL CHUNK ACCESS_SHARE` lines). The planner runs at its
// default settings (EWMA heat, promote 0.5, demote 0.1, hold 4, 256 MiB/s)
// against a fast tier of the trace's fast_bytes (watermarks 90/80 %) and an
// unlimited slow tier; chunks start where first touch puts them.
//
// What is asserted, per shape:
//  - capture: the placement after interval i's moves serves interval i+1; its
//    share of the accesses, over the oracle's (the K chunks with the most
//    accesses, K = fast_bytes / chunk size: the tier's whole capacity, so
//    headroom the planner keeps free counts against it), summed over settled
//    intervals, is at least 0.9. Settled: 3 or more intervals into a phase;
//    a shape whose phases last under 4 intervals counts every interval from 3.
//  - the planner never demotes a chunk that is among the K hottest of the
//    interval it just observed;
//  - promotion traffic over the run is at most twice the hot sets of its
//    phases (a phase's hot set: the chunks among the K hottest in any of its
//    intervals, at most K).
// Cases the planner does not meet today carry [!mayfail] and a comment with
// the shape and the measured value, so the gap stays visible in every run.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
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

SuiteTrace load_suite(const std::string& shape) {
  const std::string path = STRATA_FIXTURES "/traces/suite/" + shape + ".trace";
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
  double capture_high = 0;     // against the K' chunks that fit under the high watermark
  uint64_t settled = 0;        // intervals counted in capture
  uint64_t hot_demotions = 0;  // demotions of a chunk among the K hottest
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

double share_of(const std::map<uint64_t, double>& truth, const std::set<uint64_t>& set) {
  double s = 0;
  for (uint64_t c : set) {
    const auto it = truth.find(c);
    if (it != truth.end()) s += it->second;
  }
  return s;
}

SuiteResult replay_suite(const std::string& shape) {
  const SuiteTrace t = load_suite(shape);
  ReplayConfig rc;  // default MigrateConfig: the engine's defaults
  rc.chunk_bytes = t.chunk_bytes;
  PlanTier fast;
  fast.limit = t.fast_bytes;
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
      if (m.to > m.from && hot.count(m.chunk) != 0) ++r.hot_demotions;
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

const SuiteResult& result(const std::string& shape) {
  static std::map<std::string, SuiteResult> cache;
  auto it = cache.find(shape);
  if (it == cache.end()) it = cache.emplace(shape, replay_suite(shape)).first;
  return it->second;
}

void check_capture(const std::string& shape) {
  const SuiteResult& r = result(shape);
  INFO(shape << ": capture " << r.capture << " over " << r.settled << " settled intervals");
  REQUIRE(r.settled > 0);
  CHECK(r.capture >= 0.9);
}

void check_no_hot_demotion(const std::string& shape) {
  const SuiteResult& r = result(shape);
  INFO(shape << ": " << r.hot_demotions << " demotions of a chunk among the hottest");
  CHECK(r.hot_demotions == 0);
}

void check_traffic(const std::string& shape) {
  const SuiteResult& r = result(shape);
  INFO(shape << ": promoted " << (r.promoted_bytes >> 20) << " MiB, hot sets of the phases "
             << (r.hot_set_bytes >> 20) << " MiB");
  CHECK(r.promoted_bytes <= 2 * r.hot_set_bytes);
}

}  // namespace

// Prints every shape's numbers (hidden; run with "[suite-report]").
TEST_CASE("suite replay: report", "[.][suite-report]") {
  for (const char* s :
       {"uniform-mmap", "zipf-malloc", "moving-window", "drift", "scan", "pointer-chase",
        "read-mostly", "write-heavy", "short-phases", "shared-pages", "threads"}) {
    const SuiteResult& r = result(s);
    std::printf(
        "%-14s capture %.3f (%.3f under the high watermark; %llu intervals)  hot demotions %llu  "
        "promoted %llu MiB  hot sets %llu MiB\n",
        s, r.capture, r.capture_high, static_cast<unsigned long long>(r.settled),
        static_cast<unsigned long long>(r.hot_demotions),
        static_cast<unsigned long long>(r.promoted_bytes >> 20),
        static_cast<unsigned long long>(r.hot_set_bytes >> 20));
  }
}

#define SUITE_CASES(SHAPE, CAPTURE_TAGS, DEMOTE_TAGS, TRAFFIC_TAGS)                 \
  TEST_CASE("suite replay " SHAPE ": the fast tier holds 0.9 of the oracle's hits", \
            "[plan][suite]" CAPTURE_TAGS) {                                         \
    check_capture(SHAPE);                                                           \
  }                                                                                 \
  TEST_CASE("suite replay " SHAPE ": no currently hot chunk is demoted",            \
            "[plan][suite]" DEMOTE_TAGS) {                                          \
    check_no_hot_demotion(SHAPE);                                                   \
  }                                                                                 \
  TEST_CASE("suite replay " SHAPE ": promotions at most twice the hot chunks",      \
            "[plan][suite]" TRAFFIC_TAGS) {                                         \
    check_traffic(SHAPE);                                                           \
  }

// Measured against today's planner (capture: of the whole fast tier; the value
// in parentheses counts only what fits under its 90 % high watermark):
//  - uniform-mmap 0.873 (0.937): the watermark headroom and hot pieces that
//    cover part of a chunk (referenced fraction under promote = 0.5).
//  - zipf-malloc 0.589 (0.688): skew inside chunks; heat is the share of pages
//    referenced, not how often, so a chunk with a few very hot segments loses
//    to one with many lukewarm pages; 2 MiB promoted in 24 intervals.
//  - drift 0.579 (0.604), 2 demotions of a chunk among the hottest: the
//    window slides a step per interval, faster than EWMA heat (alpha 0.5) and
//    hold (4) let the planner follow; it demotes the window's trailing edge
//    while it is still hot.
//  - scan 0.643 (0.644): the scan references every page of the chunks it
//    passes, so scanned cold chunks look as hot as the hot window.
//  - pointer-chase 0.218 (0.241): hot slabs are spread over every chunk; no
//    chunk reaches promote, nothing is promoted.
//  - read-mostly 0.774 (0.862) and write-heavy 0.789 (0.797): as zipf-malloc
//    and uniform-mmap, partly covered chunks stay below promote.
//  - short-phases 0.297 (0.305): phases of 1-2 intervals end before a chunk's
//    heat crosses promote; no planner that waits for heat can follow them.
//  - shared-pages 0.862 (1.070): only the watermark headroom.
//  - threads 0.804 (0.814), 1 demotion of a chunk among the hottest: each of
//    the 4 threads' windows moves every 9 intervals, at different times, so
//    one of them moved in most 2-interval spans and a new window waits for
//    heat as in moving-window, 4 times as often.
// moving-window (0.960) meets the capture bound; every shape meets the traffic
// bound.
#define MAYFAIL "[!mayfail]"
SUITE_CASES("uniform-mmap", MAYFAIL, "", "")
SUITE_CASES("zipf-malloc", MAYFAIL, "", "")
SUITE_CASES("moving-window", "", "", "")
SUITE_CASES("drift", MAYFAIL, MAYFAIL, "")
SUITE_CASES("scan", MAYFAIL, "", "")
SUITE_CASES("pointer-chase", MAYFAIL, "", "")
SUITE_CASES("read-mostly", MAYFAIL, "", "")
SUITE_CASES("write-heavy", MAYFAIL, "", "")
SUITE_CASES("short-phases", MAYFAIL, "", "")
SUITE_CASES("shared-pages", MAYFAIL, "", "")
SUITE_CASES("threads", MAYFAIL, MAYFAIL, "")
