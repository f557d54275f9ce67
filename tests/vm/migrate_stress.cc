// Data integrity under concurrent migration, for tests/vm/migrate.sh (inside
// the NUMA test VM). NOT linked against strata: strata/strata.h finds the
// preloaded library through dlsym (for its migration counters). Run under
// strata-run with a small capped fast tier and an engine that moves as fast
// as it is allowed to:
//
//   strata-run -- strata-vm-migrate-stress [--seconds=D] [--max-seconds=M]
//       [--total=SIZE] [--mmap=SIZE] [--threads=N] [--window=SIZE]
//       [--slide-ms=T] [--min-migrated=SIZE] [--seed=S]
//
// Blocks: malloc'd, random sizes 1 KiB-256 KiB, --total bytes in all, plus one
// anonymous private mmap of --mmap bytes cut into 64 KiB blocks. Each block
// holds its id and version, then words derived from (id, version, index),
// then a checksum of all of that. Each worker thread owns every N-th block
// and, until the time is up, picks blocks at random from a hot window of its
// blocks (--window bytes of consecutive blocks per thread; the window moves on
// every --slide-ms, so the engine keeps promoting and demoting), verifies the
// block, and rewrites it with version + 1. One rewrite in 32 of a malloc'd
// block moves it to a fresh malloc of a new size (free of the old one). The
// workers run for --seconds, and on (up to --max-seconds in all) until the
// engine has moved --min-migrated bytes: a slow or busy host (TCG turns the
// TLB-shootdown IPIs of page migration into long stalls) gets more time
// rather than a vacuous pass or a spurious failure.
// Before verifying, the worker asks the kernel (move_pages status query)
// where the block's first page is: a different node than at its last rewrite
// means the block was migrated in between ("moved" below).
// At the end every block is verified again.
//
// Prints counts and "ok: ..." / "FAIL: ..." lines; exit status 1 if any check
// failed: a mismatch, fewer than --min-migrated bytes moved by the engine
// (promoted + demoted, and at least a quarter of that each way), or no block
// verified after a move.
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "strata/strata.h"

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kMinBlock = 1024;
constexpr uint64_t kMaxBlock = 256 * 1024;
constexpr uint64_t kMmapBlock = 64 * 1024;
constexpr int kMaxNodes = 64;

struct Options {
  double seconds = 20;
  double max_seconds = 90;
  uint64_t total = 64 * kMiB;
  uint64_t mmap_bytes = 16 * kMiB;
  int threads = 2;
  uint64_t window = 4 * kMiB;
  uint64_t slide_ms = 200;
  uint64_t min_migrated = 64 * kMiB;
  uint64_t seed = 1;
};

uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t s;
  uint64_t next() { return mix(s++); }
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
};

// Word i of block `id` at `version`: [0] id, [1] version, [words-1] checksum.
uint64_t pattern(uint64_t id, uint64_t version, uint64_t i) {
  return mix((id << 40) ^ (version << 20) ^ i ^ 0x5bd1e995ULL);
}

uint64_t checksum_step(uint64_t sum, uint64_t w) {
  return (sum ^ w) * 0x100000001b3ULL + 0x9e37;
}

struct Block {
  uint64_t* p = nullptr;
  uint64_t words = 0;
  uint32_t id = 0;
  bool mapped = false;  // part of the mmap region
  uint64_t version = 0;
  int last_node = -1;  // node of the first page when it was last written
};

void write_block(Block* b) {
  uint64_t* w = b->p;
  const uint64_t n = b->words;
  uint64_t sum = 0;
  w[0] = b->id;
  w[1] = b->version;
  sum = checksum_step(checksum_step(sum, w[0]), w[1]);
  for (uint64_t i = 2; i + 1 < n; ++i) {
    w[i] = pattern(b->id, b->version, i);
    sum = checksum_step(sum, w[i]);
  }
  w[n - 1] = sum;
}

std::mutex g_report_lock;
int g_reports = 0;

