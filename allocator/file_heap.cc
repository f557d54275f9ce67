// The PMEM file heap (through libpmem2, loaded only when needed) and its
// copy for a forked child.
#include <fcntl.h>
#include <libpmem2.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "allocator/heap.h"
#include "allocator/heap_internal.h"
#include "allocator/jemalloc_api.h"
#include "allocator/pmem2.h"
#include "base/log.h"
#include "base/sys.h"

namespace strata::heap {

void snapshot_prepare();

void snapshot_parent();

void snapshot_child();

// ---- PMEM file heap through libpmem2 (allocator/pmem2.h: loaded only when needed) ----
bool map_pmem_file(const TierDef& def, Heap* h, std::string* err) {
  int fd = ::open(def.path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    char name[300];
    std::snprintf(name, sizeof name, "%s/strata-heap-%d-XXXXXX", def.path,
                  static_cast<int>(getpid()));
    fd = mkostemp(name, O_CLOEXEC);
    if (fd >= 0) ::unlink(name);
  }
  if (fd < 0) {
    *err = std::string("cannot create a heap file in ") + def.path + ": " + std::strerror(errno);
    return false;
  }
  // Reserve every block now: a sparse file could fault with SIGBUS when the
  // file system fills up, which would kill the program.
  int fr = posix_fallocate(fd, 0, static_cast<off_t>(def.size));
  if (fr != 0) {
    *err = std::string("cannot reserve ") + std::to_string(def.size >> 20) + " MiB in " + def.path +
           ": " + std::strerror(fr);
    ::close(fd);
    return false;
  }
  const char* missing = nullptr;
  const pmem2::Api* p = pmem2::load(&missing);
  std::string why = p != nullptr ? "" : missing;
  void* addr = nullptr;
  size_t len = 0;
  if (p != nullptr) {
    pmem2_config* cfg = nullptr;
    pmem2_source* src = nullptr;
    pmem2_map* map = nullptr;
    if (p->config_new(&cfg) == 0 && p->set_granularity(cfg, PMEM2_GRANULARITY_PAGE) == 0 &&
        p->source_from_fd(&src, fd) == 0 && p->map_new(&map, cfg, src) == 0) {
      addr = p->map_address(map);
      len = p->map_size(map);
      bool byte = p->map_granularity(map) != PMEM2_GRANULARITY_PAGE;
      why = byte ? "libpmem2 mapping, byte-addressable persistent memory (fs-dax)"
                 : "libpmem2 mapping, page cache (not DAX)";
      // The map handle is kept for the life of the process.
    } else {
      why = std::string("libpmem2: ") + p->errormsg() + "; plain shared mapping";
    }
    if (src != nullptr) p->source_delete(&src);
    if (cfg != nullptr) p->config_delete(&cfg);
  }
  if (addr == nullptr) {
    void* r = strata_sys_mmap(nullptr, def.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (r == MAP_FAILED) {
      *err = std::string("cannot map the heap file in ") + def.path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    addr = r;
    len = def.size;
  }
  h->fd = fd;  // kept: a fork child copies the heap out of it
  std::snprintf(h->dir, sizeof h->dir, "%s", def.path);
  h->file = true;
  h->lo = reinterpret_cast<uintptr_t>(addr);
  h->end = h->lo + len;
  h->hi = h->end;  // a capacity below the file size is enforced on live bytes
  h->bump.store(h->lo, std::memory_order_relaxed);
  *err = why;  // informational on success
  return true;
}

// A file heap is a shared mapping: after fork, parent and child would write
// the same bytes while each runs its own allocator over them. So the child
// gets its own copy, taken in the parent while jemalloc holds all its locks
// (these handlers are registered before jemalloc's, so this prepare handler
// runs after jemalloc's and the child/parent handlers before jemalloc's): a
// new file in the same directory holding the carved part of the heap, which
// the child maps over the same addresses, so every pointer stays valid.
// Only system calls: this runs around a possibly multi-threaded fork.
void snapshot_prepare() {
  const int n = g_ntiers.load(std::memory_order_relaxed);
  for (int t = 1; t < n; ++t) {
    Heap& h = g_heaps[t];
    h.snap_fd = -1;
    uintptr_t bump = h.bump.load(std::memory_order_relaxed);
    if (!h.enabled || !h.file || h.fd < 0 || bump <= h.lo) continue;
    const uintptr_t len = h.end - h.lo;
    const uintptr_t used = (bump - h.lo + kPage - 1) & ~(kPage - 1);
    // Blocks are reserved for the carved part plus 16 MiB of room to grow; the
    // child's heap may not carve past that (no SIGBUS on a full file system).
    const uintptr_t reserve = used + (16ULL << 20) < len ? used + (16ULL << 20) : len;
    int nfd = ::open(h.dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (nfd < 0) continue;
    if (::ftruncate(nfd, static_cast<off_t>(len)) != 0 ||
        syscall(SYS_fallocate, nfd, 0, 0L, static_cast<long>(reserve)) != 0) {
      ::close(nfd);
      continue;
    }
    h.snap_len = reserve;
    uintptr_t done = 0;
    loff_t in = 0;
    loff_t out = 0;
    while (done < used) {
      ssize_t k = syscall(SYS_copy_file_range, h.fd, &in, nfd, &out, used - done, 0U);
      if (k <= 0) break;
      done += static_cast<uintptr_t>(k);
    }
    while (done < used) {  // no copy_file_range: write from the mapping
      ssize_t k = ::pwrite(nfd, reinterpret_cast<char*>(h.lo) + done, used - done,
                           static_cast<off_t>(done));
      if (k <= 0) break;
      done += static_cast<uintptr_t>(k);
    }
    if (done < used) {
      ::close(nfd);
      continue;
    }
    h.snap_fd = nfd;
  }
}

void snapshot_parent() {
  const int n = g_ntiers.load(std::memory_order_relaxed);
  for (int t = 1; t < n; ++t) {
    Heap& h = g_heaps[t];
    if (h.snap_fd >= 0) ::close(h.snap_fd);
    h.snap_fd = -1;
  }
}

void snapshot_child() {
  const int n = g_ntiers.load(std::memory_order_relaxed);
  for (int t = 1; t < n; ++t) {
    Heap& h = g_heaps[t];
    if (!h.enabled || !h.file || h.fd < 0 || h.bump.load(std::memory_order_relaxed) <= h.lo)
      continue;
    if (h.snap_fd >= 0 &&
        strata_sys_mmap(reinterpret_cast<void*>(h.lo), h.end - h.lo, PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_FIXED, h.snap_fd, 0) != MAP_FAILED) {
      ::close(h.fd);
      h.fd = h.snap_fd;
      h.snap_fd = -1;
      if (h.hi > h.lo + h.snap_len) h.hi = h.lo + h.snap_len;
      continue;
    }
    static const char kMsg[] =
        "strata: fork: could not copy the PMEM file heap for the child (file system full?); "
        "parent and child share it\n";
    sys::write_all(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  }
}

}  // namespace strata::heap
