// The suggested policy, checked with strata's own parser against the profile's
// tiers: it parses without a message, and the recorded profile's hot site
// (kvstore+0x1a2b) is placed on the fastest tier and pinned, its cold bulk
// (libstore.so.1+0x4410) on the slowest.
//   strata-report-policy-test PROFILE STRATA_POLICY_VALUE
// Prints, as its last line, a STRATA_TIERS value with the profile's tier names
// that is valid on this machine (node 0), for `strata-run --check`.
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "policy/config.h"
#include "profiler/profile_format.h"
#include "tests/report/sample_profile.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PROFILE STRATA_POLICY_VALUE\n", argv[0]);
    return 2;
  }
  strata::profile::Profile p;
  std::string err;
  if (!strata::profile::read_file(argv[1], &p, &err)) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  auto pol = std::make_unique<strata::CompiledPolicy>();
  pol->ntiers = static_cast<int>(p.tiers.size());
  std::string tiers;
  for (size_t t = 0; t < p.tiers.size(); ++t) {
    std::snprintf(pol->tiers[t].name, sizeof pol->tiers[t].name, "%s", p.tiers[t].name.c_str());
    tiers += (t ? ";" : "") + p.tiers[t].name + (t ? ":nodes=0" : "");
  }
  strata::Diagnostics d;
  bool parsed = strata::parse_policy(argv[2], pol.get(), &d);
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    std::printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    if (!ok) ++failures;
  };
  for (const std::string& e : d.errors) std::printf("parser: %s\n", e.c_str());
  check(parsed && d.errors.empty(), "strata's parser accepts the suggested policy");
  std::printf("%s", strata::explain_rules(*pol).c_str());
  const uint64_t hot = strata::site_hash("kvstore", strata::test::kIndexOffset);
  const uint64_t cold = strata::site_hash("libstore.so.1", strata::test::kLogOffset);
  bool hot_ok = false;
  bool cold_ok = false;
  for (int i = 0; i < pol->nrules; ++i) {
    const strata::Rule& r = pol->rules[i];
    if (r.site_hash == hot) hot_ok = r.tier == 0 && r.pin && r.nweights == 0;
    if (r.site_hash == cold) cold_ok = r.tier == pol->ntiers - 1 && !r.pin;
  }
  check(hot_ok, "the hot site's hash -> the fastest tier, pinned");
  check(cold_ok, "the cold bulk's hash -> the slowest tier");
  std::printf("%s\n", tiers.c_str());
  return failures == 0 ? 0 : 1;
}
