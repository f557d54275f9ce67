#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <random>
#include <string>

#include "profiler/heat.h"
#include "profiler/trace.h"

using namespace strata;

namespace {

MigrateConfig model(HeatModel m) {
  MigrateConfig cfg;
  cfg.model = m;
  cfg.alpha = 0.5;
  cfg.window = 4;
  return cfg;
}

// models.trace, fed by hand:
//   interval 0: chunk 1 -> 1.0, chunk 2 -> 0.5
//   interval 1: chunk 2 -> 0.25, chunk 3 -> 0 (chunk 1 absent: 0)
//   interval 2: chunk 1 -> 0.8
//   interval 3: chunk 2 -> 0
void feed_interval(HeatTable& t, uint64_t i) {
  switch (i) {
    case 0:
      t.observe(0, 1, 1.0);
      t.observe(0, 2, 0.5);
      break;
    case 1:
      t.observe(1, 2, 0.25);
      t.observe(1, 3, 0);
      break;
    case 2:
      t.observe(2, 1, 0.8);
      break;
    case 3:
      t.observe(3, 2, 0);
      break;
  }
  t.end_interval(i);
}

struct Expected {
  double c1[4], c2[4], c3[4];
};

// Hand-computed, alpha 0.5, window 4.
// EWMA: c1 0.5, 0.25, 0.4+0.125, 0.2625;  c2 0.25, 0.125+0.125, 0.125, 0.0625.
// LRU: c1 accessed at 0 and 2; c2 at 0 and 1 (its 0-observation at 3 is no access).
// LFU: c1 history 1, 10, 101, 1010; c2 1, 11, 110, 1100 (of 4 intervals).
const Expected kEwma = {{0.5, 0.25, 0.525, 0.2625}, {0.25, 0.25, 0.125, 0.0625}, {0, 0, 0, 0}};
const Expected kLru = {{1, 0.5, 1, 0.5}, {1, 1, 0.5, 1.0 / 3}, {0, 0, 0, 0}};
const Expected kLfu = {{0.25, 0.25, 0.5, 0.5}, {0.25, 0.5, 0.5, 0.5}, {0, 0, 0, 0}};

void check_models(HeatModel m, const Expected& e) {
  HeatTable t(model(m), 16);
  for (uint64_t i = 0; i < 4; ++i) {
    feed_interval(t, i);
    INFO("model " << static_cast<int>(m) << " interval " << i);
    CHECK(t.heat(1) == Approx(e.c1[i]));
    CHECK(t.heat(2) == Approx(e.c2[i]));
    CHECK(t.heat(3) == Approx(e.c3[i]));
  }
  CHECK(t.size() == 3);
}

}  // namespace

TEST_CASE("heat models on a hand-computed trace", "[heat]") {
  check_models(HeatModel::kEwma, kEwma);
  check_models(HeatModel::kLru, kLru);
  check_models(HeatModel::kLfu, kLfu);
}

TEST_CASE("a gap of empty intervals is applied in one step", "[heat]") {
  // After models.trace (closed through 3), close 4..10: seven empty intervals.
  HeatTable ewma(model(HeatModel::kEwma), 16);
  HeatTable lru(model(HeatModel::kLru), 16);
  HeatTable lfu(model(HeatModel::kLfu), 16);
  for (HeatTable* t : {&ewma, &lru, &lfu}) {
    for (uint64_t i = 0; i < 4; ++i) feed_interval(*t, i);
    t->end_interval(10);
    CHECK(t->open_interval() == 11);
  }
  CHECK(ewma.heat(1) == Approx(0.2625 * std::pow(0.5, 7)));
  CHECK(lru.heat(1) == Approx(1.0 / 9));  // last access at 2, now 10
  CHECK(lru.heat(2) == Approx(1.0 / 10));
  CHECK(lfu.heat(1) == 0);

  // Observing a later interval closes the open one and the gap the same way.
  HeatTable a(model(HeatModel::kEwma), 16);
  HeatTable b(model(HeatModel::kEwma), 16);
  a.observe(5, 1, 1.0);
  b.observe(5, 1, 1.0);
  a.observe(9, 1, 0.5);
  for (uint64_t i = 5; i < 9; ++i) b.end_interval(i);
  b.observe(9, 1, 0.5);
  a.end_interval(9);
  b.end_interval(9);
  CHECK(a.heat(1) == Approx(b.heat(1)));
  // 5: 0.5 * 1; 6-8 empty: * 0.5^3; 9: 0.5 * 0.5 + 0.5 * that.
  CHECK(a.heat(1) == Approx(0.5 * 0.5 + 0.5 * (0.5 * std::pow(0.5, 3))));
}

