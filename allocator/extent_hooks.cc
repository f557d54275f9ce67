// Where the heaps' memory comes from: jemalloc's extent hooks carving each
// tier's slot (or file), NUMA binding with mbind, per-chunk VMAs for the
// abit sampler, and jemalloc's own mmap calls (strata_je_os_mmap) served
// from slot 0.
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
#include "allocator/vma_regions.h"
#include "base/log.h"
#include "base/sys.h"

namespace strata::heap {

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

constinit std::atomic<bool> g_chunk_vmas{false};

constinit std::atomic<int64_t> g_vma_budget{0};  // odd regions we may still split off

constinit std::atomic<int64_t> g_vma_budget_initial{0};

constinit int g_alt_mode = kMpolLocal;  // unbound heaps: the odd chunks' policy

constinit unsigned long g_alt_mask[kMaxNodes / 64 + 1] = {};

constinit unsigned long g_alt_maxnode = 0;

constinit bool g_no_thp = false;  // MADV_NOHUGEPAGE on chunked ranges

constinit bool g_huge = false;  // MADV_HUGEPAGE on chunked ranges (thp=huge)

void apply_binding(Heap* h, uintptr_t start, size_t size, unsigned flags) {
  if (h->file) return;
  int r = 0;
  if (!g_chunk_vmas.load(std::memory_order_relaxed)) {
    if (!h->bind) return;
    r = bind_once(h, start, size, 0, flags);
  } else {
    if (g_huge)
      sys::madvise(reinterpret_cast<void*>(start), size, MADV_HUGEPAGE);
    else if (g_no_thp)
      sys::madvise(reinterpret_cast<void*>(start), size, MADV_NOHUGEPAGE);
    for (uintptr_t s = start, end = start + size; s < end && r == 0;) {
      // Regions double as the share of vm.max_map_count drains (vma_regions.h).
      const int64_t initial = g_vma_budget_initial.load(std::memory_order_relaxed);
      const uintptr_t shift =
          region_shift(region_level(initial, g_vma_budget.load(std::memory_order_relaxed)));
      uintptr_t e = ((s >> shift) + 1) << shift;
      if (e > end) e = end;
      bool odd = ((s >> shift) & 1) != 0;
      // A region carved in several extents is paid for once, at its head.
      const bool head = (s & ((uintptr_t{1} << shift) - 1)) == 0;
      if (odd && head && g_vma_budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
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

// A refused MAP_FIXED mapping may leave a hole in the reservation (the kernel
// unmaps the old range before its overcommit check): reserve it again, so
// that no other mapping lands in a tier slot.
void rereserve(uintptr_t start, size_t len) {
  strata_sys_mmap(reinterpret_cast<void*>(start), len, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

namespace {

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
    // Accounted like any private mapping: the kernel's overcommit policy and
    // RLIMIT_DATA decide whether memory of this size can be had.
    void* r = strata_sys_mmap(reinterpret_cast<void*>(start), size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (r == MAP_FAILED) {
      // The kernel may have unmapped the reservation there before refusing.
      rereserve(start, size);
      // Give the range back if nothing was carved after it (else it stays unused).
      uintptr_t mine = end;
      h->bump.compare_exchange_strong(mine, cur, std::memory_order_relaxed);
      return nullptr;
    }
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

}  // namespace

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

}  // namespace strata::heap

extern "C" {

void* strata_je_os_mmap(void* addr, size_t len, int prot, int flags, int fd, long off) {
  using namespace strata::heap;
  Heap& h0 = g_heaps[0];
  // jemalloc asks for MAP_NORESERVE when the kernel overcommits (modes 0 and
  // 1), which skips the kernel's check of the request: then malloc(100 GiB)
  // "succeeds" where glibc's malloc fails. Without it, a writable mapping is
  // accounted, and refused exactly when glibc's own mmap would be.
  if ((prot & PROT_WRITE) != 0) flags &= ~MAP_NORESERVE;
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
      // Refused (overcommit, RLIMIT_DATA): give the range back if it is still the last.
      rereserve(start, len);
      uintptr_t mine = start + len;
      h0.bump.compare_exchange_strong(mine, cur, std::memory_order_relaxed);
      return MAP_FAILED;
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
  g_vma_budget_initial.store(budget, std::memory_order_relaxed);
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
  *why = "region VMAs: 2 MiB for the first " + std::to_string(budget * 2) +
         " MiB of heap, doubling as vm.max_map_count's share drains (up to " +
         std::to_string(region_coverage(budget) >> 30) + " GiB)" +
         (g_huge   ? ", transparent huge pages asked for"
          : no_thp ? ", without transparent huge pages"
                   : ", transparent huge pages kept");
  return true;
}

void set_huge_pages(bool on) {
  g_huge = on;
}

int64_t chunk_vma_budget() {
  return g_vma_budget.load(std::memory_order_relaxed);
}

}  // namespace strata::heap
