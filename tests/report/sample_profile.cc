// The simulation behind the recorded profile (see sample_profile.h). Its own
// small EWMA heat model (alpha 0.5) and scripted planner keep the file
// independent of changes to the runtime's heat model and planner.
#include "tests/report/sample_profile.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <vector>

#include "policy/config.h"
#include "profiler/profile_format.h"

namespace strata::test {
namespace {

using profile::ChunkRecord;
using profile::IntervalRecord;
using profile::MoveRecord;
using profile::SiteRecord;

constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kChunk = 2 * kMiB;
constexpr int kIntervals = 30;
constexpr int kPhase = 15;  // the cache turns hot
constexpr uint64_t kStartNs = 1700000000000000000ULL;
constexpr uint64_t kIntervalNs = 400000000ULL;
constexpr uint64_t kDramCap = 120 * kMiB;
constexpr uint64_t kCxlCap = 256 * kMiB;
constexpr uint64_t kDramRegion = 0x7f1000000000ULL >> 21;  // chunk ids
constexpr uint64_t kCxlRegion = 0x7f2000000000ULL >> 21;

enum SiteId { kIndex, kLog, kCache, kChurn, kWarm, kSpare, kTemp, kConfig, kNumSites };

struct Chunk {
  uint64_t id;
  SiteId site;
  int ordinal;  // among its site's chunks
  uint32_t bytes;
  int tier;
  int born;
  double heat = 0;
};

// Deterministic noise in [0, 1) from two integers (splitmix64).
double noise(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e5a5ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

// Referenced fraction of a chunk's pages in interval i.
double fraction(const Chunk& c, int i) {
  double n = noise(c.id, static_cast<uint64_t>(i));
  switch (c.site) {
    case kIndex:
      return 0.85 + 0.1 * n;
    case kLog:
      return i == c.born ? 0.6 : 0.005 * n;  // appended once, then only read back rarely
    case kCache:
      return i < kPhase ? 0.03 * n : 0.85 + 0.15 * n;
    case kChurn:
      return 0.6 + 0.2 * n;
    case kWarm:
      return 0.2 + 0.2 * n;
    case kConfig:
      return 0.8;
    default:
      return 0;
  }
}

void add_frame(SiteRecord* s, uint64_t address) {
  s->frames[s->nframes++] = address;
}

}  // namespace

bool write_sample_profile(int fd, size_t bufsize) {
  // ---- sites: call stacks and allocation counters
  SiteRecord sites[kNumSites];
  const uint64_t exe = kExeBase;
  const uint64_t lib = kLibBase;
  struct Stack {
    SiteId site;
    int n;
    uint64_t frames[5];
  };
  const Stack stacks[] = {
      {kIndex, 3, {exe + kIndexOffset, exe + 0x2f10, exe + 0x1100}},
      {kLog, 4, {lib + kLogOffset, lib + 0x4800, exe + 0x3300, exe + 0x1100}},
      {kCache, 3, {exe + 0x2a00, exe + 0x2f10, exe + 0x1100}},
      {kChurn, 3, {lib + kChurnOffset, exe + 0x1234, exe + 0x1100}},
      {kWarm, 2, {exe + 0x3c40, exe + 0x1100}},
      {kSpare, 2, {exe + 0x4010, exe + 0x1100}},
      {kTemp, 4, {exe + 0x4500, exe + 0x4600, exe + 0x1100, 0x7fffe0001234ULL}},
      {kConfig, 2, {exe + 0x5000, exe + 0x1100}},
  };
  for (const Stack& st : stacks) {
    SiteRecord& s = sites[st.site];
    for (int f = 0; f < st.n; ++f) add_frame(&s, st.frames[f]);
    bool in_lib = st.frames[0] >= lib;
    s.hash = site_hash(in_lib ? "libstore.so.1" : "kvstore", st.frames[0] - (in_lib ? lib : exe));
  }
  auto counters = [&](SiteId id, uint64_t allocs, uint64_t frees, uint64_t size,
                      uint64_t lifetime_ns, int8_t placed) {
    SiteRecord& s = sites[id];
    s.allocs = allocs;
    s.frees = frees;
    s.bytes_allocated = allocs * size;
    s.bytes_freed = frees * size;
    s.live_bytes = (allocs - frees) * size;
    s.lifetime_ns = frees * lifetime_ns;
    s.placed_tier = placed;
  };
  counters(kIndex, 1, 0, 48 * kMiB, 0, 0);
  counters(kLog, 64, 0, 4 * kMiB, 0, 1);
  counters(kCache, 64, 0, kMiB, 0, 1);
  counters(kChurn, 200000, 199000, 256, 2000000, 0);
  counters(kWarm, 8, 0, 4 * kMiB, 0, 1);
  counters(kSpare, 1, 0, 768 * 1024, 0, 0);
  counters(kTemp, 100, 100, 64 * 1024, 50000, 0);
  counters(kConfig, 1, 0, 4096, 0, 0);

  // ---- chunks: where each site's memory lives
  std::vector<Chunk> chunks;
  auto add_chunks = [&](SiteId site, uint64_t first, int n, uint32_t bytes, int tier,
                        auto born_of) {
    for (int k = 0; k < n; ++k)
      chunks.push_back(Chunk{first + static_cast<uint64_t>(k), site, k, bytes, tier, born_of(k)});
  };
  auto at = [](int b) { return [b](int) { return b; }; };
  add_chunks(kIndex, kDramRegion, 24, kChunk, 0, at(0));
  add_chunks(kChurn, kDramRegion + 24, 2, kMiB, 0, at(0));
  add_chunks(kConfig, kDramRegion + 26, 1, 4096, 0, at(0));
  add_chunks(kSpare, kDramRegion + 27, 1, 768 * 1024, 0, at(1));
  add_chunks(kLog, kCxlRegion, 128, kChunk, 1, [](int k) { return k * kIntervals / 128; });
  add_chunks(kCache, kCxlRegion + 200, 32, kChunk, 1, at(0));
  add_chunks(kWarm, kCxlRegion + 300, 16, kChunk, 1, at(2));

  // ---- simulation
  struct Step {
    IntervalRecord rec;
    std::vector<ChunkRecord> chunks;
    std::vector<MoveRecord> moves;
  };
  std::vector<Step> steps;
  for (int i = 0; i < kIntervals; ++i) {
    Step st;
    for (Chunk& c : chunks)
      if (c.born <= i) c.heat = 0.5 * fraction(c, i) + 0.5 * c.heat;
    auto resident = [&](int tier) {
      uint64_t sum = 0;
      for (const Chunk& c : chunks)
        if (c.born <= i && c.tier == tier) sum += c.bytes;
      return sum;
    };
    auto move = [&](Chunk& c, int to, MoveReason why) {
      st.moves.push_back(MoveRecord{static_cast<uint32_t>(i), c.id, static_cast<int8_t>(c.tier),
                                    static_cast<int8_t>(to), c.bytes, why});
      if (to < c.tier) {
        st.rec.promoted++;
        st.rec.promoted_bytes += c.bytes;
      } else {
        st.rec.demoted++;
        st.rec.demoted_bytes += c.bytes;
      }
      c.tier = to;
    };
    // Capacity: cxl above 90% sheds its coldest chunks to pmem down to 80%, 16 at most.
    if (resident(1) * 10 > kCxlCap * 9) {
      std::vector<Chunk*> on_cxl;
      for (Chunk& c : chunks)
        if (c.born <= i && c.tier == 1) on_cxl.push_back(&c);
      std::stable_sort(on_cxl.begin(), on_cxl.end(),
                       [](const Chunk* a, const Chunk* b) { return a->heat < b->heat; });
      int moved = 0;
      for (Chunk* c : on_cxl) {
        if (resident(1) * 10 <= kCxlCap * 8 || moved == 16) break;
        move(*c, 2, MoveReason::kWatermark);
        ++moved;
      }
    }
    // Heat: hot cache chunks move to dram while it stays below 90%, 8 per
    // interval; two attempts fail at interval 17; when dram is full the
    // coldest dram chunk swaps out.
    if (i > kPhase) {
      std::vector<Chunk*> cand;
      for (Chunk& c : chunks)
        if (c.site == kCache && c.tier == 1 && c.heat >= 0.5) cand.push_back(&c);
      std::stable_sort(cand.begin(), cand.end(),
                       [](const Chunk* a, const Chunk* b) { return a->heat > b->heat; });
      int attempts = 0;
      for (Chunk* c : cand) {
        if (attempts == 8) break;
        ++attempts;
        if (i == 17 && attempts > 6) {
          st.rec.failures++;
          continue;
        }
        if ((resident(0) + c->bytes) * 10 <= kDramCap * 9) {
          move(*c, 0, MoveReason::kPromote);
          continue;
        }
        Chunk* victim = nullptr;
        for (Chunk& d : chunks)
          if (d.born <= i && d.tier == 0 && d.heat <= 0.1 && (!victim || d.heat < victim->heat))
            victim = &d;
        if (victim == nullptr) break;
        move(*victim, 1, MoveReason::kSwapOut);
        move(*c, 0, MoveReason::kSwapIn);
      }
    }
    st.rec.index = static_cast<uint32_t>(i);
    st.rec.time_ns = static_cast<uint64_t>(i + 1) * kIntervalNs;
    for (int t = 0; t < 3; ++t) st.rec.resident[t] = resident(t);
    for (const Chunk& c : chunks) {
      if (c.born > i) continue;
      auto heat = static_cast<float>(c.heat);
      st.chunks.push_back(ChunkRecord{c.id, heat, static_cast<int8_t>(c.tier), c.bytes});
      SiteRecord& s = sites[c.site];
      s.byte_intervals += c.bytes;
      s.heat_byte_intervals += c.bytes * static_cast<double>(heat);
      s.tier_byte_intervals[c.tier] += c.bytes;
    }
    steps.push_back(std::move(st));
  }

  // ---- the file
  std::vector<char> buf(bufsize);
  profile::Writer w(fd, buf.data(), buf.size());
  profile::HeaderRecord h;
  h.pid = 4242;
  h.start_ns = kStartNs;
  h.end_ns = kStartNs + kIntervals * kIntervalNs + 50000000ULL;
  h.interval_ms = 400;
  h.exe = "/opt/demo/bin/kvstore";
  h.sampler = "abit";
  h.tiers_spec = "dram:cap=120M;cxl:nodes=1,cap=256M;pmem:nodes=2,kind=pmem";
  h.policy_spec = "size>=1M -> cxl";
  h.migrate_spec = "on";
  w.header(h);
  w.tier(profile::TierRecord{0, "dram", "dram", kDramCap, 0});
  w.tier(profile::TierRecord{1, "cxl", "cxl", kCxlCap, 1});
  w.tier(profile::TierRecord{2, "pmem", "pmem-node", 0, 2});
  w.module(profile::ModuleRecord{exe, exe, exe + 0xac000, kExeModule, ""});
  w.module(profile::ModuleRecord{lib, lib, lib + 0x80000, kLibModule, "\x5e\x11\x0a\x42"});
  for (const SiteRecord& s : sites) w.site(s);
  for (const Step& st : steps) {
    if (st.rec.index % 2 == 0) {
      w.interval(st.rec, st.chunks);  // both ways of writing an interval
    } else {
      w.begin_interval(st.rec, static_cast<uint32_t>(st.chunks.size()));
      for (const ChunkRecord& c : st.chunks) w.chunk(c);
    }
    for (const MoveRecord& m : st.moves) w.move(m);
  }
  return w.finish();
}

}  // namespace strata::test
