/* What a program sees of its own signal handlers is unchanged under strata
 * (which installs them behind a wrapper, allocator/sigsafe.h). Run with and
 * without the preload by compare.sh: the output must be the same. Each check
 * prints one line; a failed check exits 1.
 *
 *   - sigaction's old action is the program's handler and flags, for
 *     SA_SIGINFO and plain handlers; SIG_IGN and SIG_DFL read back as such
 *   - signal(), sysv_signal() (reset on delivery) and sigset() (SIG_HOLD)
 *   - SIG_IGN ignores; SIG_DFL after a handler terminates (in a child)
 *   - a handler that interrupts the program's own code runs normally: it gets
 *     its siginfo and context, and (under strata) allocates from the normal
 *     tier-0 heap, not the handler heap
 *   - SA_ONSTACK handlers run on the sigaltstack; handlers work after fork
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* sigset() is obsolescent, and strata defines it: it is checked here. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int g_fail;
static void check(int ok, const char* what) {
  printf("%s %s\n", ok ? "ok" : "FAIL", what);
  if (!ok) g_fail = 1;
}

static volatile sig_atomic_t g_hits;
static volatile sig_atomic_t g_bad_tier;
static volatile sig_atomic_t g_info_ok;
static volatile uintptr_t g_local;
static int (*g_tier_of)(const void*);

static void plain(int sig) {
  (void)sig;
  ++g_hits;
}

static void with_info(int sig, siginfo_t* info, void* uc) {
  if (info != NULL && info->si_signo == sig && uc != NULL) g_info_ok = 1;
  /* Interrupting the program's own code: a normal allocation. */
  void* p = malloc(64);
  if (p == NULL || (g_tier_of != NULL && g_tier_of(p) != 0)) g_bad_tier = 1;
  free(p);
  int local = 0;
  g_local = (uintptr_t)&local;
  ++g_hits;
}

static void old_action(void) {
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = with_info;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SA_SIGINFO");
  check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_sigaction == with_info &&
            (old.sa_flags & (SA_SIGINFO | SA_RESTART)) == (SA_SIGINFO | SA_RESTART),
        "oldact is the program's SA_SIGINFO handler and flags");
  sa.sa_handler = plain;
  sa.sa_flags = 0;
  check(sigaction(SIGUSR1, &sa, &old) == 0 && old.sa_sigaction == with_info,
        "replacing reports the previous handler");
  check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == plain &&
            (old.sa_flags & SA_SIGINFO) == 0,
        "oldact is the program's plain handler, without SA_SIGINFO");
  sa.sa_handler = SIG_IGN;
  check(sigaction(SIGUSR1, &sa, &old) == 0 && old.sa_handler == plain, "set SIG_IGN");
  check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_IGN, "reads back SIG_IGN");
  g_hits = 0;
  raise(SIGUSR1);
  check(g_hits == 0, "SIG_IGN ignores");
  sa.sa_handler = SIG_DFL;
  check(sigaction(SIGUSR1, &sa, &old) == 0 && old.sa_handler == SIG_IGN, "set SIG_DFL");
  check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL, "reads back SIG_DFL");
}

static void signal_variants(void) {
  check(signal(SIGUSR2, plain) == SIG_DFL, "signal returns SIG_DFL first");
  g_hits = 0;
  raise(SIGUSR2);
  raise(SIGUSR2);
  check(g_hits == 2, "signal() handler stays installed");
  check(signal(SIGUSR2, SIG_IGN) == plain, "signal returns the previous handler");
  check(signal(SIGUSR2, SIG_DFL) == SIG_IGN, "signal returns SIG_IGN");
  check(sysv_signal(SIGUSR2, plain) == SIG_DFL, "sysv_signal returns SIG_DFL");
  g_hits = 0;
  raise(SIGUSR2);
  check(g_hits == 1 && signal(SIGUSR2, SIG_DFL) == SIG_DFL, "sysv_signal resets on delivery");
  check(sigset(SIGUSR2, plain) == SIG_DFL, "sigset returns the previous disposition");
  check(sigset(SIGUSR2, SIG_HOLD) == plain, "sigset SIG_HOLD returns the handler");
  g_hits = 0;
  raise(SIGUSR2);
  check(g_hits == 0, "SIG_HOLD blocks");
  check(sigset(SIGUSR2, plain) == SIG_HOLD, "sigset returns SIG_HOLD when held");
  check(g_hits == 1, "the held signal is delivered when released");
  signal(SIGUSR2, SIG_DFL);
}

static void default_kills(void) {
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGTERM, plain);
    raise(SIGTERM);
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  check(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "SIG_DFL after a handler terminates");
}

static void interrupts_program_code(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = with_info;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  g_hits = 0;
  g_bad_tier = 0;
  g_info_ok = 0;
  struct itimerval it = {{0, 500}, {0, 500}};
  setitimer(ITIMER_REAL, &it, NULL);
  volatile unsigned long spin = 0;
  while (g_hits < 50) ++spin; /* the program's own code, no allocation */
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  check(g_info_ok == 1, "handler gets its siginfo and context");
  check(g_bad_tier == 0, "handler interrupting program code allocates normally");
  signal(SIGALRM, SIG_DFL);
}

static void alt_stack(void) {
  static char stack[1 << 16];
  stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = with_info;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  g_local = 0;
  raise(SIGUSR1);
  check(g_local >= (uintptr_t)stack && g_local < (uintptr_t)stack + sizeof stack,
        "SA_ONSTACK handler runs on the sigaltstack");
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, NULL);
  pid_t pid = fork();
  if (pid == 0) {
    g_hits = 0;
    raise(SIGUSR1);
    _exit(g_hits == 1 && g_bad_tier == 0 ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "handler runs in a forked child");
}

int main(void) {
  g_tier_of = (int (*)(const void*))dlsym(RTLD_DEFAULT, "strata_tier_of");
  setvbuf(stdout, NULL, _IOLBF, 0);
  old_action();
  signal_variants();
  default_kills();
  interrupts_program_code();
  alt_stack();
  return g_fail;
}
