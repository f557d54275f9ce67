// Shared by the interpose/ shims: the export macro and the fast-path checks.
// Shims contain only the fast path; everything else is in src/runtime.
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocator/heap.h"
#include "allocator/jemalloc_api.h"
#include "src/runtime/runtime.h"

#define STRATA_EXPORT extern "C" __attribute__((visibility("default")))
#define STRATA_LIKELY(x) __builtin_expect(!!(x), 1)
// The caller's address: the call site site= rules and the profiler see.
// Taken in each exported function (inline helpers would see their own).
#define STRATA_RA __builtin_return_address(0)

// Not malloc's fast path (interpose/malloc.cc): the profiler's countdown or
// the slow path. Out of line, so that each fast path stays one compare.
extern "C" __attribute__((visibility("hidden"))) void* strata_malloc_not_fast(
    size_t size, const void* ra) noexcept;

namespace strata::interpose {

// Heaps ready, no placement rule, tier 0 uncapped, no profiler.
inline bool fast_path_ok() {
  return STRATA_LIKELY(heap::g_fast == heap::kFastOn);
}

// Slot 0 at its fixed address (allocator/layout.h): jemalloc's automatic
// arenas, freed and resized without any accounting.
inline bool is_tier0(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) >> heap::kT0Shift) == heap::kT0Key;
}

// The fast path for calls other than malloc: no placement decision to make,
// and, with the profiler on, this allocation does not end the thread's
// countdown (counted here; the one that ends it is sampled on the slow path).
inline bool fast_or_counted(size_t size) {
  const uint8_t f = heap::g_fast;
  return STRATA_LIKELY(f == heap::kFastOn) || (f == heap::kFastProfiled && rt::not_sampled(size));
}

inline void* alloc(size_t size, const void* ra) noexcept {
  if (STRATA_LIKELY(heap::g_fast == heap::kFastOn)) return strata_je_malloc(size);
  return strata_malloc_not_fast(size, ra);
}

inline void* alloc_aligned(size_t align, size_t size, const void* ra) noexcept {
  if (fast_or_counted(size)) {
    void* p = heap::alloc(0, size, align, false);
    if (STRATA_LIKELY(p != nullptr)) return p;
  }
  return rt::malloc_slow(size, align, false, ra);
}

inline void dealloc(void* p) noexcept {
  if (STRATA_LIKELY(is_tier0(p))) return strata_je_free(p);
  if (p != nullptr) rt::free_slow(p);
}

}  // namespace strata::interpose
