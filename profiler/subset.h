// A rotating subset: when there are more items (chunks) than an interval's
// budget allows, each round visits the items whose id falls in this round's
// residue class, so every item is visited once every `period()` rounds and a
// round costs about n / period, however many items there are.
// Used by the engine to probe where a large heap's pages are (move_pages is
// about 1 us a page): a chunk's node rarely changes between moves, and a chunk
// the engine moved or has never probed is probed anyway.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::sampling {

class RotatingSubset {
 public:
  // Starts the next round for n items with at most `budget` per round
  // (budget 0: no limit).
  void next_round(size_t n, size_t budget) {
    period_ = (budget == 0 || n <= budget) ? 1 : (n + budget - 1) / budget;
    phase_ = period_ == 1 ? 0 : (phase_ + 1) % period_;
  }
  // Whether the item with this id is visited this round.
  bool selects(uint64_t id) const { return period_ <= 1 || id % period_ == phase_; }
  uint64_t period() const { return period_; }
  uint64_t phase() const { return phase_; }

 private:
  uint64_t period_ = 1;
  uint64_t phase_ = 0;
};

}  // namespace strata::sampling
