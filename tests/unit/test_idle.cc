// The idle sampler on a fake tree: a fake page_idle bitmap, pagemap and maps
// listing; then against this system's files where they exist.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "profiler/idle.h"
#include "tests/unit/fake_tree.h"
#include "tests/unit/skip.h"

namespace fs = std::filesystem;
using fake_tree::check_obs;
using fake_tree::collect_obs;
using fake_tree::get_file;
using fake_tree::put_file;
using fake_tree::TempDir;
using strata::sampling::IdleSampler;
using strata::sampling::Obs;

namespace {

// ---------------------------------------------------------------- idle fakes

constexpr uint64_t kPage = 4096;
constexpr uint64_t kChunk = strata::sampling::kChunkBytes;
constexpr uint64_t kPresent = uint64_t{1} << 63;
constexpr uint64_t kSwapped = uint64_t{1} << 62;
constexpr uint64_t kExclusive = uint64_t{1} << 56;
constexpr uint64_t kBitmapWords = 0x100000 / 64;  // frames below 0x100000
constexpr uint64_t kZeroPfn = 0x7f000;

struct FakeIdle {
  TempDir dir;
  std::string bitmap = dir.path + "/bitmap";
  std::string pagemap = dir.path + "/pagemap";
  std::string maps = dir.path + "/maps";

  FakeIdle() {
    put_file(pagemap, "");
    set_bitmap(std::vector<uint64_t>(kBitmapWords));
  }
  // Pagemap entry of the page at `addr`.
  void entry(uint64_t addr, uint64_t value) const {
    int fd = ::open(pagemap.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, &value, 8, static_cast<off_t>(addr / kPage * 8)) == 8);
    ::close(fd);
  }
  void present(uint64_t addr, uint64_t pfn) const { entry(addr, kPresent | kExclusive | pfn); }
  std::vector<uint64_t> get_bitmap() const {
    std::vector<uint64_t> w(kBitmapWords);
    int fd = ::open(bitmap.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    REQUIRE(pread(fd, w.data(), w.size() * 8, 0) == static_cast<ssize_t>(w.size() * 8));
    ::close(fd);
    return w;
  }
  void set_bitmap(const std::vector<uint64_t>& w) const {
    int fd = ::open(bitmap.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, w.data(), w.size() * 8, 0) == static_cast<ssize_t>(w.size() * 8));
    ::close(fd);
  }
};

void set_bit(std::vector<uint64_t>& w, uint64_t pfn) {
  w[pfn / 64] |= uint64_t{1} << (pfn % 64);
}
void clear_bit(std::vector<uint64_t>& w, uint64_t pfn) {
  w[pfn / 64] &= ~(uint64_t{1} << (pfn % 64));
}

// The address space of the idle tests:
//  A  0x10100000-0x10500000 anonymous, not 2 MiB aligned: chunks A0 (1 MiB),
//     A1 (2 MiB), A2 (1 MiB)
//  B  0x20000000-0x20200000 [heap]
//  E  0x40000000-0x40400000 [anon:strata], resident only in its second chunk
// and VMAs that must be skipped, with resident pages: a file's data segment,
// shared anonymous memory, the stack, and a text segment.
constexpr uint64_t kA = 0x10100000;
constexpr uint64_t kA1 = 0x10200000;
constexpr uint64_t kA2 = 0x10400000;
constexpr uint64_t kAEnd = 0x10500000;
constexpr uint64_t kB = 0x20000000;
constexpr uint64_t kE = 0x40000000;
constexpr uint64_t kFile = 0x30000000;
constexpr uint64_t kShared = 0x30200000;
constexpr uint64_t kStack = 0x7ffd0000;

const char* const kMaps =
    "00400000-00452000 r-xp 00000000 08:01 1234                               /usr/bin/prog\n"
    "10100000-10500000 rw-p 00000000 00:00 0 \n"
    "20000000-20200000 rw-p 00000000 00:00 0                                  [heap]\n"
    "30000000-30200000 rw-p 00001000 08:01 99                                 /usr/lib/x.so\n"
    "30200000-30400000 rw-s 00000000 00:01 5678                               /dev/zero (deleted)\n"
    "40000000-40400000 rw-p 00000000 00:00 0                                  [anon:strata]\n"
    "7ffd0000-7fff0000 rw-p 00000000 00:00 0                                  [stack]\n";