TEST_CASE("LFU window spans exactly `window` intervals", "[heat]") {
  MigrateConfig cfg = model(HeatModel::kLfu);
  cfg.window = 3;
  HeatTable t(cfg, 4);
  t.observe(0, 7, 1);
  t.end_interval(0);
  CHECK(t.heat(7) == Approx(1.0 / 3));
  t.observe(1, 7, 0.01);  // any reference counts
  t.end_interval(1);
  t.end_interval(2);
  CHECK(t.heat(7) == Approx(2.0 / 3));
  t.end_interval(3);  // the access at 0 leaves the window
  CHECK(t.heat(7) == Approx(1.0 / 3));
  t.end_interval(4);
  CHECK(t.heat(7) == 0);

  cfg.window = 1000;  // clamped to 64
  HeatTable wide(cfg, 4);
  wide.observe(0, 1, 1);
  wide.end_interval(0);
  CHECK(wide.heat(1) == Approx(1.0 / HeatTable::kMaxWindow));
}

TEST_CASE("observations are clamped, merged and checked", "[heat]") {
  MigrateConfig cfg = model(HeatModel::kEwma);
  cfg.alpha = 1;  // heat = the last observation
  HeatTable t(cfg, 8);
  CHECK(t.observe(3, 1, 1.5));
  CHECK(t.observe(3, 2, -0.5));
  CHECK(t.observe(3, 3, std::nan("")));
  CHECK(t.observe(3, 4, 0.2));
  CHECK(t.observe(3, 4, 0.6));  // twice in one interval: the larger one counts
  CHECK(t.observe(3, 4, 0.4));
  CHECK_FALSE(t.observe(3, UINT64_MAX, 1));  // reserved id
  t.end_interval(3);
  CHECK(t.heat(1) == 1);
  CHECK(t.heat(2) == 0);
  CHECK(t.heat(3) == 0);
  CHECK(t.heat(4) == Approx(0.6));
  CHECK(t.heat(99) == 0);
  CHECK_FALSE(t.contains(99));
  // Interval 3 is closed: late observations are refused, nothing changes.
  CHECK_FALSE(t.observe(2, 4, 1));
  CHECK_FALSE(t.observe(3, 4, 1));
  t.end_interval(2);
  CHECK(t.open_interval() == 4);
  CHECK(t.heat(4) == Approx(0.6));
}

TEST_CASE("the table is bounded; forget frees a slot", "[heat]") {
  HeatTable t(model(HeatModel::kLru), 4);
  CHECK(t.max_chunks() == 4);
  for (uint64_t c = 0; c < 4; ++c) CHECK(t.observe(0, c, 1));
  CHECK_FALSE(t.observe(0, 4, 1));
  CHECK(t.dropped() == 1);
  CHECK(t.observe(0, 3, 1));  // known chunks are still accepted
  t.forget(2);
  t.forget(2);  // twice is harmless
  CHECK(t.size() == 3);
  CHECK(t.observe(0, 4, 1));
  t.end_interval(0);
  CHECK(t.heat(4) == 1);
  CHECK(t.heat(2) == 0);
  // A forgotten id that comes back starts from scratch.
  t.forget(4);
  t.observe(1, 4, 0);
  t.end_interval(1);
  CHECK(t.heat(4) == 0);
}

TEST_CASE("heat table matches a reference map under random insert/forget", "[heat]") {
  // Exercises the open-addressing deletion: ids are dense (as address >> 21 is)
  // and sparse, so probe runs wrap around and interleave.
  MigrateConfig cfg = model(HeatModel::kEwma);
  cfg.alpha = 1;
  HeatTable t(cfg, 300);
  std::map<uint64_t, double> ref;
  std::mt19937_64 rng(42);
  for (uint64_t interval = 0; interval < 60; ++interval) {
    for (int k = 0; k < 200; ++k) {
      const uint64_t id = (rng() % 2) ? rng() % 400 : rng();
      if (rng() % 3 == 0) {
        t.forget(id);
        ref.erase(id);
      } else if (ref.size() < 300 || ref.count(id)) {
        const double f = static_cast<double>(rng() % 101) / 100;
        REQUIRE(t.observe(interval, id, f));
        ref[id] = std::max(ref.count(id) ? ref[id] : 0.0, f);
      }
    }
    t.end_interval(interval);
    size_t seen = 0;
    t.for_each([&](uint64_t chunk, double heat) {
      ++seen;
      REQUIRE(ref.count(chunk) == 1);
      CHECK(heat == Approx(ref[chunk]));
    });
    REQUIRE(seen == ref.size());
    REQUIRE(t.size() == ref.size());
    for (auto& [id, h] : ref) {
      REQUIRE(t.contains(id));
      h = 0;  // alpha 1: heat is the next interval's observation, 0 if none
    }
  }
}

