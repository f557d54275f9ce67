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

namespace strata {

inline constexpr int kMaxTiers = 8;
inline constexpr int kMaxNodes = 1024;
inline constexpr int kMaxRules = 64;

// ---------------------------------------------------------------- options table
enum class OptType { kBool, kSize, kEnum, kString, kSpec };

struct OptionDef {
  const char* name;  // STRATA_...
  OptType type;
  const char* def;    // default, as the user would write it ("" = unset)
  const char* range;  // accepted values, for docs and error messages
  const char* doc;    // one line
};

// Every STRATA_* variable strata reads. docs/configuration.md is checked against it.
const OptionDef* options_table(size_t* count);
const OptionDef* find_option(std::string_view name);

// --------------------------------------------------------------------- nodes
struct NodeMask {
  uint64_t bits[kMaxNodes / 64] = {};
  void set(int n) { bits[n / 64] |= 1ULL << (n % 64); }
  bool test(int n) const { return (bits[n / 64] >> (n % 64)) & 1ULL; }
  bool empty() const;
  int count() const;
  int first() const;
  int max_node() const;     // highest set node, -1 if empty
  std::string str() const;  // kernel list syntax: "0-1,3"
  bool operator==(const NodeMask&) const = default;
};

// ---------------------------------------------------------------------- tiers
enum class TierKind { kDram, kCxl, kPmemNode, kPmemFile };
const char* tier_kind_name(TierKind k);

struct TierDef {
  char name[32] = {};
  TierKind kind = TierKind::kDram;
  NodeMask nodes;       // empty for a file heap
  uint64_t cap = 0;     // capacity limit in bytes, 0 = none
  char path[256] = {};  // PMEM file-heap directory
  uint64_t size = 0;    // PMEM file-heap size
  char why[192] = {};   // how it was found / declared, for --show-tiers
};

// ------------------------------------------------------------------- policy
enum class AllocKind : uint8_t { kHeap = 1, kMmap = 2 };

struct Rule {
  int prio = 0;
  int order = 0;                   // position in the source, tie-breaker
  uint64_t size_min = 0;           // inclusive
  uint64_t size_max = UINT64_MAX;  // inclusive
  uint8_t kinds = 3;               // AllocKind bits
  int tier = 0;
  bool nospill = false;
  char text[96] = {};  // normal form, for --explain
};

struct CompiledPolicy {
  int ntiers = 0;
  TierDef tiers[kMaxTiers];
  int nrules = 0;
  Rule rules[kMaxRules];    // sorted: highest prio first, then source order
  bool heap_rules = false;  // some rule can match a heap allocation
  bool mmap_rules = false;

  // Tier for an allocation; 0 (fastest) when no rule matches.
  int place(uint64_t size, AllocKind kind, bool* nospill = nullptr) const {
    for (int i = 0; i < nrules; ++i) {
      const Rule& r = rules[i];
      if ((r.kinds & static_cast<uint8_t>(kind)) && size >= r.size_min && size <= r.size_max) {
        if (nospill) *nospill = r.nospill;
        return r.tier;
      }
    }
    if (nospill) *nospill = false;
    return 0;
  }
  int tier_by_name(std::string_view name) const;
};

// ------------------------------------------------------------------- parsing
// One message per problem: "STRATA_X=\"value\": column N: what (expected ...)".
struct Diagnostics {
  std::vector<std::string> errors;
  void add(std::string_view var, std::string_view value, size_t column, const std::string& what);
};

bool parse_size(std::string_view s, uint64_t* out);
bool parse_bool(std::string_view s, bool* out);
bool parse_nodelist(std::string_view s, NodeMask* out);

// STRATA_TIERS: "name:attr=value,...;name:..." fastest first.
// `discovered` supplies nodes for a tier named like a discovered one.
bool parse_tiers(std::string_view value, const std::vector<TierDef>& discovered,
                 std::vector<TierDef>* out, Diagnostics* diag);

// STRATA_POLICY against a tier list; fills rules of `policy` (tiers already set).
bool parse_policy(std::string_view value, CompiledPolicy* policy, Diagnostics* diag);

// Normal form of the policy's rules, one per line.
std::string explain_rules(const CompiledPolicy& policy);

}  // namespace strata
