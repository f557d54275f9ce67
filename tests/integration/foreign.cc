// Foreign pointers: blocks allocated by glibc's own malloc (looked up with
// dlopen("libc.so.6", RTLD_NOLOAD) + dlsym, so it bypasses the interposed
// malloc), then freed, realloc'ed and measured through the normal (interposed)
// functions. Must not crash; realloc must preserve the contents. Without
// strata the same calls simply go to glibc: stdout is identical.
//
//   foreign [--check-tiers]   with strata in two-tier mode ("size>=4K -> slow"):
//                             also check where realloc moves foreign blocks
#include <dlfcn.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace {

using MallocFn = void* (*)(size_t);
using CallocFn = void* (*)(size_t, size_t);
using MemalignFn = void* (*)(size_t, size_t);

}  // namespace

int main(int argc, char** argv) {
  bool check_tiers = argc > 1 && std::strcmp(argv[1], "--check-tiers") == 0;
  void* libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
  if (libc == nullptr) {
    std::printf("FAIL: dlopen(libc.so.6, RTLD_NOLOAD): %s\n", dlerror());
    return 1;
  }
  auto real_malloc = reinterpret_cast<MallocFn>(dlsym(libc, "malloc"));
  auto real_calloc = reinterpret_cast<CallocFn>(dlsym(libc, "calloc"));
  auto real_memalign = reinterpret_cast<MemalignFn>(dlsym(libc, "memalign"));
  if (real_malloc == nullptr || real_calloc == nullptr || real_memalign == nullptr) {
    std::printf("FAIL: dlsym in libc.so.6: %s\n", dlerror());
    return 1;
  }
  it::StrataApi api = it::strata_api();
  if (check_tiers && !api.loaded()) {
    std::printf("FAIL: --check-tiers: strata is not loaded\n");
    return 1;
  }
  if (api.loaded()) {
    void* probe = real_malloc(64);
    IT_CHECK(api.tier_of(probe) == -1, "strata_tier_of(glibc block) = %d, expected -1",
             api.tier_of(probe));
    std::free(probe);
  }

  // free(): small, medium, mmap-sized (glibc serves >= 128 KiB with mmap) blocks.
  const size_t sizes[] = {1, 24, 100, 1000, 4096, 10000, 200000, 2 << 20};
  for (size_t n : sizes) {
    void* p = real_malloc(n);
    IT_CHECK(p != nullptr, "glibc malloc(%zu) failed", n);
    std::memset(p, 0x3C, n);
    IT_CHECK(malloc_usable_size(p) >= n, "malloc_usable_size(glibc block of %zu) = %zu", n,
             malloc_usable_size(p));
    std::free(p);
  }
  std::printf("free of glibc blocks: %s\n", it::g_failures == 0 ? "ok" : "FAILED");

  // realloc(): grow and shrink, contents preserved, result usable and freeable.
  int before = it::g_failures;
  const size_t targets[] = {8, 50, 3000, 5000, 100000, 3 << 20};
  uint64_t id = 1;
  for (size_t n : sizes) {
    for (size_t m : targets) {
      auto* p = static_cast<unsigned char*>(real_malloc(n));
      it::fill_pattern(p, n, id, n);
      auto* q = static_cast<unsigned char*>(std::realloc(p, m));
      IT_CHECK(q != nullptr, "realloc(glibc block of %zu, %zu) returned NULL", n, m);
      if (q == nullptr) continue;
      size_t keep = n < m ? n : m;
      size_t bad = it::check_pattern(q, keep, id, n);
      IT_CHECK(bad == keep, "realloc(glibc block of %zu, %zu): byte %zu changed", n, m, bad);
      IT_CHECK(malloc_usable_size(q) >= m, "realloc(glibc %zu, %zu): usable size %zu", n, m,
               malloc_usable_size(q));
      std::memset(q, 0x77, m);
      if (check_tiers) {
        int want = m >= 4096 ? 1 : 0;
        IT_CHECK(api.tier_of(q) == want, "realloc(glibc %zu, %zu) -> tier %d, expected %d", n, m,
                 api.tier_of(q), want);
      }
      // Grow it again through strata before freeing.
      q = static_cast<unsigned char*>(std::realloc(q, m * 2));
      IT_CHECK(q != nullptr && q[m - 1] == 0x77, "second realloc of a former glibc block");
      std::free(q);
      ++id;
    }
  }
  std::printf("realloc of glibc blocks: %s\n", it::g_failures == before ? "ok" : "FAILED");

  // calloc'ed and memalign'ed glibc blocks; realloc(p, 0) frees.
  before = it::g_failures;
  auto* z = static_cast<unsigned char*>(real_calloc(1000, 8));
  z = static_cast<unsigned char*>(std::realloc(z, 20000));
  bool zero = z != nullptr;
  for (size_t i = 0; z != nullptr && i < 8000; ++i) zero &= z[i] == 0;
  IT_CHECK(zero, "realloc of a glibc calloc block lost its zeroes");
  std::free(z);
  void* a = real_memalign(4096, 5000);
  IT_CHECK(a != nullptr && it::aligned(a, 4096), "glibc memalign");
  std::memset(a, 0x11, 5000);
  IT_CHECK(malloc_usable_size(a) >= 5000, "malloc_usable_size(glibc memalign block) = %zu",
           malloc_usable_size(a));
  a = std::realloc(a, 9000);
  IT_CHECK(a != nullptr && static_cast<unsigned char*>(a)[4999] == 0x11,
           "realloc of a glibc memalign block");
  std::free(a);
  void* r0 = real_malloc(300);
  IT_CHECK(std::realloc(r0, 0) == nullptr, "realloc(glibc block, 0) != NULL");
  char* dup =
      strdup("strdup'ed by glibc internally or not");  // whoever allocated it, free must cope
  std::free(dup);
  std::printf("calloc/memalign/realloc(p, 0) of glibc blocks: %s\n",
              it::g_failures == before ? "ok" : "FAILED");

  // Many foreign frees interleaved with strata allocations.
  before = it::g_failures;
  void* mine[100];
  void* theirs[100];
  for (int i = 0; i < 100; ++i) {
    mine[i] = std::malloc(static_cast<size_t>(16 + i * 61));
    theirs[i] = real_malloc(static_cast<size_t>(16 + i * 61));
  }
  for (int i = 0; i < 100; ++i) {
    std::free(theirs[i]);
    std::free(mine[i]);
  }
  std::printf("interleaved: %s\n", it::g_failures == before ? "ok" : "FAILED");
  std::printf("foreign: %d failures\n", it::g_failures);
  return it::g_failures == 0 ? 0 : 1;
}
