/* Reproducer: an explicit 16-byte alignment request for a block smaller than
 * 16 bytes must return a 16-byte aligned pointer (posix_memalign, memalign,
 * aligned_alloc, operator new(size, std::align_val_t{16}) all promise it).
 *
 *   LD_PRELOAD=libstrata.so ./repro_align16
 *
 * Expected: "misaligned: 0" and exit status 0 (as without strata).
 * Seen with strata: "misaligned: 32 of 192", exit status 1; e.g.
 * posix_memalign(16, 2) = 0x...018. The tier heaps treat alignments <= 16 as
 * "natural" (no MALLOCX_ALIGN flag), but jemalloc's smallest size class (8
 * bytes) is only 8-byte aligned. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  enum { kRounds = 64 };
  void* keep[kRounds * 3];
  int n = 0;
  int bad = 0;
  for (int i = 0; i < kRounds; ++i) {
    void* p = NULL;
    size_t size = 1 + (size_t)(i % 8); /* 1..8 bytes */
    if (posix_memalign(&p, 16, size) != 0 || ((uintptr_t)p & 15) != 0) {
      if (bad < 5) fprintf(stderr, "posix_memalign(16, %zu) = %p\n", size, p);
      ++bad;
    }
    keep[n++] = p;
    p = memalign(16, size);
    if (p == NULL || ((uintptr_t)p & 15) != 0) {
      if (bad < 5) fprintf(stderr, "memalign(16, %zu) = %p\n", size, p);
      ++bad;
    }
    keep[n++] = p;
    p = aligned_alloc(16, size);
    if (p == NULL || ((uintptr_t)p & 15) != 0) {
      if (bad < 5) fprintf(stderr, "aligned_alloc(16, %zu) = %p\n", size, p);
      ++bad;
    }
    keep[n++] = p;
  }
  for (int i = 0; i < n; ++i) free(keep[i]);
  printf("misaligned: %d of %d\n", bad, n);
  return bad == 0 ? 0 : 1;
}
