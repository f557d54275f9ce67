// Ranking, classification, tier and migration totals, and the suggested policy.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "policy/config.h"
#include "src/tools/report/report.h"
#include "src/tools/report/symbolize.h"

namespace strata::report {
namespace {

void thresholds(const profile::Header& h, Report* r) {
  MigrateConfig m;  // the documented defaults
  r->threshold_source = "STRATA_MIGRATE defaults";
  if (!h.migrate_spec.empty()) {
    Diagnostics d;
    MigrateConfig parsed;
    if (parse_migrate(h.migrate_spec, &parsed, &d) && d.errors.empty()) {
      m = parsed;
      r->threshold_source = "STRATA_MIGRATE of the run";
    }
  }
  r->hot_threshold = m.promote;
  r->cold_threshold = m.demote;
}

void tier_usage(const profile::Profile& p, Report* r) {
  size_t n = std::min(p.tiers.size(), static_cast<size_t>(kMaxTiers));
  r->tiers.assign(n, TierUsage{});
  if (p.intervals.empty()) return;
  for (size_t t = 0; t < n; ++t) {
    TierUsage& u = r->tiers[t];
    double sum = 0;
    for (const profile::Interval& iv : p.intervals) {
      auto v = static_cast<double>(iv.rec.resident[t]);
      u.peak = std::max(u.peak, v);
      sum += v;
    }
    u.mean = sum / static_cast<double>(p.intervals.size());
    u.end = static_cast<double>(p.intervals.back().rec.resident[t]);
  }
}

void migrations(const profile::Profile& p, Migrations* m) {
  for (const profile::MoveRecord& mv : p.moves) {
    m->moves++;
    m->bytes += mv.bytes;
    auto reason = static_cast<size_t>(mv.reason);
    if (reason < 4) {
      m->reason_moves[reason]++;
      m->reason_bytes[reason] += mv.bytes;
    }
    if (mv.from >= 0 && mv.from < kMaxTiers && mv.to >= 0 && mv.to < kMaxTiers) {
      m->path_moves[mv.from][mv.to]++;
      m->path_bytes[mv.from][mv.to] += mv.bytes;
    }
  }
  for (const profile::Interval& iv : p.intervals) {
    m->promoted_bytes += iv.rec.promoted_bytes;
    m->demoted_bytes += iv.rec.demoted_bytes;
    m->promoted += iv.rec.promoted;
    m->demoted += iv.rec.demoted;
    m->failures += iv.rec.failures;
  }
}

std::string site_facts(const Report& r, const Site& s) {
  std::string facts = "heat " + fixed(s.heat, 2) + ", " + human_bytes(s.mean_live) + " mean live";
  if (s.main_tier >= 0)
    facts += ", " + fixed(100 * s.tier_share[s.main_tier], 0) + "% on " + tier_name(r, s.main_tier);
  return facts;
}

void suggest(Report* r) {
  Suggestion& sg = r->policy;
  const profile::Profile& p = *r->prof;
  if (p.tiers.size() < 2) {
    sg.note = "the profile has fewer than two tiers: nothing to place";
    return;
  }
  r->fast_tier = 0;
  r->capacity_tier = static_cast<int>(std::min(p.tiers.size(), size_t{kMaxTiers})) - 1;
  const std::string fast = tier_name(*r, r->fast_tier);
  const std::string slow = tier_name(*r, r->capacity_tier);
  size_t nhot = 0;
  for (size_t i : r->hot) {
    const Site& s = r->sites[i];
    if (s.rec->hash == 0 || nhot == kMaxPolicySites) continue;
    ++nhot;
    PolicyRule rule;
    rule.site = i;
    rule.hot = true;
    rule.text = "prio=" + std::to_string(kHotPrio) + ", site=" + hash_str(s.rec->hash) + " -> " +
                fast + (s.long_lived ? ", pin" : "");
    rule.why = "hot: " + site_facts(*r, s) + "; " +
               (s.long_lived ? std::string("long-lived: pinned")
                : s.mean_lifetime_ns >= 0
                    ? "blocks live " + fixed(s.mean_lifetime_ns / 1e6, 1) + " ms: not pinned"
                    : std::string("mostly freed: not pinned"));
    sg.rules.push_back(rule);
  }
  size_t ncold = 0;
  for (size_t i : r->cold) {
    const Site& s = r->sites[i];
    if (s.rec->hash == 0 || ncold == kMaxPolicySites || s.share < kMinColdPolicyShare) continue;
    ++ncold;
    PolicyRule rule;
    rule.site = i;
    rule.text = "site=" + hash_str(s.rec->hash) + " -> " + slow;
    rule.why =
        "cold: " + site_facts(*r, s) + "; " + fixed(100 * s.share, 1) + "% of all sampled bytes";
    sg.rules.push_back(rule);
  }
  if (sg.rules.empty()) {
    sg.note = "no site is clearly hot or cold: keep the default placement";
    return;
  }
  for (const PolicyRule& rule : sg.rules) sg.value += (sg.value.empty() ? "" : "; ") + rule.text;

  // Strata must accept it as-is: parse it against the profile's tiers.
  auto pol = std::make_unique<CompiledPolicy>();
  pol->ntiers = r->capacity_tier + 1;
  for (int t = 0; t < pol->ntiers; ++t) {
    const std::string& name = p.tiers[static_cast<size_t>(t)].name;
    if (name.empty() || name.size() >= sizeof pol->tiers[t].name) {
      sg.error = "tier name \"" + name + "\" is not a valid strata tier name";
      return;
    }
    name.copy(pol->tiers[t].name, name.size());
  }
  Diagnostics d;
  if (!parse_policy(sg.value, pol.get(), &d) || !d.errors.empty())
    sg.error = d.errors.empty() ? "rejected" : d.errors.front();
}

}  // namespace

Report analyze(const profile::Profile& p, const std::string& file, const Options& opt) {
  Report r;
  r.prof = &p;
  r.file = file;
  thresholds(p.header, &r);
  if (p.header.end_ns > p.header.start_ns)
    r.duration_s = static_cast<double>(p.header.end_ns - p.header.start_ns) / 1e9;
  else if (!p.intervals.empty())
    r.duration_s = static_cast<double>(p.intervals.back().rec.time_ns) / 1e9;

  Symbolizer sym(p.modules, opt.symbolize);
  const auto nintervals = static_cast<double>(p.intervals.size());
  const int ntiers = static_cast<int>(std::min(p.tiers.size(), size_t{kMaxTiers}));
  for (const profile::SiteRecord& rec : p.sites) {
    r.total_byte_intervals += rec.byte_intervals;
    r.total_allocs += rec.allocs;
    r.total_bytes += rec.bytes_allocated;
    r.total_live += rec.live_bytes;
  }
  r.sites.reserve(p.sites.size());
  for (const profile::SiteRecord& rec : p.sites) {
    Site s;
    s.rec = &rec;
    for (uint32_t f = 0; f < rec.nframes && f < profile::kMaxFrames; ++f)
      s.frames.push_back(sym.resolve(rec.frames[f]));
    s.sampled = rec.byte_intervals > 0 && nintervals > 0;
    if (s.sampled) {
      s.heat = std::clamp(rec.heat_byte_intervals / rec.byte_intervals, 0.0, 1.0);
      s.mean_live = rec.byte_intervals / nintervals;
      s.share = rec.byte_intervals / r.total_byte_intervals;
      double best = 0;
      for (int t = 0; t < kMaxTiers; ++t) {
        s.tier_share[t] = std::clamp(rec.tier_byte_intervals[t] / rec.byte_intervals, 0.0, 1.0);
        if (t < ntiers && rec.tier_byte_intervals[t] > best) {
          best = rec.tier_byte_intervals[t];
          s.main_tier = t;
        }
      }
      s.cls = s.heat >= r.hot_threshold    ? SiteClass::kHot
              : s.heat <= r.cold_threshold ? SiteClass::kCold
                                           : SiteClass::kMixed;
    }
    if (s.main_tier < 0 && rec.placed_tier >= 0 && rec.placed_tier < ntiers)
      s.main_tier = rec.placed_tier;
    if (rec.frees > 0) s.mean_lifetime_ns = static_cast<double>(rec.lifetime_ns) / rec.frees;
    s.long_lived = (rec.bytes_allocated > 0 && rec.live_bytes * 2 >= rec.bytes_allocated) ||
                   (s.mean_lifetime_ns >= 0 && s.mean_lifetime_ns >= r.duration_s * 1e9 / 4);
    r.sites.push_back(std::move(s));
  }
  r.modules = sym.status();

  // Rankings: hot by heat (to 0.01; then bytes), cold by bytes (then heat).
  for (size_t i = 0; i < r.sites.size(); ++i) {
    const Site& s = r.sites[i];
    if (!s.sampled || s.share < kMinShare) continue;
    if (s.cls == SiteClass::kHot) r.hot.push_back(i);
    if (s.cls == SiteClass::kCold) r.cold.push_back(i);
  }
  auto hash_of = [&](size_t i) { return r.sites[i].rec->hash; };
  std::stable_sort(r.hot.begin(), r.hot.end(), [&](size_t a, size_t b) {
    double ha = std::round(r.sites[a].heat * 100);
    double hb = std::round(r.sites[b].heat * 100);
    if (ha != hb) return ha > hb;
    if (r.sites[a].mean_live != r.sites[b].mean_live)
      return r.sites[a].mean_live > r.sites[b].mean_live;
    return hash_of(a) < hash_of(b);
  });
  std::stable_sort(r.cold.begin(), r.cold.end(), [&](size_t a, size_t b) {
    if (r.sites[a].mean_live != r.sites[b].mean_live)
      return r.sites[a].mean_live > r.sites[b].mean_live;
    if (r.sites[a].heat != r.sites[b].heat) return r.sites[a].heat < r.sites[b].heat;
    return hash_of(a) < hash_of(b);
  });

  tier_usage(p, &r);
  migrations(p, &r.mig);
  suggest(&r);
  return r;
}

}  // namespace strata::report
