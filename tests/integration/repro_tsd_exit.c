/* Reproducer: malloc/free inside a pthread key (TSD) destructor at thread exit.
 *
 *   LD_PRELOAD=libstrata.so ./repro_tsd_exit
 *
 * Expected: "ok" and exit status 0 (as without strata). Programs and libraries
 * commonly allocate and free in TSD destructors (per-thread caches, error
 * state).
 * Seen with strata: "free(): invalid pointer" from glibc, SIGABRT. The key
 * destructor runs after the private jemalloc's own TSD cleanup (its key was
 * created first); jemalloc then serves the thread from arena 0, whose extents
 * come from jemalloc's default hooks, outside strata's tier address ranges.
 * strata_tier_of() of such a block is -1, so free() takes it for a foreign
 * (glibc) pointer and hands it to glibc's free. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_key_t key;
static int tier_in_destructor = -2;

static void destructor(void* v) {
  (void)v;
  int (*tier_of)(const void*) = (int (*)(const void*))dlsym(RTLD_DEFAULT, "strata_tier_of");
  char* p = malloc(100);
  char* q = malloc(20000);
  memset(p, 1, 100);
  memset(q, 2, 20000);
  if (tier_of != NULL) tier_in_destructor = tier_of(q);
  free(p);
  free(q);
}

static void* thread_main(void* arg) {
  pthread_setspecific(key, arg);
  /* The thread has used the allocator before it exits (volatile: not elided). */
  void* volatile p = malloc(10);
  free(p);
  return NULL;
}

int main(void) {
  pthread_key_create(&key, destructor);
  for (int i = 0; i < 4; ++i) {
    pthread_t t;
    pthread_create(&t, NULL, thread_main, (void*)1);
    pthread_join(t, NULL);
  }
  if (tier_in_destructor != -2)
    fprintf(stderr, "strata_tier_of(block allocated in the TSD destructor) = %d\n",
            tier_in_destructor);
  if (tier_in_destructor == -1) {
    printf("FAIL: a block allocated in a TSD destructor is unknown to strata\n");
    return 1;
  }
  printf("ok\n");
  return 0;
}
