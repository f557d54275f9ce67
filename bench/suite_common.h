// Shared pieces of the workload drivers in bench/ (strata-bench-suite, its
// trace generator and the real-program clients): argument parsing, a seeded
// random generator, a Zipf sampler, where pages live (move_pages(2) queries
// and /proc/PID/numa_maps), the oracle's best fast-tier hits, and strata's
// counters read through strata.h without linking strata.
// None of this links strata: the drivers are unmodified programs that run
// bare or under LD_PRELOAD=libstrata.so.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kMiB = 1 << 20;

// Unsigned decimal, the whole string.
bool parse_u64(std::string_view s, uint64_t* out);
// Bytes with an optional K, M, G or T suffix (binary), "iB" allowed.
bool parse_size(std::string_view s, uint64_t* out);
bool parse_double(std::string_view s, double* out);
// A size as a user writes it: 128M rather than 134217728.
std::string size_str(uint64_t v);

// splitmix64: fast, seedable, good enough to spread accesses.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) without division (Lemire); 0 for n == 0.
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1p-53; }  // [0, 1)
  double range(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Log-uniform in [lo, hi]: sizes spread evenly over orders of magnitude.
  double log_range(double lo, double hi);
};

// Ranks 0..n-1 with P(k) proportional to 1 / (k + 1)^s: a cumulative table and
// a binary search per draw (n up to a few million).
class Zipf {
 public:
  Zipf(uint64_t n, double s);
  uint64_t draw(Rng& rng) const;
  uint64_t size() const { return cdf_.size(); }

 private:
  std::vector<double> cdf_;
};

// Threshold under which a uniform 64-bit draw means "yes" with probability p.
inline uint64_t threshold(double p) {
  const double scaled = p * 0x1p64;
  return scaled >= 0x1p64 ? UINT64_MAX : static_cast<uint64_t>(std::max(scaled, 0.0));
}

// A random permutation of 0..n-1 (Fisher-Yates).
std::vector<uint32_t> permutation(uint64_t n, Rng& rng);

// Where the pages of a list live: node per page from move_pages(2) with no
// target nodes (this process only); a page it reports as not present because
// NUMA balancing made its entry PROT_NONE is placed from /proc/self/pagemap's
// frame number when that is readable (root).
struct Placement {
  std::vector<int> status;           // per page: node, or -errno
  std::vector<uint64_t> node_pages;  // per node 0..max_node
  uint64_t absent_pages = 0;
};
// Fills *pl for `pages` (page-aligned addresses). False with errno on failure.
bool query_nodes(const std::vector<void*>& pages, int max_node, Placement* pl);
int max_numa_node();  // 0 without NUMA support

// The interval's fast-tier hits and the oracle's: the accesses that went to
// pages on `fast_node`, and the most any placement holding `oracle_pages`
// pages on the fast tier could have had (the most accessed pages first).
struct Hits {
  uint64_t fast = 0;
  uint64_t oracle = 0;
};
Hits fast_and_oracle(const std::vector<uint32_t>& counts, const Placement& pl, int fast_node,
                     uint64_t oracle_pages, std::vector<uint32_t>* scratch);

// strata's cumulative counters when the program runs under it (all 0 without).
struct StrataCounters {
  uint64_t promoted_bytes = 0;
  uint64_t demoted_bytes = 0;
  uint64_t engine_intervals = 0;
  double engine_cpu_ms = 0;
  double sampler_cpu_ms = 0;
};
StrataCounters strata_counters();

// Bytes per node of a process's mappings from /proc/PID/numa_maps (pid 0:
// this process), counting the N<node>=<pages> fields with each mapping's
// kernelpagesize_kB. Resizes *bytes to max_node + 1. False if unreadable.
bool numa_maps_bytes(pid_t pid, int max_node, std::vector<uint64_t>* bytes);

double now_ms(int clock);  // clock_gettime in milliseconds

}  // namespace bench
