// The region map: the program's anonymous mmaps strata manages, with tier and
// site. (The tier heaps need no entries: each heap is the range [lo, bump) of
// its own slot, see heap::tier_range.) Updated on mmap/munmap/mremap, never on
// the malloc fast path and never under jemalloc's locks; read by the sampler,
// the migration engine, stats and reports.
// Storage is a sorted array in raw mmap'd memory: it never calls malloc.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/sys.h"
#include "policy/config.h"  // kRegion* flags

namespace strata {

enum class RegionKind : uint8_t { kHeap = 0, kMmap = 1, kHint = 2 };

struct Region {
  uintptr_t start;
  uintptr_t end;  // exclusive
  uint32_t site;
  int8_t tier;
  RegionKind kind;
  uint16_t flags;
};

class RegionMap {
 public:
  static constexpr size_t kCapacity = 1 << 20;

  // Adds [start, end); a range that overlaps existing entries replaces them.
  // Adjacent entries with the same tier, kind and site are merged.
  // Returns false when the table is full (the range is then not tracked).
  bool add(uintptr_t start, uintptr_t end, int tier, RegionKind kind, uint32_t site,
           uint16_t flags = 0);
  // Removes [start, end), splitting entries that straddle its edges.
  void remove(uintptr_t start, uintptr_t end);
  // Region containing addr; false if none.
  bool find(uintptr_t addr, Region* out);
  // Copies up to cap regions (in address order) into out; returns the total count.
  size_t snapshot(Region* out, size_t cap);
  // Calls fn(region, ctx) for each region under the lock; fn must not call back in.
  void for_each(void (*fn)(const Region&, void*), void* ctx);
  size_t size();
  uint64_t dropped() const { return dropped_; }

  void lock();
  void unlock();

 private:
  bool ensure_storage();
  size_t lower_bound(uintptr_t addr) const;  // first entry with end > addr
  bool insert_at(size_t i, const Region& r);
  void note_dropped(uintptr_t start, uintptr_t end);
  void erase_at(size_t i);
  void remove_locked(uintptr_t start, uintptr_t end);

  Region* v_ = nullptr;
  size_t n_ = 0;
  sys::SpinLock lock_;
  uint64_t dropped_ = 0;
};

RegionMap& region_map();

}  // namespace strata
