// Every operator new/delete variant and every malloc-family function, with the
// semantics glibc and libstdc++ give them. Prints a deterministic summary and
// exits non-zero on any failure, so it runs identically with and without strata
// (compare.sh).
//
//   newdelete                 semantics only
//   newdelete --check-tiers   also requires strata with STRATA_TIERS="dram:...;slow:..."
//                             and STRATA_POLICY="size>=4K -> slow": every entry point
//                             must place small blocks on tier 0 and >= 4 KiB on 'slow'
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>

#include "common.h"

using it::aligned;
using it::escape;

namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

const size_t kSizes[] = {1,    8,    15,   16,    24,         100,     1000,
                         4095, 4096, 5000, 65536, 200 * kKiB, 3 * kMiB};
const size_t kAligns[] = {16, 32, 64, 256, 4096, 65536, 2 * kMiB};

bool g_check_tiers = false;
it::StrataApi g_api;
int g_slow = -1;

// Alignment new/malloc promise for `size` bytes without an explicit alignment:
// 16 (__STDCPP_DEFAULT_NEW_ALIGNMENT__, max_align_t), or for smaller blocks the
// largest power of two not above the size.
size_t natural_align(size_t size) {
  size_t a = 16;
  while (a > 1 && a > size) a >>= 1;
  return a;
}

// Fills, checks and returns true when the whole block is usable.
bool use_block(void* p, size_t n, uint8_t v) {
  if (p == nullptr) return false;
  std::memset(p, v, n);
  escape(p);
  const auto* b = static_cast<const uint8_t*>(p);
  return n == 0 || (b[0] == v && b[n / 2] == v && b[n - 1] == v);
}

// Expected tier of a block of `size` bytes under "size>=4K -> slow".
void check_tier(const void* p, size_t size, const char* what) {
  if (!g_check_tiers) return;
  int want = size >= 4096 ? g_slow : 0;
  int got = g_api.tier_of(p);
  IT_CHECK(got == want, "%s(%zu): strata_tier_of = %d, expected %d", what, size, got, want);
}

int g_section_failures = 0;
void section(const char* name) {
  std::printf("%-28s %s\n", name, it::g_failures == g_section_failures ? "ok" : "FAILED");
  g_section_failures = it::g_failures;
}

void test_plain_new() {
  for (size_t n : kSizes) {
    void* p = ::operator new(n);
    IT_CHECK(aligned(p, natural_align(n)), "operator new(%zu) misaligned", n);
    IT_CHECK(use_block(p, n, 0x11), "operator new(%zu) block not usable", n);
    IT_CHECK(malloc_usable_size(p) >= n, "operator new(%zu): usable size %zu", n,
             malloc_usable_size(p));
    check_tier(p, n, "operator new");
    if (n % 2)
      ::operator delete(p);
    else
      ::operator delete(p, n);  // sized delete
    void* q = ::operator new[](n);
    IT_CHECK(aligned(q, natural_align(n)), "operator new[](%zu) misaligned", n);
    IT_CHECK(use_block(q, n, 0x12), "operator new[](%zu) block not usable", n);
    check_tier(q, n, "operator new[]");
    if (n % 2)
      ::operator delete[](q);
    else
      ::operator delete[](q, n);  // sized delete[]
  }
  // new/delete expressions, including arrays of class type (cookie) and sized delete.
  struct Obj {
    int a[25];
    Obj() { a[0] = 7; }
  };
  Obj* o = new Obj;
  IT_CHECK(o->a[0] == 7, "new Obj");
  delete o;
  Obj* arr = new Obj[300];  // > 4 KiB with the array cookie
  IT_CHECK(arr[299].a[0] == 7, "new Obj[300]");
  delete[] arr;
  section("new/delete plain");
}

