#include "profiler/damon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "profiler/abit.h"

namespace strata::sampling {
namespace {

// Paths below the admin directory. Only kdamond 0 is ever created: open()
// requires that no kdamond exists.
#define STRATA_KD "kdamonds/0/"
#define STRATA_CTX STRATA_KD "contexts/0/"
#define STRATA_SCHEME STRATA_CTX "schemes/0/"

constexpr const char* kNrKdamonds = "kdamonds/nr_kdamonds";
constexpr const char* kState = STRATA_KD "state";
constexpr const char* kRegions = STRATA_CTX "targets/0/regions/";
constexpr uintptr_t kPageMask = 4096 - 1;

// Decimal, surrounding white space allowed ("1000\n").
bool parse_u64(const char* s, uint64_t* out) {
  while (*s == ' ' || *s == '\t') ++s;
  uint64_t v = 0;
  const char* d = s;
  for (; *s >= '0' && *s <= '9'; ++s) {
    auto digit = static_cast<uint64_t>(*s - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    v = v * 10 + digit;
  }
  if (s == d) return false;
  while (*s == ' ' || *s == '\t' || *s == '\n') ++s;
  *out = v;
  return *s == '\0';
}

// Whether the newline- or space-separated list `list` contains `word`.
bool has_word(const char* list, const char* word) {
  size_t n = std::strlen(word);
  for (const char* p = list; *p != '\0';) {
    while (*p == ' ' || *p == '\n') ++p;
    const char* s = p;
    while (*p != '\0' && *p != ' ' && *p != '\n') ++p;
    if (static_cast<size_t>(p - s) == n && std::memcmp(s, word, n) == 0) return true;
  }
  return false;
}

// Whether every byte of `want` lies in `have` (both sorted, neither overlapping itself).
bool covered(const std::vector<Span>& want, const std::vector<Span>& have) {
  size_t j = 0;
  for (const Span& w : want) {
    for (uintptr_t a = w.start; a < w.end; a = have[j].end) {
      while (j < have.size() && have[j].end <= a) ++j;
      if (j == have.size() || have[j].start > a) return false;
    }
  }
  return true;
}

}  // namespace

DamonAttrs damon_attrs(uint32_t window_ms, uint32_t interval_ms) {
  DamonAttrs a;
  if (window_ms == 0) window_ms = kDamonAutoWindowMs;
  a.sample_us = std::min<uint32_t>(window_ms, 60000) * 1000;
  const uint64_t engine_us = uint64_t{std::min<uint32_t>(interval_ms, 3600000)} * 1000;
  a.aggr_us =
      static_cast<uint32_t>(std::max<uint64_t>({100000, 5 * uint64_t{a.sample_us}, engine_us}));
  return a;
}

DamonSampler::DamonSampler(const char* root, DamonAttrs attrs, int pid)
    : root_(root), attrs_(attrs), pid_(pid) {}

DamonSampler::~DamonSampler() {
  release();
}

const char* DamonSampler::at(const char* rel) {
  std::snprintf(path_, sizeof path_, "%s/%s", root_, rel);
  return path_;
}

int DamonSampler::write_rel(const char* rel, const char* value) {
  // A buffer of its own, not path_: prepare() writes from the engine's thread
  // while close() may run on another (exit).
  char p[PATH_MAX];
  std::snprintf(p, sizeof p, "%s/%s", root_, rel);
  if (hook_ != nullptr && !hook_(p, value, hook_ctx_)) return -EPERM;
  int fd = ::open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t n = std::strlen(value);
  ssize_t w = ::write(fd, value, n);
  int err = w == static_cast<ssize_t>(n) ? 0 : (w < 0 ? -errno : -EIO);
  ::close(fd);
  return err;
}

int DamonSampler::write_num(const char* rel, uint64_t value) {
  char num[24];
  std::snprintf(num, sizeof num, "%" PRIu64, value);
  return write_rel(rel, num);
}

int DamonSampler::read_rel(const char* rel, char* out, size_t cap) {
  out[0] = '\0';
  char p[PATH_MAX];
  std::snprintf(p, sizeof p, "%s/%s", root_, rel);
  int fd = ::open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = 0;
  do {
    n = ::read(fd, out, cap - 1);
  } while (n < 0 && errno == EINTR);
  int err = n < 0 ? -errno : 0;
  ::close(fd);
  if (err != 0) return err;
  auto len = static_cast<size_t>(n);
  while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' ')) --len;
  out[len] = '\0';
  return 0;
}

