// Reading a /proc or sysfs listing in whole lines through a caller's buffer,
// without allocating (the samplers run inside the allocator's process).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace strata::sampling {

// Calls fn(line, line_end) for each line of fd (without its '\n'; the last
// line too when the file does not end with one). A line longer than cap is
// skipped whole. fn returns 0 to go on, anything else to stop with that value.
// Returns 0, fn's value, or -errno of a failed read. The kernel resumes a
// /proc listing by position, so entries that change between reads are
// neither lost nor repeated.
template <typename F>
int for_each_line(int fd, char* buf, size_t cap, F&& fn) {
  size_t have = 0;
  bool skipping = false;  // inside a line longer than the buffer
  for (;;) {
    ssize_t n = ::read(fd, buf + have, cap - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    have += static_cast<size_t>(n);
    const char* p = buf;
    const char* end = buf + have;
    for (;;) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) break;
      const int r = skipping ? 0 : fn(p, nl);
      skipping = false;
      if (r != 0) return r;
      p = nl + 1;
    }
    size_t rest = static_cast<size_t>(end - p);
    if (rest == cap) {  // no newline in a full buffer: drop up to the next one
      skipping = true;
      rest = 0;
    }
    std::memmove(buf, p, rest);
    have = rest;
    if (n == 0) return have > 0 && !skipping ? fn(buf, buf + have) : 0;
  }
}

}  // namespace strata::sampling
