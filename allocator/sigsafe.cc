#include "allocator/sigsafe.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <ucontext.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "allocator/heap.h"
#include "base/sys.h"

// This object's own ELF header (the linker defines it): libstrata.so's load address.
extern "C" const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

namespace strata::sigsafe {

__thread int t_handler __attribute__((tls_model("initial-exec")));

namespace {

constexpr int kMaxSig = 65;
constinit std::atomic<void (*)()> g_fn[kMaxSig] = {};
constinit std::atomic<int> g_flags[kMaxSig] = {};

// Executable segments of one loaded object: [lo, lo + len).
struct Text {
  std::atomic<uintptr_t> lo{0};
  std::atomic<uintptr_t> len{0};
  bool contains(uintptr_t pc) const {
    return pc - lo.load(std::memory_order_relaxed) < len.load(std::memory_order_relaxed);
  }
};
constinit Text g_strata;  // libstrata.so, the private jemalloc included
constinit Text g_libc;    // libc: memcpy, memset, system call wrappers jemalloc calls
constinit Text g_vdso;    // clock_gettime
constexpr int kScanWords = 16;

// jemalloc mutexes this thread holds (the renamed pthread_mutex_* calls).
__thread int t_locks __attribute__((tls_model("initial-exec")));

// heap::g_fast is kFastOff while any handler that interrupted the allocator
// runs (on any thread), else the mode the heap asked for. Both change under
// g_fast_lock, taken with every signal blocked, so that a handler never
// spins on a lock its own thread holds.
constinit std::atomic<bool> g_fast_lock{false};
constinit uint8_t g_fast_mode = heap::kFastOff;
constinit int g_handlers = 0;

class FastLock {
 public:
  FastLock() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old_);
    while (g_fast_lock.exchange(true, std::memory_order_acquire)) {
    }
  }
  ~FastLock() {
    g_fast_lock.store(false, std::memory_order_release);
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  FastLock(const FastLock&) = delete;
  FastLock& operator=(const FastLock&) = delete;

 private:
  sigset_t old_;
};

void publish_fast() {
  __atomic_store_n(&heap::g_fast, g_handlers > 0 ? uint8_t{heap::kFastOff} : g_fast_mode,
                   __ATOMIC_RELEASE);
}

void fast_handler_enter() {
  FastLock l;
  ++g_handlers;
  publish_fast();
}

void fast_handler_exit() {
  FastLock l;
  --g_handlers;
  publish_fast();
}

void find_text(Text* t, uintptr_t base) {
  if (base == 0) return;
  const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
  const auto* ph = reinterpret_cast<const ElfW(Phdr)*>(base + eh->e_phoff);
  uintptr_t lo = UINTPTR_MAX;
  uintptr_t hi = 0;
  uintptr_t bias = base;
  for (int i = 0; i < eh->e_phnum; ++i) {  // the vDSO's first segment need not be at 0
    if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) bias = base - ph[i].p_vaddr;
  }
  for (int i = 0; i < eh->e_phnum; ++i) {
    if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_X) == 0) continue;
    const uintptr_t s = bias + ph[i].p_vaddr;
    if (s < lo) lo = s;
    if (s + ph[i].p_memsz > hi) hi = s + ph[i].p_memsz;
  }
  if (hi <= lo) return;
  t->lo.store(lo, std::memory_order_relaxed);
  t->len.store(hi - lo, std::memory_order_release);
}

// Whether the signal interrupted the allocator on this thread: strata's own
// code, a lock it holds, or a libc / vDSO leaf called from strata (memcpy in
// a thread-cache flush, a system call): then a return address into strata
// is among the first words of the stack. Those are read only up to the end
// of the stack pointer's page, which is mapped.
bool interrupted_allocator(const void* ucv) {
  if (t_locks > 0 || heap::t_state.depth > 0) return true;
#if defined(__x86_64__)
  const auto* uc = static_cast<const ucontext_t*>(ucv);
  const auto pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  if (g_strata.contains(pc)) return true;
  if (!g_libc.contains(pc) && !g_vdso.contains(pc)) return false;
  const auto sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  const uintptr_t page_end = (sp | (sys::kPageSize - 1)) + 1;
  const auto* w = reinterpret_cast<const uintptr_t*>(sp);
  for (int i = 0; i < kScanWords && sp + (i + 1) * sizeof(uintptr_t) <= page_end; ++i) {
    if (g_strata.contains(w[i])) return true;
  }
  return false;
#else
  (void)ucv;
  return true;  // no context decoder: every handler is served safely
#endif
}

void call_user(const UserAction& a, int sig, siginfo_t* info, void* uc) {
  if ((a.flags & SA_SIGINFO) != 0) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.fn)(sig, info, uc);
  } else {
    auto h = reinterpret_cast<void (*)(int)>(a.fn);
    if (h != SIG_DFL && h != SIG_IGN) h(sig);
  }
}

}  // namespace

void init_text() {
  if (g_strata.len.load(std::memory_order_acquire) != 0) return;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&pthread_sigmask), &info) != 0)
    find_text(&g_libc, reinterpret_cast<uintptr_t>(info.dli_fbase));
  find_text(&g_vdso, static_cast<uintptr_t>(getauxval(AT_SYSINFO_EHDR)));
  find_text(&g_strata, reinterpret_cast<uintptr_t>(&__ehdr_start));
}

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
  const UserAction a = user(sig);
  if (__builtin_expect(!interrupted_allocator(uc), 1)) {
    call_user(a, sig, info, uc);
    return;
  }
  const int saved = errno;
  ++t_handler;
  fast_handler_enter();
  errno = saved;
  call_user(a, sig, info, uc);
  const int after = errno;
  fast_handler_exit();
  --t_handler;
  errno = after;
}

void set_fast_mode(uint8_t mode) {
  FastLock l;
  g_fast_mode = mode;
  publish_fast();
}

void reset_after_fork() {
  t_locks = 0;
  // Only this thread's handlers go on running in the child.
  g_fast_lock.store(false, std::memory_order_relaxed);
  g_handlers = t_handler;
  publish_fast();
}

}  // namespace strata::sigsafe

extern "C" {

int strata_je_mutex_lock(pthread_mutex_t* m) {
  ++strata::sigsafe::t_locks;
  return pthread_mutex_lock(m);
}

int strata_je_mutex_trylock(pthread_mutex_t* m) {
  ++strata::sigsafe::t_locks;
  const int r = pthread_mutex_trylock(m);
  if (r != 0) --strata::sigsafe::t_locks;
  return r;
}

int strata_je_mutex_unlock(pthread_mutex_t* m) {
  const int r = pthread_mutex_unlock(m);
  --strata::sigsafe::t_locks;
  return r;
}

}  // extern "C"
