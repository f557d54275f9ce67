// The shapes of strata-bench-suite (see suite_shapes.h and docs/benchmarks.md).
#include "suite_shapes.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace bench {

namespace {

// Blocks of log-uniform sizes in [lo, hi] until `footprint` bytes; the last
// one takes what is left.
void add_blocks(Heap& heap, Rng& rng, uint64_t footprint, double lo, double hi, bool use_mmap) {
  uint64_t left = footprint;
  while (left >= 16) {
    uint64_t b = static_cast<uint64_t>(rng.log_range(lo, std::max(lo, hi)));
    b = std::min(left, std::max<uint64_t>(b & ~uint64_t{15}, 16));
    if (left - b < 16) b = left;
    if (use_mmap)
      heap.add_mmap(b);
    else
      heap.add_malloc(b);
    left -= b;
  }
}

// Hot pieces over blocks or mmaps; optionally redrawn every `period`
// intervals (a moving window, short phases) or shifted every interval (drift).
class PiecesShape : public Shape {
 public:
  struct Config {
    bool use_mmap = false;
    double block_lo = 0, block_hi = 0;
    uint64_t count = 1;
    double hot_share = 0, hot_frac = 0, write = 0;
    uint64_t period = 0;    // 0: never redrawn
    double step_share = 0;  // drift per interval, share of the footprint
  };
  PiecesShape(const Config& c, const RunContext& ctx) : c_(c), ctx_(ctx) {}

  void setup(Heap& heap, Rng& rng) override {
    add_blocks(heap, rng, ctx_.footprint, c_.block_lo, c_.block_hi, c_.use_mmap);
    heap.finish();
    const uint64_t total = heap.total_bytes();
    p_.init(0, total, c_.count, static_cast<uint64_t>(c_.hot_share * static_cast<double>(total)),
            c_.hot_frac);
    p_.redraw(rng);
    write_t_ = threshold(c_.write);
  }
  int begin_interval(uint64_t k, Rng& rng) override {
    if (c_.step_share > 0) {
      if (k > 0) {
        const auto step = static_cast<uint64_t>(c_.step_share * static_cast<double>(p_.len));
        p_.shift(step);
        shifted_ += step;
      }
      return static_cast<int>(shifted_ / std::max<uint64_t>(p_.piece, 1));
    }
    if (c_.period == 0) return 0;
    if (k > 0 && k % c_.period == 0) p_.redraw(rng);
    return static_cast<int>(k / c_.period);
  }

 protected:
  void batch(Heap& heap, Rng& rng, uint32_t* counts, uint64_t n) override {
    for (uint64_t i = 0; i < n; ++i) {
      const auto [obj, off] = heap.locate(p_.draw(rng));
      sink_ += heap.access(obj, off, rng.next() < write_t_, counts);
    }
  }

 private:
  Config c_;
  RunContext ctx_;
  Pieces p_;
  uint64_t write_t_ = 0;
  uint64_t shifted_ = 0;
};

// Zipf over fixed-size segments of the heap, ranked in a random order.
class ZipfShape : public Shape {
 public:
  ZipfShape(double block_lo, double block_hi, uint64_t seg, double s, double write,
            const RunContext& ctx)
      : lo_(block_lo), hi_(block_hi), seg_(seg), s_(s), write_(write), ctx_(ctx) {}

  void setup(Heap& heap, Rng& rng) override {
    add_blocks(heap, rng, ctx_.footprint, lo_, hi_, false);
    heap.finish();
    const uint64_t nseg = std::max<uint64_t>(heap.total_bytes() / seg_, 1);
    zipf_ = std::make_unique<Zipf>(nseg, s_);
    rank_ = permutation(nseg, rng);
    write_t_ = threshold(write_);
  }
  int begin_interval(uint64_t, Rng&) override { return 0; }

 protected:
  void batch(Heap& heap, Rng& rng, uint32_t* counts, uint64_t n) override {
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t seg = rank_[zipf_->draw(rng)];
      const auto [obj, off] = heap.locate(seg * seg_ + rng.below(seg_));
      sink_ += heap.access(obj, off, rng.next() < write_t_, counts);
    }
  }

 private:
  double lo_, hi_;
  uint64_t seg_;
  double s_, write_;
  RunContext ctx_;
  std::unique_ptr<Zipf> zipf_;
  std::vector<uint32_t> rank_;
  uint64_t write_t_ = 0;
};

// A static hot window beside a sequential read scan (one word per 64-byte
// line) that sweeps the rest of the heap over and over.
class ScanShape : public Shape {
 public:
  ScanShape(double hot_share, double scan_share, double hot_frac, const RunContext& ctx)
      : hot_share_(hot_share), scan_share_(scan_share), hot_frac_(hot_frac), ctx_(ctx) {}