TEST_CASE("heat stays in [0, 1] for every model", "[heat]") {
  for (HeatModel m : {HeatModel::kEwma, HeatModel::kLru, HeatModel::kLfu}) {
    MigrateConfig cfg = model(m);
    cfg.alpha = 0.3;
    cfg.window = 8;
    HeatTable t(cfg, 64);
    std::mt19937_64 rng(7);
    for (uint64_t i = 0; i < 100; i += 1 + rng() % 3) {
      for (int k = 0; k < 20; ++k)
        t.observe(i, rng() % 50, static_cast<double>(rng() % 1000) / 500 - 0.5);
      t.end_interval(i);
      t.for_each([](uint64_t, double h) {
        CHECK(h >= 0);
        CHECK(h <= 1);
      });
    }
  }
}

// ----------------------------------------------------------------- trace format

TEST_CASE("trace: models.trace parses to the hand-fed observations", "[trace]") {
  std::vector<Observation> obs;
  std::vector<std::string> errors;
  REQUIRE(load_trace(STRATA_FIXTURES "/traces/models.trace", &obs, &errors));
  CHECK(errors.empty());
  const std::vector<Observation> want = {{0, 1, 1.0}, {0, 2, 0.5}, {1, 2, 0.25},
                                         {1, 3, 0},   {2, 1, 0.8}, {3, 2, 0}};
  CHECK(obs == want);

  // Replayed through the heat table it gives the hand-computed numbers.
  for (auto [m, e] : {std::pair{HeatModel::kEwma, kEwma}, std::pair{HeatModel::kLru, kLru},
                      std::pair{HeatModel::kLfu, kLfu}}) {
    HeatTable t(model(m), 16);
    for (const Observation& o : obs) t.observe(o.interval, o.chunk, o.fraction);
    t.end_interval(3);
    CHECK(t.heat(1) == Approx(e.c1[3]));
    CHECK(t.heat(2) == Approx(e.c2[3]));
    CHECK(t.heat(3) == 0);
  }
}

TEST_CASE("trace: every bad line is reported with its number and text", "[trace]") {
  const char* text =
      "# header\n"
      "0 1 0.5\n"
      "0 2\n"
      "0 3 0.5 extra\n"
      "x 4 0.5\n"
      "0 0xZZ 0.5\n"
      "0 5 1.5\n"
      "0 6 nan   # comment\n"
      "2 7 0.5\n"
      "1 8 0.5\n"
      "0 12 0.5\n"
      "0 99999999999999999999 0\n"
      "\t 3 0x1F 1e-1 \r\n"
      "-1 9 0.5\n";
  std::vector<Observation> obs;
  std::vector<std::string> errors;
  CHECK_FALSE(parse_trace(text, "t.trace", &obs, &errors));
  const std::vector<std::string> want = {
      R"(t.trace:3: "0 2": too few fields (expected INTERVAL CHUNK REFERENCED_FRACTION))",
      R"(t.trace:4: "0 3 0.5 extra": too many fields (expected INTERVAL CHUNK REFERENCED_FRACTION))",
      R"(t.trace:5: "x 4 0.5": interval "x" (expected an unsigned decimal integer))",
      R"(t.trace:6: "0 0xZZ 0.5": chunk "0xZZ" (expected an unsigned 64-bit integer, decimal or 0x hex))",
      R"(t.trace:7: "0 5 1.5": referenced fraction "1.5" (expected a number in [0, 1]))",
      R"(t.trace:8: "0 6 nan   # comment": referenced fraction "nan" (expected a number in [0, 1]))",
      R"(t.trace:10: "1 8 0.5": interval 1 after interval 2 (expected intervals in non-decreasing order))",
      R"(t.trace:11: "0 12 0.5": interval 0 after interval 2 (expected intervals in non-decreasing order))",
      R"(t.trace:12: "0 99999999999999999999 0": chunk "99999999999999999999" (expected an unsigned 64-bit integer, decimal or 0x hex))",
      R"(t.trace:14: "-1 9 0.5": interval "-1" (expected an unsigned decimal integer))",
  };
  CHECK(errors == want);
  // The good lines are still parsed (the caller decides what an error means).
  const std::vector<Observation> good = {{0, 1, 0.5}, {2, 7, 0.5}, {3, 0x1f, 0.1}};
  CHECK(obs == good);

  errors.clear();
  CHECK_FALSE(parse_trace("5 0xffffffffffffffff 0.5\n", "r", &obs, &errors));
  REQUIRE(errors.size() == 1);
  CHECK(
      errors[0] ==
      R"(r:1: "5 0xffffffffffffffff 0.5": chunk id 0xffffffffffffffff is reserved (expected a smaller id))");

  errors.clear();
  CHECK_FALSE(load_trace("/nonexistent/x.trace", &obs, &errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] == "/nonexistent/x.trace: cannot open (No such file or directory)");

  errors.clear();
  CHECK(parse_trace("", "empty", &obs, &errors));
  CHECK(obs.empty());
  CHECK(parse_trace("# only a comment\n\n  \n", "c", &obs, &errors));
  CHECK(errors.empty());
}

