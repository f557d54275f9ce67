// Logging that never allocates: a stack buffer, vsnprintf with plain
// conversions (%s %d %u %zu %llu %x %p), one write(2) per line, a fixed
// "strata: " prefix, and a cap on the number of lines per process.
#pragma once

namespace strata {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel l);
LogLevel log_level();
void log_msg(LogLevel l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// STRATA_STRICT=1 after a configuration error was reported: says so, exits 2.
[[noreturn]] void exit_strict();

}  // namespace strata

#define STRATA_LOG(level, ...)                                              \
  do {                                                                      \
    if (static_cast<int>(level) <= static_cast<int>(::strata::log_level())) \
      ::strata::log_msg(level, __VA_ARGS__);                                \
  } while (0)