  void setup(Heap& heap, Rng& rng) override {
    add_blocks(heap, rng, ctx_.footprint, 1 << 20, 16 << 20, false);
    heap.finish();
    const uint64_t total = heap.total_bytes();
    p_.init(0, total, 1, static_cast<uint64_t>(hot_share_ * static_cast<double>(total)), hot_frac_);
    p_.redraw(rng);
    scan_t_ = threshold(scan_share_);
  }
  int begin_interval(uint64_t, Rng&) override { return 0; }

 protected:
  void batch(Heap& heap, Rng& rng, uint32_t* counts, uint64_t n) override {
    const uint64_t total = heap.total_bytes();
    const uint64_t hot_lo = p_.start[0];
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t pos = 0;
      if (rng.next() < scan_t_) {
        cursor_ = (cursor_ + 64) % total;
        if ((cursor_ + total - hot_lo) % total < p_.piece) cursor_ = (hot_lo + p_.piece) % total;
        pos = cursor_;
      } else {
        pos = p_.draw(rng);
      }
      const auto [obj, off] = heap.locate(pos);
      sink_ += heap.access(obj, off, false, counts);
    }
  }

 private:
  double hot_share_, scan_share_, hot_frac_;
  RunContext ctx_;
  Pieces p_;
  uint64_t scan_t_ = 0;
  uint64_t cursor_ = 0;
};

// Two linked rings of fixed-size nodes in malloc'd slabs: the hot ring runs
// through every node of a random subset of slabs, the cold ring through the
// rest, both in random order. Each step reads a node's next index (a
// dependent load) and follows it.
class ChaseShape : public Shape {
 public:
  ChaseShape(uint64_t node, uint64_t slab, double hot_share, double hot_frac, const RunContext& ctx)
      : node_(node),
        slab_(std::max(slab, node)),
        hot_share_(hot_share),
        hot_frac_(hot_frac),
        ctx_(ctx) {}

  void setup(Heap& heap, Rng& rng) override {
    const uint64_t nslab = std::max<uint64_t>(ctx_.footprint / slab_, 2);
    for (uint64_t i = 0; i < nslab; ++i) heap.add_malloc(slab_);
    heap.finish();
    per_slab_ = slab_ / node_;
    const std::vector<uint32_t> slabs = permutation(nslab, rng);
    const uint64_t nhot = std::clamp<uint64_t>(
        static_cast<uint64_t>(hot_share_ * static_cast<double>(nslab)), 1, nslab - 1);
    std::vector<uint32_t> hot, cold;
    for (uint64_t i = 0; i < nslab; ++i)
      for (uint64_t j = 0; j < per_slab_; ++j)
        (i < nhot ? hot : cold).push_back(static_cast<uint32_t>(slabs[i] * per_slab_ + j));
    if (heap.simulated()) next_.resize(nslab * per_slab_);
    for (auto* ring : {&hot, &cold}) {
      for (uint64_t i = ring->size(); i > 1; --i) std::swap((*ring)[i - 1], (*ring)[rng.below(i)]);
      for (size_t i = 0; i < ring->size(); ++i)
        link((*ring)[i], (*ring)[(i + 1) % ring->size()], heap);
    }
    cur_[0] = hot[0];
    cur_[1] = cold[0];
    hot_t_ = threshold(hot_frac_);
  }
  int begin_interval(uint64_t, Rng&) override { return 0; }

 protected:
  void batch(Heap& heap, Rng& rng, uint32_t* counts, uint64_t n) override {
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t& c = cur_[rng.next() < hot_t_ ? 0 : 1];
      const uint64_t v = heap.access(c / per_slab_, (c % per_slab_) * node_, false, counts);
      c = heap.simulated() ? next_[c] : static_cast<uint32_t>(v);
    }
  }

 private:
  void link(uint32_t from, uint32_t to, Heap& heap) {
    if (heap.simulated())
      next_[from] = to;
    else
      heap.store(from / per_slab_, (from % per_slab_) * node_, to);
  }
  uint64_t node_, slab_;
  double hot_share_, hot_frac_;
  RunContext ctx_;
  uint64_t per_slab_ = 1;
  std::vector<uint32_t> next_;  // simulation only: the rings
  uint32_t cur_[2] = {0, 0};
  uint64_t hot_t_ = 0;
};

