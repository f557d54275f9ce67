#include "src/runtime/region_map.h"

#include <sched.h>
#include <sys/mman.h>

#include <cstring>

#include "base/log.h"
#include "base/sys.h"

namespace strata {

namespace {
constinit RegionMap g_map;  // constant-initialised: usable before any constructor runs
}  // namespace

RegionMap& region_map() {
  return g_map;
}

void RegionMap::lock() {
  lock_.lock();
}
void RegionMap::unlock() {
  lock_.unlock();
}

bool RegionMap::ensure_storage() {
  if (v_ != nullptr) return true;
  void* p = strata_sys_mmap(nullptr, kCapacity * sizeof(Region), PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  v_ = static_cast<Region*>(p);
  return true;
}

size_t RegionMap::lower_bound(uintptr_t addr) const {
  size_t lo = 0;
  size_t hi = n_;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v_[mid].end <= addr)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// A range the table cannot hold is counted and, the first time, reported:
// never silently dropped.
void RegionMap::note_dropped(uintptr_t start, uintptr_t end) {
  if (dropped_++ == 0)
    STRATA_LOG(LogLevel::kWarn,
               "address-range table full (%zu entries): [%p, %p) and later ranges it cannot "
               "hold are not tracked (no placement or migration for them)",
               n_, reinterpret_cast<void*>(start), reinterpret_cast<void*>(end));
}

bool RegionMap::insert_at(size_t i, const Region& r) {
  if (n_ >= kCapacity) {
    note_dropped(r.start, r.end);
    return false;
  }
  std::memmove(&v_[i + 1], &v_[i], (n_ - i) * sizeof(Region));
  v_[i] = r;
  ++n_;
  return true;
}

void RegionMap::erase_at(size_t i) {
  std::memmove(&v_[i], &v_[i + 1], (n_ - i - 1) * sizeof(Region));
  --n_;
}

void RegionMap::remove_locked(uintptr_t start, uintptr_t end) {
  size_t i = lower_bound(start);
  while (i < n_ && v_[i].start < end) {
    Region& r = v_[i];
    if (r.start < start && r.end > end) {  // split in two
      Region tail = r;
      tail.start = end;
      r.end = start;
      insert_at(i + 1, tail);
      return;
    }
    if (r.start < start) {
      r.end = start;
      ++i;
    } else if (r.end > end) {
      r.start = end;
      return;
    } else {
      erase_at(i);
    }
  }
}

bool RegionMap::add(uintptr_t start, uintptr_t end, int tier, RegionKind kind, uint32_t site,
                    uint16_t flags) {
  if (start >= end) return true;
  lock();
  if (!ensure_storage()) {
    note_dropped(start, end);
    unlock();
    return false;
  }
  remove_locked(start, end);
  Region r{start, end, site, static_cast<int8_t>(tier), kind, flags};
  size_t i = lower_bound(start);
  auto same = [&](const Region& o) {
    return o.tier == r.tier && o.kind == r.kind && o.site == r.site && o.flags == r.flags;
  };
  bool merged = false;
  if (i > 0 && v_[i - 1].end == start && same(v_[i - 1])) {
    v_[i - 1].end = end;
    merged = true;
    if (i < n_ && v_[i].start == end && same(v_[i])) {
      v_[i - 1].end = v_[i].end;
      erase_at(i);
    }
  } else if (i < n_ && v_[i].start == end && same(v_[i])) {
    v_[i].start = start;
    merged = true;
  }
  bool ok = merged || insert_at(i, r);
  // Tracked whole, or counted as dropped.
  STRATA_ASSERT(!ok || (lower_bound(start) < n_ && v_[lower_bound(start)].start <= start &&
                        v_[lower_bound(start)].end >= end));
  unlock();
  return ok;
}

void RegionMap::remove(uintptr_t start, uintptr_t end) {
  if (start >= end) return;
  lock();
  if (v_ != nullptr) remove_locked(start, end);
  unlock();
}

bool RegionMap::find(uintptr_t addr, Region* out) {
  lock();
  bool found = false;
  if (v_ != nullptr) {
    size_t i = lower_bound(addr);
    if (i < n_ && v_[i].start <= addr) {
      *out = v_[i];
      found = true;
    }
  }
  unlock();
  return found;
}

size_t RegionMap::snapshot(Region* out, size_t cap) {
  lock();
  size_t n = n_;
  if (v_ != nullptr) std::memcpy(out, v_, (n < cap ? n : cap) * sizeof(Region));
  unlock();
  return n;
}

void RegionMap::for_each(void (*fn)(const Region&, void*), void* ctx) {
  lock();
  for (size_t i = 0; i < n_; ++i) fn(v_[i], ctx);
  unlock();
}

size_t RegionMap::size() {
  lock();
  size_t n = n_;
  unlock();
  return n;
}

}  // namespace strata
