// Region VMAs (heap::set_chunk_vmas): the heaps are split into regions whose
// VMAs do not merge, so the abit sampler's per-VMA counts are per region.
// Each odd region costs two VMAs of vm.max_map_count's share; a region starts
// at one 2 MiB chunk and doubles each time half of what is left of the share
// is spent, so the split covers any heap size (coarser as it grows) instead of
// stopping at a fixed bound and leaving the rest as one mapping.
// Pure functions: unit-tested in tests/unit/test_scale.cc.
#pragma once

#include <cstdint>

#include "allocator/layout.h"

namespace strata::heap {

inline constexpr int kMaxRegionLevel = 20;  // 2 MiB << 20 = 2 TiB

// Region size level (log2 of region bytes / chunk bytes) when `left` of the
// `initial` odd regions may still be split off: 0 while more than half is
// left, 1 while more than a quarter, and so on.
inline int region_level(int64_t initial, int64_t left) {
  int level = 0;
  if (initial <= 0) return 0;
  if (left < 1) left = 1;
  while (level < kMaxRegionLevel && (left << (level + 1)) <= initial) ++level;
  return level;
}

inline uintptr_t region_shift(int level) {
  return strata::kChunkShift + static_cast<uintptr_t>(level);
}

// Heap bytes that `initial` odd regions cover when each level takes half of
// what is left (even regions between them included): about 2 x initial x
// 2 MiB per level.
inline uint64_t region_coverage(int64_t initial) {
  uint64_t bytes = 0;
  int64_t left = initial;
  for (int level = 0; level <= kMaxRegionLevel && left > 0; ++level) {
    int64_t spend = left - initial / (int64_t{2} << level);  // odd regions at this level
    if (level == kMaxRegionLevel || spend < 1) spend = left;
    bytes += static_cast<uint64_t>(spend) * 2 * (uint64_t{1} << region_shift(level));
    left -= spend;
  }
  return bytes;
}

}  // namespace strata::heap
