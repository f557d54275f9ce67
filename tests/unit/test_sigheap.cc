#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "allocator/sigheap.h"

using namespace strata;

TEST_CASE("handler heap: sizes, alignment, reuse, usable size", "[sigheap]") {
  void* a = sigheap::alloc(100, 0, false);
  REQUIRE(a != nullptr);
  CHECK(sigheap::owns(a));
  CHECK(reinterpret_cast<uintptr_t>(a) % 16 == 0);
  CHECK(sigheap::usable(a) >= 100);
  std::memset(a, 0x5a, 100);
  sigheap::free(a);
  // The same size class comes back from the free list.
  void* b = sigheap::alloc(100, 0, true);
  CHECK(b == a);
  const auto* z = static_cast<const unsigned char*>(b);
  for (int i = 0; i < 100; ++i) REQUIRE(z[i] == 0);
  void* c = sigheap::alloc(3000, 4096, false);
  REQUIRE(c != nullptr);
  CHECK(reinterpret_cast<uintptr_t>(c) % 4096 == 0);
  CHECK(sigheap::usable(c) >= 3000);
  void* big = sigheap::alloc(size_t{8} << 20, 0, false);
  REQUIRE(big != nullptr);
  std::memset(big, 1, size_t{8} << 20);
  int local = 0;
  CHECK_FALSE(sigheap::owns(&local));
  CHECK_FALSE(sigheap::owns(nullptr));
  sigheap::free(big);
  sigheap::free(c);
  sigheap::free(b);
  sigheap::free(b);  // a repeated free is ignored, not a corrupted list
  void* d = sigheap::alloc(100, 0, false);
  void* e = sigheap::alloc(100, 0, false);
  CHECK(d != e);
  sigheap::free(d);
  sigheap::free(e);
}

TEST_CASE("handler heap: realloc keeps the contents and defers other blocks", "[sigheap]") {
  char* p = static_cast<char*>(sigheap::alloc(10, 0, false));
  REQUIRE(p != nullptr);
  std::memcpy(p, "012345678", 10);
  char* q = static_cast<char*>(sigheap::realloc(p, sigheap::usable(p), 5000));
  REQUIRE(q != nullptr);
  CHECK(std::strcmp(q, "012345678") == 0);
  // A block that is not the handler heap's is copied, and its free deferred.
  static char outside[64] = "outside";
  char* r = static_cast<char*>(sigheap::realloc(outside, sizeof outside, 200));
  REQUIRE(r != nullptr);
  CHECK(std::strcmp(r, "outside") == 0);
  CHECK(sigheap::has_deferred());
  CHECK(sigheap::take_deferred() == outside);
  CHECK_FALSE(sigheap::has_deferred());
  sigheap::free(q);
  sigheap::free(r);
}

TEST_CASE("handler heap: lock-free lists under concurrent use", "[sigheap]") {
  auto work = [](int seed) {
    std::vector<unsigned char*> held;
    for (int i = 0; i < 20000; ++i) {
      const size_t n = 16 + static_cast<size_t>((i * 37 + seed) % 500);
      auto* p = static_cast<unsigned char*>(sigheap::alloc(n, 0, false));
      REQUIRE(p != nullptr);
      std::memset(p, seed, n);
      held.push_back(p);
      if (held.size() > 8) {
        unsigned char* o = held.front();
        held.erase(held.begin());
        REQUIRE(o[0] == static_cast<unsigned char>(seed));
        sigheap::free(o);
      }
    }
    for (unsigned char* o : held) sigheap::free(o);
  };
  std::thread t1(work, 1);
  std::thread t2(work, 2);
  t1.join();
  t2.join();
}
