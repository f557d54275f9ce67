// Chunk heat: how hot each chunk (an aligned address range, 2 MiB by default,
// named by a uint64 id) has been lately, computed from the referenced fraction a
// sampler reports per chunk and interval. The migration planner reads it.
//
// It runs on the background thread inside the malloc interposer, so all storage
// is one open-addressing table: it starts small and doubles when a new chunk
// would fill it past half (the only time it allocates), memory is bounded by
// the capacity (new chunks beyond it are refused and counted in dropped()),
// and closing an interval costs one pass over what is tracked.
// Not thread-safe: one thread owns a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/config.h"

namespace strata {

class HeatTable {
 public:
  static constexpr size_t kDefaultMaxChunks = size_t{1} << 16;  // 128 GiB of 2 MiB chunks
  static constexpr uint32_t kMaxWindow = 64;                    // LFU history is one word

  // Tracks up to max_chunks chunks with cfg's model, alpha and window (window
  // clamped to [1, kMaxWindow]).
  explicit HeatTable(const MigrateConfig& cfg, size_t max_chunks = kDefaultMaxChunks);

  // Records that `referenced_fraction` (clamped to [0, 1]) of the chunk's pages
  // were referenced in `interval`. An interval later than the open one first
  // closes the open one (and any in between, as empty). Observing a chunk twice
  // in one interval keeps the larger fraction. Returns false, recording nothing,
  // for an interval already closed, the reserved id UINT64_MAX, or a new chunk
  // when the table is full.
  bool observe(uint64_t interval, uint64_t chunk, double referenced_fraction);

  // Marks a known chunk as not looked at in `interval` (a sampler that read
  // part of the process): closing the interval leaves its heat, history and
  // recent observation as they were. An observation in the same interval
  // wins. False for an unknown chunk or a closed interval.
  bool hold(uint64_t interval, uint64_t chunk);

  // Closes every interval up to and including `interval` and updates all heats;
  // a chunk not observed (nor held) in an interval counts as 0 referenced. Intervals
  // already closed are ignored. Cost: one pass over the table.
  void end_interval(uint64_t interval);

  // Heat in [0, 1] as of the last closed interval; 0 for an unknown chunk.
  double heat(uint64_t chunk) const;
  // The referenced fraction observed in the last closed interval alone (0 if
  // it was not observed then, or the chunk is unknown): the planner ranks a
  // chunk by max(heat, recent), so a chunk that just became hot counts as hot
  // at once, whatever the model's history says.
  double recent(uint64_t chunk) const;
  bool contains(uint64_t chunk) const;
  // Drops a chunk whose memory was unmapped; its id may come back as a new chunk.
  void forget(uint64_t chunk);

  // Calls fn(chunk, heat) for every tracked chunk, in no particular order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const Slot& s : slots_)
      if (s.chunk != kEmpty) fn(s.chunk, s.heat);
  }

  size_t size() const { return size_; }
  size_t max_chunks() const { return max_chunks_; }
  uint64_t dropped() const { return dropped_; }
  // The interval observe() is accumulating (0 before the first call).
  uint64_t open_interval() const { return open_; }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;  // free slot (hence the reserved id)
  static constexpr uint64_t kNever = UINT64_MAX;  // LRU: never referenced

  struct Slot {
    uint64_t chunk = kEmpty;
    uint64_t last = kNever;  // LRU: last interval with a reference
    uint64_t hist = 0;       // LFU: bit i set = referenced i+1 intervals before open_
    double heat = 0;
    float pending = 0;      // observation in the open interval
    float recent = 0;       // observation in the last closed interval
    bool observed = false;  // in the open interval
    bool held = false;      // in the open interval, and not observed
  };

  static constexpr size_t kInitialSlots = 1024;
  void grow();
  size_t find(uint64_t chunk) const;  // slot index, or SIZE_MAX
  size_t home(uint64_t chunk) const;

  MigrateConfig cfg_;
  std::vector<Slot> slots_;  // size is a power of two, at least twice max_chunks_
  size_t mask_ = 0;
  size_t max_chunks_ = 0;
  size_t size_ = 0;
  uint64_t dropped_ = 0;
  uint64_t open_ = 0;
  bool started_ = false;  // open_ is set by the first call
};

}  // namespace strata
