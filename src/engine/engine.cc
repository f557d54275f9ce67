#include "src/engine/engine.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "allocator/heap.h"
#include "base/libm.h"
#include "base/log.h"
#include "base/sys.h"
#include "src/engine/internal.h"
#include "src/prof/profile.h"

// The engine's public interface (engine.h), its globals and the thread loop;
// sampler_select.cc picks the sampler, interval.cc / inventory.cc / mover.cc
// are one interval's work.
namespace strata::engine {

constinit AtomicCounters g_counters{};
constinit std::atomic<bool> g_running{false};
constinit std::atomic<bool> g_stop{false};
constinit pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;  // one interval's work
constinit const CompiledPolicy* g_pol = nullptr;
constinit char g_sampler_name[16] = {};
constinit char g_sampler_reason[512] = {};
constinit char g_sampler_note[256] = {};
constinit Sources g_src{};                // what the runtime lets the engine read
constinit char g_sampler_text[512] = {};  // STRATA_SAMPLER as given, for error lines
constinit bool g_strict = false;          // STRATA_STRICT: an unusable STRATA_SAMPLER is fatal
constinit double g_cpu_pct = kAutoCpuMigrating;  // the sampling budget in use (start())
constinit Engine* g_engine = nullptr;
// When this process's engine thread started (CLOCK_MONOTONIC), 0 before.
constinit std::atomic<uint64_t> g_start_ns{0};

// Copies the ranges `fill` reports into *out (grown to fit); how many there are.
size_t snapshot(size_t (*fill)(Range* out, size_t cap), std::vector<Range>* out) {
  if (fill == nullptr) return 0;
  size_t n = fill(out->data(), out->size());
  while (n > out->size()) {
    out->resize(n + 64);
    n = fill(out->data(), out->size());
  }
  return n;
}

// Whether move_pages can bring memory to tier t and take it away: a tier on
// NUMA nodes of its own (a file heap has none; two tiers on one node, as on
// a one-node machine, cannot be told apart by where pages are).
bool movable_tier(const CompiledPolicy& pol, int t) {
  const TierDef& d = pol.tiers[t];
  if (d.kind == TierKind::kPmemFile || d.nodes.empty() || !heap::tier_enabled(t)) return false;
  for (int u = 0; u < pol.ntiers; ++u) {
    if (u == t || pol.tiers[u].kind == TierKind::kPmemFile) continue;
    for (int n = 0; n < kMaxNodes; ++n)
      if (d.nodes.test(n) && pol.tiers[u].nodes.test(n)) return false;
  }
  return true;
}

namespace {

void sleep_ms(uint64_t ms) {
  // In slices, so stop() is noticed within 50 ms.
  while (ms > 0 && !g_stop.load(std::memory_order_relaxed)) {
    uint64_t s = std::min<uint64_t>(ms, 50);
    timespec ts{static_cast<time_t>(s / 1000), static_cast<long>((s % 1000) * 1000000)};
    nanosleep(&ts, nullptr);
    ms -= s;
  }
}

void* thread_main(void*) {
  heap::ensure_thread();
  heap::ReentrancyGuard guard;  // everything this thread allocates goes to the default heap
  // The heat model's pow: libm is opened here, off the program's exec path.
  const char* no_libm = nullptr;
  if (!math::load(&no_libm)) {
    log_msg(LogLevel::kError, "migration engine: %s; not started", no_libm);
    g_running.store(false, std::memory_order_release);
    return nullptr;
  }
  const SamplerConfig& sc = g_pol->sampler;
  const uint64_t interval_ms = g_pol->migrate.interval_ms;
  // The accessed-bit window: fixed (window=T) or adapted: halved while the
  // median chunk (by bytes) reads more than a quarter as referenced as the
  // top one (long windows saturate: memory touched now and then looks as hot
  // as the hot set), doubled while even the top chunk reads under half
  // referenced (short windows see too little).
  const uint64_t max_window = std::max<uint64_t>(1, interval_ms / 2);
  uint64_t window_ms = sc.window_ms != 0 ? std::min<uint64_t>(sc.window_ms, interval_ms)
                                         : std::max<uint64_t>(1, interval_ms / 10);
  uint64_t sampled = 0;
  double cost_ns = 0;
  double fixed_ns = 0;
  constexpr double kMinScanNs = 1e6;  // a scan budget never below 1 ms
  while (!g_stop.load(std::memory_order_relaxed)) {
    const uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    const uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    g_engine->sampler()->arm();
    COUNTER(sample_ns).fetch_add(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0, std::memory_order_relaxed);
    sleep_ms(window_ms);
    if (g_stop.load(std::memory_order_relaxed)) break;
    // A sampler that waits for its source (damon) waits here, outside the
    // lock that fork() and exit take.
    const uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    g_engine->sampler()->prepare();
    COUNTER(sample_ns).fetch_add(now_ns(CLOCK_THREAD_CPUTIME_ID) - c1, std::memory_order_relaxed);
    if (g_stop.load(std::memory_order_relaxed)) break;
    pthread_mutex_lock(&g_lock);
    g_engine->interval();
    const double median = g_engine->median_scaled();
    const double top = g_engine->top_fraction();
    prof::poll_control();
    pthread_mutex_unlock(&g_lock);
    if (g_src.after_interval != nullptr) g_src.after_interval();
    if (sc.window_ms == 0 && median >= 0) {
      if (median > 0.25)
        window_ms = std::max<uint64_t>(1, window_ms / 2);  // the bulk reads warm: too long
      else if (top < 0.5)
        window_ms = std::min(max_window, window_ms * 2);  // even the top is unsaturated: too short
    }
    COUNTER(window_ms).store(window_ms, std::memory_order_relaxed);
    Counters c{};
    counters(&c);
    // Sampling only (moves have their rate limit), smoothed: one costly
    // interval (the first, or a burst of new mappings) should not stall the
    // next several.
    const auto total = static_cast<double>(c.sample_ns - sampled);
    cost_ns = cost_ns == 0 ? total : 0.7 * cost_ns + 0.3 * total;
    sampled = c.sample_ns;
    // The scan budget of the next collect() (samplers whose reading costs
    // per region: abit): what the interval's share of the CPU budget leaves
    // after the interval's fixed part (clearing the accessed bits, the
    // engine's own per-chunk work), and at least half of what reading the
    // whole process costs. A process too large to read within the budget is
    // then read in parts, each chunk at least every second interval. Smaller
    // parts give more intervals but a longer pass over the process, because
    // the fixed part, which clears the whole process each time, does not
    // shrink with them (docs/benchmarks.md, "Cost at scale").
    const double fixed = std::max(0.0, total - static_cast<double>(g_engine->last_collect_ns()));
    fixed_ns = fixed_ns == 0 ? fixed : 0.7 * fixed_ns + 0.3 * fixed;
    const double share = static_cast<double>(interval_ms) * 1e6 * g_cpu_pct / 100.0;
    const double half = static_cast<double>(g_engine->pass_ns()) / 2;
    g_engine->sampler()->set_scan_budget(
        static_cast<uint64_t>(std::max({share - fixed_ns, half, kMinScanNs})));
    const double used = cost_ns;
    const uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
    // CPU budget: stretch the wait so that sampling takes at most cpu% of it.
    uint64_t period_ns = interval_ms * 1000000ULL;
    const auto min_period = static_cast<uint64_t>(used * 100.0 / g_cpu_pct);
    if (min_period > period_ns) {
      period_ns = min_period;
      COUNTER(throttled).fetch_add(1, std::memory_order_relaxed);
    }
    // And over the whole run: while the costs rise (a heap being filled) the
    // smoothed cost lags behind them, so the sampling done so far may exceed
    // cpu% of the wall time so far; the wait then lasts until it does not.
    const uint64_t run_ns = now_ns(CLOCK_MONOTONIC) - g_start_ns.load(std::memory_order_relaxed);
    const auto owed = static_cast<uint64_t>(static_cast<double>(c.sample_ns) * 100.0 / g_cpu_pct);
    if (owed > run_ns && elapsed + (owed - run_ns) > period_ns) {
      period_ns = elapsed + (owed - run_ns);
      COUNTER(throttled).fetch_add(1, std::memory_order_relaxed);
    }
    if (elapsed < period_ns) sleep_ms((period_ns - elapsed) / 1000000ULL);
  }
  g_running.store(false, std::memory_order_release);
  return nullptr;
}

bool spawn() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // The engine takes no signals meant for the program.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t th;
  g_start_ns.store(now_ns(CLOCK_MONOTONIC), std::memory_order_relaxed);
  g_running.store(true, std::memory_order_release);
  int r = pthread_create(&th, &attr, thread_main, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    g_running.store(false, std::memory_order_release);
    log_msg(LogLevel::kError, "migration engine: cannot start its thread: %s", std::strerror(r));
    return false;
  }
  pthread_setname_np(th, "strata-engine");
  return true;
}

}  // namespace

