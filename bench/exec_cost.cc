// strata-bench-exec: what a preload adds to every exec.
//
//   strata-bench-exec ROUNDS PROGRAM LABEL=PRELOAD [LABEL=PRELOAD ...]
//
// Each round runs PROGRAM once per configuration, in turn (so a drift in the
// machine's load hits every configuration alike), by fork + execve with
// LD_PRELOAD set to PRELOAD ("" means no preload). Two measures per run: wall
// time from fork to reap, and the child's CPU time (user + system, from
// wait4), which is what the exec costs the machine and, unlike wall time,
// barely moves when other processes compete for the CPUs. Prints, per
// configuration, the median, 10th and 90th percentile of both in ms.
// The harness itself is never run under the preload under test.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Config {
  std::string label;
  std::string preload;      // empty: no LD_PRELOAD at all
  std::vector<double> ms;   // wall
  std::vector<double> cpu;  // child's user + system
};

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// The environment without LD_PRELOAD, plus LD_PRELOAD=preload when given.
std::vector<std::string> make_env(const std::string& preload) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.emplace_back(*e);
  if (!preload.empty()) env.push_back("LD_PRELOAD=" + preload);
  return env;
}

double tv_ms(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3;
}

bool run_once(const char* prog, const std::vector<std::string>& env, double* ms, double* cpu) {
  std::vector<char*> envp;
  for (const auto& s : env) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(prog), nullptr};
  const double t0 = now_ms();
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execve(prog, argv, envp.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) return false;
  *ms = now_ms() - t0;
  *cpu = tv_ms(ru.ru_utime) + tv_ms(ru.ru_stime);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s ROUNDS PROGRAM LABEL=PRELOAD [LABEL=PRELOAD ...]\n", argv[0]);
    return 2;
  }
  char* end = nullptr;
  const long rounds = std::strtol(argv[1], &end, 10);
  if (*end != '\0' || rounds < 1) {
    std::fprintf(stderr, "strata-bench-exec: ROUNDS '%s': expected a positive integer\n", argv[1]);
    return 2;
  }
  const char* prog = argv[2];
  std::vector<Config> cfgs;
  for (int i = 3; i < argc; ++i) {
    const char* eq = std::strchr(argv[i], '=');
    if (eq == nullptr) {
      std::fprintf(stderr, "strata-bench-exec: '%s': expected LABEL=PRELOAD\n", argv[i]);
      return 2;
    }
    cfgs.push_back(
        {std::string(argv[i], static_cast<size_t>(eq - argv[i])), std::string(eq + 1), {}, {}});
  }
  std::vector<std::vector<std::string>> envs;
  for (const auto& c : cfgs) envs.push_back(make_env(c.preload));
  for (long r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < cfgs.size(); ++k) {
      double ms = 0;
      double cpu = 0;
      if (!run_once(prog, envs[k], &ms, &cpu)) {
        std::fprintf(stderr, "strata-bench-exec: %s under '%s' failed\n", prog,
                     cfgs[k].label.c_str());
        return 1;
      }
      cfgs[k].ms.push_back(ms);
      cfgs[k].cpu.push_back(cpu);
    }
  }
  std::printf("%-10s %10s %8s %8s %9s %10s %8s %8s %9s\n", "config", "wall_med", "p10", "p90",
              "+vs_first", "cpu_med", "p10", "p90", "+vs_first");
  const double base_wall = pct(cfgs[0].ms, 0.5);
  const double base_cpu = pct(cfgs[0].cpu, 0.5);
  for (const auto& c : cfgs) {
    const double wall = pct(c.ms, 0.5);
    const double cpu = pct(c.cpu, 0.5);
    std::printf("%-10s %10.3f %8.3f %8.3f %+9.3f %10.3f %8.3f %8.3f %+9.3f\n", c.label.c_str(),
                wall, pct(c.ms, 0.1), pct(c.ms, 0.9), wall - base_wall, cpu, pct(c.cpu, 0.1),
                pct(c.cpu, 0.9), cpu - base_cpu);
  }
  return 0;
}
