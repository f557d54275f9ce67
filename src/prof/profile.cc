#include "src/prof/profile.h"

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
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/probe_table.h"
#include "base/sys.h"
#include "profiler/profile_format.h"
#include "src/prof/sites.h"

namespace strata::prof {

constinit bool g_on = false;
__thread int64_t t_prof_left __attribute__((tls_model("initial-exec")));

namespace {

using profile::kMaxFrames;

constexpr size_t kSites = 8192;    // distinct call stacks
constexpr size_t kLive = 1 << 17;  // live sampled blocks (about 64 GiB of heap at the default rate)
// The live table is split into stripes, each with its own lock, so threads
// that sample at the same time (large blocks are sampled almost always) do
// not queue on one lock. A block's stripe is the top bits of its hash.
constexpr size_t kStripes = 64;
constexpr size_t kPerStripe = kLive / kStripes;
constexpr size_t kMaxChunkRecords = 4 << 20;  // 64 MiB of per-interval chunk history
constexpr size_t kMaxMoves = 1 << 20;

struct Site {
  uint64_t key;  // hash of the frames, 0 = free slot
  uint32_t nframes;
  uintptr_t frames[kMaxFrames];
  double allocs, frees, bytes_allocated, bytes_freed, lifetime_ns;
  double heat_bi, bi;
  double tier_bi[kMaxTiers];
  double tier_bytes[kMaxTiers];  // bytes placed on each tier
};

struct Live {
  uintptr_t p;  // 0 = free slot
  uint32_t site;
  double weight;  // bytes this sample stands for
  double count;   // allocations it stands for
  uint64_t t_ns;  // when it was allocated
  uint64_t iv;    // engine interval it was allocated in
};

// Call site (the interposed call's return address) -> its Site: after the
// first sample from a call site, later ones skip the unwinding. A site is
// therefore one call site with the stack seen first, which is also what a
// site=0xHASH rule matches. Entries are written once (site, then ra, release).
constexpr size_t kRaSlots = 16384;
struct RaEntry {
  uintptr_t ra;  // 0 = free
  uint32_t site;
};
constinit RaEntry* g_ra = nullptr;

constinit sys::SpinLock g_lock;  // the site table's inserts and the ra cache

struct alignas(64) Stripe {
  sys::SpinLock lock;
  size_t n = 0;  // entries in use
};
constinit Stripe g_stripes[kStripes];

// Site counters are added to from every stripe and the engine thread.
void add(double& field, double v) {
  std::atomic_ref<double>(field).fetch_add(v, std::memory_order_relaxed);
}

constinit Site* g_sites = nullptr;
constinit Live* g_live = nullptr;
constinit bool g_any_live = false;  // set at the first sample: frees before it skip the lookup

// A thread's allocation and free counts for the site it sampled last, added
// to the site when the thread samples another site or every kFlushEvery
// samples: threads sampling the same site (large blocks are sampled almost
// always) would otherwise fight over its cache line on every sample.
constexpr uint32_t kFlushEvery = 16;
struct Pending {
  uint32_t site;  // + 1; 0 = nothing pending
  uint32_t samples;
  double allocs, bytes_allocated, frees, bytes_freed, lifetime_ns;
  double tier_bytes[kMaxTiers];
};
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

// History written by the engine thread (and read at exit, or by it).
struct History {
  std::vector<profile::IntervalRecord> intervals;
  std::vector<uint64_t> first_chunk;  // per interval: index into chunks
  std::vector<uint32_t> nchunks;
  std::vector<profile::ChunkRecord> chunks;
  std::vector<profile::MoveRecord> moves;
  uint32_t stride = 1;  // chunk lists are kept for every stride-th interval
  bool keep_chunks = true;
};
History* g_hist = nullptr;

using sys::now_ns;

// Bytes to the next sample: exponential with mean g_rate.
int64_t next_gap() {
  if (t_rng == 0) t_rng = mix64(now_ns(CLOCK_MONOTONIC) ^ (reinterpret_cast<uintptr_t>(&t_rng)));
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  const double u = (static_cast<double>(t_rng >> 11) + 1.0) * 0x1p-53;  // (0, 1]
  return static_cast<int64_t>(-std::log(u) * g_rate) + 1;
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
Live* stripe_slots(size_t s) {
  return g_live + s * kPerStripe;
}

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

// The addresses an object's PT_LOAD segments span ([lo, hi); lo > hi if none).
void load_bounds(const dl_phdr_info* info, uintptr_t* lo, uintptr_t* hi) {
  *lo = UINTPTR_MAX;
  *hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    *lo = std::min<uintptr_t>(*lo, info->dlpi_addr + ph.p_vaddr);
    *hi = std::max<uintptr_t>(*hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
}

// The running program's path, in buf.
const char* exe_path(char* buf, size_t cap) {
  long n = readlink("/proc/self/exe", buf, cap - 1);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

int find_self(dl_phdr_info* info, size_t, void* ctx) {
  auto addr = reinterpret_cast<uintptr_t>(ctx);
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  load_bounds(info, &lo, &hi);
  if (addr - lo < hi - lo) {
    g_self_lo = lo;
    g_self_hi = hi;
    return 1;
  }
  return 0;
}

void copy(char* dst, size_t cap, const char* src) {
  std::snprintf(dst, cap, "%s", src != nullptr ? src : "");
}

void set_path(pid_t pid, bool child) {
  const char* pct = std::strstr(g_template, "%p");
  if (pct != nullptr) {
    std::snprintf(g_path, sizeof g_path, "%.*s%d%s", static_cast<int>(pct - g_template), g_template,
                  static_cast<int>(pid), pct + 2);
  } else if (child) {
    std::snprintf(g_path, sizeof g_path, "%s.%d", g_template, static_cast<int>(pid));
  } else {
    copy(g_path, sizeof g_path, g_template);
  }
}

// ---- writing ----

struct ModuleCtx {
  profile::Writer* w;
};

int write_module(dl_phdr_info* info, size_t, void* ctx) {
  auto* mc = static_cast<ModuleCtx*>(ctx);
  profile::ModuleRecord m;
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  load_bounds(info, &lo, &hi);
  char build_id[64];
  size_t build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_NOTE && build_id_len == 0) {
      // Notes: namesz, descsz, type, name (padded to 4), desc (padded to 4).
      const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
      const unsigned char* end = p + ph.p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
        const unsigned char* name = p + sizeof *nh;
        const unsigned char* desc = name + ((nh->n_namesz + 3) & ~3U);
        if (desc + nh->n_descsz > end) break;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            std::memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= sizeof build_id) {
          std::memcpy(build_id, desc, nh->n_descsz);
          build_id_len = nh->n_descsz;
          break;
        }
        p = desc + ((nh->n_descsz + 3) & ~3U);
      }
    }
  }
  if (hi <= lo) return 0;
  char exe[512];
  const char* path = info->dlpi_name;
  if (path == nullptr || path[0] == '\0') path = exe_path(exe, sizeof exe);
  m.base = info->dlpi_addr;
  m.start = lo;
  m.end = hi;
  m.path = path;
  m.build_id = std::string_view(build_id, build_id_len);
  mc->w->module(m);
  return 0;
}

// The same hash site= rules match (sites::locate).
uint64_t hash_of(uintptr_t ra) {
  sites::SiteInfo si;
  return sites::locate(reinterpret_cast<const void*>(ra), &si) ? si.hash : 0;
}

bool write_to(const char* path) {
  heap::ReentrancyGuard guard;
  char tmp[600];
  std::snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, static_cast<int>(getpid()));
  int fd = ::open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    log_msg(LogLevel::kError, "STRATA_PROFILE=\"%s\": cannot write %s: %s", g_template, tmp,
            std::strerror(errno));
    return false;
  }
  static char buf[1 << 16];
  profile::Writer w(fd, buf, sizeof buf);
  char exe[512];
  exe_path(exe, sizeof exe);
  profile::HeaderRecord h;
  h.pid = static_cast<int32_t>(getpid());
  h.start_ns = g_start_ns;
  h.end_ns = now_ns(CLOCK_REALTIME);
  h.interval_ms = g_interval_ms;
  h.exe = exe;
  h.sampler = g_sampler;
  h.tiers_spec = g_tiers;
  h.policy_spec = g_policy;
  h.migrate_spec = g_migrate;
  w.header(h);
  for (int t = 0; g_pol != nullptr && t < g_pol->ntiers; ++t) {
    const TierDef& d = g_pol->tiers[t];
    profile::TierRecord tr;
    tr.index = static_cast<uint8_t>(t);
    tr.name = d.name;
    tr.kind = tier_kind_name(d.kind);
    tr.cap = d.cap;
    tr.first_node = d.kind == TierKind::kPmemFile || d.nodes.empty() ? -1 : d.nodes.first();
    w.tier(tr);
  }
  ModuleCtx mc{&w};
  dl_iterate_phdr(write_module, &mc);
  // Sites: a copy of each under the lock, written outside it.
  for (size_t i = 0; i < kSites; ++i) {
    g_lock.lock();
    const Site s = g_sites[i];
    g_lock.unlock();
    if (s.key == 0) continue;
    profile::SiteRecord r;
    r.nframes = std::min<uint32_t>(s.nframes, kMaxFrames);
    for (uint32_t f = 0; f < r.nframes; ++f) r.frames[f] = s.frames[f];
    r.hash = r.nframes > 0 ? hash_of(s.frames[0]) : 0;
    r.allocs = static_cast<uint64_t>(std::llround(s.allocs));
    r.frees = static_cast<uint64_t>(std::llround(s.frees));
    r.bytes_allocated = static_cast<uint64_t>(std::llround(s.bytes_allocated));
    r.bytes_freed = static_cast<uint64_t>(std::llround(s.bytes_freed));
    r.live_bytes = r.bytes_allocated > r.bytes_freed ? r.bytes_allocated - r.bytes_freed : 0;
    r.lifetime_ns = static_cast<uint64_t>(std::llround(s.lifetime_ns));
    r.heat_byte_intervals = s.heat_bi;
    r.byte_intervals = s.bi;
    int placed = -1;
    for (int t = 0; t < kMaxTiers; ++t) {
      r.tier_byte_intervals[t] = s.tier_bi[t];
      if (s.tier_bytes[t] > 0 && (placed < 0 || s.tier_bytes[t] > s.tier_bytes[placed])) placed = t;
    }
    r.placed_tier = static_cast<int8_t>(placed);
    w.site(r);
  }
  if (g_hist != nullptr) {
    const History& hs = *g_hist;
    for (size_t i = 0; i < hs.intervals.size(); ++i) {
      const uint32_t nc = hs.nchunks[i];
      w.interval(hs.intervals[i],
                 std::span<const profile::ChunkRecord>(hs.chunks.data() + hs.first_chunk[i], nc));
    }
    for (const profile::MoveRecord& m : hs.moves) w.move(m);
  }
  bool ok = w.finish();
  int err = w.error();
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok || ::rename(tmp, path) != 0) {
    if (ok) err = errno;
    ::unlink(tmp);
    log_msg(LogLevel::kError, "STRATA_PROFILE=\"%s\": writing %s failed: %s", g_template, path,
            std::strerror(err));
    return false;
  }
  STRATA_LOG(LogLevel::kInfo, "profile written to %s (%llu bytes)", path,
             static_cast<unsigned long long>(w.bytes_written()));
  return true;
}

