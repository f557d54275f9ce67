#include "base/outfile.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/sys.h"

namespace strata::sys {
namespace {

void say(char* why, size_t cap, const char* what) {
  std::snprintf(why, cap, "%s", what);
}

// The kind of file a stat describes, for messages.
const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISLNK(m)) return "a symbolic link";
  return "not a regular file";
}

bool is_stream(mode_t m) {
  return S_ISFIFO(m) || S_ISCHR(m);
}

// A FIFO or character device, opened without creating, truncating or
// blocking; the descriptor is made blocking again for the writes.
bool open_stream(const char* path, OutFile* f, char* why, size_t cap) {
  int fd = ::open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    say(why, cap, errno == ENXIO ? "a FIFO without a reader" : std::strerror(errno));
    return false;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !is_stream(st.st_mode)) {
    ::close(fd);
    say(why, cap, "changed while being opened (expected a FIFO or character device)");
    return false;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  f->fd = fd;
  f->temp = false;
  return true;
}

// path (not followed) is missing or a regular file this process owns.
bool replaceable(const char* path, struct stat* st, bool* exists, char* why, size_t cap) {
  *exists = false;
  if (lstat(path, st) != 0) {
    if (errno == ENOENT) return true;
    say(why, cap, std::strerror(errno));
    return false;
  }
  *exists = true;
  if (!S_ISREG(st->st_mode)) {
    say(why, cap, kind_of(st->st_mode));
    return false;
  }
  if (st->st_uid != geteuid()) {
    say(why, cap, "a file owned by another user");
    return false;
  }
  return true;
}

uint64_t random64() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof r))
    r = now_ns(CLOCK_MONOTONIC) ^ (static_cast<uint64_t>(getpid()) << 32) ^
        reinterpret_cast<uintptr_t>(&r);
  return r;
}

bool open_temp(const char* path, const struct stat* old, OutFile* f, char* why, size_t cap) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    int n = std::snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%016llx", path,
                          static_cast<unsigned long long>(random64()));
    if (n < 0 || static_cast<size_t>(n) >= sizeof f->tmp) {
      say(why, cap, "path too long");
      return false;
    }
    int fd = ::open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) {
      say(why, cap, std::strerror(errno));
      return false;
    }
    if (old != nullptr) fchmod(fd, old->st_mode & 07777);
    f->fd = fd;
    f->temp = true;
    return true;
  }
  say(why, cap, "no unused temporary file name");
  return false;
}

}  // namespace

bool out_open(const char* path, OutMode mode, OutFile* f, char* why, size_t cap) {
  f->fd = -1;
  f->temp = false;
  f->tmp[0] = '\0';
  struct stat st {};
  if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    // A stream, directly or through symbolic links; nothing else but a
    // regular file is ever written.
    struct stat target {};
    if (is_stream(st.st_mode) ||
        (S_ISLNK(st.st_mode) && stat(path, &target) == 0 && is_stream(target.st_mode)))
      return open_stream(path, f, why, cap);
    if (S_ISLNK(st.st_mode)) {
      say(why, cap, "a symbolic link (expected a regular file, a FIFO or a character device)");
      return false;
    }
    say(why, cap, kind_of(st.st_mode));
    return false;
  }
  bool exists = false;
  if (!replaceable(path, &st, &exists, why, cap)) return false;
  if (mode == OutMode::kReplace) return open_temp(path, exists ? &st : nullptr, f, why, cap);
  int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) {
    say(why, cap, std::strerror(errno));
    return false;
  }
  struct stat now {};
  if (fstat(fd, &now) != 0 || !S_ISREG(now.st_mode) || now.st_uid != geteuid()) {
    ::close(fd);
    say(why, cap, "changed while being opened (expected a regular file of this user)");
    return false;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  f->fd = fd;
  return true;
}

bool out_commit(OutFile* f, const char* path, char* why, size_t cap) {
  int fd = f->fd;
  f->fd = -1;
  if (fd < 0) {
    say(why, cap, "not open");
    return false;
  }
  if (::close(fd) != 0 && errno != EINTR) {
    say(why, cap, std::strerror(errno));
    if (f->temp) ::unlink(f->tmp);
    return false;
  }
  if (!f->temp) return true;
  f->temp = false;
  struct stat st {};
  bool exists = false;
  // rename() replaces the directory entry itself: a symbolic link planted
  // since out_open would be replaced, never followed.
  if (!replaceable(path, &st, &exists, why, cap)) {
    ::unlink(f->tmp);
    return false;
  }
  if (::rename(f->tmp, path) != 0) {
    say(why, cap, std::strerror(errno));
    ::unlink(f->tmp);
    return false;
  }
  return true;
}

void out_abort(OutFile* f) {
  if (f->fd >= 0) ::close(f->fd);
  if (f->temp) ::unlink(f->tmp);
  f->fd = -1;
  f->temp = false;
}

}  // namespace strata::sys
