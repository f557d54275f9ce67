// Shared library linked into after_destructor. Its destructor runs after
// libstrata's destructor (a library the program depends on is finalized after
// the preloaded libstrata): allocations and frees there must keep working.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {
void* g_block = nullptr;  // handed over by the program, freed at the very end
size_t g_size = 0;
}  // namespace

extern "C" __attribute__((visibility("default"))) void after_helper_keep(void* p, size_t n) {
  g_block = p;
  g_size = n;
}

__attribute__((destructor)) static void helper_fini() {
  bool ok = true;
  if (g_block != nullptr) {
    const auto* b = static_cast<const unsigned char*>(g_block);
    for (size_t i = 0; i < g_size; ++i) ok &= b[i] == static_cast<unsigned char>(i * 7);
    std::free(g_block);
  }
  void* small = std::malloc(24);
  void* big = std::malloc(100000);
  ok &= small != nullptr && big != nullptr;
  if (big != nullptr) std::memset(big, 5, 100000);
  big = std::realloc(big, 300000);
  ok &= big != nullptr && static_cast<unsigned char*>(big)[99999] == 5;
  char* s = new char[5000];
  s[0] = 1;
  delete[] s;
  void* al = nullptr;
  ok &= posix_memalign(&al, 4096, 8192) == 0;
  std::free(al);
  std::free(big);
  std::free(small);
  std::printf("library destructor after libstrata's: %s\n", ok ? "ok" : "FAILED");
}
