// _exit and _Exit: a process that ends with _exit (forked children mostly do,
// e.g. Python's multiprocessing and os._exit) runs no destructors, so the
// runtime gets its last word here (the profile), then the process exits as
// libc's _exit would. vfork and posix_spawn children are left alone: they
// share the parent's memory and strata never marks them as forked children.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "interpose/export.h"

// As glibc declares them (noreturn): _exit without, _Exit with an exception
// specification.
STRATA_EXPORT void _exit(int status) {
  strata::rt::before_quick_exit();
  for (;;) syscall(SYS_exit_group, status);
}

STRATA_EXPORT void _Exit(int status) noexcept {
  strata::rt::before_quick_exit();
  for (;;) syscall(SYS_exit_group, status);
}
