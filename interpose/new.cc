// Every replaceable operator new/delete (C++17: sized, aligned, nothrow).
#include <cstddef>
#include <new>

#include "interpose/export.h"

using strata::interpose::alloc;
using strata::interpose::alloc_aligned;
using strata::interpose::dealloc;

#define STRATA_NEW_EXPORT __attribute__((visibility("default")))

namespace {

// Standard semantics: call the new-handler until it succeeds or gives up.
void* new_impl(size_t size, size_t align, const void* ra) {
  for (;;) {
    void* p = align != 0 ? alloc_aligned(align, size, ra) : alloc(size, ra);
    if (STRATA_LIKELY(p != nullptr)) return p;
    std::new_handler h = std::get_new_handler();
    if (h == nullptr) throw std::bad_alloc();
    h();
  }
}

void* new_nothrow(size_t size, size_t align, const void* ra) noexcept {
  try {
    return new_impl(size, align, ra);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

STRATA_NEW_EXPORT void* operator new(size_t n) {
  if (STRATA_LIKELY(strata::heap::g_fast == 1)) {
    void* p = strata_je_malloc(n);
    if (STRATA_LIKELY(p != nullptr)) return p;
  }
  return new_impl(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new[](size_t n) {
  if (STRATA_LIKELY(strata::heap::g_fast == 1)) {
    void* p = strata_je_malloc(n);
    if (STRATA_LIKELY(p != nullptr)) return p;
  }
  return new_impl(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept {
  void* p = alloc(n, STRATA_RA);
  return STRATA_LIKELY(p != nullptr) ? p : new_nothrow(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  void* p = alloc(n, STRATA_RA);
  return STRATA_LIKELY(p != nullptr) ? p : new_nothrow(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new(size_t n, std::align_val_t a) {
  return new_impl(n, static_cast<size_t>(a), STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new[](size_t n, std::align_val_t a) {
  return new_impl(n, static_cast<size_t>(a), STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_nothrow(n, static_cast<size_t>(a), STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new[](size_t n, std::align_val_t a,
                                       const std::nothrow_t&) noexcept {
  return new_nothrow(n, static_cast<size_t>(a), STRATA_RA);
}

#ifndef STRATA_ASM_FASTPATH
// Sizes passed to sized delete are ignored (as glibc does): a program that
// passes a wrong size must not corrupt the heap.
STRATA_NEW_EXPORT void operator delete(void* p) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete[](void* p) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete(void* p, size_t) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete[](void* p, size_t) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete(void* p, std::align_val_t) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  dealloc(p);
}
STRATA_NEW_EXPORT void operator delete[](void* p, std::align_val_t,
                                         const std::nothrow_t&) noexcept {
  dealloc(p);
}
#endif  // STRATA_ASM_FASTPATH: x86-64 defines them in interpose/fastpath_x86_64.S
