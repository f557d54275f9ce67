// The `pebs` and `ibs` samplers: perf_event_open precise sampling of memory
// accesses with their data addresses (Intel PEBS load latency and stores, AMD
// IBS op). The kernel writes one PERF_RECORD_SAMPLE per sampled access into a
// ring buffer per CPU; collect() drains the rings through a decoder that
// counts samples per 2 MiB chunk in a table sized at construction, so the
// sampler thread of the malloc interposer allocates nothing per interval.
//
// The decoder (SampleLayout, decode_ring, ChunkTable, emit_chunks) is pure:
// it takes the bytes of a ring, so it is tested on synthetic rings (the
// machines here have no PMU). The small sysfs parsers are pure for the same
// reason. A third mode, `faults`, samples software page-fault events through
// the same rings: it needs no PMU, so the live path (per-CPU events, mmap,
// output redirection, draining) runs in the tests too. It sees first touches,
// not hotness, and is not meant as a STRATA_SAMPLER choice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "profiler/sampler.h"

namespace strata::sampling {
namespace perf {

// Where the fixed-size fields of a PERF_RECORD_SAMPLE sit for a sample_type.
// The kernel writes the requested fields in a documented order (linux/
// perf_event.h, PERF_RECORD_SAMPLE) that is not the bit order; every field
// up to the first variable-size one (READ, CALLCHAIN, RAW, ...) has a fixed
// place. PERF_SAMPLE_ADDR comes before all variable-size fields, so it is
// always located. Bits this header does not know are new fields, which the
// ABI appends at the end, so they move nothing.
class SampleLayout {
 public:
  explicit SampleLayout(uint64_t sample_type);
  uint64_t sample_type() const { return sample_type_; }
  // Byte offset of the field of `bit` (one PERF_SAMPLE_* bit) from the
  // record start, header included; -1 when not requested or not at a fixed
  // place (after a variable-size field).
  int offset(uint64_t bit) const;
  // Header plus the located fields: a shorter sample record is malformed.
  uint32_t min_size() const { return min_size_; }

 private:
  uint64_t sample_type_;
  uint32_t min_size_ = 0;
  int16_t offset_[64];
};

// Per-chunk sample counts of one interval: open addressing over a slot array
// allocated once, at the first sample (twice max_chunks slots, so probes stay
// short and always find an empty slot). A sample whose chunk does not fit is counted in
// overflow(), never stored. clear() costs the number of chunks used, not the
// table size.
class ChunkTable {
 public:
  explicit ChunkTable(size_t max_chunks);
  ChunkTable(const ChunkTable&) = delete;
  ChunkTable& operator=(const ChunkTable&) = delete;

  // Adds n samples to `chunk`; false (and overflow() += n) when the table
  // already holds max_chunks() other chunks.
  bool add(uint64_t chunk, uint64_t n = 1);
  uint64_t count(uint64_t chunk) const;  // 0 when absent
  size_t size() const { return used_; }
  size_t max_chunks() const { return max_; }
  uint64_t max_count() const { return max_count_; }  // count of the hottest chunk
  uint64_t total() const { return total_; }          // samples stored
  uint64_t overflow() const { return overflow_; }    // samples refused since clear()
  void clear();
  // fn(chunk, count) for each chunk, in first-seen order.
  template <typename F>
  void for_each(F&& fn) const {
    for (size_t i = 0; i < used_; ++i) {
      const Slot& s = slots_[order_[i]];
      fn(s.chunk, s.count);
    }
  }

