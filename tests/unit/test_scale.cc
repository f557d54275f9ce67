// The pieces that keep the engine's cost bounded at scale: region VMAs that
// double as vm.max_map_count's share drains (allocator/vma_regions.h), and the
// rotating subset of chunks probed per interval (profiler/subset.h).
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <vector>

#include "allocator/vma_regions.h"
#include "profiler/subset.h"

using strata::heap::kMaxRegionLevel;
using strata::heap::region_coverage;
using strata::heap::region_level;
using strata::heap::region_shift;

TEST_CASE("regions: 2 MiB while more than half the share is left, then doubling", "[scale]") {
  const int64_t b = 12286;  // (65530 - 16384) / 4, this machine's default
  CHECK(region_level(b, b) == 0);
  CHECK(region_level(b, b / 2 + 1) == 0);
  CHECK(region_level(b, b / 2) == 1);
  CHECK(region_level(b, b / 4 + 1) == 1);
  CHECK(region_level(b, b / 4) == 2);
  CHECK(region_level(b, 1) == 13);
  CHECK(region_level(b, 0) == 13);   // spent: the coarsest level the share reaches
  CHECK(region_level(b, -5) == 13);  // overdrawn by racing threads
  CHECK(region_level(0, 0) == 0);    // no split configured
  CHECK(region_level(int64_t{1} << 40, 1) == kMaxRegionLevel);
  CHECK(region_shift(0) == strata::kChunkShift);
  CHECK(region_shift(3) == strata::kChunkShift + 3);
  // Levels never go down as the share drains.
  int last = 0;
  for (int64_t left = b; left >= 0; --left) {
    const int l = region_level(b, left);
    REQUIRE(l >= last);
    last = l;
  }
}

TEST_CASE("regions: the share covers far more than 2 MiB regions alone would", "[scale]") {
  const int64_t b = 12286;
  const uint64_t flat = static_cast<uint64_t>(b) * 2 * strata::kChunkBytes;  // about 48 GiB
  const uint64_t cov = region_coverage(b);
  CHECK(cov >= 6 * flat);               // 2 MiB regions alone: one flat share
  CHECK(cov >= (uint64_t{256} << 30));  // "hundreds of GiB"
  CHECK(region_coverage(0) == 0);
  CHECK(region_coverage(1) >= 2 * strata::kChunkBytes);
}

// Simulates the split: carves `heap` bytes in extents of `extent` bytes the
// way apply_binding does and counts odd regions and VMAs.
TEST_CASE("regions: carving a heap spends the share geometrically", "[scale]") {
  const int64_t initial = 1000;
  int64_t left = initial;
  uint64_t vmas = 0;
  uint64_t covered = 0;
  const uint64_t base = uint64_t{1} << 40;
  const uint64_t heap = uint64_t{16} << 30;
  for (uint64_t s = base; s < base + heap && left > 0;) {
    const uint64_t shift = region_shift(region_level(initial, left));
    const uint64_t e = ((s >> shift) + 1) << shift;
    if (((s >> shift) & 1) != 0 && (s & ((uint64_t{1} << shift) - 1)) == 0) --left;
    ++vmas;
    covered = e - base;
    s = e;
  }
  // 1000 odd regions, 2 MiB each, would cover 4 GiB; doubling covers the 16 GiB heap.
  CHECK(covered == heap);
  CHECK(region_coverage(initial) >= heap);
  CHECK(vmas <= 2 * static_cast<uint64_t>(initial) + 64);
  CHECK(left > 0);
}

TEST_CASE("rotating subset: every item once per period, about budget per round", "[scale]") {
  strata::sampling::RotatingSubset r;
  r.next_round(100, 0);
  CHECK(r.period() == 1);
  CHECK(r.selects(12345));
  r.next_round(100, 1000);
  CHECK(r.period() == 1);
  const size_t n = 8192;
  const size_t budget = 1024;
  std::vector<int> visits(n, 0);
  r.next_round(n, budget);
  const uint64_t period = r.period();
  CHECK(period == 8);
  for (uint64_t round = 0; round < period; ++round) {
    size_t picked = 0;
    for (uint64_t id = 0; id < n; ++id)
      if (r.selects(id)) {
        ++visits[id];
        ++picked;
      }
    CHECK(picked <= budget);
    r.next_round(n, budget);
  }
  for (int v : visits) REQUIRE(v == 1);
  // A count that does not divide evenly still spreads: ids 0..8999 over 9 rounds.
  r.next_round(9000, 1000);
  CHECK(r.period() == 9);
  std::set<uint64_t> phases;
  for (int i = 0; i < 9; ++i) {
    phases.insert(r.phase());
    r.next_round(9000, 1000);
  }
  CHECK(phases.size() == 9);
}
