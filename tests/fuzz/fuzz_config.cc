// libFuzzer target for the configuration parsers (STRATA_TIERS, STRATA_POLICY
// with placement decisions, STRATA_MIGRATE, globs,
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
  // First byte picks the parser (mod 5), the rest is the value.
  if (in.empty()) return 0;
  const char which = in[0];
  std::string_view value = in.substr(1);
  std::vector<strata::TierDef> discovered(2);
  std::snprintf(discovered[0].name, sizeof discovered[0].name, "dram");
  discovered[0].nodes.set(0);
  std::snprintf(discovered[1].name, sizeof discovered[1].name, "cxl");
  discovered[1].nodes.set(1);
  strata::Diagnostics diag;
  switch (which % 5) {
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
        strata::InterleaveState il;
        for (uint64_t s :
             {uint64_t{0}, uint64_t{1}, uint64_t{4096}, uint64_t{1} << 40, UINT64_MAX}) {
          for (int label = -1; label < p.nlabels; ++label) {
            strata::PlaceQuery q;
            q.size = s;
            q.hint_label = label;
            q.hint_tier = label >= 0 ? 1 : -1;
            // Every site matches every site rule: the widest set of decisions.
            q.site_bits = [](void*) -> uint64_t { return ~uint64_t{0}; };
            strata::Placement d = p.decide(q, &il);
            if (d.tier < 0 || d.tier >= p.ntiers) __builtin_trap();
          }
          // The site mask of a name and module taken from the input itself.
          (void)p.site_mask(value, value, value, strata::site_hash(value, s));
        }
      }
      break;
    }
    case 4: {
      strata::MigrateConfig m;
      bool ok = strata::parse_migrate(value, &m, &diag);
      if (ok != diag.errors.empty()) __builtin_trap();
      if (ok && m.enabled && !(m.demote < m.promote)) __builtin_trap();
      (void)strata::explain_migrate(m);
      (void)strata::glob_match(value, value);
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
