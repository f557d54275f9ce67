// The slow paths behind the interposed entry points: placement by the policy,
// spill to the next tier, the profiler's sampled blocks, foreign pointers.
#include "src/runtime/runtime.h"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "allocator/heap.h"
#include "allocator/sigheap.h"
#include "allocator/sigsafe.h"
#include "base/log.h"
#include "base/sys.h"
#include "src/prof/profile.h"
#include "src/prof/sites.h"
#include "src/runtime/internal.h"

namespace strata::rt {

constinit bool g_heap_rules = false;

namespace {

using heap::t_state;

}  // namespace

constinit std::atomic<const CompiledPolicy*> g_policy{nullptr};

namespace {

constinit InterleaveState g_interleave;

using FreeFn = void (*)(void*);

using UsableFn = size_t (*)(void*);

constinit std::atomic<FreeFn> g_real_free{nullptr};

constinit std::atomic<UsableFn> g_real_usable{nullptr};

}  // namespace

void resolve_libc() {
  if (g_real_free.load(std::memory_order_acquire) != nullptr) return;
  heap::ReentrancyGuard g;
  auto f = reinterpret_cast<FreeFn>(dlsym(RTLD_NEXT, "free"));
  auto u = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  // If strata is linked into the program rather than preloaded, RTLD_NEXT may
  // find strata itself again: that would loop.
  if (f == reinterpret_cast<FreeFn>(&::free)) f = nullptr;
  g_real_usable.store(u, std::memory_order_release);
  g_real_free.store(f, std::memory_order_release);
}

namespace {

void* spill(int from, size_t size, size_t align, bool zero) {
  const int n = heap::ntiers();
  for (int step = 1; step < n; ++step) {
    // Slower tiers first, then faster ones.
    int t = from + step < n ? from + step : n - 1 - step;
    if (t < 0 || !heap::tier_enabled(t)) continue;
    void* p = heap::alloc(t, size, align, zero);
    if (p != nullptr) {
      heap::count_spill(from, t);
      return p;
    }
  }
  return nullptr;
}

struct SiteCtx {
  const CompiledPolicy* pol;
  const void* ra;
};

uint64_t site_bits(void* c) {
  auto* s = static_cast<SiteCtx*>(c);
  return s->ra != nullptr ? sites::match_bits(*s->pol, s->ra) : 0;
}

}  // namespace

// The policy's decision for one allocation by the calling thread.
Placement decide(const CompiledPolicy& pol, size_t size, AllocKind kind, const void* ra) {
  PlaceQuery q;
  q.size = size;
  q.kind = kind;
  if (uint8_t d = t_hints.depth; d != 0) {
    q.hint_label = t_hints.label[d - 1] - 1;
    q.hint_tier = t_hints.tier[d - 1] - 1;
  }
  SiteCtx ctx{&pol, ra};
  q.site_bits = site_bits;
  q.site_ctx = &ctx;
  return pol.decide(q, &g_interleave);
}

namespace {

int place(size_t size, const void* ra) {
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  if (pol == nullptr || t_state.depth != 0) return 0;
  return decide(*pol, size, AllocKind::kHeap, ra).tier;
}

}  // namespace

void* alloc_placed(int tier, size_t size, size_t align, bool zero, bool nospill) {
  void* p = heap::tier_enabled(tier) ? heap::alloc(tier, size, align, zero) : nullptr;
  if (p == nullptr && !nospill) p = spill(tier, size, align, zero);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

int tier_of_address(const void* p) {
  int t = heap::tier_of(p);
  if (t >= 0) return t;
  Region r{};
  if (region_map().find(reinterpret_cast<uintptr_t>(p), &r)) return r.tier;
  return -1;
}

namespace {

// The slow path's allocation once the profiler's decision is made.
void* alloc_decided(size_t size, size_t align, bool zero, const void* ra, bool sample) noexcept {
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  const bool rules = pol != nullptr && t_state.depth == 0 && (g_heap_rules || t_hints.depth != 0);
  if (!sample && !rules) return alloc_placed(0, size, align, zero, false);
  Placement pl;
  if (rules) pl = decide(*pol, size, AllocKind::kHeap, ra);
  void* p = nullptr;
  // A sampled tier-0 block comes from the sample heap, which free() tells apart by address.
  if (sample && pl.tier == 0) p = heap::alloc_sample(size, align, zero);
  if (p == nullptr) p = alloc_placed(pl.tier, size, align, zero, pl.nospill);
  if (pl.pin && p != nullptr) record_pin(p, heap::usable_size(p));
  if (sample) prof::record(p, size, ra);
  return p;
}

}  // namespace

namespace {
// Frees what handlers that interrupted the allocator gave back (allocator/sigheap.h).
void drain_deferred() noexcept {
  for (void* p = sigheap::take_deferred(); p != nullptr;) {
    void* next = *static_cast<void**>(p);
    free_slow(p);
    p = next;
  }
}
}  // namespace

void* malloc_slow(size_t size, size_t align, bool zero, const void* ra) noexcept {
  if (sigsafe::in_handler()) return sigheap::alloc(size, align, zero);
  if (sigheap::has_deferred()) drain_deferred();
  heap::ensure_thread();
  const bool sample = prof::g_on && t_state.depth == 0 && prof::take(size);
  return alloc_decided(size, align, zero, ra, sample);
}

void free_slow(void* p) noexcept {
  if (sigheap::owns(p)) {
    sigheap::free(p);
    return;
  }
  if (sigsafe::in_handler()) {
    sigheap::defer_free(p);
    return;
  }
  if (sigheap::has_deferred()) drain_deferred();
  if (heap::is_side(p)) {
    prof::forget(p);
    heap::dalloc_side(p);
    return;
  }
  int t = heap::tier_of(p);
  if (t >= 0) {
    if (t != 0 && prof::g_on) prof::forget(p);
    heap::dalloc(p, t);
    return;
  }
  // Not strata's: allocated before the preload took over, or by code bound
  // directly to libc. Hand it back to libc; never crash, at worst leak.
  heap::count_foreign_free();
  resolve_libc();
  FreeFn f = g_real_free.load(std::memory_order_acquire);
  if (f != nullptr) f(p);
}

size_t usable_size(void* p) noexcept {
  if (p == nullptr) return 0;
  if (sigheap::owns(p)) return sigheap::usable(p);
  if (heap::tier_of(p) >= 0) return heap::usable_size(p);
  resolve_libc();
  UsableFn u = g_real_usable.load(std::memory_order_acquire);
  return u != nullptr ? u(p) : 0;
}

void* realloc_impl(void* p, size_t size, const void* ra) noexcept {
  if (sigsafe::in_handler()) return sigheap::realloc(p, usable_size(p), size);
  if (p == nullptr) return malloc_slow(size, 0, false, ra);
  if (size == 0) {  // glibc frees and returns NULL
    free_slow(p);
    return nullptr;
  }
  heap::ensure_thread();
  int tier = heap::tier_of(p);
  // The profiler counts the new size as an allocation: a realloc that ends the
  // countdown is sampled as a new block (from the side slot for tier 0).
  const bool sample = prof::g_on && t_state.depth == 0 && prof::take(size);
  if (tier < 0 || sample) {
    // Not strata's, or sampled: a new block and a free.
    size_t old = usable_size(p);
    void* q = alloc_decided(size, 0, false, ra, sample);
    if (q == nullptr) return nullptr;
    std::memcpy(q, p, old < size ? old : size);
    free_slow(p);
    return q;
  }
  // A sampled block ends its record here (the new size is a new block). Tier-0
  // samples are in the side slot; slot 0 holds none.
  if ((tier != 0 || heap::is_side(p)) && prof::g_on) prof::forget(p);
  int want = g_heap_rules || t_hints.depth != 0 ? place(size, ra) : 0;
  if (want == tier || !heap::tier_enabled(want)) {
    void* q = heap::ralloc(p, tier, size);
    if (q != nullptr) return q;
  }
  void* q = alloc_placed(want, size, 0, false, false);
  if (q == nullptr) return nullptr;
  size_t old = heap::usable_size(p);
  std::memcpy(q, p, old < size ? old : size);
  heap::dalloc(p, tier);
  return q;
}

void* alloc_on_tier(int tier, size_t size, bool zero, bool nospill) noexcept {
  init();
  heap::ensure_thread();
  if (tier < 0 || tier >= heap::ntiers()) tier = 0;
  return alloc_placed(tier, size, 0, zero, nospill);
}

}  // namespace strata::rt
