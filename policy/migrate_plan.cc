#include "policy/migrate_plan.h"

#include <algorithm>

namespace strata {

namespace {

constexpr uint64_t kUnlimited = UINT64_MAX;
constexpr uint8_t kMoved = 1;    // moved by this plan
constexpr uint8_t kCounted = 2;  // already counted under a skip reason
// A chunk below promote swaps in for one at most 1/kSwapRatio as hot: a clear
// difference (partly hot chunks beside a lukewarm background) that noise
// between intervals does not reverse.
constexpr double kSwapRatio = 2;

uint64_t percent_of(uint64_t limit, unsigned pct) {
  if (limit == 0) return kUnlimited;
  return limit / 100 * pct + limit % 100 * pct / 100;  // no overflow for any limit
}

double clamp01(double v) {
  return v > 0 ? (v < 1 ? v : 1) : 0;  // NaN -> 0
}

// The rank a chunk is planned by: its history, or its latest observation
// when that is higher.
// Its latest reading; not known (negative): its heat.
double recent_of(const PlanChunk& c) {
  return c.recent < 0 ? clamp01(c.heat) : clamp01(c.recent);
}

double heat_of(const PlanChunk& c) {
  return std::max(clamp01(c.heat), recent_of(c));
}

// One planning pass. Chunk indices in `order` are grouped by tier, each group
// coldest first; cursor[t] is the coldest chunk of tier t not yet ruled out as
// a demotion victim, so victims are found in O(1) amortised.
class Planner {
 public:
  Planner(std::span<const PlanTier> tiers, std::span<const PlanChunk> chunks,
          const MigrateConfig& cfg, uint64_t interval, uint64_t budget, Plan* plan)
      : chunks_(chunks), cfg_(cfg), interval_(interval), budget_(budget), plan_(plan) {
    ntiers_ = static_cast<int>(std::min<size_t>(tiers.size(), kMaxTiers));
    for (int t = 0; t < ntiers_; ++t) {
      res_[t] = tiers[t].resident;
      high_[t] = percent_of(tiers[t].limit, tiers[t].high_pct);
      low_[t] = std::min(high_[t], percent_of(tiers[t].limit, tiers[t].low_pct));
      cap_[t] = tiers[t].capacity == 0 ? kUnlimited : tiers[t].capacity;
      enabled_[t] = tiers[t].enabled;
    }
  }

  void run() {
    plan_->moves.clear();
    plan_->stats = PlanStats{};
    sort_chunks();
    for (int t = ntiers_ - 2; t >= 0; --t)
      if (enabled_[t] && res_[t] > high_[t]) shed(t);
    promote_hot();
  }

 private:
  bool movable_tier(int t) const { return t >= 0 && t < ntiers_ && enabled_[t]; }
  // Its latest observation says it is hot: it is never demoted.
  bool currently_hot(const PlanChunk& c) const { return recent_of(c) >= cfg_.promote; }
  // Moved less than `hold` intervals ago (or, inconsistently, in the future).
  bool held(const PlanChunk& c) const {
    if (c.moved_at == kNeverMoved) return false;
    return c.moved_at > interval_ || interval_ - c.moved_at < cfg_.hold;
  }
  // Tier t can take `bytes` more while `freed` bytes leave it, staying at or
  // below its high watermark and its capacity.
  bool room(int t, uint64_t bytes, uint64_t freed = 0) const {
    const uint64_t after = res_[t] - std::min(res_[t], freed) + bytes;
    return (high_[t] == kUnlimited || after <= high_[t]) &&
           (cap_[t] == kUnlimited || after <= cap_[t]);
  }
  // First enabled tier slower than t with room for `bytes`, while `freed` bytes
  // leave tier `leaving`.
  int slower_with_room(int t, uint64_t bytes, int leaving = -1, uint64_t freed = 0) const {
    for (int v = t + 1; v < ntiers_; ++v)
      if (enabled_[v] && room(v, bytes, v == leaving ? freed : 0)) return v;
    return -1;
  }

