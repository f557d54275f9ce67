// The preload's half of the profiler (STRATA_PROFILE=path): samples
// allocations by bytes (a mean of one sample per STRATA_PROFILE_RATE bytes,
// Poisson, unbiased like jemalloc's heap profiler), records their call stacks,
// sizes and lifetimes per site, and, once per engine interval, the heat, tier
// and residency of every chunk and which sites' live bytes sat there. Written
// with profiler/profile_format.h at exit, when PATH.dump appears (the control
// file is removed), and by a forked child under PATH.PID. strata-report reads it.
//
// Sampled tier-0 blocks come from heap's side slot, so free() recognises
// them by address; frees of other tiers' blocks look the pointer up.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/config.h"
#include "policy/migrate_plan.h"

namespace strata::prof {

extern bool g_on __attribute__((visibility("hidden")));

struct ProfConfig {
  const char* path = nullptr;  // STRATA_PROFILE ("" / null = off)
  uint64_t rate = 0;           // STRATA_PROFILE_RATE: mean bytes between samples
  // The configuration as given, recorded in the profile's header (null = unset).
  const char* tiers_spec = nullptr;
  const char* policy_spec = nullptr;
  const char* migrate_spec = nullptr;
};

// At init (single-threaded): turns profiling on. False with a reason.
bool start(const ProfConfig& cfg, const CompiledPolicy* pol, char* why, size_t cap);

// Bytes this thread may still allocate before its next sample.
extern __thread int64_t t_prof_left
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
// The malloc fast path's check: true (and counted) when this allocation is not sampled.
inline bool countdown(size_t size) {
  const int64_t left = t_prof_left - static_cast<int64_t>(size);
  if (__builtin_expect(left <= 0, 0)) return false;
  t_prof_left = left;
  return true;
}
// Whether this allocation is sampled (slow path; restarts the countdown).
bool take(size_t size);
// Records a sampled block (p, its requested size, the call's return address).
void record(void* p, size_t size, const void* ra);
// The block at p is being freed (any tier): forgets it if it was sampled.
void forget(void* p);

// ---- from the migration engine ----
// The hotness sampler in use, recorded in the header (at engine start).
void set_sampler(const char* name);
// Once per interval, on the engine thread:
struct ChunkInfo {
  float heat;
  int8_t tier;
};
using ChunkLookup = bool (*)(uint64_t chunk, ChunkInfo* out, void* ctx);
// Per-site accounting of the live sampled blocks against the chunk heat.
void account(ChunkLookup lookup, void* ctx);
void begin_interval(uint64_t index, const uint64_t resident[kMaxTiers], uint64_t promoted_bytes,
                    uint64_t demoted_bytes, uint32_t promoted, uint32_t demoted, uint32_t failures,
                    uint32_t nchunks);
void add_chunk(uint64_t id, float heat, int tier, uint64_t bytes);
void add_move(uint64_t interval, const Move& m, uint64_t bytes);
// Writes the profile now if PATH.dump exists (and removes it).
void poll_control();

// Writes the profile to its path. At exit (after the engine stopped).
void write_final();
// At _exit: true, except in a forked child that lived less than an interval
// (one that only failed to exec writes nothing).
bool wants_quick_exit_write();

// Fork: the child writes PATH.PID and starts its own history.
void prefork();
void postfork_parent();
void postfork_child();

}  // namespace strata::prof
