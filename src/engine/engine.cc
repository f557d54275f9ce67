#include "src/engine/engine.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/sys.h"
#include "policy/migrate_plan.h"
#include "profiler/abit.h"
#include "profiler/damon.h"
#include "profiler/heat.h"
#include "profiler/idle.h"
#include "profiler/perf_sampler.h"
#include "profiler/sampler.h"
#include "src/prof/profile.h"

namespace strata::engine {
namespace {

using sampling::kChunkBytes;
using sampling::kChunkShift;
constexpr uintptr_t kPage = sys::kPageSize;
constexpr int kProbes = 8;         // pages probed per chunk for its node and residency
constexpr int kUnset = INT32_MIN;  // a move_pages status the kernel did not write
// Heat scaling (Engine::interval): chunks this small do not set the scale (a
// nearly empty chunk holding one busy page would), and a window whose top
// chunk saw less than this is treated as having seen nothing.
constexpr double kMinRankBytes = 256 * 1024;
constexpr double kMinTop = 0.02;

struct AtomicCounters {
  std::atomic<uint64_t> v[sizeof(Counters) / sizeof(uint64_t)];
};
static_assert(sizeof(Counters) % sizeof(uint64_t) == 0);
constinit AtomicCounters g_counters{};
constinit std::atomic<bool> g_running{false};
constinit std::atomic<bool> g_stop{false};
constinit pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;  // one interval's work
constinit const CompiledPolicy* g_pol = nullptr;
constinit char g_sampler_name[16] = {};
constinit char g_sampler_reason[512] = {};
constinit Sources g_src{};           // what the runtime lets the engine read
constinit char g_sampler_text[512] = {};  // STRATA_SAMPLER as given, for error lines
constinit bool g_strict = false;     // STRATA_STRICT: an unusable STRATA_SAMPLER is fatal
constinit double g_cpu_pct = kAutoCpuMigrating;  // the sampling budget in use (start())

// Counter slots by field, so the engine updates one field without a lock.
#define COUNTER(field) (g_counters.v[offsetof(Counters, field) / sizeof(uint64_t)])

using sys::now_ns;

// Copies the ranges `fill` reports into *out (grown to fit); how many there are.
size_t snapshot(size_t (*fill)(Range* out, size_t cap), std::vector<Range>* out) {
  if (fill == nullptr) return 0;
  size_t n = fill(out->data(), out->size());
  while (n > out->size()) {
    out->resize(n + 64);
    n = fill(out->data(), out->size());
  }
  return n;
}

// Whether move_pages can bring memory to tier t and take it away: a tier on
// NUMA nodes of its own (a file heap has none; two tiers on one node, as on
// a one-node machine, cannot be told apart by where pages are).
bool movable_tier(const CompiledPolicy& pol, int t) {
  const TierDef& d = pol.tiers[t];
  if (d.kind == TierKind::kPmemFile || d.nodes.empty() || !heap::tier_enabled(t)) return false;
  for (int u = 0; u < pol.ntiers; ++u) {
    if (u == t || pol.tiers[u].kind == TierKind::kPmemFile) continue;
    for (int n = 0; n < kMaxNodes; ++n)
      if (d.nodes.test(n) && pol.tiers[u].nodes.test(n)) return false;
  }
  return true;
}

struct ChunkState {
  uintptr_t lo = 0;  // the managed part of the chunk
  uintptr_t hi = 0;
  uint64_t moved_at = kNeverMoved;
  uint64_t rss = 0;  // from the sampler this interval (0 = not reported)
  uint64_t anon_huge = 0;
  double fraction = -1;      // observed this interval (-1 = not observed)
  uint64_t present_est = 0;  // estimated from probes
  int tier = -1;
  int home = -1;       // the tier whose heap or mapping it belongs to
  uint16_t flags = 0;  // kRegion* hint flags overlapping the chunk
  uint64_t seen = 0;   // interval the inventory last saw it
};

class Engine {
 public:
  Engine(const CompiledPolicy* pol, std::unique_ptr<sampling::Sampler> s, bool sampling)
      : pol_(pol),
        cfg_(pol->migrate),
        sampler_(std::move(s)),
        heat_(pol->migrate),
        sampling_(sampling) {
    std::fill(std::begin(node_tier_), std::end(node_tier_), -1);
    for (int t = 0; t < pol_->ntiers; ++t) {
      tier_node_[t] = -1;
      const TierDef& d = pol_->tiers[t];
      movable_[t] = movable_tier(*pol_, t);
      if (!movable_[t]) continue;
      tier_node_[t] = d.nodes.first();
      for (int n = 0; n < kMaxNodes; ++n)
        if (d.nodes.test(n) && node_tier_[n] < 0) node_tier_[n] = t;
    }
  }

