// Allocation, resize and free on a tier: the one place capacity accounting
// happens (live bytes per capped tier), and the side slot for the
// profiler's sampled tier-0 blocks.
#include <fcntl.h>
#include <libpmem2.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "allocator/heap.h"
#include "allocator/heap_internal.h"
#include "allocator/jemalloc_api.h"
#include "base/log.h"
#include "base/sys.h"

namespace strata::heap {

bool over_cap(const Heap& h, size_t need, size_t freed) {
  int64_t live = h.live.load(std::memory_order_relaxed);
  return live - static_cast<int64_t>(freed) + static_cast<int64_t>(need) >
         static_cast<int64_t>(h.cap);
}

// Adds delta to a capped tier's live bytes, which never go below zero: a block
// is freed from the tier whose heap allocated (and counted) it.
void add_live(Heap& h, int64_t delta) {
  const int64_t before = h.live.fetch_add(delta, std::memory_order_relaxed);
  STRATA_ASSERT(before + delta >= 0);
  static_cast<void>(before);
}

constinit CountShard g_nalloc[16];

CountShard& count_shard() {
  auto a = reinterpret_cast<uintptr_t>(&t_state);
  return g_nalloc[(a * 0x9e3779b97f4a7c15ULL) >> 60];
}

constinit unsigned g_side_arenas[kSideArenas] = {};

constinit std::atomic<unsigned> g_side_next{0};

bool enable_side_heap(std::string* why) {
  ReentrancyGuard g;
  Heap& h = g_heaps[kSideSlot];
  if (h.enabled) return true;
  if (g_plain) {
    *why = "no tier ranges reserved (plain mode)";
    return false;
  }
  const Heap& t0 = g_heaps[0];
  h.lo = g_base + (static_cast<uintptr_t>(kSideSlot) << g_shift);
  h.end = h.hi = h.lo + (uintptr_t{1} << g_shift);
  h.bump.store(h.lo, std::memory_order_relaxed);
  h.file = false;
  init_hooks(&h, 0);
  std::memcpy(h.mask, t0.mask, sizeof h.mask);
  h.maxnode = t0.maxnode;
  h.mode = t0.mode;
  h.bind = t0.bind;
  // Several arenas on the one slot (they share its extent hooks), taken by
  // threads in turn, so threads that miss their thread caches at the same
  // time do not queue on one arena's locks.
  for (unsigned& a : g_side_arenas) {
    a = create_arena(&h);
    if (a == 0) {
      *why = "jemalloc could not create an arena for it";
      return false;
    }
  }
  h.arena = g_side_arenas[0];
  h.enabled = true;
  return true;
}

// The calling thread's side arena and thread cache (an explicit one, never
// the automatic cache: a block cached there would come back from a plain
// tier-0 malloc and leave the side slot's accounting).
int side_flags() {
  static __thread uint8_t t_side_arena __attribute__((tls_model("initial-exec")));
  if (t_side_arena == 0)
    t_side_arena =
        static_cast<uint8_t>(1 + g_side_next.fetch_add(1, std::memory_order_relaxed) % kSideArenas);
  return je::arena_flag(g_side_arenas[t_side_arena - 1]) | tcache_flags(kSideSlot);
}

// A capped tier 0 (not in plain mode) takes its blocks from the side slot;
// its slot-0 blocks (from before the limit was read) stay uncounted.
bool t0_on_side() {
  return g_heaps[0].cap != 0 && g_heaps[kSideSlot].enabled;
}

// Whether jemalloc's own record of p's arena agrees with the tier it is freed
// or resized on (STRATA_DEBUG checks only): tier 0's automatic or side
// arenas, or the tier's one arena.
[[maybe_unused]] bool arena_matches(const void* p, int tier) {
  unsigned a = 0;
  size_t sz = sizeof a;
  const void* q = p;
  if (strata_je_mallctl("arenas.lookup", &a, &sz, &q, sizeof q) != 0) return false;
  if (tier != 0) return a == g_heaps[tier].arena;
  for (unsigned s : g_side_arenas)
    if (a == s) return true;
  return static_cast<int>(a) < g_nt0;
}

void* alloc_side(size_t size, int flags) {
  // Side blocks count against tier 0's capacity like any other.
  Heap& t0 = g_heaps[0];
  if (t0.cap != 0 && over_cap(t0, strata_je_nallocx(size, flags & 0x3f), 0)) return nullptr;
  void* p = strata_je_mallocx(size, flags | side_flags());
  if (t0.cap != 0 && p != nullptr)
    t0.live.fetch_add(static_cast<int64_t>(strata_je_malloc_usable_size(p)),
                      std::memory_order_relaxed);
  return p;
}

void* alloc_sample(size_t size, size_t align, bool zero) {
  if (!g_heaps[kSideSlot].enabled) return nullptr;
  int flags = (align > 8 ? je::align_flag(align) : 0) | (zero ? je::kZero : 0);
  return alloc_side(size == 0 ? 1 : size, flags);
}

bool is_side(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - g_heaps[kSideSlot].lo <
         g_heaps[kSideSlot].end - g_heaps[kSideSlot].lo;
}

void dalloc_side(void* p) {
  STRATA_ASSERT(arena_matches(p, 0));
  Heap& t0 = g_heaps[0];
  if (t0.cap != 0) add_live(t0, -static_cast<int64_t>(strata_je_malloc_usable_size(p)));
  strata_je_dallocx(p, tcache_flags(kSideSlot));
}

void* alloc(int tier, size_t size, size_t align, bool zero) {
  // jemalloc's smallest class is only 8-byte aligned: any larger request needs the flag.
  int flags = (align > 8 ? je::align_flag(align) : 0) | (zero ? je::kZero : 0);
  if (size == 0) size = 1;
  Heap& h = g_heaps[tier];
  if (tier == 0 && t0_on_side()) return alloc_side(size, flags);
  if (h.cap != 0 && over_cap(h, strata_je_nallocx(size, flags & 0x3f), 0)) return nullptr;
  void* p = nullptr;
  if (tier == 0) {
    p = flags == 0 ? strata_je_malloc(size) : strata_je_mallocx(size, flags);
  } else {
    if (!h.enabled || h.arena == 0) return nullptr;
    p = strata_je_mallocx(size, flags | je::arena_flag(h.arena) | tcache_flags(tier));
    if (p != nullptr) count_shard().n[tier].fetch_add(1, std::memory_order_relaxed);
  }
  if (h.cap != 0 && p != nullptr)
    h.live.fetch_add(static_cast<int64_t>(strata_je_malloc_usable_size(p)),
                     std::memory_order_relaxed);
  return p;
}

void dalloc(void* p, int tier) {
  STRATA_ASSERT(arena_matches(p, tier));
  if (tier == 0 && is_side(p)) return dalloc_side(p);
  Heap& h = g_heaps[tier];
  // Slot 0's blocks of a capped tier 0 were never counted, and the fast path
  // frees them without a look either.
  if (h.cap != 0 && !(tier == 0 && t0_on_side()))
    add_live(h, -static_cast<int64_t>(strata_je_malloc_usable_size(p)));
  if (tier == 0) {
    strata_je_free(p);
    return;
  }
  strata_je_dallocx(p, tcache_flags(tier));
}

void* ralloc(void* p, int tier, size_t size) {
  STRATA_ASSERT(arena_matches(p, tier));
  if (size == 0) size = 1;
  Heap& h = g_heaps[tier];
  // A side block stays in the side slot (and in tier 0's accounting). A
  // capped tier 0's slot-0 block is moved into the side slot by the caller (a
  // new block), so that it is counted from now on.
  const bool side = tier == 0 && is_side(p);
  if (tier == 0 && !side && t0_on_side()) return nullptr;
  size_t old = h.cap != 0 ? strata_je_malloc_usable_size(p) : 0;
  if (h.cap != 0 && over_cap(h, strata_je_nallocx(size, 0), old)) return nullptr;
  void* q = side        ? strata_je_rallocx(p, size, side_flags())
            : tier == 0 ? strata_je_realloc(p, size)
                        : strata_je_rallocx(p, size, je::arena_flag(h.arena) | tcache_flags(tier));
  if (h.cap != 0 && q != nullptr)
    add_live(h, static_cast<int64_t>(strata_je_malloc_usable_size(q)) - static_cast<int64_t>(old));
  return q;
}

size_t xalloc(void* p, int tier, size_t size, size_t extra) {
  Heap& h = tier == 0 && is_side(p) ? g_heaps[0] : g_heaps[tier];
  // Counted as dalloc() uncounts: a capped tier's blocks, except a capped
  // tier 0's slot-0 blocks.
  const bool counted = h.cap != 0 && (is_side(p) || !(tier == 0 && t0_on_side()));
  const size_t old = strata_je_malloc_usable_size(p);
  if (counted) {
    // Grow only within the capacity left.
    const int64_t room = static_cast<int64_t>(h.cap) - h.live.load(std::memory_order_relaxed) +
                         static_cast<int64_t>(old);
    if (room < 0 || size > static_cast<uint64_t>(room)) return old;
    extra = std::min<size_t>(extra, static_cast<uint64_t>(room) - size);
  }
  const size_t now = strata_je_xallocx(p, size, extra, 0);
  if (counted)
    h.live.fetch_add(static_cast<int64_t>(now) - static_cast<int64_t>(old),
                     std::memory_order_relaxed);
  return now;
}

size_t usable_size(const void* p) {
  return strata_je_malloc_usable_size(const_cast<void*>(p));
}

void side_range(uintptr_t* lo, uintptr_t* hi) {
  const Heap& h = g_heaps[kSideSlot];
  *lo = h.lo;
  *hi = h.enabled ? h.bump.load(std::memory_order_relaxed) : h.lo;
}

}  // namespace strata::heap
