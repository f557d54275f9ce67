// Every replaceable operator new/delete (C++17: sized, aligned, nothrow).
//
// libstrata links its own C++ runtime statically, hidden (so that loading it
// costs no libstdc++.so): out of memory is therefore handled with the
// program's C++ runtime, found with dlsym, never the private copy. The
// program's new-handler is the one it set with std::set_new_handler, its
// std::bad_alloc is thrown and unwound by its own unwinder, and the nothrow
// forms are the program's (which call the throwing ones and catch), so no
// exception ever crosses between the two runtimes. This file catches nothing.
#include <dlfcn.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

#include "interpose/export.h"

using strata::interpose::alloc;
using strata::interpose::alloc_aligned;
using strata::interpose::dealloc;

#define STRATA_NEW_EXPORT __attribute__((visibility("default")))

namespace {

using GetHandlerFn = std::new_handler (*)();
using ThrowFn = void (*)();
using NothrowFn = void* (*)(size_t, const std::nothrow_t&);
using NothrowAlignedFn = void* (*)(size_t, std::align_val_t, const std::nothrow_t&);

// A symbol of the program's C++ runtime (libstrata's own copy is hidden, so
// RTLD_DEFAULT and RTLD_NEXT never find it); nullptr when the program has none.
template <typename Fn>
Fn host_symbol(std::atomic<void*>* cache, void* handle, const char* name) {
  void* f = cache->load(std::memory_order_acquire);
  if (f == nullptr) {
    f = dlsym(handle, name);
    cache->store(f, std::memory_order_release);
  }
  return reinterpret_cast<Fn>(f);
}

constinit std::atomic<void*> g_get_handler{nullptr};
constinit std::atomic<void*> g_throw{nullptr};
constinit std::atomic<void*> g_nothrow{nullptr};
constinit std::atomic<void*> g_nothrow_aligned{nullptr};

[[noreturn]] void throw_bad_alloc() {
  if (auto t = host_symbol<ThrowFn>(&g_throw, RTLD_DEFAULT, "_ZSt17__throw_bad_allocv")) t();
  // No C++ runtime in the program (a C program calling operator new by its
  // mangled name): nothing could catch an exception.
  std::abort();
}

// Standard semantics: call the new-handler until it succeeds or gives up.
void* new_impl(size_t size, size_t align, const void* ra) {
  for (;;) {
    void* p = align != 0 ? alloc_aligned(align, size, ra) : alloc(size, ra);
    if (STRATA_LIKELY(p != nullptr)) return p;
    auto get = host_symbol<GetHandlerFn>(&g_get_handler, RTLD_DEFAULT, "_ZSt15get_new_handlerv");
    std::new_handler h = get != nullptr ? get() : nullptr;
    if (h == nullptr) throw_bad_alloc();
    h();
  }
}

// Out of memory: the program's nothrow operator new, which calls ours (the
// throwing one: new-handler, then bad_alloc) and catches in its own frame.
void* new_nothrow(size_t size, size_t align, const void* ra) noexcept {
  void* p = align != 0 ? alloc_aligned(align, size, ra) : alloc(size, ra);
  if (STRATA_LIKELY(p != nullptr)) return p;
  if (align == 0) {
    if (auto f = host_symbol<NothrowFn>(&g_nothrow, RTLD_NEXT, "_ZnwmRKSt9nothrow_t"))
      return f(size, std::nothrow);
  } else if (auto f = host_symbol<NothrowAlignedFn>(&g_nothrow_aligned, RTLD_NEXT,
                                                    "_ZnwmSt11align_val_tRKSt9nothrow_t")) {
    return f(size, static_cast<std::align_val_t>(align), std::nothrow);
  }
  // No C++ runtime in the program: one more attempt, no handler to call.
  return align != 0 ? alloc_aligned(align, size, ra) : alloc(size, ra);
}

}  // namespace

STRATA_NEW_EXPORT void* operator new(size_t n) {
  if (STRATA_LIKELY(strata::heap::g_fast == strata::heap::kFastOn)) {
    void* p = strata_je_malloc(n);
    if (STRATA_LIKELY(p != nullptr)) return p;
  }
  return new_impl(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new[](size_t n) {
  if (STRATA_LIKELY(strata::heap::g_fast == strata::heap::kFastOn)) {
    void* p = strata_je_malloc(n);
    if (STRATA_LIKELY(p != nullptr)) return p;
  }
  return new_impl(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return new_nothrow(n, 0, STRATA_RA);
}
STRATA_NEW_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return new_nothrow(n, 0, STRATA_RA);
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
