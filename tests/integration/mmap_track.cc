// Tracking of the program's own mmaps.
//
// Run under strata with STRATA_TIERS="dram:nodes=0;slow:nodes=0" and
// STRATA_POLICY="kind=mmap,size>=1M -> slow":
//  - anonymous private mappings >= 1 MiB are on tier 1 ('slow'), smaller ones on
//    tier 0 (tracked, default tier); heap blocks are not affected by a kind=mmap rule
//  - file mappings (private and shared) and shared anonymous mappings are not
//    tracked: strata_tier_of == -1
//  - munmap of part of a region untracks exactly that part
//  - mremap shrink, grow in place, and move (MREMAP_MAYMOVE / MREMAP_FIXED) keep
//    the tracking right: the new range has the tier, the old range does not
//  - a MAP_FIXED file mapping over a tracked region untracks the overlap
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace {

constexpr size_t kMiB = 1 << 20;
const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));
it::StrataApi api;

char* map_anon(size_t len, int extra = 0, void* hint = nullptr) {
  void* p = mmap(hint, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

int tier(const void* p) {
  return api.tier_of(p);
}

// Every page of [p, p+len) has tier `want`.
void expect_range(const char* what, const char* p, size_t len, int want) {
  for (size_t off = 0; off < len; off += kPage) {
    int t = tier(p + off);
    if (t != want) {
      IT_CHECK(false, "%s: page at offset %zu has tier %d, expected %d", what, off, t, want);
      return;
    }
  }
  IT_CHECK(tier(p + len - 1) == want, "%s: last byte has tier %d, expected %d", what,
           tier(p + len - 1), want);
}

}  // namespace

int main() {
  api = it::strata_api();
  if (!api.loaded()) {
    std::printf("FAIL: strata is not loaded (run with LD_PRELOAD=libstrata.so)\n");
    return 1;
  }
  if (api.tier_count() != 2 || api.tier_by_name("slow") != 1) {
    std::printf(
        "FAIL: expected STRATA_TIERS with two tiers, the second named 'slow' (got %d tiers)\n",
        api.tier_count());
    return 1;
  }

  // Placement by size and kind.
  char* big = map_anon(2 * kMiB);
  char* exact = map_anon(kMiB);
  char* small = map_anon(64 * 1024);
  IT_CHECK(big && exact && small, "anonymous mmap failed");
  std::memset(big, 1, 2 * kMiB);
  expect_range("anonymous 2 MiB", big, 2 * kMiB, 1);
  expect_range("anonymous 1 MiB", exact, kMiB, 1);
  expect_range("anonymous 64 KiB", small, 64 * 1024, 0);
  IT_CHECK(api.node_of == nullptr || api.node_of(big) >= 0,
           "strata_node_of(touched mmap page) = %d", api.node_of(big));
  void* heap = std::malloc(4 * kMiB);
  IT_CHECK(tier(heap) == 0, "malloc(4 MiB) with a kind=mmap rule: tier %d, expected 0", tier(heap));
  std::free(heap);
  char* via64 = static_cast<char*>(
      mmap64(nullptr, 3 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  expect_range("mmap64 3 MiB", via64, 3 * kMiB, 1);
  munmap(via64, 3 * kMiB);
  IT_CHECK(tier(via64) == -1, "after munmap: tier %d", tier(via64));
  std::printf("placement: %s\n", it::g_failures == 0 ? "ok" : "FAILED");

  // Untracked mappings.
  int before = it::g_failures;
  char path[] = "/tmp/strata-mmap-XXXXXX";
  int fd = mkstemp(path);
  IT_CHECK(fd >= 0, "mkstemp");
  unlink(path);
  IT_CHECK(ftruncate(fd, static_cast<off_t>(4 * kMiB)) == 0, "ftruncate");
  void* fpriv = mmap(nullptr, 4 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  void* fshared = mmap(nullptr, 4 * kMiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  void* ashared =
      mmap(nullptr, 4 * kMiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  IT_CHECK(fpriv != MAP_FAILED && fshared != MAP_FAILED && ashared != MAP_FAILED, "mmap failed");
  IT_CHECK(tier(fpriv) == -1, "private file mapping: tier %d, expected -1", tier(fpriv));
  IT_CHECK(tier(fshared) == -1, "shared file mapping: tier %d, expected -1", tier(fshared));
  IT_CHECK(tier(ashared) == -1, "shared anonymous mapping: tier %d, expected -1", tier(ashared));
  munmap(fpriv, 4 * kMiB);
  munmap(fshared, 4 * kMiB);
  munmap(ashared, 4 * kMiB);
  std::printf("file and shared mappings untracked: %s\n",
              it::g_failures == before ? "ok" : "FAILED");

  // Partial munmap.
  before = it::g_failures;
  char* r = map_anon(4 * kMiB);
  expect_range("4 MiB region", r, 4 * kMiB, 1);
  IT_CHECK(munmap(r + kMiB, kMiB) == 0, "munmap middle");
  expect_range("head after munmap of the middle", r, kMiB, 1);
  expect_range("hole after munmap of the middle", r + kMiB, kMiB, -1);
  expect_range("tail after munmap of the middle", r + 2 * kMiB, 2 * kMiB, 1);
  IT_CHECK(munmap(r, kPage) == 0, "munmap first page");
  IT_CHECK(tier(r) == -1 && tier(r + kPage) == 1, "munmap of the first page: %d %d", tier(r),
           tier(r + kPage));
  IT_CHECK(munmap(r + 4 * kMiB - kPage, kPage) == 0, "munmap last page");
  IT_CHECK(tier(r + 4 * kMiB - kPage) == -1 && tier(r + 4 * kMiB - 2 * kPage) == 1,
           "munmap of the last page");
  munmap(r, 4 * kMiB);
  expect_range("whole region after munmap", r, 4 * kMiB, -1);
  std::printf("partial munmap: %s\n", it::g_failures == before ? "ok" : "FAILED");

  // mremap: shrink, grow in place, move.
  before = it::g_failures;
  char* m = map_anon(8 * kMiB);  // reserve 8 MiB, then keep 2 MiB: room to grow in place
  munmap(m + 2 * kMiB, 6 * kMiB);
  std::memset(m, 0x42, 2 * kMiB);
  char* g = static_cast<char*>(mremap(m, 2 * kMiB, 4 * kMiB, 0));  // in place or fail
  if (g != MAP_FAILED) {
    IT_CHECK(g == m, "mremap without MAYMOVE moved");
    expect_range("mremap grown in place", g, 4 * kMiB, 1);
  } else {
    std::fprintf(stderr, "note: in-place mremap growth not possible here, skipped\n");
  }
  char* s = static_cast<char*>(mremap(m, 4 * kMiB, kMiB, 0));
  IT_CHECK(s == m, "mremap shrink");
  expect_range("mremap shrunk", s, kMiB, 1);
  expect_range("tail released by mremap shrink", s + kMiB, 3 * kMiB, -1);
  // Force a move: block growth with a mapping right after it.
  char* blocker = static_cast<char*>(
      mmap(s + kMiB, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  IT_CHECK(blocker == s + kMiB, "blocker mapping");
  char* mv = static_cast<char*>(mremap(s, kMiB, 6 * kMiB, MREMAP_MAYMOVE));
  IT_CHECK(mv != MAP_FAILED && mv != s, "mremap MAYMOVE did not move");
  IT_CHECK(mv[0] == 0x42 && mv[kMiB - 1] == 0x42, "mremap lost the contents");
  expect_range("mremap moved: new range", mv, 6 * kMiB, 1);
  expect_range("mremap moved: old range", s, kMiB, -1);
  munmap(blocker, kPage);
  // MREMAP_FIXED to a chosen address.
  char* target = map_anon(16 * kMiB);  // a free address range (tracked, then replaced)
  munmap(target, 16 * kMiB);
  char* fx = static_cast<char*>(
      mremap(mv, 6 * kMiB, 6 * kMiB, MREMAP_MAYMOVE | MREMAP_FIXED, target + 4 * kMiB));
  IT_CHECK(fx == target + 4 * kMiB, "mremap MREMAP_FIXED");
  expect_range("mremap FIXED: new range", fx, 6 * kMiB, 1);
  expect_range("mremap FIXED: old range", mv, 6 * kMiB, -1);
  expect_range("below the FIXED target", target, 4 * kMiB, -1);
  munmap(fx, 6 * kMiB);
  expect_range("after munmap of the FIXED target", fx, 6 * kMiB, -1);
  // A small mapping grown past 1 MiB keeps its tier (placement is decided at mmap time).
  char* sm = map_anon(64 * 1024);
  char* smg = static_cast<char*>(mremap(sm, 64 * 1024, 2 * kMiB, MREMAP_MAYMOVE));
  expect_range("small mapping grown by mremap", smg, 2 * kMiB, 0);
  munmap(smg, 2 * kMiB);
  std::printf("mremap: %s\n", it::g_failures == before ? "ok" : "FAILED");

  // MAP_FIXED file mapping over part of a tracked region, and anonymous MAP_FIXED back.
  before = it::g_failures;
  char* t = map_anon(4 * kMiB);
  void* over = mmap(t + kMiB, kMiB, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  IT_CHECK(over == t + kMiB, "MAP_FIXED file mapping");
  expect_range("file mapped over a tracked region", t + kMiB, kMiB, -1);
  expect_range("around the file mapping (before)", t, kMiB, 1);
  expect_range("around the file mapping (after)", t + 2 * kMiB, 2 * kMiB, 1);
  void* back =
      mmap(t + kMiB, kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  IT_CHECK(back == t + kMiB, "MAP_FIXED anonymous mapping");
  expect_range("anonymous MAP_FIXED again (1 MiB: slow)", t + kMiB, kMiB, 1);
  munmap(t, 4 * kMiB);
  close(fd);
  std::printf("MAP_FIXED over tracked regions: %s\n", it::g_failures == before ? "ok" : "FAILED");

  munmap(big, 2 * kMiB);
  munmap(exact, kMiB);
  munmap(small, 64 * 1024);
  IT_CHECK(tier(big) == -1 && tier(small) == -1, "after munmap: %d %d", tier(big), tier(small));
  std::printf("mmap_track: %d checks, %d failures\n", it::g_checks, it::g_failures);
  return it::g_failures == 0 ? 0 : 1;
}