bool DamonSampler::fail(char* why, size_t cap, const char* rel, int err, const char* hint) {
  std::snprintf(why, cap, "damon: %s: %s%s", at(rel), std::strerror(err), hint);
  return false;
}

bool DamonSampler::probe(char* why, size_t cap) {
  struct stat st {};
  if (::stat(root_, &st) != 0) {
    int e = errno;
    std::snprintf(why, cap, "damon: %s: %s%s", root_, std::strerror(e),
                  e == ENOENT ? " (kernel built without CONFIG_DAMON_SYSFS)" : "");
    return false;
  }
  char buf[64];
  int err = read_rel(kNrKdamonds, buf, sizeof buf);
  if (err != 0) return fail(why, cap, kNrKdamonds, -err, err == -EACCES ? " (needs root)" : "");
  uint64_t nr = 0;
  if (!parse_u64(buf, &nr)) {
    std::snprintf(why, cap, "damon: %s: unexpected content \"%s\"", at(kNrKdamonds), buf);
    return false;
  }
  if (nr > 0) {
    // Someone else's kdamonds. A running one makes nr_kdamonds unwritable
    // (EBUSY); a stopped one would be destroyed by writing it. Either way
    // they are not ours to touch.
    for (uint64_t i = 0; i < nr && i < 64; ++i) {
      char rel[48];
      std::snprintf(rel, sizeof rel, "kdamonds/%" PRIu64 "/state", i);
      if (read_rel(rel, buf, sizeof buf) == 0 && std::strcmp(buf, "on") == 0) {
        std::snprintf(why, cap,
                      "damon: kdamond %" PRIu64
                      " is in use by another user (nr_kdamonds cannot change while it runs)",
                      i);
        return false;
      }
    }
    std::snprintf(why, cap,
                  "damon: %" PRIu64
                  " stopped kdamond(s) set up by another user (writing nr_kdamonds would "
                  "destroy them)",
                  nr);
    return false;
  }
  if (::access(at(kNrKdamonds), W_OK) != 0) {
    int e = errno;
    return fail(why, cap, kNrKdamonds, e, e == EACCES ? " (needs root)" : "");
  }
  std::snprintf(why, cap, "damon: %s: no kdamond yet, one can be created", root_);
  return true;
}

