#include "src/runtime/pmem_region.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "allocator/heap.h"
#include "allocator/pmem2.h"
#include "base/log.h"
#include "base/sys.h"

namespace strata::pmem_region {

namespace {

constexpr size_t kPage = sys::kPageSize;
constexpr size_t kNameMax = 255;
constexpr size_t kMaxSize = PTRDIFF_MAX & ~(kPage - 1);  // off_t must hold it

struct Region {
  uintptr_t lo;  // 0: free slot
  uintptr_t hi;
  pmem2_map* map;          // null: plain shared mapping (page cache, or no libpmem2)
  pmem2_persist_fn flush;  // null: msync (page cache, or fs-dax without libpmem2)
};

// Fixed table, so that no path allocates under g_lock; the lock is held only
// while the table is read or updated, never across a system or library call.
constinit sys::SpinLock g_lock;
constinit Region g_regions[kMaxRegions] = {};
constinit pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;
constinit bool g_fallback_logged = false;

// A fork child gets the table in a consistent state with the lock free.
void prefork() {
  g_lock.lock();
}
void postfork() {
  g_lock.unlock();
}
void register_atfork() {
  pthread_atfork(prefork, postfork, postfork);
}

size_t round_up(size_t n) {
  return (n + kPage - 1) & ~(kPage - 1);
}

bool valid_name(const char* name) {
  if (name == nullptr) return false;
  size_t n = strnlen(name, kNameMax + 1);
  if (n == 0 || n > kNameMax || std::memchr(name, '/', n) != nullptr) return false;
  return std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0;
}

// Reserves len bytes in fd and makes the size durable. Returns 0 or an errno.
int allocate(int fd, size_t len) {
  // Every block now: a sparse file could fault with SIGBUS when the file
  // system fills up, which would kill the program.
  int r = posix_fallocate(fd, 0, static_cast<off_t>(len));
  if (r == 0 && fdatasync(fd) != 0) r = errno;
  return r;
}

// Links the unnamed file fd (O_TMPFILE) as name; 0 or an errno.
int link_tmpfile(int fd, int dirfd, const char* name) {
  char proc[48];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
}

// Creates name with len bytes reserved and returns its fd, or -1 with errno
// (EEXIST when it exists). The file is set up under a temporary identity and
// then linked to name, so a concurrent opener never sees it empty or short.
int create_file(int dirfd, const char* name, size_t len) {
  int fd = ::openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) {
    int r = allocate(fd, len);
    if (r == 0) r = link_tmpfile(fd, dirfd, name);
    if (r == 0) {
      fsync(dirfd);  // best effort: the name survives a crash (not every fs syncs directories)
      return fd;
    }
    ::close(fd);
    if (r != ENOENT && r != EOPNOTSUPP) {  // ENOENT: no /proc; else a real failure
      errno = r;
      return -1;
    }
  }
  // No O_TMPFILE here (or no /proc): a unique hidden name, linked then removed.
  static unsigned counter;
  char tmp[64];
  for (int i = 0; i < 64; ++i) {
    std::snprintf(tmp, sizeof tmp, ".strata-new-%d-%u", static_cast<int>(getpid()),
                  __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    fd = ::openat(dirfd, tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != EEXIST) break;
  }
  if (fd < 0) return -1;
  int r = allocate(fd, len);
  if (r == 0 && linkat(dirfd, tmp, dirfd, name, 0) != 0) r = errno;
  unlinkat(dirfd, tmp, 0);
  if (r != 0) {
    ::close(fd);
    errno = r;
    return -1;
  }
  fsync(dirfd);
  return fd;
}

// Opens (or creates) name per flags; want is the rounded requested size.
int open_file(int dirfd, const char* name, size_t want, int flags) {
  // Retried while another process creates or removes the name under us.
  for (int attempt = 0; attempt < 8; ++attempt) {
    if ((flags & kExcl) == 0) {
      int fd = ::openat(dirfd, name, O_RDWR | O_CLOEXEC);
      if (fd >= 0 || errno != ENOENT || (flags & kCreate) == 0) return fd;
    }
    if (want == 0) {
      errno = EINVAL;  // nothing to create
      return -1;
    }
    int fd = create_file(dirfd, name, want);
    if (fd >= 0 || errno != EEXIST || (flags & kExcl) != 0) return fd;
  }
  return -1;
}

// Whether the kernel accepts MAP_SYNC for fd, i.e. stores reach persistent
// memory directly (fs-dax). Only then is fd mapped through libpmem2: its
// pmem2_map_new tries MAP_SYNC with MAP_FIXED over its own placeholder, and a
// file system that refuses MAP_SYNC only after dropping the old mapping (ext4
// or xfs without DAX) leaves a hole in which another thread's mmap can land,
// which libpmem2's retry with MAP_FIXED then replaces (seen: other threads'
// regions overwritten and unmapped). A page-cache file gets nothing from
// libpmem2 beyond msync. The probe maps without MAP_FIXED: a refusal disturbs
// nothing.
bool accepts_map_sync(int fd) {
  void* a = strata_sys_mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC,
                            fd, 0);
  if (a == MAP_FAILED) return false;
  strata_sys_munmap(a, kPage);
  return true;
}

// Maps fd (grown to want when asked). Fills r; false with errno on failure.
bool map_file(int fd, const char* name, size_t want, int flags, Region* r) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return false;
  }
  size_t fsize = static_cast<size_t>(st.st_size);
  size_t len = want != 0 ? want : round_up(fsize);
  if (len == 0 || len > kMaxSize) {
    errno = EINVAL;
    return false;
  }
  if (len > fsize) {
    if ((flags & kCreate) == 0) {
      errno = EINVAL;  // growing needs the caller's consent
      return false;
    }
    int e = allocate(fd, len);
    if (e != 0) {
      errno = e;
      return false;
    }
  }
  const char* why = nullptr;
  const pmem2::Api* p = nullptr;
  if (accepts_map_sync(fd)) {
    p = pmem2::load(&why);
    if (p == nullptr && !__atomic_exchange_n(&g_fallback_logged, true, __ATOMIC_RELAXED))
      STRATA_LOG(LogLevel::kInfo, "named PMEM regions: %s; using mmap and msync instead", why);
  }
  if (p == nullptr) {
    void* a = strata_sys_mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (a == MAP_FAILED) return false;
    *r = Region{reinterpret_cast<uintptr_t>(a), reinterpret_cast<uintptr_t>(a) + len, nullptr,
                nullptr};
    return true;
  }
  pmem2_config* cfg = nullptr;
  pmem2_source* src = nullptr;
  pmem2_map* map = nullptr;
  int ret = p->config_new(&cfg);
  if (ret == 0) ret = p->set_granularity(cfg, PMEM2_GRANULARITY_PAGE);
  if (ret == 0) ret = p->set_length(cfg, len);
  if (ret == 0) ret = p->source_from_fd(&src, fd);
  if (ret == 0) ret = p->map_new(&map, cfg, src);
  if (ret != 0) STRATA_LOG(LogLevel::kDebug, "PMEM region '%s': libpmem2: %s", name, p->errormsg());
  if (src != nullptr) p->source_delete(&src);
  if (cfg != nullptr) p->config_delete(&cfg);
  if (ret != 0) {
    errno = pmem2::to_errno(ret);
    return false;
  }
  auto lo = reinterpret_cast<uintptr_t>(p->map_address(map));
  // Page granularity (not expected after the probe): msync ourselves, because
  // libpmem2's page persist aborts the process when msync fails.
  pmem2_persist_fn flush = nullptr;
  if (p->map_granularity(map) != PMEM2_GRANULARITY_PAGE) flush = p->persist_fn(map);
  *r = Region{lo, lo + p->map_size(map), map, flush};
  return true;
}