  void sort_chunks() {
    Plan::Scratch& s = plan_->scratch;
    s.order.clear();
    s.state.assign(chunks_.size(), 0);
    for (uint32_t i = 0; i < chunks_.size(); ++i)
      if (movable_tier(chunks_[i].tier)) s.order.push_back(i);
    std::sort(s.order.begin(), s.order.end(), [this](uint32_t a, uint32_t b) {
      const PlanChunk& x = chunks_[a];
      const PlanChunk& y = chunks_[b];
      if (x.tier != y.tier) return x.tier < y.tier;
      if (heat_of(x) != heat_of(y)) return heat_of(x) < heat_of(y);
      if (x.id != y.id) return x.id < y.id;
      return a < b;
    });
    size_t k = 0;
    for (int t = 0; t < ntiers_; ++t) {
      cursor_[t] = k;
      while (k < s.order.size() && chunks_[s.order[k]].tier == t) ++k;
      end_[t] = k;
    }
  }

  // Pinned and held chunks never move (counted as skipped).
  bool unmovable(uint32_t i) {
    const PlanChunk& c = chunks_[i];
    if (c.pinned) {
      count(i, &PlanStats::skipped_pinned);
      return true;
    }
    if (held(c)) {
      count(i, &PlanStats::skipped_held);
      return true;
    }
    return false;
  }

  void count(uint32_t i, uint32_t PlanStats::*counter) {
    uint8_t& st = plan_->scratch.state[i];
    if (st != 0) return;
    st = kCounted;
    ++(plan_->stats.*counter);
  }

  void emit(uint32_t i, int to, MoveReason why) {
    const PlanChunk& c = chunks_[i];
    plan_->moves.push_back(Move{c.id, c.tier, to, c.bytes, why});
    plan_->scratch.state[i] = kMoved;
    res_[c.tier] -= std::min(res_[c.tier], c.bytes);
    res_[to] += c.bytes;
    budget_ -= c.bytes;
    PlanStats& st = plan_->stats;
    if (to < c.tier) {
      ++st.promoted;
      st.promoted_bytes += c.bytes;
    } else {
      ++st.demoted;
      st.demoted_bytes += c.bytes;
    }
  }

  // Rule 1 for tier t: coldest first down to the low watermark. A chunk that
  // cannot go for lack of budget or room still counts towards the target: the
  // shortfall waits for the next interval rather than moving hotter chunks.
  void shed(int t) {
    const std::vector<uint32_t>& order = plan_->scratch.order;
    uint64_t deferred = 0;
    size_t k = cursor_[t];
    for (; k < end_[t] && res_[t] > low_[t] + deferred; ++k) {
      const uint32_t i = order[k];
      const PlanChunk& c = chunks_[i];
      if (currently_hot(c) || unmovable(i)) continue;
      const int to = slower_with_room(t, c.bytes);
      if (to < 0 || c.bytes > budget_) {
        count(i, to < 0 ? &PlanStats::skipped_no_room : &PlanStats::skipped_budget);
        deferred += c.bytes;
        continue;
      }
      emit(i, to, MoveReason::kWatermark);
    }
    cursor_[t] = k;
  }

  // Coldest chunk of tier u that may still be moved, or -1.
  int64_t coldest_movable(int u) {
    const std::vector<uint32_t>& order = plan_->scratch.order;
    for (; cursor_[u] < end_[u]; ++cursor_[u]) {
      const uint32_t i = order[cursor_[u]];
      const PlanChunk& c = chunks_[i];
      if (plan_->scratch.state[i] != kMoved && !c.pinned && !held(c) && !currently_hot(c)) return i;
    }
    return -1;
  }

  // The coldest chunk of tier u that is cold enough to give way to a chunk of
  // heat h and frees enough room for `bytes`: the coldest movable one, or if
  // that one is too small (a nearly empty chunk), the next colder-enough ones,
  // a bounded number of them.
  // A chunk of score hv gives way to one of score h: at most half as hot, or
  // (for h >= promote) cold or colder by more than the band width; always
  // strictly colder.
  bool colder_enough(double hv, double h, double margin) const {
    if (!(hv < h)) return false;
    if (hv <= h / kSwapRatio) return true;
    if (h < cfg_.promote) return false;
    return hv <= cfg_.demote || (margin > 0 && hv <= h - margin);
  }

  int64_t swap_partner(int u, uint64_t bytes, double h, double margin) {
    constexpr int kTries = 16;
    const std::vector<uint32_t>& order = plan_->scratch.order;
    if (coldest_movable(u) < 0) return -1;
    int tries = 0;
    for (size_t k = cursor_[u]; k < end_[u] && tries < kTries; ++k) {
      const uint32_t i = order[k];
      const PlanChunk& v = chunks_[i];
      if (plan_->scratch.state[i] == kMoved || v.pinned || held(v) || currently_hot(v)) continue;
      const double hv = heat_of(v);
      if (!colder_enough(hv, h, margin)) return -1;  // the rest are hotter still
      if (room(u, bytes, v.bytes)) return i;
      ++tries;
    }
    return -1;
  }

