// Tier heaps: one private-jemalloc heap per tier, each backed by its own
// address range (a 1 TiB slot of one aligned reservation for node-backed tiers,
// the file mapping for a PMEM file heap), so the tier of a pointer is a shift
// and a compare. Tier 0 is jemalloc's automatic arenas with jemalloc's default
// extent hooks, whose mappings strata_je_os_mmap carves from slot 0; the other
// tiers are manual arenas whose extent hooks carve from their range, bind the
// memory to the tier's nodes and count it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "allocator/layout.h"
#include "policy/tiers.h"

namespace strata::heap {

struct ThreadState {
  uint8_t bound;              // this thread uses a tier-0 arena (set before its first allocation)
  uint8_t depth;              // > 0 while strata itself runs on this thread (reentrancy guard)
  uint8_t dead;               // past the thread-exit destructor: no explicit tcaches
  int tcache[kMaxTiers + 1];  // explicit tcache + 1 per slot (0 = none yet, -1 = use none)
};
extern __thread ThreadState t_state __attribute__((tls_model("initial-exec")));

// Marks the calling thread as inside strata for a scope: its allocations go
// straight to the tier-0 heap (no policy, no site lookup).
struct ReentrancyGuard {
  ReentrancyGuard() { ++t_state.depth; }
  ~ReentrancyGuard() { --t_state.depth; }
  ReentrancyGuard(const ReentrancyGuard&) = delete;
  ReentrancyGuard& operator=(const ReentrancyGuard&) = delete;
};

// free()'s fast path: p is a tier-0 heap pointer if (p >> kT0Shift) == kT0Key,
// a constant (allocator/layout.h). True only when the reservation got its
// fixed address; otherwise nothing strata allocates has that key and every
// free takes the slow path. Blocks there are freed without any accounting:
// a capped tier 0 takes its blocks from the side slot instead.
inline constexpr unsigned kT0Shift = STRATA_T0_SHIFT;
inline constexpr uintptr_t kT0Key = STRATA_T0_KEY;
// For the slow path (tier_of): the key of slot 0 wherever it is, or
// UINTPTR_MAX when slots are smaller than 1 TiB or nothing is reserved.
extern uintptr_t g_t0_key __attribute__((visibility("hidden")));
// Heaps bootstrapped, no heap placement rule, tier 0 uncapped: malloc goes
// straight to jemalloc (whose automatic arenas are tier 0). g_fast holds a
// FastMode; the assembly fast path compares it with STRATA_FAST_ON.
enum FastMode : uint8_t {
  kFastOff = STRATA_FAST_OFF,            // slow path
  kFastOn = STRATA_FAST_ON,              // jemalloc directly
  kFastProfiled = STRATA_FAST_PROFILED,  // jemalloc behind the profiler's countdown
};
extern uint8_t g_fast asm("strata_g_fast") __attribute__((visibility("hidden")));

// Called on a thread's first allocation: bootstraps the heaps if needed and
// binds the thread to a tier-0 arena. Allocates nothing through malloc.
void bind_thread();
inline void ensure_thread() {
  if (__builtin_expect(!t_state.bound, 0)) bind_thread();
}

// Whether threads may take the malloc fast path (no heap placement rule, no
// capacity limit on tier 0). Applies to threads bound from now on and to the
// calling thread.
void set_fast_path_allowed(bool allowed);
// With the profiler on, the fast path counts bytes down to the next sample.
void set_fast_path_profiling(bool on);

// Tier of a heap pointer, or -1 when strata did not allocate it.
int tier_of(const void* p);

// Allocate on one tier only (no spill). align 0 = natural.
void* alloc(int tier, size_t size, size_t align, bool zero);
void dalloc(void* p, int tier);
// Resize in place or move within the same tier.
void* ralloc(void* p, int tier, size_t size);
// jemalloc's xallocx on a block of this tier (resize in place only), with the
// tier's capacity accounting: returns the new usable size.
size_t xalloc(void* p, int tier, size_t size, size_t extra);
size_t usable_size(const void* p);

// ---- configuration (runtime init, single-threaded in practice) ----
// Number of tiers in use; tier 0 always exists.
int ntiers();
// Sets up tier i from its definition; on failure the tier is disabled, *err says why.
bool configure_tier(int i, const TierDef& def, bool multi_node, std::string* err);
void set_ntiers(int n);
bool tier_enabled(int i);
// Applies tier i's NUMA binding to [addr, addr+len) (the program's own mmaps),
// and the chunk VMA split when that is on. False when the tier has no binding
// to apply (file heap, single node, disabled).
bool bind_range(int tier, void* addr, size_t len);
// Splits the heaps (from now on, and what they carved so far) and the ranges
// given to bind_range into one VMA per 2 MiB chunk, so the abit sampler's
// per-VMA counts are per chunk. Bounded by vm.max_map_count; false with a
// reason when it cannot be done. Placement is unchanged. With no_thp they
// are also madvise(MADV_NOHUGEPAGE)d: a huge page has one accessed bit, so
// memory touched now and then would read as hot as the hot set.
bool set_chunk_vmas(bool no_thp, std::string* why);
// Asks for transparent huge pages (MADV_HUGEPAGE) on the split ranges from
// then on (call before set_chunk_vmas to cover what was carved): with huge
// pages the abit sampler's cost is per region instead of per resident page
// (STRATA_SAMPLER thp=huge; docs/benchmarks.md, "Cost at scale").
void set_huge_pages(bool on);
// Odd chunks that may still be split off (0: larger heaps are sampled coarser).
int64_t chunk_vma_budget();
// The side slot (one past the tiers' slots), with tier 0's binding: it serves
// the profiler's sampled tier-0 blocks, so free() tells them apart by address
// while every other tier-0 free keeps its fast path, and all tier-0 blocks
// when tier 0 has a capacity limit, so that their frees are counted.
// tier_of() says 0 for it.
inline constexpr int kSideSlot = kMaxTiers;
inline constexpr int kSlots = kMaxTiers + 1;
bool enable_side_heap(std::string* why);  // false with a reason (plain mode)
void* alloc_sample(size_t size, size_t align, bool zero);
bool is_side(const void* p);
void dalloc_side(void* p);
void side_range(uintptr_t* lo, uintptr_t* hi);
// Address range of tier i's heap (for stats and tests).
void tier_range(int i, uintptr_t* lo, uintptr_t* hi);

struct TierStats {
  uint64_t allocated;      // live bytes (jemalloc stats)
  uint64_t nmalloc;        // allocations served
  uint64_t ndalloc;        // deallocations
  uint64_t mapped;         // bytes of address space carved for the heap
  uint64_t cap;            // capacity limit (0 = none)
  uint64_t spill_out;      // allocations that wanted this tier and went elsewhere
  uint64_t spill_in;       // allocations placed here because a faster choice was full
  uint64_t bind_errors;    // mbind failures
  uint64_t foreign_frees;  // pointers strata did not allocate, handed back to libc (tier 0 only)
};
void tier_stats(int tier, TierStats* out);
void count_spill(int from, int to);
void count_foreign_free();

// pthread_atfork hooks for strata's own locks.
void prefork();
void postfork_parent();
void postfork_child();

// True when no tier address ranges could be reserved (one heap, no tiers).
bool plain_mode();

// Flushes the calling thread's caches (automatic and per-tier explicit) so
// that the arena statistics count its allocations.
void flush_thread_caches();

// jemalloc reports whether it was built with statistics.
bool stats_available();

}  // namespace strata::heap
