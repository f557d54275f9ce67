#include "suite_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>

#include "strata/strata.h"

namespace bench {

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool parse_size(std::string_view s, uint64_t* out) {
  int shift = 0;
  if (s.size() >= 2 && (s.ends_with("iB") || s.ends_with("ib"))) s.remove_suffix(2);
  if (!s.empty()) {
    switch (s.back()) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      case 't':
      case 'T':
        shift = 40;
        break;
      default:
        break;
    }
    if (shift != 0) s.remove_suffix(1);
  }
  uint64_t v = 0;
  if (!parse_u64(s, &v) || (shift != 0 && v > (UINT64_MAX >> shift))) return false;
  *out = v << shift;
  return true;
}

bool parse_double(std::string_view s, double* out) {
  if (s.empty()) return false;
  const std::string str(s);
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(str.c_str(), &end);
  return errno == 0 && end == str.c_str() + str.size() && std::isfinite(*out);
}

std::string size_str(uint64_t v) {
  const char* suffix[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (i < 4 && v != 0 && v % 1024 == 0) {
    v /= 1024;
    ++i;
  }
  return std::to_string(v) + suffix[i];
}

double Rng::log_range(double lo, double hi) {
  return std::exp(range(std::log(lo), std::log(hi)));
}

Zipf::Zipf(uint64_t n, double s) : cdf_(std::max<uint64_t>(n, 1)) {
  double sum = 0;
  for (size_t k = 0; k < cdf_.size(); ++k) {
    sum += std::pow(static_cast<double>(k + 1), -s);
    cdf_[k] = sum;
  }
  for (double& c : cdf_) c /= sum;
}

uint64_t Zipf::draw(Rng& rng) const {
  const double u = rng.uniform();
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return std::min<uint64_t>(static_cast<uint64_t>(it - cdf_.begin()), cdf_.size() - 1);
}

std::vector<uint32_t> permutation(uint64_t n, Rng& rng) {
  std::vector<uint32_t> p(n);
  for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<uint32_t>(i);
  for (uint64_t i = n; i > 1; --i) std::swap(p[i - 1], p[rng.below(i)]);
  return p;
}

int max_numa_node() {
  return numa_available() < 0 ? 0 : numa_max_node();
}

namespace {

// Node of each memory block (/sys/devices/system/node/nodeN/memoryM), to place
// a physical frame; empty when sysfs does not say.
struct BlockNodes {
  uint64_t block_bytes = 0;
  std::vector<int> node;  // by block number, -1 unknown
};

const BlockNodes& block_nodes(int max_node) {
  static BlockNodes b = [max_node] {
    BlockNodes r;
    if (FILE* f = std::fopen("/sys/devices/system/memory/block_size_bytes", "r")) {
      unsigned long long v = 0;
      if (std::fscanf(f, "%llx", &v) == 1) r.block_bytes = v;
      std::fclose(f);
    }
    if (r.block_bytes == 0) return r;
    for (int n = 0; n <= max_node; ++n) {
      const std::string dir = "/sys/devices/system/node/node" + std::to_string(n);
      DIR* d = opendir(dir.c_str());
      if (d == nullptr) continue;
      while (const dirent* e = readdir(d)) {
        unsigned long m = 0;
        if (std::sscanf(e->d_name, "memory%lu", &m) != 1) continue;
        if (m >= r.node.size()) r.node.resize(m + 1, -1);
        r.node[m] = n;
      }
      closedir(d);
    }
    return r;
  }();
  return b;
}

// A page that move_pages(2) reports as not present (-ENOENT) may be mapped all
// the same: NUMA balancing's hinting faults make its entry PROT_NONE, which the
// query skips. /proc/self/pagemap still has its frame (readable with
// CAP_SYS_ADMIN; without it frames read as 0 and the page stays "absent").
void place_hinted(const std::vector<void*>& pages, int max_node, Placement* pl) {
  const BlockNodes& b = block_nodes(max_node);
  if (b.node.empty()) return;
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  for (size_t i = 0; i < pages.size(); ++i) {
    if (pl->status[i] != -ENOENT) continue;
    uint64_t e = 0;
    const off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(pages[i]) / kPage * 8);
    if (pread(fd, &e, sizeof e, off) != sizeof e || (e >> 63) == 0) continue;
    const uint64_t pfn = e & ((uint64_t{1} << 55) - 1);
    const uint64_t block = pfn * kPage / b.block_bytes;
    if (pfn != 0 && block < b.node.size() && b.node[block] >= 0) pl->status[i] = b.node[block];
  }
  close(fd);
}

}  // namespace

