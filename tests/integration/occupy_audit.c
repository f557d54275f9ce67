/* An rtld-audit module (LD_AUDIT) that maps one page inside the address range
 * strata wants for its tier heaps (allocator/layout.h: 0x20 << 40, nine TiB),
 * before any preloaded library is loaded. tests/integration/layout.sh uses it
 * to check strata's fallback when that range is taken. */
#define _GNU_SOURCE
#include <link.h>
#include <sys/mman.h>

unsigned int la_version(unsigned int version) {
  void* want = (void*)((0x20UL << 40) + (3UL << 40));
  (void)mmap(want, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  return version < LAV_CURRENT ? version : LAV_CURRENT;
}
