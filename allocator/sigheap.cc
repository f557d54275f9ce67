#include "allocator/sigheap.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "base/sys.h"

namespace strata::sigheap {
namespace {

// 64 GiB of address space, PROT_NONE until carved (so nothing is committed).
constexpr uintptr_t kReserve = uintptr_t{64} << 30;
constexpr unsigned kMinShift = 5;  // smallest block: 32 bytes, header included
constexpr int kClasses = 31;       // up to 2^35 bytes, the reservation's half
constexpr uint64_t kMagic = 0x5a6e0000ULL;
constexpr uintptr_t kPage = sys::kPageSize;

constinit std::atomic<uintptr_t> g_lo{0};
// Next unused byte, as an offset from g_lo; 16 so that offset 0 is never a block.
constinit std::atomic<uintptr_t> g_bump{16};
// Free list heads: (tag << 32) | (offset of the block >> 4); 0 = empty.
constinit std::atomic<uint64_t> g_free[kClasses] = {};
// Deferred frees: each block's first word links to the next.
constinit std::atomic<void*> g_deferred{nullptr};

// The header just below each block a caller sees.
struct Header {
  uintptr_t base;  // where the power-of-two block starts
  uint64_t tag;    // kMagic | size class
};

uintptr_t reserve() {
  uintptr_t lo = g_lo.load(std::memory_order_acquire);
  if (lo != 0) return lo;
  void* p = strata_sys_mmap(nullptr, kReserve, PROT_NONE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return 0;
  uintptr_t expected = 0;
  if (!g_lo.compare_exchange_strong(expected, reinterpret_cast<uintptr_t>(p),
                                    std::memory_order_acq_rel)) {
    strata_sys_munmap(p, kReserve);  // another thread reserved first
    return expected;
  }
  return reinterpret_cast<uintptr_t>(p);
}

int class_of(size_t need) {
  int c = 0;
  while ((uintptr_t{1} << (c + kMinShift)) < need) {
    if (++c == kClasses) return -1;
  }
  return c;
}

uintptr_t pop(uintptr_t lo, int c) {
  uint64_t old = g_free[c].load(std::memory_order_acquire);
  for (;;) {
    const uint64_t off16 = old & 0xffffffffULL;
    if (off16 == 0) return 0;
    const uintptr_t base = lo + (off16 << 4);
    // The block may be popped and reused meanwhile: the tag then fails the CAS.
    const uint64_t next = __atomic_load_n(reinterpret_cast<uint64_t*>(base), __ATOMIC_RELAXED);
    const uint64_t want = (((old >> 32) + 1) << 32) | (next & 0xffffffffULL);
    if (g_free[c].compare_exchange_weak(old, want, std::memory_order_acq_rel)) return base;
  }
}

void push(uintptr_t lo, int c, uintptr_t base) {
  const uint64_t off16 = (base - lo) >> 4;
  uint64_t old = g_free[c].load(std::memory_order_relaxed);
  do {
    __atomic_store_n(reinterpret_cast<uint64_t*>(base), old & 0xffffffffULL, __ATOMIC_RELAXED);
  } while (!g_free[c].compare_exchange_weak(old, (((old >> 32) + 1) << 32) | off16,
                                            std::memory_order_acq_rel));
}

uintptr_t carve(uintptr_t lo, uintptr_t bytes) {
  const uintptr_t off = g_bump.fetch_add(bytes, std::memory_order_relaxed);
  if (off + bytes > kReserve) return 0;
  const uintptr_t start = (lo + off) & ~(kPage - 1);
  const uintptr_t end = (lo + off + bytes + kPage - 1) & ~(kPage - 1);
  if (sys::mprotect(reinterpret_cast<void*>(start), end - start, PROT_READ | PROT_WRITE) != 0)
    return 0;
  return lo + off;
}

const Header* header_of(const void* p) {
  return reinterpret_cast<const Header*>(reinterpret_cast<uintptr_t>(p) - sizeof(Header));
}

}  // namespace

void* alloc(size_t size, size_t align, bool zero) {
  if (align < sizeof(Header)) align = sizeof(Header);
  const uintptr_t lo = reserve();
  size_t need = 0;
  if (lo == 0 || __builtin_add_overflow(size, align + sizeof(Header), &need)) {
    errno = ENOMEM;
    return nullptr;
  }
  const int c = class_of(need);
  if (c < 0) {
    errno = ENOMEM;
    return nullptr;
  }
  const uintptr_t bytes = uintptr_t{1} << (c + kMinShift);
  uintptr_t base = pop(lo, c);
  if (base == 0) base = carve(lo, bytes);
  if (base == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  const uintptr_t user = (base + sizeof(Header) + align - 1) & ~(uintptr_t{align} - 1);
  auto* h = reinterpret_cast<Header*>(user - sizeof(Header));
  h->base = base;
  h->tag = kMagic | static_cast<uint64_t>(c);
  if (zero) std::memset(reinterpret_cast<void*>(user), 0, base + bytes - user);
  return reinterpret_cast<void*>(user);
}

bool owns(const void* p) {
  const uintptr_t lo = g_lo.load(std::memory_order_relaxed);
  return lo != 0 && reinterpret_cast<uintptr_t>(p) - lo < kReserve;
}

void free(void* p) {
  const Header* h = header_of(p);
  const uint64_t c = h->tag & 0xffffULL;
  // Not a live block of this heap (a wrong or repeated free): left alone.
  if ((h->tag & ~0xffffULL) != kMagic || c >= kClasses || !owns(reinterpret_cast<void*>(h->base)))
    return;
  const uintptr_t base = h->base;
  reinterpret_cast<Header*>(reinterpret_cast<uintptr_t>(p) - sizeof(Header))->tag = 0;
  push(g_lo.load(std::memory_order_relaxed), static_cast<int>(c), base);
}

size_t usable(const void* p) {
  const Header* h = header_of(p);
  const uint64_t c = h->tag & 0xffffULL;
  if ((h->tag & ~0xffffULL) != kMagic || c >= kClasses) return 0;
  return h->base + (uintptr_t{1} << (c + kMinShift)) - reinterpret_cast<uintptr_t>(p);
}

void* realloc(void* p, size_t old_usable, size_t size) {
  if (p == nullptr) return alloc(size, 0, false);
  if (size == 0) {  // glibc frees and returns NULL
    if (owns(p)) {
      free(p);
    } else {
      defer_free(p);
    }
    return nullptr;
  }
  if (owns(p) && size <= old_usable) return p;
  void* q = alloc(size, 0, false);
  if (q == nullptr) return nullptr;
  std::memcpy(q, p, old_usable < size ? old_usable : size);
  if (owns(p)) {
    free(p);
  } else {
    defer_free(p);
  }
  return q;
}

void defer_free(void* p) {
  void* old = g_deferred.load(std::memory_order_relaxed);
  do {
    *static_cast<void**>(p) = old;
  } while (!g_deferred.compare_exchange_weak(old, p, std::memory_order_release,
                                             std::memory_order_relaxed));
}

bool has_deferred() {
  return g_deferred.load(std::memory_order_relaxed) != nullptr;
}

void* take_deferred() {
  return g_deferred.exchange(nullptr, std::memory_order_acquire);
}

}  // namespace strata::sigheap
