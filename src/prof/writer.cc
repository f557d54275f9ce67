// The profile file: the sampled sites, the history and the modules written
// with profiler/profile_format.h at exit, on PATH.dump, per forked child.
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "allocator/heap.h"
#include "base/libm.h"
#include "base/log.h"
#include "base/outfile.h"
#include "base/sys.h"
#include "src/prof/internal.h"
#include "src/prof/sites.h"

namespace strata::prof {

namespace {

// The addresses an object's PT_LOAD segments span ([lo, hi); lo > hi if none).
void load_bounds(const dl_phdr_info* info, uintptr_t* lo, uintptr_t* hi) {
  *lo = UINTPTR_MAX;
  *hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    *lo = std::min<uintptr_t>(*lo, info->dlpi_addr + ph.p_vaddr);
    *hi = std::max<uintptr_t>(*hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
  }
}

// The running program's path, in buf.
const char* exe_path(char* buf, size_t cap) {
  long n = readlink("/proc/self/exe", buf, cap - 1);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

}  // namespace

int find_self(dl_phdr_info* info, size_t, void* ctx) {
  auto addr = reinterpret_cast<uintptr_t>(ctx);
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  load_bounds(info, &lo, &hi);
  if (addr - lo < hi - lo) {
    g_self_lo = lo;
    g_self_hi = hi;
    return 1;
  }
  return 0;
}

void copy(char* dst, size_t cap, const char* src) {
  std::snprintf(dst, cap, "%s", src != nullptr ? src : "");
}

void set_path(pid_t pid, bool child) {
  if (std::strstr(g_template, "%p") != nullptr) {
    // Every %p is the process id.
    size_t n = 0;
    for (const char* s = g_template; *s != '\0' && n + 1 < sizeof g_path;) {
      if (s[0] == '%' && s[1] == 'p') {
        int m = std::snprintf(g_path + n, sizeof g_path - n, "%d", static_cast<int>(pid));
        n = std::min(n + static_cast<size_t>(m > 0 ? m : 0), sizeof g_path - 1);
        s += 2;
      } else {
        g_path[n++] = *s++;
      }
    }
    g_path[n] = '\0';
  } else if (child) {
    std::snprintf(g_path, sizeof g_path, "%s.%d", g_template, static_cast<int>(pid));
  } else {
    copy(g_path, sizeof g_path, g_template);
  }
}

namespace {

// ---- writing ----
struct ModuleCtx {
  profile::Writer* w;
};

int write_module(dl_phdr_info* info, size_t, void* ctx) {
  auto* mc = static_cast<ModuleCtx*>(ctx);
  profile::ModuleRecord m;
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  load_bounds(info, &lo, &hi);
  char build_id[64];
  size_t build_id_len = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_NOTE && build_id_len == 0) {
      // Notes: namesz, descsz, type, name (padded to 4), desc (padded to 4).
      const auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
      const unsigned char* end = p + ph.p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        const auto* nh = reinterpret_cast<const ElfW(Nhdr)*>(p);
        const unsigned char* name = p + sizeof *nh;
        const unsigned char* desc = name + ((nh->n_namesz + 3) & ~3U);
        if (desc + nh->n_descsz > end) break;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
            std::memcmp(name, "GNU", 4) == 0 && nh->n_descsz <= sizeof build_id) {
          std::memcpy(build_id, desc, nh->n_descsz);
          build_id_len = nh->n_descsz;
          break;
        }
        p = desc + ((nh->n_descsz + 3) & ~3U);
      }
    }
  }
  if (hi <= lo) return 0;
  char exe[512];
  const char* path = info->dlpi_name;
  if (path == nullptr || path[0] == '\0') path = exe_path(exe, sizeof exe);
  m.base = info->dlpi_addr;
  m.start = lo;
  m.end = hi;
  m.path = path;
  m.build_id = std::string_view(build_id, build_id_len);
  mc->w->module(m);
  return 0;
}

// The same hash site= rules match (sites::locate).
uint64_t hash_of(uintptr_t ra) {
  sites::SiteInfo si;
  return sites::locate(reinterpret_cast<const void*>(ra), &si) ? si.hash : 0;
}

}  // namespace

