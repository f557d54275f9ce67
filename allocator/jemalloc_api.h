// Declarations of the private jemalloc's renamed entry points (see
// jemalloc.redefine) and the parts of its ABI strata uses. jemalloc's own
// header is not included: it would declare malloc & co., which strata defines.
#pragma once

#include <cstddef>

extern "C" {
void* strata_je_malloc(size_t size) noexcept;
void* strata_je_calloc(size_t n, size_t size) noexcept;
void* strata_je_realloc(void* p, size_t size) noexcept;
void strata_je_free(void* p) noexcept;
int strata_je_posix_memalign(void** out, size_t align, size_t size) noexcept;
void* strata_je_aligned_alloc(size_t align, size_t size) noexcept;
size_t strata_je_malloc_usable_size(void* p) noexcept;
void* strata_je_mallocx(size_t size, int flags) noexcept;
void* strata_je_rallocx(void* p, size_t size, int flags) noexcept;
void strata_je_dallocx(void* p, int flags) noexcept;
size_t strata_je_sallocx(const void* p, int flags) noexcept;
int strata_je_mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp,
                      size_t newlen) noexcept;
int strata_je_mallctlnametomib(const char* name, size_t* mibp, size_t* miblenp) noexcept;
int strata_je_mallctlbymib(const size_t* mib, size_t miblen, void* oldp, size_t* oldlenp,
                           void* newp, size_t newlen) noexcept;

// jemalloc 5 extent hooks (jemalloc/jemalloc.h, "struct extent_hooks_s").
struct extent_hooks_s;
typedef struct extent_hooks_s extent_hooks_t;
typedef void*(extent_alloc_t)(extent_hooks_t*, void*, size_t, size_t, bool*, bool*, unsigned);
typedef bool(extent_dalloc_t)(extent_hooks_t*, void*, size_t, bool, unsigned);
typedef void(extent_destroy_t)(extent_hooks_t*, void*, size_t, bool, unsigned);
typedef bool(extent_commit_t)(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned);
typedef bool(extent_decommit_t)(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned);
typedef bool(extent_purge_t)(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned);
typedef bool(extent_split_t)(extent_hooks_t*, void*, size_t, size_t, size_t, bool, unsigned);
typedef bool(extent_merge_t)(extent_hooks_t*, void*, size_t, void*, size_t, bool, unsigned);
struct extent_hooks_s {
  extent_alloc_t* alloc;
  extent_dalloc_t* dalloc;
  extent_destroy_t* destroy;
  extent_commit_t* commit;
  extent_decommit_t* decommit;
  extent_purge_t* purge_lazy;
  extent_purge_t* purge_forced;
  extent_split_t* split;
  extent_merge_t* merge;
};
}

namespace strata::je {
constexpr int align_flag(size_t a) {
  return __builtin_ctzl(a);
}  // MALLOCX_ALIGN
constexpr int kZero = 0x40;  // MALLOCX_ZERO
constexpr int tcache_flag(int tc) {
  return (tc + 2) << 8;
}  // MALLOCX_TCACHE
constexpr int kTcacheNone = tcache_flag(-1);  // MALLOCX_TCACHE_NONE
constexpr int arena_flag(unsigned a) {
  return static_cast<int>((a + 1) << 20);
}  // MALLOCX_ARENA
}  // namespace strata::je

extern "C" {
size_t strata_je_xallocx(void* p, size_t size, size_t extra, int flags) noexcept;
size_t strata_je_nallocx(size_t size, int flags) noexcept;
}
