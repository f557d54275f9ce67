/* strata public API: the only header programs include.
 *
 * Works in three situations, with the same source and the same binary:
 *   - the program is linked against libstrata (-lstrata);
 *   - the program is not linked against it but runs under
 *     LD_PRELOAD=libstrata.so (or strata-run);
 *   - strata is absent: every call degrades (allocation through plain
 *     malloc/calloc/free, hints ignored, queries answer "no strata").
 * The functions below are static inline: each finds the library once, at
 * its first call, through one exported symbol (strata_api) and a versioned
 * function table, so no link-time dependency is needed.
 *
 * C and C++ (C++ gets an RAII guard for thread hints, strata::ThreadHint). */
#ifndef STRATA_STRATA_H
#define STRATA_STRATA_H

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_API_VERSION 1

/* Range hints (strata_hint_range). */
#define STRATA_HINT_HOT 1   /* move to the fastest tier now; the migration engine keeps it there */
#define STRATA_HINT_COLD 2  /* move to the slowest tier now */
#define STRATA_HINT_PIN 3   /* move to the named tier (NULL: stay) and never migrate */
#define STRATA_HINT_UNPIN 4 /* forget any hint on the range */

/* Flags of strata_pmem_open. */
#define STRATA_PMEM_CREATE 1 /* create the region if it does not exist */
#define STRATA_PMEM_EXCL 2   /* with CREATE: fail with EEXIST if it exists */

/* Tier kinds in struct strata_tier_stats. */
#define STRATA_KIND_DRAM 0
#define STRATA_KIND_CXL 1
#define STRATA_KIND_PMEM_NODE 2
#define STRATA_KIND_PMEM_FILE 3

#define STRATA_STATS_VERSION 2
#define STRATA_STATS_MAX_TIERS 8

struct strata_tier_stats {
  char name[32];
  int kind;                      /* STRATA_KIND_* */
  int node;                      /* first NUMA node of the tier, -1 for a file heap */
  unsigned long long capacity;   /* limit in bytes, 0 = none */
  unsigned long long live_bytes; /* bytes allocated and not freed */
  unsigned long long allocations;
  unsigned long long mapped_bytes; /* address space carved for the tier's heap */
  unsigned long long spill_in;     /* allocations placed here because a faster choice was full */
  unsigned long long spill_out;    /* allocations that wanted this tier and went elsewhere */
  unsigned long long mmap_bytes;   /* the program's anonymous mappings placed on this tier */
  unsigned long long mmap_count;
};

/* Set version = STRATA_STATS_VERSION and size = sizeof(struct strata_stats)
 * before calling strata_get_stats; fields are only ever added at the end, and
 * a caller built against an older header gets its (smaller) part filled. */
struct strata_stats {
  unsigned version;
  unsigned size;
  int tier_count;
  int reserved;
  struct strata_tier_stats tiers[STRATA_STATS_MAX_TIERS];
  unsigned long long foreign_frees; /* pointers strata did not allocate, handed to libc */
  unsigned long long sites_cached;  /* call sites resolved for site= rules */
  /* Version 2: the migration engine (zeros when it is off). */
  unsigned long long migrate_intervals; /* sampling intervals completed */
  unsigned long long promoted_bytes;    /* moved to a faster tier */
  unsigned long long demoted_bytes;     /* moved to a slower tier */
  unsigned long long promotions;        /* chunk moves up */
  unsigned long long demotions;         /* chunk moves down */
  unsigned long long migrate_failed_pages;
  unsigned long long engine_cpu_ns;  /* CPU time of sampling, heat model and moves */
  unsigned long long sampler_cpu_ns; /* ... of which sampling and the heat model */
  char sampler[16];                 /* "abit", "pebs", ...; "" when no engine runs */
};

/* The function table behind the inline functions (version 1). */
struct strata_api_v1 {
  unsigned version;
  unsigned size;
  const char* (*status)(void);
  void* (*malloc)(const char* tier, size_t size);
  void* (*calloc)(const char* tier, size_t n, size_t size);
  void (*free)(void* p);
  int (*hint_range)(void* addr, size_t len, int hint, const char* tier);
  int (*thread_hint_push)(const char* hint);
  int (*thread_hint_pop)(void);
  int (*tier_count)(void);
  const char* (*tier_name)(int tier);
  int (*tier_by_name)(const char* name);
  int (*tier_of)(const void* addr);
  int (*node_of)(const void* addr);
  int (*get_stats)(struct strata_stats* out);
  void (*print_stats)(int fd);
  void* (*pmem_open)(const char* name, size_t size, int flags);
  int (*persist)(const void* addr, size_t len);
  int (*pmem_close)(void* addr);
};

/* Exported by libstrata.so: the table for `version`, or NULL if unsupported. */
typedef const struct strata_api_v1* (*strata_api_fn)(unsigned version);

#ifndef STRATA_NO_INLINE_API /* defined only by libstrata's own sources */

/* Finds libstrata once per translation unit; NULL when strata is absent. */
static inline const struct strata_api_v1* strata_api_table(void) {
  static const struct strata_api_v1* table;
  static int looked;
  if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
    /* RTLD_DEFAULT is ((void*)0) in glibc; spelt out so that no _GNU_SOURCE
     * is needed before this header. */
    void* sym = dlsym((void*)0, "strata_api");
    strata_api_fn get = NULL;
    const struct strata_api_v1* t;
    *(void**)&get = sym;
    t = get != NULL ? get(STRATA_API_VERSION) : NULL;
    __atomic_store_n(&table, t, __ATOMIC_RELAXED);
    __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
  }
  return __atomic_load_n(&table, __ATOMIC_RELAXED);
}

