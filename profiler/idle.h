// The `idle` sampler: Linux idle page tracking (/sys/kernel/mm/page_idle/bitmap,
// one bit per page frame, 64 frames per u64 word). Setting a page's bit marks
// it idle; the kernel clears the mark when the page is accessed, so a bit read
// back as 0 means "referenced since marked". Page-granular, reads and writes,
// no PMU; needs root (the bitmap is 0600, and /proc/self/pagemap shows page
// frame numbers only to CAP_SYS_ADMIN) and CONFIG_IDLE_PAGE_TRACKING.
//
// Each collect() walks the process's private anonymous writable VMAs from
// /proc/self/maps (heaps, anonymous mmaps, named anonymous VMAs), per 2 MiB
// chunk clipped to the VMA: reads the chunk's pagemap entries, reads the idle
// bits of its present pages, reports the fraction that were referenced, and
// marks the same pages idle again to start the next interval. Chunks with no
// resident page are not reported (the heat model counts them as 0).
//
// Cost: one pagemap pread per 64 MiB of address space, and per chunk one
// bitmap pread + pwrite per cluster of nearby frames (a chunk in a
// transparent huge page is one cluster). The kernel walks the reverse map of
// every page marked idle, on read and on write: that is the price of the
// backend. Mappings of terabytes that are mostly empty (sanitizer shadows)
// still cost one pagemap read per 64 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "profiler/sampler.h"

namespace strata::sampling {

inline constexpr const char* kIdleBitmapPath = "/sys/kernel/mm/page_idle/bitmap";

class IdleSampler final : public Sampler {
 public:
  // The paths are the system's by default; tests pass fake files (a bitmap, a
  // pagemap and a maps listing). They must outlive the sampler.
  explicit IdleSampler(const char* bitmap_path = kIdleBitmapPath,
                       const char* pagemap_path = "/proc/self/pagemap",
                       const char* maps_path = "/proc/self/maps");
  ~IdleSampler() override;

  const char* name() const override { return "idle"; }
  // Opens the bitmap (read-write) and pagemap, checks that page frame numbers
  // are visible, and marks every present page of the covered VMAs idle.
  bool open(char* why, size_t cap) override;
  int collect(Sink sink, void* ctx) override;
  void close() override;

  // The shared zero page (and the huge zero page, 512 frames from huge_first)
  // is mapped wherever anonymous memory was read but never written. It is not
  // on an LRU list, so the kernel cannot mark it idle and it would read as
  // referenced forever; those frames are not counted at all. open() finds them
  // by faulting both into a probe mapping, unless this was called before
  // open() (0 = none).
  void set_zero_pfns(uint64_t small, uint64_t huge_first);

  struct ZeroPfns {
    uint64_t small = 0;
    uint64_t huge_first = 0;
  };
  // Faults the zero page and the huge zero page into a temporary read-only
  // mapping and reads their frame numbers from `pagemap_fd` (0 where not
  // present or hidden, e.g. with transparent huge pages off).
  static ZeroPfns probe_zero_pfns(int pagemap_fd);

 private:
  // Walks the covered VMAs chunk by chunk. report=false only marks (open()).
  int walk(bool report, Sink sink, void* ctx);
  int vma(uintptr_t start, uintptr_t end, bool report, Sink sink, void* ctx);
  int chunk(uintptr_t start, uintptr_t end, const uint64_t* entries, bool report, Sink sink,
            void* ctx);
  bool zero_pfn(uint64_t pfn) const;

  const char* bitmap_path_;
  const char* pagemap_path_;
  const char* maps_path_;
  int bitmap_fd_ = -1;
  int pagemap_fd_ = -1;
  size_t page_ = 4096;
  size_t pages_per_chunk_ = 512;
  bool pfns_hidden_ = false;   // set when a present page showed frame 0
  const char* err_path_ = "";  // the file the last failure came from
  bool zero_set_ = false;
  ZeroPfns zero_;
  // Buffers from open(): pagemap entries of one batch of chunks, the sorted
  // frames of one chunk, one window of bitmap words, and /proc/self/maps text.
  std::unique_ptr<uint64_t[]> entries_;
  std::unique_ptr<uint64_t[]> pfns_;
  std::unique_ptr<uint64_t[]> words_;
  std::unique_ptr<char[]> maps_buf_;
};

}  // namespace strata::sampling
