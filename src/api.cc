// include/strata/strata.h, implemented over the runtime.
#include "allocator/heap.h"
#include "allocator/sys.h"
#include "src/runtime.h"
#include "strata/strata.h"

#define STRATA_API extern "C" __attribute__((visibility("default")))

STRATA_API int strata_tier_count(void) {
  strata::rt::init();
  const strata::CompiledPolicy* p = strata::rt::policy();
  return p != nullptr ? p->ntiers : 0;
}

STRATA_API const char* strata_tier_name(int tier) {
  strata::rt::init();
  const strata::CompiledPolicy* p = strata::rt::policy();
  if (p == nullptr || tier < 0 || tier >= p->ntiers) return nullptr;
  return p->tiers[tier].name;
}

STRATA_API int strata_tier_of(const void* addr) {
  return strata::rt::tier_of_address(addr);
}

STRATA_API int strata_node_of(const void* addr) {
  return strata::sys::node_of_address(const_cast<void*>(addr));
}

STRATA_API void strata_print_stats(int fd) {
  strata::rt::write_stats(fd);
}
