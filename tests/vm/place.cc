// Placement probe for the multi-node VM tests. An unmodified-style program (it
// only looks strata's API up with dlsym): it allocates, touches every page and
// asks the kernel where each page is with move_pages(2) status queries, which
// is independent of strata. Output lines are parsed by tests/vm/tiers.sh.
//
//   place blocks SIZE COUNT   malloc COUNT blocks of SIZE
//   place mmap SIZE           one anonymous private mmap of SIZE
//   place file SIZE           malloc SIZE and print the file backing it (/proc/self/maps)
#include <dlfcn.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using TierOf = int (*)(const void*);

TierOf tier_of_fn() {
  return reinterpret_cast<TierOf>(dlsym(RTLD_DEFAULT, "strata_tier_of"));
}

size_t parse_size(const char* s) {
  char* end = nullptr;
  size_t v = std::strtoull(s, &end, 10);
  if (*end == 'K') v <<= 10;
  if (*end == 'M') v <<= 20;
  return v;
}

// Node of every page of [p, p+len); -errno entries for pages not present.
void pages_nodes(void* p, size_t len, std::map<int, size_t>* hist) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto start = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  auto end = reinterpret_cast<uintptr_t>(p) + len;
  std::vector<void*> pages;
  for (uintptr_t a = start; a < end; a += page) pages.push_back(reinterpret_cast<void*>(a));
  std::vector<int> status(pages.size(), -1);
  if (move_pages(0, pages.size(), pages.data(), nullptr, status.data(), 0) != 0) {
    std::perror("move_pages");
    std::exit(3);
  }
  for (int s : status) (*hist)[s] += 1;
}

std::string fmt(const std::map<int, size_t>& hist) {
  std::string out;
  for (auto [node, n] : hist) out += " " + std::to_string(node) + ":" + std::to_string(n);
  return out;
}

std::string backing_file(void* p) {
  FILE* f = std::fopen("/proc/self/maps", "r");
  char line[512];
  auto a = reinterpret_cast<uintptr_t>(p);
  std::string out = "(anonymous)";
  while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo = 0;
    unsigned long hi = 0;
    char path[400] = "";
    if (std::sscanf(line, "%lx-%lx %*s %*s %*s %*s %399s", &lo, &hi, path) >= 2 && a >= lo &&
        a < hi) {
      if (path[0] != '\0') out = path;
      break;
    }
  }
  if (f != nullptr) std::fclose(f);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: place blocks SIZE COUNT | mmap SIZE | file SIZE\n");
    return 2;
  }
  TierOf tier_of = tier_of_fn();
  std::string cmd = argv[1];
  size_t size = parse_size(argv[2]);
  if (cmd == "blocks" && argc == 4) {
    int count = std::atoi(argv[3]);
    std::map<int, size_t> blocks_per_node;  // by the node of the block's first page
    std::map<int, size_t> pages;
    std::map<int, int> tiers;
    std::vector<void*> keep;
    for (int i = 0; i < count; ++i) {
      void* p = std::malloc(size);
      if (p == nullptr) {
        std::printf("malloc failed at block %d\n", i);
        return 1;
      }
      std::memset(p, 0x5a, size);
      std::map<int, size_t> h;
      pages_nodes(p, size, &h);
      int majority = h.begin()->first;
      for (auto [node, n] : h)
        if (n > h[majority]) majority = node;
      blocks_per_node[majority] += 1;
      for (auto [node, n] : h) pages[node] += n;
      tiers[tier_of != nullptr ? tier_of(p) : -9] += 1;
      keep.push_back(p);
    }
    std::printf("blocks size=%zu count=%d block-nodes:%s pages:%s tiers:", size, count,
                fmt(blocks_per_node).c_str(), fmt(pages).c_str());
    for (auto [t, n] : tiers) std::printf(" %d:%d", t, n);
    std::printf("\n");
    for (void* p : keep) std::free(p);
    return 0;
  }
  if (cmd == "mmap") {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    std::memset(p, 1, size);
    std::map<int, size_t> h;
    pages_nodes(p, size, &h);
    std::printf("mmap size=%zu pages:%s tier: %d\n", size, fmt(h).c_str(),
                tier_of != nullptr ? tier_of(p) : -9);
    munmap(p, size);
    return 0;
  }
  if (cmd == "file") {
    void* p = std::malloc(size);
    if (p == nullptr) return 1;
    std::memset(p, 2, size);
    std::printf("file size=%zu backing: %s tier: %d\n", size, backing_file(p).c_str(),
                tier_of != nullptr ? tier_of(p) : -9);
    std::free(p);
    return 0;
  }
  std::fprintf(stderr, "place: unknown command '%s'\n", argv[1]);
  return 2;
}