// True if the block holds exactly what write_block wrote at its version.
bool verify_block(const Block& b, const char* when) {
  const uint64_t* w = b.p;
  const uint64_t n = b.words;
  uint64_t sum = 0;
  uint64_t first_bad = UINT64_MAX;
  for (uint64_t i = 0; i + 1 < n; ++i) {
    const uint64_t want = i == 0 ? b.id : i == 1 ? b.version : pattern(b.id, b.version, i);
    if (w[i] != want && first_bad == UINT64_MAX) first_bad = i;
    sum = checksum_step(sum, w[i]);
  }
  const bool sum_ok = w[n - 1] == sum;
  if (first_bad == UINT64_MAX && sum_ok) return true;
  std::lock_guard<std::mutex> g(g_report_lock);
  if (g_reports++ < 10) {
    const uint64_t i = first_bad != UINT64_MAX ? first_bad : n - 1;
    void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(&w[i]) & ~(kPage - 1));
    int node = -1;
    move_pages(0, 1, &page, nullptr, &node, 0);
    std::printf("stress: MISMATCH (%s) block %u (%s, %" PRIu64 " bytes at %p) version %" PRIu64
                ": word %" PRIu64 " is %#" PRIx64 ", expected %#" PRIx64
                "; checksum %s; page on node %d, block's first page was on node %d at its last "
                "write\n",
                when, b.id, b.mapped ? "mmap" : "malloc", b.words * 8, static_cast<void*>(b.p),
                b.version, i, w[i],
                i == 0   ? uint64_t{b.id}
                : i == 1 ? b.version
                         : pattern(b.id, b.version, i),
                sum_ok ? "matches" : "differs", node, b.last_node);
    std::fflush(stdout);
  }
  return false;
}

int node_of(const void* p) {
  void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~(kPage - 1));
  int status = -1;
  if (move_pages(0, 1, &page, nullptr, &status, 0) != 0) return -1;
  return status;
}

struct WorkerStats {
  uint64_t rewrites = 0;
  uint64_t reallocs = 0;
  uint64_t moved = 0;  // verified after the first page changed node
  uint64_t mismatches = 0;
  uint64_t bytes = 0;  // verified and rewritten
};

struct Shared {
  const Options* o;
  std::vector<Block>* blocks;
  std::chrono::steady_clock::time_point start;
  std::atomic<bool> stop{false};
};

void worker(Shared* sh, int t, WorkerStats* ws) {
  const Options& o = *sh->o;
  std::vector<Block>& blocks = *sh->blocks;
  // This thread's blocks, in id (allocation) order, cut into windows of
  // about o.window bytes.
  std::vector<uint32_t> mine;
  for (uint32_t i = static_cast<uint32_t>(t); i < blocks.size();
       i += static_cast<uint32_t>(o.threads))
    mine.push_back(i);
  std::vector<size_t> window_start{0};
  uint64_t acc = 0;
  for (size_t k = 0; k < mine.size(); ++k) {
    acc += blocks[mine[k]].words * 8;
    if (acc >= o.window && k + 1 < mine.size()) {
      window_start.push_back(k + 1);
      acc = 0;
    }
  }
  window_start.push_back(mine.size());
  const size_t nwin = window_start.size() - 1;
  Rng rng{o.seed * 1000003 + static_cast<uint64_t>(t) * 7919};
  while (!sh->stop.load(std::memory_order_relaxed)) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - sh->start)
                        .count();
    const size_t win = static_cast<size_t>(ms) / o.slide_ms % nwin;
    const size_t lo = window_start[win];
    const size_t hi = window_start[win + 1];
    for (int k = 0; k < 16; ++k) {
      Block& b = blocks[mine[lo + rng.below(hi - lo)]];
      const int node = node_of(b.p);
      if (node >= 0 && b.last_node >= 0 && node != b.last_node) ++ws->moved;
      if (!verify_block(b, "worker")) ++ws->mismatches;
      ++b.version;
      if (!b.mapped && rng.below(32) == 0) {
        const uint64_t size = (kMinBlock + rng.below(kMaxBlock - kMinBlock + 1)) & ~uint64_t{7};
        auto* p = static_cast<uint64_t*>(std::malloc(size));
        if (p == nullptr) {
          std::printf("stress: malloc(%" PRIu64 ") failed\n", size);
          std::exit(1);
        }
        std::free(b.p);
        b.p = p;
        b.words = size / 8;
        ++ws->reallocs;
      }
      write_block(&b);
      b.last_node = node_of(b.p);
      ++ws->rewrites;
      ws->bytes += b.words * 8;
    }
  }
}

bool parse_size(std::string_view s, uint64_t* out) {
  int shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K':
        shift = 10;
        break;
      case 'M':
        shift = 20;
        break;
      case 'G':
        shift = 30;
        break;
    }
    if (shift != 0) s.remove_suffix(1);
  }
  if (s.empty() || s.size() > 12) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v << shift;
  return true;
}

