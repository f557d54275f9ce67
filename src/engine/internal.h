// The migration engine's internals, shared by its files: the counters, the
// engine's globals, and the Engine class (one instance, driven by the thread
// in engine.cc). Not for use outside src/engine/.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allocator/heap.h"
#include "base/sys.h"
#include "policy/migrate_plan.h"
#include "profiler/heat.h"
#include "profiler/sampler.h"
#include "profiler/subset.h"
#include "src/engine/engine.h"

namespace strata::engine {

using sampling::kChunkBytes;
using sampling::kChunkShift;
constexpr uintptr_t kPage = sys::kPageSize;
constexpr int kProbes = 8;  // pages probed per chunk for its node and residency
// Chunks probed per interval at most (rotating, profiler/subset.h): 8192
// pages, about 8 ms of move_pages.
constexpr size_t kProbeBudget = 1024;
constexpr int kUnset = INT32_MIN;  // a move_pages status the kernel did not write
// Heat scaling (Engine::interval): chunks this small do not set the scale (a
// nearly empty chunk holding one busy page would), and a window whose top
// chunk saw less than this is treated as having seen nothing.
constexpr double kMinRankBytes = 256 * 1024;
constexpr double kMinTop = 0.02;

struct AtomicCounters {
  std::atomic<uint64_t> v[sizeof(Counters) / sizeof(uint64_t)];
};
static_assert(sizeof(Counters) % sizeof(uint64_t) == 0);

// Counter slots by field, so the engine updates one field without a lock.
#define COUNTER(field) (g_counters.v[offsetof(Counters, field) / sizeof(uint64_t)])

using sys::now_ns;

// Defined in engine.cc.
extern AtomicCounters g_counters;
extern std::atomic<bool> g_running;
extern std::atomic<bool> g_stop;
extern pthread_mutex_t g_lock;  // one interval's work
extern const CompiledPolicy* g_pol;
extern char g_sampler_name[16];
extern char g_sampler_reason[512];
extern char g_sampler_note[256];
extern Sources g_src;             // what the runtime lets the engine read
extern char g_sampler_text[512];  // STRATA_SAMPLER as given, for error lines
extern bool g_strict;             // STRATA_STRICT: an unusable STRATA_SAMPLER is fatal
extern double g_cpu_pct;          // the sampling budget in use (start())

size_t snapshot(size_t (*fill)(Range* out, size_t cap), std::vector<Range>* out);
bool movable_tier(const CompiledPolicy& pol, int t);

struct ChunkState {
  uintptr_t lo = 0;  // the managed part of the chunk
  uintptr_t hi = 0;
  uint64_t moved_at = kNeverMoved;
  uint64_t rss = 0;  // from the sampler this interval (0 = not reported)
  uint64_t anon_huge = 0;
  double fraction = -1;      // observed this interval (-1 = not observed)
  uint64_t present_est = 0;  // estimated from probes
  int tier = -1;
  int home = -1;        // the tier whose heap or mapping it belongs to
  uint16_t flags = 0;   // kRegion* hint flags overlapping the chunk
  uint64_t seen = 0;    // interval the inventory last saw it
  uint64_t probed = 0;  // interval of its last probe (0 = never)
};

// One interval's work, in three files: interval.cc (sample, heat, profile
// records), inventory.cc (which chunks exist, where their pages are),
// mover.cc (plan and move_pages).
class Engine {
 public:
  Engine(const CompiledPolicy* pol, std::unique_ptr<sampling::Sampler> s, bool sampling)
      : pol_(pol),
        cfg_(pol->migrate),
        sampler_(std::move(s)),
        heat_(pol->migrate),
        sampling_(sampling) {
    std::fill(std::begin(node_tier_), std::end(node_tier_), -1);
    for (int t = 0; t < pol_->ntiers; ++t) {
      tier_node_[t] = -1;
      const TierDef& d = pol_->tiers[t];
      movable_[t] = movable_tier(*pol_, t);
      if (!movable_[t]) continue;
      tier_node_[t] = d.nodes.first();
      for (int n = 0; n < kMaxNodes; ++n)
        if (d.nodes.test(n) && node_tier_[n] < 0) node_tier_[n] = t;
    }
  }