void start(const Config& cfg) {
  const CompiledPolicy* pol = cfg.pol;
  if (g_engine != nullptr || pol == nullptr) return;
  // The sampling budget. Accessed-bit sampling costs the program more than the
  // sampler's own CPU (TLB refills, accessed bits set again: about 3-5 times
  // as much on docs/benchmarks.md's hot-set driver), so when nothing can move
  // (profiling only) auto takes a third of the migrating budget.
  int movable = 0;
  for (int t = 0; t < pol->ntiers; ++t) movable += movable_tier(*pol, t) ? 1 : 0;
  const bool migrating = pol->migrate.enabled && movable > 1;
  g_cpu_pct = pol->sampler.cpu_pct > 0 ? pol->sampler.cpu_pct
              : migrating              ? kAutoCpuMigrating
                                       : kAutoCpuProfiling;
  g_strict = cfg.strict;
  g_src = cfg.src;
  std::snprintf(g_sampler_text, sizeof g_sampler_text, "%s",
                cfg.sampler_text != nullptr ? cfg.sampler_text : "");
  // Migration with fewer than two tiers move_pages can tell apart (one NUMA
  // node, or every other tier a file heap) has nothing to do: sampling would
  // cost the program without ever moving a page, so it is not started.
  if (pol->migrate.enabled && !migrating && !cfg.sample_only) {
    STRATA_LOG(LogLevel::kInfo,
               "migration engine: %d tier(s) on NUMA nodes of their own (two are needed), so no "
               "page can move; not sampling",
               movable);
    // A STRATA_SAMPLER the user named is still checked (and reported, fatal
    // under STRATA_STRICT) as where it would run, then closed.
    if (g_sampler_text[0] != '\0' && pol->sampler.kind != SamplerKind::kOff) {
      heap::ReentrancyGuard guard;
      if (std::unique_ptr<sampling::Sampler> probe = choose(pol->sampler, pol->migrate.interval_ms))
        probe->close();
    }
  }
  const bool sampling = migrating || cfg.sample_only;
  if (!sampling && !cfg.keep_running) return;
  if (!sampling) {
    // Metrics only: the thread keeps the file fresh and measures nothing.
    heap::ReentrancyGuard guard;
    g_pol = pol;
    g_engine = new Engine(pol, std::make_unique<NullSampler>(), false);
    spawn();
    return;
  }
  if (pol->sampler.kind == SamplerKind::kOff) {
    std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "off (STRATA_SAMPLER=off)");
    if (pol->migrate.enabled)
      log_msg(LogLevel::kWarn,
              "STRATA_SAMPLER=off: no heat is measured, so migration only honours range hints");
  }
  heap::ReentrancyGuard guard;
  g_pol = pol;
  std::unique_ptr<sampling::Sampler> s;
  if (pol->sampler.kind != SamplerKind::kOff) {
    s = choose(pol->sampler, pol->migrate.interval_ms);
    if (s == nullptr) {
      log_msg(LogLevel::kError, "migration engine: %s; migration off", g_sampler_reason);
      return;
    }
  } else {
    s = std::make_unique<NullSampler>();
  }
  std::snprintf(g_sampler_name, sizeof g_sampler_name, "%s", s->name());
  if (const char* note = s->note(); note != nullptr) {
    std::snprintf(g_sampler_note, sizeof g_sampler_note, "%s", note);
    STRATA_LOG(LogLevel::kInfo, "sampler note: %s", note);
  }
  prof::set_sampler(g_sampler_name);
  if (std::strcmp(s->name(), "abit") == 0 || std::strcmp(s->name(), "damon") == 0) {
    std::string why;
    // Huge pages off only where moving matters: with migration on and somewhere to move to.
    // (damon too: a huge page is one accessed bit for DAMON as well.)
    const bool no_thp = !pol->sampler.keep_thp && migrating;
    heap::set_huge_pages(pol->sampler.huge_thp);
    bool ok = heap::set_chunk_vmas(no_thp, &why);
    STRATA_LOG(ok ? LogLevel::kInfo : LogLevel::kWarn, "%s sampler: %s%s", s->name(), why.c_str(),
               ok ? "" : "; heat is per mapping, not per chunk");
  }
  g_engine = new Engine(pol, std::move(s), true);
  STRATA_LOG(LogLevel::kInfo, "migration engine: sampler %s, cpu budget %.1f%%; %s",
             g_sampler_reason, g_cpu_pct, explain_migrate(pol->migrate).c_str());
  spawn();
}

