// The tier heaps' shared state: the Heap of each slot, the reservation, the
// OS ranges jemalloc mapped itself, the chunk-VMA settings, and the helpers
// heap.cc, heap_alloc.cc, extent_hooks.cc and file_heap.cc call in each other.
// Internal to allocator/.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "allocator/heap.h"
#include "allocator/jemalloc_api.h"
#include "base/sys.h"

namespace strata::heap {

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

// Chunk VMAs (set_chunk_vmas): the abit sampler sees one VMA per 2 MiB chunk.
// Chunks of odd index get a policy that differs from their neighbours' only
// in form (MPOL_F_STATIC_NODES on a bound heap; on an unbound one, an explicit
// copy of the task's policy, MPOL_LOCAL for the default), so the kernel never
// merges them with the even chunks next to them, and placement is unchanged.
constexpr unsigned kMpolFStaticNodes = 1U << 15;

constexpr int kMpolLocal = 4;

// Allocations served per tier >= 1, counted by strata: jemalloc credits the
// requests of an explicit tcache to the thread's own arena, not the tier's.
// Sharded by thread so that threads placing on one tier do not share a line.
struct alignas(64) CountShard {
  std::atomic<uint64_t> n[kMaxTiers];
};

constexpr unsigned kSideArenas = 8;

extern Heap g_heaps[kSlots];

extern std::atomic<int> g_ntiers;

extern uintptr_t g_base;

extern uintptr_t g_total;

extern unsigned g_shift;

extern bool g_plain;

extern bool g_fixed;  // the reservation is at kT0Key << 40: free()'s fast path works

extern std::atomic<int> g_boot;

extern __thread bool t_booting __attribute__((tls_model("initial-exec")));

extern int g_nt0;  // tier-0 arenas: jemalloc's automatic ones 0..n-1 and its huge arena n

extern pthread_key_t g_key;

extern bool g_key_ok;

extern std::atomic<uint64_t> g_foreign_frees;

extern bool g_stats;

extern bool g_fast_allowed;

extern bool g_fast_prof;

extern OsRange g_os[kMaxOsRanges];

extern int g_nos;

extern sys::SpinLock g_os_lock;

// Lock-free: entries are appended (count published last) and removed by
// emptying them (end = start); the table is never compacted.
bool os_owns(uintptr_t u);

Heap* heap_of(extent_hooks_t* h);

// Binds [start, start+size) with the heap's policy; `extra` adds mode flags.
int bind_once(Heap* h, uintptr_t start, size_t size, unsigned extra, unsigned flags);

extern std::atomic<bool> g_chunk_vmas;

extern std::atomic<int64_t> g_vma_budget;  // odd regions we may still split off
extern std::atomic<int64_t> g_vma_budget_initial;

extern int g_alt_mode;  // unbound heaps: the odd chunks' policy

extern unsigned long g_alt_mask[kMaxNodes / 64 + 1];

extern unsigned long g_alt_maxnode;

extern bool g_no_thp;  // MADV_NOHUGEPAGE on chunked ranges
extern bool g_huge;    // MADV_HUGEPAGE on chunked ranges (thp=huge)

void apply_binding(Heap* h, uintptr_t start, size_t size, unsigned flags);

// A refused MAP_FIXED mapping may leave a hole in the reservation (the kernel
// unmaps the old range before its overcommit check): reserve it again, so
// that no other mapping lands in a tier slot.
void rereserve(uintptr_t start, size_t len);

void init_hooks(Heap* h, int tier);

unsigned create_arena(Heap* h);

// Runs at thread exit: destroys the thread's explicit tcaches of tiers >= 1
// (jemalloc keeps explicit tcaches until told). Allocations after this, from
// later TSD destructors, go uncached.
void thread_exit(void*);

void snapshot_prepare();

void snapshot_parent();

void snapshot_child();

void do_bootstrap();

void bootstrap();

int tcache_flags(int tier);

// ---- PMEM file heap through libpmem2 (allocator/pmem2.h: loaded only when needed) ----
bool map_pmem_file(const TierDef& def, Heap* h, std::string* err);

void read_arena_stats(unsigned arena, TierStats* s);

bool over_cap(const Heap& h, size_t need, size_t freed);

// Adds delta to a capped tier's live bytes, which never go below zero: a block
// is freed from the tier whose heap allocated (and counted) it.
void add_live(Heap& h, int64_t delta);

extern CountShard g_nalloc[16];

CountShard& count_shard();

extern unsigned g_side_arenas[kSideArenas];

extern std::atomic<unsigned> g_side_next;

// The calling thread's side arena and thread cache (an explicit one, never
// the automatic cache: a block cached there would come back from a plain
// tier-0 malloc and leave the side slot's accounting).
int side_flags();

// A capped tier 0 (not in plain mode) takes its blocks from the side slot;
// its slot-0 blocks (from before the limit was read) stay uncounted.
bool t0_on_side();

// Whether jemalloc's own record of p's arena agrees with the tier it is freed
// or resized on (STRATA_DEBUG checks only): tier 0's automatic or side
// arenas, or the tier's one arena.
[[maybe_unused]] bool arena_matches(const void* p, int tier);

void* alloc_side(size_t size, int flags);

}  // namespace strata::heap