/* "strata <version>: N tier(s) ..." when active, "no strata" otherwise. */
static inline const char* strata_status(void) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->status() : "no strata";
}

/* 1 when strata is active in this process. */
static inline int strata_available(void) {
  return strata_api_table() != NULL;
}

/* Allocates `size` bytes on `tier`: a tier name ("dram", "cxl", as
 * strata-run --show-tiers lists them), a kind ("dram", "cxl", "pmem": the
 * first tier of that kind), "fast" or "hot" (fastest tier), "slow" or
 * "cold" (slowest). A full tier spills to the next one as malloc would.
 * Unknown names place as malloc would and warn once on stderr. Free with
 * strata_free or free. */
static inline void* strata_malloc(const char* tier, size_t size) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->malloc(tier, size) : malloc(size);
}

static inline void* strata_calloc(const char* tier, size_t n, size_t size) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->calloc(tier, n, size) : calloc(n, size);
}

static inline void strata_free(void* p) {
  const struct strata_api_v1* a = strata_api_table();
  if (a != NULL)
    a->free(p);
  else
    free(p);
}

/* Hints a range: STRATA_HINT_HOT, _COLD, _PIN (to `tier`, or NULL to pin
 * where the pages are) or _UNPIN. Resident pages move now; the hint is
 * recorded for the migration engine. 0, or -1 with errno (ENOSYS: no
 * strata; EINVAL: bad hint, tier or range). */
static inline int strata_hint_range(void* addr, size_t len, int hint, const char* tier) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return a->hint_range(addr, len, hint, tier);
}

/* Thread-scoped hint: until the matching pop, the calling thread's
 * allocations carry `hint`. A hint naming a tier (or "hot", "cold") places
 * there, as a rule of priority 100 would; any other label is matched by
 * STRATA_POLICY rules with hint=LABEL. Returns the new depth (at most 16),
 * or -1 with errno (ENOSYS: no strata; EINVAL; EOVERFLOW). */
static inline int strata_thread_hint_push(const char* hint) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return a->thread_hint_push(hint);
}

/* Returns the new depth, or -1 with errno (ENOENT: nothing pushed). */
static inline int strata_thread_hint_pop(void) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return a->thread_hint_pop();
}

/* Number of tiers in use (fastest first); 0 when strata is absent. */
static inline int strata_tier_count(void) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->tier_count() : 0;
}

/* Name of tier `tier`, or NULL when out of range or strata is absent. */
static inline const char* strata_tier_name(int tier) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->tier_name(tier) : NULL;
}

/* Index of the tier called `name` (or kind, "fast", "slow"), -1 if none. */
static inline int strata_tier_by_name(const char* name) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->tier_by_name(name) : -1;
}

/* Tier of an address strata manages (a heap pointer or a tracked anonymous
 * mmap), or -1 for any other address or when strata is absent. */
static inline int strata_tier_of(const void* addr) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->tier_of(addr) : -1;
}

/* NUMA node of the page holding `addr` (faulted in if needed), or a
 * negative errno value (-ENOSYS when strata is absent). */
static inline int strata_node_of(const void* addr) {
  const struct strata_api_v1* a = strata_api_table();
  return a != NULL ? a->node_of(addr) : -ENOSYS;
}

/* Fills *out (see struct strata_stats). 0, or -1 with errno (ENOSYS: no
 * strata; EINVAL: version or size not set). */
static inline int strata_get_stats(struct strata_stats* out) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return a->get_stats(out);
}

/* Writes the per-tier statistics table (as STRATA_STATS=1 prints at exit). */
static inline void strata_print_stats(int fd) {
  const struct strata_api_v1* a = strata_api_table();
  if (a != NULL) {
    a->print_stats(fd);
  } else {
    static const char msg[] = "no strata\n";
    ssize_t r = write(fd, msg, sizeof msg - 1);
    (void)r;
  }
}

/* Named persistent regions: the file NAME in the PMEM directory
 * (STRATA_PMEM_DIR, else the path= of the first PMEM file-heap tier),
 * mapped through libpmem2 on fs-dax (mmap + msync elsewhere). Size 0 maps an existing region whole;
 * a larger size grows it (with STRATA_PMEM_CREATE). NULL with errno on failure (ENOSYS: no strata;
 * ENODEV: no PMEM directory; see docs/configuration.md). */
static inline void* strata_pmem_open(const char* name, size_t size, int flags) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  return a->pmem_open(name, size, flags);
}

/* Makes [addr, addr+len) of an open region durable. 0, or -1 with errno. */
static inline int strata_persist(const void* addr, size_t len) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return a->persist(addr, len);
}

static inline int strata_pmem_close(void* addr) {
  const struct strata_api_v1* a = strata_api_table();
  if (a == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return a->pmem_close(addr);
}

#endif /* STRATA_NO_INLINE_API */

#ifdef __cplusplus
}

#ifndef STRATA_NO_INLINE_API
namespace strata {

/* Pushes a thread hint for the lifetime of the guard:
 *   { strata::ThreadHint cold("cold"); build_index(); } */
class ThreadHint {
 public:
  explicit ThreadHint(const char* hint) : pushed_(strata_thread_hint_push(hint) > 0) {}
  ~ThreadHint() {
    if (pushed_) strata_thread_hint_pop();
  }
  ThreadHint(const ThreadHint&) = delete;
  ThreadHint& operator=(const ThreadHint&) = delete;
  bool active() const { return pushed_; }

 private:
  bool pushed_;
};

}  // namespace strata
#endif /* STRATA_NO_INLINE_API */
#endif /* __cplusplus */

#endif /* STRATA_STRATA_H */
