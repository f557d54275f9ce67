/* strata public API: the only header programs include.
 *
 * Works whether the program is linked against libstrata or only runs under
 * LD_PRELOAD=libstrata.so. */
#ifndef STRATA_STRATA_H
#define STRATA_STRATA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_API_VERSION 1

/* Number of tiers in use (fastest first); 0 when strata is not active. */
int strata_tier_count(void);

/* Name of tier `tier` ("dram", "cxl", ...), or NULL when out of range. */
const char* strata_tier_name(int tier);

/* Tier of an address strata manages (a heap pointer or a tracked anonymous
 * mmap), or -1 for any other address. */
int strata_tier_of(const void* addr);

/* NUMA node of the page holding `addr` (the page must have been touched), or
 * a negative errno value. */
int strata_node_of(const void* addr);

/* Writes the per-tier statistics table (as STRATA_STATS=1 prints at exit) to
 * the file descriptor. */
void strata_print_stats(int fd);

#ifdef __cplusplus
}
#endif

#endif /* STRATA_STRATA_H */