// Keeps the chunk history within kMaxChunkRecords: doubles the stride and
// drops the chunk lists of the intervals that fall between.
void thin_history() {
  History& hs = *g_hist;
  hs.stride *= 2;
  std::vector<profile::ChunkRecord> kept;
  kept.reserve(hs.chunks.size() / 2 + 1);
  for (size_t i = 0; i < hs.intervals.size(); ++i) {
    const uint64_t first = hs.first_chunk[i];
    const uint32_t n = hs.nchunks[i];
    hs.first_chunk[i] = kept.size();
    if (hs.intervals[i].index % hs.stride != 0) {
      hs.nchunks[i] = 0;
      continue;
    }
    kept.insert(kept.end(), hs.chunks.begin() + static_cast<ptrdiff_t>(first),
                hs.chunks.begin() + static_cast<ptrdiff_t>(first + n));
  }
  hs.chunks.swap(kept);
}

}  // namespace

bool start(const ProfConfig& cfg, const CompiledPolicy* pol, char* why, size_t cap) {
  if (cfg.path == nullptr || cfg.path[0] == '\0') return false;
  heap::ReentrancyGuard guard;
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
  const double prob = -std::expm1(-s / g_rate);  // chance that a block this size is sampled
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
    if (v[j].p == 0) ++st.n;
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

void account(ChunkLookup lookup, void* ctx) {
  if (!g_on) return;
  // Blocks allocated less than three intervals ago are left out: being
  // written for the first time (initialisation) is not use, and the heat
  // model needs a few intervals to forget it.
  constexpr uint64_t kSettle = 3;
  const uint64_t iv = __atomic_add_fetch(&g_iv, 1, __ATOMIC_RELAXED);
  for (size_t s = 0; s < kStripes; ++s) {
    Stripe& st = g_stripes[s];
    const Live* v = stripe_slots(s);
    st.lock.lock();
    for (size_t i = 0; st.n != 0 && i < kPerStripe; ++i) {
      const Live& l = v[i];
      if (l.p == 0 || iv - l.iv < kSettle) continue;
      Site& site = g_sites[l.site];
      ChunkInfo ci{0, -1};
      if (!lookup(l.p >> profile::kChunkShift, &ci, ctx)) continue;  // not resident yet
      add(site.bi, l.weight);
      add(site.heat_bi, l.weight * ci.heat);
      if (ci.tier >= 0 && ci.tier < kMaxTiers) add(site.tier_bi[ci.tier], l.weight);
    }
    st.lock.unlock();
  }
}

void begin_interval(uint64_t index, const uint64_t resident[kMaxTiers], uint64_t promoted_bytes,
                    uint64_t demoted_bytes, uint32_t promoted, uint32_t demoted, uint32_t failures,
                    uint32_t nchunks) {
  if (!g_on) return;
  History& hs = *g_hist;
  profile::IntervalRecord r;
  r.index = static_cast<uint32_t>(index);
  r.time_ns = now_ns(CLOCK_REALTIME) - g_start_ns;
  for (int t = 0; t < kMaxTiers; ++t) r.resident[t] = resident[t];
  r.promoted_bytes = promoted_bytes;
  r.demoted_bytes = demoted_bytes;
  r.promoted = promoted;
  r.demoted = demoted;
  r.failures = failures;
  if (hs.chunks.size() + nchunks > kMaxChunkRecords) thin_history();
  hs.keep_chunks = r.index % hs.stride == 0;
  hs.intervals.push_back(r);
  hs.first_chunk.push_back(hs.chunks.size());
  hs.nchunks.push_back(0);
}

void add_chunk(uint64_t id, float heat, int tier, uint64_t bytes) {
  if (!g_on || g_hist->intervals.empty() || !g_hist->keep_chunks) return;
  History& hs = *g_hist;
  profile::ChunkRecord c;
  c.id = id;
  c.heat = heat;
  c.tier = static_cast<int8_t>(tier);
  c.bytes = static_cast<uint32_t>(std::min<uint64_t>(bytes, UINT32_MAX));
  hs.chunks.push_back(c);
  ++hs.nchunks.back();
}

void add_move(uint64_t interval, const Move& m, uint64_t bytes) {
  if (!g_on || g_hist->moves.size() >= kMaxMoves) return;
  profile::MoveRecord r;
  r.interval = static_cast<uint32_t>(interval);
  r.chunk = m.chunk;
  r.from = static_cast<int8_t>(m.from);
  r.to = static_cast<int8_t>(m.to);
  r.bytes = bytes;
  r.reason = m.reason;
  g_hist->moves.push_back(r);
}

void poll_control() {
  if (!g_on) return;
  char ctl[560];
  std::snprintf(ctl, sizeof ctl, "%s.dump", g_path);
  if (::access(ctl, F_OK) != 0) return;
  ::unlink(ctl);
  write_to(g_path);
}

void write_final() {
  if (!g_on) return;
  flush_pending();  // the exiting thread's (other threads hold at most kFlushEvery samples each)
  write_to(g_path);
}

bool wants_quick_exit_write() {
  if (!g_on) return false;
  if (!g_child) return true;
  const uint64_t lived = now_ns(CLOCK_REALTIME) - g_start_ns;
  return lived >= static_cast<uint64_t>(std::max<uint32_t>(g_interval_ms, 100)) * 1000000ULL;
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
