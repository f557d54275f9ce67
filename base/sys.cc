#include "base/sys.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

extern "C" {

void* strata_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, long off) {
  long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return reinterpret_cast<void*>(r);  // NOLINT(performance-no-int-to-ptr)
}

int strata_sys_munmap(void* addr, size_t len) {
  return static_cast<int>(syscall(SYS_munmap, addr, len));
}

}  // extern "C"

namespace strata::sys {

void* mremap(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr) {
  long r = syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr);
  return reinterpret_cast<void*>(r);  // NOLINT(performance-no-int-to-ptr)
}

int mprotect(void* addr, size_t len, int prot) {
  return static_cast<int>(syscall(SYS_mprotect, addr, len, prot));
}

int madvise(void* addr, size_t len, int advice) {
  return static_cast<int>(syscall(SYS_madvise, addr, len, advice));
}

int mbind(void* addr, size_t len, int mode, const unsigned long* nodemask, unsigned long maxnode,
          unsigned flags) {
  long r = syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
  return r == 0 ? 0 : -errno;
}

long move_pages(unsigned long count, void** pages, const int* nodes, int* status, int flags) {
  long r = syscall(SYS_move_pages, 0, count, pages, nodes, status, flags);
  return r < 0 ? -errno : r;
}

int node_of_address(void* addr) {
  int node = -1;
  constexpr int kMpolFNode = 1 << 0;
  constexpr int kMpolFAddr = 1 << 1;
  long r = syscall(SYS_get_mempolicy, &node, nullptr, 0, addr, kMpolFNode | kMpolFAddr);
  return r == 0 ? node : -errno;
}

void write_all(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    buf += n;
    len -= static_cast<size_t>(n);
  }
}

long read_file(const char* path, char* buf, size_t cap) {
  if (cap == 0) return -1;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got + 1 < cap) {
    ssize_t n = ::read(fd, buf + got, cap - 1 - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return -1;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  buf[got] = '\0';
  return static_cast<long>(got);
}

}  // namespace strata::sys
