// Where pages are moved: the planner's moves (policy/migrate_plan) carried out with
// move_pages(2) in batches, within the rate budget, with failures counted by errno.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/log.h"
#include "src/engine/internal.h"
#include "src/prof/profile.h"

namespace strata::engine {

void Engine::migrate() {
  const int nt = pol_->ntiers;
  PlanTier tiers[kMaxTiers];
  plan_chunks_.clear();
  uint64_t hot = 0;
  for (const auto& [id, c] : chunks_) {
    uint64_t b = bytes(c);
    if (b == 0 || c.tier < 0) continue;
    PlanChunk pc;
    pc.id = id;
    pc.tier = c.tier;
    pc.bytes = b;
    pc.heat = heat_.heat(id);
    pc.recent = heat_.recent(id);
    if ((c.flags & kRegionHot) != 0) pc.heat = pc.recent = 1;
    if ((c.flags & kRegionCold) != 0) pc.heat = pc.recent = 0;
    pc.pinned = (c.flags & kRegionPinned) != 0;
    pc.moved_at = c.moved_at;
    if (std::max(pc.heat, pc.recent) >= cfg_.promote) ++hot;
    tiers[c.tier].resident += b;
    plan_chunks_.push_back(pc);
  }
  COUNTER(hot_chunks).store(hot, std::memory_order_relaxed);
  for (int t = 0; t < nt; ++t) {
    const TierDef& d = pol_->tiers[t];
    tiers[t].enabled = movable_[t];
    tiers[t].high_pct = d.high_pct;
    tiers[t].low_pct = d.low_pct;
    if (d.cap != 0) tiers[t].limit = d.cap;
    if (movable_[t]) {
      // What this program holds there plus what the nodes still have free
      // (less a reserve the kernel keeps for itself) bounds promotion, so
      // the planner swaps instead of promoting into ENOMEM. It never makes
      // the tier shed: live data stays where first touch put it, and only a
      // cap (the user's choice) has watermarks.
      constexpr uint64_t kReserve = 16ULL << 20;
      uint64_t free_bytes = 0;
      for (int n = 0; n < kMaxNodes; ++n)
        if (d.nodes.test(n)) {
          const uint64_t f = node_free(n);
          free_bytes += f > kReserve ? f - kReserve : 0;
        }
      tiers[t].capacity = std::max<uint64_t>(1, tiers[t].resident + free_bytes);
    }
  }
  plan_migrations(std::span<const PlanTier>(tiers, static_cast<size_t>(nt)), plan_chunks_, cfg_,
                  interval_, interval_budget(cfg_), &plan_);
  const PlanStats& ps = plan_.stats;
  COUNTER(skipped_pinned).fetch_add(ps.skipped_pinned, std::memory_order_relaxed);
  COUNTER(skipped_held).fetch_add(ps.skipped_held, std::memory_order_relaxed);
  COUNTER(skipped_budget).fetch_add(ps.skipped_budget, std::memory_order_relaxed);
  COUNTER(skipped_no_room).fetch_add(ps.skipped_no_room, std::memory_order_relaxed);
  for (const Move& m : plan_.moves) execute(m);
  STRATA_LOG(LogLevel::kDebug,
             "engine: interval %llu: %zu chunks, %llu hot, median heat %.2f, sampled in %.1f ms; "
             "tier 0 %llu/%llu MiB; plan: %zu moves, skipped pinned %u held %u budget %u "
             "no-room %u",
             static_cast<unsigned long long>(interval_), plan_chunks_.size(),
             static_cast<unsigned long long>(hot), median_scaled_, last_sample_ms_,
             static_cast<unsigned long long>(tiers[0].resident >> 20),
             static_cast<unsigned long long>(tiers[0].capacity >> 20), plan_.moves.size(),
             ps.skipped_pinned, ps.skipped_held, ps.skipped_budget, ps.skipped_no_room);
}

void Engine::execute(const Move& m) {
  auto it = chunks_.find(m.chunk);
  if (it == chunks_.end() || m.to < 0 || m.to >= kMaxTiers || tier_node_[m.to] < 0) return;
  ChunkState& c = it->second;
  const int node = tier_node_[m.to];
  const bool whole_thp =
      c.lo == (m.chunk << kChunkShift) && c.hi - c.lo == kChunkBytes && c.anon_huge >= kChunkBytes;
  const uintptr_t step = whole_thp ? kChunkBytes : kPage;
  const uint64_t page_bytes = whole_thp ? kChunkBytes : kPage;
  const size_t batch = std::max<size_t>(1, cfg_.batch_pages);
  uint64_t moved = 0;
  for (uintptr_t a = c.lo; a < c.hi;) {
    batch_.clear();
    for (; a < c.hi && batch_.size() < batch; a += step)
      batch_.push_back(reinterpret_cast<void*>(a));
    nodes_.assign(batch_.size(), node);
    bstatus_.assign(batch_.size(), kUnset);
    constexpr int kMpolMfMove = 1 << 1;  // pages mapped only by this process
    long r =
        sys::move_pages(batch_.size(), batch_.data(), nodes_.data(), bstatus_.data(), kMpolMfMove);
    if (r < 0 && r != -ENOENT) {
      COUNTER(syscall_errors).fetch_add(1, std::memory_order_relaxed);
      count_failure(static_cast<int>(r), batch_.size());
      continue;
    }
    // A positive result counts pages migrate_pages() could not move (busy:
    // pinned by I/O, locked); the kernel then leaves the whole batch's
    // statuses unwritten, although the other pages did move. Ask where
    // every page is now instead.
    bool requery = r > 0;
    for (int s : bstatus_) requery = requery || s == kUnset;
    if (requery && sys::move_pages(batch_.size(), batch_.data(), nullptr, bstatus_.data(), 0) < 0)
      COUNTER(syscall_errors).fetch_add(1, std::memory_order_relaxed);
    for (int s : bstatus_) {
      if (s == node) {
        ++moved;
      } else if (s >= 0) {
        // Still elsewhere: the kernel could not place it on `node` (after a
        // positive result: busy; otherwise the node was full).
        count_failure(requery ? -EBUSY : -ENOMEM, 1);
      } else if (s == kUnset) {
        count_failure(-EBUSY, 1);
      } else if (s != -ENOENT && s != -EFAULT) {
        // ENOENT: not present; EFAULT: no page table there yet (also not
        // present, e.g. a purged heap range): nothing to move.
        count_failure(s, 1);
      }
    }
  }
  const uint64_t b = moved * page_bytes;
  if (moved == 0) ++iv_.failures;
  if (m.to < m.from) {
    iv_.promoted_bytes += b;
    ++iv_.promoted;
  } else {
    iv_.demoted_bytes += b;
    ++iv_.demoted;
  }
  prof::add_move(interval_, m, b);
  if (m.reason == MoveReason::kWatermark)
    COUNTER(watermark_bytes).fetch_add(b, std::memory_order_relaxed);
  COUNTER(pages_moved).fetch_add(moved * (page_bytes / kPage), std::memory_order_relaxed);
  if (m.to < m.from) {
    COUNTER(promoted_bytes).fetch_add(b, std::memory_order_relaxed);
    COUNTER(promotions).fetch_add(1, std::memory_order_relaxed);
  } else {
    COUNTER(demoted_bytes).fetch_add(b, std::memory_order_relaxed);
    COUNTER(demotions).fetch_add(1, std::memory_order_relaxed);
  }
  c.moved_at = interval_;
  if (moved != 0) c.tier = m.to;
  STRATA_LOG(LogLevel::kDebug, "migrate: chunk %#lx %s tier %d -> %d, %llu KiB (%s)%s",
             static_cast<unsigned long>(m.chunk << kChunkShift), m.to < m.from ? "up" : "down",
             m.from, m.to, static_cast<unsigned long long>(b >> 10), move_reason_name(m.reason),
             whole_thp ? ", one huge page" : "");
}

void Engine::count_failure(int err, uint64_t pages) {
  COUNTER(pages_failed).fetch_add(pages, std::memory_order_relaxed);
  switch (-err) {
    case ENOMEM:
      COUNTER(fail_nomem).fetch_add(pages, std::memory_order_relaxed);
      break;
    case EBUSY:
      COUNTER(fail_busy).fetch_add(pages, std::memory_order_relaxed);
      break;
    case EFAULT:
      COUNTER(fail_fault).fetch_add(pages, std::memory_order_relaxed);
      break;
    case EACCES:
      COUNTER(fail_acces).fetch_add(pages, std::memory_order_relaxed);
      break;
    default:
      COUNTER(fail_other).fetch_add(pages, std::memory_order_relaxed);
  }
}

}  // namespace strata::engine