int unmap(Region* r) {
  if (r->map == nullptr) return strata_sys_munmap(reinterpret_cast<void*>(r->lo), r->hi - r->lo);
  heap::ReentrancyGuard guard;  // libpmem2 frees its map
  int ret = pmem2::load()->map_delete(&r->map);
  if (ret == 0) return 0;
  errno = pmem2::to_errno(ret);
  return -1;
}

}  // namespace

void* open(const char* dir, const char* name, size_t size, int flags) {
  if (dir == nullptr || dir[0] == '\0') {
    errno = ENODEV;
    return nullptr;
  }
  // kExcl needs kCreate and a size to create with.
  bool excl = (flags & kExcl) != 0;
  if (!valid_name(name) || (flags & ~(kCreate | kExcl)) != 0 ||
      (excl && ((flags & kCreate) == 0 || size == 0)) || size > kMaxSize) {
    errno = EINVAL;
    return nullptr;
  }
  heap::ReentrancyGuard guard;  // dlopen and libpmem2 allocate
  pthread_once(&g_atfork_once, register_atfork);
  int dirfd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) errno = ENODEV;
    return nullptr;
  }
  Region r{};
  int fd = open_file(dirfd, name, round_up(size), flags);
  bool ok = fd >= 0 && map_file(fd, name, round_up(size), flags, &r);
  int err = errno;
  if (fd >= 0) ::close(fd);  // the mapping keeps the file
  ::close(dirfd);
  if (!ok) {
    errno = err;
    return nullptr;
  }
  Region* slot = nullptr;
  g_lock.lock();
  for (Region& g : g_regions) {
    if (g.lo == 0) {
      slot = &g;
      *slot = r;
      break;
    }
  }
  g_lock.unlock();
  if (slot == nullptr) {
    unmap(&r);
    errno = EMFILE;
    return nullptr;
  }
  STRATA_LOG(LogLevel::kDebug, "PMEM region '%s': %zu bytes at %p, persisted by %s", name,
             static_cast<size_t>(r.hi - r.lo), reinterpret_cast<void*>(r.lo),
             r.flush != nullptr ? "libpmem2 (CPU cache flush)" : "msync");
  return reinterpret_cast<void*>(r.lo);
}

int persist(const void* addr, size_t len) {
  auto lo = reinterpret_cast<uintptr_t>(addr);
  uintptr_t hi = lo + len;
  Region r{};
  if (hi >= lo) {
    g_lock.lock();
    for (const Region& g : g_regions) {
      if (g.lo != 0 && lo >= g.lo && lo < g.hi && hi <= g.hi) {
        r = g;
        break;
      }
    }
    g_lock.unlock();
  }
  if (r.lo == 0) {
    errno = EINVAL;
    return -1;
  }
  if (len == 0) return 0;
  if (r.flush != nullptr) {
    r.flush(addr, len);  // CPU cache flush + fence: cannot fail
    return 0;
  }
  uintptr_t start = lo & ~(uintptr_t{kPage} - 1);
  return msync(reinterpret_cast<void*>(start), hi - start, MS_SYNC);
}

int close(void* addr) {
  auto a = reinterpret_cast<uintptr_t>(addr);
  Region r{};
  if (a != 0) {
    g_lock.lock();
    for (Region& g : g_regions) {
      if (g.lo == a) {
        r = g;
        g = Region{};
        break;
      }
    }
    g_lock.unlock();
  }
  if (r.lo == 0) {
    errno = EINVAL;
    return -1;
  }
  return unmap(&r);
}

}  // namespace strata::pmem_region
