// Signals that arrive while the thread is inside the allocator are deferred.
//
// A program whose signal handler allocates (outside POSIX, but common) would
// deadlock if the signal interrupted the same thread while it held one of
// the private jemalloc's mutexes (or ran inside strata, t_state.depth > 0):
// the handler's malloc waits for a lock its own thread holds. jemalloc's
// pthread_mutex_lock/trylock/unlock calls are renamed to the functions below
// (allocator/jemalloc.redefine), which count the locks the thread holds. The
// handlers a program installs (sigaction, signal; interpose/signal.cc) are
// wrapped: a signal that finds the count non-zero is blocked in the
// interrupted context and remembered, and re-raised to the same thread when
// its last lock is released. The malloc/free fast paths are untouched (they
// take no lock). Synchronous signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
// SIGTRAP, SIGSYS, SIGABRT) are never wrapped.
#pragma once

#include <pthread.h>
#include <signal.h>

extern "C" {
int strata_je_mutex_lock(pthread_mutex_t* m);
int strata_je_mutex_trylock(pthread_mutex_t* m);
int strata_je_mutex_unlock(pthread_mutex_t* m);
}

namespace strata::sigdefer {

// The kernel-level handler installed in place of a program's handler for sig.
void wrapper(int sig, siginfo_t* info, void* uc);
// Whether sig's handlers are wrapped (asynchronous signals only).
bool wrappable(int sig);
// The program's handler for sig (what sigaction() reports), set by the shims.
struct UserAction {
  void (*fn)();  // sa_handler or sa_sigaction
  int flags;     // the program's sa_flags
};
void set_user(int sig, const UserAction& a);
UserAction user(int sig);
// Re-raises the signals deferred on this thread, if it holds no lock now.
void deliver_pending();
// In a forked child: jemalloc re-initialises its mutexes without unlocking.
void reset_after_fork();

}  // namespace strata::sigdefer
