// strata-bench-scale: the engine's cost at scale, with profiling on.
//
// A program (this binary with --child) mallocs a big heap in blocks, touches
// it, picks a random 10% of its 2 MiB chunks as hot and, for --seconds,
// increments random words: --hot-share of them in the hot chunks, the rest
// anywhere in the cold ones. The driver runs it bare and under
// LD_PRELOAD=--lib with STRATA_PROFILE, then reads the profile's chunk heat
// (strata-report --format chunks) and reports, side by side:
//   intervals completed, engine CPU against its budget, precision and recall
//   of the chunks reported hot (heat >= --hot-heat) against the truth over
//   time, the program's speed against the bare run, and the RSS overhead.
// Not linked against strata: it reads strata's counters through strata.h.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "suite_common.h"

namespace {

constexpr uint64_t kChunk = 2 * bench::kMiB;

struct Args {
  std::string lib;
  std::string report;  // strata-report; default: next to this binary
  uint64_t footprint = 16ULL << 30;
  uint64_t block = 64 * bench::kMiB;
  double seconds = 30;
  uint64_t seed = 7;
  bool huge = false;  // --thp=huge: MADV_HUGEPAGE on the heap
  double hot = 0.10;
  double hot_share = 1.0;  // the program updates only its hot 10%
  double hot_heat = 0.5;
  std::string sampler;  // STRATA_SAMPLER for the preloaded run ("" = default)
  std::string workdir = "/tmp";
  bool child = false;
  std::string out;  // child: where to write its results
  bool verbose = false;
};

double now_s(int clock) {
  return bench::now_ms(clock) / 1e3;
}

uint64_t status_kb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t v = 0;
  const size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::strncmp(line, field, n) == 0) v = std::strtoull(line + n, nullptr, 10);
  std::fclose(f);
  return v;
}

// The workload. Writes "key value" lines to a.out: the hot chunk ids, the
// realtime at which updates began, ops per second and strata's counters.
int run_child(const Args& a) {
  const double t_start = now_s(CLOCK_REALTIME);
  std::vector<char*> blocks;
  for (uint64_t b = 0; b < a.footprint; b += a.block) {
    auto* p = static_cast<char*>(std::malloc(a.block));
    if (p == nullptr) {
      std::fprintf(stderr, "strata-bench-scale: malloc(%s) failed after %s\n",
                   bench::size_str(a.block).c_str(), bench::size_str(b).c_str());
      return 1;
    }
    uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kChunk - 1) & ~(kChunk - 1);
    uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + a.block) & ~(kChunk - 1);
    if (a.huge && hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    std::memset(p, 1, a.block);
    blocks.push_back(p);
  }
  // Whole chunks inside the blocks, then a random 10% of them hot.
  std::vector<uintptr_t> chunks;
  for (char* p : blocks) {
    uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kChunk - 1) & ~(kChunk - 1);
    for (uintptr_t c = lo; c + kChunk <= reinterpret_cast<uintptr_t>(p) + a.block; c += kChunk)
      chunks.push_back(c);
  }
  bench::Rng rng{a.seed};
  std::vector<uint32_t> perm = bench::permutation(chunks.size(), rng);
  const auto nhot = static_cast<size_t>(static_cast<double>(chunks.size()) * a.hot);
  std::vector<uintptr_t> hot;
  std::vector<uintptr_t> cold;
  for (size_t i = 0; i < perm.size(); ++i) (i < nhot ? hot : cold).push_back(chunks[perm[i]]);
  FILE* f = std::fopen(a.out.c_str(), "w");
  if (f == nullptr) return 1;
  for (uintptr_t c : hot) std::fprintf(f, "hot 0x%llx\n", static_cast<unsigned long long>(c >> 21));
  std::fprintf(f, "chunks %zu\n", chunks.size());
  if (!chunks.empty())
    std::fprintf(
        f, "heap_lo 0x%llx\nheap_hi 0x%llx\n",
        static_cast<unsigned long long>(*std::min_element(chunks.begin(), chunks.end()) >> 21),
        static_cast<unsigned long long>(*std::max_element(chunks.begin(), chunks.end()) >> 21));
  const double t_upd = now_s(CLOCK_REALTIME);
  std::fprintf(f, "setup_s %.3f\nupdates_realtime %.6f\n", t_upd - t_start, t_upd);
  const uint64_t hot_th = bench::threshold(a.hot_share);
  const uint64_t words = kChunk / 8;
  uint64_t ops = 0;
  const double t0 = now_s(CLOCK_MONOTONIC);
  const double cpu0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  double t = t0;
  while (t - t0 < a.seconds) {
    for (int i = 0; i < 65536; ++i) {
      const uint64_t r = rng.next();
      const std::vector<uintptr_t>& set = (r < hot_th || cold.empty()) ? hot : cold;
      const uintptr_t c = set[rng.below(set.size())];
      ++reinterpret_cast<uint64_t*>(c)[r % words];
    }
    ops += 65536;
    t = now_s(CLOCK_MONOTONIC);
  }
  const bench::StrataCounters sc = bench::strata_counters();
  // Per second of the updating thread's CPU time too: on a loaded machine
  // the wall-time rate also counts the time other programs took the CPU.
  std::fprintf(f, "ops_per_cpu_s %.1f\n",
               static_cast<double>(ops) / (now_s(CLOCK_THREAD_CPUTIME_ID) - cpu0));
  std::fprintf(f, "ops_per_s %.1f\nwall_s %.3f\nrss_kb %llu\nhwm_kb %llu\n",
               static_cast<double>(ops) / (t - t0), t - t0,
               static_cast<unsigned long long>(status_kb("VmRSS:")),
               static_cast<unsigned long long>(status_kb("VmHWM:")));
  std::fprintf(f, "process_s %.3f\n", now_s(CLOCK_REALTIME) - t_start);
  std::fprintf(f, "intervals %llu\nengine_cpu_ms %.1f\nsampler_cpu_ms %.1f\nupdate_s %.3f\n",
               static_cast<unsigned long long>(sc.engine_intervals), sc.engine_cpu_ms,
               sc.sampler_cpu_ms, t - t0);
  std::fclose(f);
  return 0;
}

