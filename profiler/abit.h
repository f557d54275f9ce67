// The `abit` sampler's two system interfaces: clear the accessed bits of the
// process (/proc/self/clear_refs, value 1) and read back, per VMA, how much
// was referenced since (/proc/self/smaps "Referenced:"). Unprivileged, no
// PMU, no signals. Granularity is the VMA: heaps must be built from chunks
// that do not merge (see ARCHITECTURE.md). Allocation-free: the caller
// provides the read buffer, so it can run on the sampler thread of a malloc
// interposer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "profiler/sampler.h"

namespace strata::abit {

struct Vma {
  uintptr_t start;
  uintptr_t end;        // exclusive
  uint64_t rss_bytes;   // resident
  uint64_t referenced;  // bytes referenced since the last clear
  uint64_t anon_huge;   // bytes in transparent huge pages
};

// Clears the accessed bits of all the process's pages. 0 or -errno.
// The kernel does not flush the TLB after clearing them (x86 clears them with
// the no-flush primitive), so a page whose translation stays cached is never
// marked accessed again: see flush_tlb().
int clear();

// Makes the CPUs drop this process's cached translations, so that the next
// access to every page walks the page tables and sets its accessed bit again.
// Without it, the hottest pages (their translations never leave the TLB; in
// a TCG guest the TLB is huge) read as unreferenced. Changes the protection
// of a private 64-page mapping twice: the kernel flushes a range over 33 pages
// as a whole (flush_tlb_mm_range's tlb_single_page_flush_ceiling). 0 or -errno.
int flush_tlb();

// Calls fn for each VMA overlapping [lo, hi) (hi 0 = no upper bound), in
// address order. `buf` is scratch space (at least 4 KiB; 64 KiB reads fewer
// times). 0 or -errno.
int scan(uintptr_t lo, uintptr_t hi, void (*fn)(const Vma& v, void* ctx), void* ctx, char* buf,
         size_t cap);

// Whether both interfaces work here; false with a one-line reason otherwise.
bool available(char* why, size_t cap);

// Whether a DAMON kdamond monitors physical addresses here (DAMON sysfs,
// readable as root): it clears the accessed bit of every page it samples,
// whoever maps it, so abit reads fewer referenced pages than were used.
// *which: the kdamond's index.
bool paddr_kdamond_on(int* which = nullptr);

// The sampler backend: arm() clears the accessed bits, collect() scans smaps
// (every VMA with resident pages, one Obs each, fraction = referenced /
// resident).
//
// With a scan budget (set_scan_budget), collect() reads smaps records until
// its thread has spent the budget, stops after a whole record and resumes
// there on the next call (the kernel continues an open smaps file at the VMA
// after the last one it showed), so that each interval reads part of a large
// process and a few consecutive ones read all of it. smaps costs per VMA
// (about 3 us each: docs/benchmarks.md, "Cost at scale"); clear_refs, per
// process, is not divided.
class AbitSampler final : public sampling::Sampler {
 public:
  ~AbitSampler() override { close(); }
  const char* name() const override { return "abit"; }
  bool open(char* why, size_t cap) override;
  void close() override;
  void set_scan_budget(uint64_t cpu_ns) override { budget_ns_ = cpu_ns; }
  sampling::Span coverage() const override { return coverage_; }
  void arm() override {
    armed_ = clear();
    if (armed_ == 0) armed_ = flush_tlb();
  }
  int collect(sampling::Sink sink, void* ctx) override;
  const char* note() const override { return note_[0] != '\0' ? note_ : nullptr; }

 private:
  char note_[200] = {};
  static void on_vma(const Vma& v, void* ctx);
  // Reads records from fd_ until the end (then rewinds) or until the budget
  // is spent at a record's end. 0 or -errno.
  int read_part();
  sampling::Sink sink_ = nullptr;
  void* ctx_ = nullptr;
  int armed_ = 0;  // clear()'s result
  uint64_t budget_ns_ = 0;
  int fd_ = -1;           // /proc/self/smaps, kept open between budgeted calls
  uintptr_t cursor_ = 0;  // where the next budgeted read starts (0: the beginning)
  sampling::Span coverage_{0, UINTPTR_MAX};
  char buf_[64 * 1024] = {};
};

}  // namespace strata::abit
