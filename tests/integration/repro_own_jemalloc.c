/* Reproducer: a program that brings its own jemalloc (linked with -ljemalloc)
 * and uses jemalloc's extended API on blocks it got from malloc().
 *
 *   LD_PRELOAD=libstrata.so ./repro_own_jemalloc
 *
 * Expected: "ok", exit status 0 (as without strata; ARCHITECTURE.md: "a program
 * that brings its own jemalloc ... still works"). Such programs free malloc()
 * blocks with sdallocx()/dallocx() or resize them with rallocx() (e.g. Redis'
 * active defragmentation, C++ sized deallocation built on sdallocx).
 * Seen with strata: SIGSEGV inside libjemalloc.so.2 (dallocx). strata interposes
 * malloc/free/realloc/malloc_usable_size, so malloc() returns a strata block,
 * but the jemalloc extensions (mallocx, rallocx, xallocx, sallocx, dallocx,
 * sdallocx, nallocx) still go to the program's jemalloc, which is handed a
 * pointer it does not own. Blocks the other way round work (free() of a
 * mallocx() block is passed on to the next free(), jemalloc's). */
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  /* The other direction works: jemalloc's block, standard free/realloc. */
  void* a = mallocx(100, 0);
  memset(a, 1, 100);
  a = realloc(a, 5000);
  free(a);
  printf("mallocx + realloc/free: ok\n");
  fflush(stdout);
  /* malloc() block, jemalloc extension. */
  char* b = malloc(300);
  memset(b, 2, 300);
  printf("sallocx(malloc block) >= 300: %d\n", sallocx(b, 0) >= 300);
  fflush(stdout);
  b = rallocx(b, 1000, 0);
  printf("rallocx kept the contents: %d\n", b != NULL && b[299] == 2);
  fflush(stdout);
  sdallocx(b, 1000, 0);
  void* c = malloc(777);
  dallocx(c, 0);
  printf("ok\n");
  return 0;
}
