// libm's functions, resolved with dlopen on first use instead of being a
// NEEDED entry of libstrata.so: loading libm.so.6 costs every exec about
// 0.4 ms (docs/benchmarks.md, "Per-exec cost"), and only the profiler, the heat
// model and the private jemalloc's (disabled) profiling code use it.
//
// load() dlopens libm.so.6 (which allocates): call it from a cold path where
// malloc may run and no strata lock is held (the profiler's start, the engine
// thread's start). The functions call load() themselves if nobody did, so
// tools and tests need nothing. Results are libm's own, bit for bit.
#pragma once

#include <cstdint>

namespace strata::math {

// True when libm's functions are resolved; otherwise false with *why (if
// given) naming what failed. Thread-safe; the work is done once.
bool load(const char** why = nullptr);

// If libm cannot be loaded (a broken system), these return NaN.
double log(double x);
double exp(double x);
double expm1(double x);
double pow(double x, double y);
double round(double x);

// llround for a non-negative count, in integer arithmetic (no libm): the
// nearest integer, halves away from zero; 0 for a negative or NaN count.
// x - floor(x) is exact for every double below 2^63.
inline uint64_t round_count(double x) {
  if (!(x > 0)) return 0;
  if (x >= 0x1p63) return UINT64_MAX;
  const auto whole = static_cast<uint64_t>(x);
  return x - static_cast<double>(whole) >= 0.5 ? whole + 1 : whole;
}

}  // namespace strata::math

// The private jemalloc's libm references are renamed to these
// (allocator/jemalloc.redefine); its profiling code, the only user, is off.
extern "C" {
double strata_libm_log(double x);
double strata_libm_exp(double x);
double strata_libm_round(double x);
double strata_libm_pow(double x, double y);
}