void test_nothrow_new() {
  for (size_t n : kSizes) {
    void* p = ::operator new(n, std::nothrow);
    IT_CHECK(p != nullptr && aligned(p, natural_align(n)), "new(%zu, nothrow)", n);
    IT_CHECK(use_block(p, n, 0x21), "new(%zu, nothrow) block not usable", n);
    check_tier(p, n, "operator new(nothrow)");
    ::operator delete(p, std::nothrow);
    void* q = ::operator new[](n, std::nothrow);
    IT_CHECK(q != nullptr && aligned(q, natural_align(n)), "new[](%zu, nothrow)", n);
    IT_CHECK(use_block(q, n, 0x22), "new[](%zu, nothrow) block not usable", n);
    ::operator delete[](q, std::nothrow);
  }
  section("new/delete nothrow");
}

void test_aligned_new() {
  for (size_t a : kAligns) {
    for (size_t n : {size_t{1}, size_t{100}, size_t{5000}, 3 * kMiB}) {
      auto al = static_cast<std::align_val_t>(a);
      void* p = ::operator new(n, al);
      IT_CHECK(aligned(p, a), "new(%zu, align %zu) misaligned", n, a);
      IT_CHECK(use_block(p, n, 0x31), "new(%zu, align %zu) not usable", n, a);
      IT_CHECK(malloc_usable_size(p) >= n, "new(%zu, align %zu) usable size %zu", n, a,
               malloc_usable_size(p));
      check_tier(p, n, "operator new(align)");
      if (n == 1)
        ::operator delete(p, al);
      else
        ::operator delete(p, n, al);  // aligned + sized
      void* q = ::operator new[](n, al);
      IT_CHECK(aligned(q, a), "new[](%zu, align %zu) misaligned", n, a);
      IT_CHECK(use_block(q, n, 0x32), "new[](%zu, align %zu) not usable", n, a);
      if (n == 1)
        ::operator delete[](q, al);
      else
        ::operator delete[](q, n, al);
      void* r = ::operator new(n, al, std::nothrow);
      IT_CHECK(r != nullptr && aligned(r, a), "new(%zu, align %zu, nothrow)", n, a);
      IT_CHECK(use_block(r, n, 0x33), "new(%zu, align %zu, nothrow) not usable", n, a);
      check_tier(r, n, "operator new(align, nothrow)");
      ::operator delete(r, al, std::nothrow);
      void* s = ::operator new[](n, al, std::nothrow);
      IT_CHECK(s != nullptr && aligned(s, a), "new[](%zu, align %zu, nothrow)", n, a);
      IT_CHECK(use_block(s, n, 0x34), "new[](%zu, align %zu, nothrow) not usable", n, a);
      ::operator delete[](s, al, std::nothrow);
    }
  }
  // Over-aligned types through new expressions (the compiler picks the aligned operators).
  struct alignas(64) Line {
    char b[64];
  };
  struct alignas(4096) Page {
    char b[4096];
  };
  struct alignas(2 * 1024 * 1024) Huge {
    char b[100];
  };
  Line* l = new Line[10];
  IT_CHECK(aligned(l, 64), "new Line[10] misaligned");
  delete[] l;
  Page* pg = new Page;
  IT_CHECK(aligned(pg, 4096), "new Page misaligned");
  check_tier(pg, sizeof(Page), "new Page");
  delete pg;
  Page* pgs = new Page[3];
  IT_CHECK(aligned(pgs, 4096), "new Page[3] misaligned");
  delete[] pgs;
  Huge* h = new Huge;
  IT_CHECK(aligned(h, 2 * kMiB), "new Huge (2 MiB aligned) misaligned");
  delete h;
  Huge* hn = new (std::nothrow) Huge;
  IT_CHECK(hn != nullptr && aligned(hn, 2 * kMiB), "new (nothrow) Huge");
  delete hn;
  section("new/delete aligned");
}

int g_handler_calls = 0;
void new_handler_once() {
  ++g_handler_calls;
  std::set_new_handler(nullptr);  // give up: the next failure throws
}

// A new-handler that throws: its exception goes through the allocator's
// frames to the program (the program's unwinder, strata's frames in between).
struct HandlerError {
  int code;
};
void new_handler_throws_bad_alloc() {
  ++g_handler_calls;
  throw std::bad_alloc();
}
void new_handler_throws_own() {
  ++g_handler_calls;
  throw HandlerError{42};
}

