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
  const uint64_t c_inv = now_ns(CLOCK_THREAD_CPUTIME_ID);
  for (auto& [id, c] : chunks_) {
    c.fraction = -1;
    c.rss = 0;
    c.anon_huge = 0;
  }
  sampler_->track(spans_.data(), spans_.size());
  const uint64_t cc = now_ns(CLOCK_THREAD_CPUTIME_ID);
  int r = sampler_->collect(&Engine::on_obs, this);
  last_collect_ns_ = now_ns(CLOCK_THREAD_CPUTIME_ID) - cc;
  if (r != 0) COUNTER(sampler_errors).fetch_add(1, std::memory_order_relaxed);
  const sampling::Span cov = sampler_->coverage();
  const bool part = cov.start != 0 || cov.end != UINTPTR_MAX;
  estimate_pass(cov, part);
  const uint64_t c_col = now_ns(CLOCK_THREAD_CPUTIME_ID);
  probe();
  const uint64_t c_probe = now_ns(CLOCK_THREAD_CPUTIME_ID);
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
  top = pass_scale(top, cov, part);
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
    for (const auto& [id, c] : chunks_) {
      if (c.fraction >= 0)
        heat_.observe(heat_seq_, id, std::min(1.0, c.fraction / top));
      else if (part && (c.lo < cov.start || c.hi > cov.end))
        heat_.hold(heat_seq_, id);  // not read this window: its heat stays
    }
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
  const uint64_t c3 = now_ns(CLOCK_THREAD_CPUTIME_ID);
  COUNTER(sample_ns).fetch_add(c3 - c2, std::memory_order_relaxed);
  auto ms = [](uint64_t a, uint64_t b) { return static_cast<double>(b - a) / 1e6; };
  STRATA_LOG(LogLevel::kDebug,
             "engine: interval %llu costs %.1f ms: inventory %.1f, %s %.1f (read %#llx-%#llx), "
             "probe %.1f, heat %.1f, migrate %.1f, profile %.1f; %zu chunks, scale %.3f, window "
             "median %.2f",
             static_cast<unsigned long long>(interval_), ms(c0, c3), ms(c0, c_inv),
             sampler_->name(), ms(c_inv, c_col), static_cast<unsigned long long>(cov.start),
             static_cast<unsigned long long>(cov.end), ms(c_col, c_probe), ms(c_probe, c1),
             ms(c1, c2), ms(c2, c3), chunks_.size(), top_fraction_, median_scaled_);
  COUNTER(intervals).fetch_add(1, std::memory_order_relaxed);
}

void Engine::estimate_pass(const sampling::Span& cov, bool part) {
  // What reading the whole process costs: the last whole pass's CPU, or
  // more when the pass under way, extrapolated from its CPU per chunk read so
  // far, says so (the heap grew).
  if (!part) {
    pass_ns_ = last_pass_ns_ = last_collect_ns_;
    pass_acc_ns_ = pass_acc_chunks_ = 0;
    return;
  }
  size_t in = 0;
  for (const auto& [id, c] : chunks_) in += c.lo >= cov.start && c.hi <= cov.end ? 1 : 0;
  pass_acc_ns_ += last_collect_ns_;
  pass_acc_chunks_ += in;
  const uint64_t est = pass_acc_chunks_ == 0 ? 0 : pass_acc_ns_ * chunks_.size() / pass_acc_chunks_;
  pass_ns_ = std::max(last_pass_ns_, est);
  if (cov.end == UINTPTR_MAX) {  // the pass ended
    last_pass_ns_ = pass_acc_ns_;
    pass_acc_ns_ = pass_acc_chunks_ = 0;
  }
}

double Engine::pass_scale(double top, const sampling::Span& cov, bool part) {
  // A window that read part of the process (abit under a scan budget) may
  // hold none of the hot memory: its chunks are scaled by the top of the
  // last whole pass as well, so a cold part does not read as hot.
  if (!part) {
    cycle_top_ = prev_cycle_top_ = 0;
    return top;
  }
  cycle_top_ = std::max(cycle_top_, top);
  const double scale = std::max(cycle_top_, prev_cycle_top_);
  if (cov.end == UINTPTR_MAX) {  // this window ended a pass over the process
    prev_cycle_top_ = cycle_top_;
    cycle_top_ = 0;
  }
  return scale;
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