 private:
  struct Slot {
    uint64_t chunk;
    uint64_t count;
  };
  size_t probe(uint64_t chunk) const;  // its slot, or the empty slot where it goes
  void allocate();                     // the slot arrays, at the first add()

  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<uint32_t[]> order_;  // used slots, first-seen order
  size_t max_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 0;
  size_t used_ = 0;
  uint64_t max_count_ = 0;
  uint64_t total_ = 0;
  uint64_t overflow_ = 0;
};

// What decoding saw; cumulative (decode_ring adds to it).
struct DecodeStats {
  uint64_t samples = 0;       // PERF_RECORD_SAMPLE records
  uint64_t counted = 0;       // ... stored in the chunk table
  uint64_t no_addr = 0;       // ... without a data address (0: IBS non-memory ops)
  uint64_t kernel = 0;        // ... with a kernel address (IBS without privilege filter)
  uint64_t foreign = 0;       // ... of another process (pid filter)
  uint64_t overflow = 0;      // ... whose chunk did not fit in the table
  uint64_t lost_records = 0;  // PERF_RECORD_LOST records (the ring was full)
  uint64_t lost = 0;          // records they (and PERF_RECORD_LOST_SAMPLES) say were dropped
  uint64_t throttles = 0;     // PERF_RECORD_THROTTLE: the kernel slowed sampling down
  uint64_t other = 0;         // other record types, skipped by their size
  uint64_t errors = 0;        // malformed data; decoding of that ring range stopped
};

// Decodes the records in [tail, head) of a perf ring data area of `size`
// bytes (a power of two, at least 8). tail and head are the free-running
// offsets of perf_event_mmap_page (data_tail, data_head): position p is byte
// p & (size - 1), and a record may wrap around the end. Sample addresses go
// to `table` by chunk (addr >> kChunkShift). With pid != 0 and
// PERF_SAMPLE_TID in the layout, samples of other processes are dropped.
// False when the data is malformed (a header size below 8 or beyond head, a
// sample shorter than the layout, head - tail > size): decoding stops there
// and stats->errors counts it. Either way the caller moves data_tail to head:
// the kernel publishes whole records only, so head is the one safe place to
// resume. Reads only inside data[0, size); allocates nothing.
bool decode_ring(const unsigned char* data, uint64_t size, uint64_t tail, uint64_t head,
                 const SampleLayout& layout, uint32_t pid, ChunkTable* table, DecodeStats* stats);

// One Obs per chunk of the table: [chunk << 21, + 2 MiB), fraction = its
// count / the hottest chunk's count, rss and anon_huge 0 (not known).
// Returns the number of observations.
size_t emit_chunks(const ChunkTable& table, Sink sink, void* ctx);

// Sets `value` into config[0..2] (attr.config, config1, config2) as a sysfs
// PMU format describes it ("config:0-7", "config1:0-15", "config:0-7,32-35",
// "config2:0"). False when the format is not understood or value does not fit.
bool apply_format(const char* format, uint64_t value, uint64_t config[3]);

// Encodes a sysfs event string ("event=0xcd,umask=0x1,ldlat=3"; a term
// without a value means 1) with apply_format; format_of(term, buf, cap, ctx)
// fetches the format of a term. False on an unknown term or a bad value.
using FormatOf = bool (*)(const char* term, char* buf, size_t cap, void* ctx);
bool encode_event(const char* terms, FormatOf format_of, void* ctx, uint64_t config[3]);

// Parses a kernel CPU list ("0-3,5,7-8", as /sys/devices/system/cpu/online)
// into cpus[0..cap). Returns the count, or -1 when malformed or longer.
int parse_cpu_list(const char* s, int* cpus, int cap);

}  // namespace perf

class PerfSampler final : public Sampler {
 public:
  enum class Mode {
    kPebs,    // Intel: cpu/mem-loads/ (+ mem-stores when the PMU lists it), precise
    kIbs,     // AMD: the ibs_op PMU, data address of sampled loads and stores
    kFaults,  // software page-fault events: plumbing check without a PMU
  };
  // Every period-th event is sampled: retired load or store (pebs), cycle
  // (ibs, the ibs_op default count; rounded down to a multiple of 16, as IBS
  // requires) or fault. Prime, so that sampling does not lock onto loop
  // strides. A core retiring a load every third cycle at 3 GHz gives 10^4
  // samples/s, 240 KB/s of 24-byte records: two seconds of a default ring,
  // twice the default interval. A ring that fills drops records; the kernel
  // says how many (stats().lost).
  static constexpr uint64_t kDefaultPeriod = 100003;
  // Data pages per CPU ring (power of two): 128 pages + the control page is
  // exactly the default per-CPU perf_event_mlock_kb (516 KiB), so it needs no
  // RLIMIT_MEMLOCK.
  static constexpr size_t kDefaultRingPages = 128;
  // Distinct chunks counted per interval (32 GiB touched); more are counted
  // in stats().overflow.
  static constexpr size_t kDefaultMaxChunks = 16384;

  explicit PerfSampler(Mode mode, uint64_t period = kDefaultPeriod,
                       size_t ring_pages = kDefaultRingPages,
                       size_t max_chunks = kDefaultMaxChunks);
  ~PerfSampler() override;

  const char* name() const override;  // "pebs", "ibs", "faults"
  // One sampling event (group) per online CPU for this process; on success
  // `why` describes what runs. After fork() the child must close() (which
  // only drops its copies) and open() again.
  bool open(char* why, size_t cap) override;
  // Drains every ring; -EBADF when not open, -EBADMSG when a ring held
  // malformed data (observations from the records before it are emitted).
  int collect(Sink sink, void* ctx) override;
  void close() override;

  const perf::DecodeStats& stats() const { return stats_; }  // since open()
  size_t rings() const { return rings_.size(); }

  // One CPU's ring (named here for open()'s helpers in perf_sampler.cc).
  struct Ring {
    int fds[3] = {-1, -1, -1};  // this CPU's events; one of them owns the mapping
    int nfds = 0;
    void* map = nullptr;  // control page + data area
    size_t map_len = 0;
    const unsigned char* data = nullptr;
    uint64_t size = 0;
  };

 private:
  static void close_ring(Ring* r);

  Mode mode_;
  uint64_t period_;
  size_t ring_pages_;
  perf::SampleLayout layout_;
  perf::ChunkTable table_;
  std::vector<Ring> rings_;
  uint32_t pid_ = 0;
  perf::DecodeStats stats_{};
};

}  // namespace strata::sampling