  sampling::Sampler* sampler() { return sampler_.get(); }
  // The last window: the bytes-weighted median of the referenced fractions
  // scaled like the heat (-1 if the window saw nothing), and the top chunk's
  // raw fraction.
  double median_scaled() const { return median_scaled_; }
  double top_fraction() const { return top_fraction_; }
  // CPU of the last collect() (ns): the part of an interval a scan budget divides.
  uint64_t last_collect_ns() const { return last_collect_ns_; }
  // CPU a collect() of the whole process would take, as the last one read
  // it (the last one's CPU when it read everything).
  uint64_t pass_ns() const { return pass_ns_; }

  void interval();

  void for_each(void (*fn)(const ChunkView&, void*), void* ctx) const;

 private:
  static uint64_t bytes(const ChunkState& c) { return c.rss != 0 ? c.rss : c.present_est; }

  // After a collect(): what reading the whole process costs (pass_ns_), from
  // what this one read (cov; part: not everything).
  void estimate_pass(const sampling::Span& cov, bool part);
  // The scale of this window's referenced fractions: its top one, or under
  // partial reads the top of the pass under way and of the last whole pass.
  double pass_scale(double top, const sampling::Span& cov, bool part);

  // What the profiler records of this interval: site heat, chunk heat, tier use, moves.
  void profile_interval();

  // The chunks of every managed range: tier heaps (carved part) and tracked mmaps.
  void inventory();

  static void on_obs(const sampling::Obs& o, void* ctx);

  // Where each chunk's pages are: kProbes pages spread over it, one
  // move_pages(nodes = NULL) call per batch.
  void probe();

  // Free bytes of a node (sysfs meminfo), for tiers without a capacity limit.
  static uint64_t node_free(int node);

  void migrate();

  // Moves one chunk: every 4 KiB page, or the chunk's head alone when it is
  // one transparent huge page (the kernel then migrates it whole).
  void execute(const Move& m);

  static void count_failure(int err, uint64_t pages);

  const CompiledPolicy* pol_;
  MigrateConfig cfg_;
  std::unique_ptr<sampling::Sampler> sampler_;
  HeatTable heat_;
  struct IntervalMoves {
    uint64_t promoted_bytes = 0;
    uint64_t demoted_bytes = 0;
    uint32_t promoted = 0;
    uint32_t demoted = 0;
    uint32_t failures = 0;
  } iv_;
  bool sampling_ = true;
  uint64_t interval_ = 0;
  uint64_t heat_seq_ = 0;
  double median_scaled_ = -1;
  double top_fraction_ = 0;
  uint64_t last_collect_ns_ = 0;
  uint64_t pass_ns_ = 0;
  uint64_t last_pass_ns_ = 0;  // the last whole pass in parts
  uint64_t pass_acc_ns_ = 0;   // the pass under way: CPU and chunks read so far
  uint64_t pass_acc_chunks_ = 0;
  // The top referenced fraction of the windows of the current and of the last
  // whole pass, when each window reads part of the process.
  double cycle_top_ = 0;
  double prev_cycle_top_ = 0;
  std::vector<std::pair<double, double>> ranked_;  // (fraction, bytes), scratch
  double last_sample_ms_ = 0;
  std::unordered_map<uint64_t, ChunkState> chunks_;
  std::vector<Range> regions_;
  std::vector<sampling::Span> spans_;  // the managed ranges (inventory), for the sampler
  std::vector<Range> hints_;
  std::vector<uint64_t> ids_;
  std::vector<void*> addrs_;
  std::vector<int> status_;
  std::vector<void*> batch_;
  std::vector<int> bstatus_;
  sampling::RotatingSubset probe_subset_;
  std::vector<int> nodes_;
  std::vector<PlanChunk> plan_chunks_;
  Plan plan_;
  int node_tier_[kMaxNodes];
  int tier_node_[kMaxTiers] = {};
  bool movable_[kMaxTiers] = {};
};

extern Engine* g_engine;

// STRATA_SAMPLER=off: nothing is measured; range hints still steer moves.
class NullSampler final : public sampling::Sampler {
 public:
  const char* name() const override { return "off"; }
  bool open(char*, size_t) override { return true; }
  int collect(sampling::Sink, void*) override { return 0; }
};

// sampler_select.cc: the sampler STRATA_SAMPLER names, or the best that works here;
// interval_ms is the engine's interval (damon aggregates over it).
std::unique_ptr<sampling::Sampler> choose(const SamplerConfig& sc, uint32_t interval_ms);

}  // namespace strata::engine