bool query_nodes(const std::vector<void*>& pages, int max_node, Placement* pl) {
  constexpr size_t kBatch = 4096;  // pages per move_pages call
  pl->status.assign(pages.size(), -1);
  pl->node_pages.assign(static_cast<size_t>(max_node) + 1, 0);
  pl->absent_pages = 0;
  for (size_t i = 0; i < pages.size(); i += kBatch) {
    const unsigned long n = std::min(kBatch, pages.size() - i);
    // move_pages takes a non-const array of addresses it does not modify.
    auto** addrs = const_cast<void**>(&pages[i]);
    if (move_pages(0, n, addrs, nullptr, &pl->status[i], 0) != 0) return false;
  }
  place_hinted(pages, max_node, pl);
  for (int s : pl->status) {
    if (s >= 0 && s <= max_node)
      ++pl->node_pages[static_cast<size_t>(s)];
    else
      ++pl->absent_pages;
  }
  return true;
}

Hits fast_and_oracle(const std::vector<uint32_t>& counts, const Placement& pl, int fast_node,
                     uint64_t oracle_pages, std::vector<uint32_t>* scratch) {
  Hits h;
  for (size_t i = 0; i < counts.size(); ++i)
    if (i < pl.status.size() && pl.status[i] == fast_node) h.fast += counts[i];
  *scratch = counts;
  const auto k = static_cast<ptrdiff_t>(std::min<uint64_t>(oracle_pages, scratch->size()));
  std::nth_element(scratch->begin(), scratch->begin() + k, scratch->end(), std::greater<>());
  for (ptrdiff_t i = 0; i < k; ++i) h.oracle += (*scratch)[static_cast<size_t>(i)];
  return h;
}

StrataCounters strata_counters() {
  strata_stats st{};
  st.version = STRATA_STATS_VERSION;
  st.size = sizeof st;
  StrataCounters c;
  if (strata_get_stats(&st) != 0 || st.size < sizeof st) return c;
  c.promoted_bytes = st.promoted_bytes;
  c.demoted_bytes = st.demoted_bytes;
  c.engine_intervals = st.migrate_intervals;
  c.engine_cpu_ms = static_cast<double>(st.engine_cpu_ns) / 1e6;
  c.sampler_cpu_ms = static_cast<double>(st.sampler_cpu_ns) / 1e6;
  return c;
}

bool numa_maps_bytes(pid_t pid, int max_node, std::vector<uint64_t>* bytes) {
  bytes->assign(static_cast<size_t>(max_node) + 1, 0);
  const std::string path =
      pid == 0 ? "/proc/self/numa_maps" : "/proc/" + std::to_string(pid) + "/numa_maps";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return false;
  std::vector<char> line(1 << 16);
  while (std::fgets(line.data(), static_cast<int>(line.size()), f) != nullptr) {
    uint64_t page_kb = 4;
    if (const char* k = std::strstr(line.data(), "kernelpagesize_kB="))
      page_kb = std::strtoull(k + 18, nullptr, 10);
    for (char* t = std::strtok(line.data(), " \n"); t != nullptr; t = std::strtok(nullptr, " \n")) {
      if (t[0] != 'N' || t[1] < '0' || t[1] > '9') continue;
      char* end = nullptr;
      const unsigned long node = std::strtoul(t + 1, &end, 10);
      if (*end != '=' || node > static_cast<unsigned long>(max_node)) continue;
      (*bytes)[node] += std::strtoull(end + 1, nullptr, 10) * page_kb * 1024;
    }
  }
  std::fclose(f);
  return true;
}

double now_ms(int clock) {
  timespec ts{};
  clock_gettime(static_cast<clockid_t>(clock), &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

}  // namespace bench
