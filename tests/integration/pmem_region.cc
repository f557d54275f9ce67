// Named persistent regions: strata_pmem_open / strata_persist / strata_pmem_close
// (include/strata/strata.h; src/runtime/pmem_region.h states the rules checked here).
//
// Runs under the preload. strata reads STRATA_PMEM_DIR once, at start, so the
// program makes a fresh directory and runs the checks in a child started with
// STRATA_PMEM_DIR set to it; the parent removes the directory afterwards.
//
//   pmem_region [--expect-enodev] [--parent DIR] [--seed N]
//     --expect-enodev  first check that, without STRATA_PMEM_DIR (and no PMEM
//                      file-heap tier to fall back to), open fails with ENODEV
//     --parent DIR     make the region directory in DIR (default /tmp; an
//                      fs-dax mount exercises the libpmem2 path)
//   exit 0 ok, 1 failure. Without strata (control run) it checks that the
//   calls fail with ENOSYS.
//
// The kill test SIGKILLs a writer at a random point (seed printed; --seed
// repeats a run) and checks every range it reported persisted. A killed
// process keeps its page-cache writes, so this checks strata's bookkeeping and
// ranges (unaligned ones included), not power-loss durability, which needs
// real persistent memory.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "strata/strata.h"

namespace {

constexpr int kCreate = STRATA_PMEM_CREATE;
constexpr int kExcl = STRATA_PMEM_EXCL;
constexpr size_t kPage = 4096;

std::string g_dir;

std::string path(const char* name) {
  return g_dir + "/" + name;
}

long long file_size(const char* name) {
  struct stat st;
  return stat(path(name).c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

bool all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

#define EXPECT_OPEN_FAILS(err, name, size, flags)                                              \
  do {                                                                                         \
    errno = 0;                                                                                 \
    void* r_ = strata_pmem_open(name, size, flags);                                            \
    int e_ = errno;                                                                            \
    IT_CHECK(r_ == nullptr && e_ == (err), "open(%s, %zu, %d): %p errno %d (%s), expected %s", \
             #name, static_cast<size_t>(size), flags, r_, e_, std::strerror(e_), #err);        \
    if (r_ != nullptr) strata_pmem_close(r_);                                                  \
  } while (0)

#define EXPECT_FAILS(err, call)                                                           \
  do {                                                                                    \
    errno = 0;                                                                            \
    int r_ = (call);                                                                      \
    int e_ = errno;                                                                       \
    IT_CHECK(r_ == -1 && e_ == (err), "%s: %d errno %d (%s), expected %s", #call, r_, e_, \
             std::strerror(e_), #err);                                                    \
  } while (0)

#define EXPECT_OK(call)                                                                \
  do {                                                                                 \
    errno = 0;                                                                         \
    int r_ = (call);                                                                   \
    IT_CHECK(r_ == 0, "%s: %d errno %d (%s)", #call, r_, errno, std::strerror(errno)); \
  } while (0)

void* open_ok(const char* name, size_t size, int flags) {
  errno = 0;
  void* p = strata_pmem_open(name, size, flags);
  IT_CHECK(p != nullptr, "open(%s, %zu, %d): errno %d (%s)", name, size, flags, errno,
           std::strerror(errno));
  IT_CHECK(p == nullptr || it::aligned(p, kPage), "open(%s) not page aligned: %p", name, p);
  return p;
}

void test_names() {
  EXPECT_OPEN_FAILS(EINVAL, "", kPage, kCreate);
  EXPECT_OPEN_FAILS(EINVAL, nullptr, kPage, kCreate);
  EXPECT_OPEN_FAILS(EINVAL, "a/b", kPage, kCreate);
  EXPECT_OPEN_FAILS(EINVAL, "/abs", kPage, kCreate);
  EXPECT_OPEN_FAILS(EINVAL, ".", kPage, kCreate);
  EXPECT_OPEN_FAILS(EINVAL, "..", kPage, kCreate);
  std::string long_name(256, 'n');
  EXPECT_OPEN_FAILS(EINVAL, long_name.c_str(), kPage, kCreate);
  long_name.pop_back();  // 255 bytes: the longest allowed
  void* p = open_ok(long_name.c_str(), kPage, kCreate);
  if (p != nullptr) EXPECT_OK(strata_pmem_close(p));
  unlink(path(long_name.c_str()).c_str());
  // ".x", "..." are ordinary names.
  p = open_ok("...", kPage, kCreate);
  if (p != nullptr) EXPECT_OK(strata_pmem_close(p));
  // Flags.
  EXPECT_OPEN_FAILS(EINVAL, "flags", kPage, 4);
  EXPECT_OPEN_FAILS(EINVAL, "flags", kPage, -1);
  EXPECT_OPEN_FAILS(EINVAL, "flags", kPage, kExcl);  // EXCL needs CREATE
  IT_CHECK(file_size("flags") == -1, "a failed open created a file");
}

void test_create_reopen() {
  EXPECT_OPEN_FAILS(ENOENT, "missing", kPage, 0);
  EXPECT_OPEN_FAILS(ENOENT, "missing", 0, 0);
  EXPECT_OPEN_FAILS(EINVAL, "missing", 0, kCreate);  // no size to create it with
  IT_CHECK(file_size("missing") == -1, "a failed open created a file");

  auto* p = static_cast<uint8_t*>(open_ok("r1", 10000, kCreate));
  if (p == nullptr) return;
  IT_CHECK(file_size("r1") == 12288, "r1: file size %lld, expected 12288 (rounded to pages)",
           file_size("r1"));
  IT_CHECK(all_zero(p, 12288), "a new region is not zeroed");
  it::fill_pattern(p, 10000, 1, 10000);
  EXPECT_OK(strata_persist(p, 10000));
  EXPECT_OK(strata_pmem_close(p));

  // Reopen: size 0 maps the whole file; the old data is there.
  p = static_cast<uint8_t*>(open_ok("r1", 0, 0));
  if (p == nullptr) return;
  IT_CHECK(it::check_pattern(p, 10000, 1, 10000) == 10000, "reopened r1 lost its data");
  EXPECT_OK(strata_persist(p + 12287, 1));  // the whole (rounded) file is mapped
  EXPECT_FAILS(EINVAL, strata_persist(p + 12288, 1));
  EXPECT_OK(strata_pmem_close(p));
  p = static_cast<uint8_t*>(open_ok("r1", 12288, 0));  // the exact size: no CREATE needed
  if (p != nullptr) EXPECT_OK(strata_pmem_close(p));

  // EXCL.
  EXPECT_OPEN_FAILS(EEXIST, "r1", kPage, kCreate | kExcl);
  EXPECT_OPEN_FAILS(EINVAL, "r1", 0, kCreate | kExcl);  // EXCL needs a size to create with
  void* q = open_ok("r2", kPage, kCreate | kExcl);
  if (q != nullptr) EXPECT_OK(strata_pmem_close(q));
  IT_CHECK(file_size("r2") == 4096, "r2: file size %lld", file_size("r2"));
}

void test_sizes() {
  // Growing needs CREATE; a failed grow leaves the file alone.
  EXPECT_OPEN_FAILS(EINVAL, "r1", 65536, 0);
  IT_CHECK(file_size("r1") == 12288, "r1 changed size: %lld", file_size("r1"));
  auto* p = static_cast<uint8_t*>(open_ok("r1", 65536, kCreate));
  if (p == nullptr) return;
  IT_CHECK(file_size("r1") == 65536, "r1 not grown: %lld", file_size("r1"));
  IT_CHECK(it::check_pattern(p, 10000, 1, 10000) == 10000, "growing r1 lost its data");
  IT_CHECK(all_zero(p + 12288, 65536 - 12288), "grown part not zeroed");
  it::fill_pattern(p + 12288, 65536 - 12288, 2, 65536);
  EXPECT_OK(strata_persist(p, 65536));
  EXPECT_OK(strata_pmem_close(p));

  // A smaller size maps a prefix and never shrinks the file.
  p = static_cast<uint8_t*>(open_ok("r1", 100, 0));
  if (p == nullptr) return;
  IT_CHECK(it::check_pattern(p, 4096, 1, 10000) == 4096, "prefix of r1 wrong");
  EXPECT_OK(strata_persist(p, 4096));
  EXPECT_FAILS(EINVAL, strata_persist(p, 4097));
  EXPECT_FAILS(EINVAL, strata_persist(p + 4095, 2));
  EXPECT_OK(strata_pmem_close(p));
  IT_CHECK(file_size("r1") == 65536, "r1 shrunk to %lld", file_size("r1"));
  p = static_cast<uint8_t*>(open_ok("r1", 0, kCreate));  // CREATE with size 0: whole file
  if (p == nullptr) return;
  IT_CHECK(it::check_pattern(p + 12288, 65536 - 12288, 2, 65536) == 65536 - 12288,
           "reopened grown r1 lost its data");
  EXPECT_OK(strata_pmem_close(p));

  // A file not made by strata: empty, or not a whole number of pages.
  int fd = ::open(path("empty").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  IT_CHECK(fd >= 0, "create empty: %s", std::strerror(errno));
  if (fd >= 0) ::close(fd);
  EXPECT_OPEN_FAILS(EINVAL, "empty", 0, 0);
  EXPECT_OPEN_FAILS(EINVAL, "empty", 0, kCreate);
  std::vector<uint8_t> odd(5000);
  it::fill_pattern(odd.data(), odd.size(), 3, odd.size());
  fd = ::open(path("odd").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  IT_CHECK(fd >= 0 && write(fd, odd.data(), odd.size()) == 5000, "write odd");
  if (fd >= 0) ::close(fd);
  EXPECT_OPEN_FAILS(EINVAL, "odd", 0, 0);  // would need to grow to 8192
  p = static_cast<uint8_t*>(open_ok("odd", 4096, 0));
  if (p != nullptr) EXPECT_OK(strata_pmem_close(p));
  p = static_cast<uint8_t*>(open_ok("odd", 0, kCreate));
  if (p != nullptr) {
    IT_CHECK(it::check_pattern(p, 5000, 3, 5000) == 5000, "odd file's data lost");
    IT_CHECK(all_zero(p + 5000, 8192 - 5000), "odd file's tail not zero");
    EXPECT_OK(strata_pmem_close(p));
  }
  IT_CHECK(file_size("odd") == 8192, "odd: %lld", file_size("odd"));

  // Not a regular file.
  IT_CHECK(mkdir(path("subdir").c_str(), 0700) == 0, "mkdir: %s", std::strerror(errno));
  errno = 0;
  void* d = strata_pmem_open("subdir", kPage, kCreate);
  IT_CHECK(d == nullptr && errno == EISDIR, "open(subdir): %p errno %d", d, errno);
  // Absurd sizes.
  EXPECT_OPEN_FAILS(EINVAL, "huge", SIZE_MAX, kCreate);
  EXPECT_OPEN_FAILS(EINVAL, "huge", SIZE_MAX - 4095, kCreate);
  IT_CHECK(file_size("huge") == -1, "a failed open created a file");
}

void test_persist_close_errors() {
  int local = 0;
  EXPECT_FAILS(EINVAL, strata_persist(&local, sizeof local));
  EXPECT_FAILS(EINVAL, strata_persist(nullptr, 0));
  EXPECT_FAILS(EINVAL, strata_persist(nullptr, 1));
  auto* p = static_cast<uint8_t*>(open_ok("r3", 16384, kCreate));
  if (p == nullptr) return;
  EXPECT_FAILS(EINVAL, strata_persist(p - 1, 2));
  EXPECT_FAILS(EINVAL, strata_persist(p - 1, 0));
  EXPECT_FAILS(EINVAL, strata_persist(p + 16384, 0));
  EXPECT_FAILS(EINVAL, strata_persist(p + 16383, 2));
  EXPECT_FAILS(EINVAL, strata_persist(p, 16385));
  EXPECT_FAILS(EINVAL, strata_persist(p + 8, SIZE_MAX));  // wraps around
  EXPECT_OK(strata_persist(p, 0));
  EXPECT_OK(strata_persist(p + 16383, 1));
  EXPECT_OK(strata_persist(p + 1, 16383));
  EXPECT_FAILS(EINVAL, strata_pmem_close(p + 4096));  // not the address open returned
  EXPECT_FAILS(EINVAL, strata_pmem_close(p + 1));
  EXPECT_FAILS(EINVAL, strata_pmem_close(nullptr));
  EXPECT_FAILS(EINVAL, strata_pmem_close(&local));
  EXPECT_OK(strata_pmem_close(p));
  EXPECT_FAILS(EINVAL, strata_pmem_close(p));  // twice
  EXPECT_FAILS(EINVAL, strata_persist(p, 1));
  // The same name twice: two mappings of one file.
  auto* a = static_cast<uint8_t*>(open_ok("r3", 0, 0));
  auto* b = static_cast<uint8_t*>(open_ok("r3", 0, 0));
  if (a != nullptr && b != nullptr) {
    IT_CHECK(a != b, "two opens returned the same address");
    a[100] = 0x5a;
    IT_CHECK(b[100] == 0x5a, "two mappings of r3 do not share the file");
    EXPECT_OK(strata_persist(a + 100, 1));
    EXPECT_OK(strata_pmem_close(a));
    EXPECT_OK(strata_persist(b + 100, 1));  // b stays open
    EXPECT_OK(strata_pmem_close(b));
  }
}

void test_many() {
  constexpr int kMax = 64;  // the documented limit on open regions
  std::vector<uint8_t*> r(kMax, nullptr);
  char name[32];
  for (int i = 0; i < kMax; ++i) {
    std::snprintf(name, sizeof name, "many-%d", i);
    r[i] = static_cast<uint8_t*>(open_ok(name, (i % 8 + 1) * kPage, kCreate));
    if (r[i] == nullptr) return;
    it::fill_pattern(r[i], (i % 8 + 1) * kPage, 100 + i, 0);
  }
  EXPECT_OPEN_FAILS(EMFILE, "many-extra", kPage, kCreate);
  for (int i = 0; i < kMax; ++i) {
    size_t n = (i % 8 + 1) * kPage;
    EXPECT_OK(strata_persist(r[i], n));
    IT_CHECK(it::check_pattern(r[i], n, 100 + i, 0) == n, "many-%d overwritten", i);
  }
  for (int i = 0; i < kMax; i += 2) EXPECT_OK(strata_pmem_close(r[i]));
  void* extra = open_ok("many-extra", kPage, kCreate);  // a slot is free again
  if (extra != nullptr) EXPECT_OK(strata_pmem_close(extra));
  for (int i = 1; i < kMax; i += 2) EXPECT_OK(strata_pmem_close(r[i]));
  for (int i = 0; i < kMax; ++i) {
    std::snprintf(name, sizeof name, "many-%d", i);
    auto* p = static_cast<uint8_t*>(open_ok(name, 0, 0));
    if (p == nullptr) continue;
    size_t n = (i % 8 + 1) * kPage;
    IT_CHECK(it::check_pattern(p, n, 100 + i, 0) == n, "reopened %s wrong", name);
    EXPECT_OK(strata_pmem_close(p));
  }
}

// ---- threads ----------------------------------------------------------------

constexpr int kThreads = 8;
constexpr int kIters = 60;
constexpr size_t kSlice = 2 * kPage;
pthread_barrier_t g_barrier;
int g_excl_wins = 0;
int g_excl_eexist = 0;

void* thread_main(void* arg) {
  int t = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  char name[32];
  // Everyone creates the same new 4 MiB region at once: each must see all of it.
  pthread_barrier_wait(&g_barrier);
  auto* c = static_cast<uint8_t*>(strata_pmem_open("create-race", 4 << 20, kCreate));
  IT_CHECK(c != nullptr, "thread %d: create-race: errno %d", t, errno);
  if (c != nullptr) {
    c[(4 << 20) - 1 - t] = static_cast<uint8_t>(t + 1);  // last page: SIGBUS if short
    EXPECT_OK(strata_persist(c + (4 << 20) - 1 - t, 1));
    EXPECT_OK(strata_pmem_close(c));
  }
  // Everyone creates the same region with EXCL: one wins.
  pthread_barrier_wait(&g_barrier);
  errno = 0;
  void* x = strata_pmem_open("excl-race", kPage, kCreate | kExcl);
  int e = errno;
  if (x != nullptr) {
    __atomic_add_fetch(&g_excl_wins, 1, __ATOMIC_RELAXED);
    EXPECT_OK(strata_pmem_close(x));
  } else if (e == EEXIST) {
    __atomic_add_fetch(&g_excl_eexist, 1, __ATOMIC_RELAXED);
  } else {
    IT_CHECK(false, "thread %d: excl-race: errno %d (%s)", t, e, std::strerror(e));
  }
  // Open/close churn: a private region and a slice of a shared one.
  for (int i = 0; i < kIters; ++i) {
    std::snprintf(name, sizeof name, "thr-%d-%d", t, i % 3);
    size_t n = (i % 3 + 1) * kPage;
    auto* p = static_cast<uint8_t*>(strata_pmem_open(name, n, kCreate));
    IT_CHECK(p != nullptr, "thread %d: open(%s): errno %d", t, name, errno);
    auto* s = static_cast<uint8_t*>(strata_pmem_open("shared", kThreads * kSlice, kCreate));
    IT_CHECK(s != nullptr, "thread %d: open(shared): errno %d", t, errno);
    if (p == nullptr || s == nullptr) {
      if (p != nullptr) strata_pmem_close(p);
      if (s != nullptr) strata_pmem_close(s);
      continue;
    }
    it::fill_pattern(p, n, 1000 * t + i, n);
    it::fill_pattern(s + t * kSlice, kSlice, 1000 * t + i, kSlice);
    EXPECT_OK(strata_persist(p, n));
    EXPECT_OK(strata_persist(s + t * kSlice, kSlice));
    IT_CHECK(it::check_pattern(p, n, 1000 * t + i, n) == n, "thread %d: %s changed", t, name);
    EXPECT_OK(strata_pmem_close(p));
    EXPECT_OK(strata_pmem_close(s));
  }
  return nullptr;
}

void test_threads() {
  pthread_barrier_init(&g_barrier, nullptr, kThreads);
  pthread_t th[kThreads];
  for (int t = 0; t < kThreads; ++t)
    pthread_create(&th[t], nullptr, thread_main, reinterpret_cast<void*>(intptr_t{t}));
  for (pthread_t& t : th) pthread_join(t, nullptr);
  pthread_barrier_destroy(&g_barrier);
  IT_CHECK(g_excl_wins == 1 && g_excl_eexist == kThreads - 1,
           "EXCL race: %d opens won, %d got EEXIST", g_excl_wins, g_excl_eexist);
  IT_CHECK(file_size("create-race") == 4 << 20, "create-race: %lld", file_size("create-race"));
  auto* c = static_cast<uint8_t*>(open_ok("create-race", 0, 0));
  if (c != nullptr) {
    for (int t = 0; t < kThreads; ++t)
      IT_CHECK(c[(4 << 20) - 1 - t] == t + 1, "create-race: thread %d's byte lost", t);
    EXPECT_OK(strata_pmem_close(c));
  }
  auto* s = static_cast<uint8_t*>(open_ok("shared", 0, 0));
  if (s != nullptr) {
    for (int t = 0; t < kThreads; ++t)
      IT_CHECK(it::check_pattern(s + t * kSlice, kSlice, 1000 * t + kIters - 1, kSlice) == kSlice,
               "shared: thread %d's last slice wrong", t);
    EXPECT_OK(strata_pmem_close(s));
  }
}

// ---- fork ---------------------------------------------------------------------

void test_fork() {
  auto* p = static_cast<uint8_t*>(open_ok("forked", 2 * kPage, kCreate));
  if (p == nullptr) return;
  it::fill_pattern(p, 2 * kPage, 7, 0);
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    // The child inherits the mapping (shared) and may persist and close it.
    int ok = it::check_pattern(p, 2 * kPage, 7, 0) == 2 * kPage;
    it::fill_pattern(p + kPage, kPage, 8, 0);
    ok = ok && strata_persist(p + kPage, kPage) == 0 && strata_pmem_close(p) == 0;
    void* q = strata_pmem_open("forked-child", kPage, kCreate);
    ok = ok && q != nullptr && strata_pmem_close(q) == 0;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  IT_CHECK(
      pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
      "fork child failed: status %#x", status);
  IT_CHECK(it::check_pattern(p + kPage, kPage, 8, 0) == kPage,
           "the child's stores are not visible in the parent (MAP_SHARED)");
  EXPECT_OK(strata_persist(p, 2 * kPage));  // still open in the parent
  EXPECT_OK(strata_pmem_close(p));
}

// ---- kill ---------------------------------------------------------------------

constexpr int kRanges = 1024;
constexpr size_t kKillSize = kRanges * kPage;

// Range i: unaligned start and length inside page i (never crossing into i+1).
size_t range_off(int i) {
  return i * kPage + (static_cast<size_t>(i) * 37) % 1000;
}
size_t range_len(int i) {
  return 1 + (static_cast<size_t>(i) * 7919) % 3000;
}

[[noreturn]] void kill_child(int round, int wfd) {
  auto* p = static_cast<uint8_t*>(strata_pmem_open("kill", kKillSize, kCreate));
  if (p == nullptr) _exit(2);
  for (int i = 0; i < kRanges; ++i) {
    it::fill_pattern(p + range_off(i), range_len(i), round * 100000 + i, range_len(i));
    if (strata_persist(p + range_off(i), range_len(i)) != 0) _exit(3);
    if (write(wfd, &i, sizeof i) != sizeof i) _exit(4);
  }
  for (;;) pause();  // finished: wait for the kill
}

void test_kill(uint64_t seed) {
  it::Rng rng(seed);
  for (int round = 1; round <= 8; ++round) {
    int kill_after = static_cast<int>(rng.below(kRanges));
    int fds[2];
    if (pipe(fds) != 0) {
      IT_CHECK(false, "pipe: %s", std::strerror(errno));
      return;
    }
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      ::close(fds[0]);
      kill_child(round, fds[1]);
    }
    ::close(fds[1]);
    int reported = -1;  // highest range index reported persisted
    bool killed = false;
    unsigned char buf[4096];
    size_t have = 0;  // bytes of an incomplete record carried over
    for (;;) {
      ssize_t n = read(fds[0], buf + have, sizeof buf - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      have += static_cast<size_t>(n);
      size_t whole = have / sizeof(int) * sizeof(int);
      for (size_t o = 0; o < whole; o += sizeof(int)) {
        int i;
        std::memcpy(&i, buf + o, sizeof i);
        IT_CHECK(i == reported + 1, "round %d: progress %d after %d", round, i, reported);
        reported = i;
      }
      std::memmove(buf, buf + whole, have - whole);
      have -= whole;
      if (!killed && reported >= kill_after) {
        kill(pid, SIGKILL);  // the pipe still holds whatever it wrote before dying
        killed = true;
      }
    }
    ::close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    IT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
             "round %d: writer did not die by SIGKILL (status %#x)", round, status);
    auto* p = static_cast<uint8_t*>(open_ok("kill", 0, 0));
    if (p == nullptr) return;
    int bad = 0;
    for (int i = 0; i <= reported; ++i) {
      size_t n = range_len(i);
      if (it::check_pattern(p + range_off(i), n, round * 100000 + i, n) != n) ++bad;
    }
    IT_CHECK(bad == 0, "round %d: %d of %d persisted ranges wrong after the kill", round, bad,
             reported + 1);
    std::printf("kill round %d: killed after range %d (asked %d), %d ranges checked\n", round,
                reported, kill_after, reported + 1);
    EXPECT_OK(strata_pmem_close(p));
  }
}

// ---- driver -------------------------------------------------------------------

void remove_dir(const std::string& dir) {
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
}

uint64_t parse_seed(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--seed") == 0) return std::strtoull(argv[i + 1], nullptr, 0);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_nsec) ^ (static_cast<uint64_t>(getpid()) << 32);
}

int run_all(uint64_t seed) {
  std::printf("directory %s, seed %llu\n", g_dir.c_str(), static_cast<unsigned long long>(seed));
  test_names();
  test_create_reopen();
  test_sizes();
  test_persist_close_errors();
  test_many();
  test_threads();
  test_fork();
  test_kill(seed);
  std::printf("%d checks, %d failures\n", it::g_checks, it::g_failures);
  return it::g_failures == 0 ? 0 : 1;
}

std::string make_dir(const char* parent) {
  std::string tmpl = std::string(parent) + "/strata-pmem-region-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  return tmpl;
}

}  // namespace

int main(int argc, char** argv) {
  if (!strata_available()) {  // control run: the header degrades to ENOSYS
    int x = 0;
    EXPECT_OPEN_FAILS(ENOSYS, "x", kPage, kCreate);
    EXPECT_FAILS(ENOSYS, strata_persist(&x, sizeof x));
    EXPECT_FAILS(ENOSYS, strata_pmem_close(&x));
    std::printf("strata not loaded: %d checks, %d failures\n", it::g_checks, it::g_failures);
    return it::g_failures == 0 ? 0 : 1;
  }
  const char* dir = getenv("STRATA_PMEM_DIR");
  if (dir != nullptr) {  // the child started below
    g_dir = dir;
    return run_all(parse_seed(argc, argv));
  }
  bool expect_enodev = false;
  const char* parent = "/tmp";
  for (int i = 1; i < argc; ++i) {
    expect_enodev |= std::strcmp(argv[i], "--expect-enodev") == 0;
    if (std::strcmp(argv[i], "--parent") == 0 && i + 1 < argc) parent = argv[i + 1];
  }
  if (expect_enodev) EXPECT_OPEN_FAILS(ENODEV, "x", kPage, kCreate);
  g_dir = make_dir(parent);
  std::fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("STRATA_PMEM_DIR", g_dir.c_str(), 1);
    execv("/proc/self/exe", argv);
    std::perror("execv");
    _exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  remove_dir(g_dir);
  if (!WIFEXITED(status)) {
    std::printf("FAIL: child status %#x\n", status);
    return 1;
  }
  return it::g_failures == 0 ? WEXITSTATUS(status) : 1;
}
