#include "profiler/heat.h"

#include <algorithm>
#include <bit>

#include "base/libm.h"
#include "base/probe_table.h"

namespace strata {

namespace {

double clamp01(double v) {
  return v > 0 ? (v < 1 ? v : 1) : 0;  // NaN -> 0
}

}  // namespace

HeatTable::HeatTable(const MigrateConfig& cfg, size_t max_chunks) : cfg_(cfg) {
  cfg_.alpha = clamp01(cfg_.alpha);
  cfg_.window = std::clamp<uint32_t>(cfg_.window, 1, kMaxWindow);
  max_chunks_ = std::max<size_t>(max_chunks, 1);
  // Load factor at most 1/2 keeps probe sequences short. The table starts
  // small and doubles as chunks arrive: end_interval's pass costs what is
  // tracked, not the capacity.
  slots_.resize(std::min<size_t>(std::bit_ceil(max_chunks_ * 2), kInitialSlots));
  mask_ = slots_.size() - 1;
}

void HeatTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.chunk == kEmpty) continue;
    size_t i = home(s.chunk);
    while (slots_[i].chunk != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

size_t HeatTable::home(uint64_t chunk) const {
  // Chunk ids are often consecutive (address >> 21).
  return static_cast<size_t>(mix64(chunk)) & mask_;
}

size_t HeatTable::find(uint64_t chunk) const {
  if (chunk == kEmpty) return SIZE_MAX;
  for (size_t i = home(chunk);; i = (i + 1) & mask_) {
    if (slots_[i].chunk == chunk) return i;
    if (slots_[i].chunk == kEmpty) return SIZE_MAX;
  }
}

bool HeatTable::observe(uint64_t interval, uint64_t chunk, double referenced_fraction) {
  if (!started_) {
    started_ = true;
    open_ = interval;
  }
  if (interval < open_ || chunk == kEmpty) return false;
  if (interval > open_) end_interval(interval - 1);
  const float f = static_cast<float>(clamp01(referenced_fraction));
  if ((size_ + 1) * 2 > slots_.size() && size_ < max_chunks_) grow();
  size_t i = home(chunk);
  while (slots_[i].chunk != kEmpty && slots_[i].chunk != chunk) i = (i + 1) & mask_;
  if (slots_[i].chunk == kEmpty) {
    if (size_ >= max_chunks_) {
      ++dropped_;
      return false;
    }
    slots_[i] = Slot{};
    slots_[i].chunk = chunk;
    ++size_;
  }
  slots_[i].pending = std::max(slots_[i].pending, f);
  slots_[i].observed = true;
  slots_[i].held = false;
  return true;
}

bool HeatTable::hold(uint64_t interval, uint64_t chunk) {
  if (!started_ || interval < open_) return false;
  const size_t i = find(chunk);
  if (i == SIZE_MAX) return false;
  if (interval > open_) end_interval(interval - 1);
  slots_[i].held = !slots_[i].observed;
  return true;
}

void HeatTable::end_interval(uint64_t interval) {
  if (!started_) {
    started_ = true;
    open_ = interval;
  }
  if (interval < open_) return;
  // The open interval carries the observations; the other `empty` ones are
  // applied in closed form, so a gap costs one pass, not one per interval.
  const uint64_t empty = interval - open_;
  const double alpha = cfg_.alpha;
  const double decay = math::pow(1 - alpha, static_cast<double>(empty));
  const uint64_t wmask = cfg_.window == 64 ? ~0ULL : (1ULL << cfg_.window) - 1;
  for (Slot& s : slots_) {
    if (s.chunk == kEmpty) continue;
    const bool held = s.held;
    s.held = false;
    s.observed = false;
    if (held) continue;  // not looked at: nothing is known of this interval
    const bool referenced = s.pending > 0;
    switch (cfg_.model) {
      case HeatModel::kEwma:
        s.heat = (alpha * s.pending + (1 - alpha) * s.heat) * decay;
        break;
      case HeatModel::kLru:
        if (referenced) s.last = open_;
        s.heat = s.last == kNever ? 0 : 1.0 / (1.0 + static_cast<double>(interval - s.last));
        break;
      case HeatModel::kLfu:
        s.hist = (s.hist << 1) | (referenced ? 1 : 0);
        s.hist = empty >= 64 ? 0 : s.hist << empty;
        s.heat = static_cast<double>(std::popcount(s.hist & wmask)) / cfg_.window;
        break;
    }
    s.heat = clamp01(s.heat);
    // Only the last closed interval counts: after a gap of empty ones it is 0.
    s.recent = empty == 0 ? s.pending : 0;
    s.pending = 0;
  }
  open_ = interval + 1;
}

double HeatTable::heat(uint64_t chunk) const {
  const size_t i = find(chunk);
  return i == SIZE_MAX ? 0 : slots_[i].heat;
}

double HeatTable::recent(uint64_t chunk) const {
  const size_t i = find(chunk);
  return i == SIZE_MAX ? 0 : slots_[i].recent;
}

bool HeatTable::contains(uint64_t chunk) const {
  return find(chunk) != SIZE_MAX;
}

void HeatTable::forget(uint64_t chunk) {
  size_t i = find(chunk);
  if (i == SIZE_MAX) return;
  i = erase_shift(
      slots_.data(), mask_, i, [](const Slot& s) { return s.chunk != kEmpty; },
      [this](const Slot& s) { return home(s.chunk); });
  slots_[i] = Slot{};
  --size_;
}

}  // namespace strata
