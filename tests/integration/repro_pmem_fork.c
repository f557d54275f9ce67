/* Reproducer: fork() with a PMEM file-heap tier.
 *
 *   LD_PRELOAD=libstrata.so STRATA_TIERS="dram:nodes=0;pm:path=/dev/shm,size=2G" \
 *     STRATA_POLICY="size>=4K -> pm" ./repro_pmem_fork
 *
 * The parent fills a block on the file heap, forks; the child overwrites its
 * copy of the block and allocates a new one; the parent then allocates too.
 * Expected (fork semantics, as without strata): the parent's block still holds
 * "parent data", exit status 0.
 * Seen: 'after fork, parent's block: "CHILD WROTE HERE"', exit status 1. The
 * file heap is a MAP_SHARED mapping of one file, so after fork parent and child
 * share every byte of that tier, while each has its own copy of the allocator
 * state: the child's writes land in the parent's blocks and both processes hand
 * out the same addresses. Real programs crash or hang in this mode: python3
 * with multiprocessing segfaults, bash running command substitutions hangs,
 * tests/integration/fork_exec segfaults. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  int (*tier_of)(const void*) = (int (*)(const void*))dlsym(RTLD_DEFAULT, "strata_tier_of");
  char* p = malloc(8192);
  strcpy(p, "parent data");
  if (tier_of != NULL) fprintf(stderr, "block of 8192 bytes on tier %d\n", tier_of(p));
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    strcpy(p, "CHILD WROTE HERE"); /* the child's own copy of the block */
    char* c = malloc(8192);
    strcpy(c, "child's new block");
    _exit(0);
  }
  waitpid(pid, NULL, 0);
  char* n = malloc(8192);
  strcpy(n, "parent's new block");
  printf("after fork, parent's block: \"%s\"\n", p);
  if (strcmp(p, "parent data") != 0) return 1;
  printf("ok\n");
  return 0;
}