bool write_to(const char* path) {
  heap::ReentrancyGuard guard;
  sys::OutFile out;
  char why[160];
  if (!sys::out_open(path, sys::OutMode::kReplace, &out, why, sizeof why)) {
    log_msg(LogLevel::kError, "STRATA_PROFILE=\"%s\": cannot write %s: %s", g_template, path, why);
    return false;
  }
  const int fd = out.fd;
  static char buf[1 << 16];
  profile::Writer w(fd, buf, sizeof buf);
  char exe[512];
  exe_path(exe, sizeof exe);
  profile::HeaderRecord h;
  h.pid = static_cast<int32_t>(getpid());
  h.start_ns = g_start_ns;
  h.end_ns = now_ns(CLOCK_REALTIME);
  h.interval_ms = g_interval_ms;
  h.exe = exe;
  h.sampler = g_sampler;
  h.tiers_spec = g_tiers;
  h.policy_spec = g_policy;
  h.migrate_spec = g_migrate;
  w.header(h);
  for (int t = 0; g_pol != nullptr && t < g_pol->ntiers; ++t) {
    const TierDef& d = g_pol->tiers[t];
    profile::TierRecord tr;
    tr.index = static_cast<uint8_t>(t);
    tr.name = d.name;
    tr.kind = tier_kind_name(d.kind);
    tr.cap = d.cap;
    tr.first_node = d.kind == TierKind::kPmemFile || d.nodes.empty() ? -1 : d.nodes.first();
    w.tier(tr);
  }
  ModuleCtx mc{&w};
  dl_iterate_phdr(write_module, &mc);
  // Sites: a copy of each under the lock, written outside it.
  for (size_t i = 0; i < kSites; ++i) {
    g_lock.lock();
    const Site s = g_sites[i];
    g_lock.unlock();
    if (s.key == 0) continue;
    profile::SiteRecord r;
    r.nframes = std::min<uint32_t>(s.nframes, kMaxFrames);
    for (uint32_t f = 0; f < r.nframes; ++f) r.frames[f] = s.frames[f];
    r.hash = r.nframes > 0 ? hash_of(s.frames[0]) : 0;
    r.allocs = math::round_count(s.allocs);
    r.frees = math::round_count(s.frees);
    r.bytes_allocated = math::round_count(s.bytes_allocated);
    r.bytes_freed = math::round_count(s.bytes_freed);
    r.live_bytes = r.bytes_allocated > r.bytes_freed ? r.bytes_allocated - r.bytes_freed : 0;
    r.lifetime_ns = math::round_count(s.lifetime_ns);
    r.heat_byte_intervals = s.heat_bi;
    r.byte_intervals = s.bi;
    int placed = -1;
    for (int t = 0; t < kMaxTiers; ++t) {
      r.tier_byte_intervals[t] = s.tier_bi[t];
      if (s.tier_bytes[t] > 0 && (placed < 0 || s.tier_bytes[t] > s.tier_bytes[placed])) placed = t;
    }
    r.placed_tier = static_cast<int8_t>(placed);
    w.site(r);
  }
  if (g_hist != nullptr) {
    const History& hs = *g_hist;
    for (size_t i = 0; i < hs.intervals.size(); ++i) {
      const uint32_t nc = hs.nchunks[i];
      w.interval(hs.intervals[i],
                 std::span<const profile::ChunkRecord>(hs.chunks.data() + hs.first_chunk[i], nc));
    }
    for (const profile::MoveRecord& m : hs.moves) w.move(m);
  }
  if (!w.finish()) {
    sys::out_abort(&out);
    log_msg(LogLevel::kError, "STRATA_PROFILE=\"%s\": writing %s failed: %s", g_template, path,
            std::strerror(w.error()));
    return false;
  }
  if (!sys::out_commit(&out, path, why, sizeof why)) {
    log_msg(LogLevel::kError, "STRATA_PROFILE=\"%s\": writing %s failed: %s", g_template, path,
            why);
    return false;
  }
  STRATA_LOG(LogLevel::kInfo, "profile written to %s (%llu bytes)", path,
             static_cast<unsigned long long>(w.bytes_written()));
  return true;
}

// Keeps the chunk history within kMaxChunkRecords: doubles the stride and
// drops the chunk lists of the intervals that fall between.
void thin_history() {
  History& hs = *g_hist;
  hs.stride *= 2;
  std::vector<profile::ChunkRecord> kept;
  kept.reserve(hs.chunks.size() / 2 + 1);
  for (size_t i = 0; i < hs.intervals.size(); ++i) {
    const uint64_t first = hs.first_chunk[i];
    const uint32_t n = hs.nchunks[i];
    hs.first_chunk[i] = kept.size();
    if (hs.intervals[i].index % hs.stride != 0) {
      hs.nchunks[i] = 0;
      continue;
    }
    kept.insert(kept.end(), hs.chunks.begin() + static_cast<ptrdiff_t>(first),
                hs.chunks.begin() + static_cast<ptrdiff_t>(first + n));
  }
  hs.chunks.swap(kept);
}

void poll_control() {
  if (!g_on) return;
  char ctl[560];
  std::snprintf(ctl, sizeof ctl, "%s.dump", g_path);
  if (::access(ctl, F_OK) != 0) return;
  ::unlink(ctl);
  write_to(g_path);
}

void write_final() {
  if (!g_on) return;
  flush_pending();  // the exiting thread's (other threads hold at most kFlushEvery samples each)
  write_to(g_path);
}

bool wants_quick_exit_write() {
  if (!g_on) return false;
  if (!g_child) return true;
  const uint64_t lived = now_ns(CLOCK_REALTIME) - g_start_ns;
  return lived >= static_cast<uint64_t>(std::max<uint32_t>(g_interval_ms, 100)) * 1000000ULL;
}

}  // namespace strata::prof