// Small objects of mixed sizes, a random subset of them hot: hot and cold
// objects share pages. Cold accesses are uniform over objects.
class SharedShape : public Shape {
 public:
  static constexpr uint64_t kMaxObjects = 1 << 20;
  SharedShape(double obj_max, double hot_share, double hot_frac, double write,
              const RunContext& ctx)
      : obj_max_(obj_max), hot_share_(hot_share), hot_frac_(hot_frac), write_(write), ctx_(ctx) {}

  void setup(Heap& heap, Rng& rng) override {
    uint64_t left = ctx_.footprint;
    while (left >= 16 && heap.objects() < kMaxObjects) {
      const uint64_t b = std::min(left, static_cast<uint64_t>(rng.log_range(16, obj_max_)));
      heap.add_malloc(b);
      left -= std::min(left, (b + 15) & ~uint64_t{15});
    }
    heap.finish();
    const std::vector<uint32_t> perm = permutation(heap.objects(), rng);
    const auto nhot =
        std::max<uint64_t>(static_cast<uint64_t>(hot_share_ * static_cast<double>(perm.size())), 1);
    hot_.assign(perm.begin(), perm.begin() + static_cast<ptrdiff_t>(nhot));
    hot_t_ = threshold(hot_frac_);
    write_t_ = threshold(write_);
  }
  int begin_interval(uint64_t, Rng&) override { return 0; }

 protected:
  void batch(Heap& heap, Rng& rng, uint32_t* counts, uint64_t n) override {
    for (uint64_t i = 0; i < n; ++i) {
      const size_t obj = rng.next() < hot_t_ ? hot_[rng.below(hot_.size())]
                                             : static_cast<size_t>(rng.below(heap.objects()));
      sink_ += heap.access(obj, rng.below(heap.bytes(obj)), rng.next() < write_t_, counts);
    }
  }

 private:
  double obj_max_, hot_share_, hot_frac_, write_;
  RunContext ctx_;
  std::vector<uint32_t> hot_;
  uint64_t hot_t_ = 0, write_t_ = 0;
};

}  // namespace

std::unique_ptr<Shape> make_threads_shape(const Params& p, const RunContext& ctx);

std::unique_ptr<Shape> make_shape(const ShapeInfo& info, const Params& p, const RunContext& ctx) {
  const std::string name = info.name;
  auto g = [&](const char* n) { return p.get(n); };
  PiecesShape::Config c;
  if (name == "uniform-mmap") {
    c = {true,     64 << 10,      g("max_map"), static_cast<uint64_t>(g("pieces")),
         g("hot"), g("hot_frac"), g("write"),   0,
         0};
    return std::make_unique<PiecesShape>(c, ctx);
  }
  if (name == "moving-window") {
    c = {false,    g("block"),    g("block"), 1,
         g("hot"), g("hot_frac"), g("write"), static_cast<uint64_t>(g("period")),
         0};
    return std::make_unique<PiecesShape>(c, ctx);
  }
  if (name == "drift") {
    c = {false, 64 << 10, g("max_block"), 1, g("hot"), g("hot_frac"), g("write"), 0, g("step")};
    return std::make_unique<PiecesShape>(c, ctx);
  }
  if (name == "write-heavy") {
    c = {false,    256 << 10,     8 << 20,    static_cast<uint64_t>(g("pieces")),
         g("hot"), g("hot_frac"), g("write"), 0,
         0};
    return std::make_unique<PiecesShape>(c, ctx);
  }
  if (name == "short-phases") {
    c = {false,    256 << 10,     8 << 20, static_cast<uint64_t>(g("pieces")),
         g("hot"), g("hot_frac"), 0.5,     static_cast<uint64_t>(g("period")),
         0};
    return std::make_unique<PiecesShape>(c, ctx);
  }
  if (name == "zipf-malloc")
    return std::make_unique<ZipfShape>(4 << 10, g("max_block"), static_cast<uint64_t>(g("segment")),
                                       g("s"), g("write"), ctx);
  if (name == "read-mostly")
    return std::make_unique<ZipfShape>(1 << 20, 16 << 20, static_cast<uint64_t>(g("segment")),
                                       g("s"), g("write"), ctx);
  if (name == "scan") return std::make_unique<ScanShape>(g("hot"), g("scan"), g("hot_frac"), ctx);
  if (name == "pointer-chase")
    return std::make_unique<ChaseShape>(static_cast<uint64_t>(g("node")) & ~uint64_t{15},
                                        static_cast<uint64_t>(g("slab")), g("hot"), g("hot_frac"),
                                        ctx);
  if (name == "shared-pages")
    return std::make_unique<SharedShape>(g("obj_max"), g("hot"), g("hot_frac"), g("write"), ctx);
  if (name == "threads") return make_threads_shape(p, ctx);
  return nullptr;
}

}  // namespace bench
