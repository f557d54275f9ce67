// jemalloc's non-standard API (mallocx, rallocx, xallocx, sallocx, dallocx,
// sdallocx, nallocx), for programs built against jemalloc: they mix these
// with malloc/free on the same blocks, so both sides must be strata's.
// Arena and tcache flags name the program's own jemalloc arenas and are
// ignored; alignment and zeroing are honoured. mallctl stays the program's.
#include <cstring>

#include "interpose/export.h"

namespace {

constexpr int kLgAlignMask = 0x3f;
constexpr int kZeroFlag = 0x40;

size_t align_of(int flags) {
  int lg = flags & kLgAlignMask;
  return lg != 0 ? size_t{1} << lg : 0;
}

void* alloc_flags(size_t size, int flags, const void* ra) {
  size_t align = align_of(flags);
  bool zero = (flags & kZeroFlag) != 0;
  if (align == 0 && !zero) return strata::interpose::alloc(size, ra);
  return strata::rt::malloc_slow(size, align, zero, ra);
}

}  // namespace

STRATA_EXPORT void* mallocx(size_t size, int flags) noexcept {
  return alloc_flags(size == 0 ? 1 : size, flags, STRATA_RA);
}

STRATA_EXPORT void* rallocx(void* p, size_t size, int flags) noexcept {
  if (size == 0) size = 1;
  size_t align = align_of(flags);
  if (align == 0 && (flags & kZeroFlag) == 0) return strata::rt::realloc_impl(p, size, STRATA_RA);
  // Aligned or zeroing resize: allocate, copy, free.
  size_t old = strata::rt::usable_size(p);
  void* q = strata::rt::malloc_slow(size, align, (flags & kZeroFlag) != 0, STRATA_RA);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, old < size ? old : size);
  strata::interpose::dealloc(p);
  return q;
}

STRATA_EXPORT size_t xallocx(void* p, size_t size, size_t extra, int flags) noexcept {
  // In-place resize only; alignment cannot change in place.
  const int tier = strata::heap::tier_of(p);
  if (tier >= 0 && align_of(flags) == 0) return strata::heap::xalloc(p, tier, size, extra);
  return strata::rt::usable_size(p);
}

STRATA_EXPORT size_t sallocx(const void* p, int /*flags*/) noexcept {
  return strata::rt::usable_size(const_cast<void*>(p));
}

STRATA_EXPORT void dallocx(void* p, int /*flags*/) noexcept {
  strata::interpose::dealloc(p);
}

STRATA_EXPORT void sdallocx(void* p, size_t /*size*/, int /*flags*/) noexcept {
  strata::interpose::dealloc(p);
}

STRATA_EXPORT size_t nallocx(size_t size, int flags) noexcept {
  return strata_je_nallocx(size == 0 ? 1 : size, flags & (kLgAlignMask | kZeroFlag));
}
