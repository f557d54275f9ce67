// mmap family: anonymous private mappings are placed by policy and tracked;
// file and shared mappings pass straight through to the system call.
#include <sys/mman.h>

#include <cstdarg>

#include "interpose/export.h"

STRATA_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept {
  return strata::rt::mmap_impl(addr, len, prot, flags, fd, off, STRATA_RA);
}

STRATA_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) noexcept
    __attribute__((alias("mmap")));

STRATA_EXPORT int munmap(void* addr, size_t len) noexcept {
  return strata::rt::munmap_impl(addr, len);
}

STRATA_EXPORT void* mremap(void* old_addr, size_t old_len, size_t new_len, int flags,
                           ...) noexcept {
  void* new_addr = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return strata::rt::mremap_impl(old_addr, old_len, new_len, flags, new_addr);
}
