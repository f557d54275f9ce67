// The runtime behind the interposed entry points: init from the environment,
// the slow paths (policy placement, spill, foreign pointers), mmap tracking,
// statistics. The interpose/ shims hold only the fast paths.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/config.h"

namespace strata::rt {

// True once the policy has a rule that can match a heap allocation.
extern bool g_heap_rules __attribute__((visibility("hidden")));

void* malloc_slow(size_t size, size_t align, bool zero) noexcept;
void free_slow(void* p) noexcept;
void* realloc_impl(void* p, size_t size) noexcept;
size_t usable_size(void* p) noexcept;

void* mmap_impl(void* addr, size_t len, int prot, int flags, int fd, long off);
int munmap_impl(void* addr, size_t len);
void* mremap_impl(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr);

// Runs the configuration step if it has not run yet (constructor, or first
// use from strata.h). Idempotent.
void init();
const CompiledPolicy* policy();  // null before init
// Tier of any address strata manages (heap pointer or tracked mmap), -1 if none.
int tier_of_address(const void* p);

// Writes the per-tier statistics table to fd.
void write_stats(int fd);

}  // namespace strata::rt
