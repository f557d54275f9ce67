// The `damon` sampler: DAMON's sysfs interface (CONFIG_DAMON_SYSFS, root).
// open() creates kdamond 0 with one context monitoring this process's virtual
// address space (operations "vaddr") and one DAMOS scheme with action "stat"
// whose access pattern matches every region, so that the scheme's "tried
// regions" list the whole monitoring result. collect() asks the kdamond to
// refresh them ("update_schemes_tried_regions", answered within the next
// aggregation interval, so the call blocks up to aggr_us: the engine calls
// prepare() for that, outside its lock) and reports each
// region, split at 2 MiB chunk borders, with fraction = nr_accesses / the
// most a region can have (aggr_us / sample_us); rss = 0 (not known).
//
// Ownership: writing kdamonds/nr_kdamonds destroys every kdamond directory
// (and fails with EBUSY while one runs), so a kdamond that someone else set up
// is never touched. probe() checks that, reading only, and open() calls it
// before its first write: open() refuses unless nr_kdamonds is 0. close()
// stops and removes only the kdamond open() created.
//
// Not thread-safe; one sampler per process (a second would find kdamond 0
// in use).
#pragma once

#include <limits.h>
#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "profiler/sampler.h"

namespace strata::sampling {

inline constexpr const char* kDamonRoot = "/sys/kernel/mm/damon/admin";

// DAMON's monitoring attributes: its own defaults, except at most 100 regions
// (DAMON's default is 1000): collect() reads three sysfs files per region, and
// in the test VM (TCG) 1000 regions cost about a second of CPU per interval;
// and an ops update of an hour (DAMON's is 1 s): each update resets the
// regions to the whole address space (see above).
struct DamonAttrs {
  uint32_t sample_us = 5000;
  uint32_t aggr_us = 100000;
  uint32_t update_us = 3600000000U;
  uint32_t min_regions = 10;
  uint32_t max_regions = 100;
  bool flush_tlb = true;  // the TLB-flush thread (above)
};

// The attributes for STRATA_SAMPLER=damon,window=T under an engine interval
// of I ms: T (ms) is DAMON's sample interval (how long after clearing a page's
// accessed bit DAMON looks again, as abit's window); 0 (auto): 20 ms. DAMON's
// own 5 ms costs four times the kdamond CPU and flushes, and in the test VM
// (TCG) a hot page is rarely touched twice within 5 ms. The aggregation
// interval is the engine's (at least 5 samples, at least 100 ms): collect()
// reads one aggregation's nr_accesses, so a shorter one would throw away the
// samples DAMON took in the rest of the engine interval; with one sampled page
// per region and sample, those samples are the signal (I = 0: 5 samples).
inline constexpr uint32_t kDamonAutoWindowMs = 20;
DamonAttrs damon_attrs(uint32_t window_ms, uint32_t interval_ms = 0);

class DamonSampler final : public Sampler {
 public:
  // Sees every sysfs write before it happens; returning false refuses it (the
  // write fails with EPERM). Tests record the sequence or forbid writing.
  using WriteHook = bool (*)(const char* path, const char* value, void* ctx);

  // `root` is the admin directory (a fake tree in tests; must outlive the
  // sampler); `pid` the process to monitor, 0 for this one.
  explicit DamonSampler(const char* root = kDamonRoot, DamonAttrs attrs = {}, int pid = 0);
  ~DamonSampler() override;

  const char* name() const override { return "damon"; }
  // Read-only check that open() may create kdamond 0: the interface exists,
  // no kdamond exists yet, nr_kdamonds is writable. Reason in why either way.
  bool probe(char* why, size_t cap);
  bool open(char* why, size_t cap) override;
  // Keeps the ranges for the next collect(); a process other than this one
  // (pid != 0) gets them too, so they must be that process's.
  void track(const Span* spans, size_t n) override;
  // Restarts the kdamond on new memory (the last track()), asks for the tried
  // regions of its next aggregation and waits for them (up to aggr_us, the
  // engine's interval), outside the engine's lock. Nothing before the first
  // collect() has restarted the kdamond on tracked memory.
  void prepare() override;
  // Reads the tried regions prepare() asked for; without prepare() (the
  // first interval, tests) restarts, asks and waits itself.
  int collect(Sink sink, void* ctx) override;
  // Stops and removes kdamond 0. In a child after fork() (the kdamond is the
  // parent's) it only forgets it.
  void close() override;
  // The initial regions of the last restart (for tests).
  const std::vector<Span>& committed() const { return committed_; }

  void set_write_hook(WriteHook hook, void* ctx) {
    hook_ = hook;
    hook_ctx_ = ctx;
  }

 private:
  const char* at(const char* rel);
  int write_rel(const char* rel, const char* value);
  int write_num(const char* rel, uint64_t value);
  int write_retry(const char* rel, const char* value);  // write_rel, again while EBUSY
  int read_tried(Sink sink, void* ctx);
  int request();  // restart if dirty, then ask for the tried regions and wait
  int read_rel(const char* rel, char* out, size_t cap);
  bool fail(char* why, size_t cap, const char* rel, int err, const char* hint);
  void release();
  int restart_regions();
  bool start_flusher();
  void stop_flusher();
  static void* flusher_main(void* self);

  const char* root_;
  DamonAttrs attrs_;
  int pid_;
  WriteHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
  bool created_ = false;                 // kdamond 0 is ours: nr_kdamonds was 0 and we wrote 1
  std::atomic<bool> started_{false};     // read by prepare() while close() may run
  std::atomic<bool> in_prepare_{false};  // the engine's thread is inside prepare()
  bool prepared_ = false;                // prepare() ran since the last collect()
  int prepared_err_ = 0;                 // its write's result
  int owner_ = 0;                        // the process that created the kdamond
  char path_[PATH_MAX] = {};
  std::vector<Span> pending_;    // what track() gave, cut into regions
  std::vector<Span> committed_;  // the regions of the last restart
  bool dirty_ = false;           // pending_ covers memory committed_ does not
  std::atomic<bool> flushing_{false};
  bool flusher_on_ = false;
  pthread_t flusher_{};
};

}  // namespace strata::sampling