  sampling::Sampler* sampler() { return sampler_.get(); }
  // The last window: the bytes-weighted median of the referenced fractions
  // scaled like the heat (-1 if the window saw nothing), and the top chunk's
  // raw fraction.
  double median_scaled() const { return median_scaled_; }
  double top_fraction() const { return top_fraction_; }

  void interval() {
    const uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    ++interval_;
    iv_ = IntervalMoves{};
    if (!sampling_) return;  // metrics only
    inventory();
    for (auto& [id, c] : chunks_) {
      c.fraction = -1;
      c.rss = 0;
      c.anon_huge = 0;
    }
    int r = sampler_->collect(&Engine::on_obs, this);
    if (r != 0) COUNTER(sampler_errors).fetch_add(1, std::memory_order_relaxed);
    probe();
    // Heat is relative: fractions are scaled so the most referenced chunk of
    // the window reads 1. A window in which the program paused, or one too
    // short to see much, then still ranks chunks the same way; a window that
    // saw nothing at all carries no information and is not observed.
    double seen = 0;
    double top = 0;
    ranked_.clear();
    for (const auto& [id, c] : chunks_) {
      if (c.fraction < 0) continue;
      const auto b = static_cast<double>(bytes(c));
      seen += b;
      ranked_.emplace_back(c.fraction, b);
      if (b >= kMinRankBytes) top = std::max(top, c.fraction);
    }
    // The window adapts (see thread_main) to the median of the scaled
    // fractions by bytes, which does not move when the program pauses for
    // part of a window, and to whether the top chunk saturated.
    top_fraction_ = top;
    median_scaled_ = -1;
    if (seen > 0 && top >= kMinTop) {
      std::sort(ranked_.begin(), ranked_.end());
      double acc = 0;
      for (const auto& [f, b] : ranked_) {
        acc += b;
        if (acc >= seen / 2) {
          median_scaled_ = f / top;
          break;
        }
      }
    }
    if (top >= kMinTop) {
      ++heat_seq_;  // the heat model's own clock: skipped windows do not decay heat
      for (const auto& [id, c] : chunks_)
        if (c.fraction >= 0) heat_.observe(heat_seq_, id, std::min(1.0, c.fraction / top));
      heat_.end_interval(heat_seq_);
    }
    const uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    last_sample_ms_ = static_cast<double>(c1 - c0) / 1e6;
    COUNTER(sample_ns).fetch_add(c1 - c0, std::memory_order_relaxed);
    if (cfg_.enabled) migrate();
    if (prof::g_on) profile_interval();
    COUNTER(migrate_ns).fetch_add(now_ns(CLOCK_THREAD_CPUTIME_ID) - c1, std::memory_order_relaxed);
    COUNTER(intervals).fetch_add(1, std::memory_order_relaxed);
  }

  void for_each(void (*fn)(const ChunkView&, void*), void* ctx) const {
    for (const auto& [id, c] : chunks_) {
      ChunkView v{id, c.tier, static_cast<float>(heat_.heat(id)), bytes(c)};
      fn(v, ctx);
    }
  }

 private:
  static uint64_t bytes(const ChunkState& c) { return c.rss != 0 ? c.rss : c.present_est; }