TEST_CASE("recent is the last closed interval's observation alone", "[heat]") {
  MigrateConfig cfg;  // EWMA, alpha 0.5
  HeatTable t(cfg);
  t.observe(1, 7, 0.8);
  t.end_interval(1);
  CHECK(t.recent(7) == Approx(0.8));
  CHECK(t.heat(7) == Approx(0.4));
  t.observe(2, 7, 0.2);
  t.end_interval(2);
  CHECK(t.recent(7) == Approx(0.2));
  t.end_interval(4);  // two empty intervals
  CHECK(t.recent(7) == 0);
  CHECK(t.recent(99) == 0);
}

TEST_CASE("hold: a chunk not looked at keeps its heat, history and recent value", "[heat]") {
  for (HeatModel m : {HeatModel::kEwma, HeatModel::kLru, HeatModel::kLfu}) {
    INFO("model " << static_cast<int>(m));
    HeatTable t(model(m), 16);
    t.observe(0, 1, 1.0);
    t.observe(0, 2, 1.0);
    t.end_interval(0);
    const double h1 = t.heat(1);
    REQUIRE(h1 > 0);
    // Interval 1: chunk 1 held (another part of the process was read), chunk
    // 2 not observed (read, nothing referenced).
    CHECK(t.hold(1, 1));
    t.end_interval(1);
    CHECK(t.heat(1) == Approx(h1));
    CHECK(t.recent(1) == Approx(1.0));
    CHECK(t.recent(2) == 0);
    // Held for several intervals in a row: still unchanged, while chunk 2,
    // read and idle all along, cooled (LFU once its window passed).
    for (uint64_t i = 2; i < 6; ++i) {
      CHECK(t.hold(i, 1));
      t.end_interval(i);
    }
    CHECK(t.heat(1) == Approx(h1));
    CHECK(t.heat(2) < h1);
    // Read again and found idle: it cools too.
    for (uint64_t i = 6; i < 10; ++i) {
      t.observe(i, 1, 0);
      t.end_interval(i);
    }
    CHECK(t.heat(1) < h1);
    CHECK(t.recent(1) == 0);
  }
}

TEST_CASE("hold: an observation in the same interval wins; unknown chunks are refused", "[heat]") {
  HeatTable t(model(HeatModel::kEwma), 16);
  t.observe(0, 1, 1.0);
  t.end_interval(0);
  CHECK_FALSE(t.hold(1, 99));  // never observed: nothing to keep
  CHECK_FALSE(t.contains(99));
  t.observe(1, 1, 0);
  CHECK(t.hold(1, 1));  // after the observation
  t.end_interval(1);
  CHECK(t.heat(1) == Approx(0.25));  // 0.5 * 0 + 0.5 * 0.5
  CHECK(t.hold(2, 1));
  t.observe(2, 1, 1.0);  // before it
  t.end_interval(2);
  CHECK(t.heat(1) == Approx(0.625));
  CHECK_FALSE(t.hold(1, 1));  // a closed interval
}