[[noreturn]] void usage(const char* bad) {
  std::fprintf(
      stderr,
      "migrate-stress: bad argument \"%s\"\nusage: strata-vm-migrate-stress "
      "[--seconds=D] [--max-seconds=M] [--total=SIZE] [--mmap=SIZE] [--threads=N] [--window=SIZE] "
      "[--slide-ms=T] [--min-migrated=SIZE] [--seed=S]\n",
      bad);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    const size_t eq = a.find('=');
    if (!a.starts_with("--") || eq == std::string_view::npos) usage(argv[i]);
    const std::string_view key = a.substr(0, eq);
    const std::string_view val = a.substr(eq + 1);
    uint64_t u = 0;
    if (!parse_size(val, &u)) usage(argv[i]);
    if (key == "--seconds" && u >= 1 && u <= 3600)
      o.seconds = static_cast<double>(u);
    else if (key == "--max-seconds" && u >= 1 && u <= 3600)
      o.max_seconds = static_cast<double>(u);
    else if (key == "--total" && u >= kMaxBlock)
      o.total = u;
    else if (key == "--mmap" && u % kMmapBlock == 0)
      o.mmap_bytes = u;
    else if (key == "--threads" && u >= 1 && u <= 64)
      o.threads = static_cast<int>(u);
    else if (key == "--window" && u >= kMaxBlock)
      o.window = u;
    else if (key == "--slide-ms" && u >= 1)
      o.slide_ms = u;
    else if (key == "--min-migrated")
      o.min_migrated = u;
    else if (key == "--seed")
      o.seed = u;
    else
      usage(argv[i]);
  }
  o.max_seconds = std::max(o.max_seconds, o.seconds);
  return o;
}

int g_failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++g_failures;
}

