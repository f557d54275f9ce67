/* layout_probe: where strata puts tier-0 blocks, and that every free path works.
 *
 *   layout_probe fixed|moved
 *
 * Allocates blocks of 16 B to 1 MiB through malloc, calloc, realloc,
 * posix_memalign and aligned_alloc, writes a pattern, frees half of them in
 * allocation order and the rest in reverse, each checked before it is freed.
 * Counts the blocks whose address has strata's fast-free key (bits 40 and up
 * equal to 0x20, allocator/layout.h):
 *   fixed: the reservation got its fixed address; every tier-0 block has the key.
 *   moved: something else holds part of that range; no block may have the key
 *          (the fast free path would otherwise hand a block to the wrong place).
 * Exit 0 when the expectation holds and every pattern was intact.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4000

static void fill(unsigned char* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i += 61) p[i] = (unsigned char)(seed + i);
}
static int check(const unsigned char* p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i += 61)
    if (p[i] != (unsigned char)(seed + i)) return 0;
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2 || (strcmp(argv[1], "fixed") != 0 && strcmp(argv[1], "moved") != 0)) {
    fprintf(stderr, "usage: layout_probe fixed|moved\n");
    return 2;
  }
  const int want_fixed = strcmp(argv[1], "fixed") == 0;
  static void* blocks[N];
  static size_t sizes[N];
  int keyed = 0;
  int bad = 0;
  for (int i = 0; i < N; ++i) {
    size_t n = (size_t)16 << (i % 17);  // 16 B .. 1 MiB
    void* p = NULL;
    switch (i % 5) {
      case 0:
        p = malloc(n);
        break;
      case 1:
        p = calloc(1, n);
        break;
      case 2:
        p = realloc(malloc(8), n);
        break;
      case 3:
        if (posix_memalign(&p, 64, n) != 0) p = NULL;
        break;
      default:
        p = aligned_alloc(4096, n);
        break;
    }
    if (p == NULL) {
      printf("allocation %d of %zu bytes failed\n", i, n);
      return 1;
    }
    fill(p, n, (unsigned)i);
    blocks[i] = p;
    sizes[i] = n;
    if (((uintptr_t)p >> 40) == 0x20) ++keyed;
  }
  for (int i = 0; i < N / 2; ++i) {
    bad += !check(blocks[i], sizes[i], (unsigned)i);
    free(blocks[i]);
  }
  for (int i = N - 1; i >= N / 2; --i) {
    bad += !check(blocks[i], sizes[i], (unsigned)i);
    free(blocks[i]);
  }
  printf("%d of %d blocks in the fast-free range, %d damaged\n", keyed, N, bad);
  if (bad != 0) return 1;
  if (want_fixed && keyed != N) {
    printf("FAIL: expected every block in the fixed tier-0 slot\n");
    return 1;
  }
  if (!want_fixed && keyed != 0) {
    printf("FAIL: expected no block in the fast-free range (it is not strata's)\n");
    return 1;
  }
  return 0;
}
