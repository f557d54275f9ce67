// The handler heap: serves the allocations of a signal handler that
// interrupted the allocator (allocator/sigsafe.h), without jemalloc and
// without a lock, so that the handler never waits for a lock its own thread
// holds nor touches a thread cache the interrupted code is updating.
//
// One address range reserved on first use (PROT_NONE, made readable and
// writable as it is carved), power-of-two blocks with a 16-byte header,
// lock-free free lists per size (tagged heads). Its blocks are recognised
// by address in O(1), so free/realloc/malloc_usable_size work on them from
// anywhere, inside a handler or not. A strata or libc block freed inside
// such a handler is deferred: pushed onto a lock-free list, freed by the
// next slow-path call outside any handler.
#pragma once

#include <cstddef>

namespace strata::sigheap {

void* alloc(size_t size, size_t align, bool zero);
bool owns(const void* p);
void free(void* p);
size_t usable(const void* p);
// realloc inside a handler: p may be any block (old_usable is its usable size).
void* realloc(void* p, size_t old_usable, size_t size);

// Deferred frees (any block but the handler heap's).
void defer_free(void* p);
bool has_deferred();
// Takes the whole list; each entry's first word links to the next.
void* take_deferred();

}  // namespace strata::sigheap
