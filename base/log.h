// Logging that never allocates: a stack buffer, vsnprintf with plain
// conversions (%s %d %u %zu %llu %x %p), one write(2) per line, a fixed
// "strata: " prefix, and a cap on the number of lines per process. Control
// characters in a message are written escaped (\n, \t, \r, \xNN): a message is
// always one line, whatever values it quotes.
#pragma once

namespace strata {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel l);
LogLevel log_level();
void log_msg(LogLevel l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
// STRATA_STRICT=1 after a configuration error was reported: says so, exits 2.
[[noreturn]] void exit_strict();
// A broken invariant (STRATA_ASSERT): one line "strata: assertion failed at
// FILE:LINE: COND", written even past the line cap, then abort().
[[noreturn]] void assert_fail(const char* file, int line, const char* cond);

}  // namespace strata

#define STRATA_LOG(level, ...)                                              \
  do {                                                                      \
    if (static_cast<int>(level) <= static_cast<int>(::strata::log_level())) \
      ::strata::log_msg(level, __VA_ARGS__);                                \
  } while (0)

// STRATA_ASSERT(cond): checked in STRATA_DEBUG builds (cmake -DSTRATA_DEBUG=ON),
// compiled out otherwise (the condition is not evaluated, but still compiled).
#if defined(STRATA_DEBUG) && STRATA_DEBUG
#define STRATA_ASSERT(cond)                                                             \
  do {                                                                                  \
    if (__builtin_expect(!(cond), 0)) ::strata::assert_fail(__FILE__, __LINE__, #cond); \
  } while (0)
#else
#define STRATA_ASSERT(cond)             \
  do {                                  \
    if (false) static_cast<void>(cond); \
  } while (0)
#endif
