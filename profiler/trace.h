// The `trace` sampler backend: access observations read from a text file
// instead of sampled from the running program, and a replay driver that runs
// the heat model and the migration planner over them against simulated tiers.
// Unit tests use it to check the policy end to end; STRATA_SAMPLER=trace:FILE
// feeds the runtime from the same format (TraceSampler, below).
//
// Format: one observation per line, `INTERVAL CHUNK REFERENCED_FRACTION`
// (unsigned decimal, unsigned decimal or 0x hex, a number in [0, 1]), fields
// separated by blanks; `#` starts a comment; blank lines are ignored. Intervals
// never decrease. A chunk exists from its first line on; intervals without a
// line for it count as 0 referenced.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/config.h"
#include "policy/migrate_plan.h"
#include "profiler/heat.h"
#include "profiler/sampler.h"

namespace strata {

struct Observation {
  uint64_t interval;
  uint64_t chunk;
  double fraction;
  bool operator==(const Observation&) const = default;
};

// Parses a whole trace. Every bad line adds one message to *errors:
// `NAME:LINE: "TEXT": what is wrong (expected ...)`. Returns true if there was none.
bool parse_trace(std::string_view text, std::string_view name, std::vector<Observation>* out,
                 std::vector<std::string>* errors);
// Reads and parses a file; an unreadable file is one error naming it.
bool load_trace(const char* path, std::vector<Observation>* out, std::vector<std::string>* errors);

struct ReplayConfig {
  MigrateConfig migrate;  // heat model and planner settings; budget = interval_budget(migrate)
  std::vector<PlanTier> tiers;  // fastest first, 1..kMaxTiers; `resident` is ignored
  uint64_t chunk_bytes = 2 << 20;
  // Where a chunk starts: -1 = the first enabled tier with room below its
  // limit and capacity (the allocator's spill order, first touch), else this tier.
  int initial_tier = -1;
  std::vector<uint64_t> pinned;  // chunk ids that never move
  size_t max_chunks = HeatTable::kDefaultMaxChunks;
  // Heat as the engine measures it (src/engine/interval.cc): each interval's
  // fractions scaled so its most referenced chunk reads 1, and an interval
  // whose top chunk read under kMinTopFraction not observed at all.
  bool relative = false;
};

inline constexpr double kMinTopFraction = 0.02;

struct ReplayStep {
  uint64_t interval = 0;
  std::vector<Move> moves;
  PlanStats stats;
  std::vector<uint64_t> resident;  // bytes per tier, after the moves
  std::vector<uint64_t> fast;      // chunks on tier 0 after the moves, ascending
  // Sum of fraction * chunk bytes over this interval's observations, and the
  // part of it on tier 0 when observed (before this interval's moves).
  double referenced_bytes = 0;
  double fast_referenced_bytes = 0;
};

// Simulated tiers driven one interval at a time.
class TraceReplay {
 public:
  explicit TraceReplay(const ReplayConfig& cfg);

  // Feeds one interval's observations (all with this interval number, which is
  // greater than the previous step's), closes it, plans and applies the moves.
  ReplayStep step(uint64_t interval, std::span<const Observation> obs);

  int tier_of(uint64_t chunk) const;  // -1 for an unknown chunk
  const HeatTable& heat() const { return heat_; }

 private:
  ReplayConfig cfg_;
  HeatTable heat_;
  std::vector<PlanChunk> chunks_;  // in order of first appearance
  std::unordered_map<uint64_t, size_t> index_;
  std::vector<uint64_t> resident_;
  uint64_t heat_seq_ = 0;  // relative: the heat model's own clock
  Plan plan_;
};

// Replays a whole trace: one step per interval from the first to the last
// (intervals without observations included).
std::vector<ReplayStep> replay_trace(std::span<const Observation> trace, const ReplayConfig& cfg);

// STRATA_SAMPLER=trace:FILE in a running program: the same format, with a
// chunk id meaning the 2 MiB chunk at address CHUNK << 21. The file is read
// as it grows (a test program may append lines while it runs); the n-th
// collect() (from 0) reports every line whose interval is <= n and was not
// reported yet. Bad lines are counted and skipped.
class TraceSampler final : public sampling::Sampler {
 public:
  explicit TraceSampler(const char* path);
  ~TraceSampler() override;
  const char* name() const override { return "trace"; }
  bool open(char* why, size_t cap) override;
  int collect(sampling::Sink sink, void* ctx) override;
  void close() override;
  uint64_t bad_lines() const { return bad_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t n_ = 0;                    // collect() calls so far
  std::string partial_;               // an incomplete last line
  std::vector<Observation> pending_;  // lines for later intervals
  uint64_t bad_ = 0;
};

}  // namespace strata
