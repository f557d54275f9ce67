// libFuzzer target for the configuration parsers (STRATA_TIERS, STRATA_POLICY,
// sizes, node lists). Every input must parse or be rejected with messages; no
// crash, no hang, no leak, no undefined behaviour (built with ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // First byte picks the parser, the rest is the value.
  if (in.empty()) return 0;
  const char which = in[0];
  std::string_view value = in.substr(1);
  std::vector<strata::TierDef> discovered(2);
  std::snprintf(discovered[0].name, sizeof discovered[0].name, "dram");
  discovered[0].nodes.set(0);
  std::snprintf(discovered[1].name, sizeof discovered[1].name, "cxl");
  discovered[1].nodes.set(1);
  strata::Diagnostics diag;
  switch (which % 4) {
    case 0: {
      std::vector<strata::TierDef> out;
      bool ok = strata::parse_tiers(value, discovered, &out, &diag);
      if (ok != diag.errors.empty()) __builtin_trap();  // ok <=> no message
      if (ok && (out.empty() || out.size() > strata::kMaxTiers)) __builtin_trap();
      break;
    }
    case 1: {
      strata::CompiledPolicy p;
      p.ntiers = 2;
      p.tiers[0] = discovered[0];
      p.tiers[1] = discovered[1];
      bool ok = strata::parse_policy(value, &p, &diag);
      if (ok != diag.errors.empty()) __builtin_trap();
      if (ok) {
        (void)strata::explain_rules(p);
        for (uint64_t s : {uint64_t{0}, uint64_t{1}, uint64_t{4096}, uint64_t{1} << 40, UINT64_MAX}) {
          int t = p.place(s, strata::AllocKind::kHeap);
          if (t < 0 || t >= p.ntiers) __builtin_trap();
        }
      }
      break;
    }
    case 2: {
      uint64_t v = 0;
      (void)strata::parse_size(value, &v);
      break;
    }
    default: {
      strata::NodeMask m;
      if (strata::parse_nodelist(value, &m)) (void)m.str();
      break;
    }
  }
  return 0;
}
