/* Reproducer: allocation under an address-space limit (ulimit -v).
 *
 *   repro_rlimit_as LIMIT_MIB TOTAL_MIB
 *
 * Sets RLIMIT_AS to LIMIT_MIB, re-executes itself (so that strata starts up
 * under the limit, as under `ulimit -v`), then mallocs and touches TOTAL_MIB in
 * 1 MiB blocks. Exit 0 when all allocations succeed.
 *
 * Case 1, default mode:
 *   LD_PRELOAD=libstrata.so ./repro_rlimit_as 8000 512
 *   Expected: "allocated 512 MiB" (as without strata: 512 MiB is far below 8000 MiB).
 *   Seen: "malloc(1 MiB) failed after 112 MiB". Under a limit, the heap
 *   reservation takes at most a quarter of RLIMIT_AS and splits it into
 *   kMaxTiers (8) slots: with 8000 MiB each tier's slot is 2^27 = 128 MiB, and
 *   tier 0 cannot grow past its slot (nothing to spill to).
 *
 * Case 2, two tiers and a tighter limit:
 *   LD_PRELOAD=libstrata.so STRATA_TIERS="dram:nodes=0;slow:nodes=0" \
 *     STRATA_POLICY="size>=4K -> slow" ./repro_rlimit_as 2000 64
 *   Expected: "allocated 64 MiB".
 *   Seen: "malloc(1 MiB) failed after 0 MiB" after "strata: tier 1 'slow'
 *   unavailable: no address range could be reserved ...; its allocations go to
 *   the next tier". No reservation fits, strata runs in "plain mode", where
 *   configure_tier() returns true for tier 0 without setting it enabled: every
 *   allocation that takes the slow path (all of them once a policy has heap
 *   rules) finds no enabled tier and fails with ENOMEM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc == 4 && strcmp(argv[1], "--child") == 0) {
    long total = atol(argv[3]);
    for (long i = 0; i < total; ++i) {
      char* volatile p = malloc(1 << 20);
      if (p == NULL) {
        printf("malloc(1 MiB) failed after %ld MiB (limit %s MiB): %s\n", i, argv[2],
               strerror(errno));
        return 1;
      }
      memset(p, 1, 1 << 20); /* kept: the total stays allocated */
    }
    printf("allocated %ld MiB under a %s MiB address-space limit\n", total, argv[2]);
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: %s LIMIT_MIB TOTAL_MIB\n", argv[0]);
    return 2;
  }
  struct rlimit rl;
  rl.rlim_cur = rl.rlim_max = (rlim_t)atol(argv[1]) << 20;
  if (setrlimit(RLIMIT_AS, &rl) != 0) {
    perror("setrlimit");
    return 2;
  }
  execl("/proc/self/exe", argv[0], "--child", argv[1], argv[2], (char*)NULL);
  perror("execl /proc/self/exe");
  return 2;
}
