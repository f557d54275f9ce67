// Output files named by the user (STRATA_PROFILE, STRATA_METRICS,
// STRATA_STATS): created so that they cannot be turned against anyone.
//
// - A missing path or a regular file the process owns is replaced whole
//   (kReplace) through a temporary file with an unpredictable name created
//   O_EXCL|O_NOFOLLOW, mode 0600 (or the mode of the file it replaces), in
//   the target's directory, then renamed over it; or appended to (kAppend),
//   opened O_NOFOLLOW, created 0600.
// - A FIFO or a character device (/dev/stdout, /dev/null, a pipe), also when
//   named through a symbolic link, is written through as a stream, never
//   replaced; opening it never blocks (a FIFO without a reader is refused).
// - Anything else is refused: a directory, a socket, a block device, a
//   symbolic link to a regular file, a regular file another user owns.
// Nothing here allocates.
#pragma once

#include <cstddef>

namespace strata::sys {

enum class OutMode { kReplace, kAppend };

struct OutFile {
  int fd = -1;
  bool temp = false;  // fd is a temporary file to be renamed over the target
  char tmp[512] = {};
};

// Opens `path` for writing; false with a reason in why (one short phrase).
bool out_open(const char* path, OutMode mode, OutFile* f, char* why, size_t cap);
// Closes f and, for a temporary file, renames it over path (re-checking that
// path is still missing or a regular file of ours). False with a reason; the
// temporary file is removed then.
bool out_commit(OutFile* f, const char* path, char* why, size_t cap);
// Closes f and removes its temporary file.
void out_abort(OutFile* f);

}  // namespace strata::sys
