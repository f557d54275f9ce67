// The tier heaps: bootstrap, per-thread binding, tier configuration, the
// fast-path switch and statistics. heap_alloc.cc allocates and frees,
// extent_hooks.cc gives jemalloc its memory, file_heap.cc the PMEM file heap.
//
// jemalloc's dedicated "huge" arena (for allocations above oversize_threshold)
// is never used: every thread is bound to a manual tier arena before its first
// allocation, and jemalloc only routes threads on automatic arenas there.
#include "allocator/heap.h"

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

#include "allocator/heap_internal.h"
#include "allocator/jemalloc_api.h"
#include "allocator/pmem2.h"
#include "allocator/sigsafe.h"
#include "base/log.h"
#include "base/sys.h"

namespace strata::heap {

__thread ThreadState t_state __attribute__((tls_model("initial-exec")));

constinit uintptr_t g_t0_key = UINTPTR_MAX;

constinit uint8_t g_fast = kFastOff;

constinit Heap g_heaps[kSlots];

constinit std::atomic<int> g_ntiers{1};

constinit uintptr_t g_base = 0;

constinit uintptr_t g_total = 0;

constinit unsigned g_shift = 40;

constinit bool g_plain = false;

constinit bool g_fixed = false;  // the reservation is at kT0Key << 40: free()'s fast path works

constinit std::atomic<int> g_boot{0};

__thread bool t_booting __attribute__((tls_model("initial-exec")));

constinit int g_nt0 = 0;  // tier-0 arenas: jemalloc's automatic ones 0..n-1 and its huge arena n

constinit pthread_key_t g_key = 0;

constinit bool g_key_ok = false;

constinit std::atomic<uint64_t> g_foreign_frees{0};

constinit bool g_stats = false;

constinit bool g_fast_allowed = true;

constinit bool g_fast_prof = false;

// Runs at thread exit: destroys the thread's explicit tcaches of tiers >= 1
// (jemalloc keeps explicit tcaches until told). Allocations after this, from
// later TSD destructors, go uncached.
void thread_exit(void*) {
  ReentrancyGuard g;
  t_state.bound = 0;
  for (int t = 0; t < kSlots; ++t) {
    int v = t_state.tcache[t];
    if (v > 0) {
      unsigned tc = static_cast<unsigned>(v - 1);
      strata_je_mallctl("tcache.destroy", nullptr, nullptr, &tc, sizeof tc);
    }
    t_state.tcache[t] = -1;
  }
  t_state.dead = 1;
}

void do_bootstrap() {
  // Before jemalloc initialises (and registers its own fork handlers): see
  // snapshot_prepare. glibc keeps the first 48 handlers in static storage,
  // so this allocates nothing.
  pthread_atfork(snapshot_prepare, snapshot_parent, snapshot_child);
  // One reservation, kSlots slots of 2^g_shift bytes (1 TiB down to 8 GiB).
  // First choice: 1 TiB slots at the fixed address that free()'s fast path
  // compares against (allocator/layout.h). Otherwise wherever the kernel puts
  // it (every free then takes the slow path). Under an address-space limit
  // (ulimit -v) take at most a quarter of it; if that cannot give 8 GiB slots,
  // run in plain mode: one heap (jemalloc's own arenas), no tiers, nothing
  // reserved.
  rlimit rl{};
  uint64_t budget = UINT64_MAX;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) budget = rl.rlim_cur / 4;
  void* base = MAP_FAILED;
  constexpr uint64_t kFixedTotal = static_cast<uint64_t>(kSlots) << kT0Shift;
  if (kFixedTotal <= budget) {
    void* want = reinterpret_cast<void*>(kT0Key << kT0Shift);
    void* r =
        strata_sys_mmap(want, kFixedTotal, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (r == want) {
      base = r;
      g_fixed = true;
    } else if (r != MAP_FAILED) {
      strata_sys_munmap(r, kFixedTotal);  // a kernel before 4.17 took the address as a hint
    }
  }
  // The fast path's key range, [kT0Key << 40, (kT0Key + 1) << 40): outside
  // the fixed reservation, no tier may have memory there.
  const uintptr_t key_lo = kT0Key << kT0Shift;
  const uintptr_t key_hi = (kT0Key + 1) << kT0Shift;
  for (g_shift = 40; base == MAP_FAILED && g_shift >= 33; --g_shift) {
    // One slot more than needed, so the base can be aligned to the slot size:
    // then "is this tier 0" is one shift and one compare (tier_of).
    const uint64_t slot = uint64_t{1} << g_shift;
    const uint64_t total = static_cast<uint64_t>(kSlots) << g_shift;
    if (total + slot > budget) continue;
    void* raw = strata_sys_mmap(nullptr, total + slot, PROT_NONE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) continue;
    const auto r = reinterpret_cast<uintptr_t>(raw);
    if (r < key_hi && r + total + slot > key_lo) {
      strata_sys_munmap(raw, total + slot);
      continue;
    }
    const uintptr_t aligned = (r + slot - 1) & ~(slot - 1);
    if (aligned > r) strata_sys_munmap(raw, aligned - r);
    if (r + total + slot > aligned + total)
      strata_sys_munmap(reinterpret_cast<void*>(aligned + total),
                        r + total + slot - (aligned + total));
    base = reinterpret_cast<void*>(aligned);
    break;
  }
  if (base == MAP_FAILED) {
    g_plain = true;
  } else {
    g_base = reinterpret_cast<uintptr_t>(base);
    g_total = static_cast<uintptr_t>(kSlots) << g_shift;
    Heap& h = g_heaps[0];
    init_hooks(&h, 0);
    h.lo = g_base;
    h.end = h.hi = g_base + (uintptr_t{1} << g_shift);
    h.bump.store(g_base, std::memory_order_relaxed);
    h.enabled = true;
  }
  // jemalloc initialises on this first call. From here on its own mappings
  // (metadata, and extents of arenas still on its default hooks) are carved
  // from slot 0 too, see strata_je_os_mmap.
  g_stats = [] {
    bool on = false;
    size_t sz = sizeof on;
    return strata_je_mallctl("config.stats", &on, &sz, nullptr, 0) == 0 && on;
  }();
  // Tier 0 is jemalloc's automatic arenas (and its "huge" arena) with
  // jemalloc's own extent hooks: their mappings are carved from slot 0 by
  // strata_je_os_mmap, so threads need no binding, malloc's fast path is a
  // plain call into jemalloc, and jemalloc keeps its inlined default paths.
  unsigned narenas = 0;
  size_t sz = sizeof narenas;
  if (strata_je_mallctl("opt.narenas", &narenas, &sz, nullptr, 0) != 0 || narenas == 0) narenas = 4;
  g_nt0 = static_cast<int>(narenas) + 1;
  g_key_ok = pthread_key_create(&g_key, thread_exit) == 0;
  sigsafe::set_fast_mode(g_fast_allowed ? (g_fast_prof ? kFastProfiled : kFastOn) : kFastOff);
  if (g_plain) {
    // Every free takes the slow path, which recognises jemalloc's own ranges.
    g_t0_key = UINTPTR_MAX;
  } else {
    // With 1 TiB slots, tier 0 is exactly the addresses whose bits 40 and up
    // equal the key (the constant kT0Key when the fixed address was free).
    g_t0_key = g_shift == kT0Shift ? g_base >> kT0Shift : UINTPTR_MAX;
  }
}

void bootstrap() {
  int s = 0;
  if (g_boot.compare_exchange_strong(s, 1, std::memory_order_acq_rel)) {
    t_booting = true;
    do_bootstrap();
    t_booting = false;
    g_boot.store(2, std::memory_order_release);
    return;
  }
  if (t_booting) return;  // recursion from inside bootstrap: never expected
  while (g_boot.load(std::memory_order_acquire) != 2) sched_yield();
}

int tcache_flags(int tier) {
  int v = t_state.tcache[tier];
  if (__builtin_expect(v > 0, 1)) return je::tcache_flag(v - 1);
  if (v < 0 || t_state.dead || !g_key_ok) return je::kTcacheNone;
  ReentrancyGuard g;
  unsigned tc = 0;
  size_t sz = sizeof tc;
  if (strata_je_mallctl("tcache.create", &tc, &sz, nullptr, 0) != 0) {
    t_state.tcache[tier] = -1;
    return je::kTcacheNone;
  }
  t_state.tcache[tier] = static_cast<int>(tc) + 1;
  return je::tcache_flag(static_cast<int>(tc));
}

void read_arena_stats(unsigned arena, TierStats* s) {
  if (!g_stats) return;
  auto get = [&](const char* what) -> uint64_t {
    char name[96];
    std::snprintf(name, sizeof name, "stats.arenas.%u.%s", arena, what);
    size_t v = 0;
    size_t sz = sizeof v;
    uint64_t v64 = 0;
    if (std::strstr(what, "allocated") != nullptr) {
      if (strata_je_mallctl(name, &v, &sz, nullptr, 0) == 0) return v;
      return 0;
    }
    sz = sizeof v64;
    if (strata_je_mallctl(name, &v64, &sz, nullptr, 0) == 0) return v64;
    return 0;
  };
  s->allocated += get("small.allocated") + get("large.allocated");
  // nrequests: allocations asked for (nmalloc would count thread-cache refills).
  s->nmalloc += get("small.nrequests") + get("large.nrequests");
  s->ndalloc += get("small.ndalloc") + get("large.ndalloc");
}

void bind_thread() {
  if (g_boot.load(std::memory_order_acquire) != 2) bootstrap();
  if (g_boot.load(std::memory_order_acquire) != 2) return;  // recursion during bootstrap
  t_state.bound = 1;
  // Registers thread_exit for this thread (no allocation for low key numbers;
  // if it does allocate, the thread is bound already).
  if (g_key_ok) pthread_setspecific(g_key, reinterpret_cast<void*>(1));
}

int tier_of(const void* p) {
  uintptr_t u = reinterpret_cast<uintptr_t>(p);
  if ((u >> kT0Shift) == g_t0_key) return 0;
  int n = g_ntiers.load(std::memory_order_relaxed);
  uintptr_t off = u - g_base;
  if (off < g_total) {
    int s = static_cast<int>(off >> g_shift);
    if (s == kSideSlot) return g_heaps[s].enabled ? 0 : -1;  // the profiler's tier-0 blocks
    return s < n && g_heaps[s].enabled && !g_heaps[s].file ? s : -1;
  }
  for (int t = 1; t < n; ++t) {
    const Heap& h = g_heaps[t];
    if (h.file && u - h.lo < h.end - h.lo) return t;
  }
  return os_owns(u) ? 0 : -1;
}

int ntiers() {
  return g_ntiers.load(std::memory_order_relaxed);
}

void set_ntiers(int n) {
  g_ntiers.store(n, std::memory_order_release);
}

bool tier_enabled(int i) {
  return i >= 0 && i < ntiers() && g_heaps[i].enabled;
}

void tier_range(int i, uintptr_t* lo, uintptr_t* hi) {
  *lo = g_heaps[i].lo;
  *hi = g_heaps[i].bump.load(std::memory_order_relaxed);
}

bool configure_tier(int i, const TierDef& def, bool multi_node, std::string* err) {
  ensure_thread();
  if (i == 0)
    STRATA_LOG(LogLevel::kDebug, "heap: %s, %d slots of 2^%u bytes at %#lx%s, %d tier-0 arenas",
               g_plain ? "plain mode" : "tiered", kSlots, g_shift,
               static_cast<unsigned long>(g_base),
               g_fixed ? " (fixed: fast free path)" : " (free takes the slow path)", g_nt0);
  ReentrancyGuard g;
  Heap& h = g_heaps[i];
  h.enabled = false;
  if (g_plain) {
    if (i == 0) {
      h.enabled = true;
      *err = "address-space limit (ulimit -v) too small to reserve tier ranges: one heap, no tiers";
      return true;
    }
    *err = "no address range reserved (address-space limit, see tier 0)";
    return false;
  }
  std::string info;
  if (def.kind == TierKind::kPmemFile) {
    if (i == 0) {
      *err = "a PMEM file heap cannot be the first (default) tier";
      return false;
    }
    if (!map_pmem_file(def, &h, err)) return false;
    info = *err;
  } else {
    if (i != 0) {
      h.lo = g_base + (static_cast<uintptr_t>(i) << g_shift);
      h.end = h.lo + (uintptr_t{1} << g_shift);
      h.bump.store(h.lo, std::memory_order_relaxed);
      h.file = false;
    }
    // The capacity limit counts live bytes (alloc/dalloc); the address space a
    // capped heap may carve is a looser backstop, so that jemalloc's retained
    // and fragmented extents do not make the tier spill early.
    uintptr_t slot = uintptr_t{1} << g_shift;
    uintptr_t carve = slot;
    if (def.cap != 0) {
      uintptr_t loose =
          def.cap * 2 > def.cap + (256ULL << 20) ? def.cap * 2 : def.cap + (256ULL << 20);
      if (loose < slot) carve = loose;
    }
    h.hi = h.lo + carve;
  }
  h.cap = def.cap;
  if (h.file && (h.cap == 0 || h.cap > h.end - h.lo)) h.cap = 0;  // the file size bounds it
  init_hooks(&h, i);
  if (multi_node && !def.nodes.empty() && def.kind != TierKind::kPmemFile) {
    std::memset(h.mask, 0, sizeof h.mask);
    for (int n = 0; n < kMaxNodes; ++n)
      if (def.nodes.test(n)) h.mask[n / 64] |= 1UL << (n % 64);
    h.maxnode = static_cast<unsigned long>(def.nodes.max_node()) + 2;
    h.mode = def.nodes.count() == 1 ? kMpolPreferred : kMpolPreferredMany;
    h.bind = true;
    if (i == 0) {
      // Extents carved before the configuration was read: move them now.
      uintptr_t used = h.bump.load(std::memory_order_relaxed) - h.lo;
      if (used != 0) apply_binding(&h, h.lo, used, kMpolMfMove);
    }
  } else {
    h.bind = false;
  }
  if (i != 0 && h.arena == 0) {
    h.arena = create_arena(&h);
    if (h.arena == 0) {
      *err = "jemalloc could not create an arena for it";
      return false;
    }
  }
  h.enabled = true;
  if (i == 0 && h.cap != 0) {
    // A capped tier 0 takes its blocks from the side slot, whose frees are
    // counted (the fast path frees slot 0's without a look).
    std::string why;
    if (!g_plain && !enable_side_heap(&why)) {
      h.enabled = false;
      *err = "a capacity limit on the first tier needs its side heap: " + why;
      return false;
    }
    Heap& side = g_heaps[kSideSlot];
    if (side.enabled && h.hi - h.lo < side.end - side.lo) side.hi = side.lo + (h.hi - h.lo);
  }
  *err = info;
  return true;
}

void tier_stats(int tier, TierStats* out) {
  *out = TierStats{};
  const Heap& h = g_heaps[tier];
  ReentrancyGuard g;
  if (g_stats) {
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    strata_je_mallctl("epoch", &epoch, &sz, &epoch, sz);
  }
  if (tier == 0) {
    for (int i = 0; i < g_nt0; ++i) read_arena_stats(static_cast<unsigned>(i), out);
    out->foreign_frees = g_foreign_frees.load(std::memory_order_relaxed);
    // The side slot's arenas (sampled blocks, a capped tier 0's blocks).
    const Heap& s = g_heaps[kSideSlot];
    if (s.enabled) {
      for (unsigned a : g_side_arenas) read_arena_stats(a, out);
      out->mapped += s.mapped.load(std::memory_order_relaxed);
    }
  } else {
    read_arena_stats(h.arena, out);
    out->nmalloc = 0;
    for (const CountShard& c : g_nalloc) out->nmalloc += c.n[tier].load(std::memory_order_relaxed);
  }
  out->mapped += h.mapped.load(std::memory_order_relaxed);
  out->cap = h.cap;
  if (h.cap != 0) {
    int64_t live = h.live.load(std::memory_order_relaxed);
    out->allocated = live > 0 ? static_cast<uint64_t>(live) : 0;
  }
  out->spill_out = h.spill_out.load(std::memory_order_relaxed);
  out->spill_in = h.spill_in.load(std::memory_order_relaxed);
  out->bind_errors = h.bind_errors.load(std::memory_order_relaxed);
}

void count_spill(int from, int to) {
  g_heaps[from].spill_out.fetch_add(1, std::memory_order_relaxed);
  g_heaps[to].spill_in.fetch_add(1, std::memory_order_relaxed);
}

void count_foreign_free() {
  g_foreign_frees.fetch_add(1, std::memory_order_relaxed);
}

void flush_thread_caches() {
  ReentrancyGuard g;
  strata_je_mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  for (int t = 0; t < kSlots; ++t) {
    if (t_state.tcache[t] <= 0) continue;
    unsigned tc = static_cast<unsigned>(t_state.tcache[t] - 1);
    strata_je_mallctl("tcache.flush", nullptr, nullptr, &tc, sizeof tc);
  }
}

bool stats_available() {
  return g_stats;
}

bool plain_mode() {
  return g_plain;
}

void set_fast_path_allowed(bool allowed) {
  g_fast_allowed = allowed;
  if (g_boot.load(std::memory_order_acquire) == 2)
    sigsafe::set_fast_mode(allowed ? (g_fast_prof ? kFastProfiled : kFastOn) : kFastOff);
}

void set_fast_path_profiling(bool on) {
  g_fast_prof = on;
  set_fast_path_allowed(g_fast_allowed);
}

namespace {

// Set by prefork when the forking thread handed its explicit tcaches back.
constinit __thread bool t_fork_flushed = false;

}  // namespace

// An explicit tcache cannot cross a fork. jemalloc's child handler rebuilds each
// arena's list of tcaches from the thread's automatic tcache alone; an explicit
// tcache the child later flushes (which destroys it) is then unlinked from a list
// it is no longer in, through its neighbours in the parent. That corrupted the
// arena's list, and the child's next statistics merge crashed (bash subshells
// under STRATA_STATS). So the forking thread hands its explicit tcaches back
// first: jemalloc creates each again on its next use, in parent and child. This
// runs before any lock of strata's or jemalloc's is taken (first in the runtime's
// prepare handler). A fork from inside strata itself cannot flush (jemalloc's
// locks may be held on this thread): the child then forgets those tcaches and
// creates new ones; the objects they cached stay unused in the child.
void prefork() {
  t_fork_flushed = false;
  if (t_state.depth != 0 || t_state.dead || g_boot.load(std::memory_order_acquire) != 2) return;
  ReentrancyGuard g;
  for (int t = 0; t < kSlots; ++t) {
    if (t_state.tcache[t] <= 0) continue;
    unsigned tc = static_cast<unsigned>(t_state.tcache[t] - 1);
    strata_je_mallctl("tcache.flush", nullptr, nullptr, &tc, sizeof tc);
  }
  t_fork_flushed = true;
}

void postfork_parent() {}

void postfork_child() {
  if (t_fork_flushed) return;
  for (int t = 0; t < kSlots; ++t)
    if (t_state.tcache[t] > 0) t_state.tcache[t] = 0;
}

}  // namespace strata::heap