void test_new_failure() {
  volatile size_t huge = SIZE_MAX / 2;
  bool threw = false;
  try {
    void* p = ::operator new(huge);
    escape(p);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  IT_CHECK(threw, "operator new(SIZE_MAX/2) did not throw std::bad_alloc");
  threw = false;
  try {
    void* p = ::operator new[](huge);
    escape(p);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  IT_CHECK(threw, "operator new[](SIZE_MAX/2) did not throw std::bad_alloc");
  threw = false;
  try {
    void* p = ::operator new (huge, std::align_val_t{4096});
    escape(p);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  IT_CHECK(threw, "operator new(SIZE_MAX/2, align 4096) did not throw std::bad_alloc");
  threw = false;
  try {
    volatile size_t count = SIZE_MAX / 4;
    int* p = new int[count];
    escape(p);
  } catch (const std::bad_alloc&) {  // std::bad_array_new_length is a bad_alloc
    threw = true;
  }
  IT_CHECK(threw, "new int[SIZE_MAX/4] did not throw");

  IT_CHECK(::operator new(huge, std::nothrow) == nullptr, "new(huge, nothrow) != nullptr");
  IT_CHECK(::operator new[](huge, std::nothrow) == nullptr, "new[](huge, nothrow) != nullptr");
  IT_CHECK(::operator new (huge, std::align_val_t{64}, std::nothrow) == nullptr,
           "new(huge, align 64, nothrow) != nullptr");
  IT_CHECK(::operator new[](huge, std::align_val_t{2 * kMiB}, std::nothrow) == nullptr,
           "new[](huge, align 2M, nothrow) != nullptr");
  volatile size_t tb = size_t{1} << 50;  // 1 PiB: larger than any address-space reservation
  IT_CHECK(::operator new(tb, std::nothrow) == nullptr, "new(1 PiB, nothrow) != nullptr");

  // The new-handler is called, then (uninstalled) the failure throws.
  g_handler_calls = 0;
  std::set_new_handler(new_handler_once);
  threw = false;
  try {
    void* p = ::operator new(huge);
    escape(p);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  IT_CHECK(threw && g_handler_calls == 1, "new-handler: threw=%d, handler calls=%d (expected 1)",
           threw, g_handler_calls);
  g_handler_calls = 0;
  std::set_new_handler(new_handler_once);
  void* p = ::operator new(huge, std::nothrow);
  IT_CHECK(p == nullptr && g_handler_calls == 1, "nothrow new-handler: calls=%d (expected 1)",
           g_handler_calls);
  // The nothrow forms catch a handler's bad_alloc and return nullptr.
  std::set_new_handler(new_handler_throws_bad_alloc);
  g_handler_calls = 0;
  p = ::operator new(huge, std::nothrow);
  void* pa = ::operator new (huge, std::align_val_t{64}, std::nothrow);
  IT_CHECK(p == nullptr && pa == nullptr && g_handler_calls == 2,
           "nothrow new with a throwing new-handler: calls=%d (expected 2)", g_handler_calls);
  // Any other exception from the handler reaches the caller of the throwing forms.
  std::set_new_handler(new_handler_throws_own);
  int code = 0;
  try {
    void* q = ::operator new[](huge);
    escape(q);
  } catch (const HandlerError& e) {
    code = e.code;
  }
  IT_CHECK(code == 42, "new-handler's own exception through operator new[]: code %d", code);
  std::set_new_handler(nullptr);
  section("new failure");
}

void test_malloc_free() {
  for (size_t n : kSizes) {
    void* p = std::malloc(n);
    IT_CHECK(p != nullptr && aligned(p, natural_align(n)), "malloc(%zu)", n);
    IT_CHECK(malloc_usable_size(p) >= n, "malloc(%zu): usable size %zu", n, malloc_usable_size(p));
    IT_CHECK(use_block(p, malloc_usable_size(p), 0x41), "malloc(%zu): usable bytes not writable",
             n);
    check_tier(p, n, "malloc");
    std::free(p);
  }
  // malloc(0): a unique, freeable, non-NULL pointer.
  void* z1 = std::malloc(0);
  void* z2 = std::malloc(0);
  IT_CHECK(z1 != nullptr && z2 != nullptr, "malloc(0) returned NULL");
  IT_CHECK(z1 != z2, "two malloc(0) calls returned the same pointer");
  std::free(z1);
  std::free(z2);
  std::free(nullptr);
  // Failure: ENOMEM.
  volatile size_t huge = SIZE_MAX;
  errno = 0;
  IT_CHECK(std::malloc(huge) == nullptr && errno == ENOMEM, "malloc(SIZE_MAX): errno %d", errno);
  volatile size_t pb = size_t{1} << 50;
  errno = 0;
  IT_CHECK(std::malloc(pb) == nullptr && errno == ENOMEM, "malloc(1 PiB): errno %d", errno);
  section("malloc/free");
}

void test_calloc() {
  for (size_t n : kSizes) {
    // Dirty a block of the same size first so that calloc is likely to reuse it.
    void* d = std::malloc(n);
    std::memset(d, 0xAB, n);
    escape(d);
    std::free(d);
    auto* p = static_cast<uint8_t*>(std::calloc(n, 1));
    IT_CHECK(p != nullptr, "calloc(%zu, 1) returned NULL", n);
    size_t nz = 0;
    for (size_t i = 0; i < n; ++i) nz += p[i] != 0;
    IT_CHECK(nz == 0, "calloc(%zu, 1): %zu non-zero bytes", n, nz);
    check_tier(p, n, "calloc");
    std::free(p);
    auto* q = static_cast<uint32_t*>(std::calloc(n, 4));
    nz = 0;
    for (size_t i = 0; i < n; ++i) nz += q[i] != 0;
    IT_CHECK(q != nullptr && nz == 0, "calloc(%zu, 4): %zu non-zero words", n, nz);
    std::free(q);
  }
  void* z = std::calloc(0, 0);
  IT_CHECK(z != nullptr, "calloc(0, 0) returned NULL");
  std::free(z);
  volatile size_t a = SIZE_MAX / 2;
  volatile size_t b = 4;
  errno = 0;
  IT_CHECK(std::calloc(a, b) == nullptr && errno == ENOMEM, "calloc overflow: errno %d", errno);
  errno = 0;
  IT_CHECK(std::calloc(b, a) == nullptr && errno == ENOMEM, "calloc overflow (swapped): errno %d",
           errno);
  section("calloc");
}

void test_realloc() {
  // Grow and shrink chains: the common prefix must survive every step.
  const size_t chain[] = {1, 10, 100, 1000, 5000, 100000, kMiB, 10 * kMiB, 3000, 20, 4 * kMiB, 7};
  char* p = nullptr;
  size_t cur = 0;
  uint64_t id = 1;
  for (size_t n : chain) {
    char* q = static_cast<char*>(std::realloc(p, n));
    IT_CHECK(q != nullptr, "realloc(%zu -> %zu) returned NULL", cur, n);
    if (q == nullptr) break;
    size_t keep = cur < n ? cur : n;
    size_t bad = it::check_pattern(q, keep, id, cur);
    IT_CHECK(bad == keep, "realloc(%zu -> %zu): byte %zu of %zu changed", cur, n, bad, keep);
    check_tier(q, n, "realloc");
    IT_CHECK(malloc_usable_size(q) >= n, "realloc(.., %zu): usable size %zu", n,
             malloc_usable_size(q));
    ++id;
    it::fill_pattern(q, n, id, n);
    p = q;
    cur = n;
  }
  std::free(p);
  // realloc(NULL, n) is malloc(n).
  void* m = std::realloc(nullptr, 5000);
  IT_CHECK(m != nullptr && use_block(m, 5000, 1), "realloc(NULL, 5000)");
  check_tier(m, 5000, "realloc(NULL)");
  // realloc(p, 0) frees p and returns NULL (glibc).
  IT_CHECK(std::realloc(m, 0) == nullptr, "realloc(p, 0) did not return NULL");
  void* s = std::malloc(10);
  IT_CHECK(std::realloc(s, 0) == nullptr, "realloc(small, 0) did not return NULL");
  // Failure leaves the block intact.
  char* f = static_cast<char*>(std::malloc(100));
  std::memset(f, 0x5A, 100);
  volatile size_t huge = SIZE_MAX / 2;
  errno = 0;
  IT_CHECK(std::realloc(f, huge) == nullptr && errno == ENOMEM, "realloc(p, huge): errno %d",
           errno);
  IT_CHECK(f[0] == 0x5A && f[99] == 0x5A, "failed realloc changed the block");
  // reallocarray
  char* r = static_cast<char*>(reallocarray(f, 1000, 10));
  IT_CHECK(r != nullptr && r[0] == 0x5A && r[99] == 0x5A, "reallocarray(p, 1000, 10)");
  check_tier(r, 10000, "reallocarray");
  errno = 0;
  volatile size_t big = SIZE_MAX / 8;
  char* volatile keep = r;  // still valid after the failed call (hidden from -Wuse-after-free)
  IT_CHECK(reallocarray(r, big, 16) == nullptr && errno == ENOMEM,
           "reallocarray overflow: errno %d", errno);
  IT_CHECK(keep[0] == 0x5A && keep[99] == 0x5A, "reallocarray overflow changed the block");
  std::free(keep);
  section("realloc/reallocarray");
}

void test_aligned_c() {
  // posix_memalign
  for (size_t a :
       {size_t{8}, size_t{16}, size_t{32}, size_t{64}, size_t{4096}, size_t{65536}, 2 * kMiB}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{8192}, kMiB}) {
      void* p = nullptr;
      int r = posix_memalign(&p, a, n);
      IT_CHECK(r == 0 && p != nullptr && aligned(p, a), "posix_memalign(%zu, %zu) = %d", a, n, r);
      if (r != 0) continue;
      IT_CHECK(malloc_usable_size(p) >= n, "posix_memalign(%zu, %zu): usable %zu", a, n,
               malloc_usable_size(p));
      use_block(p, n, 0x51);
      if (n != 0) check_tier(p, n, "posix_memalign");
      std::free(p);
    }
  }
  void* sentinel = reinterpret_cast<void*>(0x1234);
  for (size_t a :
       {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{24}, size_t{100}, size_t{4097}}) {
    void* p = sentinel;
    int r = posix_memalign(&p, a, 64);
    IT_CHECK(r == EINVAL, "posix_memalign(bad alignment %zu) = %d, expected EINVAL", a, r);
    IT_CHECK(p == sentinel, "posix_memalign(bad alignment %zu) changed *memptr", a);
  }
  void* p = nullptr;
  volatile size_t huge = SIZE_MAX / 2;
  IT_CHECK(posix_memalign(&p, 64, huge) == ENOMEM, "posix_memalign(64, huge) != ENOMEM");
  // Failures of the other aligned allocators: NULL and errno ENOMEM.
  errno = 0;
  IT_CHECK(aligned_alloc(64, huge) == nullptr && errno == ENOMEM,
           "aligned_alloc(64, huge): errno %d", errno);
  errno = 0;
  IT_CHECK(memalign(4096, huge) == nullptr && errno == ENOMEM, "memalign(4096, huge): errno %d",
           errno);
  errno = 0;
  IT_CHECK(valloc(huge) == nullptr && errno == ENOMEM, "valloc(huge): errno %d", errno);
  errno = 0;
  volatile size_t max = SIZE_MAX;
  IT_CHECK(pvalloc(max) == nullptr && errno == ENOMEM, "pvalloc(SIZE_MAX): errno %d", errno);
  // aligned_alloc (C11), memalign, valloc, pvalloc
  for (size_t a : {size_t{16}, size_t{64}, size_t{4096}, 2 * kMiB}) {
    void* q = aligned_alloc(a, a * 3);
    IT_CHECK(q != nullptr && aligned(q, a), "aligned_alloc(%zu, %zu)", a, a * 3);
    IT_CHECK(use_block(q, a * 3, 0x52), "aligned_alloc(%zu) not usable", a);
    check_tier(q, a * 3, "aligned_alloc");
    std::free(q);
    void* m = memalign(a, 1000);
    IT_CHECK(m != nullptr && aligned(m, a), "memalign(%zu, 1000)", a);
    IT_CHECK(malloc_usable_size(m) >= 1000, "memalign(%zu, 1000): usable %zu", a,
             malloc_usable_size(m));
    check_tier(m, 1000, "memalign");
    std::free(m);
  }
  void* m48 = memalign(48, 100);  // not a power of two: glibc rounds up to 64
  IT_CHECK(m48 != nullptr && aligned(m48, 64), "memalign(48, 100)");
  std::free(m48);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (size_t n : {size_t{1}, size_t{100}, page, page + 1, 3 * page + 17, kMiB}) {
    void* v = valloc(n);
    IT_CHECK(v != nullptr && aligned(v, page), "valloc(%zu)", n);
    IT_CHECK(use_block(v, n, 0x53), "valloc(%zu) not usable", n);
    std::free(v);
    void* pv = pvalloc(n);
    size_t rounded = (n + page - 1) & ~(page - 1);
    IT_CHECK(pv != nullptr && aligned(pv, page), "pvalloc(%zu)", n);
    IT_CHECK(malloc_usable_size(pv) >= rounded, "pvalloc(%zu): usable %zu < %zu", n,
             malloc_usable_size(pv), rounded);
    IT_CHECK(use_block(pv, rounded, 0x54), "pvalloc(%zu): rounded size not usable", n);
    std::free(pv);
  }
  void* pv0 = pvalloc(0);
  IT_CHECK(pv0 != nullptr && aligned(pv0, page), "pvalloc(0)");
  std::free(pv0);
  IT_CHECK(malloc_usable_size(nullptr) == 0, "malloc_usable_size(NULL) != 0");
  section("aligned C allocation");
}

void test_tier_api() {
  if (!g_check_tiers) return;
  IT_CHECK(g_api.tier_count() == 2, "strata_tier_count() = %d, expected 2", g_api.tier_count());
  int local = 0;
  IT_CHECK(g_api.tier_of(&local) == -1, "strata_tier_of(stack) = %d", g_api.tier_of(&local));
  IT_CHECK(g_api.tier_of(nullptr) == -1, "strata_tier_of(NULL) = %d", g_api.tier_of(nullptr));
  IT_CHECK(g_api.tier_name(2) == nullptr && g_api.tier_name(-1) == nullptr,
           "strata_tier_name out of range");
  void* big = std::malloc(kMiB);
  std::memset(big, 1, kMiB);
  if (g_api.node_of != nullptr)
    IT_CHECK(g_api.node_of(big) >= 0, "strata_node_of(touched block) = %d", g_api.node_of(big));
  std::free(big);
  section("strata API");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check-tiers") == 0) {
      g_check_tiers = true;
    } else {
      std::fprintf(stderr, "usage: %s [--check-tiers]\n", argv[0]);
      return 2;
    }
  }
  if (g_check_tiers) {
    g_api = it::strata_api();
    if (!g_api.loaded()) {
      std::printf("FAIL: --check-tiers: strata is not loaded (strata_tier_of not found)\n");
      return 1;
    }
    g_slow = g_api.tier_by_name("slow");
    if (g_slow != 1) {
      std::printf("FAIL: --check-tiers: expected tier 1 named 'slow' (STRATA_TIERS), got %d\n",
                  g_slow);
      return 1;
    }
  }
  test_plain_new();
  test_nothrow_new();
  test_aligned_new();
  test_new_failure();
  test_malloc_free();
  test_calloc();
  test_realloc();
  test_aligned_c();
  test_tier_api();
  std::printf("newdelete: %d checks, %d failures\n", it::g_checks, it::g_failures);
  return it::g_failures == 0 ? 0 : 1;
}
