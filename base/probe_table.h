// Pieces shared by strata's fixed-capacity linear-probing tables (the heat
// table, the profiler's live-block table): the key mixer and deletion by
// backward shift. Header-only, allocation-free.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata {

// splitmix64's finaliser: spreads keys that come in runs (chunk ids,
// addresses) over the table, so linear probing does not see long runs.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Deletes slot i of a linear-probing table of mask + 1 slots by backward
// shift: later members of i's probe run move into the hole, so lookups never
// need tombstones. used(slot) says whether a slot holds an entry, home(slot)
// which slot its entry hashes to. Returns the slot left over, for the caller
// to clear.
template <class Slot, class Used, class Home>
size_t erase_shift(Slot* slots, size_t mask, size_t i, Used used, Home home) {
  for (size_t j = (i + 1) & mask; used(slots[j]); j = (j + 1) & mask) {
    const size_t h = home(slots[j]);
    // slots[j] may move to i only if its home is not cyclically in (i, j].
    const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
    if (stays) continue;
    slots[i] = slots[j];
    i = j;
  }
  return i;
}

}  // namespace strata
