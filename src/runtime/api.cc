// include/strata/strata.h, implemented over the runtime. Programs reach it
// through strata_api (a versioned function table); the read-only queries
// are also exported under their own names for programs that dlsym them.
#define STRATA_NO_INLINE_API 1
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/sys.h"
#include "src/engine/engine.h"
#include "src/prof/sites.h"
#include "src/runtime/pmem_region.h"
#include "src/runtime/runtime.h"
#include "strata/strata.h"

#define STRATA_API extern "C" __attribute__((visibility("default")))

// The public header's constants are the internal ones: a change on either
// side that breaks the ABI fails the build here.
static_assert(STRATA_KIND_DRAM == static_cast<int>(strata::TierKind::kDram));
static_assert(STRATA_KIND_CXL == static_cast<int>(strata::TierKind::kCxl));
static_assert(STRATA_KIND_PMEM_NODE == static_cast<int>(strata::TierKind::kPmemNode));
static_assert(STRATA_KIND_PMEM_FILE == static_cast<int>(strata::TierKind::kPmemFile));
static_assert(STRATA_STATS_MAX_TIERS == strata::kMaxTiers,
              "struct strata_stats holds every tier the configuration allows");
static_assert(sizeof(strata_tier_stats::name) == sizeof(strata::TierDef::name),
              "a tier name is copied whole into the stats");
static_assert(STRATA_PMEM_CREATE == strata::pmem_region::kCreate);
static_assert(STRATA_PMEM_EXCL == strata::pmem_region::kExcl);
static_assert(STRATA_HINT_HOT == 1 && STRATA_HINT_COLD == 2 && STRATA_HINT_PIN == 3 &&
                  STRATA_HINT_UNPIN == 4,
              "the hint values are ABI: programs built against older headers pass them");

