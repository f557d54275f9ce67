#include "src/runtime/config_load.h"

#include <cstdio>
#include <cstring>

#include "base/sys.h"

namespace strata {
namespace {

void suffix_new(Diagnostics* diag, size_t from, const char* suffix) {
  for (size_t i = from; i < diag->errors.size(); ++i) diag->errors[i] += suffix;
}

std::string fmt_size(uint64_t b) {
  char buf[32];
  if (b == 0) return "-";
  if (b % (1ULL << 30) == 0)
    std::snprintf(buf, sizeof buf, "%lluG", static_cast<unsigned long long>(b >> 30));
  else if (b % (1ULL << 20) == 0)
    std::snprintf(buf, sizeof buf, "%lluM", static_cast<unsigned long long>(b >> 20));
  else
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(b));
  return buf;
}

}  // namespace

void load_config(const EnvLookup& env, const std::vector<std::string>& all_names, LoadedConfig* cfg,
                 Diagnostics* diag) {
  for (const std::string& name : all_names) {
    if (find_option(name) != nullptr) continue;
    size_t n = 0;
    const OptionDef* opts = options_table(&n);
    std::string known;
    for (size_t i = 0; i < n; ++i) known += (i ? ", " : "") + std::string(opts[i].name);
    const char* v = env(name.c_str());
    diag->add(name, v ? v : "", 1, "unknown variable (expected one of: " + known + "); ignored");
  }
  if (const char* v = env("STRATA_STRICT")) {
    if (!parse_bool(v, &cfg->strict)) diag->add("STRATA_STRICT", v, 1, "expected 0 or 1; using 0");
  }
  if (const char* v = env("STRATA_LOG")) {
    static const char* kLevels[] = {"error", "warn", "info", "debug"};
    bool ok = false;
    for (int i = 0; i < 4; ++i)
      if (std::strcmp(v, kLevels[i]) == 0) {
        cfg->log_level = i;
        ok = true;
      }
    if (!ok) diag->add("STRATA_LOG", v, 1, "expected error, warn, info or debug; using warn");
  }
  if (const char* v = env("STRATA_STATS")) cfg->stats = v;
  // Output files the runtime writes (its buffers take paths under 480 bytes).
  auto out_path = [&](const char* var, std::string* dst, const char* otherwise) {
    const char* v = env(var);
    if (v == nullptr) return;
    if (v[0] != '\0' && std::strlen(v) < 480)
      *dst = v;
    else
      diag->add(var, v, 1, std::string("expected a file path of 1 to 479 bytes; ") + otherwise);
  };
  out_path("STRATA_PROFILE", &cfg->profile, "no profile");
  if (const char* v = env("STRATA_PROFILE_RATE")) {
    uint64_t r = 0;
    if (parse_size(v, &r) && r >= 1024)
      cfg->profile_rate = r;
    else
      diag->add("STRATA_PROFILE_RATE", v, 1,
                "expected a size of at least 1K (e.g. 512K); using 512K");
  }
  out_path("STRATA_METRICS", &cfg->metrics, "no metrics");
  if (const char* v = env("STRATA_SYSFS_ROOT")) {
    if (v[0] == '/')
      cfg->sysfs_root = v;
    else
      diag->add("STRATA_SYSFS_ROOT", v, 1, "expected an absolute directory path; using /sys");
  }

  cfg->topo = read_topology(cfg->sysfs_root);
  cfg->discovered = tiers_from_topology(cfg->topo);
  std::vector<TierDef> tiers = cfg->discovered;
  if (const char* v = env("STRATA_TIERS")) {
    size_t before = diag->errors.size();
    std::vector<TierDef> parsed;
    if (parse_tiers(v, cfg->discovered, &parsed, diag)) {
      // Every node named must exist (when sysfs shows nodes at all).
      bool ok = true;
      if (!cfg->topo.nodes.empty()) {
        NodeMask online;
        for (const auto& n : cfg->topo.nodes) online.set(n.id);
        for (const auto& t : parsed) {
          for (int n = 0; n < kMaxNodes; ++n) {
            if (t.nodes.test(n) && !online.test(n)) {
              diag->add("STRATA_TIERS", v, 1,
                        "tier '" + std::string(t.name) + "' names node " + std::to_string(n) +
                            " which is not online (expected nodes " + online.str() + ")");
              ok = false;
              break;
            }
          }
        }
      }
      if (ok) {
        tiers = parsed;
        cfg->tiers_from_env = true;
      }
    }
    suffix_new(diag, before, "; STRATA_TIERS ignored, using the discovered tiers");
  }
  cfg->policy.ntiers = static_cast<int>(tiers.size());
  for (size_t i = 0; i < tiers.size(); ++i) cfg->policy.tiers[i] = tiers[i];

  if (const char* v = env("STRATA_POLICY")) {
    size_t before = diag->errors.size();
    std::string text = v;
    bool readable = true;
    if (!text.empty() && text[0] == '@') {
      static char buf[65536];
      long n = sys::read_file(text.c_str() + 1, buf, sizeof buf);
      if (n < 0) {
        diag->add("STRATA_POLICY", v, 2,
                  std::string("cannot read policy file: ") + std::strerror(errno) +
                      " (expected @/path/to/readable/file)");
        readable = false;
      } else if (n == static_cast<long>(sizeof buf) - 1) {
        diag->add("STRATA_POLICY", v, 2,
                  "policy file larger than 64 KiB (expected a smaller file)");
        readable = false;
      } else {
        text.assign(buf, static_cast<size_t>(n));
      }
    }
    if (readable) {
      CompiledPolicy trial = cfg->policy;
      if (parse_policy(text, &trial, diag)) {
        cfg->policy = trial;
        cfg->policy_from_env = true;
      }
    }
    suffix_new(diag, before, "; STRATA_POLICY ignored, everything on the fastest tier");
  }
  if (const char* v = env("STRATA_MIGRATE")) {
    size_t before = diag->errors.size();
    parse_migrate(v, &cfg->policy.migrate, diag);
    suffix_new(diag, before, "; STRATA_MIGRATE ignored, migration off");
  }
  if (const char* v = env("STRATA_SAMPLER")) {
    size_t before = diag->errors.size();
    parse_sampler(v, &cfg->policy.sampler, diag);
    suffix_new(diag, before, "; STRATA_SAMPLER ignored, sampler auto");
  }
  if (const char* v = env("STRATA_PMEM_DIR")) {
    if (v[0] == '/')
      cfg->pmem_dir = v;
    else
      diag->add("STRATA_PMEM_DIR", v, 1,
                "expected an absolute directory path; named persistent regions unavailable");
  } else {
    for (int i = 0; i < cfg->policy.ntiers; ++i) {
      if (cfg->policy.tiers[i].kind == TierKind::kPmemFile) {
        cfg->pmem_dir = cfg->policy.tiers[i].path;
        break;
      }
    }
  }
}

std::string describe_tiers(const LoadedConfig& cfg) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "tiers (fastest first) from %s:\n",
                cfg.tiers_from_env ? "STRATA_TIERS" : ("sysfs at " + cfg.sysfs_root).c_str());
  out += line;
  std::snprintf(line, sizeof line, "  %-3s %-10s %-10s %-10s %-8s %s\n", "#", "name", "kind",
                "nodes", "cap", "why");
  out += line;
  for (int i = 0; i < cfg.policy.ntiers; ++i) {
    const TierDef& t = cfg.policy.tiers[i];
    std::string nodes = t.kind == TierKind::kPmemFile ? std::string(t.path)
                                                      : (t.nodes.empty() ? "any" : t.nodes.str());
    std::snprintf(line, sizeof line, "  %-3d %-10s %-10s %-10s %-8s %s\n", i, t.name,
                  tier_kind_name(t.kind), nodes.c_str(), fmt_size(t.cap).c_str(), t.why);
    out += line;
  }
  return out;
}

}  // namespace strata
