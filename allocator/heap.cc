#include "allocator/heap.h"

#include <fcntl.h>
#include <libpmem2.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "allocator/jemalloc_api.h"
#include "allocator/pmem2.h"
#include "base/log.h"
#include "base/sys.h"

// jemalloc's dedicated "huge" arena (for allocations above oversize_threshold)
// is never used: every thread is bound to a manual tier arena before its first
// allocation, and jemalloc only routes threads on automatic arenas there.

namespace strata::heap {

__thread ThreadState t_state __attribute__((tls_model("initial-exec")));
constinit uintptr_t g_t0_key = UINTPTR_MAX;
constinit uint8_t g_fast = 0;

namespace {

constexpr int kMpolPreferred = 1;
constexpr int kMpolPreferredMany = 5;
constexpr unsigned kMpolMfMove = 1U << 1;
constexpr uintptr_t kPage = sys::kPageSize;

struct Heap {
  extent_hooks_t hooks{};  // first member: jemalloc hands us this pointer back
  std::atomic<uintptr_t> bump{0};
  uintptr_t lo = 0;
  uintptr_t hi = 0;   // carve limit (capacity)
  uintptr_t end = 0;  // end of the address range that belongs to this tier
  unsigned long maxnode = 0;
  std::atomic<uint64_t> mapped{0};
  std::atomic<uint64_t> spill_out{0};
  std::atomic<uint64_t> spill_in{0};
  std::atomic<uint64_t> bind_errors{0};
  std::atomic<int64_t> live{0};  // bytes in use, kept only when cap != 0
  uint64_t cap = 0;              // capacity limit in live bytes, 0 = none
  int fd = -1;                   // file heap: the backing file
  int snap_fd = -1;              // file heap: the copy made for a fork child
  uintptr_t snap_len = 0;        // file heap: bytes reserved in that copy
  char dir[256] = {};            // file heap: its directory
  // NUMA binding applied to every extent.
  unsigned long mask[kMaxNodes / 64 + 1] = {};
  int tier = 0;
  int mode = 0;
  unsigned arena = 0;  // tiers >= 1: the tier's arena
  bool enabled = false;
  bool file = false;
  bool bind = false;
};

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

// Address ranges jemalloc mapped itself, through its default extent hooks and
// for its metadata (jemalloc's mmap/munmap calls are renamed to the functions
// below). User blocks land there only in corner cases (a thread whose jemalloc
// state was torn down at exit, before strata re-binds it); free() must still
// recognise them as jemalloc's and never hand them to libc.
struct OsRange {
  uintptr_t start;
  uintptr_t end;
};
constexpr int kMaxOsRanges = 4096;
constinit OsRange g_os[kMaxOsRanges] = {};
constinit int g_nos = 0;
constinit sys::SpinLock g_os_lock;

// Lock-free: entries are appended (count published last) and removed by
// emptying them (end = start); the table is never compacted.
bool os_owns(uintptr_t u) {
  int n = __atomic_load_n(&g_nos, __ATOMIC_ACQUIRE);
  for (int i = 0; i < n; ++i) {
    uintptr_t s = __atomic_load_n(&g_os[i].start, __ATOMIC_RELAXED);
    uintptr_t e = __atomic_load_n(&g_os[i].end, __ATOMIC_RELAXED);
    if (u - s < e - s) return true;
  }
  return false;
}

Heap* heap_of(extent_hooks_t* h) {
  return reinterpret_cast<Heap*>(h);
}

// Binds [start, start+size) with the heap's policy; `extra` adds mode flags.
int bind_once(Heap* h, uintptr_t start, size_t size, unsigned extra, unsigned flags) {
  int r = sys::mbind(reinterpret_cast<void*>(start), size, h->mode | static_cast<int>(extra),
                     h->mask, h->maxnode, flags);
  if (r == -EINVAL && h->mode == kMpolPreferredMany) {
    // Kernels before 5.15 have no MPOL_PREFERRED_MANY: prefer the first node.
    int first = -1;
    for (int n = 0; n < kMaxNodes && first < 0; ++n)
      if ((h->mask[n / 64] >> (n % 64)) & 1UL) first = n;
    std::memset(h->mask, 0, sizeof h->mask);
    h->mask[first / 64] |= 1UL << (first % 64);
    h->mode = kMpolPreferred;
    r = sys::mbind(reinterpret_cast<void*>(start), size, h->mode | static_cast<int>(extra), h->mask,
                   h->maxnode, flags);
  }
  return r;
}

// Chunk VMAs (set_chunk_vmas): the abit sampler sees one VMA per 2 MiB chunk.
// Chunks of odd index get a policy that differs from their neighbours' only
// in form (MPOL_F_STATIC_NODES on a bound heap; on an unbound one, an explicit
// copy of the task's policy, MPOL_LOCAL for the default), so the kernel never
// merges them with the even chunks next to them, and placement is unchanged.
constexpr unsigned kMpolFStaticNodes = 1U << 15;
constexpr int kMpolLocal = 4;
constexpr unsigned kChunkShift = 21;
constinit std::atomic<bool> g_chunk_vmas{false};
constinit std::atomic<int64_t> g_vma_budget{0};  // odd chunks we may still split off
constinit int g_alt_mode = kMpolLocal;           // unbound heaps: the odd chunks' policy
constinit unsigned long g_alt_mask[kMaxNodes / 64 + 1] = {};
constinit unsigned long g_alt_maxnode = 0;
constinit bool g_no_thp = false;  // MADV_NOHUGEPAGE on chunked ranges

void apply_binding(Heap* h, uintptr_t start, size_t size, unsigned flags) {
  if (h->file) return;
  int r = 0;
  if (!g_chunk_vmas.load(std::memory_order_relaxed)) {
    if (!h->bind) return;
    r = bind_once(h, start, size, 0, flags);
  } else {
    if (g_no_thp) sys::madvise(reinterpret_cast<void*>(start), size, MADV_NOHUGEPAGE);
    for (uintptr_t s = start, end = start + size; s < end && r == 0;) {
      uintptr_t e = ((s >> kChunkShift) + 1) << kChunkShift;
      if (e > end) e = end;
      bool odd = ((s >> kChunkShift) & 1) != 0;
      if (odd && g_vma_budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
        // Out of VMAs (vm.max_map_count): the rest keeps one policy and merges.
        g_vma_budget.store(0, std::memory_order_relaxed);
        if (h->bind) r = bind_once(h, s, end - s, 0, flags);
        break;
      }
      if (h->bind)
        r = bind_once(h, s, e - s, odd ? kMpolFStaticNodes : 0, flags);
      else if (odd)
        // No mask for MPOL_LOCAL (the kernel rejects maxnode 0 with a mask pointer).
        r = sys::mbind(reinterpret_cast<void*>(s), e - s, g_alt_mode,
                       g_alt_maxnode != 0 ? g_alt_mask : nullptr, g_alt_maxnode, flags);
      s = e;
    }
  }
  if (r < 0) {
    if (h->bind_errors.fetch_add(1, std::memory_order_relaxed) == 0)
      STRATA_LOG(LogLevel::kWarn, "tier %d: mbind failed: %s; its memory is placed by the kernel",
                 h->tier, std::strerror(-r));
  }
}

void* hook_alloc(extent_hooks_t* hooks, void* new_addr, size_t size, size_t alignment, bool* zero,
                 bool* commit, unsigned /*arena_ind*/) {
  Heap* h = heap_of(hooks);
  if (new_addr != nullptr || size == 0) return nullptr;
  if (alignment < kPage) alignment = kPage;
  uintptr_t cur = h->bump.load(std::memory_order_relaxed);
  uintptr_t start = 0;
  uintptr_t end = 0;
  do {
    start = (cur + alignment - 1) & ~(alignment - 1);
    end = start + size;
    if (start < cur || end < start || end > h->hi) return nullptr;
  } while (!h->bump.compare_exchange_weak(cur, end, std::memory_order_relaxed));
  if (!h->file) {
    void* r = strata_sys_mmap(reinterpret_cast<void*>(start), size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (r == MAP_FAILED) return nullptr;  // that range of the slot stays unused
    apply_binding(h, start, size, 0);
  }
  // No region-map update here: hooks run under jemalloc's locks, and a tier's
  // heap is always the range [lo, bump) of its slot (tier_range()).
  h->mapped.fetch_add(size, std::memory_order_relaxed);
  *zero = true;
  *commit = true;
  return reinterpret_cast<void*>(start);
}

// Returning true opts out: jemalloc keeps the range (retained) for reuse.
bool hook_dalloc(extent_hooks_t*, void*, size_t, bool, unsigned) {
  return true;
}

bool purge(Heap* h, void* addr, size_t offset, size_t length, int advice) {
  if (length == 0) return false;
  return sys::madvise(static_cast<char*>(addr) + offset, length, h->file ? MADV_REMOVE : advice) !=
         0;
}

void hook_destroy(extent_hooks_t* hooks, void* addr, size_t size, bool, unsigned) {
  purge(heap_of(hooks), addr, 0, size, MADV_DONTNEED);
}

bool hook_purge_forced(extent_hooks_t* hooks, void* addr, size_t, size_t offset, size_t length,
                       unsigned) {
  return purge(heap_of(hooks), addr, offset, length, MADV_DONTNEED);
}

bool hook_purge_lazy(extent_hooks_t* hooks, void* addr, size_t, size_t offset, size_t length,
                     unsigned) {
  return purge(heap_of(hooks), addr, offset, length, MADV_FREE);
}

// Commit is a no-op: the range stays mapped read-write; a decommitted range
// was emptied (MADV_DONTNEED / MADV_REMOVE) and refills with zero pages.
bool hook_commit(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned) {
  return false;
}

bool hook_decommit(extent_hooks_t* hooks, void* addr, size_t, size_t offset, size_t length,
                   unsigned) {
  return purge(heap_of(hooks), addr, offset, length, MADV_DONTNEED);
}

bool hook_split(extent_hooks_t*, void*, size_t, size_t, size_t, bool, unsigned) {
  return false;
}
bool hook_merge(extent_hooks_t*, void*, size_t, void*, size_t, bool, unsigned) {
  return false;
}

void init_hooks(Heap* h, int tier) {
  h->tier = tier;
  h->hooks.alloc = hook_alloc;
  h->hooks.dalloc = hook_dalloc;
  h->hooks.destroy = hook_destroy;
  h->hooks.commit = hook_commit;
  h->hooks.decommit = hook_decommit;
  h->hooks.purge_lazy = h->file ? nullptr : hook_purge_lazy;
  h->hooks.purge_forced = hook_purge_forced;
  h->hooks.split = hook_split;
  h->hooks.merge = hook_merge;
}

unsigned create_arena(Heap* h) {
  unsigned idx = 0;
  size_t sz = sizeof idx;
  extent_hooks_t* hp = &h->hooks;
  if (strata_je_mallctl("arenas.create", &idx, &sz, &hp, sizeof hp) != 0) return 0;
  return idx;
}

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

void snapshot_prepare();
void snapshot_parent();
void snapshot_child();

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
  g_fast = g_fast_allowed ? (g_fast_prof ? 2 : 1) : 0;
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

// ---- PMEM file heap through libpmem2 (allocator/pmem2.h: loaded only when needed) ----
bool map_pmem_file(const TierDef& def, Heap* h, std::string* err) {
  int fd = ::open(def.path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    char name[300];
    std::snprintf(name, sizeof name, "%s/strata-heap-%d-XXXXXX", def.path,
                  static_cast<int>(getpid()));
    fd = mkostemp(name, O_CLOEXEC);
    if (fd >= 0) ::unlink(name);
  }
  if (fd < 0) {
    *err = std::string("cannot create a heap file in ") + def.path + ": " + std::strerror(errno);
    return false;
  }
  // Reserve every block now: a sparse file could fault with SIGBUS when the
  // file system fills up, which would kill the program.
  int fr = posix_fallocate(fd, 0, static_cast<off_t>(def.size));
  if (fr != 0) {
    *err = std::string("cannot reserve ") + std::to_string(def.size >> 20) + " MiB in " + def.path +
           ": " + std::strerror(fr);
    ::close(fd);
    return false;
  }
  const char* missing = nullptr;
  const pmem2::Api* p = pmem2::load(&missing);
  std::string why = p != nullptr ? "" : missing;
  void* addr = nullptr;
  size_t len = 0;
  if (p != nullptr) {
    pmem2_config* cfg = nullptr;
    pmem2_source* src = nullptr;
    pmem2_map* map = nullptr;
    if (p->config_new(&cfg) == 0 && p->set_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0 &&
        p->source_from_fd(&src, fd) == 0 && p->map_new(&map, cfg, src) == 0) {
      addr = p->map_address(map);
      len = p->map_size(map);
      bool byte = p->map_granularity(map) != PMEM2_GRANULARITY_PAGE;
      why = byte ? "libpmem2 mapping, byte-addressable persistent memory (fs-dax)"
                 : "libpmem2 mapping, page cache (not DAX)";
      // The map handle is kept for the life of the process.
    } else {
      why = std::string("libpmem2: ") + p->errormsg() + "; plain shared mapping";
    }
    if (src != nullptr) p->source_delete(&src);
    if (cfg != nullptr) p->config_delete(&cfg);
  }
  if (addr == nullptr) {
    void* r = strata_sys_mmap(nullptr, def.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (r == MAP_FAILED) {
      *err = std::string("cannot map the heap file in ") + def.path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    addr = r;
    len = def.size;
  }
  h->fd = fd;  // kept: a fork child copies the heap out of it
  std::snprintf(h->dir, sizeof h->dir, "%s", def.path);
  h->file = true;
  h->lo = reinterpret_cast<uintptr_t>(addr);
  h->end = h->lo + len;
  h->hi = h->end;  // a capacity below the file size is enforced on live bytes
  h->bump.store(h->lo, std::memory_order_relaxed);
  *err = why;  // informational on success
  return true;
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

}  // namespace

}  // namespace strata::heap

extern "C" {

void* strata_je_os_mmap(void* addr, size_t len, int prot, int flags, int fd, long off) {
  using namespace strata::heap;
  Heap& h0 = g_heaps[0];
  if (addr == nullptr && fd == -1 && (flags & MAP_ANONYMOUS) != 0 && h0.enabled && !g_plain) {
    // Carve from slot 0 (2 MiB aligned for large requests, as jemalloc wants).
    const uintptr_t align = len >= (2U << 20) ? (2U << 20) : kPage;
    uintptr_t cur = h0.bump.load(std::memory_order_relaxed);
    uintptr_t start = 0;
    bool fits = true;
    do {
      start = (cur + align - 1) & ~(align - 1);
      if (start + len < start || start + len > h0.hi) {
        fits = false;
        break;
      }
    } while (!h0.bump.compare_exchange_weak(cur, start + len, std::memory_order_relaxed));
    if (fits) {
      void* p =
          strata_sys_mmap(reinterpret_cast<void*>(start), len, prot, flags | MAP_FIXED, -1, 0);
      if (p != MAP_FAILED) {
        h0.mapped.fetch_add(len, std::memory_order_relaxed);
        apply_binding(&h0, start, len, 0);
        return p;
      }
    }
  }
  void* p = strata_sys_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED && tier_of(p) != 0) {
    auto s = reinterpret_cast<uintptr_t>(p);
    g_os_lock.lock();
    int n = g_nos;
    if (n < kMaxOsRanges) {
      __atomic_store_n(&g_os[n].start, s, __ATOMIC_RELAXED);
      __atomic_store_n(&g_os[n].end, s + len, __ATOMIC_RELAXED);
      __atomic_store_n(&g_nos, n + 1, __ATOMIC_RELEASE);
    }
    g_os_lock.unlock();
  }
  return p;
}

int strata_je_os_munmap(void* addr, size_t len) {
  using namespace strata::heap;
  auto s = reinterpret_cast<uintptr_t>(addr);
  if (!g_plain && s - g_base < g_total) {
    // Inside the reservation: give the memory back but keep the range
    // reserved, so the kernel never places another mapping in a tier slot.
    void* p = strata_sys_mmap(addr, len, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    return p == MAP_FAILED ? -1 : 0;
  }
  int r = strata_sys_munmap(addr, len);
  if (r == 0) {
    g_os_lock.lock();
    for (int i = 0; i < g_nos; ++i) {
      if (g_os[i].start == s && g_os[i].end == s + len) {
        __atomic_store_n(&g_os[i].end, s, __ATOMIC_RELEASE);
        break;
      }
    }
    g_os_lock.unlock();
  }
  return r;
}

}  // extern "C"

namespace strata::heap {

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

// Capacity limits count live bytes (usable size of every block on the tier):
// an allocation that would pass the limit fails here and spills in the caller.
namespace {
bool over_cap(const Heap& h, size_t need, size_t freed) {
  int64_t live = h.live.load(std::memory_order_relaxed);
  return live - static_cast<int64_t>(freed) + static_cast<int64_t>(need) >
         static_cast<int64_t>(h.cap);
}
}  // namespace

// Allocations served per tier >= 1, counted by strata: jemalloc credits the
// requests of an explicit tcache to the thread's own arena, not the tier's.
// Sharded by thread so that threads placing on one tier do not share a line.
struct alignas(64) CountShard {
  std::atomic<uint64_t> n[kMaxTiers];
};
constinit CountShard g_nalloc[16];

CountShard& count_shard() {
  auto a = reinterpret_cast<uintptr_t>(&t_state);
  return g_nalloc[(a * 0x9e3779b97f4a7c15ULL) >> 60];
}

constexpr unsigned kSideArenas = 8;
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

namespace {
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
}  // namespace

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
  Heap& t0 = g_heaps[0];
  if (t0.cap != 0)
    t0.live.fetch_sub(static_cast<int64_t>(strata_je_malloc_usable_size(p)),
                      std::memory_order_relaxed);
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
  if (tier == 0 && is_side(p)) return dalloc_side(p);
  Heap& h = g_heaps[tier];
  // Slot 0's blocks of a capped tier 0 were never counted, and the fast path
  // frees them without a look either.
  if (h.cap != 0 && !(tier == 0 && t0_on_side()))
    h.live.fetch_sub(static_cast<int64_t>(strata_je_malloc_usable_size(p)),
                     std::memory_order_relaxed);
  if (tier == 0) {
    strata_je_free(p);
    return;
  }
  strata_je_dallocx(p, tcache_flags(tier));
}

void* ralloc(void* p, int tier, size_t size) {
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
    h.live.fetch_add(
        static_cast<int64_t>(strata_je_malloc_usable_size(q)) - static_cast<int64_t>(old),
        std::memory_order_relaxed);
  return q;
}

size_t usable_size(const void* p) {
  return strata_je_malloc_usable_size(const_cast<void*>(p));
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

bool bind_range(int tier, void* addr, size_t len) {
  if (!tier_enabled(tier)) return false;
  Heap& h = g_heaps[tier];
  if (h.file) return false;
  apply_binding(&h, reinterpret_cast<uintptr_t>(addr), len, 0);
  return h.bind;
}

bool set_chunk_vmas(bool no_thp, std::string* why) {
  if (g_plain) {
    *why = "no tier ranges reserved (plain mode)";
    return false;
  }
  // Each odd chunk can add two VMAs; leave the program most of vm.max_map_count.
  char buf[32] = {};
  long n = sys::read_file("/proc/sys/vm/max_map_count", buf, sizeof buf);
  long max_maps = n > 0 ? std::strtol(buf, nullptr, 10) : 65530;
  int64_t budget = (max_maps - 16384) / 4;
  if (budget < 1024) {
    *why = "vm.max_map_count (" + std::to_string(max_maps) + ") leaves no room for chunk VMAs";
    return false;
  }
  // The odd chunks of unbound heaps copy the task's policy (numactl may have set one).
  int mode = 0;
  unsigned long mask[kMaxNodes / 64 + 1] = {};
  if (syscall(SYS_get_mempolicy, &mode, mask, static_cast<unsigned long>(kMaxNodes), nullptr, 0) ==
          0 &&
      mode != 0 && mode != kMpolLocal) {
    std::memcpy(g_alt_mask, mask, sizeof mask);
    g_alt_maxnode = kMaxNodes + 1;
    g_alt_mode = (mode & 0xff) | static_cast<int>(kMpolFStaticNodes);
  }
  g_vma_budget.store(budget, std::memory_order_relaxed);
  g_no_thp = no_thp;
  g_chunk_vmas.store(true, std::memory_order_release);
  // What the heaps carved so far.
  for (int i = 0; i < kSlots; ++i) {
    if (i >= ntiers() && i != kSideSlot) continue;
    Heap& h = g_heaps[i];
    if (!h.enabled || h.file) continue;
    uintptr_t used = h.bump.load(std::memory_order_relaxed) - h.lo;
    if (used != 0) apply_binding(&h, h.lo, used, 0);
  }
  *why = "2 MiB chunk VMAs, up to " + std::to_string(budget * 2 * 2) + " MiB of heap" +
         (no_thp ? ", without transparent huge pages" : ", transparent huge pages kept");
  return true;
}

void side_range(uintptr_t* lo, uintptr_t* hi) {
  const Heap& h = g_heaps[kSideSlot];
  *lo = h.lo;
  *hi = h.enabled ? h.bump.load(std::memory_order_relaxed) : h.lo;
}

int64_t chunk_vma_budget() {
  return g_vma_budget.load(std::memory_order_relaxed);
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
  if (g_boot.load(std::memory_order_acquire) == 2) g_fast = allowed ? (g_fast_prof ? 2 : 1) : 0;
}

void set_fast_path_profiling(bool on) {
  g_fast_prof = on;
  set_fast_path_allowed(g_fast_allowed);
}

// Nothing to take yet: the runtime takes its locks (the region map's) before
// calling here, and jemalloc takes its own in its fork handlers.
void prefork() {}
void postfork_parent() {}
namespace {

// A file heap is a shared mapping: after fork, parent and child would write
// the same bytes while each runs its own allocator over them. So the child
// gets its own copy, taken in the parent while jemalloc holds all its locks
// (these handlers are registered before jemalloc's, so this prepare handler
// runs after jemalloc's and the child/parent handlers before jemalloc's): a
// new file in the same directory holding the carved part of the heap, which
// the child maps over the same addresses, so every pointer stays valid.
// Only system calls: this runs around a possibly multi-threaded fork.
void snapshot_prepare() {
  const int n = g_ntiers.load(std::memory_order_relaxed);
  for (int t = 1; t < n; ++t) {
    Heap& h = g_heaps[t];
    h.snap_fd = -1;
    uintptr_t bump = h.bump.load(std::memory_order_relaxed);
    if (!h.enabled || !h.file || h.fd < 0 || bump <= h.lo) continue;
    const uintptr_t len = h.end - h.lo;
    const uintptr_t used = (bump - h.lo + kPage - 1) & ~(kPage - 1);
    // Blocks are reserved for the carved part plus 16 MiB of room to grow; the
    // child's heap may not carve past that (no SIGBUS on a full file system).
    const uintptr_t reserve = used + (16ULL << 20) < len ? used + (16ULL << 20) : len;
    int nfd = ::open(h.dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (nfd < 0) continue;
    if (::ftruncate(nfd, static_cast<off_t>(len)) != 0 ||
        syscall(SYS_fallocate, nfd, 0, 0L, static_cast<long>(reserve)) != 0) {
      ::close(nfd);
      continue;
    }
    h.snap_len = reserve;
    uintptr_t done = 0;
    loff_t in = 0;
    loff_t out = 0;
    while (done < used) {
      ssize_t k = syscall(SYS_copy_file_range, h.fd, &in, nfd, &out, used - done, 0U);
      if (k <= 0) break;
      done += static_cast<uintptr_t>(k);
    }
    while (done < used) {  // no copy_file_range: write from the mapping
      ssize_t k = ::pwrite(nfd, reinterpret_cast<char*>(h.lo) + done, used - done,
                           static_cast<off_t>(done));
      if (k <= 0) break;
      done += static_cast<uintptr_t>(k);
    }
    if (done < used) {
      ::close(nfd);
      continue;
    }
    h.snap_fd = nfd;
  }
}

void snapshot_parent() {
  const int n = g_ntiers.load(std::memory_order_relaxed);
  for (int t = 1; t < n; ++t) {
    Heap& h = g_heaps[t];
    if (h.snap_fd >= 0) ::close(h.snap_fd);
    h.snap_fd = -1;
  }
}

void snapshot_child() {
  const int n = g_ntiers.load(std::memory_order_relaxed);
  for (int t = 1; t < n; ++t) {
    Heap& h = g_heaps[t];
    if (!h.enabled || !h.file || h.fd < 0 || h.bump.load(std::memory_order_relaxed) <= h.lo)
      continue;
    if (h.snap_fd >= 0 &&
        strata_sys_mmap(reinterpret_cast<void*>(h.lo), h.end - h.lo, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED, h.snap_fd, 0) != MAP_FAILED) {
      ::close(h.fd);
      h.fd = h.snap_fd;
      h.snap_fd = -1;
      if (h.hi > h.lo + h.snap_len) h.hi = h.lo + h.snap_len;
      continue;
    }
    static const char kMsg[] =
        "strata: fork: could not copy the PMEM file heap for the child (file system full?); "
        "parent and child share it\n";
    sys::write_all(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  }
}

}  // namespace

void postfork_child() {}

}  // namespace strata::heap
