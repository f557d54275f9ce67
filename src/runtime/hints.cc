// Thread hints (a stack per thread) and range hints (pinned, hot, cold pages),
// and the pages of blocks a pin rule placed.
#include "src/runtime/runtime.h"

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
#include "base/log.h"
#include "base/sys.h"
#include "src/runtime/internal.h"
#include "src/runtime/region_map.h"

namespace strata::rt {

__thread HintStack t_hints __attribute__((tls_model("initial-exec")));

// Ranges given a hint through strata_hint_range (pinned, hot, cold).
RegionMap& hint_map() {
  static constinit RegionMap m;
  return m;
}

// A heap block placed by a pin rule: its pages are recorded as pinned (the
// migration engine skips them). Page-granular, and kept after the block is
// freed: pin rules are meant for a few long-lived sites.
void record_pin(void* p, size_t len) {
  heap::ReentrancyGuard g;
  auto lo = reinterpret_cast<uintptr_t>(p) & ~(sys::kPageSize - 1);
  uintptr_t hi =
      (reinterpret_cast<uintptr_t>(p) + len + sys::kPageSize - 1) & ~(sys::kPageSize - 1);
  hint_map().add(lo, hi, heap::tier_of(p), RegionKind::kHint, 0, kRegionPinned);
}

int hint_push(const char* name) {
  init();
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  if (name == nullptr || name[0] == '\0' || std::strlen(name) >= 32) return -EINVAL;
  if (t_hints.depth >= kMaxHintDepth) return -EOVERFLOW;
  int label = pol != nullptr ? pol->label_index(name) : -1;
  int tier = pol != nullptr ? pol->hint_tier(name) : -1;
  uint8_t d = t_hints.depth;
  t_hints.label[d] = static_cast<int8_t>(label + 1);
  t_hints.tier[d] = static_cast<int8_t>(tier + 1);
  t_hints.depth = static_cast<uint8_t>(d + 1);
  // Hinted threads need the policy on every allocation: from now on no
  // thread takes the malloc fast path (a per-thread check would cost every
  // program a TLS load per malloc).
  if (label >= 0 || tier >= 0) heap::set_fast_path_allowed(false);
  return d + 1;
}

int hint_pop() {
  if (t_hints.depth == 0) return -ENOENT;
  return --t_hints.depth;
}

int hint_range(void* addr, size_t len, int hint, int tier) {
  init();
  heap::ReentrancyGuard g;
  if (addr == nullptr || len == 0) return -EINVAL;
  auto lo = reinterpret_cast<uintptr_t>(addr) & ~(sys::kPageSize - 1);
  uintptr_t hi = 0;
  if (__builtin_add_overflow(reinterpret_cast<uintptr_t>(addr), len + sys::kPageSize - 1, &hi))
    return -EINVAL;
  hi &= ~(sys::kPageSize - 1);
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  const int nt = pol != nullptr ? pol->ntiers : 1;
  // 1 hot, 2 cold, 3 pin (to `tier`, or where the pages are when tier < 0), 4 unpin.
  uint16_t flags = 0;
  int target = -1;
  switch (hint) {
    case 1:
      flags = kRegionHot;
      target = 0;
      break;
    case 2:
      flags = kRegionCold;
      target = nt - 1;
      break;
    case 3:
      if (tier >= nt) return -EINVAL;
      flags = kRegionPinned;
      target = tier;
      break;
    case 4:
      hint_map().remove(lo, hi);
      return 0;
    default:
      return -EINVAL;
  }
  if (!hint_map().add(lo, hi, target, RegionKind::kHint, 0, flags)) return -ENOMEM;
  if (target < 0 || pol == nullptr) return 0;
  const TierDef& t = pol->tiers[target];
  if (t.kind == TierKind::kPmemFile || t.nodes.empty() || !heap::tier_enabled(target)) return 0;
  // Move the resident pages now, in batches; pages not touched yet follow
  // their mapping's policy when first touched.
  constexpr size_t kBatch = 512;
  void* pages[kBatch];
  int nodes[kBatch];
  int status[kBatch];
  const int node = t.nodes.first();
  for (uintptr_t a = lo; a < hi;) {
    size_t n = 0;
    for (; n < kBatch && a < hi; ++n, a += sys::kPageSize) {
      pages[n] = reinterpret_cast<void*>(a);
      nodes[n] = node;
    }
    constexpr int kMpolMfMove = 1 << 1;  // MPOL_MF_MOVE: pages mapped only by this process
    long r = sys::move_pages(n, pages, nodes, status, kMpolMfMove);
    if (r < 0 && r != -ENOENT) return static_cast<int>(r);
  }
  return 0;
}

uint16_t hint_flags(const void* addr, int* tier) {
  Region r{};
  if (!hint_map().find(reinterpret_cast<uintptr_t>(addr), &r)) return 0;
  if (tier != nullptr) *tier = r.tier;
  return r.flags;
}

}  // namespace strata::rt
