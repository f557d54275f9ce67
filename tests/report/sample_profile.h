// A deterministic recorded profile for the report tests, written with the
// real Writer: a key-value store ("kvstore") on three tiers (dram, cxl, pmem),
// two modules whose files do not exist (frames print as module+0xOFFSET),
// 30 intervals of 400 ms with a phase change at interval 15, and moves.
//
// Sites (module+offset of the allocation call):
//   index    kvstore+0x1a2b        48 MiB, long-lived, heat ~0.9 on dram: hot, pinned
//   log      libstore.so.1+0x4410  256 MiB appended over time, touched once: cold
//   cache    kvstore+0x2a00        64 MiB on cxl, cold until 15 then hot, promoted: mixed
//   churn    libstore.so.1+0x5120  small short-lived blocks, heat ~0.7: hot, not pinned
//   warm     kvstore+0x3c40        32 MiB at heat ~0.3: mixed
//   spare    kvstore+0x4010        768 KiB never touched, on dram then swapped out: cold
//   temp     kvstore+0x4500        64 KiB blocks freed before any sample: unsampled
//   config   kvstore+0x5000        4 KiB hot but too small to rank
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::test {

inline constexpr const char* kExeModule = "/nonexistent/strata-report-test/kvstore";
inline constexpr const char* kLibModule = "/nonexistent/strata-report-test/libstore.so.1";
inline constexpr uint64_t kExeBase = 0x555555554000ULL;
inline constexpr uint64_t kLibBase = 0x7ff7c0000000ULL;
inline constexpr uint64_t kIndexOffset = 0x1a2b;  // in kvstore: the hot site
inline constexpr uint64_t kLogOffset = 0x4410;    // in libstore.so.1: the cold bulk
inline constexpr uint64_t kChurnOffset = 0x5120;  // in libstore.so.1: hot, short-lived

// Writes the profile to fd through a `bufsize`-byte buffer. Returns the
// Writer's finish() result.
bool write_sample_profile(int fd, size_t bufsize);

}  // namespace strata::test
