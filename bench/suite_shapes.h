// The shapes of strata-bench-suite: access patterns over a heap whose access
// distribution the driver knows, so every interval has a ground truth.
//
// A shape allocates its objects in a Heap and then issues 8-byte accesses to
// (object, offset) pairs; every access is counted on its page. In a real run
// the Heap holds malloc'd blocks and mmaps of this process; in a simulation
// (the trace generator) objects get made-up addresses laid out the way an
// allocator would place them, and accesses are only counted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "suite_common.h"

namespace bench {

class Heap {
 public:
  explicit Heap(bool simulate) : sim_(simulate) {}
  ~Heap();
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;

  size_t add_malloc(uint64_t bytes);  // bytes >= 16, rounded up to 16
  size_t add_mmap(uint64_t bytes);    // anonymous private mapping, page multiple
  // A block another thread malloc'd and touched (real runs; in a simulation
  // this is add_malloc). The heap frees it.
  size_t adopt_malloc(void* p, uint64_t bytes);
  // Touches every object (first touch, in allocation order) and indexes the
  // pages. Call once, after the last add.
  void finish();

  bool simulated() const { return sim_; }
  size_t objects() const { return addr_.size(); }
  uint64_t bytes(size_t obj) const { return bytes_[obj]; }
  uint64_t total_bytes() const { return total_; }
  uintptr_t addr(size_t obj) const { return addr_[obj]; }
  const std::vector<void*>& pages() const { return pages_; }  // distinct, ascending

  // The objects in allocation order as one logical range [0, total_bytes()):
  // the object holding logical byte `pos` and the offset in it.
  std::pair<size_t, uint64_t> locate(uint64_t pos) const;
  uint64_t logical_start(size_t obj) const { return start_[obj]; }

  uint64_t page_of(size_t obj, uint64_t off) const {
    return first_page_[obj] + ((addr_[obj] + off) / kPage - addr_[obj] / kPage);
  }
  // One 8-byte access at `off` (aligned down to 8) of `obj`, counted on its
  // page. Returns the word read (0 for a write or in a simulation).
  uint64_t access(size_t obj, uint64_t off, bool write, uint32_t* counts) const {
    off &= ~uint64_t{7};
    ++counts[page_of(obj, off)];
    if (sim_) return 0;
    auto* p = reinterpret_cast<uint64_t*>(addr_[obj] + off);
    if (write) {
      *p = *p * 3 + 1;
      return 0;
    }
    return *p;
  }
  void store(size_t obj, uint64_t off, uint64_t v) const {
    if (!sim_) *reinterpret_cast<uint64_t*>(addr_[obj] + (off & ~uint64_t{7})) = v;
  }

 private:
  enum class Kind : uint8_t { kMalloc, kMmap, kAdopted };
  size_t push(uintptr_t a, uint64_t bytes, Kind k);

  bool sim_;
  uintptr_t cursor_ = uintptr_t{1} << 30;  // simulation: next free made-up address
  std::vector<uintptr_t> addr_;
  std::vector<uint64_t> bytes_;
  std::vector<uint64_t> start_;  // logical start per object
  std::vector<uint32_t> first_page_;
  std::vector<Kind> kind_;
  std::vector<void*> pages_;
  uint64_t total_ = 0;
};

// A per-run parameter: drawn from [lo, hi] by the seed.
struct ParamSpec {
  enum Kind : uint8_t {
    kSize,       // bytes, log-uniform, rounded to 16 (to 4K from 4K on)
    kShare,      // share of the footprint, uniform
    kFrac,       // a number, uniform
    kInt,        // an integer, uniform
    kIntervals,  // share of --intervals, uniform, as a whole number >= 1
  };
  const char* name;
  Kind kind;
  double lo;
  double hi;
  const char* doc;
};

struct ShapeInfo {
  const char* name;
  const char* doc;
  std::vector<ParamSpec> params;
};
const std::vector<ShapeInfo>& shape_table();
const ShapeInfo* find_shape(const std::string& name);

struct RunContext {
  uint64_t footprint = 0;
  uint64_t intervals = 0;
};

// Drawn values in the order of the shape's params (sizes in bytes, shares as
// fractions, intervals as counts).
struct Params {
  std::vector<std::pair<std::string, double>> values;
  std::vector<ParamSpec::Kind> kinds;
  double get(const char* name) const;
  std::string str() const;  // "name=value ..." with sizes as 64K etc.
};
// Draws the shape's parameters from the seed (a stream of its own per shape,
// so two shapes run with one seed do not share their draws).
Params draw_params(const ShapeInfo& info, const RunContext& ctx, uint64_t seed);

class Shape {
 public:
  virtual ~Shape() = default;
  // Allocates the objects (and calls heap.finish()).
  virtual void setup(Heap& heap, Rng& rng) = 0;
  // Before interval k (0, 1, ...): the phase it belongs to (a new phase when
  // the distribution changed, e.g. a hot window moved).
  virtual int begin_interval(uint64_t k, Rng& rng) = 0;
  // Accesses until CLOCK_MONOTONIC reaches deadline_ms, or exactly
  // max_accesses when that is non-zero; returns the number of accesses.
  virtual uint64_t run(Heap& heap, Rng& rng, std::vector<uint32_t>& counts, double deadline_ms,
                       uint64_t max_accesses);

 protected:
  // n accesses; the default run() calls it in batches of 1024.
  virtual void batch(Heap& heap, Rng& rng, uint32_t* counts, uint64_t n) = 0;
  uint64_t sink_ = 0;  // keeps reads alive
};

// Hot pieces of a logical range [lo, lo + len): `count` pieces of `piece`
// bytes each at page-aligned random places (they may overlap); an access is
// in a piece with probability hot_frac, else anywhere in the range.
struct Pieces {
  uint64_t lo = 0;
  uint64_t len = 0;
  uint64_t piece = 0;
  std::vector<uint64_t> start;
  uint64_t hot_t = 0;  // threshold(hot_frac)

  void init(uint64_t range_lo, uint64_t range_len, uint64_t count, uint64_t hot_bytes,
            double hot_frac) {
    lo = range_lo;
    len = range_len;
    count = std::max<uint64_t>(count, 1);
    piece = std::clamp<uint64_t>(hot_bytes / count, 8, len);
    start.assign(count, 0);
    hot_t = threshold(hot_frac);
  }
  void redraw(Rng& rng) {
    for (uint64_t& s : start) s = rng.below(len) & ~(kPage - 1);
  }
  void shift(uint64_t by) {
    for (uint64_t& s : start) s = (s + by) % len;
  }
  uint64_t draw(Rng& rng) const {
    if (rng.next() < hot_t) return lo + (start[rng.below(start.size())] + rng.below(piece)) % len;
    return lo + rng.below(len);
  }
};

std::unique_ptr<Shape> make_shape(const ShapeInfo& info, const Params& p, const RunContext& ctx);

}  // namespace bench
