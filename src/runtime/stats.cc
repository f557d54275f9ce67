// The per-tier statistics table (STRATA_STATS at exit, strata_stats_write).
#include <fcntl.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/outfile.h"
#include "base/sys.h"
#include "src/engine/engine.h"
#include "src/runtime/internal.h"
#include "src/runtime/runtime.h"

namespace strata::rt {

namespace {

constinit char g_stats_target[512] = {};

constinit bool g_stats_on = false;

constinit bool g_stats_to_stderr = false;  // STRATA_STATS=1 or stderr; otherwise a file

constinit int g_stats_fd = -1;  // a copy of stderr taken at init (see init)

}  // namespace

void stats_at_exit() {
  if (!g_stats_on) return;
  if (g_stats_to_stderr) {
    write_stats(g_stats_fd >= 0 ? g_stats_fd : STDERR_FILENO);
    return;
  }
  sys::OutFile out;
  char why[160];
  if (!sys::out_open(g_stats_target, sys::OutMode::kAppend, &out, why, sizeof why)) {
    STRATA_LOG(LogLevel::kError, "STRATA_STATS=\"%s\": cannot open: %s", g_stats_target, why);
    return;
  }
  write_stats(out.fd);
  sys::out_commit(&out, g_stats_target, why, sizeof why);
}

// STRATA_STATS: where the statistics go at exit.
void configure_stats(const char* target) {
  std::snprintf(g_stats_target, sizeof g_stats_target, "%s", target);
  g_stats_on = std::strcmp(g_stats_target, "0") != 0;
  g_stats_to_stderr =
      std::strcmp(g_stats_target, "1") == 0 || std::strcmp(g_stats_target, "stderr") == 0;
  // Programs may close stderr before exit (coreutils do): keep a copy.
  if (g_stats_on && g_stats_to_stderr) g_stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
}

namespace {

void format_bytes(char* buf, size_t cap, uint64_t b) {
  if (b < 10 * 1024)
    std::snprintf(buf, cap, "%lluB", static_cast<unsigned long long>(b));
  else if (b < 10ULL << 20)
    std::snprintf(buf, cap, "%.1fK", static_cast<double>(b) / 1024.0);
  else if (b < 10ULL << 30)
    std::snprintf(buf, cap, "%.1fM", static_cast<double>(b) / 1048576.0);
  else
    std::snprintf(buf, cap, "%.1fG", static_cast<double>(b) / 1073741824.0);
}

}  // namespace

void write_stats(int fd) {
  heap::ReentrancyGuard g;
  // The calling thread's cache counts reach the arena statistics on a flush.
  heap::flush_thread_caches();
  const CompiledPolicy* pol = g_policy.load(std::memory_order_acquire);
  char buf[512];
  char exe[128] = "?";
  long n = sys::read_file("/proc/self/comm", exe, sizeof exe);
  if (n > 0 && exe[n - 1] == '\n') exe[n - 1] = '\0';
  int len =
      std::snprintf(buf, sizeof buf, "strata stats: pid %d (%s)%s\n", static_cast<int>(getpid()),
                    exe, heap::stats_available() ? "" : " [jemalloc built without stats]");
  sys::write_all(fd, buf, static_cast<size_t>(len));
  len = std::snprintf(buf, sizeof buf, "%-4s %-10s %-10s %9s %9s %12s %9s %9s %9s %7s %9s\n", "#",
                      "tier", "nodes", "cap", "live", "allocs", "mapped", "spill-in", "spill-out",
                      "mmaps", "mmap-size");
  sys::write_all(fd, buf, static_cast<size_t>(len));
  const MmapSums sums = mmap_sums();
  int nt = pol != nullptr ? pol->ntiers : 1;
  for (int t = 0; t < nt; ++t) {
    heap::TierStats s{};
    heap::tier_stats(t, &s);
    char cap[16];
    char live[16];
    char mapped[16];
    char msize[16];
    if (s.cap)
      format_bytes(cap, sizeof cap, s.cap);
    else
      std::snprintf(cap, sizeof cap, "-");
    format_bytes(live, sizeof live, s.allocated);
    format_bytes(mapped, sizeof mapped, s.mapped);
    format_bytes(msize, sizeof msize, sums.bytes[t]);
    const char* name = pol != nullptr ? pol->tiers[t].name : "dram";
    char nodes[32] = "-";
    if (pol != nullptr) {
      const TierDef& d = pol->tiers[t];
      if (d.kind == TierKind::kPmemFile)
        std::snprintf(nodes, sizeof nodes, "file");
      else if (!d.nodes.empty())
        std::snprintf(nodes, sizeof nodes, "%s", d.nodes.str().c_str());
    }
    len = std::snprintf(
        buf, sizeof buf, "%-4d %-10s %-10s %9s %9s %12llu %9s %9llu %9llu %7llu %9s%s\n", t, name,
        nodes, cap, live, static_cast<unsigned long long>(s.nmalloc), mapped,
        static_cast<unsigned long long>(s.spill_in), static_cast<unsigned long long>(s.spill_out),
        static_cast<unsigned long long>(sums.count[t]), msize,
        heap::tier_enabled(t) ? "" : "  (unavailable)");
    sys::write_all(fd, buf, static_cast<size_t>(len));
  }
  if (engine::running() || engine::sampler_name()[0] != '\0') {
    engine::Counters c{};
    engine::counters(&c);
    char up[16];
    char down[16];
    format_bytes(up, sizeof up, c.promoted_bytes);
    format_bytes(down, sizeof down, c.demoted_bytes);
    char wm[16];
    format_bytes(wm, sizeof wm, c.watermark_bytes);
    const double wall = c.wall_ns > 0 ? static_cast<double>(c.wall_ns) : 1.0;
    len = std::snprintf(
        buf, sizeof buf,
        "migration: sampler %s, %llu intervals, %llu chunks (%llu hot); promoted %s in %llu "
        "moves, demoted %s in %llu moves (%s over a high watermark); engine CPU %.2f%% of wall "
        "time\n",
        engine::sampler_name(), static_cast<unsigned long long>(c.intervals),
        static_cast<unsigned long long>(c.chunks), static_cast<unsigned long long>(c.hot_chunks),
        up, static_cast<unsigned long long>(c.promotions), down,
        static_cast<unsigned long long>(c.demotions), wm,
        100.0 * static_cast<double>(c.sample_ns + c.migrate_ns) / wall);
    sys::write_all(fd, buf, static_cast<size_t>(len));
    if (engine::sampler_note()[0] != '\0') {
      len = std::snprintf(buf, sizeof buf, "sampler note: %s\n", engine::sampler_note());
      sys::write_all(fd, buf, static_cast<size_t>(len));
    }
    if (c.pages_failed != 0 || c.syscall_errors != 0 || c.sampler_errors != 0) {
      len = std::snprintf(
          buf, sizeof buf,
          "migration failures: %llu pages (ENOMEM %llu, EBUSY %llu, EFAULT %llu, EACCES %llu, "
          "other %llu), %llu failed calls, %llu sampler errors\n",
          static_cast<unsigned long long>(c.pages_failed),
          static_cast<unsigned long long>(c.fail_nomem),
          static_cast<unsigned long long>(c.fail_busy),
          static_cast<unsigned long long>(c.fail_fault),
          static_cast<unsigned long long>(c.fail_acces),
          static_cast<unsigned long long>(c.fail_other),
          static_cast<unsigned long long>(c.syscall_errors),
          static_cast<unsigned long long>(c.sampler_errors));
      sys::write_all(fd, buf, static_cast<size_t>(len));
    }
  }
  heap::TierStats s0{};
  heap::tier_stats(0, &s0);
  if (s0.foreign_frees != 0) {
    len = std::snprintf(buf, sizeof buf, "foreign frees handed to libc: %llu\n",
                        static_cast<unsigned long long>(s0.foreign_frees));
    sys::write_all(fd, buf, static_cast<size_t>(len));
  }
}

}  // namespace strata::rt
