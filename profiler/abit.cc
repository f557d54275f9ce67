#include "profiler/abit.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/lines.h"
#include "base/sys.h"

namespace strata::abit {
namespace {

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

// "Referenced:      1024 kB" -> bytes; false if the line is another field.
bool field_kb(const char* line, const char* end, const char* name, uint64_t* out) {
  size_t n = std::strlen(name);
  if (static_cast<size_t>(end - line) < n || std::memcmp(line, name, n) != 0) return false;
  const char* p = line + n;
  while (p < end && *p == ' ') ++p;
  uint64_t v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<uint64_t>(*p - '0');
  *out = v * 1024;
  return true;
}

// A smaps line's kind. Field lines start with a capital letter and only Rss:,
// Referenced:, AnonHugePages: and VmFlags: matter (about 4 of a record's 25).
enum class Line { kSkip, kHeader, kField, kLast };

// Classifies [p, nl); a header's range goes to *start and *end, a wanted
// field's value into *cur. kLast: VmFlags:, a record's last line.
Line smaps_line(const char* p, const char* nl, Vma* cur, uintptr_t* start, uintptr_t* end) {
  const char c = *p;
  if (c >= 'B' && c <= 'Z' && c != 'R' && c != 'V') return Line::kSkip;
  const char* q = p;
  if (hex(q, nl, start) && q < nl && *q == '-' && hex(++q, nl, end) && q < nl && *q == ' ')
    return Line::kHeader;
  uint64_t v = 0;
  if (field_kb(p, nl, "Rss:", &v)) {
    cur->rss_bytes = v;
  } else if (field_kb(p, nl, "Referenced:", &v)) {
    cur->referenced = v;
  } else if (field_kb(p, nl, "AnonHugePages:", &v)) {
    cur->anon_huge = v;
  } else if (nl - p >= 8 && std::memcmp(p, "VmFlags:", 8) == 0) {
    return Line::kLast;
  } else {
    return Line::kSkip;
  }
  return Line::kField;
}

}  // namespace

int clear() {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = ::write(fd, "1", 1);
  int err = n == 1 ? 0 : -errno;
  ::close(fd);
  return err;
}

int flush_tlb() {
  constexpr size_t kPages = 64;
  constexpr size_t kLen = kPages * 4096;
  static char* area = nullptr;  // kept for the life of the process
  char* a = __atomic_load_n(&area, __ATOMIC_ACQUIRE);
  if (a == nullptr) {
    void* m = ::mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -errno;
    a = static_cast<char*>(m);
    for (size_t i = 0; i < kPages; ++i) a[i * 4096] = 1;  // present PTEs to change
    char* expected = nullptr;
    if (!__atomic_compare_exchange_n(&area, &expected, a, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
      ::munmap(m, kLen);
      a = expected;
    }
  }
  if (::mprotect(a, kLen, PROT_READ) != 0) return -errno;
  if (::mprotect(a, kLen, PROT_READ | PROT_WRITE) != 0) return -errno;
  return 0;
}

int scan(uintptr_t lo, uintptr_t hi, void (*fn)(const Vma& v, void* ctx), void* ctx, char* buf,
         size_t cap) {
  if (cap < 4096) return -EINVAL;
  int fd = ::open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  Vma cur{};
  bool in_range = false;
  int err = sampling::for_each_line(fd, buf, cap, [&](const char* p, const char* nl) {
    uintptr_t a = 0;
    uintptr_t b = 0;
    Vma fields = cur;  // a line of a record outside [lo, hi) changes nothing
    if (smaps_line(p, nl, &fields, &a, &b) == Line::kHeader) {
      if (in_range) fn(cur, ctx);
      cur = Vma{a, b, 0, 0, 0};
      in_range = b > lo && (hi == 0 || a < hi);
    } else if (in_range) {
      cur = fields;
    }
    return 0;
  });
  if (in_range && err == 0) fn(cur, ctx);
  ::close(fd);
  return err;
}

bool paddr_kdamond_on(int* which) {
  constexpr const char* kAdmin = "/sys/kernel/mm/damon/admin/kdamonds";
  char path[160];
  char buf[64];
  for (int k = 0; k < 64; ++k) {
    std::snprintf(path, sizeof path, "%s/%d/state", kAdmin, k);
    long n = sys::read_file(path, buf, sizeof buf);
    if (n <= 0) break;  // no such kdamond: the list ends
    if (std::strncmp(buf, "on", 2) != 0) continue;
    for (int c = 0; c < 16; ++c) {
      std::snprintf(path, sizeof path, "%s/%d/contexts/%d/operations", kAdmin, k, c);
      n = sys::read_file(path, buf, sizeof buf);
      if (n <= 0) break;
      if (std::strncmp(buf, "paddr", 5) == 0) {
        if (which != nullptr) *which = k;
        return true;
      }
    }
  }
  return false;
}

bool available(char* why, size_t cap) {
  int e = clear();
  if (e != 0) {
    std::snprintf(why, cap, "/proc/self/clear_refs not writable: %s", std::strerror(-e));
    return false;
  }
  int fd = ::open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::snprintf(why, cap, "/proc/self/smaps not readable: %s", std::strerror(errno));
    return false;
  }
  ::close(fd);
  std::snprintf(why, cap, "clear_refs + smaps Referenced per VMA");
  return true;
}

bool AbitSampler::open(char* why, size_t cap) {
  char reason[160];
  if (!available(reason, sizeof reason)) {
    std::snprintf(why, cap, "abit: %s", reason);
    return false;
  }
  std::snprintf(why, cap, "abit: %s", reason);
  int k = -1;
  note_[0] = '\0';
  if (paddr_kdamond_on(&k))
    std::snprintf(note_, sizeof note_,
                  "a physical-address DAMON monitor runs (kdamond %d): it clears accessed bits "
                  "machine-wide, so abit reads fewer referenced pages than were used",
                  k);
  return true;  // available() cleared the bits: the first interval has begun
}

void AbitSampler::on_vma(const Vma& v, void* ctx) {
  auto* self = static_cast<AbitSampler*>(ctx);
  if (v.rss_bytes == 0) return;
  sampling::Obs o;
  o.start = v.start;
  o.end = v.end;
  o.rss = v.rss_bytes;
  o.anon_huge = v.anon_huge;
  o.fraction = static_cast<double>(v.referenced) / static_cast<double>(v.rss_bytes);
  if (o.fraction > 1) o.fraction = 1;
  self->sink_(o, self->ctx_);
}

void AbitSampler::close() {
  if (fd_ >= 0) ::close(fd_);  // in a child after fork(): the parent's smaps
  fd_ = -1;
  cursor_ = 0;
  coverage_ = sampling::Span{0, UINTPTR_MAX};
}

int AbitSampler::collect(sampling::Sink sink, void* ctx) {
  sink_ = sink;
  ctx_ = ctx;
  const int r = read_part();
  return r != 0 ? r : armed_;
}

int AbitSampler::read_part() {
  if (fd_ < 0) {
    fd_ = ::open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return -errno;
    cursor_ = 0;
  }
  const uint64_t c0 = sys::now_ns(CLOCK_THREAD_CPUTIME_ID);
  const uintptr_t lo = cursor_;
  Vma cur{};
  bool open_record = false;  // cur has a header and no VmFlags: line yet
  size_t have = 0;
  int reads = 0;
  auto fail = [&](int err) {
    ::close(fd_);
    fd_ = -1;
    cursor_ = 0;
    coverage_ = sampling::Span{0, UINTPTR_MAX};
    return err;
  };
  for (;;) {
    ssize_t n = ::read(fd_, buf_ + have, sizeof buf_ - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(-errno);
    }
    have += static_cast<size_t>(n);
    const char* p = buf_;
    const char* end = buf_ + have;
    for (;;) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) break;
      uintptr_t a = 0;
      uintptr_t b = 0;
      Vma fields = cur;
      const Line kind = smaps_line(p, nl, &fields, &a, &b);
      if (kind == Line::kHeader) {
        if (open_record) on_vma(cur, this);  // a kernel without VmFlags: lines
        cur = Vma{a, b, 0, 0, 0};
        open_record = true;
      } else if (open_record) {
        cur = fields;
        if (kind == Line::kLast) {
          on_vma(cur, this);
          cursor_ = cur.end;
          open_record = false;
        }
      }
      p = nl + 1;
    }
    const size_t rest = static_cast<size_t>(end - p);
    if (n == 0 || rest == sizeof buf_) {  // the end (or a line no buffer holds: start over)
      if (open_record) on_vma(cur, this);
      coverage_ = sampling::Span{lo, UINTPTR_MAX};
      cursor_ = 0;
      if (::lseek(fd_, 0, SEEK_SET) != 0) return fail(-errno);
      return n == 0 ? 0 : -EIO;
    }
    std::memmove(buf_, p, rest);
    have = rest;
    // Stop only between records, with nothing of the next one read: the
    // kernel then resumes at the VMA after cursor_.
    if (budget_ns_ != 0 && !open_record && have == 0 && (++reads & 3) == 0 &&
        sys::now_ns(CLOCK_THREAD_CPUTIME_ID) - c0 >= budget_ns_) {
      coverage_ = sampling::Span{lo, cursor_};
      return 0;
    }
  }
}

}  // namespace strata::abit
