// Init: the configuration read once, the tier heaps brought up, the profiler and
// the migration engine started (with the callbacks the engine reads through),
// fork handlers; and the library's constructor and destructor.
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "allocator/heap.h"
#include "allocator/sigheap.h"
#include "allocator/sigsafe.h"
#include "base/log.h"
#include "base/sys.h"
#include "src/engine/engine.h"
#include "src/prof/profile.h"
#include "src/prof/sites.h"
#include "src/runtime/config_load.h"
#include "src/runtime/internal.h"
#include "src/runtime/metrics.h"
#include "src/runtime/region_map.h"
#include "src/runtime/runtime.h"

namespace strata::rt {

namespace {

constinit CompiledPolicy g_policy_storage;

constinit std::atomic<int> g_init{0};

constinit bool g_secure = false;

constinit char g_pmem_dir[256] = {};

constinit char g_metrics_path[512] = {};  // STRATA_METRICS

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

// The region map's lock is taken before jemalloc's: jemalloc registered its own
// fork handlers before strata's init ran, and prepare handlers run in reverse
// order of registration. It is never taken while a jemalloc lock is held (only
// the os-range lock is, inside jemalloc's mmap calls). heap::prefork comes
// first: it calls into jemalloc (see there), so no lock may be held yet.
void atfork_prepare() {
  heap::prefork();
  engine::prefork();
  prof::prefork();
  sites::prefork();
  hint_map().lock();
  region_map().lock();
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
  sigsafe::reset_after_fork();
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
  for (const std::string& e : diag.lines()) log_msg(LogLevel::kError, "%s", e.c_str());
  if (!diag.errors.empty() && cfg.strict) exit_strict();
  if (!cfg.stats.empty() && !g_secure) configure_stats(cfg.stats.c_str());
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

const char* pmem_dir() {
  init();
  return g_pmem_dir;
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
