// One engine interval: collect the sampler's observations, update each chunk's heat
// (profiler/heat), plan and move (mover.cc), and the profiler's records.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/log.h"
#include "src/engine/internal.h"
#include "src/prof/profile.h"

namespace strata::engine {

void Engine::interval() {
  const uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  ++interval_;
  iv_ = IntervalMoves{};
  if (!sampling_) return;  // metrics only
  inventory();
  for (auto& [id, c] : chunks_) {
    c.fraction = -1;
    c.rss = 0;
    c.anon_huge = 0;
  }
  sampler_->track(spans_.data(), spans_.size());
  int r = sampler_->collect(&Engine::on_obs, this);
  if (r != 0) COUNTER(sampler_errors).fetch_add(1, std::memory_order_relaxed);
  probe();
  // Heat is relative: fractions are scaled so the most referenced chunk of
  // the window reads 1. A window in which the program paused, or one too
  // short to see much, then still ranks chunks the same way; a window that
  // saw nothing at all carries no information and is not observed.
  double seen = 0;
  double top = 0;
  ranked_.clear();
  for (const auto& [id, c] : chunks_) {
    if (c.fraction < 0) continue;
    const auto b = static_cast<double>(bytes(c));
    seen += b;
    ranked_.emplace_back(c.fraction, b);
    if (b >= kMinRankBytes) top = std::max(top, c.fraction);
  }
  // The window adapts (see thread_main) to the median of the scaled
  // fractions by bytes, which does not move when the program pauses for
  // part of a window, and to whether the top chunk saturated.
  top_fraction_ = top;
  median_scaled_ = -1;
  if (seen > 0 && top >= kMinTop) {
    std::sort(ranked_.begin(), ranked_.end());
    double acc = 0;
    for (const auto& [f, b] : ranked_) {
      acc += b;
      if (acc >= seen / 2) {
        median_scaled_ = f / top;
        break;
      }
    }
  }
  if (top >= kMinTop) {
    ++heat_seq_;  // the heat model's own clock: skipped windows do not decay heat
    for (const auto& [id, c] : chunks_)
      if (c.fraction >= 0) heat_.observe(heat_seq_, id, std::min(1.0, c.fraction / top));
    heat_.end_interval(heat_seq_);
  }
  const uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  last_sample_ms_ = static_cast<double>(c1 - c0) / 1e6;
  COUNTER(sample_ns).fetch_add(c1 - c0, std::memory_order_relaxed);
  if (cfg_.enabled) migrate();
  const uint64_t c2 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  COUNTER(migrate_ns).fetch_add(c2 - c1, std::memory_order_relaxed);
  // The profile's records are part of measuring: counted with sampling, so
  // that the CPU budget (thread_main) covers them.
  if (prof::g_on) profile_interval();
  COUNTER(sample_ns).fetch_add(now_ns(CLOCK_THREAD_CPUTIME_ID) - c2, std::memory_order_relaxed);
  COUNTER(intervals).fetch_add(1, std::memory_order_relaxed);
}

void Engine::for_each(void (*fn)(const ChunkView&, void*), void* ctx) const {
  for (const auto& [id, c] : chunks_) {
    ChunkView v{id, c.tier, static_cast<float>(heat_.heat(id)), bytes(c)};
    fn(v, ctx);
  }
}

void Engine::profile_interval() {
  prof::account(
      [](uint64_t chunk, prof::ChunkInfo* out, void* ctx) {
        auto* self = static_cast<Engine*>(ctx);
        auto it = self->chunks_.find(chunk);
        if (it == self->chunks_.end() || bytes(it->second) == 0) return false;
        out->heat = static_cast<float>(self->heat_.heat(chunk));
        out->tier = static_cast<int8_t>(it->second.tier);
        return true;
      },
      this);
  uint64_t resident[kMaxTiers] = {};
  uint32_t n = 0;
  for (const auto& [id, c] : chunks_) {
    const uint64_t b = bytes(c);
    if (b == 0) continue;
    ++n;
    if (c.tier >= 0 && c.tier < kMaxTiers) resident[c.tier] += b;
  }
  prof::begin_interval(interval_, resident, iv_.promoted_bytes, iv_.demoted_bytes, iv_.promoted,
                       iv_.demoted, iv_.failures, n);
  for (const auto& [id, c] : chunks_) {
    const uint64_t b = bytes(c);
    if (b != 0) prof::add_chunk(id, static_cast<float>(heat_.heat(id)), c.tier, b);
  }
}

}  // namespace strata::engine
