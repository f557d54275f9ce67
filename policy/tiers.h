// The tier definitions: what allocator/ needs to know about the tiers (their
// kind, NUMA nodes, capacity and file-heap path), without the configuration
// grammars and the compiled policy of policy/config.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

inline constexpr int kMaxTiers = 8;
inline constexpr int kMaxNodes = 1024;

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
// Kernel list syntax ("0-1,3"); false on anything else or a node >= kMaxNodes.
bool parse_nodelist(std::string_view s, NodeMask* out);

struct TierDef {
  char name[32] = {};
  TierKind kind = TierKind::kDram;
  NodeMask nodes;         // empty for a file heap
  uint64_t cap = 0;       // capacity limit in bytes, 0 = none
  char path[256] = {};    // PMEM file-heap directory
  uint64_t size = 0;      // PMEM file-heap size
  char why[192] = {};     // how it was found / declared, for --show-tiers
  uint8_t high_pct = 90;  // demote from this tier when use passes high_pct% of its limit
  uint8_t low_pct = 80;   // ... down to low_pct%
};

}  // namespace strata
