/* The profiler sees every allocation call, not only malloc: each function
 * below allocates a known number of bytes through one call, and
 * tests/report/alloc_kinds.sh checks that strata-report attributes about that
 * many bytes to each of them (byte sampling: the estimate is within a few
 * tens of percent at these totals, see the script).
 *
 *   strata-report-alloc-kinds    (no arguments; not linked against strata)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOTAL (64UL << 20)
#define BLOCK (64UL << 10)

__attribute__((noinline)) static void via_malloc(void) {
  for (unsigned long n = 0; n < TOTAL; n += BLOCK) {
    char* volatile p = malloc(BLOCK);
    p[0] = 1;
    free(p);
  }
}

__attribute__((noinline)) static void via_calloc(void) {
  for (unsigned long n = 0; n < TOTAL; n += BLOCK) {
    char* volatile p = calloc(1, BLOCK);
    p[0] = 1;
    free(p);
  }
}

__attribute__((noinline)) static void via_posix_memalign(void) {
  for (unsigned long n = 0; n < TOTAL; n += BLOCK) {
    void* p = NULL;
    if (posix_memalign(&p, 256, BLOCK) != 0) abort();
    ((char* volatile)p)[0] = 1;
    free(p);
  }
}

/* A buffer grown by doubling: each realloc counts its new size, so the
 * sizes 4 KiB, 8 KiB, ... 32 MiB add up to 64 MiB - 4 KiB. */
__attribute__((noinline)) static void via_realloc(void) {
  for (int round = 0; round < 1; ++round) {
    char* p = NULL;
    for (unsigned long n = 4096; n <= TOTAL / 2; n *= 2) {
      char* q = realloc(p, n);
      if (q == NULL) abort();
      q[n - 1] = 1;
      p = q;
    }
    free(p);
  }
}

int main(void) {
  via_malloc();
  via_calloc();
  via_posix_memalign();
  via_realloc();
  printf("done\n");
  return 0;
}
