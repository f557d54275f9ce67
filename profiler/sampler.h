// The one interface every hotness sampler implements (abit, pebs/ibs, idle,
// damon, trace). The migration engine (src/engine/) owns one sampler and,
// once per interval, asks it what was referenced since the previous call.
//
// Rules for implementations:
//  - collect() runs on strata's background thread, inside the malloc
//    interposer. It may allocate (that thread's allocations go straight to the
//    default heap), but should not per call: keep buffers from open().
//  - Observations may cover any range; the engine maps them onto its 2 MiB
//    chunks (kChunkShift) and ignores memory it does not manage.
//  - A backend that cannot run here says why in one line (open() false) and
//    the engine reports it; nothing is silently ignored.
#pragma once

#include <cstddef>
#include <cstdint>

#include "allocator/layout.h"

namespace strata::sampling {

using strata::kChunkBytes;  // 2 MiB chunks (allocator/layout.h)
using strata::kChunkShift;

struct Obs {
  uintptr_t start = 0;  // [start, end) the observation covers
  uintptr_t end = 0;
  // How much of the range was referenced in the interval, in [0, 1]:
  // referenced bytes / resident bytes for abit and idle, the relative access
  // density for sampled backends (pebs/ibs, damon).
  double fraction = 0;
  uint64_t rss = 0;        // resident bytes in the range, 0 = not known
  uint64_t anon_huge = 0;  // bytes of it in transparent huge pages, 0 = none or not known
};

// Called once per observation; `ctx` is the caller's.
using Sink = void (*)(const Obs& obs, void* ctx);

// An address range the engine manages (a heap's carved part, a tracked mmap).
struct Span {
  uintptr_t start = 0;
  uintptr_t end = 0;  // exclusive
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  Sampler() = default;
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Short name as in STRATA_SAMPLER ("abit", "pebs", ...).
  virtual const char* name() const = 0;
  // Acquires what the backend needs (files, perf events, a kdamond) and
  // starts the first interval. False with a one-line reason in why (NUL-
  // terminated, at most cap bytes) when the backend cannot run here.
  virtual bool open(char* why, size_t cap) = 0;
  // Starts the measured window of an interval: the engine calls arm(), waits
  // the sampling window, then calls collect(). A short window tells frequently
  // used memory from memory touched now and then (accessed bits saturate over
  // long windows). Backends that count continuously need not override it.
  virtual void arm() {}
  // The memory the engine manages this interval (any order, may overlap),
  // given before each collect(). Backends that choose which addresses to
  // watch (damon) watch these; the others see the whole process and ignore it.
  virtual void track(const Span* spans, size_t n) {
    (void)spans;
    (void)n;
  }
  // Called after the window and before track() and collect(), without the
  // engine's lock: a backend whose collect() must wait for its source (damon
  // waits for the kdamond's next aggregation) waits here, so that fork() and
  // exit, which take that lock, never wait for it. close() may run on another
  // thread meanwhile (exit); the backend must then end the wait.
  virtual void prepare() {}
  // Ends the current window: reports what was referenced since arm() (or, for
  // backends without arm(), since open() or the previous collect()). Returns
  // 0 or -errno (the engine counts failures and goes on).
  virtual int collect(Sink sink, void* ctx) = 0;
  // How much CPU (thread time, ns) the next collect() may spend reading; 0 =
  // no limit. A backend whose reading costs per region (abit: per VMA of
  // smaps) may then read part of the process per call, resuming where the
  // last call stopped, and says which part in coverage(). The others ignore it.
  virtual void set_scan_budget(uint64_t cpu_ns) { (void)cpu_ns; }
  // The addresses the last collect() read. Memory in it that was not reported
  // had nothing resident or referenced; memory outside it was not looked at
  // (its heat stays as it was). The whole address space unless the backend
  // read part of it.
  virtual Span coverage() const { return Span{0, UINTPTR_MAX}; }
  // Something the user should know about this backend's measurements here
  // (one line, e.g. another reader of accessed bits), or nullptr. Valid after
  // open(); the engine prints it as "sampler note: ..." in the stats.
  virtual const char* note() const { return nullptr; }
  // Releases what open() acquired. Safe to call twice; the destructor calls it.
  virtual void close() {}
};

}  // namespace strata::sampling
