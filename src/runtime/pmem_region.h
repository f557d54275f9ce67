// Named persistent regions on the PMEM tier, behind strata_pmem_open /
// strata_persist / strata_pmem_close in strata.h: the file DIR/NAME mapped
// shared. On fs-dax (the kernel accepts MAP_SYNC) through libpmem2, whose
// persist function flushes CPU caches; on a page-cache file, or without
// libpmem2, with plain mmap, and persist is msync(MS_SYNC).
//
// Sizes are rounded up to whole pages. open:
// - size 0 maps the whole file (an empty file, or one whose size is not a
//   whole number of pages without kCreate, is EINVAL);
// - a size above the file size grows the file (posix_fallocate) with kCreate,
//   else EINVAL; a smaller size maps only that prefix; a file never shrinks;
// - a missing file is ENOENT without kCreate; kCreate creates it (size 0 is
//   then EINVAL) with mode 0600, fully allocated and published atomically
//   (a concurrent opener never sees it partly set up); kCreate|kExcl fails
//   with EEXIST when it exists; kExcl without kCreate or with size 0, and
//   unknown flags, are EINVAL;
// - names: non-empty, at most 255 bytes, no '/', not "." or ".." (EINVAL);
// - dir null or empty: ENODEV (no PMEM directory configured); a directory
//   that does not exist is ENODEV too;
// - at most kMaxRegions open at once (EMFILE). Opening a name twice gives two
//   mappings of the same file, each closed on its own.
// persist(addr, len) makes [addr, addr+len) durable; the range must lie in one
// open region (EINVAL otherwise; EIO when the page cache cannot write back).
// close(addr) takes the address open returned (anything else: EINVAL).
// Regions stay mapped in a fork child (MAP_SHARED: parent and child see each
// other's stores) and the child may persist and close them. persist or close
// racing with close of the same region is the caller's bug, as with munmap.
// All three are thread-safe and return errno-style failures, never abort.
#pragma once

#include <cstddef>

namespace strata::pmem_region {

inline constexpr int kCreate = 1;  // STRATA_PMEM_CREATE
inline constexpr int kExcl = 2;    // STRATA_PMEM_EXCL
inline constexpr int kMaxRegions = 64;

// The mapping, or nullptr with errno set.
void* open(const char* dir, const char* name, size_t size, int flags);
// 0, or -1 with errno set.
int persist(const void* addr, size_t len);
// 0, or -1 with errno set.
int close(void* addr);

}  // namespace strata::pmem_region
