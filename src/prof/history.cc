// Once per engine interval: the sites' live bytes against the chunk heat, and
// the interval, chunk and move records kept for the profile.
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/outfile.h"
#include "base/sys.h"
#include "src/prof/internal.h"
#include "src/prof/sites.h"

namespace strata::prof {

void account(ChunkLookup lookup, void* ctx) {
  if (!g_on) return;
  // Blocks allocated less than three intervals ago are left out: being
  // written for the first time (initialisation) is not use, and the heat
  // model needs a few intervals to forget it.
  constexpr uint64_t kSettle = 3;
  const uint64_t iv = __atomic_add_fetch(&g_iv, 1, __ATOMIC_RELAXED);
  for (size_t s = 0; s < kStripes; ++s) {
    Stripe& st = g_stripes[s];
    const Live* v = stripe_slots(s);
    st.lock.lock();
    // The slots in use only, from the stripe's bitmap: the table is sized
    // for 64 GiB of sampled heap, and reading all of it (6 MiB) cost the
    // engine 3 ms an interval beside a program using memory bandwidth.
    for (size_t w = 0; w < kPerStripe / 64; ++w) {
      for (uint64_t bits = st.used[w]; bits != 0; bits &= bits - 1) {
        const Live& l = v[(w << 6) | static_cast<size_t>(std::countr_zero(bits))];
        if (l.p == 0 || iv - l.iv < kSettle) continue;
        Site& site = g_sites[l.site];
        ChunkInfo ci{0, -1};
        if (!lookup(l.p >> profile::kChunkShift, &ci, ctx)) continue;  // not resident yet
        add(site.bi, l.weight);
        add(site.heat_bi, l.weight * ci.heat);
        if (ci.tier >= 0 && ci.tier < kMaxTiers) add(site.tier_bi[ci.tier], l.weight);
      }
    }
    st.lock.unlock();
  }
}

void begin_interval(uint64_t index, const uint64_t resident[kMaxTiers], uint64_t promoted_bytes,
                    uint64_t demoted_bytes, uint32_t promoted, uint32_t demoted, uint32_t failures,
                    uint32_t nchunks) {
  if (!g_on) return;
  History& hs = *g_hist;
  profile::IntervalRecord r;
  r.index = static_cast<uint32_t>(index);
  r.time_ns = now_ns(CLOCK_REALTIME) - g_start_ns;
  for (int t = 0; t < kMaxTiers; ++t) r.resident[t] = resident[t];
  r.promoted_bytes = promoted_bytes;
  r.demoted_bytes = demoted_bytes;
  r.promoted = promoted;
  r.demoted = demoted;
  r.failures = failures;
  if (hs.chunks.size() + nchunks > kMaxChunkRecords) thin_history();
  hs.keep_chunks = r.index % hs.stride == 0;
  hs.intervals.push_back(r);
  hs.first_chunk.push_back(hs.chunks.size());
  hs.nchunks.push_back(0);
}

void add_chunk(uint64_t id, float heat, int tier, uint64_t bytes) {
  if (!g_on || g_hist->intervals.empty() || !g_hist->keep_chunks) return;
  History& hs = *g_hist;
  profile::ChunkRecord c;
  c.id = id;
  c.heat = heat;
  c.tier = static_cast<int8_t>(tier);
  c.bytes = static_cast<uint32_t>(std::min<uint64_t>(bytes, UINT32_MAX));
  hs.chunks.push_back(c);
  ++hs.nchunks.back();
}

void add_move(uint64_t interval, const Move& m, uint64_t bytes) {
  if (!g_on || g_hist->moves.size() >= kMaxMoves) return;
  profile::MoveRecord r;
  r.interval = static_cast<uint32_t>(interval);
  r.chunk = m.chunk;
  r.from = static_cast<int8_t>(m.from);
  r.to = static_cast<int8_t>(m.to);
  r.bytes = bytes;
  r.reason = m.reason;
  g_hist->moves.push_back(r);
}

}  // namespace strata::prof
