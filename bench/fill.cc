// strata-bench-fill: occupies a NUMA node's free memory so that a benchmark
// sees a smaller node, then waits until it is killed. Used by
// bench/run-hotset-peers.sh to give every peer (first touch, interleave, the
// kernel's tiering, strata) the same small fast tier in the test VM.
//
//   strata-bench-fill NODE LEAVE   # leave LEAVE bytes (K/M/G suffix) free on NODE (+ < 2 MiB)
//
// Prints "fill: node N: held X MiB, Y MiB free" once the memory is touched,
// then sleeps. SIGUSR1 makes it adjust to LEAVE again (giving memory back if
// the node's free memory fell below it, taking more if it rose) and print the
// line again: bench/run-suite.sh does so before every run. Memory is bound to the node (MPOL_BIND)
// and locked when possible, so neither the kernel's tiering nor reclaim moves it away.
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
#include <utility>
#include <vector>

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

// Brings the node's free memory to LEAVE (within 2 MiB above it): gives back
// blocks while it is below, then takes 16 MiB and finally 2 MiB blocks while
// it is above. Prints one "fill: ... held" line. False on an mbind failure.
bool adjust(int node, uint64_t leave, std::vector<std::pair<void*, size_t>>* blocks,
            uint64_t* held) {
  while (!blocks->empty() && node_free(node) >= 0 &&
         static_cast<uint64_t>(node_free(node)) < leave) {
    munmap(blocks->back().first, blocks->back().second);
    *held -= blocks->back().second;
    blocks->pop_back();
  }
  for (size_t step : {size_t{16} << 20, size_t{2} << 20}) {
    for (;;) {
      const long long f = node_free(node);
      if (f < 0 || static_cast<uint64_t>(f) <= leave + step) break;
      void* p = mmap(nullptr, step, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) break;
      unsigned long mask[16] = {};
      mask[node / 64] = 1UL << (node % 64);
      if (mbind(p, step, MPOL_BIND, mask, sizeof mask * 8, 0) != 0) {
        std::perror("fill: mbind");
        return false;
      }
      std::memset(p, 1, step);
      mlock(p, step);  // best effort: keeps reclaim from swapping it
      blocks->emplace_back(p, step);
      *held += step;
    }
  }
  std::printf("fill: node %d: held %llu MiB, %lld MiB free\n", node,
              static_cast<unsigned long long>(*held >> 20), node_free(node) >> 20);
  std::fflush(stdout);
  return true;
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
  // SIGUSR1 re-adjusts the hold to LEAVE (see adjust); taken synchronously.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, nullptr);
  std::vector<std::pair<void*, size_t>> blocks;
  uint64_t held = 0;
  if (!adjust(node, leave, &blocks, &held)) return 1;
  for (;;) {
    int sig = 0;
    if (sigwait(&usr1, &sig) == 0 && sig == SIGUSR1 && !adjust(node, leave, &blocks, &held))
      return 1;
  }
}