  // What the profiler records of this interval: site heat, chunk heat, tier use, moves.
  void profile_interval() {
    prof::account(
        [](uint64_t chunk, prof::ChunkInfo* out, void* ctx) {
          auto* self = static_cast<Engine*>(ctx);
          auto it = self->chunks_.find(chunk);
          if (it == self->chunks_.end() || bytes(it->second) == 0) return false;
          out->heat = static_cast<float>(self->heat_.heat(chunk));
          out->tier = static_cast<int8_t>(it->second.tier);
          return true;
        },
        this);
    uint64_t resident[kMaxTiers] = {};
    uint32_t n = 0;
    for (const auto& [id, c] : chunks_) {
      const uint64_t b = bytes(c);
      if (b == 0) continue;
      ++n;
      if (c.tier >= 0 && c.tier < kMaxTiers) resident[c.tier] += b;
    }
    prof::begin_interval(interval_, resident, iv_.promoted_bytes, iv_.demoted_bytes, iv_.promoted,
                         iv_.demoted, iv_.failures, n);
    for (const auto& [id, c] : chunks_) {
      const uint64_t b = bytes(c);
      if (b != 0) prof::add_chunk(id, static_cast<float>(heat_.heat(id)), c.tier, b);
    }
  }

  // The chunks of every managed range: tier heaps (carved part) and tracked mmaps.
  void inventory() {
    auto add = [&](uintptr_t lo, uintptr_t hi, uint16_t flags, int home) {
      lo &= ~(kPage - 1);
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

  static void on_obs(const sampling::Obs& o, void* ctx) {
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

  // Where each chunk's pages are: kProbes pages spread over it, one
  // move_pages(nodes = NULL) call per batch.
  void probe() {
    ids_.clear();
    addrs_.clear();
    for (const auto& [id, c] : chunks_) {
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
      c.present_est = probes > 0 ? (c.hi - c.lo) * static_cast<uint64_t>(present) /
                                       static_cast<uint64_t>(probes)
                                 : 0;
    }
  }

  // Free bytes of a node (sysfs meminfo), for tiers without a capacity limit.
  static uint64_t node_free(int node) {
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

  void migrate() {
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
      if ((c.flags & kRegionHot) != 0) pc.heat = 1;
      if ((c.flags & kRegionCold) != 0) pc.heat = 0;
      pc.pinned = (c.flags & kRegionPinned) != 0;
      pc.moved_at = c.moved_at;
      if (pc.heat >= cfg_.promote) ++hot;
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
        // (less a reserve the kernel keeps for itself): without a cap that is
        // the limit; with one, a node that other programs filled lowers it,
        // so the planner swaps instead of promoting into ENOMEM.
        constexpr uint64_t kReserve = 16ULL << 20;
        uint64_t free_bytes = 0;
        for (int n = 0; n < kMaxNodes; ++n)
          if (d.nodes.test(n)) {
            const uint64_t f = node_free(n);
            free_bytes += f > kReserve ? f - kReserve : 0;
          }
        const uint64_t physical = tiers[t].resident + free_bytes;
        if (tiers[t].limit == 0 || physical < tiers[t].limit) tiers[t].limit = physical;
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
               static_cast<unsigned long long>(tiers[0].limit >> 20), plan_.moves.size(),
               ps.skipped_pinned, ps.skipped_held, ps.skipped_budget, ps.skipped_no_room);
  }

  // Moves one chunk: every 4 KiB page, or the chunk's head alone when it is
  // one transparent huge page (the kernel then migrates it whole).
  void execute(const Move& m) {
    auto it = chunks_.find(m.chunk);
    if (it == chunks_.end() || m.to < 0 || m.to >= kMaxTiers || tier_node_[m.to] < 0) return;
    ChunkState& c = it->second;
    const int node = tier_node_[m.to];
    const bool whole_thp = c.lo == (m.chunk << kChunkShift) && c.hi - c.lo == kChunkBytes &&
                           c.anon_huge >= kChunkBytes;
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
      long r = sys::move_pages(batch_.size(), batch_.data(), nodes_.data(), bstatus_.data(),
                               kMpolMfMove);
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

  static void count_failure(int err, uint64_t pages) {
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

  const CompiledPolicy* pol_;
  MigrateConfig cfg_;
  std::unique_ptr<sampling::Sampler> sampler_;
  HeatTable heat_;
  struct IntervalMoves {
    uint64_t promoted_bytes = 0;
    uint64_t demoted_bytes = 0;
    uint32_t promoted = 0;
    uint32_t demoted = 0;
    uint32_t failures = 0;
  } iv_;
  bool sampling_ = true;
  uint64_t interval_ = 0;
  uint64_t heat_seq_ = 0;
  double median_scaled_ = -1;
  double top_fraction_ = 0;
  std::vector<std::pair<double, double>> ranked_;  // (fraction, bytes), scratch
  double last_sample_ms_ = 0;
  std::unordered_map<uint64_t, ChunkState> chunks_;
  std::vector<Range> regions_;
  std::vector<Range> hints_;
  std::vector<uint64_t> ids_;
  std::vector<void*> addrs_;
  std::vector<int> status_;
  std::vector<void*> batch_;
  std::vector<int> bstatus_;
  std::vector<int> nodes_;
  std::vector<PlanChunk> plan_chunks_;
  Plan plan_;
  int node_tier_[kMaxNodes];
  int tier_node_[kMaxTiers] = {};
  bool movable_[kMaxTiers] = {};
};

constinit Engine* g_engine = nullptr;

// STRATA_SAMPLER=off: nothing is measured; range hints still steer moves.
class NullSampler final : public sampling::Sampler {
 public:
  const char* name() const override { return "off"; }
  bool open(char*, size_t) override { return true; }
  int collect(sampling::Sink, void*) override { return 0; }
};

// ---- sampler selection ----

std::unique_ptr<sampling::Sampler> make(SamplerKind k, const SamplerConfig& sc) {
  switch (k) {
    case SamplerKind::kAbit:
      return std::make_unique<abit::AbitSampler>();
    case SamplerKind::kPebs:
      return std::make_unique<sampling::PerfSampler>(sampling::PerfSampler::Mode::kPebs, sc.period);
    case SamplerKind::kIbs:
      return std::make_unique<sampling::PerfSampler>(sampling::PerfSampler::Mode::kIbs, sc.period);
    case SamplerKind::kIdle:
      return std::make_unique<sampling::IdleSampler>();
    case SamplerKind::kDamon:
      return std::make_unique<sampling::DamonSampler>();
    default:
      return nullptr;
  }
}

void append(char* dst, size_t cap, const char* s) {
  size_t n = std::strlen(dst);
  if (n + 1 < cap) std::snprintf(dst + n, cap - n, "%s", s);
}

std::unique_ptr<sampling::Sampler> choose(const SamplerConfig& sc) {
  char why[256];
  g_sampler_reason[0] = '\0';
  if (sc.kind != SamplerKind::kAuto) {
    auto s = make(sc.kind, sc);
    why[0] = '\0';
    if (s == nullptr)
      std::snprintf(why, sizeof why, "%s: not built into this libstrata",
                    sampler_kind_name(sc.kind));
    if (s != nullptr && s->open(why, sizeof why)) {
      std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "%s (STRATA_SAMPLER)", why);
      return s;
    }
    log_msg(LogLevel::kError,
            "STRATA_SAMPLER=\"%s\": unavailable here: %s (expected a sampler that works on this "
            "machine); using auto",
            g_sampler_text, why);
    if (g_strict) exit_strict();
  }
  // Best first: page-granular hardware sampling, then accessed bits per
  // chunk VMA, then the root-only kernel interfaces.
  const SamplerKind order[] = {SamplerKind::kPebs, SamplerKind::kIbs, SamplerKind::kAbit,
                               SamplerKind::kIdle, SamplerKind::kDamon};
  char skipped[384] = {};
  for (SamplerKind k : order) {
    auto s = make(k, sc);
    why[0] = '\0';
    if (s == nullptr)
      std::snprintf(why, sizeof why, "%s: not built into this libstrata", sampler_kind_name(k));
    if (s != nullptr && s->open(why, sizeof why)) {
      std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "auto: %s%s%s", why,
                    skipped[0] != '\0' ? "; not used: " : "", skipped);
      return s;
    }
    if (skipped[0] != '\0') append(skipped, sizeof skipped, "; ");
    append(skipped, sizeof skipped, why);
  }
  std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "no sampler works here: %s", skipped);
  return nullptr;
}

void sleep_ms(uint64_t ms) {
  // In slices, so stop() is noticed within 50 ms.
  while (ms > 0 && !g_stop.load(std::memory_order_relaxed)) {
    uint64_t s = std::min<uint64_t>(ms, 50);
    timespec ts{static_cast<time_t>(s / 1000), static_cast<long>((s % 1000) * 1000000)};
    nanosleep(&ts, nullptr);
    ms -= s;
  }
}

void* thread_main(void*) {
  heap::ensure_thread();
  heap::ReentrancyGuard guard;  // everything this thread allocates goes to the default heap
  const SamplerConfig& sc = g_pol->sampler;
  const uint64_t interval_ms = g_pol->migrate.interval_ms;
  // The accessed-bit window: fixed (window=T) or adapted: halved while the
  // median chunk (by bytes) reads more than a quarter as referenced as the
  // top one (long windows saturate: memory touched now and then looks as hot
  // as the hot set), doubled while even the top chunk reads under half
  // referenced (short windows see too little).
  const uint64_t max_window = std::max<uint64_t>(1, interval_ms / 2);
  uint64_t window_ms = sc.window_ms != 0 ? std::min<uint64_t>(sc.window_ms, interval_ms)
                                         : std::max<uint64_t>(1, interval_ms / 10);
  const uint64_t w0 = now_ns(CLOCK_MONOTONIC);
  uint64_t sampled = 0;
  double cost_ns = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    const uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    g_engine->sampler()->arm();
    COUNTER(sample_ns).fetch_add(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0, std::memory_order_relaxed);
    sleep_ms(window_ms);
    if (g_stop.load(std::memory_order_relaxed)) break;
    pthread_mutex_lock(&g_lock);
    g_engine->interval();
    const double median = g_engine->median_scaled();
    const double top = g_engine->top_fraction();
    prof::poll_control();
    pthread_mutex_unlock(&g_lock);
    if (g_src.after_interval != nullptr) g_src.after_interval();
    if (sc.window_ms == 0 && median >= 0) {
      if (median > 0.25)
        window_ms = std::max<uint64_t>(1, window_ms / 2);  // the bulk reads warm: too long
      else if (top < 0.5)
        window_ms = std::min(max_window, window_ms * 2);  // even the top is unsaturated: too short
    }
    COUNTER(window_ms).store(window_ms, std::memory_order_relaxed);
    Counters c{};
    counters(&c);
    // Sampling only (moves have their rate limit), smoothed: one costly
    // interval (the first, or a burst of new mappings) should not stall the
    // next several.
    cost_ns = cost_ns == 0 ? static_cast<double>(c.sample_ns - sampled)
                           : 0.7 * cost_ns + 0.3 * static_cast<double>(c.sample_ns - sampled);
    sampled = c.sample_ns;
    const double used = cost_ns;
    const uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
    COUNTER(wall_ns).store(now_ns(CLOCK_MONOTONIC) - w0, std::memory_order_relaxed);
    // CPU budget: stretch the wait so that sampling takes at most cpu% of it.
    uint64_t period_ns = interval_ms * 1000000ULL;
    const auto min_period = static_cast<uint64_t>(used * 100.0 / g_cpu_pct);
    if (min_period > period_ns) {
      period_ns = min_period;
      COUNTER(throttled).fetch_add(1, std::memory_order_relaxed);
    }
    if (elapsed < period_ns) sleep_ms((period_ns - elapsed) / 1000000ULL);
  }
  g_running.store(false, std::memory_order_release);
  return nullptr;
}

bool spawn() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  // The engine takes no signals meant for the program.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t th;
  g_running.store(true, std::memory_order_release);
  int r = pthread_create(&th, &attr, thread_main, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    g_running.store(false, std::memory_order_release);
    log_msg(LogLevel::kError, "migration engine: cannot start its thread: %s", std::strerror(r));
    return false;
  }
  pthread_setname_np(th, "strata-engine");
  return true;
}

}  // namespace

void start(const Config& cfg) {
  const CompiledPolicy* pol = cfg.pol;
  if (g_engine != nullptr || pol == nullptr) return;
  // The sampling budget. Accessed-bit sampling costs the program more than the
  // sampler's own CPU (TLB refills, accessed bits set again: about 3-5 times
  // as much on docs/benchmarks.md's hot-set driver), so when nothing can move
  // (profiling only) auto takes a third of the migrating budget.
  int movable = 0;
  for (int t = 0; t < pol->ntiers; ++t) movable += movable_tier(*pol, t) ? 1 : 0;
  const bool migrating = pol->migrate.enabled && movable > 1;
  g_cpu_pct = pol->sampler.cpu_pct > 0 ? pol->sampler.cpu_pct
              : migrating              ? kAutoCpuMigrating
                                       : kAutoCpuProfiling;
  g_strict = cfg.strict;
  g_src = cfg.src;
  std::snprintf(g_sampler_text, sizeof g_sampler_text, "%s",
                cfg.sampler_text != nullptr ? cfg.sampler_text : "");
  const bool sampling = pol->migrate.enabled || cfg.sample_only;
  if (!sampling && !cfg.keep_running) return;
  if (!sampling) {
    // Metrics only: the thread keeps the file fresh and measures nothing.
    heap::ReentrancyGuard guard;
    g_pol = pol;
    g_engine = new Engine(pol, std::make_unique<NullSampler>(), false);
    spawn();
    return;
  }
  if (pol->sampler.kind == SamplerKind::kOff) {
    std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "off (STRATA_SAMPLER=off)");
    if (pol->migrate.enabled)
      log_msg(LogLevel::kWarn,
              "STRATA_SAMPLER=off: no heat is measured, so migration only honours range hints");
  }
  heap::ReentrancyGuard guard;
  g_pol = pol;
  std::unique_ptr<sampling::Sampler> s;
  if (pol->sampler.kind != SamplerKind::kOff) {
    s = choose(pol->sampler);
    if (s == nullptr) {
      log_msg(LogLevel::kError, "migration engine: %s; migration off", g_sampler_reason);
      return;
    }
  } else {
    s = std::make_unique<NullSampler>();
  }
  std::snprintf(g_sampler_name, sizeof g_sampler_name, "%s", s->name());
  prof::set_sampler(g_sampler_name);
  if (std::strcmp(s->name(), "abit") == 0) {
    std::string why;
    // Huge pages off only where moving matters: with migration on and somewhere to move to.
    const bool no_thp = !pol->sampler.keep_thp && migrating;
    bool ok = heap::set_chunk_vmas(no_thp, &why);
    STRATA_LOG(ok ? LogLevel::kInfo : LogLevel::kWarn, "abit sampler: %s%s", why.c_str(),
               ok ? "" : "; heat is per mapping, not per chunk");
  }
  g_engine = new Engine(pol, std::move(s), true);
  STRATA_LOG(LogLevel::kInfo, "migration engine: sampler %s, cpu budget %.1f%%; %s",
             g_sampler_reason, g_cpu_pct, explain_migrate(pol->migrate).c_str());
  spawn();
}

