// The migration engine: a background thread that, once per interval, asks the
// sampler what was referenced, updates the heat of every 2 MiB chunk strata
// manages (the tier heaps and the program's anonymous mmaps), plans moves with
// plan_migrations (policy/migrate_plan.h) and carries them out with
// move_pages(2) in batches, within the configured rate. Pinned ranges never
// move; HOT/COLD range hints override the measured heat.
//
// The thread starts at init when STRATA_MIGRATE is on (or a profile needs
// sampling) and is started again in a forked child. All its allocations go to
// the default heap (it runs under the reentrancy guard).
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/config.h"

namespace strata::engine {

struct Counters {
  uint64_t intervals = 0;        // intervals completed
  uint64_t chunks = 0;           // chunks tracked in the last interval
  uint64_t hot_chunks = 0;       // ... with heat >= promote
  uint64_t promoted_bytes = 0;   // bytes moved to a faster tier
  uint64_t demoted_bytes = 0;    // bytes moved to a slower tier
  uint64_t watermark_bytes = 0;  // ... of which because a tier was above its high watermark
  uint64_t promotions = 0;       // chunk moves up
  uint64_t demotions = 0;        // chunk moves down
  uint64_t pages_moved = 0;
  uint64_t pages_failed = 0;  // pages move_pages could not move (below, by errno)
  uint64_t fail_nomem = 0;    // ENOMEM: the target node is full
  uint64_t fail_busy = 0;     // EBUSY: page in use (pinned by I/O, locked)
  uint64_t fail_fault = 0;    // EFAULT on a call: the range was unmapped in between
  uint64_t fail_acces = 0;    // EACCES: shared with another process
  uint64_t fail_other = 0;
  uint64_t syscall_errors = 0;  // move_pages calls that failed as a whole
  uint64_t sampler_errors = 0;  // collect() failures
  uint64_t skipped_pinned = 0;  // moves the planner wanted but pins forbade
  uint64_t skipped_held = 0;    // ... that hysteresis (hold) deferred
  uint64_t skipped_budget = 0;  // ... that the rate limit deferred
  uint64_t skipped_no_room = 0;
  uint64_t sample_ns = 0;   // CPU time of sampling and the heat model
  uint64_t migrate_ns = 0;  // CPU time of planning and moving
  uint64_t wall_ns = 0;     // time since the engine started
  uint64_t window_ms = 0;   // the accessed-bit window in use
  uint64_t throttled = 0;   // intervals stretched to keep sampling within cpu=
};

// A range of the program's address space the engine tracks or honours: an
// anonymous mmap strata manages, or a range hint (flags kRegion*).
struct Range {
  uintptr_t start;
  uintptr_t end;  // exclusive
  int8_t tier;
  uint16_t flags;
};

// What the engine reads from, and reports to, the runtime above it. The
// runtime registers these at start: the engine never includes the runtime.
struct Sources {
  // Fill copies up to cap ranges in address order and returns how many there are.
  size_t (*mmaps)(Range* out, size_t cap) = nullptr;  // tracked anonymous mmaps
  size_t (*hints)(Range* out, size_t cap) = nullptr;  // range hints and pinned blocks
  // Called on the engine thread after each interval, outside the engine's lock.
  void (*after_interval)() = nullptr;
};

struct Config {
  const CompiledPolicy* pol = nullptr;
  bool sample_only = false;   // a profile needs the heat even without migration
  bool keep_running = false;  // run the thread even when nothing is sampled (metrics)
  bool strict = false;        // STRATA_STRICT=1: a STRATA_SAMPLER that cannot run here is fatal
  const char* sampler_text = nullptr;  // STRATA_SAMPLER as given (error lines)
  Sources src;
};

// Starts the engine thread if the policy asks for migration, `sample_only`
// needs the heat, or `keep_running` asks for the interval callback; reports
// the chosen sampler (and why) at info level, an unusable STRATA_SAMPLER
// choice as an error. Idempotent.
void start(const Config& cfg);
bool running();
void counters(Counters* out);
// The sampler in use and why it was chosen ("" before start).
const char* sampler_name();
const char* sampler_reason();
// What the sampler says the user should know about its measurements here
// (Sampler::note()), "" when nothing.
const char* sampler_note();

// Per-chunk view of the last interval, for reports and tests: calls fn for
// each tracked chunk (id = address >> 21). Takes the engine's lock.
struct ChunkView {
  uint64_t chunk;
  int tier;      // where its pages are (-1 unknown)
  float heat;    // [0, 1]
  uint64_t rss;  // resident bytes (measured or estimated)
};
void for_each_chunk(void (*fn)(const ChunkView& c, void* ctx), void* ctx);

// Asks the thread to stop after its current interval (does not wait).
void stop();
// At exit, after stop(): waits for the current interval to end and keeps the
// engine from starting another, so its state can be read.
void quiesce();

// Fork: the engine's lock is held across fork so the child's copy of its
// state is consistent; the child starts a new thread.
void prefork();
void postfork_parent();
void postfork_child();

}  // namespace strata::engine
