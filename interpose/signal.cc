// sigaction, signal and their variants: a program's handler for an
// asynchronous signal is installed behind strata::sigsafe::wrapper, which
// lets a handler that interrupted the allocator allocate from the handler
// heap (allocator/sigsafe.h). What the program asked for is what it reads
// back: SIG_DFL, SIG_IGN and the synchronous signals pass straight through,
// and the old action reported is the program's own handler and flags.
// glibc's signal(), sigset() and friends call its sigaction internally
// (not through the dynamic linker), so each is defined here too.
#include <dlfcn.h>
#include <signal.h>

#include <atomic>
#include <cerrno>

#include "allocator/heap.h"
#include "allocator/sigsafe.h"
#include "interpose/export.h"

namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
constinit std::atomic<SigactionFn> g_real{nullptr};

SigactionFn real_sigaction() {
  SigactionFn f = g_real.load(std::memory_order_acquire);
  if (f == nullptr) {
    strata::heap::ReentrancyGuard g;
    f = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
    strata::sigsafe::init_text();
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
  if (!strata::sigsafe::wrappable(sig)) return real(sig, act, old);
  struct sigaction prev {};
  int r = 0;
  const strata::sigsafe::UserAction before = strata::sigsafe::user(sig);
  if (act != nullptr && is_handler(act)) {
    struct sigaction w = *act;
    w.sa_flags |= SA_SIGINFO;
    w.sa_sigaction = strata::sigsafe::wrapper;
    strata::sigsafe::set_user(sig, {reinterpret_cast<void (*)()>(act->sa_handler), act->sa_flags});
    r = real(sig, &w, &prev);
    if (r != 0) strata::sigsafe::set_user(sig, before);
  } else {
    r = real(sig, act, &prev);
  }
  if (r != 0) return r;
  if (old != nullptr) {
    *old = prev;
    if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction == strata::sigsafe::wrapper) {
      // Report the program's own handler and flags (as they were before this call).
      old->sa_flags = before.flags;
      old->sa_handler = reinterpret_cast<void (*)(int)>(before.fn);
    }
  }
  return 0;
}

sighandler_t signal_impl(int sig, sighandler_t h, int flags) {
  if (h == SIG_ERR || sig <= 0 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction act {};
  struct sigaction old {};
  act.sa_handler = h;
  act.sa_flags = flags;
  sigemptyset(&act.sa_mask);
  if (flags == SA_RESTART) sigaddset(&act.sa_mask, sig);  // BSD: blocked while it runs
  if (sigaction_impl(sig, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

// System V sigset(): SIG_HOLD blocks sig; a disposition unblocks it. Returns
// SIG_HOLD when sig was blocked before, else the previous disposition.
sighandler_t sigset_impl(int sig, sighandler_t h) {
  if (h == SIG_ERR || sig <= 0 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  sigset_t one;
  sigset_t before;
  sigemptyset(&one);
  sigaddset(&one, sig);
  struct sigaction old {};
  if (h == SIG_HOLD) {
    if (sigaction_impl(sig, nullptr, &old) != 0 || pthread_sigmask(SIG_BLOCK, &one, &before) != 0)
      return SIG_ERR;
  } else {
    struct sigaction act {};
    act.sa_handler = h;
    sigemptyset(&act.sa_mask);
    if (sigaction_impl(sig, &act, &old) != 0 || pthread_sigmask(SIG_UNBLOCK, &one, &before) != 0)
      return SIG_ERR;
  }
  return sigismember(&before, sig) == 1 ? SIG_HOLD : old.sa_handler;
}

}  // namespace

STRATA_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  return sigaction_impl(sig, act, old);
}

STRATA_EXPORT int __sigaction(int sig, const struct sigaction* act,
                              struct sigaction* old) noexcept {
  return sigaction_impl(sig, act, old);
}

// glibc's signal(): BSD semantics (handler kept, signal blocked while it runs, restart).
STRATA_EXPORT sighandler_t signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, SA_RESTART);
}

STRATA_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, SA_RESTART);
}

STRATA_EXPORT sighandler_t ssignal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, SA_RESTART);
}

// System V semantics: reset to SIG_DFL on delivery, not blocked while it runs.
STRATA_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, static_cast<int>(SA_RESETHAND | SA_NODEFER));
}

STRATA_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h) noexcept {
  return signal_impl(sig, h, static_cast<int>(SA_RESETHAND | SA_NODEFER));
}

STRATA_EXPORT sighandler_t sigset(int sig, sighandler_t h) noexcept {
  return sigset_impl(sig, h);
}
