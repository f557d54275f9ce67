// strata-bench-alloc: allocation microbenchmarks.
//
// This program is NOT linked against strata. It calls the plain C allocation
// functions, so whichever allocator is preloaded (none = glibc, jemalloc,
// libstrata.so, memkind's libmemtier.so) is the one measured.
// bench/run-alloc-peers.sh runs it once per allocator with identical flags.
//
// Every benchmark reports items_per_second over wall-clock time (UseRealTime),
// so with N threads the figure is the aggregate throughput of all threads.
// Multi-threaded benchmarks pin thread i to the i-th allowed CPU.
// One item is one allocation that was also freed.
//
//   BM_MallocFree/<size>/threads:<t>   malloc + touch + free, back to back
//   BM_Batch/<size>                    malloc N blocks, then free the N blocks
//   BM_ProducerConsumer/threads:2      larson-style cross-thread free: thread 0
//                                      allocates mixed-size blocks and hands
//                                      them, 32 at a time, through a lock-free
//                                      SPSC ring to thread 1, which frees them

#include <benchmark/benchmark.h>
#include <sched.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// With several benchmark threads, pin thread i to the i-th allowed CPU (modulo
// their number) for the duration of the run, so that the scheduler does not
// sometimes stack both threads on one CPU and sometimes spread them: that
// alone changes cross-thread results several-fold on a 2-CPU machine.
// Thread 0 is the benchmark's main thread, so the old mask is restored.
bool g_pin_threads = true;  // --pin_threads=0 turns pinning off

class PinnedThread {
 public:
  explicit PinnedThread(const benchmark::State& state) {
    if (!g_pin_threads || state.threads() < 2) return;
    if (sched_getaffinity(0, sizeof(old_), &old_) != 0) return;
    const int ncpu = CPU_COUNT(&old_);
    if (ncpu < 2) return;
    int want = state.thread_index() % ncpu;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (!CPU_ISSET(cpu, &old_)) continue;
      if (want-- == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pinned_ = sched_setaffinity(0, sizeof(one), &one) == 0;
        break;
      }
    }
  }
  ~PinnedThread() {
    if (pinned_) sched_setaffinity(0, sizeof(old_), &old_);
  }
  PinnedThread(const PinnedThread&) = delete;
  PinnedThread& operator=(const PinnedThread&) = delete;

 private:
  cpu_set_t old_{};
  bool pinned_ = false;
};

constexpr int64_t kSizes[] = {16, 256, 4 << 10, 64 << 10, 1 << 20};

// The compiler must not elide or merge the allocation: the pointer escapes
// through DoNotOptimize and its first byte is written.
inline void* Allocate(size_t size, uint64_t seed) {
  void* p = std::malloc(size);
  benchmark::DoNotOptimize(p);
  if (p == nullptr) return nullptr;
  static_cast<volatile unsigned char*>(p)[0] = static_cast<unsigned char>(seed);
  benchmark::ClobberMemory();
  return p;
}

void BM_MallocFree(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  PinnedThread pin(state);
  uint64_t i = 0;
  for (auto _ : state) {
    void* p = Allocate(size, ++i);
    if (p == nullptr) {
      state.SkipWithError("malloc returned NULL");
      break;
    }
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

// Batch size: 1024 blocks, capped so a batch holds at most 64 MiB.
size_t BatchCount(size_t size) {
  constexpr size_t kMaxBlocks = 1024;
  constexpr size_t kMaxBytes = size_t{64} << 20;
  size_t n = kMaxBytes / size;
  return n < kMaxBlocks ? n : kMaxBlocks;
}

void BM_Batch(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const size_t n = BatchCount(size);
  std::vector<void*> ptrs(n);  // allocated once, outside the timed loop
  uint64_t seq = 0;
  for (auto _ : state) {
    size_t got = 0;
    while (got < n && (ptrs[got] = Allocate(size, ++seq)) != nullptr) ++got;
    for (size_t k = 0; k < got; ++k) std::free(ptrs[k]);
    if (got < n) {
      state.SkipWithError("malloc returned NULL");
      break;
    }
  }
  state.counters["batch"] = static_cast<double>(n);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}

// ---------------------------------------------------------------------------
// Producer/consumer (larson-style remote free).

// Blocks travel in batches of up to kBatch pointers, as in larson/xmalloc-test:
// the hand-off costs little next to the allocations, and the result no longer
// swings with whether producer and consumer happen to alternate item by item.
constexpr size_t kBatch = 32;
struct Batch {
  size_t n = 0;
  void* p[kBatch];
};

// Bounded single-producer single-consumer ring of batches. Indices only grow,
// so the ring is empty again at the end of every benchmark run (both threads
// run exactly the same number of iterations) and never needs a reset.
class SpscRing {
 public:
  static constexpr size_t kCapacity = 64;  // batches; power of two

  bool TryPush(const Batch& b) {
    const uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ >= kCapacity) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ >= kCapacity) return false;
    }
    slots_[t & (kCapacity - 1)] = b;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  bool TryPop(Batch& b) {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return false;
    }
    b = slots_[h & (kCapacity - 1)];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(64) std::atomic<uint64_t> tail_{0};  // written by the producer
  alignas(64) uint64_t head_cache_ = 0;        // producer's view of head_
  alignas(64) std::atomic<uint64_t> head_{0};  // written by the consumer
  alignas(64) uint64_t tail_cache_ = 0;        // consumer's view of tail_
  alignas(64) Batch slots_[kCapacity] = {};
};

