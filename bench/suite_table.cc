// strata-bench-suite: the table of shapes with their parameter ranges, and the
// several-threads shape (its run() differs from the single-threaded ones).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

#include "suite_shapes.h"

namespace bench {

const std::vector<ShapeInfo>& shape_table() {
  using P = ParamSpec;
  static const std::vector<ShapeInfo> table = {
      {"uniform-mmap",
       "random hot pieces over anonymous mmaps (64K to max_map each); static",
       {{"max_map", P::kSize, 1 << 20, 64 << 20, "largest mapping"},
        {"pieces", P::kInt, 1, 16, "hot pieces at random places"},
        {"hot", P::kShare, 0.05, 0.3, "hot bytes, share of the footprint"},
        {"hot_frac", P::kFrac, 0.8, 0.97, "share of accesses to the hot pieces"},
        {"write", P::kFrac, 0.3, 0.7, "share of writes (read-modify-write)"}}},
      {"zipf-malloc",
       "Zipf-ranked segments (random order) over malloc blocks of 4K to max_block; static",
       {{"max_block", P::kSize, 256 << 10, 64 << 20, "largest block"},
        {"segment", P::kSize, 4 << 10, 2 << 20, "unit of the ranking"},
        {"s", P::kFrac, 0.7, 1.3, "Zipf exponent"},
        {"write", P::kFrac, 0.2, 0.6, "share of writes"}}},
      {"moving-window",
       "one hot window over equal malloc blocks that jumps to a random place every period",
       {{"block", P::kSize, 256 << 10, 4 << 20, "block size"},
        {"hot", P::kShare, 0.1, 0.3, "window, share of the footprint"},
        {"hot_frac", P::kFrac, 0.85, 0.98, "share of accesses to the window"},
        {"period", P::kIntervals, 0.2, 0.4, "intervals between moves, share of --intervals"},
        {"write", P::kFrac, 0.3, 0.7, "share of writes"}}},
      {"drift",
       "one hot window over malloc blocks (64K to max_block) sliding a step every interval",
       {{"max_block", P::kSize, 512 << 10, 8 << 20, "largest block"},
        {"hot", P::kShare, 0.1, 0.25, "window, share of the footprint"},
        {"step", P::kShare, 0.02, 0.1, "slide per interval, share of the footprint"},
        {"hot_frac", P::kFrac, 0.85, 0.95, "share of accesses to the window"},
        {"write", P::kFrac, 0.3, 0.7, "share of writes"}}},
      {"scan",
       "a static hot window beside a sequential read scan over the rest (1M-16M blocks)",
       {{"hot", P::kShare, 0.05, 0.2, "window, share of the footprint"},
        {"scan", P::kFrac, 0.3, 0.7, "share of accesses that are the scan"},
        {"hot_frac", P::kFrac, 0.9, 1.0, "share of the other accesses to the window"}}},
      {"pointer-chase",
       "dependent loads around a hot ring (nodes of hot slabs) and a cold ring; static",
       {{"node", P::kSize, 128, 2048, "node size"},
        {"slab", P::kSize, 16 << 10, 1 << 20, "malloc'd slab of nodes"},
        {"hot", P::kShare, 0.05, 0.25, "share of slabs on the hot ring"},
        {"hot_frac", P::kFrac, 0.8, 0.95, "share of steps on the hot ring"}}},
      {"read-mostly",
       "Zipf-ranked segments over 1M-16M malloc blocks, almost only reads; static",
       {{"segment", P::kSize, 64 << 10, 4 << 20, "unit of the ranking"},
        {"s", P::kFrac, 0.9, 1.3, "Zipf exponent"},
        {"write", P::kFrac, 0.0, 0.05, "share of writes"}}},
      {"write-heavy",
       "random hot pieces over 256K-8M malloc blocks, mostly writes; static",
       {{"pieces", P::kInt, 1, 8, "hot pieces"},
        {"hot", P::kShare, 0.05, 0.25, "hot bytes, share of the footprint"},
        {"hot_frac", P::kFrac, 0.85, 0.97, "share of accesses to the hot pieces"},
        {"write", P::kFrac, 0.8, 1.0, "share of writes"}}},
      {"short-phases",
       "random hot pieces over 256K-8M malloc blocks, redrawn every 1-2 intervals",
       {{"pieces", P::kInt, 1, 8, "hot pieces"},
        {"hot", P::kShare, 0.05, 0.2, "hot bytes, share of the footprint"},
        {"hot_frac", P::kFrac, 0.85, 0.97, "share of accesses to the hot pieces"},
        {"period", P::kInt, 1, 2, "intervals per phase"}}},
      {"shared-pages",
       "small malloc'd objects (16 to obj_max bytes, at most 1M), a random subset hot",
       {{"obj_max", P::kSize, 256, 4096, "largest object"},
        {"hot", P::kFrac, 0.02, 0.2, "share of objects that are hot"},
        {"hot_frac", P::kFrac, 0.8, 0.95, "share of accesses to hot objects"},
        {"write", P::kFrac, 0.2, 0.6, "share of writes"}}},
      {"threads",
       "each thread mallocs its own blocks (256K-4M) and has a hot window that moves",
       {{"threads", P::kInt, 2, 4, "threads"},
        {"hot", P::kShare, 0.05, 0.2, "window, share of a thread's heap"},
        {"hot_frac", P::kFrac, 0.85, 0.97, "share of a thread's accesses to its window"},
        {"period", P::kIntervals, 0.25, 0.5, "intervals between a thread's moves"},
        {"write", P::kFrac, 0.3, 0.7, "share of writes"}}},
  };
  return table;
}

namespace {

// Each thread allocates and first-touches its part of the footprint (so a
// per-thread arena holds it) and accesses only that part; thread t's window
// moves every `period` intervals, shifted by t * period / threads.
class ThreadsShape : public Shape {
 public:
  ThreadsShape(const Params& p, const RunContext& ctx)
      : n_(static_cast<uint64_t>(p.get("threads"))),
        hot_(p.get("hot")),
        hot_frac_(p.get("hot_frac")),
        period_(static_cast<uint64_t>(p.get("period"))),
        write_(p.get("write")),
        ctx_(ctx) {}

