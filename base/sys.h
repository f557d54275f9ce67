// Raw system calls used inside strata. None of them allocates, none goes through
// an interposed symbol: strata's own mmap interposer and the private jemalloc
// both call these.
#pragma once

#include <sched.h>
#include <time.h>

#include <cstddef>
#include <cstdint>

extern "C" {
// jemalloc's mmap/munmap references are renamed to these (see jemalloc.redefine).
void* strata_sys_mmap(void* addr, size_t len, int prot, int flags, int fd, long off);
int strata_sys_munmap(void* addr, size_t len);
}

namespace strata::sys {

// A clock's reading in nanoseconds (clock_gettime through the vDSO).
inline uint64_t now_ns(clockid_t clk) {
  timespec ts{};
  clock_gettime(clk, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Test-and-test-and-set lock that yields while waiting. Constant-initialised,
// allocation-free: usable before any constructor runs and inside the allocator.
class SpinLock {
 public:
  constexpr SpinLock() = default;
  void lock() {
    while (__atomic_exchange_n(&v_, 1, __ATOMIC_ACQUIRE) != 0) {
      while (__atomic_load_n(&v_, __ATOMIC_RELAXED) != 0) sched_yield();
    }
  }
  void unlock() { __atomic_store_n(&v_, 0, __ATOMIC_RELEASE); }

 private:
  int v_ = 0;
};

void* mremap(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr);
int mprotect(void* addr, size_t len, int prot);
int madvise(void* addr, size_t len, int advice);
// mbind(2); returns 0 or -errno.
int mbind(void* addr, size_t len, int mode, const unsigned long* nodemask, unsigned long maxnode,
          unsigned flags);
// move_pages(2) for the calling process; returns 0 or -errno.
long move_pages(unsigned long count, void** pages, const int* nodes, int* status, int flags);
// get_mempolicy(2) with MPOL_F_NODE|MPOL_F_ADDR: node of the page holding addr, or -errno.
int node_of_address(void* addr);

// Writes all of buf to fd, retrying on EINTR. Never allocates.
void write_all(int fd, const char* buf, size_t len);

// Reads a whole small file into buf (NUL-terminated). Returns bytes read or -1.
long read_file(const char* path, char* buf, size_t cap);

inline constexpr size_t kPageSize = 4096;

}  // namespace strata::sys
