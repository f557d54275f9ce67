// The engine's inventory: the chunks of every managed range and where their pages are.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/log.h"
#include "src/engine/internal.h"

namespace strata::engine {

void Engine::inventory() {
  spans_.clear();
  auto add = [&](uintptr_t lo, uintptr_t hi, uint16_t flags, int home) {
    lo &= ~(kPage - 1);
    spans_.push_back(sampling::Span{lo, hi});
    for (uintptr_t c = lo >> kChunkShift; c <= (hi - 1) >> kChunkShift; ++c) {
      uintptr_t cs = c << kChunkShift;
      uintptr_t s = std::max(lo, cs);
      uintptr_t e = std::min(hi, cs + kChunkBytes);
      auto [it, fresh] = chunks_.try_emplace(c);
      ChunkState& st = it->second;
      // A chunk that just appeared was just written (allocation, first
      // touch) and reads hot once: it waits `hold` intervals like a chunk
      // that just moved.
      if (fresh) st.moved_at = interval_;
      if (st.seen != interval_) {
        st.lo = s;
        st.hi = e;
        st.flags = 0;
        st.seen = interval_;
      } else {
        st.lo = std::min(st.lo, s);
        st.hi = std::max(st.hi, e);
      }
      st.flags |= flags;
      st.home = home;
    }
  };
  for (int t = 0; t < heap::ntiers(); ++t) {
    if (!heap::tier_enabled(t) || pol_->tiers[t].kind == TierKind::kPmemFile) continue;
    uintptr_t lo = 0;
    uintptr_t hi = 0;
    heap::tier_range(t, &lo, &hi);
    if (hi > lo) add(lo, hi, 0, t);
  }
  {
    uintptr_t lo = 0;
    uintptr_t hi = 0;
    heap::side_range(&lo, &hi);  // tier 0 too: sampled blocks, a capped tier 0
    if (hi > lo) add(lo, hi, 0, 0);
  }
  size_t n = snapshot(g_src.mmaps, &regions_);
  for (size_t i = 0; i < n; ++i) {
    const Range& r = regions_[i];
    if (r.end > r.start) add(r.start, r.end, r.flags, r.tier);
  }
  // Forget what is gone (unmapped, or a heap range given back).
  for (auto it = chunks_.begin(); it != chunks_.end();) {
    if (it->second.seen != interval_) {
      heat_.forget(it->first);
      it = chunks_.erase(it);
    } else {
      ++it;
    }
  }
  // Range hints (strata_hint_range, pin rules on heap blocks).
  n = snapshot(g_src.hints, &hints_);
  for (size_t i = 0; i < n; ++i) {
    const Range& h = hints_[i];
    for (uintptr_t c = h.start >> kChunkShift; h.end > h.start && c <= (h.end - 1) >> kChunkShift;
         ++c) {
      auto it = chunks_.find(c);
      if (it != chunks_.end()) it->second.flags |= h.flags;
    }
  }
  COUNTER(chunks).store(chunks_.size(), std::memory_order_relaxed);
}

void Engine::on_obs(const sampling::Obs& o, void* ctx) {
  auto* self = static_cast<Engine*>(ctx);
  if (o.end <= o.start) return;
  const double len = static_cast<double>(o.end - o.start);
  for (uintptr_t c = o.start >> kChunkShift; c <= (o.end - 1) >> kChunkShift; ++c) {
    auto it = self->chunks_.find(c);
    if (it == self->chunks_.end()) continue;
    ChunkState& st = it->second;
    uintptr_t s = std::max(o.start, st.lo);
    uintptr_t e = std::min(o.end, st.hi);
    if (e <= s) continue;
    const double share = static_cast<double>(e - s) / len;
    st.rss += static_cast<uint64_t>(static_cast<double>(o.rss) * share);
    st.anon_huge += static_cast<uint64_t>(static_cast<double>(o.anon_huge) * share);
    st.fraction = std::max(st.fraction, o.fraction);
  }
}

void Engine::probe() {
  ids_.clear();
  addrs_.clear();
  // A large inventory is probed in rotating parts (profiler/subset.h): a
  // chunk that was never probed, or that moved since, is probed every time.
  probe_subset_.next_round(chunks_.size(), kProbeBudget);
  for (const auto& [id, c] : chunks_) {
    const bool moved_since = c.moved_at != kNeverMoved && c.moved_at >= c.probed;
    if (c.probed != 0 && !moved_since && !probe_subset_.selects(id)) continue;
    ids_.push_back(id);
    const uintptr_t span = c.hi - c.lo;
    const uintptr_t step = std::max<uintptr_t>(kPage, (span / kProbes) & ~(kPage - 1));
    int k = 0;
    for (uintptr_t a = c.lo; a < c.hi && k < kProbes; a += step, ++k)
      addrs_.push_back(reinterpret_cast<void*>(a));
    for (; k < kProbes; ++k) addrs_.push_back(nullptr);  // padding, skipped below
  }
  status_.assign(addrs_.size(), -ENOENT);
  constexpr size_t kBatch = 4096;
  for (size_t i = 0; i < addrs_.size(); i += kBatch) {
    size_t n = std::min(kBatch, addrs_.size() - i);
    // Compact out the padding for the call, then spread the answers back.
    batch_.clear();
    for (size_t j = 0; j < n; ++j)
      if (addrs_[i + j] != nullptr) batch_.push_back(addrs_[i + j]);
    bstatus_.assign(batch_.size(), -ENOENT);
    if (!batch_.empty() &&
        sys::move_pages(batch_.size(), batch_.data(), nullptr, bstatus_.data(), 0) < 0)
      COUNTER(syscall_errors).fetch_add(1, std::memory_order_relaxed);
    size_t b = 0;
    for (size_t j = 0; j < n; ++j)
      if (addrs_[i + j] != nullptr) status_[i + j] = bstatus_[b++];
  }
  for (size_t i = 0; i < ids_.size(); ++i) {
    ChunkState& c = chunks_[ids_[i]];
    int votes[kMaxTiers] = {};
    int present = 0;
    int probes = 0;
    for (int k = 0; k < kProbes; ++k) {
      if (addrs_[i * kProbes + k] == nullptr) continue;
      ++probes;
      int s = status_[i * kProbes + k];
      if (s < 0 || s >= kMaxNodes) continue;
      ++present;
      // A node shared by several tiers counts for the chunk's own tier.
      const int home = c.home;
      int t = home >= 0 && home < pol_->ntiers && pol_->tiers[home].nodes.test(s) ? home
                                                                                  : node_tier_[s];
      if (t >= 0) ++votes[t];
    }
    int best = -1;
    for (int t = 0; t < kMaxTiers; ++t)
      if (votes[t] > 0 && (best < 0 || votes[t] > votes[best])) best = t;
    c.tier = best;
    c.present_est =
        probes > 0 ? (c.hi - c.lo) * static_cast<uint64_t>(present) / static_cast<uint64_t>(probes)
                   : 0;
    c.probed = interval_;
  }
}

uint64_t Engine::node_free(int node) {
  char path[96];
  std::snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
  char buf[4096];
  long n = sys::read_file(path, buf, sizeof buf);
  if (n <= 0) return 0;
  const char* p = std::strstr(buf, "MemFree:");
  if (p == nullptr) return 0;
  p += 8;
  while (*p == ' ') ++p;
  return std::strtoull(p, nullptr, 10) * 1024;
}

}  // namespace strata::engine
