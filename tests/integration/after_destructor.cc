// Allocation and free after main returns: in atexit handlers (one registered
// from inside another), a static C++ object's destructor, a
// __attribute__((destructor(65535))) function, and the destructor of a shared
// library that is finalized after libstrata (after_destructor_helper). A
// detached thread keeps allocating while the process exits. Blocks allocated in
// main are freed in those late phases, blocks allocated there are freed later.
//
// stdout is deterministic; exit status 0. Runs identically with and without strata.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"

extern "C" void after_helper_keep(void* p, size_t n);

namespace {

void* g_from_main_small = nullptr;
void* g_from_main_big = nullptr;
void* g_from_atexit = nullptr;
std::atomic<long> g_spins{0};

bool check_fill(const void* p, size_t n, unsigned char v) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != v) return false;
  return true;
}

void* churn(size_t n, unsigned char v) {
  void* p = std::malloc(n);
  if (p != nullptr) std::memset(p, v, n);
  return p;
}

struct Global {
  std::vector<std::string> names;
  Global() {
    for (int i = 0; i < 100; ++i) names.push_back("static object entry " + std::to_string(i));
  }
  ~Global() {
    bool ok = names.size() == 100 && names[99] == "static object entry 99";
    // Allocate while being destroyed, free what main left.
    std::vector<std::string> more(names.begin(), names.end());
    more.resize(5000, std::string(300, 'x'));
    ok &= check_fill(g_from_main_big, 70000, 0xB1);
    std::free(g_from_main_big);
    g_from_main_big = nullptr;
    std::printf("static destructor: %s\n", ok ? "ok" : "FAILED");
  }
};
Global g_global;

void atexit_second_level() {
  bool ok = g_from_atexit != nullptr && check_fill(g_from_atexit, 9000, 0xA7);
  std::free(g_from_atexit);
  g_from_atexit = nullptr;
  void* p = churn(123, 1);
  std::free(p);
  std::printf("atexit handler registered by an atexit handler: %s\n", ok ? "ok" : "FAILED");
}

void atexit_free() {
  bool ok = check_fill(g_from_main_small, 40, 0x5C);
  std::free(g_from_main_small);
  g_from_main_small = nullptr;
  g_from_atexit = churn(9000, 0xA7);
  ok &= g_from_atexit != nullptr;
  ok &= std::atexit(atexit_second_level) == 0;
  std::printf("atexit handler 2: %s\n", ok ? "ok" : "FAILED");
}

void atexit_alloc() {
  bool ok = true;
  std::vector<void*> v;
  for (int i = 0; i < 200; ++i) {
    void* p = churn(static_cast<size_t>(16 + i * 97), static_cast<unsigned char>(i));
    ok &= p != nullptr;
    v.push_back(p);
  }
  for (size_t i = 0; i < v.size(); i += 2) std::free(v[i]);
  for (size_t i = 1; i < v.size(); i += 2) {
    v[i] = std::realloc(v[i], 50000);
    ok &= v[i] != nullptr;
    std::free(v[i]);
  }
  std::printf("atexit handler 1: %s\n", ok ? "ok" : "FAILED");
}

__attribute__((destructor(65535))) void late_destructor() {
  void* p = churn(5000, 3);
  void* q = churn(40, 4);
  p = std::realloc(p, 20000);
  bool ok = p != nullptr && q != nullptr && check_fill(p, 5000, 3);
  std::free(p);
  std::free(q);
  int* arr = new int[3000];
  arr[2999] = 1;
  it::escape(arr);
  delete[] arr;
  // Hand a block to the library destructor that runs last.
  void* last = std::malloc(777);
  for (size_t i = 0; i < 777; ++i)
    static_cast<unsigned char*>(last)[i] = static_cast<unsigned char>(i * 7);
  after_helper_keep(last, 777);
  std::printf("destructor(65535): %s\n", ok ? "ok" : "FAILED");
}

void* busy_thread(void*) {
  it::Rng r(42);
  void* keep[32] = {};
  for (;;) {
    int i = static_cast<int>(r.below(32));
    std::free(keep[i]);
    keep[i] = std::malloc(r.below(2) ? 16 + r.below(1000) : 4096 + r.below(100000));
    g_spins.fetch_add(1, std::memory_order_relaxed);
  }
  return nullptr;
}

}  // namespace

int main() {
  g_from_main_small = churn(40, 0x5C);
  g_from_main_big = churn(70000, 0xB1);
  std::atexit(atexit_free);   // runs second
  std::atexit(atexit_alloc);  // runs first
  pthread_t t;
  pthread_create(&t, nullptr, busy_thread, nullptr);
  pthread_detach(t);
  while (g_spins.load() < 1000) usleep(100);
  std::printf("main: returning\n");
  return 0;
}