// One ring per producer/consumer pair (thread 2k produces, 2k+1 consumes).
constexpr int kMaxPairs = 8;
SpscRing g_rings[kMaxPairs];
unsigned char g_null_block;  // stands in for a failed allocation in the ring
std::atomic<bool> g_null_seen{false};

inline void Backoff(unsigned& spins) {
  if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    spins = 0;
    std::this_thread::yield();  // the peer may share our core
  }
}

// Mixed sizes: mostly small (16 B .. 1 KiB), some medium (up to 8 KiB),
// 1 in 64 large (up to 64 KiB). Deterministic xorshift so every allocator
// sees the same sequence.
inline size_t NextSize(uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  const uint64_t r = x;
  if ((r & 63) == 0) return 8192 + (r >> 8) % (56 << 10);
  if ((r & 7) == 0) return 1024 + (r >> 8) % (7 << 10);
  return 16 + (r >> 8) % 1009;
}

void BM_ProducerConsumer(benchmark::State& state) {
  const int pair = state.thread_index() / 2;
  if (state.threads() % 2 != 0 || pair >= kMaxPairs) {
    state.SkipWithError("needs an even number of threads, at most 16");
    return;
  }
  SpscRing& ring = g_rings[pair];
  PinnedThread pin(state);
  const bool producer = state.thread_index() % 2 == 0;

  if (producer) {
    uint64_t x = 0x9E3779B97F4A7C15ull ^ static_cast<uint64_t>(pair + 1);
    Batch out;
    auto push = [&] {
      unsigned spins = 0;
      while (!ring.TryPush(out)) Backoff(spins);
      out.n = 0;
    };
    benchmark::IterationCount done = 0;
    for (auto _ : state) {
      const size_t size = NextSize(x);
      void* p = Allocate(size, x);
      // On NULL, still hand something over so the consumer's count matches.
      if (p == nullptr) {
        p = &g_null_block;
        g_null_seen.store(true, std::memory_order_relaxed);
      }
      out.p[out.n++] = p;
      ++done;
      // The last, partial batch must go out inside the loop: the loop's end is
      // a barrier that waits for the consumer, which waits for that batch.
      if (out.n == kBatch || done == state.max_iterations) push();
    }
    state.SetItemsProcessed(state.iterations());
    if (g_null_seen.load(std::memory_order_relaxed)) state.SkipWithError("malloc returned NULL");
  } else {
    Batch in;
    size_t next = 0;
    for (auto _ : state) {
      if (next == in.n) {
        unsigned spins = 0;
        while (!ring.TryPop(in)) Backoff(spins);
        next = 0;
      }
      void* p = in.p[next++];
      benchmark::DoNotOptimize(*static_cast<volatile unsigned char*>(p));
      if (p != &g_null_block) std::free(p);
    }
  }
}

}  // namespace

BENCHMARK(BM_MallocFree)
    ->ArgName("size")
    ->Arg(kSizes[0])->Arg(kSizes[1])->Arg(kSizes[2])->Arg(kSizes[3])->Arg(kSizes[4])
    ->Threads(1)->Threads(2)
    ->UseRealTime();

BENCHMARK(BM_Batch)
    ->ArgName("size")
    ->Arg(kSizes[0])->Arg(kSizes[1])->Arg(kSizes[2])->Arg(kSizes[3])->Arg(kSizes[4])
    ->UseRealTime();

BENCHMARK(BM_ProducerConsumer)->Threads(2)->UseRealTime();

int main(int argc, char** argv) {
  // Unbuffered console output: when an allocator under test crashes, the log
  // still shows every benchmark that finished before the crash.
  std::cout << std::unitbuf;
  // Our own flag, removed before Google Benchmark sees the arguments.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--pin_threads=0" || arg == "--pin_threads=false") {
      g_pin_threads = false;
    } else if (arg == "--pin_threads=1" || arg == "--pin_threads=true" ||
               arg == "--pin_threads") {
      g_pin_threads = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