bool DamonSampler::open(char* why, size_t cap) {
  if (started_) {
    std::snprintf(why, cap, "damon: already open");
    return true;
  }
  if (attrs_.sample_us == 0 || attrs_.aggr_us < attrs_.sample_us || attrs_.min_regions < 3 ||
      attrs_.max_regions < attrs_.min_regions) {
    std::snprintf(why, cap,
                  "damon: invalid attributes (sample %" PRIu32 " us, aggr %" PRIu32
                  " us, regions %" PRIu32 "-%" PRIu32 ")",
                  attrs_.sample_us, attrs_.aggr_us, attrs_.min_regions, attrs_.max_regions);
    return false;
  }
  // Every refusal that depends on the system comes from probe(), which only
  // reads: nothing below runs unless no kdamond existed.
  if (!probe(why, cap)) return false;

  auto put = [&](const char* rel, uint64_t value, const char* hint) {
    int e = write_num(rel, value);
    if (e == 0) return true;
    fail(why, cap, rel, -e, hint);
    release();
    return false;
  };
  auto put_str = [&](const char* rel, const char* value, const char* hint) {
    int e = write_rel(rel, value);
    if (e == 0) return true;
    fail(why, cap, rel, -e, hint);
    release();
    return false;
  };

  if (!put(kNrKdamonds, 1, "")) return false;
  created_ = true;
  if (!put(STRATA_KD "contexts/nr_contexts", 1, "")) return false;
  // avail_operations lists what this kernel was built with (Linux 6.2+;
  // older kernels reject an unknown "operations" value instead).
  char ops[64];
  if (read_rel(STRATA_CTX "avail_operations", ops, sizeof ops) == 0 && !has_word(ops, "vaddr")) {
    for (char* p = ops; *p != '\0'; ++p)
      if (*p == '\n') *p = ' ';
    std::snprintf(why, cap, "damon: vaddr monitoring not built in (avail_operations: %s)", ops);
    release();
    return false;
  }
  constexpr uint64_t kAny = std::numeric_limits<uint32_t>::max();  // nr_accesses, age
  constexpr uint64_t kAnySize = std::numeric_limits<unsigned long>::max();
  int pid = pid_ != 0 ? pid_ : static_cast<int>(::getpid());
  if (!put_str(STRATA_CTX "operations", "vaddr", " (vaddr monitoring not built in)") ||
      !put(STRATA_CTX "monitoring_attrs/intervals/sample_us", attrs_.sample_us, "") ||
      !put(STRATA_CTX "monitoring_attrs/intervals/aggr_us", attrs_.aggr_us, "") ||
      !put(STRATA_CTX "monitoring_attrs/intervals/update_us", attrs_.update_us, "") ||
      !put(STRATA_CTX "monitoring_attrs/nr_regions/min", attrs_.min_regions, "") ||
      !put(STRATA_CTX "monitoring_attrs/nr_regions/max", attrs_.max_regions, "") ||
      !put(STRATA_CTX "targets/nr_targets", 1, "") ||
      !put(STRATA_CTX "targets/0/pid_target", static_cast<uint64_t>(pid), "") ||
      !put(STRATA_CTX "schemes/nr_schemes", 1, "") ||
      !put_str(STRATA_SCHEME "action", "stat", "") ||
      // Match every region: the tried regions are then the whole result.
      !put(STRATA_SCHEME "access_pattern/sz/min", 0, "") ||
      !put(STRATA_SCHEME "access_pattern/sz/max", kAnySize, "") ||
      !put(STRATA_SCHEME "access_pattern/nr_accesses/min", 0, "") ||
      !put(STRATA_SCHEME "access_pattern/nr_accesses/max", kAny, "") ||
      !put(STRATA_SCHEME "access_pattern/age/min", 0, "") ||
      !put(STRATA_SCHEME "access_pattern/age/max", kAny, ""))
    return false;
  struct stat st {};
  if (::stat(at(STRATA_SCHEME "tried_regions"), &st) != 0) {
    fail(why, cap, STRATA_SCHEME "tried_regions", errno,
         " (kernel without DAMOS tried regions, before Linux 6.2)");
    release();
    return false;
  }
  if (!put_str(kState, "on", "")) return false;
  started_ = true;
  owner_ = static_cast<int>(::getpid());
  committed_.clear();
  dirty_ = !pending_.empty();
  const bool flushing = attrs_.flush_tlb && start_flusher();
  std::snprintf(why, cap,
                "damon: kdamond 0 monitors pid %d (vaddr, sample %" PRIu32 " us, aggr %" PRIu32
                " us, %" PRIu32 "-%" PRIu32 " regions%s)",
                pid, attrs_.sample_us, attrs_.aggr_us, attrs_.min_regions, attrs_.max_regions,
                !attrs_.flush_tlb ? ""
                : flushing        ? ", TLB flushed once per sample"
                                  : ", TLB flush thread failed");
  return true;
}

void* DamonSampler::flusher_main(void* arg) {
  auto* self = static_cast<DamonSampler*>(arg);
  // One flush per sample: a page is seen accessed only if touched after the
  // first flush that follows DAMON's clearing of its bit, on average half a
  // sample. Four per sample (a longer effective window) halved the program's
  // speed in the test VM and saw no more (docs/testing.md, "Live DAMON").
  const uint64_t ns = std::max<uint64_t>(1000000, uint64_t{self->attrs_.sample_us} * 1000);
  const timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  while (self->flushing_.load(std::memory_order_acquire)) {
    (void)abit::flush_tlb();
    nanosleep(&ts, nullptr);
  }
  return nullptr;
}

