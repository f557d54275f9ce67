// Multi-threaded allocator stress with corruption checks.
//
// 8 threads, each with a fixed seed, run a fixed number of operations on a
// table of live blocks: allocate (malloc, calloc, aligned_alloc, posix_memalign,
// operator new) with log-uniform sizes from 16 B to 8 MiB, realloc chains that
// grow and shrink a block several times, frees, and hand-offs of blocks to
// another thread through a mutex-protected queue (the receiver verifies, some-
// times reallocs, and frees). Every block is filled with a pattern derived from
// (id, size); its checksum is verified before every realloc and free, and the
// preserved prefix is verified after every realloc copy.
//
//   stress [--ops N] [--threads N] [--expect-tier NAME] [--policy-4k]
//     --expect-tier NAME  strata must be loaded; at least one block >= 4 KiB must
//                         end up on tier NAME (e.g. proves spill with a capacity)
//     --policy-4k         strata must be loaded with STRATA_POLICY="size>=4K -> slow":
//                         every block >= 4 KiB on 'slow', every smaller one on tier 0
//
// stdout is deterministic (totals); timing and tier counts go to stderr.
// Exit status 0, or 1 on any corruption or failed check.
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "common.h"

namespace {

constexpr int kMaxThreads = 64;
constexpr int kSlots = 48;
constexpr size_t kMinSize = 16;
constexpr size_t kMaxSize = 8u << 20;

int g_threads = 8;
int g_ops = 700;
const char* g_expect_tier = nullptr;
bool g_policy_4k = false;
it::StrataApi g_api;
int g_expect_idx = -1;
int g_slow = -1;

enum class Kind : uint8_t { kMalloc, kCalloc, kAligned, kPosixMemalign, kNew };

struct Block {
  uint8_t* p = nullptr;
  size_t size = 0;
  uint64_t id = 0;
  uint64_t sum = 0;
  Kind kind = Kind::kMalloc;
  int owner = 0;  // thread that allocated it
};

uint64_t mix(uint64_t id, uint64_t size) {
  uint64_t z = id * 0x9E3779B97F4A7C15ULL + size * 0xD6E8FEB86659FD93ULL + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
inline uint64_t word_at(uint64_t base, size_t i) {
  return base ^ (i * 0x9E3779B97F4A7C15ULL);
}
inline uint64_t rotl(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

// Fills [p, p+n) with the pattern of (id, size); returns its checksum.
uint64_t fill(uint8_t* p, size_t n, uint64_t id, size_t size) {
  const uint64_t base = mix(id, size);
  const size_t words = n / 8;
  uint64_t sum = 0;
  for (size_t i = 0; i < words; ++i) {
    uint64_t w = word_at(base, i);
    std::memcpy(p + i * 8, &w, 8);
    sum = rotl(sum, 7) ^ w;
  }
  uint64_t last = word_at(base, words);
  for (size_t b = words * 8; b < n; ++b) {
    p[b] = static_cast<uint8_t>(last >> ((b % 8) * 8));
    sum = rotl(sum, 3) ^ p[b];
  }
  return sum;
}

// Checksum of the block's current contents, as fill() computes it.
uint64_t checksum(const uint8_t* p, size_t n) {
  const size_t words = n / 8;
  uint64_t sum = 0;
  for (size_t i = 0; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, p + i * 8, 8);
    sum = rotl(sum, 7) ^ w;
  }
  for (size_t b = words * 8; b < n; ++b) sum = rotl(sum, 3) ^ p[b];
  return sum;
}

// First byte of [p, p+n) that differs from the pattern of (id, size), or n.
size_t first_bad(const uint8_t* p, size_t n, uint64_t id, size_t size) {
  const uint64_t base = mix(id, size);
  const size_t words = n / 8;
  for (size_t i = 0; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, p + i * 8, 8);
    if (w != word_at(base, i)) {
      uint64_t e = word_at(base, i);
      for (size_t b = 0; b < 8; ++b)
        if (((w ^ e) >> (b * 8)) & 0xFF) return i * 8 + b;
    }
  }
  uint64_t last = word_at(base, words);
  for (size_t b = words * 8; b < n; ++b)
    if (p[b] != static_cast<uint8_t>(last >> ((b % 8) * 8))) return b;
  return n;
}

std::atomic<int> g_corruptions{0};
std::mutex g_print_mu;

void corrupt(int t, const char* what, const Block& b, size_t at) {
  int n = g_corruptions.fetch_add(1) + 1;
  if (n > 20) return;
  std::lock_guard<std::mutex> lk(g_print_mu);
  std::printf("CORRUPTION thread %d: %s: block id %" PRIu64
              " size %zu (owner %d, kind %d) at byte %zu\n",
              t, what, b.id, b.size, b.owner, static_cast<int>(b.kind), at);
  std::fflush(stdout);
}

void failure(int t, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void failure(int t, const char* fmt, ...) {
  int n = g_corruptions.fetch_add(1) + 1;
  if (n > 20) return;
  std::lock_guard<std::mutex> lk(g_print_mu);
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::printf("FAIL thread %d: %s\n", t, msg);
  std::fflush(stdout);
}

// Verifies the full checksum; on mismatch finds the first bad byte.
bool verify(int t, const Block& b, const char* when) {
  if (checksum(b.p, b.size) == b.sum) return true;
  corrupt(t, when, b, first_bad(b.p, b.size, b.id, b.size));
  return false;
}

struct Counters {
  uint64_t allocs = 0, reallocs = 0, frees = 0, sent = 0, received = 0, recv_reallocs = 0;
  uint64_t bytes = 0;
  uint64_t on_tier[8] = {};  // blocks >= 4 KiB per tier (strata only)
};

struct Mailbox {
  std::mutex mu;
  std::deque<Block> q;
};
Mailbox g_mail[kMaxThreads];
std::atomic<int> g_producing{0};

void note_tier(int t, const Block& b, Counters* c) {
  if (!g_api.loaded()) return;
  int tier = g_api.tier_of(b.p);
  if (tier < 0) {
    failure(t, "strata_tier_of(block of %zu bytes) = -1: strata does not know its own block",
            b.size);
    return;
  }
  if (b.size >= 4096 && tier < 8) c->on_tier[tier]++;
  if (g_policy_4k) {
    int want = b.size >= 4096 ? g_slow : 0;
    if (tier != want)
      failure(t, "block of %zu bytes (kind %d) on tier %d, policy says %d", b.size,
              static_cast<int>(b.kind), tier, want);
  }
}

size_t random_size(it::Rng& r) {
  // Log-uniform: a uniformly chosen octave from 2^4 to 2^22, uniform inside it.
  unsigned bits = 4 + static_cast<unsigned>(r.below(20));  // 4..23
  size_t s = (size_t{1} << bits) + r.below(size_t{1} << bits);
  if (s < kMinSize) s = kMinSize;
  if (s > kMaxSize) s = kMaxSize;
  return s;
}

void release(const Block& b) {
  switch (b.kind) {
    case Kind::kNew:
      ::operator delete(b.p, b.size);
      break;
    default:
      std::free(b.p);
  }
}

bool allocate(int t, it::Rng& r, uint64_t id, Block* b, Counters* c) {
  b->size = random_size(r);
  b->id = id;
  b->owner = t;
  uint64_t k = r.below(100);
  void* p = nullptr;
  if (k < 55) {
    b->kind = Kind::kMalloc;
    p = std::malloc(b->size);
  } else if (k < 70) {
    b->kind = Kind::kCalloc;
    p = std::calloc(1, b->size);
    if (p != nullptr) {
      // Must be zero: check a sample of words (all of them for small blocks).
      const auto* w = static_cast<const uint64_t*>(p);
      size_t nw = b->size / 8;
      size_t step = nw > 4096 ? nw / 4096 : 1;
      for (size_t i = 0; i < nw; i += step)
        if (w[i] != 0) {
          corrupt(t, "calloc block not zeroed", *b, i * 8);
          break;
        }
    }
  } else if (k < 80) {
    b->kind = Kind::kAligned;
    size_t align = r.below(2) ? 64 : 4096;
    b->size = (b->size + align - 1) & ~(align - 1);
    p = aligned_alloc(align, b->size);
    if (p != nullptr && !it::aligned(p, align))
      failure(t, "aligned_alloc(%zu, %zu) misaligned", align, b->size);
  } else if (k < 88) {
    b->kind = Kind::kPosixMemalign;
    size_t align = size_t{32} << r.below(8);  // 32 .. 4096
    if (posix_memalign(&p, align, b->size) != 0) p = nullptr;
    if (p != nullptr && !it::aligned(p, align))
      failure(t, "posix_memalign(%zu, %zu) misaligned", align, b->size);
  } else {
    b->kind = Kind::kNew;
    p = ::operator new(b->size, std::nothrow);
  }
  if (p == nullptr) {
    failure(t, "allocation of %zu bytes (kind %d) failed", b->size, static_cast<int>(b->kind));
    return false;
  }
  b->p = static_cast<uint8_t*>(p);
  if (malloc_usable_size(p) < b->size)
    failure(t, "malloc_usable_size = %zu < %zu", malloc_usable_size(p), b->size);
  b->sum = fill(b->p, b->size, b->id, b->size);
  c->allocs++;
  c->bytes += b->size;
  note_tier(t, *b, c);
  return true;
}

// One realloc step: verify, realloc, verify the preserved prefix, refill.
bool realloc_step(int t, Block* b, size_t nsize, uint64_t nid, Counters* c, const char* what) {
  if (!verify(t, *b, what)) return false;
  void* q = std::realloc(b->p, nsize);
  if (q == nullptr) {
    failure(t, "realloc(%zu -> %zu) failed", b->size, nsize);
    return false;
  }
  size_t keep = b->size < nsize ? b->size : nsize;
  size_t bad = first_bad(static_cast<uint8_t*>(q), keep, b->id, b->size);
  if (bad != keep) {
    Block old = *b;
    corrupt(t, "realloc copy lost data", old, bad);
  }
  b->p = static_cast<uint8_t*>(q);
  b->size = nsize;
  b->id = nid;
  b->kind = Kind::kMalloc;  // realloc'd blocks are freed with free()
  b->sum = fill(b->p, b->size, b->id, b->size);
  c->bytes += nsize;
  note_tier(t, *b, c);
  return bad == keep;
}

void drain(int t, Counters* c) {
  std::deque<Block> got;
  {
    std::lock_guard<std::mutex> lk(g_mail[t].mu);
    got.swap(g_mail[t].q);
  }
  for (Block& b : got) {
    c->received++;
    if (!verify(t, b, "received block")) continue;
    if (mix(b.id, 1) % 4 == 0 && b.kind != Kind::kNew) {
      // Realloc a block another thread allocated, then free it here (chosen by
      // block, not by arrival order, so that the totals stay deterministic).
      size_t ns = b.size > 64 ? b.size / 2 : b.size * 3;
      if (realloc_step(t, &b, ns, b.id + 1, c, "received block before realloc")) {
        c->recv_reallocs++;
        verify(t, b, "received block after realloc");
      }
    }
    release(b);
    c->frees++;
  }
}

struct ThreadArg {
  int t;
  Counters c;
};

void* worker(void* argp) {
  auto* arg = static_cast<ThreadArg*>(argp);
  const int t = arg->t;
  Counters& c = arg->c;
  it::Rng r(0x5EED0000ULL + static_cast<uint64_t>(t) * 7919);
  std::vector<Block> slots(kSlots);
  uint64_t next_id = static_cast<uint64_t>(t) << 40;
  for (int op = 0; op < g_ops; ++op) {
    Block& b = slots[r.below(kSlots)];
    if (b.p == nullptr) {
      allocate(t, r, ++next_id, &b, &c);
    } else {
      uint64_t k = r.below(100);
      if (k < 30 && b.kind != Kind::kNew) {
        // A realloc chain: 2-5 steps, growing or shrinking by up to 4x.
        int steps = 2 + static_cast<int>(r.below(4));
        for (int s = 0; s < steps; ++s) {
          size_t ns = r.below(2) ? b.size * (2 + r.below(3)) : b.size / (2 + r.below(3));
          if (ns < kMinSize) ns = kMinSize + r.below(64);
          if (ns > kMaxSize) ns = kMaxSize - r.below(4096);
          if (!realloc_step(t, &b, ns, ++next_id, &c, "before realloc")) break;
          c.reallocs++;
        }
      } else if (k < 50) {
        // Hand the block to another thread.
        if (verify(t, b, "before hand-off")) {
          int to =
              (t + 1 + static_cast<int>(r.below(static_cast<uint64_t>(g_threads - 1)))) % g_threads;
          if (g_threads == 1) to = t;
          {
            std::lock_guard<std::mutex> lk(g_mail[to].mu);
            g_mail[to].q.push_back(b);
          }
          c.sent++;
        }
        b = Block{};
      } else {
        if (verify(t, b, "before free")) {
          release(b);
          c.frees++;
        }
        b = Block{};
      }
    }
    if (op % 8 == 0) drain(t, &c);
  }
  for (Block& b : slots) {
    if (b.p == nullptr) continue;
    if (verify(t, b, "before final free")) {
      release(b);
      c.frees++;
    }
    b = Block{};
  }
  g_producing.fetch_sub(1);
  // Keep receiving until every producer has finished, then take what is left.
  while (g_producing.load() > 0) {
    drain(t, &c);
    usleep(1000);
  }
  drain(t, &c);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ops") == 0 && i + 1 < argc) {
      g_ops = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      g_threads = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--expect-tier") == 0 && i + 1 < argc) {
      g_expect_tier = argv[++i];
    } else if (std::strcmp(argv[i], "--policy-4k") == 0) {
      g_policy_4k = true;
    } else {
      std::fprintf(stderr, "usage: %s [--ops N] [--threads N] [--expect-tier NAME] [--policy-4k]\n",
                   argv[0]);
      return 2;
    }
  }
  if (g_threads < 1 || g_threads > kMaxThreads || g_ops < 1) {
    std::fprintf(stderr, "stress: bad --threads or --ops\n");
    return 2;
  }
  g_api = it::strata_api();
  if ((g_expect_tier != nullptr || g_policy_4k) && !g_api.loaded()) {
    std::printf("FAIL: strata is not loaded (strata_tier_of not found)\n");
    return 1;
  }
  if (g_expect_tier != nullptr) {
    g_expect_idx = g_api.tier_by_name(g_expect_tier);
    if (g_expect_idx < 0) {
      std::printf("FAIL: no tier named '%s'\n", g_expect_tier);
      return 1;
    }
  }
  if (g_policy_4k) {
    g_slow = g_api.tier_by_name("slow");
    if (g_slow < 0) {
      std::printf("FAIL: --policy-4k: no tier named 'slow'\n");
      return 1;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ThreadArg> args(static_cast<size_t>(g_threads));
  std::vector<pthread_t> tids(static_cast<size_t>(g_threads));
  g_producing.store(g_threads);
  for (int t = 0; t < g_threads; ++t) {
    args[t].t = t;
    if (pthread_create(&tids[t], nullptr, worker, &args[t]) != 0) {
      std::printf("FAIL: pthread_create\n");
      return 1;
    }
  }
  Counters tot;
  for (int t = 0; t < g_threads; ++t) {
    pthread_join(tids[t], nullptr);
    const Counters& c = args[t].c;
    tot.allocs += c.allocs;
    tot.reallocs += c.reallocs;
    tot.frees += c.frees;
    tot.sent += c.sent;
    tot.received += c.received;
    tot.bytes += c.bytes;
    for (int i = 0; i < 8; ++i) tot.on_tier[i] += c.on_tier[i];
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (tot.sent != tot.received)
    failure(-1, "sent %" PRIu64 " blocks, received %" PRIu64, tot.sent, tot.received);
  if (tot.allocs != tot.frees)
    failure(-1, "allocated %" PRIu64 " blocks, freed %" PRIu64, tot.allocs, tot.frees);
  std::printf("stress: %d threads x %d ops: %" PRIu64 " allocations, %" PRIu64 " reallocs, %" PRIu64
              " frees, %" PRIu64 " handed to other threads, %.1f MiB written\n",
              g_threads, g_ops, tot.allocs, tot.reallocs, tot.frees, tot.sent,
              static_cast<double>(tot.bytes) / 1048576.0);
  std::fprintf(stderr, "stress: %.2f s", secs);
  if (g_api.loaded()) {
    std::fprintf(stderr, "; blocks >= 4 KiB per tier:");
    for (int i = 0; i < g_api.tier_count() && i < 8; ++i)
      std::fprintf(stderr, " %s=%" PRIu64, g_api.tier_name(i), tot.on_tier[i]);
  }
  std::fprintf(stderr, "\n");
  if (g_expect_idx >= 0 && tot.on_tier[g_expect_idx] == 0)
    failure(-1, "no block >= 4 KiB was placed on tier '%s'", g_expect_tier);
  int bad = g_corruptions.load();
  std::printf("stress: %s\n", bad == 0 ? "no corruption" : "FAILED");
  return bad == 0 ? 0 : 1;
}