bool running() {
  return g_running.load(std::memory_order_acquire);
}

void counters(Counters* out) {
  auto* dst = reinterpret_cast<uint64_t*>(out);
  for (size_t i = 0; i < sizeof(Counters) / sizeof(uint64_t); ++i)
    dst[i] = g_counters.v[i].load(std::memory_order_relaxed);
  // Wall time as of now, on the same clock as the CPU counters' process.
  const uint64_t start = g_start_ns.load(std::memory_order_relaxed);
  out->wall_ns = start != 0 ? now_ns(CLOCK_MONOTONIC) - start : 0;
}

const char* sampler_name() {
  return g_sampler_name;
}
const char* sampler_reason() {
  return g_sampler_reason;
}
const char* sampler_note() {
  return g_sampler_note;
}

void for_each_chunk(void (*fn)(const ChunkView& c, void* ctx), void* ctx) {
  if (g_engine == nullptr) return;
  pthread_mutex_lock(&g_lock);
  g_engine->for_each(fn, ctx);
  pthread_mutex_unlock(&g_lock);
}

void stop() {
  g_stop.store(true, std::memory_order_relaxed);
}

void quiesce() {
  if (g_engine == nullptr) return;
  // Held to the end: the thread, if it is still running, blocks before its
  // next interval and dies with the process.
  pthread_mutex_lock(&g_lock);
  // A kdamond outlives the process (stopped, but still counted in nr_kdamonds,
  // which makes the next damon sampler refuse): only damon's is released here.
  if (std::strcmp(g_engine->sampler()->name(), "damon") == 0) g_engine->sampler()->close();
}

void prefork() {
  if (g_engine != nullptr) pthread_mutex_lock(&g_lock);
}
void postfork_parent() {
  if (g_engine != nullptr) pthread_mutex_unlock(&g_lock);
}
void postfork_child() {
  if (g_engine == nullptr) return;
  pthread_mutex_unlock(&g_lock);
  // The child is a process of its own: its counters (engine CPU above all,
  // which is per thread and the parent's thread did not come along) start
  // from zero, like its wall time. Inherited, they made a short-lived child
  // report the parent's CPU over its own wall time (e.g. 98% of it).
  for (auto& v : g_counters.v) v.store(0, std::memory_order_relaxed);
  g_start_ns.store(0, std::memory_order_relaxed);
  if (g_stop.load(std::memory_order_relaxed)) return;
  // The thread did not survive the fork; the sampler's resources (perf events
  // of the parent, its smaps) must be re-acquired for this process.
  g_engine->sampler()->close();
  char why[256];
  if (!g_engine->sampler()->open(why, sizeof why)) {
    STRATA_LOG(LogLevel::kWarn, "migration engine in child %d: %s; migration off",
               static_cast<int>(getpid()), why);
    return;
  }
  spawn();
}

}  // namespace strata::engine
