// base/libm: libm's functions opened on first use give libm's own results, and
// round_count is llround for counts without libm.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "base/libm.h"

using namespace strata;

namespace {

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

}  // namespace

TEST_CASE("libm: the lazily opened functions equal libm's, bit for bit", "[libm]") {
  const char* why = nullptr;
  REQUIRE(math::load(&why));
  const double xs[] = {1e-300, 1e-9, 0.001, 0.1, 0.5, 0.999999, 1.0, 1.5, 2.0, 10.0, 123456.789};
  for (double x : xs) {
    CHECK(same_bits(math::log(x), std::log(x)));
    CHECK(same_bits(math::exp(-x), std::exp(-x)));
    CHECK(same_bits(math::expm1(-x), std::expm1(-x)));
    CHECK(same_bits(math::round(x * 7.5), std::round(x * 7.5)));
    CHECK(same_bits(math::pow(1 - 1 / (x + 2), x), std::pow(1 - 1 / (x + 2), x)));
    CHECK(same_bits(strata_libm_log(x), std::log(x)));
    CHECK(same_bits(strata_libm_exp(x), std::exp(x)));
    CHECK(same_bits(strata_libm_round(x), std::round(x)));
    CHECK(same_bits(strata_libm_pow(x, 0.3), std::pow(x, 0.3)));
  }
}

TEST_CASE("libm: round_count rounds counts as llround does", "[libm]") {
  const double xs[] = {0.0,
                       0.25,
                       0.4999999999999999,
                       0.5,
                       1.5,
                       2.5,
                       2.4999,
                       3.0,
                       1e6 + 0.5,
                       4503599627370495.5,
                       9007199254740993.0,
                       1.23e18,
                       0x1p62};
  for (double x : xs) {
    INFO(x);
    CHECK(math::round_count(x) == static_cast<uint64_t>(std::llround(x)));
  }
  CHECK(math::round_count(-3.0) == 0);
  CHECK(math::round_count(std::numeric_limits<double>::quiet_NaN()) == 0);
  CHECK(math::round_count(1e300) == UINT64_MAX);
}
