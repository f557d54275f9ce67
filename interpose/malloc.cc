// The malloc family and glibc's __libc_* aliases.
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/sys.h"
#include "interpose/export.h"

using strata::interpose::alloc;
using strata::interpose::alloc_aligned;
using strata::interpose::dealloc;

namespace {
bool is_pow2(size_t a) {
  return a != 0 && (a & (a - 1)) == 0;
}
size_t round_pow2(size_t a) {
  if (a <= 1) return 1;
  return size_t{1} << (64 - __builtin_clzl(a - 1));
}
size_t page_size() {
  return strata::sys::kPageSize;
}

// glibc's memalign accepts any alignment, rounding it up to a power of two.
void* memalign_impl(size_t align, size_t size, const void* ra) {
  if (align > (size_t{1} << 40)) {
    errno = EINVAL;
    return nullptr;
  }
  return alloc_aligned(round_pow2(align), size, ra);
}

void* realloc_ra(void* p, size_t size, const void* ra) {
  // glibc semantics (realloc(p, 0) frees) are the runtime's; the fast path
  // only resizes tier-0 blocks.
  if (strata::interpose::is_tier0(p) && size != 0 && strata::interpose::fast_or_counted(size)) {
    void* q = strata_je_realloc(p, size);
    if (STRATA_LIKELY(q != nullptr)) return q;
    // Failed: p is untouched; the runtime spills or sets errno.
  }
  return strata::rt::realloc_impl(p, size, ra);
}

}  // namespace

// Only the allocation that ends the profiler's countdown is sampled.
extern "C" void* strata_malloc_not_fast(size_t size, const void* ra) noexcept {
  if (strata::heap::g_fast == strata::heap::kFastProfiled && strata::rt::not_sampled(size))
    return strata_je_malloc(size);
  return strata::rt::malloc_slow(size, 0, false, ra);
}

// Not free's fast path: other tiers, the side slot, NULL, foreign pointers.
extern "C" __attribute__((visibility("hidden"))) void strata_free_not_fast(void* p) noexcept {
  if (p != nullptr) strata::rt::free_slow(p);
}

#ifndef STRATA_ASM_FASTPATH
// The portable fast paths; x86-64 has them in interpose/fastpath_x86_64.S.
STRATA_EXPORT void* malloc(size_t size) noexcept {
  return alloc(size, STRATA_RA);
}

STRATA_EXPORT void free(void* p) noexcept {
  dealloc(p);
}
#endif

STRATA_EXPORT void* calloc(size_t n, size_t size) noexcept {
  // jemalloc's calloc checks n * size for overflow itself.
  if (strata::interpose::fast_path_ok()) return strata_je_calloc(n, size);
  size_t total = 0;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (strata::interpose::fast_or_counted(total)) return strata_je_calloc(n, size);
  return strata::rt::malloc_slow(total, 0, true, STRATA_RA);
}

STRATA_EXPORT void* realloc(void* p, size_t size) noexcept {
  return realloc_ra(p, size, STRATA_RA);
}

STRATA_EXPORT void* reallocarray(void* p, size_t n, size_t size) noexcept {
  size_t total = 0;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc_ra(p, total, STRATA_RA);
}

STRATA_EXPORT int posix_memalign(void** out, size_t align, size_t size) noexcept {
  if (!is_pow2(align) || align % sizeof(void*) != 0) return EINVAL;
  void* p = alloc_aligned(align, size, STRATA_RA);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

STRATA_EXPORT void* aligned_alloc(size_t align, size_t size) noexcept {
  return memalign_impl(align, size, STRATA_RA);
}

STRATA_EXPORT void* memalign(size_t align, size_t size) noexcept {
  return memalign_impl(align, size, STRATA_RA);
}

STRATA_EXPORT void* valloc(size_t size) noexcept {
  return alloc_aligned(page_size(), size, STRATA_RA);
}

STRATA_EXPORT void* pvalloc(size_t size) noexcept {
  size_t ps = page_size();
  size_t rounded = 0;
  if (__builtin_add_overflow(size, ps - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded &= ~(ps - 1);
  return alloc_aligned(ps, rounded == 0 ? ps : rounded, STRATA_RA);
}

STRATA_EXPORT size_t malloc_usable_size(void* p) noexcept {
  if (STRATA_LIKELY(strata::interpose::is_tier0(p))) return strata_je_malloc_usable_size(p);
  return strata::rt::usable_size(p);
}

// glibc's internal names, used by some programs and libraries directly:
// aliases of the public functions (copy() takes over their declared
// attributes), so each sees its own caller's return address.
#define STRATA_ALIAS(target) __attribute__((alias(#target), copy(target)))
#ifndef STRATA_ASM_FASTPATH
STRATA_EXPORT void* __libc_malloc(size_t) noexcept STRATA_ALIAS(malloc);
STRATA_EXPORT void __libc_free(void*) noexcept STRATA_ALIAS(free);
#endif
STRATA_EXPORT void* __libc_calloc(size_t, size_t) noexcept STRATA_ALIAS(calloc);
STRATA_EXPORT void* __libc_realloc(void*, size_t) noexcept STRATA_ALIAS(realloc);
STRATA_EXPORT void* __libc_memalign(size_t, size_t) noexcept STRATA_ALIAS(memalign);
STRATA_EXPORT void* __libc_valloc(size_t) noexcept STRATA_ALIAS(valloc);
STRATA_EXPORT void* __libc_pvalloc(size_t) noexcept STRATA_ALIAS(pvalloc);
STRATA_EXPORT int __posix_memalign(void**, size_t, size_t) noexcept STRATA_ALIAS(posix_memalign);
