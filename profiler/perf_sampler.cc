#include "profiler/perf_sampler.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdarg>
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

namespace {

// What the sampler asks for in each sample: the pid, to drop samples of
// processes that inherited the events anyway (kernels before inherit_thread),
// and the data address. Nothing else: smaller records are fewer lost ones.
// Not DATA_SRC either: with it, Sapphire Rapids-class PMUs refuse mem-loads
// without a mem-loads-aux group leader (intel_pmu_hw_config, -ENODATA). We
// still add that leader when sysfs lists it, as perf mem does, since the
// kernel says the event "doesn't function quite right" without it.
constexpr uint64_t kSampleType = PERF_SAMPLE_TID | PERF_SAMPLE_ADDR;
constexpr const char* kDevices = "/sys/bus/event_source/devices";

// Reads a small text file, trailing whitespace cut. False with errno set.
bool read_text(const char* path, char* buf, size_t cap) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t have = 0;
  while (have + 1 < cap) {
    ssize_t n = ::read(fd, buf + have, cap - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      errno = e;
      return false;
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  while (have > 0 && (buf[have - 1] == '\n' || buf[have - 1] == ' ')) --have;
  buf[have] = '\0';
  return true;
}

int paranoid_level() {
  char b[16];
  if (!read_text("/proc/sys/kernel/perf_event_paranoid", b, sizeof b)) return INT_MIN;
  return std::atoi(b);
}

// Formats from the PMU's sysfs directory (ctx), else Intel's core PMU layout
// for the terms of mem-loads: used when sysfs lists no CPU PMU at all, so
// that the open is still attempted and the kernel's own answer reported.
bool sysfs_format(const char* term, char* buf, size_t cap, void* ctx) {
  const auto* dir = static_cast<const char*>(ctx);
  char path[256];
  std::snprintf(path, sizeof path, "%s/format/%s", dir, term);
  if (dir[0] != '\0' && read_text(path, buf, cap)) return true;
  static constexpr struct {
    const char* term;
    const char* format;
  } kIntel[] = {{"event", "config:0-7"}, {"umask", "config:8-15"}, {"ldlat", "config1:0-15"}};
  for (const auto& f : kIntel) {
    if (std::strcmp(f.term, term) == 0) {
      std::snprintf(buf, cap, "%s", f.format);
      return true;
    }
  }
  return false;
}

bool encode_into(const char* terms, char* dir, perf_event_attr* a) {
  uint64_t cfg[3] = {};
  if (!perf::encode_event(terms, sysfs_format, dir, cfg)) return false;
  a->config = cfg[0];
  a->config1 = cfg[1];
  a->config2 = cfg[2];
  return true;
}

struct EventSpec {
  perf_event_attr attr;
  char label[24];
  bool required;
  bool leader;  // counts only; the next event joins its group
  int failed;   // errno of an optional event that could not be opened
};

struct Plan {
  EventSpec ev[3];
  int n;
  bool have_pmu;       // the PMU is listed in sysfs
  int paranoid_max;    // the highest perf_event_paranoid that allows these events
  const char* einval;  // what EINVAL most likely means for these events
  char pmu[24];        // for the success line
};

EventSpec* add_event(Plan* plan, const char* label, bool required) {
  EventSpec* e = &plan->ev[plan->n++];
  *e = EventSpec{};
  e->attr.size = sizeof e->attr;
  std::snprintf(e->label, sizeof e->label, "%s", label);
  e->required = required;
  return e;
}

// Per-CPU events on pid = getpid() with inherit. The kernel refuses to mmap
// an inherited event with cpu = -1 (all children would write one ring:
// perf_mmap), whereas a per-CPU event on a task follows that task and every
// thread it, or such a thread, creates later, each writing to the ring of the
// CPU it runs on (inherited events output to their parent's ring). Threads
// that already exist at open() other than the main thread are not followed;
// open() counts them in its line. inherit_thread (Linux 5.13+) keeps forked
// child processes out: their addresses mean nothing here.
void set_inherit(perf_event_attr* a) {
  a->inherit = 1;
  a->inherit_thread = 1;
}

void set_sampling(perf_event_attr* a, uint64_t period) {
  a->sample_period = period;
  a->sample_type = kSampleType;
  set_inherit(a);
}

// Our own accesses only: unprivileged at perf_event_paranoid <= 2.
void set_user_only(perf_event_attr* a) {
  a->exclude_kernel = 1;
  a->exclude_hv = 1;
}

bool plan_pebs(uint64_t period, Plan* plan, const char* name, char* why, size_t cap) {
  char path[256];
  char text[128];
  // The core PMU is "cpu", or "cpu_core" (the P-cores) on hybrid parts.
  char dir[128] = "";
  for (const char* pmu : {"cpu", "cpu_core"}) {
    std::snprintf(path, sizeof path, "%s/%s/type", kDevices, pmu);
    if (read_text(path, text, sizeof text)) {
      std::snprintf(dir, sizeof dir, "%s/%s", kDevices, pmu);
      std::snprintf(plan->pmu, sizeof plan->pmu, "%s", pmu);
      break;
    }
  }
  plan->have_pmu = dir[0] != '\0';
  plan->paranoid_max = 2;
  const uint32_t type = plan->have_pmu ? static_cast<uint32_t>(std::strtoul(text, nullptr, 0))
                                       : uint32_t{PERF_TYPE_RAW};
  char loads[128];
  std::snprintf(path, sizeof path, "%s/events/mem-loads", dir);
  if (!plan->have_pmu) {
    // MEM_TRANS_RETIRED.LOAD_LATENCY above 3 cycles, i.e. about every load:
    // Intel's encoding from Nehalem to Sapphire Rapids.
    std::snprintf(loads, sizeof loads, "event=0xcd,umask=0x1,ldlat=3");
    std::snprintf(plan->pmu, sizeof plan->pmu, "raw");
  } else if (!read_text(path, loads, sizeof loads)) {
    std::snprintf(why, cap,
                  "%s: %s lists no mem-loads event (no PEBS load latency: not an Intel CPU, or a "
                  "VM without PEBS)",
                  name, dir);
    return false;
  }
  std::snprintf(path, sizeof path, "%s/events/mem-loads-aux", dir);
  if (plan->have_pmu && read_text(path, text, sizeof text)) {
    EventSpec* aux = add_event(plan, "mem-loads-aux", false);
    aux->attr.type = type;
    aux->leader = true;
    set_inherit(&aux->attr);
    set_user_only(&aux->attr);
    if (!encode_into(text, dir, &aux->attr)) --plan->n;
  }
  EventSpec* ld = add_event(plan, "mem-loads", true);
  ld->attr.type = type;
  if (!encode_into(loads, dir, &ld->attr)) {
    std::snprintf(why, cap, "%s: cannot encode mem-loads (%s) with the formats of %s", name, loads,
                  dir);
    return false;
  }
  set_sampling(&ld->attr, period);
  set_user_only(&ld->attr);
  // PEBS records the access itself, with its data address. 3 is perf's :P
  // (the most the PMU has); open_event steps down when the PMU says less.
  // exclude_guest as perf sets it for precise events: PEBS does not sample
  // guests anyway.
  ld->attr.precise_ip = 3;
  ld->attr.exclude_guest = 1;
  // Stores (Haswell and later PEBS also give their data address): optional,
  // into the same ring.
  std::snprintf(path, sizeof path, "%s/events/mem-stores", dir);
  if (plan->have_pmu && read_text(path, text, sizeof text)) {
    EventSpec* st = add_event(plan, "mem-stores", false);
    st->attr = ld->attr;
    st->attr.config = st->attr.config1 = st->attr.config2 = 0;
    if (!encode_into(text, dir, &st->attr)) --plan->n;
  }
  return true;
}

bool plan_ibs(uint64_t period, Plan* plan, const char* name, char* why, size_t cap) {
  char dir[128];
  char path[256];
  char text[128];
  std::snprintf(dir, sizeof dir, "%s/ibs_op", kDevices);
  std::snprintf(path, sizeof path, "%s/type", dir);
  if (!read_text(path, text, sizeof text)) {
    std::snprintf(why, cap,
                  "%s: no IBS op PMU (%s: %s): not an AMD CPU with IBS, or a VM that hides it",
                  name, path, std::strerror(errno));
    return false;
  }
  plan->have_pmu = true;
  // Before the perf context rewrite of 6.2 the IBS PMUs took CPU-wide events
  // only (perf_invalid_context), and a per-process event is EINVAL.
  plan->einval = "per-process IBS needs Linux 6.2+";
  std::snprintf(plan->pmu, sizeof plan->pmu, "ibs_op");
  EventSpec* op = add_event(plan, "ibs_op", true);
  op->attr.type = static_cast<uint32_t>(std::strtoul(text, nullptr, 0));
  // IBS tags one op every `period` cycles; the sample carries the data
  // address when that op was a load or store (PERF_SAMPLE_ADDR, 6.1+), else
  // 0. The low 4 bits of the IBS period do not exist.
  set_sampling(&op->attr, std::max<uint64_t>(period & ~uint64_t{15}, 16));
  uint64_t cfg[3] = {};
  std::snprintf(path, sizeof path, "%s/format/swfilt", dir);
  if (read_text(path, text, sizeof text) && perf::apply_format(text, 1, cfg)) {
    // Newer kernels filter privilege levels in software (swfilt) and then
    // accept exclude_kernel: unprivileged at perf_event_paranoid 2.
    op->attr.config |= cfg[0];
    op->attr.config1 |= cfg[1];
    op->attr.config2 |= cfg[2];
    op->attr.exclude_kernel = 1;
    plan->paranoid_max = 2;
  } else {
    // Otherwise IBS refuses every exclude_* bit (PERF_PMU_CAP_NO_EXCLUDE):
    // kernel samples come too, which needs perf_event_paranoid <= 1; the
    // decoder drops their addresses.
    plan->paranoid_max = 1;
  }
  return true;
}

void plan_faults(uint64_t period, Plan* plan) {
  plan->have_pmu = true;
  plan->paranoid_max = 2;
  std::snprintf(plan->pmu, sizeof plan->pmu, "software");
  // Minor and major faults partition page faults; two events so that the
  // second goes through PERF_EVENT_IOC_SET_OUTPUT like pebs's mem-stores.
  EventSpec* mn = add_event(plan, "page-faults-min", true);
  mn->attr.type = PERF_TYPE_SOFTWARE;
  mn->attr.config = PERF_COUNT_SW_PAGE_FAULTS_MIN;
  set_sampling(&mn->attr, period);
  set_user_only(&mn->attr);
  EventSpec* mj = add_event(plan, "page-faults-maj", false);
  mj->attr = mn->attr;
  mj->attr.config = PERF_COUNT_SW_PAGE_FAULTS_MAJ;
}

// perf_event_open with the fallbacks perf itself uses. Events start enabled:
// samples before the ring is mapped are simply not written.
int open_event(perf_event_attr* a, pid_t pid, int cpu, int group) {
  for (;;) {
    long fd = syscall(SYS_perf_event_open, a, pid, cpu, group, PERF_FLAG_FD_CLOEXEC);
    if (fd >= 0) return static_cast<int>(fd);
    const int e = errno;
    // The PMU refuses more precision than it has.
    if (e == EOPNOTSUPP && a->precise_ip > 1) {
      --a->precise_ip;
      continue;
    }
    // Before 5.13 inherit_thread is a reserved bit (EINVAL). Without it,
    // forked children inherit the events; the decoder drops their samples
    // by pid.
    if (e == EINVAL && a->inherit_thread != 0) {
      a->inherit_thread = 0;
      fd = syscall(SYS_perf_event_open, a, pid, cpu, group, PERF_FLAG_FD_CLOEXEC);
      if (fd >= 0) return static_cast<int>(fd);
      a->inherit_thread = 1;
    }
    errno = e;
    return -1;
  }
}

const char* errno_hint(int e, const Plan& plan, char* buf, size_t cap) {
  switch (e) {
    case ENOENT:
      return plan.have_pmu ? "the PMU has no such event on this CPU"
                           : "no CPU PMU in /sys/bus/event_source/devices: no PMU in this "
                             "machine/VM";
    case EACCES:
    case EPERM: {
      const int level = paranoid_level();
      if (level == INT_MIN) {
        std::snprintf(buf, cap, "perf_event_paranoid unreadable; these events need <= %d",
                      plan.paranoid_max);
      } else if (level > plan.paranoid_max) {
        std::snprintf(buf, cap, "perf_event_paranoid is %d, these events need <= %d or CAP_PERFMON",
                      level, plan.paranoid_max);
      } else {
        std::snprintf(buf, cap,
                      "perf_event_paranoid is %d and allows them: a seccomp filter or LSM blocks "
                      "perf_event_open",
                      level);
      }
      return buf;
    }
    case EOPNOTSUPP:
      return "no precise sampling on this PMU, or not in this VM";
    case EINVAL:
      return plan.einval != nullptr ? plan.einval : "attributes not accepted by this kernel or PMU";
    case ENODEV:
      return "event not available on this CPU";
    case ENOSYS:
      return "kernel without perf events";
    case EMFILE:
    case ENFILE:
      return "out of file descriptors: one per CPU and event";
    case EBUSY:
      return "PMU in exclusive use";
    default:
      return "unexpected";
  }
}

// Appends to a fixed buffer, truncating.
struct Line {
  char* buf;
  size_t cap;
  size_t at = 0;
  __attribute__((format(printf, 2, 3))) void add(const char* fmt, ...) {
    if (at + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(buf + at, cap - at, fmt, ap);
    va_end(ap);
    if (n > 0) at = std::min(cap - 1, at + static_cast<size_t>(n));
  }
};

// Threads other than the main thread and the caller: per-CPU events on the
// main thread do not follow them (see set_inherit).
int earlier_threads(pid_t pid) {
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return 0;
  int n = 0;
  const pid_t self = ::gettid();
  while (const dirent* de = ::readdir(d)) {
    if (de->d_name[0] == '.') continue;
    const auto tid = static_cast<pid_t>(std::atol(de->d_name));
    if (tid != pid && tid != self) ++n;
  }
  ::closedir(d);
  return n;
}

}  // namespace

PerfSampler::PerfSampler(Mode mode, uint64_t period, size_t ring_pages, size_t max_chunks)
    : mode_(mode),
      period_(period == 0 ? kDefaultPeriod : period),
      ring_pages_(std::bit_ceil(std::clamp<size_t>(ring_pages, 1, size_t{1} << 16))),
      layout_(kSampleType),
      table_(max_chunks) {}

PerfSampler::~PerfSampler() {
  PerfSampler::close();
}

const char* PerfSampler::name() const {
  switch (mode_) {
    case Mode::kPebs:
      return "pebs";
    case Mode::kIbs:
      return "ibs";
    case Mode::kFaults:
      return "faults";
  }
  return "perf";
}

void PerfSampler::close_ring(Ring* r) {
  if (r->map != nullptr) ::munmap(r->map, r->map_len);
  for (int i = 0; i < r->nfds; ++i) ::close(r->fds[i]);
  *r = Ring{};
}

void PerfSampler::close() {
  for (Ring& r : rings_) close_ring(&r);
  rings_.clear();
}

bool PerfSampler::open(char* why, size_t cap) {
  close();
  stats_ = perf::DecodeStats{};
  table_.clear();
  Plan plan{};
  bool planned = false;
  switch (mode_) {
    case Mode::kPebs:
      planned = plan_pebs(period_, &plan, name(), why, cap);
      break;
    case Mode::kIbs:
      planned = plan_ibs(period_, &plan, name(), why, cap);
      break;
    case Mode::kFaults:
      plan_faults(period_, &plan);
      planned = true;
      break;
  }
  if (!planned) return false;

  // Online CPUs; an offline one cannot take events (and is not followed if
  // it comes online later).
  std::vector<int> cpus(8192);
  char online[4096];
  int ncpu = -1;
  if (read_text("/sys/devices/system/cpu/online", online, sizeof online))
    ncpu = perf::parse_cpu_list(online, cpus.data(), static_cast<int>(cpus.size()));
  if (ncpu <= 0) {
    ncpu = std::clamp(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)), 1,
                      static_cast<int>(cpus.size()));
    for (int i = 0; i < ncpu; ++i) cpus[static_cast<size_t>(i)] = i;
  }

