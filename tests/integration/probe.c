/* A small program for the configuration and secure-execution tests: allocates
 * a little, prints fixed lines on stdout and one on stderr, exits with status 3.
 *
 * Built twice: `probe` (plain, used under LD_PRELOAD) and `probe_linked`
 * (-DPROBE_LINKED, linked against libstrata with an absolute RPATH, so it gets
 * strata even as a setuid program, where LD_PRELOAD is not honoured). The
 * linked build also reports AT_SECURE and whether strata is active. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#ifdef PROBE_LINKED
#include "strata/strata.h"
#endif

int main(void) {
  unsigned sum = 0;
  for (int i = 0; i < 100; ++i) {
    size_t n = (size_t)(16 + i * 997);
    unsigned char* volatile p = malloc(n);
    if (p == NULL) return 1;
    memset(p, i, n);
    sum += p[n - 1];
    free(p);
  }
  printf("probe: sum %u\n", sum);
#ifdef PROBE_LINKED
  void* volatile q = malloc(100);
  printf("probe: secure=%lu strata tiers=%d tier_of(malloc)=%d\n", getauxval(AT_SECURE),
         strata_tier_count(), strata_tier_of(q));
  free(q);
#endif
  printf("probe: done\n");
  fprintf(stderr, "probe: a line on stderr\n");
  return 3;
}
