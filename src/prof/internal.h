// The profiler's state, shared by profile.cc (sampling), history.cc (per
// interval) and writer.cc (the file). Not for use outside src/prof/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <link.h>
#include <sys/types.h>
#include <vector>

#include "base/sys.h"
#include "profiler/profile_format.h"
#include "src/prof/profile.h"

namespace strata::prof {

using profile::kMaxFrames;

constexpr size_t kSites = 8192;    // distinct call stacks
constexpr size_t kLive = 1 << 17;  // live sampled blocks (about 64 GiB of heap at the default rate)
// The live table is split into stripes, each with its own lock, so threads
// that sample at the same time (large blocks are sampled almost always) do
// not queue on one lock. A block's stripe is the top bits of its hash.
constexpr size_t kStripes = 64;
constexpr size_t kPerStripe = kLive / kStripes;
constexpr size_t kMaxChunkRecords = 4 << 20;  // 64 MiB of per-interval chunk history
constexpr size_t kMaxMoves = 1 << 20;

struct Site {
  uint64_t key;  // hash of the frames, 0 = free slot
  uint32_t nframes;
  uintptr_t frames[kMaxFrames];
  double allocs, frees, bytes_allocated, bytes_freed, lifetime_ns;
  double heat_bi, bi;
  double tier_bi[kMaxTiers];
  double tier_bytes[kMaxTiers];  // bytes placed on each tier
};

struct Live {
  uintptr_t p;  // 0 = free slot
  uint32_t site;
  double weight;  // bytes this sample stands for
  double count;   // allocations it stands for
  uint64_t t_ns;  // when it was allocated
  uint64_t iv;    // engine interval it was allocated in
};

// Call site (the interposed call's return address) -> its Site: after the
// first sample from a call site, later ones skip the unwinding. A site is
// therefore one call site with the stack seen first, which is also what a
// site=0xHASH rule matches. Entries are written once (site, then ra, release).
constexpr size_t kRaSlots = 16384;
struct RaEntry {
  uintptr_t ra;  // 0 = free
  uint32_t site;
};
extern RaEntry* g_ra;

extern sys::SpinLock g_lock;  // the site table's inserts and the ra cache

struct alignas(64) Stripe {
  sys::SpinLock lock;
  size_t n = 0;  // entries in use
  // Which of the stripe's slots are in use, a bit each: the engine's pass
  // over live blocks (account) reads these 256 bytes, not the stripe's slots.
  uint64_t used[kPerStripe / 64] = {};
  void set_used(size_t i) { used[i >> 6] |= uint64_t{1} << (i & 63); }
  void clear_used(size_t i) { used[i >> 6] &= ~(uint64_t{1} << (i & 63)); }
};
extern Stripe g_stripes[kStripes];

// Site counters are added to from every stripe and the engine thread.
void add(double& field, double v);

extern Site* g_sites;
extern Live* g_live;
extern bool g_any_live;  // set at the first sample: frees before it skip the lookup

// A thread's allocation and free counts for the site it sampled last, added
// to the site when the thread samples another site or every kFlushEvery
// samples: threads sampling the same site (large blocks are sampled almost
// always) would otherwise fight over its cache line on every sample.
constexpr uint32_t kFlushEvery = 16;
struct Pending {
  uint32_t site;  // + 1; 0 = nothing pending
  uint32_t samples;
  double allocs, bytes_allocated, frees, bytes_freed, lifetime_ns;
  double tier_bytes[kMaxTiers];
};
extern __thread Pending t_pending __attribute__((tls_model("initial-exec")));

void flush_pending();

Pending& pending_for(size_t site);

extern uint64_t g_dropped_sites;
extern uint64_t g_dropped_live;
extern double g_rate;  // mean bytes between samples (STRATA_PROFILE_RATE), set by start()
extern char g_template[512];  // STRATA_PROFILE as given
extern char g_sampler[16];    // the engine's sampler (set_sampler)
extern char g_path[544];      // this process's file
extern char g_tiers[1024];
extern char g_policy[1024];
extern char g_migrate[256];
extern uint64_t g_start_ns;
extern const CompiledPolicy* g_pol;
extern uintptr_t g_self_lo;  // libstrata's text, skipped in backtraces
extern uintptr_t g_self_hi;
extern uint32_t g_interval_ms;
extern uint64_t g_iv;     // engine intervals accounted so far
extern bool g_child;  // a forked child (its profile is PATH.PID)

extern __thread uint64_t t_rng __attribute__((tls_model("initial-exec")));

// History written by the engine thread (and read at exit, or by it).
struct History {
  std::vector<profile::IntervalRecord> intervals;
  std::vector<uint64_t> first_chunk;  // per interval: index into chunks
  std::vector<uint32_t> nchunks;
  std::vector<profile::ChunkRecord> chunks;
  std::vector<profile::MoveRecord> moves;
  uint32_t stride = 1;  // chunk lists are kept for every stride-th interval
  bool keep_chunks = true;
};
extern History* g_hist;

using sys::now_ns;
Live* stripe_slots(size_t s);
int find_self(dl_phdr_info* info, size_t, void* ctx);
void copy(char* dst, size_t cap, const char* src);
void set_path(pid_t pid, bool child);
bool write_to(const char* path);
void thin_history();

}  // namespace strata::prof