using Results = std::map<std::string, std::string>;

// Runs this binary with --child; the child's "key value" lines (hot chunks
// under "hot", one per line) in *res and *hot.
bool run(const Args& a, const char* self, bool preload, const std::string& prof, Results* res,
         std::set<uint64_t>* hot) {
  const std::string out = a.workdir + "/strata-bench-scale." + std::to_string(getpid()) +
                          (preload ? ".strata" : ".bare");
  std::vector<std::string> argv = {self,
                                   "--child",
                                   "--out=" + out,
                                   "--footprint=" + std::to_string(a.footprint),
                                   "--block=" + std::to_string(a.block),
                                   "--seconds=" + std::to_string(a.seconds),
                                   "--seed=" + std::to_string(a.seed),
                                   "--hot=" + std::to_string(a.hot),
                                   "--hot-share=" + std::to_string(a.hot_share),
                                   std::string("--thp=") + (a.huge ? "huge" : "4k")};
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (preload) {
      setenv("LD_PRELOAD", a.lib.c_str(), 1);
      setenv("STRATA_PROFILE", prof.c_str(), 1);
      if (!a.sampler.empty()) setenv("STRATA_SAMPLER", a.sampler.c_str(), 1);
    } else {
      unsetenv("LD_PRELOAD");
    }
    std::vector<char*> v;
    for (std::string& s : argv) v.push_back(s.data());
    v.push_back(nullptr);
    execv(self, v.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::fprintf(stderr, "strata-bench-scale: the %s run failed (status 0x%x)\n",
                 preload ? "preloaded" : "bare", st);
    return false;
  }
  FILE* f = std::fopen(out.c_str(), "r");
  if (f == nullptr) return false;
  char k[64];
  char v[128];
  while (std::fscanf(f, "%63s %127s", k, v) == 2) {
    if (std::strcmp(k, "hot") == 0)
      hot->insert(std::strtoull(v, nullptr, 16));
    else
      (*res)[k] = v;
  }
  std::fclose(f);
  unlink(out.c_str());
  return true;
}

double num(const Results& r, const char* k) {
  auto it = r.find(k);
  return it == r.end() ? 0 : std::strtod(it->second.c_str(), nullptr);
}

struct Point {
  double t = 0;  // seconds since the updates began
  double precision = 0;
  double recall = 0;
  size_t reported = 0;
};

