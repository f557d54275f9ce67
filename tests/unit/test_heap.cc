// Runs linked against libstrata: malloc & co. are strata's. The tier
// configuration comes from the environment ctest sets (see CMakeLists.txt).
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "strata/strata.h"

namespace {

void fill(void* p, size_t n, unsigned char seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (size_t i = 0; i < n; i += 97) b[i] = static_cast<unsigned char>(seed + i);
}

bool check(const void* p, size_t n, unsigned char seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i += 97)
    if (b[i] != static_cast<unsigned char>(seed + i)) return false;
  return true;
}

using MallocFn = void* (*)(size_t);

// glibc's own malloc, bypassing the interposer: a "foreign" pointer source.
MallocFn libc_malloc() {
  void* h = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
  REQUIRE(h != nullptr);
  auto f = reinterpret_cast<MallocFn>(dlsym(h, "malloc"));
  REQUIRE(f != nullptr);
  REQUIRE(reinterpret_cast<void*>(f) != reinterpret_cast<void*>(&malloc));
  return f;
}

std::string stats_text() {
  char path[] = "/tmp/strata-stats-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  strata_print_stats(fd);
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  unlink(path);
  return out;
}

}  // namespace

TEST_CASE("default: one tier, every allocation on it", "[default]") {
  REQUIRE(strata_tier_count() >= 1);
  void* a = malloc(10);
  void* b = malloc(8 << 20);
  void* c = nullptr;
  REQUIRE(posix_memalign(&c, 4096, 5000) == 0);
  CHECK(strata_tier_of(a) == 0);
  CHECK(strata_tier_of(b) == 0);
  CHECK(strata_tier_of(c) == 0);
  CHECK(reinterpret_cast<uintptr_t>(c) % 4096 == 0);
  int on_stack = 0;
  CHECK(strata_tier_of(&on_stack) == -1);
  free(a);
  free(b);
  free(c);
}

