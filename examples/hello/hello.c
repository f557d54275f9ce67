/* Allocates through strata's API and says where the memory went. Builds
 * against an installed strata (pkg-config or find_package, see
 * CMakeLists.txt); runs with or without strata (strata.h falls back to
 * malloc). */
#include <stdio.h>
#include <string.h>
#include <strata/strata.h>

int main(void) {
  size_t n = 4u << 20;
  char* buf = strata_malloc("fast", n);
  if (buf == NULL) return 1;
  memset(buf, 1, n);
  printf("%s; %d tier(s); buffer on tier %d\n", strata_status(), strata_tier_count(),
         strata_tier_of(buf));
  strata_free(buf);
  return 0;
}
