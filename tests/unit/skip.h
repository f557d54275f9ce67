// STRATA_SKIP(reason): a test that needs a capability this machine lacks
// (abit, perf events, idle page tracking, ...) stops here and is reported by
// ctest as skipped, with the reason, never as passed. Catch2 2.x has no skip:
// the macro prints "STRATA-SKIP: <reason>", which the unit tests'
// SKIP_REGULAR_EXPRESSION (tests/unit/CMakeLists.txt) matches. Checks made
// before the skip use REQUIRE, so that a failure is never turned into a skip.
#pragma once

#include <catch2/catch.hpp>
#include <cstdio>
#include <sstream>

#define STRATA_SKIP(reason)                                          \
  do {                                                               \
    std::ostringstream strata_skip_os_;                              \
    strata_skip_os_ << reason;                                       \
    WARN("skipped: " << strata_skip_os_.str());                      \
    std::printf("STRATA-SKIP: %s\n", strata_skip_os_.str().c_str()); \
    std::fflush(stdout);                                             \
    return;                                                          \
  } while (0)
