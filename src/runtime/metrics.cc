#include "src/runtime/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/outfile.h"
#include "base/sys.h"
#include "src/engine/engine.h"
#include "src/runtime/runtime.h"

namespace strata::metrics {
namespace {

// Fixed-size text buffer: the file is built in memory, then written at once.
struct Out {
  char buf[32768];
  size_t n = 0;
  bool full = false;
  void add(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is just above
    int k = std::vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    va_end(ap);
    if (k < 0 || static_cast<size_t>(k) >= sizeof buf - n) {
      full = true;
      return;
    }
    n += static_cast<size_t>(k);
  }
};

void head(Out* o, const char* name, const char* type, const char* help) {
  o->add("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

constinit bool g_warned = false;

// Per tier: the heaps' counters, the program's mappings, resident bytes.
void tier_metrics(Out* op) {
  Out& o = *op;
  const CompiledPolicy* pol = rt::policy();
  const int nt = pol != nullptr ? pol->ntiers : 1;
  heap::TierStats ts[kMaxTiers] = {};
  for (int t = 0; t < nt; ++t) heap::tier_stats(t, &ts[t]);
  const rt::MmapSums sums = rt::mmap_sums();
  auto name = [&](int t) { return pol != nullptr ? pol->tiers[t].name : "dram"; };
  struct TierMetric {
    const char* metric;
    const char* type;
    const char* help;
    uint64_t heap::TierStats::*field;
  };
  static const TierMetric kTier[] = {
      {"strata_tier_live_bytes", "gauge", "Bytes allocated on the tier and not freed.",
       &heap::TierStats::allocated},
      {"strata_tier_mapped_bytes", "gauge", "Address space carved for the tier's heap.",
       &heap::TierStats::mapped},
      {"strata_tier_capacity_bytes", "gauge", "Capacity limit of the tier (0: none).",
       &heap::TierStats::cap},
      {"strata_tier_allocations_total", "counter", "Allocations the tier's heap served.",
       &heap::TierStats::nmalloc},
      {"strata_tier_spill_in_total", "counter",
       "Allocations placed on the tier because a faster choice was full.",
       &heap::TierStats::spill_in},
      {"strata_tier_spill_out_total", "counter",
       "Allocations that wanted the tier and went elsewhere.", &heap::TierStats::spill_out},
  };
  for (const TierMetric& m : kTier) {
    head(&o, m.metric, m.type, m.help);
    for (int t = 0; t < nt; ++t)
      o.add("%s{tier=\"%s\"} %llu\n", m.metric, name(t),
            static_cast<unsigned long long>(ts[t].*m.field));
  }
  head(&o, "strata_tier_mmap_bytes", "gauge",
       "The program's anonymous mappings placed on the tier.");
  for (int t = 0; t < nt; ++t)
    o.add("strata_tier_mmap_bytes{tier=\"%s\"} %llu\n", name(t),
          static_cast<unsigned long long>(sums.bytes[t]));
  // Resident bytes per tier as the engine measured them (when it samples).
  struct Res {
    uint64_t bytes[kMaxTiers];
  } res{};
  engine::for_each_chunk(
      [](const engine::ChunkView& c, void* ctx) {
        if (c.tier >= 0 && c.tier < kMaxTiers) static_cast<Res*>(ctx)->bytes[c.tier] += c.rss;
      },
      &res);
  head(&o, "strata_tier_resident_bytes", "gauge",
       "Resident bytes of strata's heaps and tracked mappings on the tier's nodes, as the "
       "migration engine last measured them (0 when it does not sample).");
  for (int t = 0; t < nt; ++t)
    o.add("strata_tier_resident_bytes{tier=\"%s\"} %llu\n", name(t),
          static_cast<unsigned long long>(res.bytes[t]));
}

// The migration engine's and the sampler's counters.
void engine_metrics(Out* op) {
  Out& o = *op;
  engine::Counters c{};
  engine::counters(&c);
  struct Scalar {
    const char* metric;
    const char* type;
    const char* help;
    uint64_t value;
  };
  const Scalar kScalars[] = {
      {"strata_migrate_intervals_total", "counter", "Sampling intervals completed.", c.intervals},
      {"strata_migrate_chunks", "gauge", "2 MiB chunks the engine tracks.", c.chunks},
      {"strata_migrate_hot_chunks", "gauge", "Tracked chunks at or above the promote heat.",
       c.hot_chunks},
      {"strata_migrate_promoted_bytes_total", "counter", "Bytes moved to a faster tier.",
       c.promoted_bytes},
      {"strata_migrate_demoted_bytes_total", "counter", "Bytes moved to a slower tier.",
       c.demoted_bytes},
      {"strata_migrate_watermark_bytes_total", "counter",
       "Bytes demoted because their tier was above its high watermark.", c.watermark_bytes},
      {"strata_migrate_promotions_total", "counter", "Chunk moves to a faster tier.", c.promotions},
      {"strata_migrate_demotions_total", "counter", "Chunk moves to a slower tier.", c.demotions},
      {"strata_migrate_pages_moved_total", "counter", "4 KiB pages moved.", c.pages_moved},
      {"strata_migrate_skipped_pinned_total", "counter", "Moves not made: the chunk is pinned.",
       c.skipped_pinned},
      {"strata_migrate_skipped_held_total", "counter",
       "Moves not made: the chunk moved less than hold intervals ago.", c.skipped_held},
      {"strata_migrate_skipped_budget_total", "counter", "Moves deferred by the rate limit.",
       c.skipped_budget},
      {"strata_migrate_skipped_no_room_total", "counter",
       "Moves not made: no faster tier had room or a colder chunk to swap.", c.skipped_no_room},
      {"strata_migrate_syscall_errors_total", "counter", "move_pages calls that failed whole.",
       c.syscall_errors},
      {"strata_sampler_errors_total", "counter", "Sampler collections that failed.",
       c.sampler_errors},
      {"strata_sampler_window_ms", "gauge", "Accessed-bit window in use.", c.window_ms},
      {"strata_sampler_cpu_seconds_total", "counter", "CPU time of sampling and the heat model.",
       c.sample_ns},
      {"strata_migrate_cpu_seconds_total", "counter", "CPU time of planning and moving pages.",
       c.migrate_ns},
  };
  for (const Scalar& s : kScalars) {
    head(&o, s.metric, s.type, s.help);
    if (std::strstr(s.metric, "_seconds_") != nullptr)
      o.add("%s %.6f\n", s.metric, static_cast<double>(s.value) / 1e9);
    else
      o.add("%s %llu\n", s.metric, static_cast<unsigned long long>(s.value));
  }
  head(&o, "strata_migrate_failed_pages_total", "counter",
       "Pages move_pages could not move, by errno.");
  const struct {
    const char* err;
    uint64_t v;
  } kFail[] = {{"ENOMEM", c.fail_nomem},
               {"EBUSY", c.fail_busy},
               {"EFAULT", c.fail_fault},
               {"EACCES", c.fail_acces},
               {"other", c.fail_other}};
  for (const auto& f : kFail)
    o.add("strata_migrate_failed_pages_total{errno=\"%s\"} %llu\n", f.err,
          static_cast<unsigned long long>(f.v));
}

}  // namespace

bool write(const char* path) {
  heap::ReentrancyGuard guard;
  static Out o;
  o.n = 0;
  o.full = false;
  tier_metrics(&o);
  engine_metrics(&o);
  if (o.full) o.add("# truncated\n");
  sys::OutFile out;
  char why[160];
  bool ok = sys::out_open(path, sys::OutMode::kReplace, &out, why, sizeof why);
  if (ok) {
    sys::write_all(out.fd, o.buf, o.n);
    ok = sys::out_commit(&out, path, why, sizeof why);
  }
  if (!ok && !g_warned) {
    g_warned = true;
    log_msg(LogLevel::kError, "STRATA_METRICS=\"%s\": cannot write it: %s", path, why);
  }
  return ok;
}

}  // namespace strata::metrics
