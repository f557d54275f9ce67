// The pebs/ibs sampler's pure parts: the ring-buffer record decoder
// (perf::decode_ring), the per-chunk sample table, and the sysfs event-format
// encoder (perf::encode_event). No system call here: the unit tests feed
// them synthetic rings and formats.
#include "profiler/perf_sampler.h"

#include <linux/perf_event.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace strata::sampling {
namespace perf {
namespace {

// The sample fields in the order the kernel writes them (PERF_RECORD_SAMPLE
// in linux/perf_event.h), which is not the bit order: IDENTIFIER is bit 16
// but comes first so that it sits at a fixed place. Size 0 = variable.
// WEIGHT and WEIGHT_STRUCT are two views of one u64 (the kernel takes one).
struct Field {
  uint64_t bits;
  uint32_t size;
};
constexpr Field kSampleOrder[] = {
    {PERF_SAMPLE_IDENTIFIER, 8},
    {PERF_SAMPLE_IP, 8},
    {PERF_SAMPLE_TID, 8},  // u32 pid, tid
    {PERF_SAMPLE_TIME, 8},
    {PERF_SAMPLE_ADDR, 8},
    {PERF_SAMPLE_ID, 8},
    {PERF_SAMPLE_STREAM_ID, 8},
    {PERF_SAMPLE_CPU, 8},  // u32 cpu, res
    {PERF_SAMPLE_PERIOD, 8},
    {PERF_SAMPLE_READ, 0},  // its size depends on read_format
    {PERF_SAMPLE_CALLCHAIN, 0},
    {PERF_SAMPLE_RAW, 0},
    {PERF_SAMPLE_BRANCH_STACK, 0},
    {PERF_SAMPLE_REGS_USER, 0},
    {PERF_SAMPLE_STACK_USER, 0},
    {PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT, 8},
    {PERF_SAMPLE_DATA_SRC, 8},
    {PERF_SAMPLE_TRANSACTION, 8},
    {PERF_SAMPLE_REGS_INTR, 0},
    {PERF_SAMPLE_PHYS_ADDR, 8},
    {PERF_SAMPLE_CGROUP, 8},
    {PERF_SAMPLE_DATA_PAGE_SIZE, 8},
    {PERF_SAMPLE_CODE_PAGE_SIZE, 8},
    {PERF_SAMPLE_AUX, 0},
};

// Chunk numbers are addr >> 21 < 2^43, so all ones never is one.
constexpr uint64_t kEmpty = ~uint64_t{0};

// Copies n bytes (n <= ring size) at free-running position pos, wrapping
// around the end of the ring: the kernel writes records across the end.
void copy_out(const unsigned char* data, uint64_t mask, uint64_t pos, void* dst, size_t n) {
  const uint64_t off = pos & mask;
  const size_t first = static_cast<size_t>(std::min<uint64_t>(n, mask + 1 - off));
  std::memcpy(dst, data + off, first);
  if (first < n) std::memcpy(static_cast<unsigned char*>(dst) + first, data, n - first);
}

uint64_t read_u64(const unsigned char* data, uint64_t mask, uint64_t pos) {
  uint64_t v = 0;
  copy_out(data, mask, pos, &v, sizeof v);
  return v;
}

uint32_t read_u32(const unsigned char* data, uint64_t mask, uint64_t pos) {
  uint32_t v = 0;
  copy_out(data, mask, pos, &v, sizeof v);
  return v;
}

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// Decimal number at p (at most 7 digits, CPU numbers); advances p.
bool number(const char*& p, int* out) {
  if (!digit(*p)) return false;
  int v = 0;
  int n = 0;
  for (; digit(*p); ++p, ++n) {
    if (n == 7) return false;
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return true;
}

}  // namespace

SampleLayout::SampleLayout(uint64_t sample_type) : sample_type_(sample_type) {
  std::fill(std::begin(offset_), std::end(offset_), int16_t{-1});
  uint32_t off = sizeof(perf_event_header);
  for (const Field& f : kSampleOrder) {
    const uint64_t present = sample_type & f.bits;
    if (present == 0) continue;
    if (f.size == 0) break;  // nothing after a variable-size field has a fixed place
    for (uint64_t b = present; b != 0; b &= b - 1)
      offset_[std::countr_zero(b)] = static_cast<int16_t>(off);
    off += f.size;
  }
  min_size_ = off;
}

int SampleLayout::offset(uint64_t bit) const {
  if (!std::has_single_bit(bit)) return -1;
  return offset_[std::countr_zero(bit)];
}

ChunkTable::ChunkTable(size_t max_chunks)
    : max_(std::clamp<size_t>(max_chunks, 1, size_t{1} << 30)) {
  const size_t slots = std::bit_ceil(max_ * 2);
  mask_ = slots - 1;
  shift_ = 64 - static_cast<unsigned>(std::countr_zero(slots));
}

void ChunkTable::allocate() {
  // At the first sample, not at construction: auto-selection constructs
  // samplers that then cannot open (no PMU), and each table is 32 bytes a chunk.
  slots_ = std::make_unique<Slot[]>(mask_ + 1);
  for (size_t i = 0; i <= mask_; ++i) slots_[i] = Slot{kEmpty, 0};
  order_ = std::make_unique<uint32_t[]>(max_);
}

size_t ChunkTable::probe(uint64_t chunk) const {
  // Fibonacci hashing: a heap's chunk numbers are dense runs, which the
  // multiply spreads over the top bits, so linear probing stays short.
  size_t i = static_cast<size_t>((chunk * 0x9E3779B97F4A7C15ULL) >> shift_);
  while (slots_[i].chunk != kEmpty && slots_[i].chunk != chunk) i = (i + 1) & mask_;
  return i;
}

bool ChunkTable::add(uint64_t chunk, uint64_t n) {
  if (chunk == kEmpty) {
    overflow_ += n;
    return false;
  }
  if (!slots_) allocate();
  const size_t i = probe(chunk);
  Slot& s = slots_[i];
  if (s.chunk == kEmpty) {
    // Load stays at most one half: there is always an empty slot to stop at.
    if (used_ == max_) {
      overflow_ += n;
      return false;
    }
    s = Slot{chunk, 0};
    order_[used_++] = static_cast<uint32_t>(i);
  }
  s.count += n;
  total_ += n;
  max_count_ = std::max(max_count_, s.count);
  return true;
}

uint64_t ChunkTable::count(uint64_t chunk) const {
  if (chunk == kEmpty || !slots_) return 0;
  const Slot& s = slots_[probe(chunk)];
  return s.chunk == chunk ? s.count : 0;
}

void ChunkTable::clear() {
  // Without deletions there are no tombstones: emptying the used slots
  // restores the table exactly.
  for (size_t i = 0; i < used_; ++i) slots_[order_[i]] = Slot{kEmpty, 0};
  used_ = 0;
  max_count_ = 0;
  total_ = 0;
  overflow_ = 0;
}

bool decode_ring(const unsigned char* data, uint64_t size, uint64_t tail, uint64_t head,
                 const SampleLayout& layout, uint32_t pid, ChunkTable* table, DecodeStats* stats) {
  // The kernel never lets head run more than a ring ahead of tail; if it
  // seems to, the offsets are not what we think they are.
  if (size < sizeof(perf_event_header) || !std::has_single_bit(size) || head - tail > size) {
    ++stats->errors;
    return false;
  }
  const uint64_t mask = size - 1;
  const int addr_at = layout.offset(PERF_SAMPLE_ADDR);
  const int tid_at = pid != 0 ? layout.offset(PERF_SAMPLE_TID) : -1;
  // Every step advances by a header size >= 8 that fits before head, so the
  // loop ends, and every read is at an offset below that size, so it stays
  // inside [pos, head) and, masked, inside the data area.
  for (uint64_t pos = tail; pos != head;) {
    const uint64_t avail = head - pos;
    perf_event_header h{};
    if (avail < sizeof h) {
      ++stats->errors;
      return false;
    }
    copy_out(data, mask, pos, &h, sizeof h);
    if (h.size < sizeof h || h.size > avail) {
      ++stats->errors;
      return false;
    }
    switch (h.type) {
      case PERF_RECORD_SAMPLE: {
        if (h.size < layout.min_size()) {
          ++stats->errors;
          return false;
        }
        ++stats->samples;
        if (tid_at >= 0 && read_u32(data, mask, pos + static_cast<uint64_t>(tid_at)) != pid) {
          ++stats->foreign;
          break;
        }
        const uint64_t addr =
            addr_at >= 0 ? read_u64(data, mask, pos + static_cast<uint64_t>(addr_at)) : 0;
        if (addr == 0) {
          ++stats->no_addr;
        } else if ((addr >> 63) != 0) {
          // The upper half is the kernel's on x86-64 and arm64. Left in, a
          // busy kernel chunk would be the "hottest" one and compress the
          // fractions of every chunk strata manages.
          ++stats->kernel;
        } else if (table->add(addr >> kChunkShift)) {
          ++stats->counted;
        } else {
          ++stats->overflow;
        }
        break;
      }
      case PERF_RECORD_LOST:  // u64 id, lost
        if (h.size < sizeof h + 16) {
          ++stats->errors;
          return false;
        }
        ++stats->lost_records;
        stats->lost += read_u64(data, mask, pos + sizeof h + 8);
        break;
      case PERF_RECORD_LOST_SAMPLES:  // u64 lost
        if (h.size < sizeof h + 8) {
          ++stats->errors;
          return false;
        }
        stats->lost += read_u64(data, mask, pos + sizeof h);
        break;
      case PERF_RECORD_THROTTLE:
        ++stats->throttles;
        break;
      default:
        ++stats->other;
        break;
    }
    pos += h.size;
  }
  return true;
}

size_t emit_chunks(const ChunkTable& table, Sink sink, void* ctx) {
  if (table.max_count() == 0) return 0;
  const auto hottest = static_cast<double>(table.max_count());
  size_t n = 0;
  table.for_each([&](uint64_t chunk, uint64_t count) {
    Obs o;
    o.start = static_cast<uintptr_t>(chunk) << kChunkShift;
    o.end = o.start + kChunkBytes;
    o.fraction = static_cast<double>(count) / hottest;
    sink(o, ctx);
    ++n;
  });
  return n;
}

bool apply_format(const char* format, uint64_t value, uint64_t config[3]) {
  const char* p = format;
  if (std::strncmp(p, "config", 6) != 0) return false;
  p += 6;
  int which = 0;
  if (*p == '1' || *p == '2') which = *p++ - '0';
  if (*p++ != ':') return false;
  uint64_t mask = 0;
  for (;;) {
    int lo = 0;
    int hi = 0;
    if (!number(p, &lo)) return false;
    hi = lo;
    if (*p == '-' && !number(++p, &hi)) return false;
    if (hi < lo || hi > 63) return false;
    for (int b = lo; b <= hi; ++b) mask |= uint64_t{1} << b;
    if (*p != ',') break;
    ++p;
  }
  while (*p == '\n' || *p == ' ') ++p;
  if (*p != '\0') return false;
  // Value bits fill the format's bits from the lowest up, as perf does for
  // split fields ("config:0-7,32-35" takes a 12-bit value).
  uint64_t out = 0;
  uint64_t v = value;
  for (uint64_t m = mask; m != 0; m &= m - 1, v >>= 1) {
    if ((v & 1) != 0) out |= m & -m;
  }
  if (v != 0) return false;  // wider than the field
  config[which] |= out;
  return true;
}

bool encode_event(const char* terms, FormatOf format_of, void* ctx, uint64_t config[3]) {
  const char* p = terms;
  while (*p != '\0' && *p != '\n') {
    char name[32];
    size_t n = 0;
    while (*p != '\0' && *p != '=' && *p != ',' && *p != '\n') {
      if (n + 1 == sizeof name) return false;
      name[n++] = *p++;
    }
    name[n] = '\0';
    if (n == 0) return false;
    uint64_t value = 1;
    if (*p == '=') {
      ++p;
      if (!digit(*p)) return false;
      char* end = nullptr;
      errno = 0;
      value = std::strtoull(p, &end, 0);  // "0xcd" or "3"
      if (errno != 0 || end == p) return false;
      p = end;
    }
    char fmt[64];
    if (!format_of(name, fmt, sizeof fmt, ctx) || !apply_format(fmt, value, config)) return false;
    if (*p == ',') {
      ++p;
    } else if (*p != '\0' && *p != '\n') {
      return false;
    }
  }
  return true;
}

int parse_cpu_list(const char* s, int* cpus, int cap) {
  int n = 0;
  const char* p = s;
  while (*p != '\0' && *p != '\n') {
    int a = 0;
    if (!number(p, &a)) return -1;
    int b = a;
    if (*p == '-' && !number(++p, &b)) return -1;
    if (b < a) return -1;
    for (int c = a; c <= b; ++c) {
      if (n == cap) return -1;
      cpus[n++] = c;
    }
    if (*p == ',') {
      ++p;
      if (!digit(*p)) return -1;
    } else if (*p != '\0' && *p != '\n') {
      return -1;
    }
  }
  return n;
}

}  // namespace perf

}  // namespace strata::sampling
