#include "src/prof/profile.h"
#include "src/prof/internal.h"

#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "allocator/heap.h"
#include "base/libm.h"
#include "base/log.h"
#include "base/probe_table.h"
#include "base/sys.h"
#include "base/outfile.h"
#include "profiler/profile_format.h"
#include "src/prof/sites.h"

namespace strata::prof {

constinit bool g_on = false;
__thread int64_t t_prof_left __attribute__((tls_model("initial-exec")));

constinit RaEntry* g_ra = nullptr;
constinit sys::SpinLock g_lock;  // the site table's inserts and the ra cache
constinit Stripe g_stripes[kStripes];
void add(double& field, double v) {
  std::atomic_ref<double>(field).fetch_add(v, std::memory_order_relaxed);
}

constinit Site* g_sites = nullptr;
constinit Live* g_live = nullptr;
constinit bool g_any_live = false;  // set at the first sample: frees before it skip the lookup
__thread Pending t_pending __attribute__((tls_model("initial-exec")));
void flush_pending() {
  Pending& p = t_pending;
  if (p.site == 0) return;
  Site& s = g_sites[p.site - 1];
  add(s.allocs, p.allocs);
  add(s.bytes_allocated, p.bytes_allocated);
  add(s.frees, p.frees);
  add(s.bytes_freed, p.bytes_freed);
  add(s.lifetime_ns, p.lifetime_ns);
  for (int t = 0; t < kMaxTiers; ++t)
    if (p.tier_bytes[t] != 0) add(s.tier_bytes[t], p.tier_bytes[t]);
  p = Pending{};
}

Pending& pending_for(size_t site) {
  Pending& p = t_pending;
  if (p.site != site + 1 || p.samples >= kFlushEvery) {
    flush_pending();
    p.site = static_cast<uint32_t>(site + 1);
  }
  ++p.samples;
  return p;
}

constinit uint64_t g_dropped_sites = 0;
constinit uint64_t g_dropped_live = 0;
constinit double g_rate = 0;  // mean bytes between samples (STRATA_PROFILE_RATE), set by start()
constinit char g_template[512] = {};  // STRATA_PROFILE as given
constinit char g_sampler[16] = {};    // the engine's sampler (set_sampler)
constinit char g_path[544] = {};      // this process's file
constinit char g_tiers[1024] = {};
constinit char g_policy[1024] = {};
constinit char g_migrate[256] = {};
constinit uint64_t g_start_ns = 0;
constinit const CompiledPolicy* g_pol = nullptr;
constinit uintptr_t g_self_lo = 0;  // libstrata's text, skipped in backtraces
constinit uintptr_t g_self_hi = 0;
constinit uint32_t g_interval_ms = 0;
constinit uint64_t g_iv = 0;     // engine intervals accounted so far
constinit bool g_child = false;  // a forked child (its profile is PATH.PID)
__thread uint64_t t_rng __attribute__((tls_model("initial-exec")));
constinit History* g_hist = nullptr;

namespace {

// Bytes to the next sample: exponential with mean g_rate.
int64_t next_gap() {
  if (t_rng == 0) t_rng = mix64(now_ns(CLOCK_MONOTONIC) ^ (reinterpret_cast<uintptr_t>(&t_rng)));
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  const double u = (static_cast<double>(t_rng >> 11) + 1.0) * 0x1p-53;  // (0, 1]
  return static_cast<int64_t>(-math::log(u) * g_rate) + 1;
}

void* map_table(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

size_t stripe_of(uintptr_t p) {
  return static_cast<size_t>(mix64(p) >> 58);  // 64 stripes
}

// Slot of p within its stripe's part of g_live.
size_t live_home(uintptr_t p) {
  return static_cast<size_t>(mix64(p)) & (kPerStripe - 1);
}

}  // namespace

Live* stripe_slots(size_t s) {
  return g_live + s * kPerStripe;
}

namespace {

// Under the stripe's lock. Returns the slot of p, or kPerStripe.
size_t live_find(Live* v, uintptr_t p) {
  for (size_t i = live_home(p), n = 0; n < kPerStripe; i = (i + 1) & (kPerStripe - 1), ++n) {
    if (v[i].p == p) return i;
    if (v[i].p == 0) return kPerStripe;
  }
  return kPerStripe;
}

void live_erase(Stripe& st, Live* v, size_t i) {
  i = erase_shift(
      v, kPerStripe - 1, i, [](const Live& l) { return l.p != 0; },
      [](const Live& l) { return live_home(l.p); });
  v[i] = Live{};
  st.clear_used(i);  // backward shifting empties exactly this slot
  --st.n;
}

// Under g_lock: the site of these frames, inserted if new; kSites if full.
size_t site_slot(const uintptr_t* frames, uint32_t n) {
  uint64_t key = 0xcbf29ce484222325ULL;
  for (uint32_t i = 0; i < n; ++i) key = mix64(key ^ frames[i]);
  if (key == 0) key = 1;
  for (size_t i = key & (kSites - 1), probes = 0; probes < kSites;
       i = (i + 1) & (kSites - 1), ++probes) {
    Site& s = g_sites[i];
    if (s.key == key) return i;
    if (s.key == 0) {
      s.key = key;
      s.nframes = n;
      std::memcpy(s.frames, frames, n * sizeof frames[0]);
      return i;
    }
  }
  ++g_dropped_sites;
  return kSites;
}

}  // namespace

bool start(const ProfConfig& cfg, const CompiledPolicy* pol, char* why, size_t cap) {
  if (cfg.path == nullptr || cfg.path[0] == '\0') return false;
  heap::ReentrancyGuard guard;
  const char* no_libm = nullptr;
  if (!math::load(&no_libm)) {  // log and expm1 for the sampling gaps and weights
    std::snprintf(why, cap, "%s", no_libm);
    return false;
  }
  {
    // The file is written at exit: say now if its directory is unusable.
    char dir[512];
    std::snprintf(dir, sizeof dir, "%s", cfg.path);
    char* slash = std::strrchr(dir, '/');
    if (slash == dir)
      dir[1] = '\0';
    else if (slash != nullptr)
      *slash = '\0';
    else
      std::snprintf(dir, sizeof dir, ".");
    if (::access(dir, W_OK | X_OK) != 0) {
      std::snprintf(why, cap, "directory %s: %s (expected a writable directory)", dir,
                    std::strerror(errno));
      return false;
    }
  }
  copy(g_template, sizeof g_template, cfg.path);
  set_path(getpid(), false);
  g_rate = static_cast<double>(std::max<uint64_t>(cfg.rate, 1));
  g_pol = pol;
  g_interval_ms = pol != nullptr ? pol->migrate.interval_ms : 0;
  copy(g_tiers, sizeof g_tiers, cfg.tiers_spec);
  copy(g_policy, sizeof g_policy, cfg.policy_spec);
  copy(g_migrate, sizeof g_migrate, cfg.migrate_spec);
  g_start_ns = now_ns(CLOCK_REALTIME);
  std::string err;
  if (!heap::enable_side_heap(&err)) {
    std::snprintf(why, cap, "no sample heap: %s", err.c_str());
    return false;
  }
  g_sites = static_cast<Site*>(map_table(kSites * sizeof(Site)));
  g_live = static_cast<Live*>(map_table(kLive * sizeof(Live)));
  g_ra = static_cast<RaEntry*>(map_table(kRaSlots * sizeof(RaEntry)));
  if (g_sites == nullptr || g_live == nullptr || g_ra == nullptr) {
    std::snprintf(why, cap, "cannot map its tables: %s", std::strerror(errno));
    return false;
  }
  g_hist = new History();
  // libstrata's own frames are cut from backtraces; backtrace() loads libgcc's
  // unwinder on first use, so that happens here and not inside an allocation.
  dl_iterate_phdr(find_self, reinterpret_cast<void*>(&find_self));
  void* bt[4];
  backtrace(bt, 4);
  g_on = true;
  std::snprintf(why, cap, "sampling one allocation per %llu KiB on average, writing %s",
                static_cast<unsigned long long>(cfg.rate >> 10), g_path);
  return true;
}

void set_sampler(const char* name) {
  copy(g_sampler, sizeof g_sampler, name);
}

bool take(size_t size) {
  const int64_t left = t_prof_left - static_cast<int64_t>(size);
  if (__builtin_expect(left > 0, 1)) {
    t_prof_left = left;
    return false;
  }
  if (t_rng == 0) {
    // A thread's first allocation: its countdown starts now, this block counting.
    t_prof_left = next_gap() - static_cast<int64_t>(size);
    if (t_prof_left > 0) return false;
  }
  t_prof_left = next_gap();
  return true;
}

// The site already known for call site r, or kSites.
size_t site_of_ra(uintptr_t r) {
  for (size_t i = mix64(r) & (kRaSlots - 1), n = 0; n < 8; i = (i + 1) & (kRaSlots - 1), ++n) {
    const uintptr_t v = __atomic_load_n(&g_ra[i].ra, __ATOMIC_ACQUIRE);
    if (v == r) return g_ra[i].site;
    if (v == 0) return kSites;
  }
  return kSites;
}

// Under g_lock.
void remember_ra(uintptr_t r, size_t site) {
  for (size_t i = mix64(r) & (kRaSlots - 1), n = 0; n < 8; i = (i + 1) & (kRaSlots - 1), ++n) {
    if (g_ra[i].ra == r) return;
    if (g_ra[i].ra == 0) {
      g_ra[i].site = static_cast<uint32_t>(site);
      __atomic_store_n(&g_ra[i].ra, r, __ATOMIC_RELEASE);
      return;
    }
  }
}

void record(void* p, size_t size, const void* ra) {
  if (p == nullptr) return;
  heap::ReentrancyGuard guard;
  const auto r = reinterpret_cast<uintptr_t>(ra);
  size_t known = r != 0 ? site_of_ra(r) : kSites;
  void* bt[kMaxFrames + 8];
  uintptr_t frames[kMaxFrames];
  uint32_t nf = 0;
  if (known == kSites) {
    const int n = backtrace(bt, kMaxFrames + 8);
    int i = 0;
    while (i < n && reinterpret_cast<uintptr_t>(bt[i]) - g_self_lo < g_self_hi - g_self_lo) ++i;
    // The interposed call's own return address comes first, even if the
    // unwinder lost it (a tail call into strata).
    if (r != 0 && (i >= n || reinterpret_cast<uintptr_t>(bt[i]) != r)) frames[nf++] = r;
    for (; i < n && nf < kMaxFrames; ++i) frames[nf++] = reinterpret_cast<uintptr_t>(bt[i]);
  }
  const double s = static_cast<double>(size == 0 ? 1 : size);
  const double prob = -math::expm1(-s / g_rate);  // chance that a block this size is sampled
  const double count = prob > 0 ? 1.0 / prob : 1.0;
  const int tier = heap::tier_of(p);
  // Lifetimes use the coarse clock (a few ms resolution, a third of the cost
  // of a precise read here): its ticks fall independently of the program's
  // allocations, so a block's measured lifetime is unbiased in expectation and
  // the per-site sums stay right.
  const uint64_t t = now_ns(CLOCK_MONOTONIC_COARSE);
  size_t si = known;
  if (si == kSites) {
    g_lock.lock();
    si = site_slot(frames, nf);
    if (si < kSites && r != 0) remember_ra(r, si);
    g_lock.unlock();
  }
  if (si >= kSites) return;
  Pending& pend = pending_for(si);
  pend.allocs += count;
  pend.bytes_allocated += s * count;
  if (tier >= 0 && tier < kMaxTiers) pend.tier_bytes[tier] += s * count;
  const auto u = reinterpret_cast<uintptr_t>(p);
  Stripe& st = g_stripes[stripe_of(u)];
  Live* v = stripe_slots(stripe_of(u));
  st.lock.lock();
  if (st.n * 10 < kPerStripe * 8) {  // load factor 0.8 at most
    size_t j = live_home(u);
    while (v[j].p != 0 && v[j].p != u) j = (j + 1) & (kPerStripe - 1);
    if (v[j].p == 0) {
      ++st.n;
      st.set_used(j);
    }
    if (!__atomic_load_n(&g_any_live, __ATOMIC_RELAXED))
      __atomic_store_n(&g_any_live, true, __ATOMIC_RELAXED);
    v[j] = Live{u,         static_cast<uint32_t>(si),
                s * count, count,
                t,         __atomic_load_n(&g_iv, __ATOMIC_RELAXED)};
  } else {
    __atomic_fetch_add(&g_dropped_live, 1, __ATOMIC_RELAXED);
  }
  st.lock.unlock();
}

void forget(void* p) {
  if (!__atomic_load_n(&g_any_live, __ATOMIC_RELAXED)) return;
  const auto u = reinterpret_cast<uintptr_t>(p);
  Stripe& st = g_stripes[stripe_of(u)];
  Live* v = stripe_slots(stripe_of(u));
  st.lock.lock();
  const size_t i = live_find(v, u);
  Live l{};
  if (i < kPerStripe) {
    l = v[i];
    live_erase(st, v, i);
  }
  st.lock.unlock();
  if (l.p == 0) return;
  Pending& pend = pending_for(l.site);
  pend.frees += l.count;
  pend.bytes_freed += l.weight;
  pend.lifetime_ns += static_cast<double>(now_ns(CLOCK_MONOTONIC_COARSE) - l.t_ns) * l.count;
}

void prefork() {
  if (!g_on) return;
  g_lock.lock();
  for (Stripe& s : g_stripes) s.lock.lock();
}

void postfork_parent() {
  if (!g_on) return;
  for (Stripe& s : g_stripes) s.lock.unlock();
  g_lock.unlock();
}

void postfork_child() {
  if (!g_on) return;
  for (Stripe& s : g_stripes) s.lock.unlock();
  g_lock.unlock();
  // The child's profile starts now, under its own name; its live blocks (the
  // parent's, copied) stay known so that their frees are matched.
  set_path(getpid(), true);
  g_child = true;
  g_start_ns = now_ns(CLOCK_REALTIME);
  for (size_t i = 0; i < kSites; ++i) {
    Site& s = g_sites[i];
    if (s.key == 0) continue;
    s.allocs = s.frees = s.bytes_allocated = s.bytes_freed = s.lifetime_ns = 0;
    s.heat_bi = s.bi = 0;
    for (int t = 0; t < kMaxTiers; ++t) s.tier_bi[t] = s.tier_bytes[t] = 0;
  }
  History& hs = *g_hist;
  hs.intervals.clear();
  hs.first_chunk.clear();
  hs.nchunks.clear();
  hs.chunks.clear();
  hs.moves.clear();
  hs.stride = 1;
}

}  // namespace strata::prof
