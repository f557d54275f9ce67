// strata configuration: the options table, the STRATA_TIERS and STRATA_POLICY
// grammars, and the compiled policy the runtime reads lock-free.
//
// Everything here is a pure function of its inputs (strings, a discovered
// topology): unit tests call it directly, the runtime calls it once at init.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/options.h"
#include "policy/tiers.h"

namespace strata {

inline constexpr int kMaxRules = 64;

// ------------------------------------------------------------- migration
// How chunk heat is computed from per-interval access observations (each a
// referenced fraction in [0, 1]); heat is always in [0, 1].
enum class HeatModel : uint8_t {
  kEwma,  // heat = alpha * observed + (1 - alpha) * heat
  kLru,   // heat = 1 / (1 + intervals since last access)
  kLfu,   // heat = accessed intervals among the last `window`, / window
};
const char* heat_model_name(HeatModel m);

// STRATA_MIGRATE, for the migration engine. Defaults are the documented ones.
struct MigrateConfig {
  bool enabled = false;  // off unless STRATA_MIGRATE is set (and not "off")
  HeatModel model = HeatModel::kEwma;
  double alpha = 0.5;            // EWMA weight of the newest interval
  uint32_t window = 8;           // LFU window, in intervals
  double promote = 0.5;          // promote a chunk whose heat >= promote
  double demote = 0.1;           // demote a chunk whose heat <= demote
  uint32_t hold = 4;             // a moved chunk stays put for this many intervals
  uint64_t rate = 256ULL << 20;  // bytes per second moved at most
  uint32_t interval_ms = 1000;   // sampling interval
  uint32_t batch_pages = 4096;   // pages per move_pages call
};

// STRATA_SAMPLER: which hotness sampler feeds the heat model.
enum class SamplerKind : uint8_t { kAuto, kAbit, kPebs, kIbs, kIdle, kDamon, kTrace, kOff };
const char* sampler_kind_name(SamplerKind k);

inline constexpr double kAutoCpuMigrating = 1.5;
inline constexpr double kAutoCpuProfiling = 0.5;

struct SamplerConfig {
  SamplerKind kind = SamplerKind::kAuto;
  char trace[256] = {};  // trace:FILE
  // Sampling CPU, percent of wall time; 0 = auto: kAutoCpuMigrating while
  // migrating between two or more tiers, kAutoCpuProfiling otherwise.
  double cpu_pct = 0;
  uint32_t period = 100003;  // pebs/ibs: events per sample
  uint32_t window_ms = 0;    // accessed-bit window per interval, 0 = adaptive
  bool keep_thp = false;     // abit: leave transparent huge pages on in the heaps
  bool huge_thp = false;     // abit: ask for them (MADV_HUGEPAGE) in the heaps (thp=huge)
};

// ------------------------------------------------------------------- policy
enum class AllocKind : uint8_t { kHeap = 1, kMmap = 2 };

inline constexpr int kMaxLabels = 16;  // distinct hint=LABEL names in one policy
inline constexpr int kHintPrio = 100;  // priority of a thread hint that names a tier

struct Rule {
  int prio = 0;
  int order = 0;                   // position in the source, tie-breaker
  uint64_t size_min = 0;           // inclusive
  uint64_t size_max = UINT64_MAX;  // inclusive
  uint8_t kinds = 3;               // AllocKind bits
  bool site_cond = false;          // has site= or lib= (match bits come from the site cache)
  int8_t hint = -1;                // label index for hint=LABEL, -1 = any
  char site_pat[64] = {};          // glob over the calling function's name ("" = any)
  char lib_pat[64] = {};           // glob over the calling module's file name ("" = any)
  uint64_t site_hash = 0;          // site=0x... (0 = none)
  // Action: one tier, or several with weights (interleave by bytes).
  int tier = 0;
  int nweights = 0;  // 0: place on `tier`; else interleave over wtier[0..n)
  int8_t wtier[kMaxTiers] = {};
  uint16_t weight[kMaxTiers] = {};
  bool nospill = false;
  bool pin = false;     // never migrated
  char text[160] = {};  // normal form, for --explain
};

// What the runtime knows about one allocation when it asks for a tier.
struct PlaceQuery {
  uint64_t size = 0;
  AllocKind kind = AllocKind::kHeap;
  int hint_label = -1;  // the thread's current hint as a label index, -1 = none or unknown
  int hint_tier = -1;   // the thread's current hint as a tier, -1 = none
  // Bit i set when rule i's site=/lib= conditions match the caller. Called
  // at most once per query, and only if a rule with a site condition is
  // otherwise matched: resolving a call site costs a cache lookup.
  uint64_t (*site_bits)(void* ctx) = nullptr;
  void* site_ctx = nullptr;
};

struct Placement {
  int tier = 0;
  bool nospill = false;
  bool pin = false;
  int rule = -1;  // index of the rule that decided, -1 = default, -2 = thread hint
};

// Flags of an address range, for the migration engine: a pin rule or a
// range hint (strata_hint_range) recorded them.
inline constexpr uint16_t kRegionPinned = 1;  // never migrated (pin rule or strata_hint_range)
inline constexpr uint16_t kRegionHot = 2;     // strata_hint_range(HOT): promote first
inline constexpr uint16_t kRegionCold = 4;    // strata_hint_range(COLD): demote first

// Bytes placed so far by each interleave rule on each of its targets.
struct InterleaveState {
  uint64_t bytes[kMaxRules][kMaxTiers] = {};
};

struct CompiledPolicy {
  int ntiers = 0;
  TierDef tiers[kMaxTiers];
  int nrules = 0;
  Rule rules[kMaxRules];    // sorted: highest prio first, then source order
  bool heap_rules = false;  // some rule can match a heap allocation
  bool mmap_rules = false;
  bool site_rules = false;  // some rule has a site= or lib= condition
  bool hint_rules = false;  // some rule has a hint= condition
  int nlabels = 0;
  char labels[kMaxLabels][32] = {};
  MigrateConfig migrate;
  SamplerConfig sampler;

