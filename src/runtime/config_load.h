// Reads the STRATA_* environment into a compiled policy. Shared by the
// preloaded runtime and strata-run (--show-tiers, --explain, --check), so the
// tool reports exactly what the library will do.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "allocator/discovery.h"
#include "policy/config.h"

namespace strata {

struct LoadedConfig {
  CompiledPolicy policy;            // tiers + rules in effect
  std::vector<TierDef> discovered;  // what sysfs showed
  Topology topo;
  bool tiers_from_env = false;
  bool policy_from_env = false;
  // The defaults of the fields below come from the options table (policy/options.h).
  bool strict = false;        // STRATA_STRICT
  std::string stats;          // STRATA_STATS
  std::string profile;        // STRATA_PROFILE
  uint64_t profile_rate = 0;  // STRATA_PROFILE_RATE
  std::string metrics;        // STRATA_METRICS
  int log_level = 0;          // STRATA_LOG, as a LogLevel
  std::string sysfs_root;     // STRATA_SYSFS_ROOT
  std::string pmem_dir;       // STRATA_PMEM_DIR, else the first PMEM file-heap tier's path
  // Each variable as the environment gave it (given[i] false: unset), by Opt.
  bool given[kOptCount] = {};
  std::string text[kOptCount];
  const char* env_text(Opt id) const {
    const auto i = static_cast<size_t>(id);
    return given[i] ? text[i].c_str() : nullptr;
  }
};

// getenv-like lookup; returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// Fills cfg; every problem goes to diag (one line each, already saying what
// was ignored). Never fails: bad input leaves defaults in place.
// `all_names` lists the STRATA_* names present in the environment, to report
// unknown (misspelt) variables.
void load_config(const EnvLookup& env, const std::vector<std::string>& all_names, LoadedConfig* cfg,
                 Diagnostics* diag);

// load_config over the process environment. `secure` (a secure-execution
// program): every variable the options table marks SecureMode::kIgnored is
// treated as unset (today: all of them).
void load_config_from_environ(bool secure, LoadedConfig* cfg, Diagnostics* diag);

// Human-readable configuration summary (strata-run --explain, --show-tiers).
std::string describe_tiers(const LoadedConfig& cfg);

}  // namespace strata