  const pid_t pid = ::getpid();
  pid_ = static_cast<uint32_t>(pid);
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t map_len = (1 + ring_pages_) * page;
  // One ring per CPU, owned by its first sampling event; the other sampling
  // events of the CPU write into it (PERF_EVENT_IOC_SET_OUTPUT), so collect()
  // drains one ring per CPU whatever the events.
  auto open_cpu = [&](int cpu, Ring* r, const char** what) -> int {
    int leader = -1;
    int owner = -1;
    for (int i = 0; i < plan.n; ++i) {
      EventSpec& ev = plan.ev[i];
      if (ev.failed != 0) continue;
      const int group = i > 0 && plan.ev[i - 1].leader ? leader : -1;
      const int fd = open_event(&ev.attr, pid, cpu, group);
      if (fd < 0) {
        const int e = errno;
        if (ev.required) {
          *what = ev.label;
          return e;
        }
        ev.failed = e;
        continue;
      }
      r->fds[r->nfds++] = fd;
      if (ev.leader) {
        leader = fd;
        continue;
      }
      if (owner < 0) {
        // Writable, so that we own data_tail: the kernel then never
        // overwrites unread records and reports what it had to drop.
        void* m = ::mmap(nullptr, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
          *what = "mmap";
          return errno;
        }
        r->map = m;
        r->map_len = map_len;
        const auto* meta = static_cast<const perf_event_mmap_page*>(m);
        // data_offset/data_size exist since Linux 4.1; before, the data
        // follows the control page.
        const uint64_t off = meta->data_offset != 0 ? meta->data_offset : page;
        r->size = meta->data_size != 0 ? meta->data_size : map_len - page;
        r->data = static_cast<const unsigned char*>(m) + off;
        owner = fd;
      } else if (::ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, owner) != 0) {
        const int e = errno;
        ::close(fd);
        --r->nfds;
        if (ev.required) {
          *what = "PERF_EVENT_IOC_SET_OUTPUT";
          return e;
        }
        ev.failed = e;
      }
    }
    return owner >= 0 ? 0 : ENODEV;
  };

  rings_.reserve(static_cast<size_t>(ncpu));
  int err = 0;
  int err_cpu = -1;
  const char* what = "";
  int skipped = 0;
  for (int i = 0; i < ncpu && err == 0; ++i) {
    Ring r;
    const int e = open_cpu(cpus[static_cast<size_t>(i)], &r, &what);
    if (e == 0) {
      rings_.push_back(r);
      continue;
    }
    close_ring(&r);
    // Hybrid parts: the P-core PMU has no events on E-cores (ENOENT). Those
    // CPUs are left out, and the line says so.
    if (e == ENOENT && plan.have_pmu && mode_ == Mode::kPebs) {
      ++skipped;
      continue;
    }
    err = e;
    err_cpu = cpus[static_cast<size_t>(i)];
  }
  if (err == 0 && rings_.empty()) err = ENOENT;
  if (err != 0) {
    close();
    char hint[160];
    if (std::strcmp(what, "mmap") == 0) {
      std::snprintf(why, cap, "%s: mmap of a %zu KiB perf ring (CPU %d) failed: %s (%s)", name(),
                    map_len >> 10, err_cpu, std::strerror(err),
                    err == EPERM || err == ENOMEM ? "over perf_event_mlock_kb and RLIMIT_MEMLOCK"
                                                  : "unexpected");
    } else {
      const bool precise = mode_ == Mode::kPebs && std::strcmp(what, "mem-loads") == 0;
      std::snprintf(why, cap, "%s: perf_event_open(%s%s) failed: %s (%s)", name(),
                    precise ? "precise " : "", what, std::strerror(err),
                    errno_hint(err, plan, hint, sizeof hint));
    }
    return false;
  }

  Line line{why, cap};
  line.add("%s: %s/", name(), plan.pmu);
  bool first = true;
  for (int i = 0; i < plan.n; ++i) {
    const EventSpec& ev = plan.ev[i];
    if (ev.leader || ev.failed != 0) continue;
    line.add("%s%s", first ? "" : "+", ev.label);
    first = false;
  }
  if (mode_ == Mode::kPebs) {
    for (int i = 0; i < plan.n; ++i) {
      if (!plan.ev[i].leader && plan.ev[i].required)
        line.add(" precise_ip=%d", static_cast<int>(plan.ev[i].attr.precise_ip));
    }
  }
  uint64_t period = 0;
  for (int i = 0; i < plan.n && period == 0; ++i) period = plan.ev[i].attr.sample_period;
  line.add(", period %llu, %zu/%d CPUs, %zu KiB ring each", static_cast<unsigned long long>(period),
           rings_.size(), ncpu, (map_len - page) >> 10);
  for (int i = 0; i < plan.n; ++i) {
    if (plan.ev[i].failed != 0)
      line.add("; no %s (%s)", plan.ev[i].label, std::strerror(plan.ev[i].failed));
  }
  if (skipped > 0) line.add("; %d CPUs without this PMU", skipped);
  const int earlier = earlier_threads(pid);
  if (earlier > 0) line.add("; %d threads started before open() are not sampled", earlier);
  return true;
}

int PerfSampler::collect(Sink sink, void* ctx) {
  if (rings_.empty()) return -EBADF;
  bool bad = false;
  for (Ring& r : rings_) {
    auto* meta = static_cast<perf_event_mmap_page*>(r.map);
    // The kernel publishes data_head after writing the records it covers:
    // read it with acquire (the smp_rmb its ABI comment asks for) ...
    const uint64_t head = std::atomic_ref<__u64>(meta->data_head).load(std::memory_order_acquire);
    const uint64_t tail = std::atomic_ref<__u64>(meta->data_tail).load(std::memory_order_relaxed);
    if (!perf::decode_ring(r.data, r.size, tail, head, layout_, pid_, &table_, &stats_)) bad = true;
    // ... and hand the space back with release, so that our reads are done
    // before the kernel may write there again (its smp_mb before the store).
    std::atomic_ref<__u64>(meta->data_tail).store(head, std::memory_order_release);
  }
  perf::emit_chunks(table_, sink, ctx);
  table_.clear();
  return bad ? -EBADMSG : 0;
}

}  // namespace strata::sampling
