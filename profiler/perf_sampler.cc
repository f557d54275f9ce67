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

// The online CPUs into *cpus; returns how many.
int online_cpus(std::vector<int>* cpus) {
  char online[4096];
  int ncpu = -1;
  if (read_text("/sys/devices/system/cpu/online", online, sizeof online))
    ncpu = perf::parse_cpu_list(online, cpus->data(), static_cast<int>(cpus->size()));
  if (ncpu <= 0) {
    ncpu = std::clamp(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)), 1,
                      static_cast<int>(cpus->size()));
    for (int i = 0; i < ncpu; ++i) (*cpus)[static_cast<size_t>(i)] = i;
  }
  return ncpu;
}

// One ring per CPU, owned by its first sampling event; the other sampling
// events of the CPU write into it (PERF_EVENT_IOC_SET_OUTPUT), so collect()
// drains one ring per CPU whatever the events. Returns 0, or the errno of what
// failed (*what names it).
int open_cpu(Plan& plan, pid_t pid, int cpu, size_t page, size_t map_len, PerfSampler::Ring* r,
             const char** what) {
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
}

// The line open() reports: PMU, events, period, CPUs, ring size, what is missing.
void describe(const Plan& plan, bool pebs, const char* name, size_t rings, int ncpu,
              size_t ring_kib, int skipped, pid_t pid, char* why, size_t cap) {
  Line line{why, cap};
  line.add("%s: %s/", name, plan.pmu);
  bool first = true;
  for (int i = 0; i < plan.n; ++i) {
    const EventSpec& ev = plan.ev[i];
    if (ev.leader || ev.failed != 0) continue;
    line.add("%s%s", first ? "" : "+", ev.label);
    first = false;
  }
  if (pebs) {
    for (int i = 0; i < plan.n; ++i) {
      if (!plan.ev[i].leader && plan.ev[i].required)
        line.add(" precise_ip=%d", static_cast<int>(plan.ev[i].attr.precise_ip));
    }
  }
  uint64_t period = 0;
  for (int i = 0; i < plan.n && period == 0; ++i) period = plan.ev[i].attr.sample_period;
  line.add(", period %llu, %zu/%d CPUs, %zu KiB ring each", static_cast<unsigned long long>(period),
           rings, ncpu, ring_kib);
  for (int i = 0; i < plan.n; ++i) {
    if (plan.ev[i].failed != 0)
      line.add("; no %s (%s)", plan.ev[i].label, std::strerror(plan.ev[i].failed));
  }
  if (skipped > 0) line.add("; %d CPUs without this PMU", skipped);
  const int earlier = earlier_threads(pid);
  if (earlier > 0) line.add("; %d threads started before open() are not sampled", earlier);
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
  const int ncpu = online_cpus(&cpus);

  const pid_t pid = ::getpid();
  pid_ = static_cast<uint32_t>(pid);
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t map_len = (1 + ring_pages_) * page;

  rings_.reserve(static_cast<size_t>(ncpu));
  int err = 0;
  int err_cpu = -1;
  const char* what = "";
  int skipped = 0;
  for (int i = 0; i < ncpu && err == 0; ++i) {
    Ring r;
    const int e = open_cpu(plan, pid, cpus[static_cast<size_t>(i)], page, map_len, &r, &what);
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

  describe(plan, mode_ == Mode::kPebs, name(), rings_.size(), ncpu, (map_len - page) >> 10, skipped,
           pid, why, cap);
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
