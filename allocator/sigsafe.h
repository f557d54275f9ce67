// Signal handlers that allocate (outside POSIX, but common).
//
// A program's handler for an asynchronous signal is installed behind
// wrapper() (interpose/signal.cc). The wrapper looks at where the signal
// interrupted the thread: inside libstrata.so's own code (which holds the
// private jemalloc), or while the thread holds one of jemalloc's mutexes
// (counted by the renamed pthread_mutex_* calls below, which covers a libc
// call made under a lock), or while strata runs on the thread
// (heap::t_state.depth). Only then does it mark the thread (t_handler) and
// turn the malloc fast path off (heap::g_fast) while it runs:
// the handler's allocations take the slow path, which serves a marked thread
// from the handler heap (allocator/sigheap.h), never jemalloc nor a lock.
// Anywhere else the program's handler is called directly.
//
// Synchronous signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS,
// SIGABRT) are never wrapped.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <cstdint>

extern "C" {
int strata_je_mutex_lock(pthread_mutex_t* m);
int strata_je_mutex_trylock(pthread_mutex_t* m);
int strata_je_mutex_unlock(pthread_mutex_t* m);
}

namespace strata::sigsafe {

// > 0 while a handler that interrupted the allocator runs on this thread.
extern __thread int t_handler __attribute__((tls_model("initial-exec")));
inline bool in_handler() {
  return __builtin_expect(t_handler != 0, 0);
}

// The kernel-level handler installed in place of a program's handler for sig.
void wrapper(int sig, siginfo_t* info, void* uc);
// Whether sig's handlers are wrapped (asynchronous signals only).
bool wrappable(int sig);
// Finds libstrata.so's text once (before the first wrapper is installed).
void init_text();

// The program's handler for sig (what sigaction() reports), set by the shims.
struct UserAction {
  void (*fn)();  // sa_handler or sa_sigaction
  int flags;     // the program's sa_flags
};
void set_user(int sig, const UserAction& a);
UserAction user(int sig);

// Sets heap::g_fast to mode (a heap::FastMode), or to kFastOff until the
// handlers that interrupted the allocator have returned.
void set_fast_mode(uint8_t mode);

// In a forked child: jemalloc re-initialises its mutexes without unlocking.
void reset_after_fork();

}  // namespace strata::sigsafe
