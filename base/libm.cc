#include "base/libm.h"

#include <dlfcn.h>

#include <atomic>
#include <limits>

namespace strata::math {
namespace {

using Fn1 = double (*)(double);
using Fn2 = double (*)(double, double);

struct Table {
  Fn1 log;
  Fn1 exp;
  Fn1 expm1;
  Fn2 pow;
  Fn1 round;
};

// Written once by the first load() to succeed, read after g_state says 1.
constinit Table g_fn{};
constinit std::atomic<int> g_state{0};  // 0 not tried, 1 loaded, 2 unavailable
constinit std::atomic<int> g_claim{0};  // 1 once a thread publishes its lookup
constinit const char* g_why = "libm.so.6 not tried";

template <typename F>
bool sym(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

double nan() {
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

bool load(const char** why) {
  int s = g_state.load(std::memory_order_acquire);
  if (s == 0) {
    // Two threads may both look libm up (dlopen counts references, both find
    // the same addresses); only the one that claims g_state publishes.
    Table t{};
    void* lib = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    bool ok = lib != nullptr;
    ok = ok && sym(lib, "log", &t.log) && sym(lib, "exp", &t.exp) &&
         sym(lib, "expm1", &t.expm1) && sym(lib, "pow", &t.pow) && sym(lib, "round", &t.round);
    // Kept loaded for the life of the process: g_fn points into it.
    int expected = 0;
    if (g_claim.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
      if (ok)
        g_fn = t;
      else
        g_why = lib == nullptr ? "libm.so.6 not loadable" : "libm.so.6 lacks log/exp/expm1/pow/round";
      g_state.store(ok ? 1 : 2, std::memory_order_release);
    } else {
      while ((s = g_state.load(std::memory_order_acquire)) == 0) {
        // The claimer is between its claim and its publication: a few stores.
      }
    }
    s = g_state.load(std::memory_order_acquire);
  }
  if (s == 1) return true;
  if (why != nullptr) *why = g_why;
  return false;
}

double log(double x) {
  return load() ? g_fn.log(x) : nan();
}

double exp(double x) {
  return load() ? g_fn.exp(x) : nan();
}

double expm1(double x) {
  return load() ? g_fn.expm1(x) : nan();
}

double pow(double x, double y) {
  return load() ? g_fn.pow(x, y) : nan();
}

double round(double x) {
  return load() ? g_fn.round(x) : nan();
}

}  // namespace strata::math

extern "C" {
double strata_libm_log(double x) {
  return strata::math::log(x);
}
double strata_libm_exp(double x) {
  return strata::math::exp(x);
}
double strata_libm_round(double x) {
  return strata::math::round(x);
}
double strata_libm_pow(double x, double y) {
  return strata::math::pow(x, y);
}
}
