/* Address layout shared by the C++ heap code and the assembly entry points
 * (interpose/fastpath_x86_64.S), so this header is plain preprocessor.
 *
 * The tier heaps live in one reservation of STRATA_SLOTS slots of 1 TiB.
 * When the range is free, strata places it at a fixed address, slot 0 (the
 * tier-0 heap, jemalloc's automatic arenas) at STRATA_T0_KEY << 40, so that
 * free()'s fast path is "shift the pointer right by 40 and compare it with a
 * constant": measured, a compare with a constant instead of a variable is
 * what brings a 16-byte malloc/free pair to bare jemalloc's speed
 * (docs/benchmarks.md). 0x20 << 40 is 32 TiB, between the low addresses
 * (non-PIE programs, brk, sanitizer shadows below 16 TiB) and the ranges the
 * kernel hands out by default (PIE programs near 0x55..., mmap below 0x7f...).
 * If any of the range is taken, the reservation goes wherever the kernel puts
 * it and every free takes the checked slow path. */
#ifndef STRATA_ALLOCATOR_LAYOUT_H
#define STRATA_ALLOCATOR_LAYOUT_H

#define STRATA_T0_SHIFT 40
#define STRATA_T0_KEY 0x20

/* The values of strata_g_fast (heap::g_fast, heap::FastMode), compared with by
 * malloc's assembly fast path: the slow path; jemalloc directly; jemalloc
 * behind the profiler's per-thread countdown. */
#define STRATA_FAST_OFF 0
#define STRATA_FAST_ON 1
#define STRATA_FAST_PROFILED 2

/* Heat, migration, the profile format and the heap's per-chunk VMAs all work
 * on 2 MiB chunks (one huge page): chunk id = address >> STRATA_CHUNK_SHIFT. */
#define STRATA_CHUNK_SHIFT 21

#ifdef __cplusplus
#include <cstdint>
namespace strata {
inline constexpr unsigned kChunkShift = STRATA_CHUNK_SHIFT;
inline constexpr uintptr_t kChunkBytes = uintptr_t{1} << kChunkShift;
}  // namespace strata
#endif

#endif
