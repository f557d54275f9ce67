// strata-report's analysis of a raw profile (profiler/profile_format.h) and
// its renderers: text summary, JSON (schema in docs/report.md), one
// self-contained HTML page, and a suggested STRATA_POLICY.
//
// analyze() is the only place that ranks or classifies; the renderers only
// format what it computed, so the four outputs always agree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "policy/config.h"
#include "profiler/profile_format.h"

namespace strata::report {

inline constexpr int kJsonSchemaVersion = 1;
// A site enters the hot and cold rankings (and the policy) only if it holds at
// least this share of all sampled byte-intervals.
inline constexpr double kMinShare = 0.001;
inline constexpr size_t kMaxPolicySites = 16;  // per kind (hot, cold)
// A cold site gets a policy rule only if it holds this share of the sampled
// byte-intervals: the rules move the bulk, not every cold crumb.
inline constexpr double kMinColdPolicyShare = 0.01;
inline constexpr int kHotPrio = 10;

enum class ModuleStatus { kFound, kMissing, kBuildIdMismatch };
const char* module_status_name(ModuleStatus s);

struct Frame {
  uint64_t address = 0;
  int module = -1;          // index into Profile::modules, -1 = in none
  uint64_t offset = 0;      // address - module base
  std::string module_name;  // file name of the module
  std::string function;     // demangled, "" = unknown
  std::string file;         // source file (as in DWARF), "" = unknown
  int line = 0;
  // "function (file.cc:12)", "function", "module+0x1a2b" or "0x7f..." (no module).
  std::string label() const;
  std::string location() const;  // "module+0x1a2b" or "0x7f..."
};

enum class SiteClass { kHot, kCold, kMixed, kUnsampled };
const char* class_name(SiteClass c);

struct Site {
  const profile::SiteRecord* rec = nullptr;
  std::vector<Frame> frames;
  bool sampled = false;  // byte_intervals > 0
  double heat = 0;       // heat_byte_intervals / byte_intervals
  double mean_live = 0;  // byte_intervals / intervals: mean sampled live bytes
  double share = 0;      // of all sites' byte_intervals
  double tier_share[kMaxTiers] = {};
  double mean_lifetime_ns = -1;  // of freed blocks, -1 = none freed
  bool long_lived = false;       // most bytes still live, or blocks live >= 1/4 of the run
  SiteClass cls = SiteClass::kUnsampled;
  int main_tier = -1;             // tier holding most of its byte_intervals
  std::vector<uint32_t> sources;  // merged report: indices into Report::sources holding it
};

// One input profile of a merged report (src/report/merge.h).
struct Source {
  std::string file;
  std::string exe;
  int32_t pid = 0;
  size_t sites = 0;
  size_t intervals = 0;
  double duration_s = 0;
};

struct TierUsage {
  double peak = 0;
  double mean = 0;
  double end = 0;
};

struct Migrations {
  uint64_t moves = 0;
  uint64_t bytes = 0;
  uint64_t reason_moves[4] = {};  // by MoveReason
  uint64_t reason_bytes[4] = {};
  uint64_t path_moves[kMaxTiers][kMaxTiers] = {};  // [from][to]
  uint64_t path_bytes[kMaxTiers][kMaxTiers] = {};
  // Totals of the Interval records (what the engine counted, failures included).
  uint64_t promoted_bytes = 0;
  uint64_t demoted_bytes = 0;
  uint64_t promoted = 0;
  uint64_t demoted = 0;
  uint64_t failures = 0;
};

struct PolicyRule {
  std::string text;  // one rule, STRATA_POLICY grammar
  size_t site = 0;   // index into Report::sites
  bool hot = false;
  std::string why;  // one line for the comment
};

struct Suggestion {
  std::vector<PolicyRule> rules;
  std::string value;  // the rules joined with "; "
  std::string note;   // why there is no rule, when there is none
  std::string error;  // strata's own parser rejected it (a bug): the first message
};

struct Options {
  bool symbolize = true;  // false: frames print as module+offset only
};

struct Report {
  const profile::Profile* prof = nullptr;
  std::string file;  // as given on the command line
  double hot_threshold = 0.5;
  double cold_threshold = 0.1;
  std::string threshold_source;  // "STRATA_MIGRATE promote/demote" or "defaults"
  double duration_s = 0;
  std::vector<ModuleStatus> modules;
  std::vector<Site> sites;   // in profile order
  std::vector<size_t> hot;   // indices into sites, hottest first (all that qualify)
  std::vector<size_t> cold;  // largest first
  double total_byte_intervals = 0;
  uint64_t total_allocs = 0;
  uint64_t total_bytes = 0;
  uint64_t total_live = 0;
  std::vector<TierUsage> tiers;  // per profile tier
  Migrations mig;
  int fast_tier = -1;      // where hot sites go (the first tier)
  int capacity_tier = -1;  // where cold sites go (the last tier)
  Suggestion policy;
  std::vector<Source> sources;  // empty = one profile; else the merged inputs
};

Report analyze(const profile::Profile& p, const std::string& file, const Options& opt);

std::string render_text(const Report& r, size_t top);
std::string render_json(const Report& r, size_t top);
std::string render_html(const Report& r, size_t top);
// Commented rules plus one STRATA_POLICY='...' line (a shell assignment).
std::string render_policy(const Report& r);
// Every interval's chunks: interval, time_s, chunk id (hex), heat, tier, bytes; tab-separated.
std::string render_chunks(const Report& r);

// ---- helpers shared by the renderers (format.cc)
std::string human_bytes(double bytes);  // "48.0 MiB", "512 B"
std::string hex(uint64_t v);            // "0x1a2b"
std::string hash_str(uint64_t h);       // "0x%016llx", as strata prints site hashes
std::string fixed(double v, int decimals);
std::string json_string(std::string_view s);  // quoted and escaped
std::string html_escape(std::string_view s);
std::string tier_name(const Report& r, int tier);  // name, or "tierN" / "?"
std::string shell_quote(std::string_view s);       // 'single-quoted' for sh

}  // namespace strata::report