bool DamonSampler::start_flusher() {
  // The first call maps flush_tlb()'s area here, not on the new thread (which
  // must not allocate: it runs outside the interposer's reentrancy guard).
  if (abit::flush_tlb() != 0) return false;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // it takes no signals meant for the program
  flushing_.store(true, std::memory_order_release);
  int r = pthread_create(&flusher_, &attr, flusher_main, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    flushing_.store(false, std::memory_order_release);
    return false;
  }
  pthread_setname_np(flusher_, "strata-tlbflush");
  flusher_on_ = true;
  return true;
}

void DamonSampler::stop_flusher() {
  if (!flusher_on_) return;
  flushing_.store(false, std::memory_order_release);
  pthread_join(flusher_, nullptr);
  flusher_on_ = false;
}

void DamonSampler::track(const Span* spans, size_t n) {
  // Sorted, page-aligned outward, merged.
  pending_.assign(spans, spans + n);
  std::sort(pending_.begin(), pending_.end(),
            [](const Span& a, const Span& b) { return a.start < b.start; });
  size_t m = 0;
  uint64_t chunks = 0;
  for (const Span& sp : pending_) {
    Span v{sp.start & ~kPageMask, (sp.end + kPageMask) & ~kPageMask};
    if (v.end <= v.start) continue;
    if (m > 0 && v.start <= pending_[m - 1].end) {
      pending_[m - 1].end = std::max(pending_[m - 1].end, v.end);
    } else {
      pending_[m++] = v;
    }
  }
  pending_.resize(m);
  for (const Span& v : pending_)
    chunks += ((v.end - 1) >> kChunkShift) - (v.start >> kChunkShift) + 1;
  // Cut at chunk borders (at every k-th one when there are more chunks than
  // regions DAMON may hold).
  const uint64_t k = std::max<uint64_t>(1, (chunks + attrs_.max_regions - 1) / attrs_.max_regions);
  const size_t merged = pending_.size();
  for (size_t i = 0; i < merged; ++i) {
    const Span v = pending_[i];
    for (uintptr_t a = v.start; a < v.end;) {
      uintptr_t e = std::min(v.end, ((a >> kChunkShift) + k) << kChunkShift);
      pending_.push_back(Span{a, e});
      a = e;
    }
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(merged));
  dirty_ = !covered(pending_, committed_);
}

int DamonSampler::restart_regions() {
  // A restart, not a "commit" to the running kdamond: DAMON computes the
  // largest size regions may merge to (total / min_regions) only when the
  // kdamond starts, and before the first restart that total is the whole
  // address space, which lets the hot set merge with the cold memory around it.
  int err = write_rel(kState, "off");
  if (err != 0) return err;
  char rel[128];
  std::snprintf(rel, sizeof rel, "%snr_regions", kRegions);
  err = write_num(rel, pending_.size());
  for (size_t i = 0; err == 0 && i < pending_.size(); ++i) {
    std::snprintf(rel, sizeof rel, "%s%zu/start", kRegions, i);
    err = write_num(rel, pending_[i].start);
    std::snprintf(rel, sizeof rel, "%s%zu/end", kRegions, i);
    if (err == 0) err = write_num(rel, pending_[i].end);
  }
  // As many regions at least as pieces: none merges past a piece (a chunk).
  const uint64_t min =
      std::clamp<uint64_t>(pending_.size(), attrs_.min_regions, attrs_.max_regions);
  if (err == 0) err = write_num(STRATA_CTX "monitoring_attrs/nr_regions/min", min);
  const int on = write_rel(kState, "on");
  if (err == 0) err = on;
  if (err != 0) return err;
  committed_ = pending_;
  dirty_ = false;
  return 0;
}

