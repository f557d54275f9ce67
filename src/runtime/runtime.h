// The runtime behind the interposed entry points: init from the environment,
// the slow paths (policy placement, spill, foreign pointers), mmap tracking,
// statistics. The interpose/ shims hold only the fast paths.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/config.h"
#include "src/prof/profile.h"

namespace strata::rt {

// True once the policy has a rule that can match a heap allocation.
extern bool g_heap_rules __attribute__((visibility("hidden")));

// The profiler's check on the fast paths of interpose/: true (and counted)
// when this allocation is not sampled.
inline bool not_sampled(size_t size) {
  return prof::countdown(size);
}

// `ra` is the caller's return address (the call site), for site= rules.
void* malloc_slow(size_t size, size_t align, bool zero, const void* ra = nullptr) noexcept;
void free_slow(void* p) noexcept;
void* realloc_impl(void* p, size_t size, const void* ra = nullptr) noexcept;
size_t usable_size(void* p) noexcept;

void* mmap_impl(void* addr, size_t len, int prot, int flags, int fd, long off,
                const void* ra = nullptr);
int munmap_impl(void* addr, size_t len);
void* mremap_impl(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr);

// Runs the configuration step if it has not run yet (constructor, or first
// use from strata.h). Idempotent.
void init();
const CompiledPolicy* policy();  // null before init
// Tier of any address strata manages (heap pointer or tracked mmap), -1 if none.
int tier_of_address(const void* p);

// _exit/_Exit: the profile is written (destructors do not run there).
void before_quick_exit() noexcept;

// Writes the per-tier statistics table to fd.
void write_stats(int fd);

// The program's tracked anonymous mmaps per tier: bytes and count.
struct MmapSums {
  uint64_t bytes[kMaxTiers];
  uint64_t count[kMaxTiers];
};
MmapSums mmap_sums();

// ---- strata.h support ----
// Allocates on `tier` (spilling unless nospill); errno ENOMEM on failure.
void* alloc_on_tier(int tier, size_t size, bool zero, bool nospill) noexcept;
// Thread hints: a stack per thread, at most kMaxHintDepth deep.
inline constexpr int kMaxHintDepth = 16;
int hint_push(const char* name);  // new depth, or -errno
int hint_pop();                   // new depth, or -errno
// Range hints (STRATA_HINT_*): moves the pages now where the hint says and
// records the hint for the migration engine. 0 or -errno.
int hint_range(void* addr, size_t len, int hint, int tier);
// Recorded hint flags (kRegion*) of the range holding addr, 0 if none.
uint16_t hint_flags(const void* addr, int* tier);
// Named persistent regions go to this directory ("" = none configured).
const char* pmem_dir();

}  // namespace strata::rt