// Frame of each resident page of the covered VMAs, in address order.
struct Layout {
  std::vector<std::pair<uint64_t, uint64_t>> pages;  // (address, frame)
};

Layout build_idle_fake(const FakeIdle& f) {
  put_file(f.maps, kMaps);
  Layout l;
  auto add = [&](uint64_t addr, uint64_t pfn) {
    f.present(addr, pfn);
    l.pages.emplace_back(addr, pfn);
  };
  // A0: pages 0..99 resident and contiguous, page 100 swapped out.
  for (uint64_t i = 0; i < 100; ++i) add(kA + i * kPage, 0x10000 + i);
  f.entry(kA + 100 * kPage, kSwapped | 0x1234);
  // A1: all 512 resident, frames split between two distant ranges (one
  // descending), so the chunk's bits are read in more than one window.
  for (uint64_t i = 0; i < 512; ++i)
    add(kA1 + i * kPage, i % 2 == 0 ? 0x20000 + i : 0x90000 + (511 - i));
  // A2: 128 resident on every other frame, 10 more showing the zero page.
  for (uint64_t i = 0; i < 128; ++i) add(kA2 + i * kPage, 0x30000 + 2 * i);
  for (uint64_t i = 128; i < 138; ++i) f.present(kA2 + i * kPage, kZeroPfn);
  // B: a whole chunk of contiguous frames (as a huge page would be).
  for (uint64_t i = 0; i < 512; ++i) add(kB + i * kPage, 0x40000 + i);
  // E: one page, in its second chunk.
  add(kE + kChunk + 5 * kPage, 0x60000);
  // Skipped VMAs.
  for (uint64_t i = 0; i < 10; ++i) f.present(kFile + i * kPage, 0x50000 + i);
  for (uint64_t i = 0; i < 10; ++i) f.present(kShared + i * kPage, 0x51000 + i);
  for (uint64_t i = 0; i < 10; ++i) f.present(kStack + i * kPage, 0x52000 + i);
  return l;
}

// What open() must leave in the bitmap: exactly the covered resident pages
// marked idle (not the zero page, not the skipped VMAs).
std::vector<uint64_t> marked(const Layout& l) {
  std::vector<uint64_t> w(kBitmapWords);
  for (const auto& [addr, pfn] : l.pages) set_bit(w, pfn);
  return w;
}

}  // namespace

TEST_CASE("idle: marks, reads and re-marks idle bits per chunk on a fake tree", "[idle]") {
  REQUIRE(sysconf(_SC_PAGESIZE) == static_cast<long>(kPage));
  FakeIdle f;
  Layout l = build_idle_fake(f);
  IdleSampler s(f.bitmap.c_str(), f.pagemap.c_str(), f.maps.c_str());
  CHECK(std::strcmp(s.name(), "idle") == 0);
  s.set_zero_pfns(kZeroPfn, 0);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  INFO(why);

  // open() starts the first interval: every covered resident page is idle.
  std::vector<uint64_t> after_open = marked(l);
  CHECK(f.get_bitmap() == after_open);

  // End of the interval as the kernel would show it: accessed pages lost
  // their idle bit. Plus bits of pages that are not ours: one in a word the
  // sampler writes (for the kernel a 0 bit written is a no-op; the fake file
  // simply stores the word, so the test sees exactly what was written) and
  // one far from any of our frames, which must not be written at all.
  std::vector<uint64_t> end = after_open;
  for (uint64_t i = 50; i < 100; ++i) clear_bit(end, 0x10000 + i);  // A0: half
  for (uint64_t i = 0; i < 512; i += 4)                             // A1: a quarter
    clear_bit(end, i % 2 == 0 ? 0x20000 + i : 0x90000 + (511 - i));
  for (uint64_t i = 0; i < 128; ++i) clear_bit(end, 0x30000 + 2 * i);  // A2: all
  clear_bit(end, 0x60000);                                             // E: its page
  set_bit(end, 0x10000 + 100);  // not ours, in A0's last word
  set_bit(end, 0xf0000);        // not ours, far away
  f.set_bitmap(end);

  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  REQUIRE(obs.size() == 5);
  check_obs(obs[0], kA, kA1, 0.5, 100 * kPage);          // swapped page not counted
  check_obs(obs[1], kA1, kA2, 0.25, 512 * kPage);        // two frame windows
  check_obs(obs[2], kA2, kAEnd, 1.0, 128 * kPage);       // zero page excluded
  check_obs(obs[3], kB, kB + kChunk, 0.0, 512 * kPage);  // nothing accessed
  check_obs(obs[4], kE + kChunk, kE + 2 * kChunk, 1.0, kPage);

  // All our pages are idle again; the word shared with a foreign frame was
  // written with our bits only; the far word was not touched.
  std::vector<uint64_t> want = after_open;
  set_bit(want, 0xf0000);
  CHECK(f.get_bitmap() == want);

  // Nothing accessed in the next interval.
  obs.clear();
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  REQUIRE(obs.size() == 5);
  for (const Obs& o : obs) CHECK(o.fraction == 0.0);
  CHECK(obs[2].rss == 128 * kPage);

  s.close();
  s.close();  // twice is fine
  CHECK(s.collect(collect_obs, &obs) == -EBADF);
}