namespace strata {
namespace {

// A tier name, a kind, or fast/hot/slow/cold; -1 when none matches.
int tier_index(const CompiledPolicy& pol, const char* name) {
  if (name == nullptr) return -1;
  std::string_view n(name);
  if (n == "fast") return 0;
  if (n == "slow") return pol.ntiers - 1;
  if (int t = pol.hint_tier(n); t >= 0) return t;  // a tier name, "hot" or "cold"
  for (int i = 0; i < pol.ntiers; ++i) {
    TierKind k = pol.tiers[i].kind;
    if ((n == "dram" && k == TierKind::kDram) || (n == "cxl" && k == TierKind::kCxl) ||
        (n == "pmem" && (k == TierKind::kPmemNode || k == TierKind::kPmemFile)))
      return i;
  }
  return -1;
}

// Unknown tier names place as malloc would; the first one is reported.
int tier_for_call(const char* fn, const char* name) {
  const CompiledPolicy* pol = rt::policy();
  if (pol == nullptr) return 0;
  int t = tier_index(*pol, name);
  if (t >= 0) return t;
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    std::string known;
    for (int i = 0; i < pol->ntiers; ++i) known += std::string(i ? ", " : "") + pol->tiers[i].name;
    log_msg(LogLevel::kWarn,
            "%s(\"%s\"): unknown tier (expected one of: %s, or a kind dram/cxl/pmem, fast, "
            "slow); placing as malloc would (reported once)",
            fn, name != nullptr ? name : "(null)", known.c_str());
  }
  return -1;
}

const char* api_status() {
  rt::init();
  static char buf[160];
  const CompiledPolicy* pol = rt::policy();
  int n = pol != nullptr ? pol->ntiers : 1;
  std::snprintf(buf, sizeof buf, "strata %d: %d tier(s)%s", STRATA_API_VERSION, n,
                heap::plain_mode() ? " (plain mode: one heap)" : "");
  return buf;
}

void* api_malloc(const char* tier, size_t size) {
  rt::init();
  int t = tier_for_call("strata_malloc", tier);
  if (t < 0) return rt::malloc_slow(size, 0, false, __builtin_return_address(0));
  return rt::alloc_on_tier(t, size, false, false);
}

void* api_calloc(const char* tier, size_t n, size_t size) {
  size_t total = 0;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  rt::init();
  int t = tier_for_call("strata_calloc", tier);
  if (t < 0) return rt::malloc_slow(total, 0, true, __builtin_return_address(0));
  return rt::alloc_on_tier(t, total, true, false);
}

void api_free(void* p) {
  ::free(p);
}

int api_hint_range(void* addr, size_t len, int hint, const char* tier) {
  rt::init();
  int t = -1;
  if (hint == STRATA_HINT_PIN && tier != nullptr) {
    const CompiledPolicy* pol = rt::policy();
    t = pol != nullptr ? tier_index(*pol, tier) : -1;
    if (t < 0) {
      errno = EINVAL;
      return -1;
    }
  }
  if (hint == STRATA_HINT_PIN && tier == nullptr) {
    // Pin where it is: the tier of the first page's heap or mapping.
    t = rt::tier_of_address(addr);
  }
  int r = rt::hint_range(addr, len, hint, t);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

int api_push(const char* hint) {
  int r = rt::hint_push(hint);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

int api_pop() {
  int r = rt::hint_pop();
  if (r < 0) {
    errno = -r;
    return -1;
  }
  return r;
}

int api_tier_count() {
  rt::init();
  const CompiledPolicy* p = rt::policy();
  return p != nullptr ? p->ntiers : 0;
}

const char* api_tier_name(int tier) {
  rt::init();
  const CompiledPolicy* p = rt::policy();
  if (p == nullptr || tier < 0 || tier >= p->ntiers) return nullptr;
  return p->tiers[tier].name;
}

int api_tier_by_name(const char* name) {
  rt::init();
  const CompiledPolicy* p = rt::policy();
  return p != nullptr ? tier_index(*p, name) : -1;
}

int api_tier_of(const void* addr) {
  return rt::tier_of_address(addr);
}

int api_node_of(const void* addr) {
  return sys::node_of_address(const_cast<void*>(addr));
}

int api_get_stats(strata_stats* out) {
  // Version 1 ended at sites_cached: callers built against it pass its size.
  constexpr size_t kV1Size = offsetof(strata_stats, migrate_intervals);
  if (out == nullptr || out->version < 1 || out->size < kV1Size) {
    errno = EINVAL;
    return -1;
  }
  rt::init();
  heap::ReentrancyGuard g;
  heap::flush_thread_caches();
  const CompiledPolicy* pol = rt::policy();
  strata_stats s{};
  s.version = STRATA_STATS_VERSION;
  s.size = sizeof s;
  s.tier_count = pol != nullptr ? pol->ntiers : 1;
  const rt::MmapSums sums = rt::mmap_sums();
  for (int t = 0; t < s.tier_count && t < STRATA_STATS_MAX_TIERS; ++t) {
    heap::TierStats ts{};
    heap::tier_stats(t, &ts);
    strata_tier_stats& o = s.tiers[t];
    if (pol != nullptr) {
      const TierDef& d = pol->tiers[t];
      std::snprintf(o.name, sizeof o.name, "%s", d.name);
      o.kind = static_cast<int>(d.kind);
      o.node = d.kind == TierKind::kPmemFile ? -1 : d.nodes.first();
    } else {
      std::snprintf(o.name, sizeof o.name, "dram");
    }
    o.capacity = ts.cap;
    o.live_bytes = ts.allocated;
    o.allocations = ts.nmalloc;
    o.mapped_bytes = ts.mapped;
    o.spill_in = ts.spill_in;
    o.spill_out = ts.spill_out;
    o.mmap_bytes = sums.bytes[t];
    o.mmap_count = sums.count[t];
    if (t == 0) s.foreign_frees = ts.foreign_frees;
  }
  uint64_t cached = 0;
  uint64_t overflow = 0;
  sites::counters(&cached, &overflow);
  s.sites_cached = cached;
  engine::Counters c{};
  engine::counters(&c);
  s.migrate_intervals = c.intervals;
  s.promoted_bytes = c.promoted_bytes;
  s.demoted_bytes = c.demoted_bytes;
  s.promotions = c.promotions;
  s.demotions = c.demotions;
  s.migrate_failed_pages = c.pages_failed;
  s.engine_cpu_ns = c.sample_ns + c.migrate_ns;
  s.sampler_cpu_ns = c.sample_ns;
  std::snprintf(s.sampler, sizeof s.sampler, "%s", engine::running() ? engine::sampler_name() : "");
  const size_t n = std::min<size_t>(out->size, sizeof s);
  s.size = static_cast<unsigned>(n);
  std::memcpy(out, &s, n);
  return 0;
}

void api_print_stats(int fd) {
  rt::write_stats(fd);
}

void* api_pmem_open(const char* name, size_t size, int flags) {
  const char* dir = rt::pmem_dir();
  return pmem_region::open(dir[0] != '\0' ? dir : nullptr, name, size, flags);
}

int api_persist(const void* addr, size_t len) {
  return pmem_region::persist(addr, len);
}

int api_pmem_close(void* addr) {
  return pmem_region::close(addr);
}

constexpr strata_api_v1 kApiV1 = {
    1,
    sizeof(strata_api_v1),
    api_status,
    api_malloc,
    api_calloc,
    api_free,
    api_hint_range,
    api_push,
    api_pop,
    api_tier_count,
    api_tier_name,
    api_tier_by_name,
    api_tier_of,
    api_node_of,
    api_get_stats,
    api_print_stats,
    api_pmem_open,
    api_persist,
    api_pmem_close,
};

}  // namespace
}  // namespace strata

STRATA_API const strata_api_v1* strata_api(unsigned version) {
  return version == 1 ? &strata::kApiV1 : nullptr;
}

// Plain exports of the queries, for programs that look them up with dlsym.
STRATA_API int strata_tier_count(void) {
  return strata::api_tier_count();
}
STRATA_API const char* strata_tier_name(int tier) {
  return strata::api_tier_name(tier);
}
STRATA_API int strata_tier_of(const void* addr) {
  return strata::api_tier_of(addr);
}
STRATA_API int strata_node_of(const void* addr) {
  return strata::api_node_of(addr);
}
STRATA_API void strata_print_stats(int fd) {
  strata::api_print_stats(fd);
}