// Per interval: the heap's chunks reported hot against the truth. Chunks
// outside the heap (strata's own, libc's) are not counted.
std::vector<Point> score(const Args& a, const std::string& prof, double updates_realtime,
                         const std::set<uint64_t>& hot, uint64_t heap_lo, uint64_t heap_hi) {
  std::vector<Point> pts;
  const std::string cmd = a.report + " " + prof + " --format chunks";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return pts;
  char line[256];
  double start = 0;
  long cur = -1;
  Point pt;
  size_t tp = 0;
  auto flush = [&] {
    if (cur < 0) return;
    pt.precision = pt.reported > 0 ? static_cast<double>(tp) / static_cast<double>(pt.reported) : 0;
    pt.recall = hot.empty() ? 0 : static_cast<double>(tp) / static_cast<double>(hot.size());
    pts.push_back(pt);
  };
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strncmp(line, "# start_ns", 10) == 0) start = std::strtod(line + 11, nullptr) / 1e9;
    if (line[0] == '#') continue;
    long iv = 0;
    double t = 0;
    unsigned long long id = 0;
    double heat = 0;
    if (std::sscanf(line, "%ld %lf %llx %lf", &iv, &t, &id, &heat) != 4) continue;
    if (iv != cur) {
      flush();
      cur = iv;
      pt = Point{};
      pt.t = start + t - updates_realtime;
      tp = 0;
    }
    if (id < heap_lo || id > heap_hi || heat < a.hot_heat) continue;
    ++pt.reported;
    if (hot.count(id) != 0) ++tp;
  }
  flush();
  pclose(p);
  return pts;
}

int drive(const Args& a, const char* self) {
  const std::string prof = a.workdir + "/strata-bench-scale." + std::to_string(getpid()) + ".prof";
  std::printf(
      "strata-bench-scale: footprint %s in %s blocks, %s pages, hot %.0f%% of chunks "
      "with %.0f%% of updates, %.0f s, seed %llu\n",
      bench::size_str(a.footprint).c_str(), bench::size_str(a.block).c_str(),
      a.huge ? "huge" : "4 KiB", a.hot * 100, a.hot_share * 100, a.seconds,
      static_cast<unsigned long long>(a.seed));
  std::fflush(stdout);
  Results bare;
  Results pre;
  std::set<uint64_t> hot;
  std::set<uint64_t> hot2;
  if (!run(a, self, false, prof, &bare, &hot)) return 1;
  if (!run(a, self, true, prof, &pre, &hot2)) return 1;
  // The heap's chunk range, to tell its chunks from strata's and libc's.
  const uint64_t lo = std::strtoull(pre["heap_lo"].c_str(), nullptr, 16);
  const uint64_t hi = std::strtoull(pre["heap_hi"].c_str(), nullptr, 16);
  std::vector<Point> pts = score(a, prof, num(pre, "updates_realtime"), hot2, lo, hi);
  unlink(prof.c_str());
  const double cpu_pct = num(pre, "engine_cpu_ms") / 10 / num(pre, "process_s");
  double first = -1;  // first time both reach 0.9 and stay there
  for (size_t i = 0; i < pts.size(); ++i) {
    bool ok = true;
    for (size_t j = i; j < pts.size() && ok; ++j)
      ok = pts[j].t < 0 || (pts[j].precision >= 0.9 && pts[j].recall >= 0.9);
    if (ok && pts[i].t >= 0) {
      first = pts[i].t;
      break;
    }
  }
  if (a.verbose)
    for (const Point& p : pts)
      std::printf("  t %7.2f s  reported %5zu  precision %.3f  recall %.3f\n", p.t, p.reported,
                  p.precision, p.recall);
  const Point last = pts.empty() ? Point{} : pts.back();
  std::printf("setup %.1f s (bare) / %.1f s (strata); updates %.1f s\n", num(bare, "setup_s"),
              num(pre, "setup_s"), num(pre, "update_s"));
  std::printf("intervals %.0f in %.1f s of process (%.0f during updates)\n", num(pre, "intervals"),
              num(pre, "process_s"),
              static_cast<double>(
                  std::count_if(pts.begin(), pts.end(), [](const Point& p) { return p.t >= 0; })));
  std::printf("engine CPU %.1f ms (sampler %.1f ms) = %.2f%% of wall time; %.1f ms per interval\n",
              num(pre, "engine_cpu_ms"), num(pre, "sampler_cpu_ms"), cpu_pct,
              num(pre, "intervals") > 0 ? num(pre, "engine_cpu_ms") / num(pre, "intervals") : 0);
  std::printf(
      "hot chunks %zu of %.0f; last interval: reported %zu, precision %.3f, recall %.3f; "
      "P,R >= 0.9 from %s\n",
      hot2.size(), num(pre, "chunks"), last.reported, last.precision, last.recall,
      first >= 0 ? (std::to_string(first).substr(0, 5) + " s").c_str() : "never");
  const double speed =
      num(bare, "ops_per_s") > 0 ? num(pre, "ops_per_s") / num(bare, "ops_per_s") : 0;
  std::printf("speed %.3f (%.2f M updates/s under strata, %.2f M bare)\n", speed,
              num(pre, "ops_per_s") / 1e6, num(bare, "ops_per_s") / 1e6);
  const double cpu_speed =
      num(bare, "ops_per_cpu_s") > 0 ? num(pre, "ops_per_cpu_s") / num(bare, "ops_per_cpu_s") : 0;
  std::printf("speed per CPU second of the updating thread %.3f (%.2f M / %.2f M)\n", cpu_speed,
              num(pre, "ops_per_cpu_s") / 1e6, num(bare, "ops_per_cpu_s") / 1e6);
  std::printf(
      "RSS %.1f MiB under strata, %.1f MiB bare: overhead %.1f MiB (%.2f%% of the "
      "footprint)\n",
      num(pre, "rss_kb") / 1024, num(bare, "rss_kb") / 1024,
      (num(pre, "rss_kb") - num(bare, "rss_kb")) / 1024,
      (num(pre, "rss_kb") - num(bare, "rss_kb")) * 1024 * 100 / static_cast<double>(a.footprint));
  return 0;
}

