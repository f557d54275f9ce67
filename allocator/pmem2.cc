#include "allocator/pmem2.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstdio>

#include "base/sys.h"

namespace strata::pmem2 {

namespace {

constinit sys::SpinLock g_lock;
constinit Api g_api{};
constinit int g_state = 0;  // 0 not tried, 1 loaded, -1 missing (read with acquire)
constinit char g_why[96] = {};

bool resolve(void* lib) {
#define STRATA_SYM(field, name)                                            \
  g_api.field = reinterpret_cast<decltype(g_api.field)>(dlsym(lib, name)); \
  if (g_api.field == nullptr) {                                            \
    std::snprintf(g_why, sizeof g_why, "libpmem2 lacks %s", name);         \
    return false;                                                          \
  }
  STRATA_SYM(config_new, "pmem2_config_new")
  STRATA_SYM(config_delete, "pmem2_config_delete")
  STRATA_SYM(set_granularity, "pmem2_config_set_required_store_granularity")
  STRATA_SYM(set_length, "pmem2_config_set_length")
  STRATA_SYM(source_from_fd, "pmem2_source_from_fd")
  STRATA_SYM(source_delete, "pmem2_source_delete")
  STRATA_SYM(source_alignment, "pmem2_source_alignment")
  STRATA_SYM(map_new, "pmem2_map_new")
  STRATA_SYM(map_delete, "pmem2_map_delete")
  STRATA_SYM(map_address, "pmem2_map_get_address")
  STRATA_SYM(map_size, "pmem2_map_get_size")
  STRATA_SYM(map_granularity, "pmem2_map_get_store_granularity")
  STRATA_SYM(persist_fn, "pmem2_get_persist_fn")
  STRATA_SYM(errormsg, "pmem2_errormsg")
#undef STRATA_SYM
  return true;
}

}  // namespace

const Api* load(const char** why) {
  int s = __atomic_load_n(&g_state, __ATOMIC_ACQUIRE);
  if (s == 0) {
    // Serialised so that the table is filled once; the lock is taken by
    // nothing that dlopen could run (libpmem2's constructors only allocate).
    g_lock.lock();
    s = __atomic_load_n(&g_state, __ATOMIC_RELAXED);
    if (s == 0) {
      void* lib = dlopen("libpmem2.so.1", RTLD_NOW | RTLD_LOCAL);
      if (lib == nullptr) {
        std::snprintf(g_why, sizeof g_why, "libpmem2.so.1 not loadable (install libpmem2-1)");
        s = -1;
      } else if (!resolve(lib)) {
        dlclose(lib);
        s = -1;
      } else {
        s = 1;  // kept loaded for the life of the process: maps hold its functions
      }
      __atomic_store_n(&g_state, s, __ATOMIC_RELEASE);
    }
    g_lock.unlock();
  }
  if (s == 1) return &g_api;
  if (why != nullptr) *why = g_why;
  return nullptr;
}

int to_errno(int ret) {
  if (ret < 0 && ret > -4096) return -ret;  // an operating-system error passed through
  switch (ret) {
    case PMEM2_E_NO_ACCESS:
      return EACCES;
    case PMEM2_E_IO_FAIL:
      return EIO;
    case PMEM2_E_NOSUPP:
    case PMEM2_E_SOURCE_TYPE_NOT_SUPPORTED:
    case PMEM2_E_GRANULARITY_NOT_SUPPORTED:
      return ENOTSUP;
    default:
      return EINVAL;  // argument, length or alignment the library refused
  }
}

}  // namespace strata::pmem2