  void setup(Heap& heap, Rng& rng) override {
    const uint64_t each = ctx_.footprint / n_;
    std::vector<std::vector<std::pair<void*, uint64_t>>> blocks(n_);
    std::vector<uint64_t> seeds(n_);
    for (uint64_t& s : seeds) s = rng.next();
    auto alloc = [&](uint64_t t) {
      Rng r{seeds[t]};
      for (uint64_t left = each; left >= 16;) {
        uint64_t b =
            std::min<uint64_t>(left, static_cast<uint64_t>(r.log_range(256 << 10, 4 << 20)));
        b &= ~uint64_t{15};
        if (left - b < 16) b = left & ~uint64_t{15};
        void* p = heap.simulated() ? nullptr : std::malloc(b);
        if (p != nullptr) std::memset(p, 1, b);
        blocks[t].emplace_back(p, b);
        left -= b;
        if (b == 0) break;
      }
    };
    if (heap.simulated()) {
      for (uint64_t t = 0; t < n_; ++t) alloc(t);
    } else {
      std::vector<std::thread> th;
      for (uint64_t t = 0; t < n_; ++t) th.emplace_back(alloc, t);
      for (auto& x : th) x.join();
    }
    for (uint64_t t = 0; t < n_; ++t) {
      const uint64_t lo = heap.total_bytes();
      for (auto [p, b] : blocks[t]) {
        if (p == nullptr && !heap.simulated()) {
          std::fprintf(stderr, "strata-bench-suite: malloc(%llu) failed in thread %llu\n",
                       static_cast<unsigned long long>(b), static_cast<unsigned long long>(t));
          std::exit(1);
        }
        heap.adopt_malloc(p, b);
      }
      Worker w;
      w.pieces.init(lo, heap.total_bytes() - lo, 1,
                    static_cast<uint64_t>(hot_ * static_cast<double>(heap.total_bytes() - lo)),
                    hot_frac_);
      w.pieces.redraw(rng);
      w.rng.s = rng.next();
      w.offset = t * period_ / n_;
      workers_.push_back(w);
    }
    heap.finish();
    write_t_ = threshold(write_);
  }

  int begin_interval(uint64_t k, Rng&) override {
    for (Worker& w : workers_) {
      if (k > w.offset && (k - w.offset) % period_ == 0) {
        w.pieces.redraw(w.rng);
        ++moves_;
      }
    }
    return static_cast<int>(moves_);
  }

  uint64_t run(Heap& heap, Rng&, std::vector<uint32_t>& counts, double deadline_ms,
               uint64_t max_accesses) override {
    std::vector<std::vector<uint32_t>> local(n_, std::vector<uint32_t>(counts.size()));
    std::vector<uint64_t> done(n_);
    auto work = [&](uint64_t t) {
      const uint64_t quota = max_accesses / n_;
      uint64_t n = 0;
      do {
        for (int i = 0; i < 1024; ++i) one(heap, workers_[t], local[t].data());
        n += 1024;
      } while (quota != 0 ? n < quota : now_ms(CLOCK_MONOTONIC) < deadline_ms);
      done[t] = n;
    };
    if (max_accesses != 0) {
      for (uint64_t t = 0; t < n_; ++t) work(t);  // deterministic: one after the other
    } else {
      std::vector<std::thread> th;
      for (uint64_t t = 0; t < n_; ++t) th.emplace_back(work, t);
      for (auto& x : th) x.join();
    }
    uint64_t total = 0;
    for (uint64_t t = 0; t < n_; ++t) {
      total += done[t];
      for (size_t i = 0; i < counts.size(); ++i) counts[i] += local[t][i];
    }
    return total;
  }

 protected:
  void batch(Heap&, Rng&, uint32_t*, uint64_t) override {}

 private:
  struct Worker {
    Pieces pieces;
    Rng rng{0};
    uint64_t offset = 0;
    uint64_t sink = 0;
  };
  void one(Heap& heap, Worker& w, uint32_t* counts) {
    const auto [obj, off] = heap.locate(w.pieces.draw(w.rng));
    w.sink += heap.access(obj, off, w.rng.next() < write_t_, counts);
  }

  uint64_t n_;
  double hot_, hot_frac_;
  uint64_t period_;
  double write_;
  RunContext ctx_;
  std::vector<Worker> workers_;
  uint64_t write_t_ = 0;
  uint64_t moves_ = 0;
};

}  // namespace

std::unique_ptr<Shape> make_threads_shape(const Params& p, const RunContext& ctx) {
  return std::make_unique<ThreadsShape>(p, ctx);
}

}  // namespace bench
