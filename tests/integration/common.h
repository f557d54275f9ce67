// Helpers shared by the integration test programs. The programs do not link
// against libstrata: they run unmodified, with or without LD_PRELOAD, and find
// the strata API (include/strata/strata.h) with dlsym when it is loaded.
#pragma once

#include <dlfcn.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace it {

struct StrataApi {
  int (*tier_of)(const void*) = nullptr;
  int (*tier_count)() = nullptr;
  const char* (*tier_name)(int) = nullptr;
  int (*node_of)(const void*) = nullptr;

  bool loaded() const {
    return tier_of != nullptr && tier_count != nullptr && tier_name != nullptr;
  }
  // Index of the tier called `name`, or -1.
  int tier_by_name(const char* name) const {
    if (!loaded()) return -1;
    for (int i = 0; i < tier_count(); ++i) {
      const char* n = tier_name(i);
      if (n != nullptr && std::strcmp(n, name) == 0) return i;
    }
    return -1;
  }
};

inline StrataApi strata_api() {
  StrataApi a;
  a.tier_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "strata_tier_of"));
  a.tier_count = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "strata_tier_count"));
  a.tier_name = reinterpret_cast<const char* (*)(int)>(dlsym(RTLD_DEFAULT, "strata_tier_name"));
  a.node_of = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "strata_node_of"));
  return a;
}

inline int g_failures = 0;
inline int g_checks = 0;

// Failures go to stdout (so that compare.sh shows them in its diff) and stderr.
inline void failf(const char* file, int line, const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::printf("FAIL %s:%d: %s\n", file, line, msg);
  std::fflush(stdout);
  std::fprintf(stderr, "FAIL %s:%d: %s\n", file, line, msg);
  ++g_failures;
}

#define IT_CHECK(cond, ...)                                    \
  do {                                                         \
    ++::it::g_checks;                                          \
    if (!(cond)) ::it::failf(__FILE__, __LINE__, __VA_ARGS__); \
  } while (0)

// Keeps the compiler from eliding an allocation or a store.
inline void escape(const void* p) {
  asm volatile("" : : "g"(p) : "memory");
}

inline bool aligned(const void* p, size_t a) {
  return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0;
}

// splitmix64: fixed-seed pseudo-random numbers, identical in every run.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

// Byte pattern derived from (id, size): byte i of the block.
inline uint8_t pattern_byte(uint64_t id, size_t size, size_t i) {
  uint64_t x = (id * 0x9E3779B97F4A7C15ULL) ^ (size * 0xC2B2AE3D27D4EB4FULL) ^ (i >> 3);
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> ((i & 7) * 8));
}

inline void fill_pattern(void* p, size_t n, uint64_t id, size_t size) {
  auto* b = static_cast<uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) b[i] = pattern_byte(id, size, i);
}

// Index of the first byte that differs from the pattern, or n.
inline size_t check_pattern(const void* p, size_t n, uint64_t id, size_t size) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != pattern_byte(id, size, i)) return i;
  return n;
}

}  // namespace it
