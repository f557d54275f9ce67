// Placement by STRATA_POLICY rules and by the strata.h API, checked from
// inside an unmodified program (tier of each pointer through the API; with
// --nodes also the NUMA node of its pages, in the multi-node test VM).
//
//   policy_api --case size|site|ratio|hint|api|absent [--nodes]
//
// The same source is built twice: not linked against libstrata (run with the
// preload, or without it for --case absent) and linked against it.
// Each case expects the environment its CMake registration gives it.
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "strata/strata.h"

namespace {

int g_fail = 0;
bool g_nodes = false;
strata_stats g_stats{};

#define CHECK(cond, ...)                                          \
  do {                                                            \
    if (!(cond)) {                                                \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                   \
      std::printf("\n");                                          \
      ++g_fail;                                                   \
    }                                                             \
  } while (0)

// The block is on `tier`, and (with --nodes) its pages on that tier's node.
void expect_tier(const void* p, size_t size, int tier, const char* what) {
  int t = strata_tier_of(p);
  CHECK(t == tier, "%s: tier %d, expected %d", what, t, tier);
  if (!g_nodes || tier < 0) return;
  int want = g_stats.tiers[tier].node;
  if (want < 0) return;  // a file heap has no node
  std::memset(const_cast<void*>(p), 0x5a, size);
  long page = sysconf(_SC_PAGESIZE);
  auto first = reinterpret_cast<uintptr_t>(p);
  for (uintptr_t a = (first + page - 1) & ~(page - 1); a + page <= first + size; a += page) {
    int n = strata_node_of(reinterpret_cast<void*>(a));
    if (n != want) {
      CHECK(n == want, "%s: page %#lx on node %d, expected node %d", what,
            static_cast<unsigned long>(a), n, want);
      return;
    }
  }
}

int tier(const char* name) {
  int t = strata_tier_by_name(name);
  if (t < 0) {
    std::printf("FAIL: no tier '%s' (STRATA_TIERS not set as the test expects)\n", name);
    std::exit(1);
  }
  return t;
}

// --- call sites for the site rules: distinct functions, never inlined or
// folded together (noipa: identical code folding would merge the two records)
__attribute__((noinline, noipa)) void* make_cold_record(size_t n) {
  void* p = std::malloc(n);
  __asm__ volatile("" ::"r"(p) : "memory");  // keep the call a call, not a tail call
  return p;
}
__attribute__((noinline, noipa)) char* make_cold_array(size_t n) {
  char* p = new char[n];
  __asm__ volatile("" ::"r"(p) : "memory");
  return p;
}
__attribute__((noinline, noipa)) void* make_hot_record(size_t n) {
  void* p = std::malloc(n);
  __asm__ volatile("" ::"r"(p) : "memory");
  return p;
}

void case_size() {
  const int slow = tier("slow");
  void* small = std::malloc(100);
  void* big = std::malloc(64 << 10);
  void* huge = std::calloc(1, 4 << 20);
  expect_tier(small, 100, 0, "malloc(100)");
  expect_tier(big, 64 << 10, slow, "malloc(64K) under size>=64K -> slow");
  expect_tier(huge, 4 << 20, slow, "calloc(4M)");
  std::free(small);
  std::free(big);
  std::free(huge);
}

void case_site() {
  const int slow = tier("slow");
  std::vector<void*> cold;
  std::vector<void*> hot;
  for (int i = 0; i < 1000; ++i) {
    cold.push_back(make_cold_record(256));
    hot.push_back(make_hot_record(256));
  }
  char* arr = make_cold_array(1 << 20);
  for (int i = 0; i < 1000; ++i) {
    expect_tier(cold[i], 256, slow, "make_cold_record under site=make_cold_* -> slow");
    expect_tier(hot[i], 256, 0, "make_hot_record (no rule)");
    if (g_fail > 5) break;
  }
  expect_tier(arr, 1 << 20, slow, "new[] in make_cold_array");
  for (void* p : cold) std::free(p);
  for (void* p : hot) std::free(p);
  delete[] arr;
}

void case_ratio() {
  const int slow = tier("slow");
  constexpr int kN = 10000;
  constexpr size_t kSize = 4000;
  std::vector<void*> v;
  size_t bytes[2] = {};
  for (int i = 0; i < kN; ++i) {
    void* p = std::malloc(kSize);
    int t = strata_tier_of(p);
    CHECK(t == 0 || t == slow, "ratio block on tier %d", t);
    if (t == 0 || t == slow) bytes[t == 0 ? 0 : 1] += kSize;
    v.push_back(p);
  }
  double total = static_cast<double>(bytes[0] + bytes[1]);
  double f0 = bytes[0] / total;
  std::printf("ratio: dram %.4f slow %.4f of %d blocks (want 0.25 / 0.75)\n", f0, 1 - f0, kN);
  CHECK(std::fabs(f0 - 0.25) < 0.02, "dram share %.4f, expected 0.25 +- 0.02", f0);
  if (g_nodes) {
    for (int i = 0; i < 200; ++i) expect_tier(v[i], kSize, strata_tier_of(v[i]), "ratio block");
  }
  for (void* p : v) std::free(p);
}

void* other_thread(void* arg) {
  // Hints are per thread: this one has none.
  void* p = std::malloc(512);
  *static_cast<int*>(arg) = strata_tier_of(p);
  std::free(p);
  return nullptr;
}

void case_hint() {
  const int slow = tier("slow");
  void* a = std::malloc(512);
  expect_tier(a, 512, 0, "no hint");
  CHECK(strata_thread_hint_push("scratch") == 1, "push scratch");
  void* b = std::malloc(512);
  char* c = new char[512];
  expect_tier(b, 512, slow, "malloc under hint 'scratch' (rule hint=scratch -> slow)");
  expect_tier(c, 512, slow, "new[] under hint 'scratch'");
  int other = -2;
  pthread_t th;
  pthread_create(&th, nullptr, other_thread, &other);
  pthread_join(th, nullptr);
  CHECK(other == 0, "another thread's allocation: tier %d, expected 0", other);
  CHECK(strata_thread_hint_push("hot") == 2, "push hot");
  void* d = std::malloc(512);
  expect_tier(d, 512, 0, "nested hint 'hot' (a tier hint)");
  CHECK(strata_thread_hint_pop() == 1, "pop hot");
  CHECK(strata_thread_hint_pop() == 0, "pop scratch");
  errno = 0;
  CHECK(strata_thread_hint_pop() == -1 && errno == ENOENT, "pop on empty: errno %d", errno);
  void* e = std::malloc(512);
  expect_tier(e, 512, 0, "after pop");
  {
    strata::ThreadHint guard("cold");  // "cold" names the slowest tier
    CHECK(guard.active(), "RAII guard pushed");
    void* f = std::malloc(512);
    expect_tier(f, 512, slow, "under strata::ThreadHint(\"cold\")");
    std::free(f);
  }
  void* g = std::malloc(512);
  expect_tier(g, 512, 0, "after the guard");
  CHECK(strata_thread_hint_push("unknown-label") == 1, "an unknown label is pushed");
  void* h = std::malloc(512);
  expect_tier(h, 512, 0, "unknown label: no rule, default placement");
  strata_thread_hint_pop();
  for (void* p : {a, b, d, e, g, h}) std::free(p);
  delete[] c;
}

void case_api() {
  const int slow = tier("slow");
  std::printf("status: %s\n", strata_status());
  CHECK(strata_available(), "strata available");
  CHECK(std::strncmp(strata_status(), "strata ", 7) == 0, "status '%s'", strata_status());
  CHECK(strata_tier_by_name("fast") == 0 && strata_tier_by_name("slow") == slow, "tier names");
  void* p = strata_malloc("slow", 1000);
  expect_tier(p, 1000, slow, "strata_malloc(\"slow\")");
  auto* z = static_cast<unsigned char*>(strata_calloc("slow", 100, 10));
  bool zero = true;
  for (int i = 0; i < 1000; ++i) zero = zero && z[i] == 0;
  CHECK(zero, "strata_calloc returns zeroed memory");
  expect_tier(z, 1000, slow, "strata_calloc(\"slow\")");  // (with --nodes, writes the block)
  void* q = strata_malloc("dram", 1000);
  expect_tier(q, 1000, 0, "strata_malloc(\"dram\") (a kind)");
  void* u = strata_malloc("no-such-tier", 1000);  // warns once, places as malloc would
  CHECK(u != nullptr, "unknown tier still allocates");
  expect_tier(u, 1000, 0, "strata_malloc(unknown)");

  strata_stats s{};
  s.version = STRATA_STATS_VERSION;
  s.size = sizeof s;
  CHECK(strata_get_stats(&s) == 0, "get_stats");
  CHECK(s.tier_count == strata_tier_count(), "tier_count %d", s.tier_count);
  CHECK(std::strcmp(s.tiers[slow].name, "slow") == 0, "stats name '%s'", s.tiers[slow].name);
  CHECK(s.tiers[slow].allocations >= 2, "slow allocations %llu", s.tiers[slow].allocations);
  strata_stats bad{};
  errno = 0;
  CHECK(strata_get_stats(&bad) == -1 && errno == EINVAL, "unversioned stats: EINVAL");

  long page = sysconf(_SC_PAGESIZE);
  void* r = std::aligned_alloc(static_cast<size_t>(page), static_cast<size_t>(page) * 4);
  std::memset(r, 1, static_cast<size_t>(page) * 4);
  CHECK(strata_hint_range(r, static_cast<size_t>(page) * 4, STRATA_HINT_PIN, "slow") == 0,
        "pin: errno %d", errno);
  if (g_nodes) {
    int want = s.tiers[slow].node;
    int n = strata_node_of(r);
    CHECK(n == want, "pinned page on node %d, expected %d", n, want);
  }
  CHECK(strata_hint_range(r, static_cast<size_t>(page) * 4, STRATA_HINT_UNPIN, nullptr) == 0,
        "unpin");
  CHECK(strata_hint_range(r, 4096, STRATA_HINT_HOT, nullptr) == 0, "hot");
  CHECK(strata_hint_range(r, 4096, STRATA_HINT_COLD, nullptr) == 0, "cold");
  errno = 0;
  CHECK(strata_hint_range(r, 4096, 99, nullptr) == -1 && errno == EINVAL, "bad hint: EINVAL");
  errno = 0;
  CHECK(strata_hint_range(r, 4096, STRATA_HINT_PIN, "nowhere") == -1 && errno == EINVAL,
        "pin to an unknown tier: EINVAL");
  std::free(r);
  for (int i = 0; i < 16; ++i) strata_thread_hint_push("x");
  errno = 0;
  CHECK(strata_thread_hint_push("x") == -1 && errno == EOVERFLOW, "17th push: EOVERFLOW");
  for (int i = 0; i < 16; ++i) strata_thread_hint_pop();
  strata_free(p);
  strata_free(z);
  strata_free(q);
  strata_free(u);
}

void case_absent() {
  CHECK(!strata_available(), "strata must be absent in this case");
  CHECK(std::strcmp(strata_status(), "no strata") == 0, "status '%s'", strata_status());
  void* p = strata_malloc("slow", 1000);
  auto* z = static_cast<unsigned char*>(strata_calloc("slow", 10, 100));
  CHECK(p != nullptr && z != nullptr, "degraded allocation works");
  bool zero = true;
  for (int i = 0; i < 1000; ++i) zero = zero && z[i] == 0;
  CHECK(zero, "degraded calloc zeroes");
  CHECK(strata_tier_of(p) == -1, "tier_of: -1");
  CHECK(strata_tier_count() == 0, "tier_count: 0");
  CHECK(strata_tier_name(0) == nullptr, "tier_name: NULL");
  CHECK(strata_node_of(p) == -ENOSYS, "node_of: -ENOSYS");
  errno = 0;
  CHECK(strata_thread_hint_push("cold") == -1 && errno == ENOSYS, "push: ENOSYS");
  {
    strata::ThreadHint g("cold");
    CHECK(!g.active(), "guard inactive");
  }
  strata_stats s{};
  s.version = STRATA_STATS_VERSION;
  s.size = sizeof s;
  errno = 0;
  CHECK(strata_get_stats(&s) == -1 && errno == ENOSYS, "stats: ENOSYS");
  errno = 0;
  CHECK(strata_pmem_open("r", 4096, STRATA_PMEM_CREATE) == nullptr && errno == ENOSYS,
        "pmem_open: ENOSYS");
  errno = 0;
  CHECK(strata_hint_range(p, 1000, STRATA_HINT_HOT, nullptr) == -1 && errno == ENOSYS,
        "hint_range: ENOSYS");
  strata_print_stats(1);  // prints "no strata"
  strata_free(p);
  strata_free(z);
}

}  // namespace

int main(int argc, char** argv) {
  std::string which;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--case") == 0 && i + 1 < argc) {
      which = argv[++i];
    } else if (std::strcmp(argv[i], "--nodes") == 0) {
      g_nodes = true;
    } else {
      std::fprintf(stderr, "usage: %s --case size|site|ratio|hint|api|absent [--nodes]\n", argv[0]);
      return 2;
    }
  }
  if (which != "absent") {
    if (!strata_available()) {
      std::printf("FAIL: strata is not loaded (run under LD_PRELOAD or link -lstrata)\n");
      return 1;
    }
    g_stats.version = STRATA_STATS_VERSION;
    g_stats.size = sizeof g_stats;
    strata_get_stats(&g_stats);
  }
  if (which == "size")
    case_size();
  else if (which == "site")
    case_site();
  else if (which == "ratio")
    case_ratio();
  else if (which == "hint")
    case_hint();
  else if (which == "api")
    case_api();
  else if (which == "absent")
    case_absent();
  else {
    std::fprintf(stderr, "unknown case '%s'\n", which.c_str());
    return 2;
  }
  std::printf("%s: %s\n", which.c_str(), g_fail == 0 ? "ok" : "FAILED");
  return g_fail == 0 ? 0 : 1;
}