bool parse(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto val = [&](const char* k, std::string* out) {
      const size_t n = std::strlen(k);
      if (s.compare(0, n, k) != 0) return false;
      *out = s.substr(n);
      return true;
    };
    std::string v;
    bool ok = true;
    if (s == "--child")
      a->child = true;
    else if (s == "--verbose")
      a->verbose = true;
    else if (val("--lib=", &a->lib) || val("--report=", &a->report) || val("--out=", &a->out) ||
             val("--sampler=", &a->sampler) || val("--workdir=", &a->workdir))
      ok = true;
    else if (val("--footprint=", &v))
      ok = bench::parse_size(v, &a->footprint) && a->footprint >= 16 * kChunk;
    else if (val("--block=", &v))
      ok = bench::parse_size(v, &a->block) && a->block >= kChunk;
    else if (val("--seconds=", &v))
      ok = bench::parse_double(v, &a->seconds) && a->seconds > 0;
    else if (val("--seed=", &v))
      ok = bench::parse_u64(v, &a->seed);
    else if (val("--hot=", &v))
      ok = bench::parse_double(v, &a->hot) && a->hot > 0 && a->hot < 1;
    else if (val("--hot-share=", &v))
      ok = bench::parse_double(v, &a->hot_share) && a->hot_share >= 0 && a->hot_share <= 1;
    else if (val("--hot-heat=", &v))
      ok = bench::parse_double(v, &a->hot_heat);
    else if (val("--thp=", &v))
      ok = (v == "huge" || v == "4k") && ((a->huge = v == "huge"), true);
    else
      ok = false;
    if (!ok) {
      std::fprintf(stderr,
                   "strata-bench-scale: bad argument \"%s\"\nusage: strata-bench-scale "
                   "--lib=PATH [--footprint=16G] [--seconds=30] [--seed=7] [--thp=huge|4k] "
                   "[--hot=0.1] [--hot-share=1] [--hot-heat=0.5] [--block=64M] "
                   "[--sampler=SPEC] [--report=PATH] [--workdir=DIR] [--verbose]\n",
                   s.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, &a)) return 2;
  if (a.child) return run_child(a);
  if (a.lib.empty()) {
    std::fprintf(stderr, "strata-bench-scale: --lib=PATH (libstrata.so) is required\n");
    return 2;
  }
  char self[4096] = {};
  if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 1;
  if (a.report.empty()) {
    std::string dir = self;
    a.report = dir.substr(0, dir.rfind('/')) + "/strata-report";
  }
  return drive(a, self);
}