TEST_CASE("idle: without a known zero page its frame counts as a page", "[idle]") {
  FakeIdle f;
  Layout l = build_idle_fake(f);
  IdleSampler s(f.bitmap.c_str(), f.pagemap.c_str(), f.maps.c_str());
  s.set_zero_pfns(0, 0);  // no zero page known: its frame counts as a page
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  std::vector<uint64_t> want = marked(l);
  set_bit(want, kZeroPfn);
  CHECK(f.get_bitmap() == want);
  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  REQUIRE(obs.size() == 5);
  CHECK(obs[2].rss == 138 * kPage);
  CHECK(obs[2].fraction == 0.0);
}

TEST_CASE("idle: open() refuses hidden frame numbers without writing", "[idle]") {
  FakeIdle f;
  put_file(f.maps, kMaps);
  for (uint64_t i = 0; i < 10; ++i) f.entry(kA + i * kPage, kPresent);  // frame 0: hidden
  IdleSampler s(f.bitmap.c_str(), f.pagemap.c_str(), f.maps.c_str());
  s.set_zero_pfns(0, 0);
  char why[256];
  CHECK_FALSE(s.open(why, sizeof why));
  CHECK(std::string(why) ==
        "idle: " + f.pagemap + ": page frame numbers read as 0 (needs CAP_SYS_ADMIN)");
  CHECK(f.get_bitmap() == std::vector<uint64_t>(kBitmapWords));
  std::vector<Obs> obs;
  CHECK(s.collect(collect_obs, &obs) == -EBADF);
}

TEST_CASE("idle: open() names the missing file", "[idle]") {
  FakeIdle f;
  put_file(f.maps, kMaps);
  char why[256];
  std::string none = f.dir.path + "/none";
  {
    IdleSampler s(none.c_str(), f.pagemap.c_str(), f.maps.c_str());
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) == "idle: " + none +
                                  ": No such file or directory (kernel built without " +
                                  "CONFIG_IDLE_PAGE_TRACKING)");
  }
  {
    IdleSampler s(f.bitmap.c_str(), none.c_str(), f.maps.c_str());
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) == "idle: " + none + ": No such file or directory");
  }
  {
    IdleSampler s(f.bitmap.c_str(), f.pagemap.c_str(), none.c_str());
    s.set_zero_pfns(0, 0);
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) == "idle: " + none + ": No such file or directory");
  }
}

