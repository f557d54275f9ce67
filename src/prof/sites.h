// Call sites: the return address of an interposed call, resolved once to a
// module, an offset, a function name and a stable hash, and cached. Only
// allocations that a site rule needs (or, later, the profiler samples) come
// here; the malloc fast path never does.
#pragma once

#include <cstddef>
#include <cstdint>

#include "policy/config.h"

namespace strata::sites {

struct SiteInfo {
  uint64_t hash = 0;     // site_hash(module, offset)
  uint64_t offset = 0;   // return address - module load base
  char module[64] = {};  // file name of the object (no directory)
  char func[160] = {};   // demangled function name, "" when unknown
  char mangled[160] = {};
};

// Resolves `ra` (a return address). Uncached, allocates (under the caller's
// reentrancy guard), may read ELF files. False when no module holds it.
bool resolve(const void* ra, SiteInfo* out);
// The cheap part of resolve(): module, offset and hash only, no symbol
// lookup (func and mangled stay empty). False when no module holds `ra`.
bool locate(const void* ra, SiteInfo* out);

// Rule bits of the call site `ra` under `pol` (see CompiledPolicy::site_mask),
// cached per return address. Lock-free on a hit.
uint64_t match_bits(const CompiledPolicy& pol, const void* ra);

// Loads the symbolizer (libdw) ahead of use; called at init when the policy
// has site rules, so no dlopen happens inside an allocation later.
void prepare();

// Counters for stats: cached sites, lookups that found the cache full.
void counters(uint64_t* cached, uint64_t* overflow);

// Fork: the symbolizer's lock.
void prefork();
void postfork_parent();
void postfork_child();

}  // namespace strata::sites
