#include "allocator/sigdefer.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "allocator/heap.h"

namespace strata::sigdefer {
namespace {

constexpr int kMaxSig = 65;
constinit std::atomic<void (*)()> g_fn[kMaxSig] = {};
constinit std::atomic<int> g_flags[kMaxSig] = {};

struct Deferred {
  int locks;                // jemalloc mutexes this thread holds
  unsigned long long mask;  // deferred signals (bit sig - 1)
  siginfo_t info[kMaxSig];  // their siginfo, re-queued on delivery
};
__thread Deferred t_def __attribute__((tls_model("initial-exec")));

bool busy() {
  return t_def.locks > 0 || heap::t_state.depth > 0;
}

}  // namespace

bool wrappable(int sig) {
  switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
    case SIGABRT:
    case SIGKILL:
    case SIGSTOP:
      return false;
    default:
      return sig > 0 && sig < kMaxSig;
  }
}

void set_user(int sig, const UserAction& a) {
  g_flags[sig].store(a.flags, std::memory_order_relaxed);
  g_fn[sig].store(a.fn, std::memory_order_release);
}

UserAction user(int sig) {
  return {g_fn[sig].load(std::memory_order_acquire), g_flags[sig].load(std::memory_order_relaxed)};
}

void wrapper(int sig, siginfo_t* info, void* uc) {
  if (busy()) {
    // Keep it blocked after this return; deliver_pending() raises it again.
    sigaddset(&static_cast<ucontext_t*>(uc)->uc_sigmask, sig);
    if (info != nullptr) t_def.info[sig - 1] = *info;
    t_def.mask |= 1ULL << (sig - 1);
    return;
  }
  const UserAction a = user(sig);
  if ((a.flags & SA_SIGINFO) != 0) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.fn)(sig, info, uc);
  } else {
    auto h = reinterpret_cast<void (*)(int)>(a.fn);
    if (h != SIG_DFL && h != SIG_IGN) h(sig);
  }
}

void deliver_pending() {
  if (__builtin_expect(t_def.mask == 0, 1) || busy()) return;
  const int saved = errno;
  const unsigned long long m = t_def.mask;
  t_def.mask = 0;
  sigset_t set;
  sigemptyset(&set);
  const pid_t pid = getpid();
  const auto tid = static_cast<pid_t>(syscall(SYS_gettid));
  for (int sig = 1; sig < kMaxSig; ++sig) {
    if ((m & (1ULL << (sig - 1))) == 0) continue;
    // The original siginfo when the kernel takes it back (own process), else a plain signal.
    if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &t_def.info[sig - 1]) != 0)
      syscall(SYS_tgkill, pid, tid, sig);
    sigaddset(&set, sig);
  }
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  errno = saved;
}

void reset_after_fork() {
  t_def.locks = 0;
  // Signals deferred in the parent were the parent's: unblock, do not raise.
  sigset_t set;
  sigemptyset(&set);
  for (int sig = 1; sig < kMaxSig; ++sig)
    if ((t_def.mask & (1ULL << (sig - 1))) != 0) sigaddset(&set, sig);
  t_def.mask = 0;
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

}  // namespace strata::sigdefer

extern "C" {

int strata_je_mutex_lock(pthread_mutex_t* m) {
  ++strata::sigdefer::t_def.locks;
  return pthread_mutex_lock(m);
}

int strata_je_mutex_trylock(pthread_mutex_t* m) {
  ++strata::sigdefer::t_def.locks;
  int r = pthread_mutex_trylock(m);
  if (r != 0) --strata::sigdefer::t_def.locks;
  return r;
}

int strata_je_mutex_unlock(pthread_mutex_t* m) {
  int r = pthread_mutex_unlock(m);
  if (--strata::sigdefer::t_def.locks == 0) strata::sigdefer::deliver_pending();
  return r;
}

}  // extern "C"