bool running() {
  return g_running.load(std::memory_order_acquire);
}

void counters(Counters* out) {
  auto* dst = reinterpret_cast<uint64_t*>(out);
  for (size_t i = 0; i < sizeof(Counters) / sizeof(uint64_t); ++i)
    dst[i] = g_counters.v[i].load(std::memory_order_relaxed);
}

const char* sampler_name() {
  return g_sampler_name;
}
const char* sampler_reason() {
  return g_sampler_reason;
}

void for_each_chunk(void (*fn)(const ChunkView& c, void* ctx), void* ctx) {
  if (g_engine == nullptr) return;
  pthread_mutex_lock(&g_lock);
  g_engine->for_each(fn, ctx);
  pthread_mutex_unlock(&g_lock);
}

void stop() {
  g_stop.store(true, std::memory_order_relaxed);
}

void quiesce() {
  if (g_engine == nullptr) return;
  // Held to the end: the thread, if it is still running, blocks before its
  // next interval and dies with the process.
  pthread_mutex_lock(&g_lock);
}

void prefork() {
  if (g_engine != nullptr) pthread_mutex_lock(&g_lock);
}
void postfork_parent() {
  if (g_engine != nullptr) pthread_mutex_unlock(&g_lock);
}
void postfork_child() {
  if (g_engine == nullptr) return;
  pthread_mutex_unlock(&g_lock);
  if (g_stop.load(std::memory_order_relaxed)) return;
  // The thread did not survive the fork; the sampler's resources (perf events
  // of the parent, its smaps) must be re-acquired for this process.
  g_engine->sampler()->close();
  char why[256];
  if (!g_engine->sampler()->open(why, sizeof why)) {
    STRATA_LOG(LogLevel::kWarn, "migration engine in child %d: %s; migration off",
               static_cast<int>(getpid()), why);
    return;
  }
  spawn();
}

}  // namespace strata::engine
