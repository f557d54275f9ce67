// sigaction and signal: a program's handler for an asynchronous signal is
// installed behind strata::sigdefer::wrapper, which defers a signal that
// arrives while the thread holds an allocator lock (allocator/sigdefer.h).
// What the program asked for is what it reads back.
#include <dlfcn.h>
#include <signal.h>

#include <atomic>
#include <cerrno>

#include "allocator/heap.h"
#include "allocator/sigdefer.h"
#include "interpose/export.h"

namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
constinit std::atomic<SigactionFn> g_real{nullptr};

SigactionFn real_sigaction() {
  SigactionFn f = g_real.load(std::memory_order_acquire);
  if (f == nullptr) {
    strata::heap::ReentrancyGuard g;
    f = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
    g_real.store(f, std::memory_order_release);
  }
  return f;
}

bool is_handler(const struct sigaction* a) {
  return (a->sa_flags & SA_SIGINFO) != 0 || (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN);
}

int sigaction_impl(int sig, const struct sigaction* act, struct sigaction* old) {
  SigactionFn real = real_sigaction();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  if (!strata::sigdefer::wrappable(sig)) return real(sig, act, old);
  struct sigaction prev {};
  int r = 0;
  if (act != nullptr && is_handler(act)) {
    struct sigaction w = *act;
    w.sa_flags |= SA_SIGINFO;
    w.sa_sigaction = strata::sigdefer::wrapper;
    const strata::sigdefer::UserAction before = strata::sigdefer::user(sig);
    strata::sigdefer::set_user(sig, {reinterpret_cast<void (*)()>(act->sa_handler), act->sa_flags});
    r = real(sig, &w, &prev);
    if (r != 0) strata::sigdefer::set_user(sig, before);
  } else {
    r = real(sig, act, &prev);
  }
  if (r != 0) return r;
  if (old != nullptr) {
    *old = prev;
    if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction == strata::sigdefer::wrapper) {
      // Report the program's own handler and flags.
      const strata::sigdefer::UserAction u = strata::sigdefer::user(sig);
      old->sa_flags = u.flags;
      old->sa_handler = reinterpret_cast<void (*)(int)>(u.fn);
    }
  }
  return 0;
}

sighandler_t signal_impl(int sig, sighandler_t h, int flags) {
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = h;
  act.sa_flags = flags;
  sigemptyset(&act.sa_mask);
  if (sigaction_impl(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

}  // namespace

STRATA_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  return sigaction_impl(sig, act, old);
}

// glibc's signal(): BSD semantics (handler kept, signal blocked while it runs, restart).
STRATA_EXPORT sighandler_t signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, SA_RESTART);
}

STRATA_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, SA_RESTART);
}

// System V semantics: reset to SIG_DFL on delivery, not blocked while it runs.
STRATA_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, static_cast<int>(SA_RESETHAND | SA_NODEFER));
}
