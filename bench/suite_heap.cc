// Heap of strata-bench-suite's shapes, and drawing their per-run parameters.
#include <sys/mman.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "suite_shapes.h"

namespace bench {

namespace {

constexpr uint64_t kMmapThreshold = 128 << 10;  // glibc's default: larger mallocs are mmaps

uint64_t round_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

[[noreturn]] void out_of_memory(const char* what, uint64_t bytes, uint64_t total) {
  std::fprintf(stderr, "strata-bench-suite: %s(%" PRIu64 ") failed after %" PRIu64 " bytes\n", what,
               bytes, total);
  std::exit(1);
}

}  // namespace

Heap::~Heap() {
  if (sim_) return;
  for (size_t i = 0; i < addr_.size(); ++i) {
    void* p = reinterpret_cast<void*>(addr_[i]);
    if (kind_[i] == Kind::kMmap)
      munmap(p, round_up(bytes_[i], kPage));
    else
      std::free(p);
  }
}

size_t Heap::push(uintptr_t a, uint64_t bytes, Kind k) {
  addr_.push_back(a);
  bytes_.push_back(bytes);
  start_.push_back(total_);
  kind_.push_back(k);
  total_ += bytes;
  return addr_.size() - 1;
}

size_t Heap::add_malloc(uint64_t bytes) {
  bytes = round_up(std::max<uint64_t>(bytes, 16), 16);
  if (sim_) {
    uintptr_t a = 0;
    if (bytes < kMmapThreshold) {  // packed after a 16-byte header, like a small-object heap
      a = round_up(cursor_ + 16, 16);
      cursor_ = a + bytes;
    } else {  // its own pages, header first
      a = round_up(cursor_, kPage) + 16;
      cursor_ = round_up(a + bytes, kPage) + kPage;
    }
    return push(a, bytes, Kind::kMalloc);
  }
  void* p = std::malloc(bytes);
  if (p == nullptr) out_of_memory("malloc", bytes, total_);
  return push(reinterpret_cast<uintptr_t>(p), bytes, Kind::kMalloc);
}

size_t Heap::add_mmap(uint64_t bytes) {
  bytes = round_up(std::max<uint64_t>(bytes, kPage), kPage);
  if (sim_) {
    const uintptr_t a = round_up(cursor_, kPage);
    cursor_ = a + bytes + kPage;
    return push(a, bytes, Kind::kMmap);
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) out_of_memory("mmap", bytes, total_);
  return push(reinterpret_cast<uintptr_t>(p), bytes, Kind::kMmap);
}

size_t Heap::adopt_malloc(void* p, uint64_t bytes) {
  if (sim_) return add_malloc(bytes);
  return push(reinterpret_cast<uintptr_t>(p), bytes, Kind::kAdopted);
}

void Heap::finish() {
  std::vector<uintptr_t> pages;
  for (size_t i = 0; i < addr_.size(); ++i) {
    if (!sim_ && kind_[i] != Kind::kAdopted)
      std::memset(reinterpret_cast<void*>(addr_[i]), 1, bytes_[i]);
    for (uintptr_t pg = addr_[i] / kPage; pg <= (addr_[i] + bytes_[i] - 1) / kPage; ++pg)
      pages.push_back(pg);
  }
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  first_page_.resize(addr_.size());
  for (size_t i = 0; i < addr_.size(); ++i)
    first_page_[i] = static_cast<uint32_t>(
        std::lower_bound(pages.begin(), pages.end(), addr_[i] / kPage) - pages.begin());
  pages_.resize(pages.size());
  for (size_t i = 0; i < pages.size(); ++i) pages_[i] = reinterpret_cast<void*>(pages[i] * kPage);
  // A made-up layout is replaced by the list alone: nothing may touch it.
}

std::pair<size_t, uint64_t> Heap::locate(uint64_t pos) const {
  pos %= total_;
  const size_t obj =
      static_cast<size_t>(std::upper_bound(start_.begin(), start_.end(), pos) - start_.begin()) - 1;
  return {obj, pos - start_[obj]};
}

double Params::get(const char* name) const {
  for (const auto& [n, v] : values)
    if (n == name) return v;
  std::fprintf(stderr, "strata-bench-suite: internal error: no parameter %s\n", name);
  std::abort();
}

std::string Params::str() const {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) {
    char buf[64];
    const double v = values[i].second;
    if (kinds[i] == ParamSpec::kSize)
      std::snprintf(buf, sizeof buf, "%s", size_str(static_cast<uint64_t>(v)).c_str());
    else if (kinds[i] == ParamSpec::kInt || kinds[i] == ParamSpec::kIntervals)
      std::snprintf(buf, sizeof buf, "%.0f", v);
    else
      std::snprintf(buf, sizeof buf, "%.3f", v);
    s += (i ? " " : "") + values[i].first + "=" + buf;
  }
  return s;
}

Params draw_params(const ShapeInfo& info, const RunContext& ctx, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the name
  for (const char* c = info.name; *c != '\0'; ++c)
    h = (h ^ static_cast<uint8_t>(*c)) * 0x100000001b3ULL;
  Rng rng{seed ^ h};
  Params p;
  for (const ParamSpec& s : info.params) {
    double v = 0;
    switch (s.kind) {
      case ParamSpec::kSize: {
        v = rng.log_range(s.lo, s.hi);
        v = v >= static_cast<double>(kPage) ? std::round(v / kPage) * kPage
                                            : std::round(v / 16) * 16;
        break;
      }
      case ParamSpec::kShare:
      case ParamSpec::kFrac:
        v = rng.range(s.lo, s.hi);
        break;
      case ParamSpec::kInt:
        v = s.lo + static_cast<double>(rng.below(static_cast<uint64_t>(s.hi - s.lo) + 1));
        break;
      case ParamSpec::kIntervals:
        v = std::max(1.0, std::round(rng.range(s.lo, s.hi) * static_cast<double>(ctx.intervals)));
        break;
    }
    p.values.emplace_back(s.name, v);
    p.kinds.push_back(s.kind);
  }
  return p;
}

const ShapeInfo* find_shape(const std::string& name) {
  for (const ShapeInfo& s : shape_table())
    if (name == s.name) return &s;
  return nullptr;
}

uint64_t Shape::run(Heap& heap, Rng& rng, std::vector<uint32_t>& counts, double deadline_ms,
                    uint64_t max_accesses) {
  constexpr uint64_t kBatch = 1024;
  uint64_t n = 0;
  if (max_accesses != 0) {
    for (; n < max_accesses; n += kBatch)
      batch(heap, rng, counts.data(), std::min(kBatch, max_accesses - n));
    return max_accesses;
  }
  do {
    batch(heap, rng, counts.data(), kBatch);
    n += kBatch;
  } while (now_ms(CLOCK_MONOTONIC) < deadline_ms);
  return n;
}

}  // namespace bench
