// libpmem2, loaded with dlopen only when a PMEM file heap or a named PMEM
// region needs it: programs that use neither never load it, and a machine
// without it still runs them (the callers fall back to plain shared mappings).
#pragma once

#include <libpmem2.h>

namespace strata::pmem2 {

// The entry points strata uses.
struct Api {
  decltype(&pmem2_config_new) config_new;
  decltype(&pmem2_config_delete) config_delete;
  decltype(&pmem2_config_set_required_store_granularity) set_granularity;
  decltype(&pmem2_config_set_length) set_length;
  decltype(&pmem2_source_from_fd) source_from_fd;
  decltype(&pmem2_source_delete) source_delete;
  decltype(&pmem2_source_alignment) source_alignment;
  decltype(&pmem2_map_new) map_new;
  decltype(&pmem2_map_delete) map_delete;
  decltype(&pmem2_map_get_address) map_address;
  decltype(&pmem2_map_get_size) map_size;
  decltype(&pmem2_map_get_store_granularity) map_granularity;
  decltype(&pmem2_get_persist_fn) persist_fn;
  const char* (*errormsg)();
};

// Loads libpmem2.so.1 on the first call (thread-safe; later calls return the
// same answer without locking). Null when the library or one of the symbols
// is missing; *why (if given) then names what is missing. dlopen allocates:
// call with heap::ReentrancyGuard held.
const Api* load(const char** why = nullptr);

// errno value for a libpmem2 return code (a negative errno or PMEM2_E_*).
int to_errno(int ret);

}  // namespace strata::pmem2
