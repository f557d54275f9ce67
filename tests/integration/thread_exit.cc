// 5000 short-lived threads.
//
// Threads are created in waves of 8 and joined. Each allocates blocks of mixed
// sizes (small ones and >= 4 KiB ones, i.e. both tiers in two-tier mode), frees
// blocks that earlier threads left in a shared pool (cross-thread frees, also
// of blocks whose allocating thread has exited), leaves some of its own in the
// pool, and allocates and frees in its thread-exit paths: a C++ thread_local
// destructor and (with --tsd-alloc) a pthread key destructor, which runs after
// the allocator's own per-thread cleanup. Every 10th thread ends with
// pthread_exit, every 7th is detached instead of joined.
//
//   thread_exit [--threads N] [--check-tiers] [--tsd-alloc]
//     --tsd-alloc    also allocate, realloc and free in a pthread key destructor
//     --check-tiers  strata with two tiers ('slow' second) and STRATA_POLICY="size>=4K -> slow":
//                    each thread must place blocks >= 4 KiB on 'slow' and smaller ones on tier 0
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "common.h"

namespace {

struct Item {
  uint8_t* p;
  size_t size;
  uint64_t id;
};

std::mutex g_pool_mu;
std::vector<Item> g_pool;  // blocks handed between threads
std::atomic<long> g_allocs{0}, g_frees{0}, g_foreign_frees{0}, g_dtor_runs{0}, g_key_runs{0};
std::atomic<int> g_failures{0};
std::atomic<int> g_detached_done{0};
bool g_check_tiers = false;
bool g_tsd_alloc = false;
it::StrataApi g_api;
int g_slow = -1;
pthread_key_t g_key;

void fail(const char* fmt, uint64_t a, uint64_t b) {
  if (g_failures.fetch_add(1) < 10) {
    std::printf("FAIL: ");
    std::printf(fmt, static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
    std::printf("\n");
    std::fflush(stdout);
  }
}

uint8_t* alloc_block(size_t n, uint64_t id) {
  auto* p = static_cast<uint8_t*>(std::malloc(n));
  if (p == nullptr) {
    fail("malloc(%llu) returned NULL (id %llu)", n, id);
    return nullptr;
  }
  it::fill_pattern(p, n < 512 ? n : 512, id, n);
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (g_check_tiers) {
    int want = n >= 4096 ? g_slow : 0;
    int got = g_api.tier_of(p);
    if (got != want) fail("block of %llu bytes on tier %llu", n, static_cast<uint64_t>(got));
  }
  return p;
}

void free_block(const Item& it_) {
  size_t n = it_.size < 512 ? it_.size : 512;
  if (it::check_pattern(it_.p, n, it_.id, it_.size) != n)
    fail("block id %llu (size %llu) corrupted", it_.id, it_.size);
  std::free(it_.p);
  g_frees.fetch_add(1, std::memory_order_relaxed);
}

// Allocates and frees on both tiers at thread exit.
void exit_path_allocations(uint64_t id) {
  void* a = std::malloc(100);
  void* b = std::malloc(20000);
  char* c = new char[5000];
  if (a == nullptr || b == nullptr)
    fail("allocation in the exit path of thread %llu failed (%llu)", id, 0);
  std::memset(a, 1, 100);
  std::memset(b, 2, 20000);
  c[4999] = 3;
  it::escape(c);
  b = std::realloc(b, 100000);
  std::free(a);
  std::free(b);
  delete[] c;
}

struct TlsObject {
  uint64_t id = 0;
  std::vector<int> v;
  ~TlsObject() {
    if (id == 0) return;
    exit_path_allocations(id);
    g_dtor_runs.fetch_add(1, std::memory_order_relaxed);
  }
};
thread_local TlsObject t_obj;

void key_destructor(void* v) {
  if (g_tsd_alloc) exit_path_allocations(reinterpret_cast<uintptr_t>(v));
  g_key_runs.fetch_add(1, std::memory_order_relaxed);
}

void* thread_main(void* arg) {
  const uint64_t n = reinterpret_cast<uintptr_t>(arg);
  it::Rng r(n * 31 + 7);
  t_obj.id = n + 1;
  t_obj.v.resize(100 + n % 3000);  // >= 4 KiB for most threads
  pthread_setspecific(g_key, reinterpret_cast<void*>(static_cast<uintptr_t>(n + 1)));
  Item mine[12];
  for (int i = 0; i < 12; ++i) {
    size_t size = i % 2 ? 16 + r.below(3000) : 4096 + r.below(60000);
    uint64_t id = n * 100 + static_cast<uint64_t>(i);
    mine[i] = Item{alloc_block(size, id), size, id};
  }
  // Free what earlier threads left, leave some of ours.
  std::vector<Item> take;
  {
    std::lock_guard<std::mutex> lk(g_pool_mu);
    size_t k = g_pool.size() < 6 ? g_pool.size() : 6;
    take.assign(g_pool.end() - static_cast<long>(k), g_pool.end());
    g_pool.resize(g_pool.size() - k);
    for (int i = 0; i < 12; i += 2)
      if (mine[i].p != nullptr) g_pool.push_back(mine[i]);
  }
  for (const Item& x : take) {
    free_block(x);
    g_foreign_frees.fetch_add(1, std::memory_order_relaxed);
  }
  for (int i = 1; i < 12; i += 2)
    if (mine[i].p != nullptr) free_block(mine[i]);
  if (n % 7 == 5) g_detached_done.fetch_add(1);  // detached: main cannot join it
  if (n % 10 == 3) pthread_exit(nullptr);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int nthreads = 5000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      nthreads = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--check-tiers") == 0)
      g_check_tiers = true;
    else if (std::strcmp(argv[i], "--tsd-alloc") == 0)
      g_tsd_alloc = true;
    else {
      std::fprintf(stderr, "usage: %s [--threads N] [--check-tiers] [--tsd-alloc]\n", argv[0]);
      return 2;
    }
  }
  if (g_check_tiers) {
    g_api = it::strata_api();
    g_slow = g_api.loaded() ? g_api.tier_by_name("slow") : -1;
    if (g_slow < 1) {
      std::printf("FAIL: --check-tiers needs strata loaded with a second tier named 'slow'\n");
      return 1;
    }
  }
  pthread_key_create(&g_key, key_destructor);
  alarm(120);  // a hang fails (SIGALRM) instead of blocking the test run
  constexpr int kWave = 8;
  int detached = 0;
  for (int base = 0; base < nthreads; base += kWave) {
    pthread_t t[kWave];
    bool joinable[kWave] = {};
    int w = nthreads - base < kWave ? nthreads - base : kWave;
    for (int i = 0; i < w; ++i) {
      uintptr_t n = static_cast<uintptr_t>(base + i);
      bool detach = n % 7 == 5;
      int rc = pthread_create(&t[i], nullptr, thread_main, reinterpret_cast<void*>(n));
      if (rc != 0) {
        std::printf("FAIL: pthread_create #%d: %s\n", base + i, std::strerror(rc));
        return 1;
      }
      if (detach) {
        pthread_detach(t[i]);
        ++detached;
      } else {
        joinable[i] = true;
      }
    }
    for (int i = 0; i < w; ++i)
      if (joinable[i]) pthread_join(t[i], nullptr);
  }
  while (g_detached_done.load() < detached) usleep(1000);
  usleep(20000);  // let the last detached threads run their exit paths
  for (const Item& x : g_pool) free_block(x);
  g_pool.clear();
  g_pool.shrink_to_fit();
  std::printf(
      "thread_exit: %d threads (%d detached): %ld blocks allocated, %ld freed, %ld freed by "
      "another thread\n",
      nthreads, detached, g_allocs.load(), g_frees.load(), g_foreign_frees.load());
  // Exit-path allocations ran for (nearly) every thread; detached ones may still be finishing.
  bool exit_paths =
      g_dtor_runs.load() >= nthreads - detached && g_key_runs.load() >= nthreads - detached;
  std::printf("thread_exit: exit-path allocations %s\n", exit_paths ? "ok" : "MISSING");
  bool ok = g_failures.load() == 0 && g_allocs.load() == g_frees.load() && exit_paths;
  std::printf("thread_exit: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