  // Full decision. `il` may be null (interleave rules then take their first target).
  // Interleave counters are updated with relaxed atomics: concurrent callers
  // may overshoot a target by one allocation each, never more.
  Placement decide(const PlaceQuery& q, InterleaveState* il) const;

  // Tier for an allocation by size and kind only (no site, no hint).
  int place(uint64_t size, AllocKind kind, bool* nospill = nullptr) const {
    PlaceQuery q;
    q.size = size;
    q.kind = kind;
    Placement p = decide(q, nullptr);
    if (nospill) *nospill = p.nospill;
    return p.tier;
  }
  int tier_by_name(std::string_view name) const;
  int label_index(std::string_view name) const;  // -1 when no rule uses it
  // Tier a thread hint names: a tier name, "hot" (fastest) or "cold"
  // (slowest); -1 otherwise.
  int hint_tier(std::string_view name) const;
  // Which rules' site= and lib= conditions match a call site, as rule bits.
  // `func` is the demangled function name (may be empty), `mangled` the
  // symbol as linked (may equal func), `module` the file name of the object
  // holding the call site.
  uint64_t site_mask(std::string_view func, std::string_view mangled, std::string_view module,
                     uint64_t hash) const;
};

// Stable identity of a call site across runs (ASLR moves modules, not
// offsets): FNV-1a over the module's file name and the offset in it. The
// profiler report prints it; site=0x... rules match it.
uint64_t site_hash(std::string_view module, uint64_t offset);

// A demangled function name without parameters, qualifiers and clone
// suffixes ("ns::f"), and its last component ("f").
std::string_view qualified_name(std::string_view demangled);
std::string_view unqualified_name(std::string_view demangled);

// Shell-style glob: '*' any run, '?' one character; no escapes.
bool glob_match(std::string_view pattern, std::string_view text);

// ------------------------------------------------------------------- parsing
// One message per problem: "STRATA_X=\"value\": column N: what (expected ...)".
// The value is quoted as a short escaped excerpt (see excerpt()).
struct Diagnostics {
  static constexpr size_t kExcerpt = 64;     // bytes of a value quoted in a message
  static constexpr size_t kPerVariable = 5;  // messages printed per variable
  std::vector<std::string> errors;
  void add(std::string_view var, std::string_view value, size_t column, const std::string& what);
  // The messages to print: the first per_var of each variable, then one
  // "VAR: ... and N more errors" line for each variable that had more.
  std::vector<std::string> lines(size_t per_var = kPerVariable) const;
};

// At most max bytes of s, control characters, '"' and '\\' escaped (\n, \t, \r,
// \xNN), "..." appended when s was longer: safe to print on one line.
std::string excerpt(std::string_view s, size_t max);

bool parse_size(std::string_view s, uint64_t* out);
bool parse_bool(std::string_view s, bool* out);

// STRATA_TIERS: "name:attr=value,...;name:..." fastest first.
// `discovered` supplies nodes for a tier named like a discovered one.
bool parse_tiers(std::string_view value, const std::vector<TierDef>& discovered,
                 std::vector<TierDef>* out, Diagnostics* diag);

// STRATA_POLICY against a tier list; fills rules of `policy` (tiers already set).
bool parse_policy(std::string_view value, CompiledPolicy* policy, Diagnostics* diag);

// Normal form of the policy's rules, one per line.
std::string explain_rules(const CompiledPolicy& policy);

// STRATA_MIGRATE: "off" or key=value,... (see docs/configuration.md).
bool parse_migrate(std::string_view value, MigrateConfig* out, Diagnostics* diag);
std::string explain_migrate(const MigrateConfig& m);
// STRATA_SAMPLER: NAME[,cpu=P%][,period=N][,window=auto|T][,thp=split|keep|huge], NAME one of auto,
// abit, pebs, ibs, idle, damon, trace:FILE, off.
bool parse_sampler(std::string_view value, SamplerConfig* out, Diagnostics* diag);
std::string explain_sampler(const SamplerConfig& s);

}  // namespace strata
