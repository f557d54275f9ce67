#include "profiler/idle.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "base/lines.h"

namespace strata::sampling {
namespace {

// /proc/<pid>/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kExclusive = uint64_t{1} << 56;  // mapped exactly once
constexpr uint64_t kPfnMask = (uint64_t{1} << 55) - 1;

// One pagemap read covers this many chunks (64 MiB of address space): few
// system calls for large sparse VMAs, 128 KiB of buffer.
constexpr size_t kBatchChunks = 32;
// Bitmap words are read and written in windows of nearby frames. A window
// bridges gaps of up to kGapWords unused words: reading a word whose pages
// nobody marked idle is cheap for the kernel (no reverse-map walk), a system
// call is not. Zero bits written are no-ops, so other pages are untouched.
constexpr size_t kGapWords = 8;
constexpr size_t kWindowWords = 512;
constexpr size_t kMapsBuf = 64 * 1024;

ssize_t pread_full(int fd, void* buf, size_t count, off_t off) {
  size_t done = 0;
  while (done < count) {
    ssize_t n =
        ::pread(fd, static_cast<char*>(buf) + done, count - done, off + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) break;  // past the end: the caller zero-fills
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

int pwrite_full(int fd, const void* buf, size_t count, off_t off) {
  size_t done = 0;
  while (done < count) {
    ssize_t n = ::pwrite(fd, static_cast<const char*>(buf) + done, count - done,
                         off + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Reads count u64 words at word index `first`; words past the end read as 0.
int read_words(int fd, uint64_t* out, size_t count, uint64_t first) {
  ssize_t got = pread_full(fd, out, count * 8, static_cast<off_t>(first * 8));
  if (got < 0) return static_cast<int>(got);
  size_t whole = static_cast<size_t>(got) / 8;
  std::memset(out + whole, 0, (count - whole) * 8);
  return 0;
}

bool hex(const char*& p, const char* end, uintptr_t* out) {
  uintptr_t v = 0;
  const char* s = p;
  for (; p < end; ++p) {
    char c = *p;
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = (v << 4) | static_cast<uintptr_t>(d);
  }
  *out = v;
  return p > s;
}

// Next space-separated field of [p, end); empty at the end of the line.
void field(const char*& p, const char* end, const char** s, size_t* n) {
  while (p < end && *p == ' ') ++p;
  *s = p;
  while (p < end && *p != ' ') ++p;
  *n = static_cast<size_t>(p - *s);
}

bool starts(const char* s, size_t n, const char* prefix) {
  size_t k = std::strlen(prefix);
  return n >= k && std::memcmp(s, prefix, k) == 0;
}

// A /proc/<pid>/maps line: "start-end perms offset dev inode [path]". True for
// the VMAs strata's heaps live in: private, readable and writable, anonymous
// (no inode): unnamed, [heap], or named with PR_SET_VMA_ANON_NAME. The stack,
// file mappings (data segments included) and shared memory are left out.
bool covered(const char* p, const char* end, uintptr_t* start, uintptr_t* stop) {
  const char* q = p;
  if (!hex(q, end, start) || q >= end || *q != '-' || !hex(++q, end, stop) || *stop <= *start)
    return false;
  const char* s = nullptr;
  size_t n = 0;
  field(q, end, &s, &n);  // perms
  if (n != 4 || s[0] != 'r' || s[1] != 'w' || s[3] != 'p') return false;
  field(q, end, &s, &n);  // offset
  field(q, end, &s, &n);  // device
  field(q, end, &s, &n);  // inode
  if (n != 1 || s[0] != '0') return false;
  while (q < end && *q == ' ') ++q;
  n = static_cast<size_t>(end - q);  // the path, which may contain spaces
  return n == 0 || (n == 6 && std::memcmp(q, "[heap]", 6) == 0) || starts(q, n, "[anon:");
}

void reason(char* why, size_t cap, const char* path, int err, const char* hint) {
  std::snprintf(why, cap, "idle: %s: %s%s", path, std::strerror(err), hint);
}

}  // namespace

IdleSampler::IdleSampler(const char* bitmap_path, const char* pagemap_path, const char* maps_path)
    : bitmap_path_(bitmap_path), pagemap_path_(pagemap_path), maps_path_(maps_path) {}

IdleSampler::~IdleSampler() {
  close();
}

void IdleSampler::set_zero_pfns(uint64_t small, uint64_t huge_first) {
  zero_ = ZeroPfns{small, huge_first};
  zero_set_ = true;
}

IdleSampler::ZeroPfns IdleSampler::probe_zero_pfns(int pagemap_fd) {
  ZeroPfns z;
  long ps = sysconf(_SC_PAGESIZE);
  auto page = static_cast<uintptr_t>(ps > 0 ? ps : 4096);
  // Three chunks hold one aligned chunk for the huge zero page and, after it,
  // a page kept out of transparent huge pages for the small one.
  const size_t len = 3 * kChunkBytes;
  void* m = mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return z;
  auto base = reinterpret_cast<uintptr_t>(m);
  uintptr_t huge = (base + kChunkBytes - 1) & ~(kChunkBytes - 1);
  uintptr_t small = huge + kChunkBytes;
  madvise(reinterpret_cast<void*>(huge), kChunkBytes, MADV_HUGEPAGE);
  madvise(reinterpret_cast<void*>(small), kChunkBytes, MADV_NOHUGEPAGE);
  // Read faults on never-written anonymous memory map the zero pages.
  (void)*reinterpret_cast<volatile const char*>(huge);
  (void)*reinterpret_cast<volatile const char*>(small);
  auto frame = [&](uintptr_t addr) -> uint64_t {
    uint64_t e = 0;
    if (pread_full(pagemap_fd, &e, 8, static_cast<off_t>(addr / page * 8)) != 8) return 0;
    // A zero page is never counted as mapped; a page that was allocated
    // instead (zero pages disabled) is mapped exactly once: not a zero page.
    if ((e & kPresent) == 0 || (e & kExclusive) != 0) return 0;
    return e & kPfnMask;
  };
  z.small = frame(small);
  uint64_t h = frame(huge);
  if (h != z.small) z.huge_first = h;  // equal: no huge zero page here
  munmap(m, len);
  return z;
}

bool IdleSampler::open(char* why, size_t cap) {
  if (bitmap_fd_ >= 0) {
    std::snprintf(why, cap, "idle: already open");
    return true;
  }
  long ps = sysconf(_SC_PAGESIZE);
  page_ = ps > 0 ? static_cast<size_t>(ps) : 4096;
  pages_per_chunk_ = kChunkBytes / page_;
  pfns_hidden_ = false;

  bitmap_fd_ = ::open(bitmap_path_, O_RDWR | O_CLOEXEC);
  if (bitmap_fd_ < 0) {
    int e = errno;
    const char* hint = e == ENOENT ? " (kernel built without CONFIG_IDLE_PAGE_TRACKING)"
                       : (e == EACCES || e == EPERM) ? " (needs root)"
                                                     : "";
    reason(why, cap, bitmap_path_, e, hint);
    return false;
  }
  pagemap_fd_ = ::open(pagemap_path_, O_RDONLY | O_CLOEXEC);
  if (pagemap_fd_ < 0) {
    reason(why, cap, pagemap_path_, errno, "");
    close();
    return false;
  }
  entries_.reset(new (std::nothrow) uint64_t[kBatchChunks * pages_per_chunk_]);
  pfns_.reset(new (std::nothrow) uint64_t[pages_per_chunk_]);
  words_.reset(new (std::nothrow) uint64_t[kWindowWords]);
  maps_buf_.reset(new (std::nothrow) char[kMapsBuf]);
  if (!entries_ || !pfns_ || !words_ || !maps_buf_) {
    std::snprintf(why, cap, "idle: out of memory for buffers");
    close();
    return false;
  }
  if (!zero_set_) zero_ = probe_zero_pfns(pagemap_fd_);

  // The first interval starts now: mark everything idle.
  int err = walk(false, nullptr, nullptr);
  if (err != 0) {
    if (pfns_hidden_)
      std::snprintf(why, cap, "idle: %s: page frame numbers read as 0 (needs CAP_SYS_ADMIN)",
                    pagemap_path_);
    else
      reason(why, cap, err_path_, -err, "");
    close();
    return false;
  }
  std::snprintf(why, cap, "idle: %s + %s, %zu-byte pages", bitmap_path_, pagemap_path_, page_);
  return true;
}

void IdleSampler::close() {
  if (bitmap_fd_ >= 0) ::close(bitmap_fd_);
  if (pagemap_fd_ >= 0) ::close(pagemap_fd_);
  bitmap_fd_ = -1;
  pagemap_fd_ = -1;
  entries_.reset();
  pfns_.reset();
  words_.reset();
  maps_buf_.reset();
}

int IdleSampler::collect(Sink sink, void* ctx) {
  if (bitmap_fd_ < 0) return -EBADF;
  return walk(true, sink, ctx);
}

bool IdleSampler::zero_pfn(uint64_t pfn) const {
  if (zero_.small != 0 && pfn == zero_.small) return true;
  return zero_.huge_first != 0 && pfn - zero_.huge_first < pages_per_chunk_;
}

int IdleSampler::walk(bool report, Sink sink, void* ctx) {
  int fd = ::open(maps_path_, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err_path_ = maps_path_;
    return -errno;
  }
  int verr = 0;  // from vma(): it names its own file
  int err = for_each_line(fd, maps_buf_.get(), kMapsBuf, [&](const char* p, const char* nl) {
    uintptr_t a = 0;
    uintptr_t b = 0;
    if (covered(p, nl, &a, &b)) verr = vma(a, b, report, sink, ctx);
    return verr;
  });
  if (err != 0 && verr == 0) err_path_ = maps_path_;  // the maps read failed
  ::close(fd);
  return err;
}

int IdleSampler::vma(uintptr_t start, uintptr_t end, bool report, Sink sink, void* ctx) {
  uint64_t* entries = entries_.get();
  for (uintptr_t a = start; a < end;) {
    uintptr_t batch_end = std::min(end, (a & ~(kChunkBytes - 1)) + kBatchChunks * kChunkBytes);
    size_t pages = (batch_end - a) / page_;
    int err = read_words(pagemap_fd_, entries, pages, a / page_);
    if (err != 0) {
      err_path_ = pagemap_path_;
      return err;
    }
    for (uintptr_t c = a; c < batch_end;) {
      uintptr_t ce = std::min(batch_end, (c & ~(kChunkBytes - 1)) + kChunkBytes);
      err = chunk(c, ce, entries + (c - a) / page_, report, sink, ctx);
      if (err != 0) return err;
      c = ce;
    }
    a = batch_end;
  }
  return 0;
}

int IdleSampler::chunk(uintptr_t start, uintptr_t end, const uint64_t* entries, bool report,
                       Sink sink, void* ctx) {
  uint64_t* pfns = pfns_.get();
  uint64_t* words = words_.get();
  size_t pages = (end - start) / page_;
  size_t present = 0;
  for (size_t i = 0; i < pages; ++i) {
    uint64_t e = entries[i];
    if ((e & kPresent) == 0) continue;  // not resident (never touched, or swapped out)
    uint64_t pfn = e & kPfnMask;
    if (pfn == 0) {  // frame 0 is never user memory: the kernel hid the frames
      pfns_hidden_ = true;
      err_path_ = pagemap_path_;
      return -EPERM;
    }
    if (zero_pfn(pfn)) continue;
    pfns[present++] = pfn;
  }
  if (present == 0) return 0;
  // Sorted frames make nearby ones share bitmap words and windows.
  std::sort(pfns, pfns + present);
  size_t referenced = 0;
  for (size_t i = 0; i < present;) {
    uint64_t first = pfns[i] >> 6;
    uint64_t last = first;
    size_t j = i + 1;
    for (; j < present; ++j) {
      uint64_t w = pfns[j] >> 6;
      if (w - last > kGapWords || w - first >= kWindowWords) break;
      last = w;
    }
    size_t count = static_cast<size_t>(last - first + 1);
    if (report) {
      int err = read_words(bitmap_fd_, words, count, first);
      if (err != 0) {
        err_path_ = bitmap_path_;
        return err;
      }
      // Bit clear: the kernel saw an access since the page was marked idle.
      for (size_t k = i; k < j; ++k)
        if (((words[(pfns[k] >> 6) - first] >> (pfns[k] & 63)) & 1) == 0) ++referenced;
    }
    // Mark exactly this chunk's pages idle for the next interval.
    std::memset(words, 0, count * 8);
    for (size_t k = i; k < j; ++k) words[(pfns[k] >> 6) - first] |= uint64_t{1} << (pfns[k] & 63);
    int err = pwrite_full(bitmap_fd_, words, count * 8, static_cast<off_t>(first * 8));
    if (err != 0) {
      err_path_ = bitmap_path_;
      return err;
    }
    i = j;
  }
  if (report) {
    Obs o;
    o.start = start;
    o.end = end;
    o.fraction = static_cast<double>(referenced) / static_cast<double>(present);
    o.rss = static_cast<uint64_t>(present) * page_;
    sink(o, ctx);
  }
  return 0;
}

}  // namespace strata::sampling