TEST_CASE("idle: the zero pages' frames found by probing are the zero pages", "[idle]") {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  IdleSampler::ZeroPfns z = IdleSampler::probe_zero_pfns(fd);
  ::close(fd);
  // /proc/kpageflags is readable only with the privilege that shows frames.
  int kf = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (kf < 0) {
    REQUIRE(z.small == 0);  // frames hidden: nothing can be excluded
    STRATA_SKIP("no /proc/kpageflags here (" << std::strerror(errno)
                                             << "): zero frames not verified");
  }
  constexpr uint64_t kZeroPageFlag = uint64_t{1} << 24;  // KPF_ZERO_PAGE
  auto flags = [&](uint64_t pfn) {
    uint64_t v = 0;
    REQUIRE(pread(kf, &v, 8, static_cast<off_t>(pfn * 8)) == 8);
    return v;
  };
  if (z.small == 0) {
    // Some kernels map a private page, not the zero page, on a read fault of
    // fresh anonymous memory. Checked independently of the probe: the frame a
    // read fault gets must then not be the zero page, or the probe missed it.
    auto* q =
        static_cast<char*>(mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(q != MAP_FAILED);
    (void)*reinterpret_cast<volatile const char*>(q);
    int qm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    REQUIRE(qm >= 0);
    uint64_t qe = 0;
    REQUIRE(pread(qm, &qe, 8, static_cast<off_t>(reinterpret_cast<uintptr_t>(q) / kPage * 8)) == 8);
    ::close(qm);
    munmap(q, kPage);
    const uint64_t qpfn = qe & ((uint64_t{1} << 55) - 1);
    REQUIRE((qpfn == 0 || (flags(qpfn) & kZeroPageFlag) == 0));
    ::close(kf);
    STRATA_SKIP("this kernel maps no zero page on a read fault (frame 0x"
                << std::hex << qpfn << " is a private page): zero frames not verified");
  }
  CHECK((flags(z.small) & kZeroPageFlag) != 0);
  if (z.huge_first != 0) {
    CHECK((flags(z.huge_first) & kZeroPageFlag) != 0);
  } else {
    WARN("no huge zero page here (transparent huge pages off or its zero page disabled)");
  }
  // An ordinary written page is not a zero page.
  auto* p = static_cast<char*>(
      mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(p != MAP_FAILED);
  p[0] = 1;
  int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  REQUIRE(pm >= 0);
  uint64_t e = 0;
  REQUIRE(pread(pm, &e, 8, static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / kPage * 8)) == 8);
  ::close(pm);
  uint64_t pfn = e & ((uint64_t{1} << 55) - 1);
  CHECK(pfn != z.small);
  CHECK((flags(pfn) & kZeroPageFlag) == 0);
  munmap(p, kPage);
  ::close(kf);
}

TEST_CASE("idle: open() on this system's paths", "[idle]") {
  IdleSampler s;
  char why[256];
  bool ok = s.open(why, sizeof why);
  INFO(why);
  CHECK(std::strncmp(why, "idle: ", 6) == 0);
  if (!ok) {
    std::error_code ec;
    if (!fs::exists("/sys/kernel/mm/page_idle", ec))
      REQUIRE(std::string(why) ==
              "idle: /sys/kernel/mm/page_idle/bitmap: No such file or directory (kernel built "
              "without CONFIG_IDLE_PAGE_TRACKING)");
    STRATA_SKIP("idle unavailable here: " << why);
  }
  // Where it runs: touched chunks show referenced pages, untouched ones none.
  constexpr int kN = 4;
  auto* p = static_cast<char*>(
      mmap(nullptr, kChunk * (kN + 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(p != MAP_FAILED);
  auto base = (reinterpret_cast<uintptr_t>(p) + kChunk - 1) & ~(kChunk - 1);
  auto* c = reinterpret_cast<char*>(base);
  madvise(c, kChunk * kN, MADV_NOHUGEPAGE);
  std::memset(c, 1, kChunk * kN);
  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);  // all of it was written: new interval
  for (int i : {0, 2}) std::memset(c + i * kChunk, 2, kChunk / 2);
  obs.clear();
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  int seen = 0;
  for (const Obs& o : obs) {
    if (o.start < base || o.start >= base + kChunk * kN) continue;
    int i = static_cast<int>((o.start - base) / kChunk);
    INFO("chunk " << i << " fraction " << o.fraction);
    ++seen;
    CHECK(o.rss == kChunk);
    if (i == 0 || i == 2) {
      CHECK(o.fraction <= 0.5);
      CHECK(o.fraction >= 0.25);  // accessed bits behind stale TLB entries are lost
    } else {
      CHECK(o.fraction == 0.0);
    }
  }
  CHECK(seen == kN);
  munmap(p, kChunk * (kN + 1));
}
