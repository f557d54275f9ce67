/* Reproducer: a failed realloc must set errno to ENOMEM.
 *
 *   LD_PRELOAD=libstrata.so ./repro_realloc_errno
 *
 * Expected (glibc, POSIX): realloc(p, huge) returns NULL, sets errno = ENOMEM
 * and leaves p intact: "ok", exit 0.
 * Seen with strata at 6becdac ("Fast path: ... tail calls into the private
 * jemalloc"): "realloc(p, 9223372036854775807): NULL, errno 0", exit 1. The
 * fast path returns the private jemalloc's realloc result directly; jemalloc
 * does not set errno for this failure, and the slow path (which sets ENOMEM)
 * is no longer reached. malloc and calloc still set ENOMEM. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  int bad = 0;
  const size_t sizes[] = {SIZE_MAX / 2, SIZE_MAX - 4096, (size_t)1 << 50};
  for (int i = 0; i < 3; ++i) {
    char* p = malloc(100);
    memset(p, 0x5A, 100);
    char* volatile keep = p;
    errno = 0;
    void* q = realloc(p, sizes[i]);
    if (q != NULL || errno != ENOMEM || keep[99] != 0x5A) {
      printf("realloc(p, %zu): %s, errno %d\n", sizes[i], q == NULL ? "NULL" : "non-NULL", errno);
      ++bad;
    }
    free(q == NULL ? keep : q);
  }
  errno = 0;
  void* r = realloc(NULL, SIZE_MAX / 2);
  if (r != NULL || errno != ENOMEM) {
    printf("realloc(NULL, SIZE_MAX/2): %s, errno %d\n", r == NULL ? "NULL" : "non-NULL", errno);
    ++bad;
  }
  if (bad == 0) printf("ok\n");
  return bad == 0 ? 0 : 1;
}
