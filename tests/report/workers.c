/* Subject of the many-processes report: the parent forks four workers; each
 * allocates a buffer at its own call site (worker_0 ... worker_3) and touches
 * it for the run, so each worker has one hot site that the others lack. The
 * parent also holds a buffer it never touches after filling it (cold).
 *
 *   strata-report-workers SECONDS
 *
 * Not linked against strata. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOT_BYTES (16u << 20)
#define COLD_BYTES (32u << 20)

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Touches every page of p every millisecond for `secs` seconds. The pauses
 * keep four workers from saturating a small machine, so each is scheduled
 * within every sampling window and its buffer measures hot. */
static unsigned long churn(unsigned char* p, size_t n, double secs) {
  unsigned long sum = 0;
  double end = now_s() + secs;
  const struct timespec pause = {0, 1000000};
  while (now_s() < end) {
    for (size_t off = 0; off < n; off += 4096) sum += p[off]++;
    nanosleep(&pause, NULL);
  }
  return sum;
}

#define WORKER(k)                                                            \
  __attribute__((noinline)) static unsigned long worker_##k(double secs) {  \
    unsigned char* p = malloc(HOT_BYTES);                                    \
    if (p == NULL) return 0;                                                 \
    memset(p, k, HOT_BYTES);                                                 \
    unsigned long s = churn(p, HOT_BYTES, secs);                             \
    free(p);                                                                 \
    return s;                                                                \
  }
WORKER(0)
WORKER(1)
WORKER(2)
WORKER(3)

__attribute__((noinline)) static unsigned char* parent_cold(void) {
  unsigned char* p = malloc(COLD_BYTES);
  if (p != NULL) memset(p, 7, COLD_BYTES);
  return p;
}

int main(int argc, char** argv) {
  double secs = argc > 1 ? atof(argv[1]) : 3;
  unsigned long (*const work[4])(double) = {worker_0, worker_1, worker_2, worker_3};
  unsigned char* cold = parent_cold();
  pid_t pids[4];
  for (int k = 0; k < 4; ++k) {
    pids[k] = fork();
    if (pids[k] < 0) {
      perror("fork");
      return 1;
    }
    if (pids[k] == 0) {
      printf("worker %d: %lu\n", k, work[k](secs));
      fflush(stdout);
      exit(0);
    }
  }
  int bad = 0;
  for (int k = 0; k < 4; ++k) {
    int st = 0;
    if (waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
  }
  printf("parent: %d\n", cold != NULL ? cold[COLD_BYTES / 2] : -1);
  free(cold);
  return bad;
}