std::string mib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / kMiB);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!strata_available()) {
    std::printf("FAIL: strata is not loaded (%s)\n", strata_status());
    return 1;
  }
  std::printf("stress: %s\n", strata_status());

  // The blocks, in id order: malloc'd ones, then the mmap region's.
  Rng rng{o.seed};
  std::vector<Block> blocks;
  uint64_t heap_bytes = 0;
  while (heap_bytes < o.total) {
    const uint64_t size = (kMinBlock + rng.below(kMaxBlock - kMinBlock + 1)) & ~uint64_t{7};
    Block b;
    b.p = static_cast<uint64_t*>(std::malloc(size));
    if (b.p == nullptr) {
      std::printf("FAIL: malloc(%" PRIu64 ") failed after %" PRIu64 " bytes\n", size, heap_bytes);
      return 1;
    }
    b.words = size / 8;
    b.id = static_cast<uint32_t>(blocks.size());
    blocks.push_back(b);
    heap_bytes += size;
  }
  const size_t heap_blocks = blocks.size();
  void* region = nullptr;
  if (o.mmap_bytes != 0) {
    region =
        mmap(nullptr, o.mmap_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
      std::printf("FAIL: mmap(%" PRIu64 "): %s\n", o.mmap_bytes, std::strerror(errno));
      return 1;
    }
    if (strata_tier_of(region) < 0) {
      std::printf("FAIL: strata does not track the anonymous mmap at %p\n", region);
      return 1;
    }
    for (uint64_t off = 0; off < o.mmap_bytes; off += kMmapBlock) {
      Block b;
      b.p = reinterpret_cast<uint64_t*>(static_cast<char*>(region) + off);
      b.words = kMmapBlock / 8;
      b.id = static_cast<uint32_t>(blocks.size());
      b.mapped = true;
      blocks.push_back(b);
    }
  }
  for (Block& b : blocks) {
    write_block(&b);
    b.last_node = node_of(b.p);
  }
  uint64_t on_node[kMaxNodes] = {};
  for (const Block& b : blocks)
    if (b.last_node >= 0 && b.last_node < kMaxNodes) on_node[b.last_node] += b.words * 8;
  std::printf(
      "stress: %zu blocks: %zu malloc'd (%s), %zu in a %s mmap; %d threads for %.0f s "
      "(up to %.0f s until the engine moved %s), hot window %s per thread, moves every %" PRIu64
      " ms\n",
      blocks.size(), heap_blocks, mib(heap_bytes).c_str(), blocks.size() - heap_blocks,
      mib(o.mmap_bytes).c_str(), o.threads, o.seconds, o.max_seconds, mib(o.min_migrated).c_str(),
      mib(o.window).c_str(), o.slide_ms);
  std::printf("stress: at start, by the node of each block's first page:");
  for (int n = 0; n < kMaxNodes; ++n)
    if (on_node[n] != 0) std::printf(" node %d %s", n, mib(on_node[n]).c_str());
  std::printf("\n");

  strata_stats st0{};
  st0.version = STRATA_STATS_VERSION;
  st0.size = sizeof st0;
  if (strata_get_stats(&st0) != 0) {
    std::printf("FAIL: strata_get_stats: %s\n", std::strerror(errno));
    return 1;
  }

  Shared sh;
  sh.o = &o;
  sh.blocks = &blocks;
  sh.start = std::chrono::steady_clock::now();
  std::vector<WorkerStats> ws(static_cast<size_t>(o.threads));
  std::vector<std::thread> th;
  for (int t = 0; t < o.threads; ++t) th.emplace_back(worker, &sh, t, &ws[static_cast<size_t>(t)]);
  // At least --seconds; then on until the engine has moved enough, or --max-seconds.
  auto elapsed_s = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - sh.start).count();
  };
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  while (elapsed_s() < o.max_seconds) {
    strata_stats now{};
    now.version = STRATA_STATS_VERSION;
    now.size = sizeof now;
    if (strata_get_stats(&now) != 0) break;
    const uint64_t up = now.promoted_bytes - st0.promoted_bytes;
    const uint64_t down = now.demoted_bytes - st0.demoted_bytes;
    if (up + down >= o.min_migrated && up >= o.min_migrated / 4 && down >= o.min_migrated / 4)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  sh.stop.store(true);
  for (std::thread& x : th) x.join();
  const double elapsed = elapsed_s();

  strata_stats st{};
  st.version = STRATA_STATS_VERSION;
  st.size = sizeof st;
  if (strata_get_stats(&st) != 0) {
    std::printf("FAIL: strata_get_stats: %s\n", std::strerror(errno));
    return 1;
  }
  WorkerStats sum;
  for (const WorkerStats& w : ws) {
    sum.rewrites += w.rewrites;
    sum.reallocs += w.reallocs;
    sum.moved += w.moved;
    sum.mismatches += w.mismatches;
    sum.bytes += w.bytes;
  }
  uint64_t final_mismatches = 0;
  std::fill(std::begin(on_node), std::end(on_node), 0);
  for (const Block& b : blocks) {
    if (!verify_block(b, "final")) ++final_mismatches;
    const int n = node_of(b.p);
    if (n >= 0 && n < kMaxNodes) on_node[n] += b.words * 8;
  }
  const uint64_t promoted = st.promoted_bytes - st0.promoted_bytes;
  const uint64_t demoted = st.demoted_bytes - st0.demoted_bytes;
  std::printf("stress: %.1f s: %" PRIu64 " rewrites (%s verified and rewritten), %" PRIu64
              " moved to a new malloc, %" PRIu64
              " verified after their first page changed node, "
              "%" PRIu64 " mismatches in the workers, %" PRIu64
              " in the final check of all %zu "
              "blocks\n",
              elapsed, sum.rewrites, mib(sum.bytes).c_str(), sum.reallocs, sum.moved,
              sum.mismatches, final_mismatches, blocks.size());
  std::printf(
      "stress: engine (%s): %llu intervals, promoted %s in %llu moves, demoted %s in %llu "
      "moves, %llu pages failed to move, engine CPU %.0f ms\n",
      st.sampler, st.migrate_intervals - st0.migrate_intervals, mib(promoted).c_str(),
      st.promotions - st0.promotions, mib(demoted).c_str(), st.demotions - st0.demotions,
      st.migrate_failed_pages - st0.migrate_failed_pages,
      static_cast<double>(st.engine_cpu_ns - st0.engine_cpu_ns) / 1e6);
  std::printf("stress: at the end, by the node of each block's first page:");
  for (int n = 0; n < kMaxNodes; ++n)
    if (on_node[n] != 0) std::printf(" node %d %s", n, mib(on_node[n]).c_str());
  std::printf("\n");

  check(sum.rewrites > 0, std::to_string(sum.rewrites) + " blocks verified and rewritten");
  check(sum.mismatches == 0 && final_mismatches == 0,
        "no corrupted block: " + std::to_string(sum.mismatches) + " mismatches in the workers, " +
            std::to_string(final_mismatches) + " in the final check");
  check(promoted + demoted >= o.min_migrated && promoted >= o.min_migrated / 4 &&
            demoted >= o.min_migrated / 4,
        "the engine migrated " + mib(promoted + demoted) + " (promoted " + mib(promoted) +
            ", demoted " + mib(demoted) + "; required " + mib(o.min_migrated) +
            ", a quarter of it each way)");
  check(sum.moved > 0, std::to_string(sum.moved) +
                           " blocks verified after their first page had moved to another node");
  if (region != nullptr) munmap(region, o.mmap_bytes);
  for (size_t i = 0; i < heap_blocks; ++i) std::free(blocks[i].p);
  return g_failures == 0 ? 0 : 1;
}
