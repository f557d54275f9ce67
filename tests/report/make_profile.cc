// Writes the deterministic recorded profile (sample_profile.h) to a file:
//   strata-report-make-profile OUT [BUFFER_BYTES]
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/report/sample_profile.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s OUT [BUFFER_BYTES]\n", argv[0]);
    return 2;
  }
  size_t bufsize = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 4096;
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(argv[1]);
    return 1;
  }
  bool ok = strata::test::write_sample_profile(fd, bufsize);
  if (close(fd) != 0 || !ok) {
    std::fprintf(stderr, "%s: writing the profile failed\n", argv[1]);
    return 1;
  }
  return 0;
}
