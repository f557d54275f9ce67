#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "base/sys.h"

namespace strata {
namespace {
constinit std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
constinit std::atomic<int> g_lines{0};
constexpr int kMaxLines = 200;
}  // namespace

void set_log_level(LogLevel l) {
  g_level.store(static_cast<int>(l), std::memory_order_relaxed);
}
LogLevel log_level() {
  return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

void log_msg(LogLevel l, const char* fmt, ...) {
  (void)l;
  int line = g_lines.fetch_add(1, std::memory_order_relaxed);
  if (line > kMaxLines) return;
  char buf[1024];
  int n = 0;
  if (line == kMaxLines) {
    n = std::snprintf(buf, sizeof buf, "strata: further messages suppressed\n");
  } else {
    n = std::snprintf(buf, sizeof buf, "strata: ");
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n) - 1, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    n += m;
    if (n > static_cast<int>(sizeof buf) - 2) n = static_cast<int>(sizeof buf) - 2;
    // One line, whatever the values in it: control characters are escaped.
    char out[sizeof buf * 2];
    size_t o = 0;
    for (int i = 0; i < n && o + 5 < sizeof out; ++i) {
      const auto c = static_cast<unsigned char>(buf[i]);
      if (c >= 0x20 && c != 0x7f) {
        out[o++] = static_cast<char>(c);
      } else if (c == '\n' || c == '\t' || c == '\r') {
        out[o++] = '\\';
        out[o++] = c == '\n' ? 'n' : (c == '\t' ? 't' : 'r');
      } else {
        static const char kHex[] = "0123456789abcdef";
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = kHex[c >> 4];
        out[o++] = kHex[c & 15];
      }
    }
    out[o++] = '\n';
    sys::write_all(STDERR_FILENO, out, o);
    return;
  }
  sys::write_all(STDERR_FILENO, buf, static_cast<size_t>(n));
}

void exit_strict() {
  log_msg(LogLevel::kError,
          "STRATA_STRICT=1: configuration errors are fatal, exiting with status 2");
  _exit(2);
}

void assert_fail(const char* file, int line, const char* cond) {
  char buf[512];
  int n =
      std::snprintf(buf, sizeof buf, "strata: assertion failed at %s:%d: %s\n", file, line, cond);
  if (n < 0) n = 0;
  if (n > static_cast<int>(sizeof buf) - 1) n = static_cast<int>(sizeof buf) - 1;
  sys::write_all(STDERR_FILENO, buf, static_cast<size_t>(n));
  std::abort();
}

}  // namespace strata
