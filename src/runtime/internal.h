// State and helpers the runtime's files share (init.cc, runtime.cc,
// mmap_track.cc, hints.cc, stats.cc). Not for use outside src/runtime/.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "allocator/heap.h"
#include "policy/config.h"
#include "src/runtime/region_map.h"
#include "src/runtime/runtime.h"

namespace strata::rt {

using heap::t_state;

// The policy in force (null before init).
extern std::atomic<const CompiledPolicy*> g_policy;

// The calling thread's hint stack; entries hold label + 1 and tier + 1 so the
// zero-initialised TLS means "no hint".
struct HintStack {
  uint8_t depth;
  int8_t label[kMaxHintDepth];
  int8_t tier[kMaxHintDepth];
};

extern __thread HintStack t_hints __attribute__((tls_model("initial-exec")));

// Ranges given a hint through strata_hint_range (pinned, hot, cold) and the
// pages of blocks a pin rule placed (hints.cc).
RegionMap& hint_map();
// Records the pages of a block a pin rule placed as pinned (hints.cc).
void record_pin(void* p, size_t len);

// runtime.cc: libc's free and malloc_usable_size, for foreign pointers.
void resolve_libc();
// runtime.cc: the policy's decision for one allocation by the calling thread.
Placement decide(const CompiledPolicy& pol, size_t size, AllocKind kind, const void* ra);
// runtime.cc: an allocation on `tier`, spilling unless nospill; errno ENOMEM on failure.
void* alloc_placed(int tier, size_t size, size_t align, bool zero, bool nospill);

// stats.cc: STRATA_STATS (where the table goes at exit), and the table at exit.
void configure_stats(const char* target);
void stats_at_exit();

}  // namespace strata::rt