void DamonSampler::release() {
  if (owner_ != 0 && owner_ != static_cast<int>(::getpid())) {
    // A child after fork(): the kdamond and the flush thread are the parent's.
    started_ = false;
    created_ = false;
    flusher_on_ = false;
    owner_ = 0;
    committed_.clear();
    prepared_ = false;
    in_prepare_ = false;  // the parent's engine thread, which did not come along
    return;
  }
  stop_flusher();
  owner_ = 0;
  committed_.clear();
  prepared_ = false;
  // Only what open() created; failures have no one to report to.
  //
  // The engine's thread may be waiting in prepare() (exit does not wait for
  // it), inside a write to the kdamond's state file. Turning the kdamond off
  // ends that wait (DAMON's sysfs answers EBUSY meanwhile, briefly). Removing
  // the kdamond's directory (nr_kdamonds 0) must wait until it has ended: the
  // removal holds DAMON's sysfs lock while it waits for writers of the files
  // it removes, and the waiting writer polls for that lock (a deadlock, seen
  // in the test VM with one CPU).
  const bool was_started = started_.exchange(false);
  if (was_started) (void)write_retry(kState, "off");
  bool idle = !in_prepare_.load();
  for (int i = 0; !idle && i < 500; ++i) {  // at most about a second
    const timespec ts{0, 2000000};
    nanosleep(&ts, nullptr);
    idle = !in_prepare_.load();
  }
  // Left in place when the wait did not end: a stopped kdamond, which the
  // next open() refuses (nr_kdamonds is not 0), rather than a hung exit.
  if (created_ && idle) (void)write_retry(kNrKdamonds, "0");  // it was 0 before open()
  created_ = false;
}

int DamonSampler::write_retry(const char* rel, const char* value) {
  int err = write_rel(rel, value);
  for (int i = 0; err == -EBUSY && i < 100; ++i) {  // at most about 200 ms
    const timespec ts{0, 2000000};
    nanosleep(&ts, nullptr);
    err = write_rel(rel, value);
  }
  return err;
}

void DamonSampler::close() {
  release();
}

int DamonSampler::request() {
  // New memory to watch (the last track()): the kdamond restarts on it first.
  const int err = dirty_ ? restart_regions() : 0;
  // Refills schemes/0/tried_regions/ with the regions of the next aggregation
  // interval; the write returns once they are there (up to aggr_us).
  return err != 0 ? err : write_rel(kState, "update_schemes_tried_regions");
}

void DamonSampler::prepare() {
  // Set before started_ is read (both sequentially consistent): either this
  // call sees the sampler closed, or close() sees this call (release()).
  in_prepare_.store(true);
  // Before the first restart the kdamond watches DAMON's initial regions (the
  // whole address space: terabytes, millions of chunks to report); the first
  // collect() restarts it on what track() gave and waits itself.
  if (started_.load() && !committed_.empty()) {
    prepared_ = true;
    prepared_err_ = request();
  }
  in_prepare_.store(false);
}

int DamonSampler::collect(Sink sink, void* ctx) {
  if (!started_) return -EBADF;
  // The first interval, or a caller that did not wait outside its lock.
  if (!prepared_) prepared_err_ = request();
  prepared_ = false;
  return prepared_err_ != 0 ? prepared_err_ : read_tried(sink, ctx);
}

int DamonSampler::read_tried(Sink sink, void* ctx) {
  int err = 0;
  // A region's nr_accesses counts the samples that found it accessed in one
  // aggregation interval: at most aggr_us / sample_us.
  const double most = std::max<uint32_t>(1, attrs_.aggr_us / attrs_.sample_us);
  for (size_t i = 0;; ++i) {
    uint64_t v[3] = {};
    static constexpr const char* kFiles[3] = {"start", "end", "nr_accesses"};
    for (int f = 0; f < 3; ++f) {
      char rel[96];
      char buf[32];
      std::snprintf(rel, sizeof rel, STRATA_SCHEME "tried_regions/%zu/%s", i, kFiles[f]);
      err = read_rel(rel, buf, sizeof buf);
      if (err == -ENOENT && f == 0) return 0;  // past the last region
      if (err != 0) return err;
      if (!parse_u64(buf, &v[f])) return -EIO;
    }
    uint64_t start = v[0];
    uint64_t end = v[1];
    double fraction = std::min(1.0, static_cast<double>(v[2]) / most);
    // Split at chunk borders: the engine maps observations onto its chunks.
    for (uint64_t a = start; a < end;) {
      uint64_t next = (a & ~uint64_t{kChunkBytes - 1}) + kChunkBytes;
      uint64_t ce = next > a ? std::min(end, next) : end;
      Obs o;
      o.start = static_cast<uintptr_t>(a);
      o.end = static_cast<uintptr_t>(ce);
      o.fraction = fraction;
      sink(o, ctx);
      a = ce;
    }
  }
}

#undef STRATA_SCHEME
#undef STRATA_CTX
#undef STRATA_KD

}  // namespace strata::sampling
