#include "src/runtime/runtime.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "allocator/heap.h"
#include "allocator/jemalloc_api.h"
#include "base/log.h"
#include "base/sys.h"
#include "src/engine/engine.h"
#include "src/prof/profile.h"
#include "src/prof/sites.h"
#include "src/runtime/config_load.h"
#include "src/runtime/metrics.h"
#include "src/runtime/region_map.h"

namespace strata::rt {

constinit bool g_heap_rules = false;

namespace {

using heap::t_state;

constinit CompiledPolicy g_policy_storage;
constinit std::atomic<const CompiledPolicy*> g_policy{nullptr};
constinit std::atomic<int> g_init{0};
constinit bool g_secure = false;
constinit char g_stats_target[512] = {};
constinit bool g_stats_on = false;
constinit bool g_stats_to_stderr = false;  // STRATA_STATS=1 or stderr; otherwise a file
constinit int g_stats_fd = -1;             // a copy of stderr taken at init (see init)
constinit InterleaveState g_interleave;
constinit char g_pmem_dir[256] = {};
constinit char g_metrics_path[512] = {};  // STRATA_METRICS

// The calling thread's hint stack; entries hold label + 1 and tier + 1 so the
// zero-initialised TLS means "no hint".
struct HintStack {
  uint8_t depth;
  int8_t label[kMaxHintDepth];
  int8_t tier[kMaxHintDepth];
};
__thread HintStack t_hints __attribute__((tls_model("initial-exec")));

// Ranges given a hint through strata_hint_range (pinned, hot, cold).
RegionMap& hint_map() {
  static constinit RegionMap m;
  return m;
}

using FreeFn = void (*)(void*);
using UsableFn = size_t (*)(void*);
constinit std::atomic<FreeFn> g_real_free{nullptr};
constinit std::atomic<UsableFn> g_real_usable{nullptr};

void resolve_libc() {
  if (g_real_free.load(std::memory_order_acquire) != nullptr) return;
  heap::ReentrancyGuard g;
  auto f = reinterpret_cast<FreeFn>(dlsym(RTLD_NEXT, "free"));
  auto u = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  // If strata is linked into the program rather than preloaded, RTLD_NEXT may
  // find strata itself again: that would loop.
  if (f == reinterpret_cast<FreeFn>(&::free)) f = nullptr;
  g_real_usable.store(u, std::memory_order_release);
  g_real_free.store(f, std::memory_order_release);
}

void* spill(int from, size_t size, size_t align, bool zero) {
  const int n = heap::ntiers();
  for (int step = 1; step < n; ++step) {
    // Slower tiers first, then faster ones.
    int t = from + step < n ? from + step : n - 1 - step;
    if (t < 0 || !heap::tier_enabled(t)) continue;
    void* p = heap::alloc(t, size, align, zero);
    if (p != nullptr) {
      heap::count_spill(from, t);
      return p;
    }
  }
  return nullptr;
}

// A heap block placed by a pin rule: its pages are recorded as pinned (the
// migration engine skips them). Page-granular, and kept after the block is
// freed: pin rules are meant for a few long-lived sites.
void record_pin(void* p, size_t len) {
  heap::ReentrancyGuard g;
  auto lo = reinterpret_cast<uintptr_t>(p) & ~(sys::kPageSize - 1);
  uintptr_t hi =
      (reinterpret_cast<uintptr_t>(p) + len + sys::kPageSize - 1) & ~(sys::kPageSize - 1);
  hint_map().add(lo, hi, heap::tier_of(p), RegionKind::kHint, 0, kRegionPinned);
}

struct SiteCtx {
  const CompiledPolicy* pol;
  const void* ra;
};

uint64_t site_bits(void* c) {
  auto* s = static_cast<SiteCtx*>(c);
  return s->ra != nullptr ? sites::match_bits(*s->pol, s->ra) : 0;
}

// The policy's decision for one allocation by the calling thread.
Placement decide(const CompiledPolicy& pol, size_t size, AllocKind kind, const void* ra) {
  PlaceQuery q;
  q.size = size;
  q.kind = kind;
  if (uint8_t d = t_hints.depth; d != 0) {
    q.hint_label = t_hints.label[d - 1] - 1;
    q.hint_tier = t_hints.tier[d - 1] - 1;
  }
  SiteCtx ctx{&pol, ra};
  q.site_bits = site_bits;
  q.site_ctx = &ctx;
  return pol.decide(q, &g_interleave);
}

int place(size_t size, const void* ra) {
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  if (pol == nullptr || t_state.depth != 0) return 0;
  return decide(*pol, size, AllocKind::kHeap, ra).tier;
}

void* alloc_placed(int tier, size_t size, size_t align, bool zero, bool nospill) {
  void* p = heap::tier_enabled(tier) ? heap::alloc(tier, size, align, zero) : nullptr;
  if (p == nullptr && !nospill) p = spill(tier, size, align, zero);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void stats_at_exit() {
  if (!g_stats_on) return;
  int fd = g_stats_fd >= 0 ? g_stats_fd : STDERR_FILENO;
  bool close_fd = false;
  if (!g_stats_to_stderr) {
    fd = ::open(g_stats_target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      STRATA_LOG(LogLevel::kError, "STRATA_STATS=\"%s\": cannot open: %s", g_stats_target,
                 std::strerror(errno));
      return;
    }
    close_fd = true;
  }
  write_stats(fd);
  if (close_fd) ::close(fd);
}

void format_bytes(char* buf, size_t cap, uint64_t b) {
  if (b < 10 * 1024)
    std::snprintf(buf, cap, "%lluB", static_cast<unsigned long long>(b));
  else if (b < 10ULL << 20)
    std::snprintf(buf, cap, "%.1fK", static_cast<double>(b) / 1024.0);
  else if (b < 10ULL << 30)
    std::snprintf(buf, cap, "%.1fM", static_cast<double>(b) / 1048576.0);
  else
    std::snprintf(buf, cap, "%.1fG", static_cast<double>(b) / 1073741824.0);
}

void sum_mmaps(const Region& r, void* ctx) {
  auto* s = static_cast<MmapSums*>(ctx);
  if (r.kind != RegionKind::kMmap || r.tier < 0 || r.tier >= kMaxTiers) return;
  s->bytes[r.tier] += r.end - r.start;
  s->count[r.tier] += 1;
}

// What the migration engine reads (engine::Sources): the ranges of a map,
// copied under its lock.
struct FillCtx {
  engine::Range* out;
  size_t cap;
  size_t n;
  bool mmaps_only;
};
void fill_one(const Region& r, void* c) {
  auto* f = static_cast<FillCtx*>(c);
  if (f->mmaps_only && r.kind != RegionKind::kMmap) return;
  if (f->n < f->cap) f->out[f->n] = engine::Range{r.start, r.end, r.tier, r.flags};
  ++f->n;
}
size_t fill_mmaps(engine::Range* out, size_t cap) {
  FillCtx f{out, cap, 0, true};
  region_map().for_each(fill_one, &f);
  return f.n;
}
size_t fill_hints(engine::Range* out, size_t cap) {
  FillCtx f{out, cap, 0, false};
  hint_map().for_each(fill_one, &f);
  return f.n;
}
void write_metrics() {
  metrics::write(g_metrics_path);
}

// The region map's lock is taken before jemalloc's (heap::prefork): jemalloc
// registered its own fork handlers before strata's init ran, and prepare
// handlers run in reverse order of registration. It is never taken while a
// jemalloc lock is held (only the os-range lock is, inside jemalloc's mmap calls).
void atfork_prepare() {
  engine::prefork();
  prof::prefork();
  sites::prefork();
  hint_map().lock();
  region_map().lock();
  heap::prefork();
}
void atfork_parent() {
  heap::postfork_parent();
  region_map().unlock();
  hint_map().unlock();
  sites::postfork_parent();
  prof::postfork_parent();
  engine::postfork_parent();
}
void atfork_child() {
  heap::postfork_child();
  region_map().unlock();
  hint_map().unlock();
  sites::postfork_child();
  prof::postfork_child();
  engine::postfork_child();
}

}  // namespace

const CompiledPolicy* policy() {
  return g_policy.load(std::memory_order_acquire);
}

void init() {
  int expected = 0;
  if (!g_init.compare_exchange_strong(expected, 1)) return;
  heap::ensure_thread();
  heap::ReentrancyGuard g;
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  resolve_libc();
  g_secure = getauxval(AT_SECURE) != 0;
  // The environment, read once, through the options table.
  LoadedConfig cfg;
  Diagnostics diag;
  load_config_from_environ(g_secure, &cfg, &diag);
  set_log_level(static_cast<LogLevel>(cfg.log_level));
  for (const std::string& e : diag.errors) log_msg(LogLevel::kError, "%s", e.c_str());
  if (!diag.errors.empty() && cfg.strict) exit_strict();
  if (!cfg.stats.empty() && !g_secure) {
    std::snprintf(g_stats_target, sizeof g_stats_target, "%s", cfg.stats.c_str());
    g_stats_on = std::strcmp(g_stats_target, "0") != 0;
    g_stats_to_stderr =
        std::strcmp(g_stats_target, "1") == 0 || std::strcmp(g_stats_target, "stderr") == 0;
    // Programs may close stderr before exit (coreutils do): keep a copy.
    if (g_stats_on && g_stats_to_stderr) g_stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
  }
  // Bring up the tier heaps. A tier that cannot be set up is disabled: what
  // would go there spills to the next tier.
  bool multi_node = cfg.topo.nodes.size() > 1;
  g_policy_storage = cfg.policy;
  int n = cfg.policy.ntiers;
  for (int i = 0; i < n; ++i) {
    std::string why;
    const TierDef& t = cfg.policy.tiers[i];
    if (!heap::configure_tier(i, t, multi_node, &why)) {
      if (cfg.tiers_from_env) {
        const char* v = cfg.env_text(Opt::kTiers);
        log_msg(LogLevel::kError,
                "STRATA_TIERS=\"%s\": tier '%s' unavailable: %s (expected a usable tier); its "
                "allocations go to the next tier",
                v != nullptr ? v : "", t.name, why.c_str());
      } else {
        log_msg(LogLevel::kError,
                "tier %d '%s' unavailable: %s; its allocations go to the next tier", i, t.name,
                why.c_str());
      }
      if (cfg.strict) _exit(2);
    } else if (i == 0 && heap::plain_mode()) {
      STRATA_LOG(LogLevel::kInfo, "%s", why.c_str());  // only a problem if tiers were asked for
    } else if (!why.empty()) {
      STRATA_LOG(LogLevel::kInfo, "tier %d '%s': %s", i, t.name, why.c_str());
      std::snprintf(g_policy_storage.tiers[i].why, sizeof g_policy_storage.tiers[i].why, "%s",
                    why.c_str());
    }
  }
  heap::set_ntiers(n);
  std::snprintf(g_pmem_dir, sizeof g_pmem_dir, "%s", cfg.pmem_dir.c_str());
  if (g_policy_storage.site_rules) sites::prepare();
  g_heap_rules = g_policy_storage.heap_rules;
  bool profiling = false;
  if (!cfg.profile.empty() && !g_secure) {
    prof::ProfConfig pc;
    pc.path = cfg.profile.c_str();
    pc.rate = cfg.profile_rate;
    pc.tiers_spec = cfg.env_text(Opt::kTiers);
    pc.policy_spec = cfg.env_text(Opt::kPolicy);
    pc.migrate_spec = cfg.env_text(Opt::kMigrate);
    char why[256];
    profiling = prof::start(pc, &g_policy_storage, why, sizeof why);
    if (profiling)
      STRATA_LOG(LogLevel::kInfo, "profiler: %s", why);
    else
      log_msg(LogLevel::kError, "STRATA_PROFILE=\"%s\": profiling unavailable: %s", pc.path, why);
    if (!profiling && cfg.strict) exit_strict();
  }
  // Profiling samples allocations on the slow path.
  heap::set_fast_path_profiling(profiling);
  heap::set_fast_path_allowed(!g_heap_rules && g_policy_storage.tiers[0].cap == 0);
  g_policy.store(&g_policy_storage, std::memory_order_release);
  STRATA_LOG(LogLevel::kInfo, "%d tier(s), %d rule(s)", n, g_policy_storage.nrules);
  if (!g_secure) {
    std::snprintf(g_metrics_path, sizeof g_metrics_path, "%s", cfg.metrics.c_str());
    engine::Config ec;
    ec.pol = &g_policy_storage;
    ec.sample_only = profiling;
    ec.keep_running = g_metrics_path[0] != '\0';
    ec.strict = cfg.strict;
    ec.sampler_text = cfg.env_text(Opt::kSampler);
    ec.src.mmaps = fill_mmaps;
    ec.src.hints = fill_hints;
    if (g_metrics_path[0] != '\0') ec.src.after_interval = write_metrics;
    engine::start(ec);
  }
}

int tier_of_address(const void* p) {
  int t = heap::tier_of(p);
  if (t >= 0) return t;
  Region r{};
  if (region_map().find(reinterpret_cast<uintptr_t>(p), &r)) return r.tier;
  return -1;
}

namespace {
// The slow path's allocation once the profiler's decision is made.
void* alloc_decided(size_t size, size_t align, bool zero, const void* ra, bool sample) noexcept {
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  const bool rules = pol != nullptr && t_state.depth == 0 && (g_heap_rules || t_hints.depth != 0);
  if (!sample && !rules) return alloc_placed(0, size, align, zero, false);
  Placement pl;
  if (rules) pl = decide(*pol, size, AllocKind::kHeap, ra);
  void* p = nullptr;
  // A sampled tier-0 block comes from the sample heap, which free() tells apart by address.
  if (sample && pl.tier == 0) p = heap::alloc_sample(size, align, zero);
  if (p == nullptr) p = alloc_placed(pl.tier, size, align, zero, pl.nospill);
  if (pl.pin && p != nullptr) record_pin(p, heap::usable_size(p));
  if (sample) prof::record(p, size, ra);
  return p;
}
}  // namespace

void* malloc_slow(size_t size, size_t align, bool zero, const void* ra) noexcept {
  heap::ensure_thread();
  const bool sample = prof::g_on && t_state.depth == 0 && prof::take(size);
  return alloc_decided(size, align, zero, ra, sample);
}

void free_slow(void* p) noexcept {
  if (heap::is_side(p)) {
    prof::forget(p);
    heap::dalloc_side(p);
    return;
  }
  int t = heap::tier_of(p);
  if (t >= 0) {
    if (t != 0 && prof::g_on) prof::forget(p);
    heap::dalloc(p, t);
    return;
  }
  // Not strata's: allocated before the preload took over, or by code bound
  // directly to libc. Hand it back to libc; never crash, at worst leak.
  heap::count_foreign_free();
  resolve_libc();
  FreeFn f = g_real_free.load(std::memory_order_acquire);
  if (f != nullptr) f(p);
}

size_t usable_size(void* p) noexcept {
  if (p == nullptr) return 0;
  if (heap::tier_of(p) >= 0) return heap::usable_size(p);
  resolve_libc();
  UsableFn u = g_real_usable.load(std::memory_order_acquire);
  return u != nullptr ? u(p) : 0;
}

void* realloc_impl(void* p, size_t size, const void* ra) noexcept {
  if (p == nullptr) return malloc_slow(size, 0, false, ra);
  if (size == 0) {  // glibc frees and returns NULL
    free_slow(p);
    return nullptr;
  }
  heap::ensure_thread();
  int tier = heap::tier_of(p);
  // The profiler counts the new size as an allocation: a realloc that ends the
  // countdown is sampled as a new block (from the side slot for tier 0).
  const bool sample = prof::g_on && t_state.depth == 0 && prof::take(size);
  if (tier < 0 || sample) {
    // Not strata's, or sampled: a new block and a free.
    size_t old = usable_size(p);
    void* q = alloc_decided(size, 0, false, ra, sample);
    if (q == nullptr) return nullptr;
    std::memcpy(q, p, old < size ? old : size);
    free_slow(p);
    return q;
  }
  // A sampled block ends its record here (the new size is a new block). Tier-0
  // samples are in the side slot; slot 0 holds none.
  if ((tier != 0 || heap::is_side(p)) && prof::g_on) prof::forget(p);
  int want = g_heap_rules || t_hints.depth != 0 ? place(size, ra) : 0;
  if (want == tier || !heap::tier_enabled(want)) {
    void* q = heap::ralloc(p, tier, size);
    if (q != nullptr) return q;
  }
  void* q = alloc_placed(want, size, 0, false, false);
  if (q == nullptr) return nullptr;
  size_t old = heap::usable_size(p);
  std::memcpy(q, p, old < size ? old : size);
  heap::dalloc(p, tier);
  return q;
}

void* mmap_impl(void* addr, size_t len, int prot, int flags, int fd, long off, const void* ra) {
  void* p = strata_sys_mmap(addr, len, prot, flags, fd, off);
  if (p == MAP_FAILED || t_state.depth != 0) return p;
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t end = start + ((len + sys::kPageSize - 1) & ~(sys::kPageSize - 1));
  bool anon_private = (flags & MAP_ANONYMOUS) != 0 && (flags & MAP_TYPE) == MAP_PRIVATE;
  if (!anon_private) {
    if ((flags & MAP_FIXED) != 0) region_map().remove(start, end);
    return p;
  }
  heap::ReentrancyGuard g;
  int tier = 0;
  uint16_t rflags = 0;
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  if (pol != nullptr && (pol->mmap_rules || t_hints.depth != 0)) {
    Placement pl = decide(*pol, len, AllocKind::kMmap, ra);
    tier = pl.tier;
    if (pl.pin) rflags |= kRegionPinned;
  }
  if (!heap::bind_range(tier, p, end - start) && tier != 0) {
    // A file-heap tier cannot back an anonymous mapping; it stays where the kernel puts it.
    if (!heap::tier_enabled(tier) || pol->tiers[tier].kind == TierKind::kPmemFile) tier = 0;
    heap::bind_range(0, p, end - start);
  }
  region_map().add(start, end, tier, RegionKind::kMmap, 0, rflags);
  return p;
}

int munmap_impl(void* addr, size_t len) {
  int r = strata_sys_munmap(addr, len);
  if (r == 0) {
    auto start = reinterpret_cast<uintptr_t>(addr);
    region_map().remove(start, start + ((len + sys::kPageSize - 1) & ~(sys::kPageSize - 1)));
  }
  return r;
}

void* mremap_impl(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr) {
  auto old_start = reinterpret_cast<uintptr_t>(old_addr);
  Region r{};
  bool tracked = region_map().find(old_start, &r);
  void* p = sys::mremap(old_addr, old_len, new_len, flags, new_addr);
  if (p == MAP_FAILED || !tracked) return p;
  constexpr int kDontUnmap = 4;  // MREMAP_DONTUNMAP
  if ((flags & kDontUnmap) == 0) region_map().remove(old_start, old_start + old_len);
  auto s = reinterpret_cast<uintptr_t>(p);
  region_map().add(s, s + ((new_len + sys::kPageSize - 1) & ~(sys::kPageSize - 1)), r.tier, r.kind,
                   r.site, r.flags);
  return p;
}

void* alloc_on_tier(int tier, size_t size, bool zero, bool nospill) noexcept {
  init();
  heap::ensure_thread();
  if (tier < 0 || tier >= heap::ntiers()) tier = 0;
  return alloc_placed(tier, size, 0, zero, nospill);
}

int hint_push(const char* name) {
  init();
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  if (name == nullptr || name[0] == '\0' || std::strlen(name) >= 32) return -EINVAL;
  if (t_hints.depth >= kMaxHintDepth) return -EOVERFLOW;
  int label = pol != nullptr ? pol->label_index(name) : -1;
  int tier = pol != nullptr ? pol->hint_tier(name) : -1;
  uint8_t d = t_hints.depth;
  t_hints.label[d] = static_cast<int8_t>(label + 1);
  t_hints.tier[d] = static_cast<int8_t>(tier + 1);
  t_hints.depth = static_cast<uint8_t>(d + 1);
  // Hinted threads need the policy on every allocation: from now on no
  // thread takes the malloc fast path (a per-thread check would cost every
  // program a TLS load per malloc).
  if (label >= 0 || tier >= 0) heap::set_fast_path_allowed(false);
  return d + 1;
}

int hint_pop() {
  if (t_hints.depth == 0) return -ENOENT;
  return --t_hints.depth;
}

int hint_range(void* addr, size_t len, int hint, int tier) {
  init();
  heap::ReentrancyGuard g;
  if (addr == nullptr || len == 0) return -EINVAL;
  auto lo = reinterpret_cast<uintptr_t>(addr) & ~(sys::kPageSize - 1);
  uintptr_t hi = 0;
  if (__builtin_add_overflow(reinterpret_cast<uintptr_t>(addr), len + sys::kPageSize - 1, &hi))
    return -EINVAL;
  hi &= ~(sys::kPageSize - 1);
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  const int nt = pol != nullptr ? pol->ntiers : 1;
  // 1 hot, 2 cold, 3 pin (to `tier`, or where the pages are when tier < 0), 4 unpin.
  uint16_t flags = 0;
  int target = -1;
  switch (hint) {
    case 1:
      flags = kRegionHot;
      target = 0;
      break;
    case 2:
      flags = kRegionCold;
      target = nt - 1;
      break;
    case 3:
      if (tier >= nt) return -EINVAL;
      flags = kRegionPinned;
      target = tier;
      break;
    case 4:
      hint_map().remove(lo, hi);
      return 0;
    default:
      return -EINVAL;
  }
  if (!hint_map().add(lo, hi, target, RegionKind::kHint, 0, flags)) return -ENOMEM;
  if (target < 0 || pol == nullptr) return 0;
  const TierDef& t = pol->tiers[target];
  if (t.kind == TierKind::kPmemFile || t.nodes.empty() || !heap::tier_enabled(target)) return 0;
  // Move the resident pages now, in batches; pages not touched yet follow
  // their mapping's policy when first touched.
  constexpr size_t kBatch = 512;
  void* pages[kBatch];
  int nodes[kBatch];
  int status[kBatch];
  const int node = t.nodes.first();
  for (uintptr_t a = lo; a < hi;) {
    size_t n = 0;
    for (; n < kBatch && a < hi; ++n, a += sys::kPageSize) {
      pages[n] = reinterpret_cast<void*>(a);
      nodes[n] = node;
    }
    constexpr int kMpolMfMove = 1 << 1;  // MPOL_MF_MOVE: pages mapped only by this process
    long r = sys::move_pages(n, pages, nodes, status, kMpolMfMove);
    if (r < 0 && r != -ENOENT) return static_cast<int>(r);
  }
  return 0;
}

uint16_t hint_flags(const void* addr, int* tier) {
  Region r{};
  if (!hint_map().find(reinterpret_cast<uintptr_t>(addr), &r)) return 0;
  if (tier != nullptr) *tier = r.tier;
  return r.flags;
}

const char* pmem_dir() {
  init();
  return g_pmem_dir;
}

MmapSums mmap_sums() {
  MmapSums sums{};
  region_map().for_each(sum_mmaps, &sums);
  return sums;
}

void write_stats(int fd) {
  heap::ReentrancyGuard g;
  // The calling thread's cache counts reach the arena statistics on a flush.
  heap::flush_thread_caches();
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  char buf[512];
  char exe[128] = "?";
  long n = sys::read_file("/proc/self/comm", exe, sizeof exe);
  if (n > 0 && exe[n - 1] == '\n') exe[n - 1] = '\0';
  int len =
      std::snprintf(buf, sizeof buf, "strata stats: pid %d (%s)%s\n", static_cast<int>(getpid()),
                    exe, heap::stats_available() ? "" : " [jemalloc built without stats]");
  sys::write_all(fd, buf, static_cast<size_t>(len));
  len = std::snprintf(buf, sizeof buf, "%-4s %-10s %-10s %9s %9s %12s %9s %9s %9s %7s %9s\n", "#",
                      "tier", "nodes", "cap", "live", "allocs", "mapped", "spill-in", "spill-out",
                      "mmaps", "mmap-size");
  sys::write_all(fd, buf, static_cast<size_t>(len));
  const MmapSums sums = mmap_sums();
  int nt = pol != nullptr ? pol->ntiers : 1;
  for (int t = 0; t < nt; ++t) {
    heap::TierStats s{};
    heap::tier_stats(t, &s);
    char cap[16];
    char live[16];
    char mapped[16];
    char msize[16];
    if (s.cap)
      format_bytes(cap, sizeof cap, s.cap);
    else
      std::snprintf(cap, sizeof cap, "-");
    format_bytes(live, sizeof live, s.allocated);
    format_bytes(mapped, sizeof mapped, s.mapped);
    format_bytes(msize, sizeof msize, sums.bytes[t]);
    const char* name = pol != nullptr ? pol->tiers[t].name : "dram";
    char nodes[32] = "-";
    if (pol != nullptr) {
      const TierDef& d = pol->tiers[t];
      if (d.kind == TierKind::kPmemFile)
        std::snprintf(nodes, sizeof nodes, "file");
      else if (!d.nodes.empty())
        std::snprintf(nodes, sizeof nodes, "%s", d.nodes.str().c_str());
    }
    len = std::snprintf(
        buf, sizeof buf, "%-4d %-10s %-10s %9s %9s %12llu %9s %9llu %9llu %7llu %9s%s\n", t, name,
        nodes, cap, live, static_cast<unsigned long long>(s.nmalloc), mapped,
        static_cast<unsigned long long>(s.spill_in), static_cast<unsigned long long>(s.spill_out),
        static_cast<unsigned long long>(sums.count[t]), msize,
        heap::tier_enabled(t) ? "" : "  (unavailable)");
    sys::write_all(fd, buf, static_cast<size_t>(len));
  }
  if (engine::running() || engine::sampler_name()[0] != '\0') {
    engine::Counters c{};
    engine::counters(&c);
    char up[16];
    char down[16];
    format_bytes(up, sizeof up, c.promoted_bytes);
    format_bytes(down, sizeof down, c.demoted_bytes);
    char wm[16];
    format_bytes(wm, sizeof wm, c.watermark_bytes);
    const double wall = c.wall_ns > 0 ? static_cast<double>(c.wall_ns) : 1.0;
    len = std::snprintf(
        buf, sizeof buf,
        "migration: sampler %s, %llu intervals, %llu chunks (%llu hot); promoted %s in %llu "
        "moves, demoted %s in %llu moves (%s over a high watermark); engine CPU %.2f%% of wall "
        "time\n",
        engine::sampler_name(), static_cast<unsigned long long>(c.intervals),
        static_cast<unsigned long long>(c.chunks), static_cast<unsigned long long>(c.hot_chunks),
        up, static_cast<unsigned long long>(c.promotions), down,
        static_cast<unsigned long long>(c.demotions), wm,
        100.0 * static_cast<double>(c.sample_ns + c.migrate_ns) / wall);
    sys::write_all(fd, buf, static_cast<size_t>(len));
    if (c.pages_failed != 0 || c.syscall_errors != 0 || c.sampler_errors != 0) {
      len = std::snprintf(
          buf, sizeof buf,
          "migration failures: %llu pages (ENOMEM %llu, EBUSY %llu, EFAULT %llu, EACCES %llu, "
          "other %llu), %llu failed calls, %llu sampler errors\n",
          static_cast<unsigned long long>(c.pages_failed),
          static_cast<unsigned long long>(c.fail_nomem),
          static_cast<unsigned long long>(c.fail_busy),
          static_cast<unsigned long long>(c.fail_fault),
          static_cast<unsigned long long>(c.fail_acces),
          static_cast<unsigned long long>(c.fail_other),
          static_cast<unsigned long long>(c.syscall_errors),
          static_cast<unsigned long long>(c.sampler_errors));
      sys::write_all(fd, buf, static_cast<size_t>(len));
    }
  }
  heap::TierStats s0{};
  heap::tier_stats(0, &s0);
  if (s0.foreign_frees != 0) {
    len = std::snprintf(buf, sizeof buf, "foreign frees handed to libc: %llu\n",
                        static_cast<unsigned long long>(s0.foreign_frees));
    sys::write_all(fd, buf, static_cast<size_t>(len));
  }
}

void before_quick_exit() noexcept {
  if (!prof::wants_quick_exit_write()) return;
  engine::stop();
  engine::quiesce();
  prof::write_final();
}

// Constructor and destructor of libstrata.so.
__attribute__((constructor(101))) void strata_constructor() {
  init();
}
__attribute__((destructor)) void strata_destructor() {
  engine::stop();
  engine::quiesce();
  prof::write_final();
  stats_at_exit();
}

}  // namespace strata::rt
