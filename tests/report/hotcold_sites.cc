// End-to-end subject of the profiler: one hot and one cold allocation site in
// different functions. The cold buffer is allocated first, so with a small
// fast tier and default placement it takes the fast tier and the hot buffer
// spills to the slow one; a profile-guided policy should reverse that.
//
//   strata-report-hotcold SECONDS
//
// Prints "hot: node N:pages ..." and "cold: node N:pages ..." (move_pages
// status of every page) after the run. Not linked against strata.
#include <numaif.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

namespace {

constexpr size_t kHot = 24 << 20;
constexpr size_t kCold = 48 << 20;
constexpr size_t kPage = 4096;

__attribute__((noinline)) char* make_cold_buffer(size_t n) {
  auto* p = static_cast<char*>(std::malloc(n));
  if (p != nullptr) std::memset(p, 2, n);
  return p;
}

__attribute__((noinline)) char* make_hot_buffer(size_t n) {
  auto* p = static_cast<char*>(std::malloc(n));
  if (p != nullptr) std::memset(p, 1, n);
  return p;
}

void print_nodes(const char* name, char* p, size_t n) {
  std::vector<void*> pages;
  for (size_t off = 0; off < n; off += kPage) pages.push_back(p + off);
  std::vector<int> status(pages.size(), -1);
  if (move_pages(0, pages.size(), pages.data(), nullptr, status.data(), 0) != 0) {
    std::perror("move_pages");
    std::exit(1);
  }
  std::map<int, size_t> count;
  for (int s : status) ++count[s];
  std::printf("%s:", name);
  for (const auto& [node, k] : count) std::printf(" node %d:%zu", node, k);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const double secs = argc > 1 ? std::atof(argv[1]) : 5;
  char* cold = make_cold_buffer(kCold);
  char* hot = make_hot_buffer(kHot);
  if (cold == nullptr || hot == nullptr) return 1;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(secs);
  uint64_t x = 88172645463325252ULL;
  uint64_t sum = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int k = 0; k < 100000; ++k) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      sum += static_cast<unsigned char>(hot[x % kHot]++);
    }
  }
  print_nodes("hot", hot, kHot);
  print_nodes("cold", cold, kCold);
  std::printf("checksum %llu %d\n", static_cast<unsigned long long>(sum), cold[kCold / 2]);
  std::free(hot);
  std::free(cold);
  return 0;
}
