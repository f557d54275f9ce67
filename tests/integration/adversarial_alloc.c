/* Adversarial allocation cases (tests/integration/adversarial.sh):
 *
 *   adversarial_alloc huge     malloc/calloc/realloc/posix_memalign of 100 GiB
 *                              and 1 TiB, 64 tries each, then one block more;
 *                              prints one line per size: "SIZE ok|ENOMEM" (ok =
 *                              the call returned memory at least once).
 *   adversarial_alloc signal   a SIGALRM handler that mallocs and frees while
 *                              the main thread mallocs and frees blocks of
 *                              every size class; prints "signal ok N".
 *   adversarial_alloc xallocx  on a 64 MiB tier: 32 x 2 MiB blocks shrunk in
 *                              place to 1 MiB with xallocx, all freed, then 96
 *                              x 1 MiB blocks placed; prints how many are on
 *                              the capped tier.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static int huge(void) {
  const size_t sizes[] = {(size_t)100 << 30, (size_t)1 << 40};
  for (int s = 0; s < 2; ++s) {
    size_t n = sizes[s];
    int ok = 0;
    void* keep[64];
    int kept = 0;
    for (int i = 0; i < 64; ++i) {
      errno = 0;
      void* p = malloc(n);
      if (p == NULL && errno != ENOMEM) {
        printf("%zu malloc: NULL with errno %d\n", n, errno);
        return 1;
      }
      if (p != NULL) {
        ok = 1;
        keep[kept++] = p;
      }
    }
    void* c = calloc(n / 4096, 4096);
    void* q = NULL;
    int pm = posix_memalign(&q, 4096, n);
    void* r = realloc(NULL, n);
    printf("%zu %s calloc=%s posix_memalign=%s realloc=%s\n", n, ok ? "ok" : "ENOMEM",
           c ? "ok" : "ENOMEM", pm == 0 ? "ok" : (pm == ENOMEM ? "ENOMEM" : "other"),
           r ? "ok" : "ENOMEM");
    free(c);
    if (pm == 0) free(q);
    free(r);
    for (int i = 0; i < kept; ++i) free(keep[i]);
  }
  /* Normal allocation still works after the refusals. */
  void* small = malloc(1 << 20);
  if (small == NULL) {
    printf("malloc(1 MiB) failed after the refusals\n");
    return 1;
  }
  memset(small, 1, 1 << 20);
  free(small);
  return 0;
}

static volatile sig_atomic_t g_ticks;

static void on_alarm(int sig) {
  (void)sig;
  /* Outside POSIX, and what real programs do. */
  void* p = malloc(1 << 20);
  if (p) memset(p, 0, 64);
  free(p);
  ++g_ticks;
}

static int signal_case(void) {
  /* glibc: a fixed mmap threshold keeps these blocks mmapped (the dynamic one
   * would move them onto the heap, where an interrupted free corrupts it). */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGALRM, &sa, NULL) != 0) return 1;
  struct itimerval it = {{0, 200}, {0, 200}};
  setitimer(ITIMER_REAL, &it, NULL);
  /* Large blocks: glibc serves them with mmap/munmap and (single-threaded)
   * no lock; jemalloc with its extent mutexes. */
  void* slots[8] = {0};
  for (long i = 0; i < 200000 && g_ticks < 5000; ++i) {
    unsigned k = (unsigned)i % 8;
    free(slots[k]);
    slots[k] = malloc((size_t)(1 << 20) + (size_t)(i % 3) * 65536);
    if (slots[k]) ((char*)slots[k])[0] = 1;
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  for (int k = 0; k < 8; ++k) free(slots[k]);
  printf("signal ok %d\n", g_ticks > 0);
  return 0;
}

static int xallocx_case(void) {
  size_t (*xallocx)(void*, size_t, size_t, int) =
      (size_t(*)(void*, size_t, size_t, int))dlsym(RTLD_DEFAULT, "xallocx");
  int (*tier_of)(const void*) = (int (*)(const void*))dlsym(RTLD_DEFAULT, "strata_tier_of");
  if (xallocx == NULL || tier_of == NULL) {
    printf("xallocx or strata_tier_of missing (not under strata)\n");
    return 77;
  }
  void* b[32];
  for (int i = 0; i < 32; ++i) {
    b[i] = malloc(2 << 20);
    if (b[i] == NULL) return 1;
    xallocx(b[i], 1 << 20, 0, 0);
  }
  for (int i = 0; i < 32; ++i) free(b[i]);
  void* c[96];
  int on_capped = 0;
  for (int i = 0; i < 96; ++i) {
    c[i] = malloc(1 << 20);
    if (c[i] != NULL && tier_of(c[i]) == 1) ++on_capped;
  }
  for (int i = 0; i < 96; ++i) free(c[i]);
  printf("xallocx on_capped %d\n", on_capped);
  return 0;
}

int main(int argc, char** argv) {
  const char* what = argc > 1 ? argv[1] : "";
  if (strcmp(what, "huge") == 0) return huge();
  if (strcmp(what, "signal") == 0) return signal_case();
  if (strcmp(what, "xallocx") == 0) return xallocx_case();
  fprintf(stderr, "usage: adversarial_alloc huge|signal|xallocx\n");
  return 2;
}
