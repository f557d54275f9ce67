// fork/exec while other threads allocate.
//
// Background threads allocate and free continuously (both small and >= 4 KiB
// blocks, so both tiers in two-tier mode; and anonymous mmaps) while the main thread forks over and
// over. Children allocate and free, then either exec /bin/echo, exec
// `sh -c ...`, or (no exec) run a small allocation workload and exit. Their
// output comes back through a pipe and is checked by the parent.
//
// A deadlock (an allocator lock held across fork) must fail, not hang: every
// child arms alarm() first thing (SIGALRM kills it; the parent sees the signal),
// and the parent has its own alarm that prints a message and exits 1.
//
//   fork_exec [--forks N]      stdout is deterministic; exit 0 when all is well
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

namespace {

constexpr int kThreads = 3;
constexpr unsigned kChildAlarm = 20;   // seconds
constexpr unsigned kParentAlarm = 90;  // seconds

std::atomic<bool> g_stop{false};
std::atomic<long> g_thread_ops{0};

void* allocator_thread(void* arg) {
  it::Rng r(reinterpret_cast<uintptr_t>(arg) + 17);
  void* keep[64] = {};
  while (!g_stop.load(std::memory_order_relaxed)) {
    int i = static_cast<int>(r.below(64));
    if (keep[i] != nullptr) {
      std::free(keep[i]);
      keep[i] = nullptr;
    } else {
      size_t n = r.below(2) ? 16 + r.below(2000) : 4096 + r.below(200000);
      keep[i] = std::malloc(n);
      std::memset(keep[i], i, n < 256 ? n : 256);
    }
    if (r.below(64) == 0) {
      // The program's own mmaps: strata's region map is updated concurrently with fork.
      size_t len = (1 + r.below(3)) << 20;
      void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m != MAP_FAILED) {
        static_cast<char*>(m)[0] = 1;
        munmap(m, len);
      }
    }
    if (r.below(16) == 0) {
      char* s = new char[100 + r.below(10000)];
      s[0] = 1;
      it::escape(s);
      delete[] s;
    }
    g_thread_ops.fetch_add(1, std::memory_order_relaxed);
  }
  for (void* p : keep) std::free(p);
  return nullptr;
}

void on_parent_alarm(int) {
  const char msg[] =
      "fork_exec: TIMEOUT: the parent did not finish in time (deadlock after fork?)\n";
  ssize_t w = write(STDOUT_FILENO, msg, sizeof msg - 1);
  (void)w;
  _exit(1);
}

// Allocation workload run in a child before exec or exit; returns a checksum.
unsigned child_workload(int seed) {
  it::Rng r(static_cast<uint64_t>(seed));
  std::vector<std::string> v;
  unsigned sum = 0;
  for (int i = 0; i < 200; ++i) {
    v.emplace_back(static_cast<size_t>(1 + r.below(6000)), static_cast<char>('a' + i % 26));
    sum += static_cast<unsigned>(v.back().size());
  }
  void* big = std::malloc(3 << 20);
  std::memset(big, 7, 3 << 20);
  sum += static_cast<unsigned char*>(big)[12345];
  big = std::realloc(big, 5 << 20);
  sum += static_cast<unsigned char*>(big)[3 << 19];
  std::free(big);
  return sum;
}

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0)
      s.append(buf, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int forks = 90;
  if (argc == 3 && std::strcmp(argv[1], "--forks") == 0) forks = std::atoi(argv[2]);
  signal(SIGALRM, on_parent_alarm);
  alarm(kParentAlarm);

  pthread_t th[kThreads];
  for (int i = 0; i < kThreads; ++i)
    pthread_create(&th[i], nullptr, allocator_thread,
                   reinterpret_cast<void*>(static_cast<uintptr_t>(i)));

  int ok = 0;
  int bad = 0;
  int by_mode[3] = {};
  for (int i = 0; i < forks; ++i) {
    int mode = i % 3;  // 0: exec /bin/echo, 1: exec sh -c, 2: no exec
    // A little allocation in the parent right before fork, as real programs do.
    std::string tag = "child " + std::to_string(i);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      std::printf("FAIL: pipe\n");
      return 1;
    }
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      std::printf("FAIL: fork: %s\n", std::strerror(errno));
      return 1;
    }
    if (pid == 0) {
      alarm(kChildAlarm);  // first thing: a deadlocked child dies of SIGALRM
      signal(SIGALRM, SIG_DFL);
      dup2(fds[1], STDOUT_FILENO);
      unsigned sum = child_workload(i);
      if (mode == 0) {
        std::string arg = tag + " echo " + std::to_string(sum);
        execl("/bin/echo", "echo", arg.c_str(), static_cast<char*>(nullptr));
        _exit(126);
      } else if (mode == 1) {
        std::string cmd = "x=$(echo " + tag + "); echo \"$x sh " + std::to_string(sum) + "\"";
        execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
        _exit(126);
      } else {
        // No exec: a thread in the child too, then a normal exit (atexit, destructors).
        pthread_t t;
        pthread_create(
            &t, nullptr,
            [](void*) -> void* {
              unsigned s = child_workload(99);
              return reinterpret_cast<void*>(static_cast<uintptr_t>(s));
            },
            nullptr);
        void* res = nullptr;
        pthread_join(t, &res);
        std::printf("%s noexec %u %u\n", tag.c_str(), sum,
                    static_cast<unsigned>(reinterpret_cast<uintptr_t>(res)));
        std::exit(0);
      }
    }
    close(fds[1]);
    std::string out = read_all(fds[0]);
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    unsigned want = child_workload(i);
    std::string expect;
    if (mode == 0)
      expect = tag + " echo " + std::to_string(want) + "\n";
    else if (mode == 1)
      expect = tag + " sh " + std::to_string(want) + "\n";
    else
      expect =
          tag + " noexec " + std::to_string(want) + " " + std::to_string(child_workload(99)) + "\n";
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && out == expect) {
      ++ok;
      ++by_mode[mode];
    } else {
      ++bad;
      if (bad <= 10) {
        if (WIFSIGNALED(st))
          std::printf("FAIL: %s (mode %d) killed by signal %d%s\n", tag.c_str(), mode, WTERMSIG(st),
                      WTERMSIG(st) == SIGALRM ? " (timeout: deadlock in the child?)" : "");
        else
          std::printf("FAIL: %s (mode %d) exit %d, output '%s', expected '%s'\n", tag.c_str(), mode,
                      WIFEXITED(st) ? WEXITSTATUS(st) : -1, out.c_str(), expect.c_str());
      }
    }
  }
  g_stop.store(true);
  for (pthread_t t : th) pthread_join(t, nullptr);
  alarm(0);
  std::printf("fork_exec: %d forks: %d exec echo, %d exec sh, %d without exec ok; %d failed\n",
              forks, by_mode[0], by_mode[1], by_mode[2], bad);
  std::fprintf(stderr, "fork_exec: background threads did %ld operations\n", g_thread_ops.load());
  return bad == 0 && g_thread_ops.load() > 0 ? 0 : 1;
}
