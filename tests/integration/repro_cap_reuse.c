/* Reproducer: a tier's capacity is consumed by address space carved for it,
 * not by live data; memory freed by one thread is not usable by another.
 *
 *   LD_PRELOAD=libstrata.so STRATA_TIERS="dram:nodes=0,cap=64M;slow:nodes=0" ./repro_cap_reuse
 *
 * Thread A allocates 60 x 1 MiB and frees everything; then thread B allocates
 * 30 x 1 MiB. With nothing live on 'dram' (cap 64M), B's blocks belong on dram.
 * Expected: "thread B: ... 0 spilled" (at most 3 tolerated), exit 0.
 * Seen: "thread B: 30 x 1 MiB with nothing live on dram: 29 spilled to tier 1",
 * exit 1 (STRATA_STATS: dram live 170K, mapped 63.0M of 64.0M). Thread A's
 * extents stay retained in A's tier-0 arena (the extent dalloc hook opts out),
 * and the capacity check is the tier's bump pointer, which never goes back;
 * B's arena (tier 0 has one arena per thread slot, opt.narenas) cannot reuse
 * them, so after one burst every other thread spills to the slow tier forever.
 * (Also: of A's own 60 MiB, 12 blocks spilled although 60 MiB < 64 MiB.) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int (*tier_of)(const void*);
static int spilled_a, spilled_b;

static void* thread_a(void* arg) {
  (void)arg;
  void* b[60];
  for (int i = 0; i < 60; ++i) {
    b[i] = malloc(1 << 20);
    memset(b[i], 1, 1 << 20);
  }
  for (int i = 0; i < 60; ++i) spilled_a += tier_of(b[i]) == 1;
  for (int i = 0; i < 60; ++i) free(b[i]);
  return NULL;
}

static void* thread_b(void* arg) {
  (void)arg;
  void* b[30];
  for (int i = 0; i < 30; ++i) {
    b[i] = malloc(1 << 20);
    memset(b[i], 1, 1 << 20);
  }
  for (int i = 0; i < 30; ++i) spilled_b += tier_of(b[i]) == 1;
  for (int i = 0; i < 30; ++i) free(b[i]);
  return NULL;
}

int main(void) {
  tier_of = (int (*)(const void*))dlsym(RTLD_DEFAULT, "strata_tier_of");
  int (*tier_count)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "strata_tier_count");
  if (tier_of == NULL || tier_count == NULL || tier_count() != 2) {
    printf("FAIL: needs strata with STRATA_TIERS=\"dram:nodes=0,cap=64M;slow:nodes=0\"\n");
    return 1;
  }
  pthread_t t;
  pthread_create(&t, NULL, thread_a, NULL);
  pthread_join(t, NULL);
  printf("thread A: 60 x 1 MiB: %d spilled to tier 1; all freed\n", spilled_a);
  pthread_create(&t, NULL, thread_b, NULL);
  pthread_join(t, NULL);
  printf("thread B: 30 x 1 MiB with nothing live on dram: %d spilled to tier 1\n", spilled_b);
  return spilled_b <= 3 ? 0 : 1;
}
