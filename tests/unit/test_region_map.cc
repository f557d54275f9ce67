#include <catch2/catch.hpp>
#include <vector>

#include "src/runtime/region_map.h"

using namespace strata;

namespace {
std::vector<Region> all(RegionMap& m) {
  std::vector<Region> v(64);
  size_t n = m.snapshot(v.data(), v.size());
  v.resize(n);
  return v;
}
}  // namespace

TEST_CASE("region map: add, merge, find", "[region_map]") {
  RegionMap m;
  REQUIRE(m.add(0x1000, 0x3000, 0, RegionKind::kHeap, 0));
  REQUIRE(m.add(0x3000, 0x5000, 0, RegionKind::kHeap, 0));  // merges
  REQUIRE(m.add(0x5000, 0x6000, 1, RegionKind::kHeap, 0));  // other tier: separate
  auto v = all(m);
  REQUIRE(v.size() == 2);
  CHECK(v[0].start == 0x1000);
  CHECK(v[0].end == 0x5000);
  CHECK(v[1].tier == 1);
  Region r{};
  REQUIRE(m.find(0x4fff, &r));
  CHECK(r.tier == 0);
  REQUIRE(m.find(0x5000, &r));
  CHECK(r.tier == 1);
  CHECK_FALSE(m.find(0x6000, &r));
  CHECK_FALSE(m.find(0xfff, &r));
}

TEST_CASE("region map: remove splits and trims", "[region_map]") {
  RegionMap m;
  REQUIRE(m.add(0x10000, 0x20000, 2, RegionKind::kMmap, 7));
  m.remove(0x14000, 0x15000);  // punch a hole
  auto v = all(m);
  REQUIRE(v.size() == 2);
  CHECK(v[0].end == 0x14000);
  CHECK(v[1].start == 0x15000);
  CHECK(v[1].site == 7);
  m.remove(0x0, 0x12000);  // trim the front
  v = all(m);
  REQUIRE(v.size() == 2);
  CHECK(v[0].start == 0x12000);
  m.remove(0x13000, 0x30000);  // trim the back, drop the second
  v = all(m);
  REQUIRE(v.size() == 1);
  CHECK(v[0].start == 0x12000);
  CHECK(v[0].end == 0x13000);
}

TEST_CASE("region map: overlapping add replaces", "[region_map]") {
  RegionMap m;
  REQUIRE(m.add(0x1000, 0x9000, 0, RegionKind::kMmap, 0));
  REQUIRE(m.add(0x3000, 0x4000, 1, RegionKind::kMmap, 0));  // MAP_FIXED over the middle
  auto v = all(m);
  REQUIRE(v.size() == 3);
  CHECK(v[0].end == 0x3000);
  CHECK(v[1].tier == 1);
  CHECK(v[2].start == 0x4000);
  CHECK(v[2].tier == 0);
  REQUIRE(m.add(0x3000, 0x4000, 0, RegionKind::kMmap, 0));  // back to tier 0: merges all three
  v = all(m);
  REQUIRE(v.size() == 1);
  CHECK(v[0].start == 0x1000);
  CHECK(v[0].end == 0x9000);
}

TEST_CASE("region map: many disjoint regions stay sorted", "[region_map]") {
  RegionMap m;
  for (int i = 999; i >= 0; --i) {
    uintptr_t s = 0x100000 + static_cast<uintptr_t>(i) * 0x2000;
    REQUIRE(m.add(s, s + 0x1000, i % 3, RegionKind::kMmap, static_cast<uint32_t>(i)));
  }
  CHECK(m.size() == 1000);
  Region r{};
  REQUIRE(m.find(0x100000 + 500 * 0x2000 + 10, &r));
  CHECK(r.site == 500);
  CHECK_FALSE(m.find(0x100000 + 500 * 0x2000 + 0x1000, &r));
}