TEST_CASE("malloc(0) and realloc(p, 0) behave as glibc's", "[default][two_tiers]") {
  void* a = malloc(0);
  void* b = malloc(0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  free(a);
  free(b);
  void* c = malloc(100);
  CHECK(realloc(c, 0) == nullptr);  // freed
  void* d = realloc(nullptr, 50);
  REQUIRE(d != nullptr);
  free(d);
  errno = 0;
  volatile size_t huge = SIZE_MAX / 2;  // volatile: the overflow is the point
  CHECK(calloc(huge, 4) == nullptr);
  CHECK(errno == ENOMEM);
}

TEST_CASE("foreign pointers from libc's own malloc never crash", "[default][two_tiers]") {
  MallocFn lm = libc_malloc();
  char* p = static_cast<char*>(lm(1000));
  REQUIRE(p != nullptr);
  CHECK(strata_tier_of(p) == -1);
  std::memset(p, 'x', 1000);
  CHECK(malloc_usable_size(p) >= 1000);
  char* q = static_cast<char*>(realloc(p, 100000));  // moves into strata
  REQUIRE(q != nullptr);
  CHECK(strata_tier_of(q) >= 0);
  CHECK(q[0] == 'x');
  CHECK(q[999] == 'x');
  free(q);
  free(lm(64));  // plain foreign free
}

TEST_CASE("two tiers + file heap: size rules place, realloc moves", "[two_tiers]") {
  REQUIRE(strata_tier_count() == 3);
  CHECK(std::string(strata_tier_name(0)) == "dram");
  CHECK(std::string(strata_tier_name(1)) == "slow");
  CHECK(std::string(strata_tier_name(2)) == "file");
  CHECK(strata_tier_name(3) == nullptr);

  void* small = malloc(1000);
  void* mid = malloc(64 << 10);
  void* big = malloc(16 << 20);
  CHECK(strata_tier_of(small) == 0);
  CHECK(strata_tier_of(mid) == 1);
  CHECK(strata_tier_of(big) == 2);
  fill(big, 16 << 20, 3);
  CHECK(check(big, 16 << 20, 3));

  fill(small, 1000, 1);
  void* grown = realloc(small, 100 << 10);  // crosses 64K: moves to slow
  REQUIRE(grown != nullptr);
  CHECK(strata_tier_of(grown) == 1);
  CHECK(check(grown, 1000, 1));
  void* shrunk = realloc(grown, 500);  // back below 64K: moves to dram
  REQUIRE(shrunk != nullptr);
  CHECK(strata_tier_of(shrunk) == 0);
  CHECK(check(shrunk, 500, 1));
  CHECK(malloc_usable_size(mid) >= (64 << 10));
  CHECK(malloc_usable_size(big) >= (16 << 20));
  free(shrunk);
  free(mid);
  free(big);
}

TEST_CASE("two tiers: calloc zeroes reused memory, alignment holds on every tier", "[two_tiers]") {
  for (size_t size : {size_t{100} << 10, size_t{20} << 20}) {
    void* p = malloc(size);
    std::memset(p, 0xab, size);
    free(p);
    auto* z = static_cast<unsigned char*>(calloc(1, size));
    REQUIRE(z != nullptr);
    bool zero = true;
    for (size_t i = 0; i < size; i += 511) zero &= z[i] == 0;
    CHECK(zero);
    free(z);
  }
  for (size_t align : {size_t{64}, size_t{4096}, size_t{1} << 21}) {
    void* p = nullptr;
    REQUIRE(posix_memalign(&p, align, 128 << 10) == 0);
    CHECK(reinterpret_cast<uintptr_t>(p) % align == 0);
    CHECK(strata_tier_of(p) == 1);
    free(p);
    void* q = aligned_alloc(align, 32 << 20);
    REQUIRE(q != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(q) % align == 0);
    CHECK(strata_tier_of(q) == 2);
    free(q);
  }
}

TEST_CASE("two tiers: a full tier spills to the next, contents intact", "[two_tiers]") {
  // slow has cap=96M (file 256M, dram 64M): 160 MiB of 64 KiB blocks must spill.
  constexpr size_t kBlock = 64 << 10;
  constexpr int kCount = 2560;
  std::vector<void*> blocks;
  size_t per_tier[3] = {0, 0, 0};
  for (int i = 0; i < kCount; ++i) {
    void* p = malloc(kBlock);
    REQUIRE(p != nullptr);
    int t = strata_tier_of(p);
    REQUIRE(t >= 0);
    REQUIRE(t <= 2);
    per_tier[t] += kBlock;
    fill(p, kBlock, static_cast<unsigned char>(i));
    blocks.push_back(p);
  }
  INFO("dram " << (per_tier[0] >> 20) << " MiB, slow " << (per_tier[1] >> 20) << " MiB, file "
               << (per_tier[2] >> 20) << " MiB");
  CHECK(per_tier[1] <= (96u << 20));
  CHECK(per_tier[1] >= (80u << 20));
  CHECK(per_tier[2] > 0);  // spilled to the next tier first
  WARN("dram " << (per_tier[0] >> 20) << " MiB, slow " << (per_tier[1] >> 20) << " MiB, file "
               << (per_tier[2] >> 20) << " MiB");
  bool intact = true;
  for (int i = 0; i < kCount; ++i)
    intact &= check(blocks[i], kBlock, static_cast<unsigned char>(i));
  CHECK(intact);
  std::string stats = stats_text();
  INFO(stats);
  CHECK(stats.find("slow") != std::string::npos);
  for (void* p : blocks) free(p);
}

TEST_CASE("two tiers: threads allocate on both tiers and free each other's blocks", "[two_tiers]") {
  constexpr int kThreads = 4;
  constexpr int kPer = 400;  // 4 x 200 x 70 KiB = 56 MiB: fits the slow tier
  std::vector<std::vector<void*>> made(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([t, &made] {
      for (int i = 0; i < kPer; ++i) {
        size_t sz = (i % 2) != 0 ? 100 : (70 << 10);
        void* p = malloc(sz);
        if (p == nullptr) std::abort();
        fill(p, sz, static_cast<unsigned char>(t + i));
        made[t].push_back(p);
      }
    });
  }
  for (auto& th : ts) th.join();
  ts.clear();
  std::atomic<int> bad{0};
  std::atomic<int> elsewhere{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([t, &made, &bad, &elsewhere] {
      auto& v = made[(t + 1) % kThreads];  // the neighbour's blocks
      for (int i = 0; i < kPer; ++i) {
        size_t sz = (i % 2) != 0 ? 100 : (70 << 10);
        int want = (i % 2) != 0 ? 0 : 1;
        int got = strata_tier_of(v[i]);
        if (got < 0 || !check(v[i], sz, static_cast<unsigned char>((t + 1) % kThreads + i))) bad++;
        if (got != want) elsewhere++;
        free(v[i]);
      }
    });
  }
  for (auto& th : ts) th.join();
  CHECK(bad.load() == 0);
  // The spill test above left the capped slow tier fragmented (jemalloc keeps
  // freed extents per size); a few blocks may have spilled, most must not.
  INFO(elsewhere.load() << " of " << kThreads * kPer << " blocks off their tier");
  CHECK(elsewhere.load() <= kThreads * kPer / 8);
}