  // Rule 2: hottest first, each to the fastest tier that takes it. Chunks
  // between demote and promote only swap, with a chunk at most half as hot.
  void promote_hot() {
    Plan::Scratch& s = plan_->scratch;
    int fastest = 0;
    while (fastest < ntiers_ && !enabled_[fastest]) ++fastest;
    s.cand.clear();
    for (uint32_t i : s.order)
      if (chunks_[i].tier > fastest && heat_of(chunks_[i]) > cfg_.demote) s.cand.push_back(i);
    std::sort(s.cand.begin(), s.cand.end(), [this](uint32_t a, uint32_t b) {
      const PlanChunk& x = chunks_[a];
      const PlanChunk& y = chunks_[b];
      if (heat_of(x) != heat_of(y)) return heat_of(x) > heat_of(y);
      if (x.id != y.id) return x.id < y.id;
      return a < b;
    });
    const double margin = cfg_.promote - cfg_.demote;
    for (uint32_t i : s.cand) {
      const PlanChunk& c = chunks_[i];
      if (s.state[i] == kMoved) continue;  // already shed by rule 1
      if (c.pinned && !(heat_of(c) >= cfg_.promote)) continue;
      const bool hot = heat_of(c) >= cfg_.promote;
      // A swap demotes a chunk, so the candidate must be hotter both by its
      // history and by its latest reading: one short window's noise (or one
      // burst) does not make it. Its victim ranks by the higher of the two.
      const double h = std::min(clamp01(c.heat), recent_of(c));
      if (!hot && held(c)) continue;  // not counted: it would not move anyway
      if (hot && unmovable(i)) continue;
      bool over_budget = false;
      bool moved = false;
      for (int u = fastest; u < c.tier && !moved && !over_budget; ++u) {
        if (!enabled_[u]) continue;
        if (hot && room(u, c.bytes)) {
          if (c.bytes > budget_) {
            over_budget = true;
          } else {
            emit(i, u, MoveReason::kPromote);
            moved = true;
          }
          continue;
        }
        if (!hot && room(u, c.bytes)) continue;  // warm chunks only swap, into a full tier
        const int64_t v = swap_partner(u, c.bytes, h, margin);
        if (v < 0) continue;
        const PlanChunk& victim = chunks_[v];
        const int to = slower_with_room(u, victim.bytes, c.tier, c.bytes);
        if (to < 0) continue;
        if (c.bytes > budget_ || victim.bytes > budget_ - c.bytes) {
          over_budget = true;
          continue;
        }
        emit(static_cast<uint32_t>(v), to, MoveReason::kSwapOut);
        emit(i, u, MoveReason::kSwapIn);
        ++plan_->stats.swaps;
        moved = true;
      }
      if (!moved && hot)
        count(i, over_budget ? &PlanStats::skipped_budget : &PlanStats::skipped_no_room);
    }
  }

  std::span<const PlanChunk> chunks_;
  const MigrateConfig& cfg_;
  uint64_t interval_;
  uint64_t budget_;
  Plan* plan_;
  int ntiers_ = 0;
  uint64_t res_[kMaxTiers] = {};
  uint64_t high_[kMaxTiers] = {};
  uint64_t low_[kMaxTiers] = {};
  uint64_t cap_[kMaxTiers] = {};
  bool enabled_[kMaxTiers] = {};
  size_t end_[kMaxTiers] = {};
  size_t cursor_[kMaxTiers] = {};
};

}  // namespace

const char* move_reason_name(MoveReason r) {
  switch (r) {
    case MoveReason::kWatermark:
      return "watermark";
    case MoveReason::kPromote:
      return "promote";
    case MoveReason::kSwapOut:
      return "swap-out";
    case MoveReason::kSwapIn:
      return "swap-in";
  }
  return "?";
}

uint64_t interval_budget(const MigrateConfig& cfg) {
  const uint64_t ms = cfg.interval_ms;
  return cfg.rate / 1000 * ms + cfg.rate % 1000 * ms / 1000;
}

void plan_migrations(std::span<const PlanTier> tiers, std::span<const PlanChunk> chunks,
                     const MigrateConfig& cfg, uint64_t interval, uint64_t budget, Plan* plan) {
  Planner(tiers, chunks, cfg, interval, budget, plan).run();
}

}  // namespace strata
