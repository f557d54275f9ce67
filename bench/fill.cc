// strata-bench-fill: occupies a NUMA node's free memory so that a benchmark
// sees a smaller node, then waits until it is killed. Used by
// bench/run-hotset-peers.sh to give every peer (first touch, interleave, the
// kernel's tiering, strata) the same small fast tier in the test VM.
//
//   strata-bench-fill NODE LEAVE   # leave LEAVE bytes (K/M/G suffix) free on NODE
//
// Prints "fill: node N: held X MiB, Y MiB free" once the memory is touched,
// then sleeps. Memory is bound to the node (MPOL_BIND) and locked when
// possible, so neither the kernel's tiering nor reclaim moves it away.
#include <numa.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

bool parse_size(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s) return false;
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1ULL << 10;
  if (*end == 'M' || *end == 'm') mul = 1ULL << 20;
  if (*end == 'G' || *end == 'g') mul = 1ULL << 30;
  if (mul != 1) ++end;
  if (*end != '\0') return false;
  *out = v * mul;
  return true;
}

long long node_free(int node) {
  long long free_bytes = 0;
  if (numa_node_size64(node, &free_bytes) < 0) return -1;
  return free_bytes;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t leave = 0;
  if (argc != 3 || !parse_size(argv[2], &leave)) {
    std::fprintf(stderr, "usage: strata-bench-fill NODE LEAVE   (LEAVE: bytes with K/M/G)\n");
    return 2;
  }
  if (numa_available() < 0) {
    std::fprintf(stderr, "fill: no NUMA support here\n");
    return 1;
  }
  const int node = std::atoi(argv[1]);
  if (node < 0 || node > numa_max_node()) {
    std::fprintf(stderr, "fill: NODE=%s: expected a node of this machine (0-%d)\n", argv[1],
                 numa_max_node());
    return 2;
  }
  // Take memory in 16 MiB steps until the node's free memory is down to LEAVE.
  constexpr size_t kStep = 16 << 20;
  uint64_t held = 0;
  for (;;) {
    long long f = node_free(node);
    if (f < 0 || static_cast<uint64_t>(f) <= leave + kStep) break;
    void* p = mmap(nullptr, kStep, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) break;
    unsigned long mask[16] = {};
    mask[node / 64] = 1UL << (node % 64);
    if (mbind(p, kStep, MPOL_BIND, mask, sizeof mask * 8, 0) != 0) {
      std::perror("fill: mbind");
      return 1;
    }
    std::memset(p, 1, kStep);
    mlock(p, kStep);  // best effort: keeps reclaim from swapping it
    held += kStep;
  }
  std::printf("fill: node %d: held %llu MiB, %lld MiB free\n", node,
              static_cast<unsigned long long>(held >> 20), node_free(node) >> 20);
  std::fflush(stdout);
  for (;;) pause();
}
