// The program's anonymous private mmaps: placed by mmap rules (mbind), recorded in
// the region map for the migration engine and stats; file mappings pass through.
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "allocator/heap.h"
#include "allocator/sigsafe.h"
#include "base/log.h"
#include "base/sys.h"
#include "src/runtime/internal.h"
#include "src/runtime/region_map.h"
#include "src/runtime/runtime.h"

namespace strata::rt {

namespace {

void sum_mmaps(const Region& r, void* ctx) {
  auto* s = static_cast<MmapSums*>(ctx);
  if (r.kind != RegionKind::kMmap || r.tier < 0 || r.tier >= kMaxTiers) return;
  s->bytes[r.tier] += r.end - r.start;
  s->count[r.tier] += 1;
}

}  // namespace

void* mmap_impl(void* addr, size_t len, int prot, int flags, int fd, long off, const void* ra) {
  void* p = strata_sys_mmap(addr, len, prot, flags, fd, off);
  // Inside a handler that interrupted the allocator: untracked (no lock taken).
  if (p == MAP_FAILED || t_state.depth != 0 || sigsafe::in_handler()) return p;
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t end = start + ((len + sys::kPageSize - 1) & ~(sys::kPageSize - 1));
  bool anon_private = (flags & MAP_ANONYMOUS) != 0 && (flags & MAP_TYPE) == MAP_PRIVATE;
  if (!anon_private) {
    if ((flags & MAP_FIXED) != 0) region_map().remove(start, end);
    return p;
  }
  heap::ReentrancyGuard g;
  int tier = 0;
  uint16_t rflags = 0;
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  if (pol != nullptr && (pol->mmap_rules || t_hints.depth != 0)) {
    Placement pl = decide(*pol, len, AllocKind::kMmap, ra);
    tier = pl.tier;
    if (pl.pin) rflags |= kRegionPinned;
  }
  if (!heap::bind_range(tier, p, end - start) && tier != 0) {
    // A file-heap tier cannot back an anonymous mapping; it stays where the kernel puts it.
    if (!heap::tier_enabled(tier) || pol->tiers[tier].kind == TierKind::kPmemFile) tier = 0;
    heap::bind_range(0, p, end - start);
  }
  region_map().add(start, end, tier, RegionKind::kMmap, 0, rflags);
  return p;
}

int munmap_impl(void* addr, size_t len) {
  int r = strata_sys_munmap(addr, len);
  if (r == 0) {
    auto start = reinterpret_cast<uintptr_t>(addr);
    region_map().remove(start, start + ((len + sys::kPageSize - 1) & ~(sys::kPageSize - 1)));
  }
  return r;
}

void* mremap_impl(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr) {
  auto old_start = reinterpret_cast<uintptr_t>(old_addr);
  Region r{};
  bool tracked = region_map().find(old_start, &r);
  void* p = sys::mremap(old_addr, old_len, new_len, flags, new_addr);
  if (p == MAP_FAILED || !tracked) return p;
  constexpr int kDontUnmap = 4;  // MREMAP_DONTUNMAP
  if ((flags & kDontUnmap) == 0) region_map().remove(old_start, old_start + old_len);
  auto s = reinterpret_cast<uintptr_t>(p);
  region_map().add(s, s + ((new_len + sys::kPageSize - 1) & ~(sys::kPageSize - 1)), r.tier, r.kind,
                   r.site, r.flags);
  return p;
}

MmapSums mmap_sums() {
  MmapSums sums{};
  region_map().for_each(sum_mmaps, &sums);
  return sums;
}

}  // namespace strata::rt
