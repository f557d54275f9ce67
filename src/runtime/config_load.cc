#include "src/runtime/config_load.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/sys.h"

extern char** environ;

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

// ---- one function per option: false (or errors in diag) on a bad value ----

bool apply_strict(const char* v, LoadedConfig* cfg, Diagnostics*) {
  return parse_bool(v, &cfg->strict);
}

bool apply_log(const char* v, LoadedConfig* cfg, Diagnostics*) {
  static const char* kLevels[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i) {
    if (std::strcmp(v, kLevels[i]) == 0) {
      cfg->log_level = i;
      return true;
    }
  }
  return false;
}

bool apply_stats(const char* v, LoadedConfig* cfg, Diagnostics*) {
  cfg->stats = v;
  return true;
}

// Output files the runtime writes (its buffers take paths under 480 bytes).
bool out_path(const char* v, std::string* dst) {
  if (v[0] == '\0' || std::strlen(v) >= 480) return false;
  *dst = v;
  return true;
}
bool apply_profile(const char* v, LoadedConfig* cfg, Diagnostics*) {
  return out_path(v, &cfg->profile);
}
bool apply_metrics(const char* v, LoadedConfig* cfg, Diagnostics*) {
  return out_path(v, &cfg->metrics);
}

bool apply_profile_rate(const char* v, LoadedConfig* cfg, Diagnostics*) {
  uint64_t r = 0;
  if (!parse_size(v, &r) || r < 1024) return false;
  cfg->profile_rate = r;
  return true;
}

bool apply_sysfs_root(const char* v, LoadedConfig* cfg, Diagnostics*) {
  if (v[0] != '/') return false;
  cfg->sysfs_root = v;
  return true;
}

bool apply_pmem_dir(const char* v, LoadedConfig* cfg, Diagnostics*) {
  if (v[0] != '/') return false;
  cfg->pmem_dir = v;
  return true;
}

bool apply_tiers(const char* v, LoadedConfig* cfg, Diagnostics* diag) {
  std::vector<TierDef> parsed;
  if (!parse_tiers(v, cfg->discovered, &parsed, diag)) return true;  // diag says why
  // Every node named must exist (when sysfs shows nodes at all).
  if (!cfg->topo.nodes.empty()) {
    NodeMask online;
    for (const auto& n : cfg->topo.nodes) online.set(n.id);
    for (const auto& t : parsed) {
      for (int n = 0; n < kMaxNodes; ++n) {
        if (t.nodes.test(n) && !online.test(n)) {
          diag->add("STRATA_TIERS", v, 1,
                    "tier '" + std::string(t.name) + "' names node " + std::to_string(n) +
                        " which is not online (expected nodes " + online.str() + ")");
          return true;
        }
      }
    }
  }
  cfg->policy.ntiers = static_cast<int>(parsed.size());
  for (size_t i = 0; i < parsed.size(); ++i) cfg->policy.tiers[i] = parsed[i];
  cfg->tiers_from_env = true;
  return true;
}

// A configuration file named by @FILE: a regular file of at most
// kMaxConfigFile bytes. Opened non-blocking, so a FIFO or a device never
// hangs the program; anything but a regular file is refused.
constexpr size_t kMaxConfigFile = 64 * 1024;

bool read_config_file(const char* path, std::string* out, std::string* why) {
  int fd = ::open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    *why = std::strerror(errno);
    return false;
  }
  struct stat st {};
  bool ok = false;
  if (fstat(fd, &st) != 0) {
    *why = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    *why = "not a regular file";
  } else if (static_cast<uint64_t>(st.st_size) > kMaxConfigFile) {
    *why = "larger than 64 KiB";
  } else {
    static char buf[kMaxConfigFile + 1];
    size_t got = 0;
    ok = true;
    while (got < sizeof buf) {
      ssize_t n = ::read(fd, buf + got, sizeof buf - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        *why = std::strerror(errno);
        ok = false;
        break;
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    if (ok && got > kMaxConfigFile) {
      *why = "larger than 64 KiB";
      ok = false;
    }
    if (ok) out->assign(buf, got);
  }
  ::close(fd);
  return ok;
}

bool apply_policy(const char* v, LoadedConfig* cfg, Diagnostics* diag) {
  std::string text = v;
  if (!text.empty() && text[0] == '@') {
    std::string why;
    if (!read_config_file(text.c_str() + 1, &text, &why)) {
      diag->add("STRATA_POLICY", v, 2,
                "cannot read policy file: " + why + " (expected @/path/to/a/regular/file)");
      return true;
    }
  }
  CompiledPolicy trial = cfg->policy;
  if (parse_policy(text, &trial, diag)) {
    cfg->policy = trial;
    cfg->policy_from_env = true;
  }
  return true;
}

bool apply_migrate(const char* v, LoadedConfig* cfg, Diagnostics* diag) {
  parse_migrate(v, &cfg->policy.migrate, diag);
  return true;
}

bool apply_sampler(const char* v, LoadedConfig* cfg, Diagnostics* diag) {
  parse_sampler(v, &cfg->policy.sampler, diag);
  return true;
}

using Apply = bool (*)(const char* v, LoadedConfig* cfg, Diagnostics* diag);

// In Opt order.
constexpr Apply kApply[] = {apply_tiers,   apply_policy,       apply_migrate, apply_sampler,
                            apply_profile, apply_profile_rate, apply_metrics, apply_pmem_dir,
                            apply_strict,  apply_stats,        apply_log,     apply_sysfs_root};
static_assert(sizeof kApply / sizeof kApply[0] == kOptCount, "one apply function per option");

// The order variables are read in (and their errors reported): the ones that
// shape discovery and logging first, then sysfs is read, then the grammars
// that refer to the tiers found.
constexpr Opt kBeforeTopology[] = {Opt::kStrict,      Opt::kLog,     Opt::kStats,    Opt::kProfile,
                                   Opt::kProfileRate, Opt::kMetrics, Opt::kSysfsRoot};
constexpr Opt kAfterTopology[] = {Opt::kTiers, Opt::kPolicy, Opt::kMigrate, Opt::kSampler,
                                  Opt::kPmemDir};
constexpr bool read_once() {
  int seen[kOptCount] = {};
  for (Opt o : kBeforeTopology) ++seen[static_cast<size_t>(o)];
  for (Opt o : kAfterTopology) ++seen[static_cast<size_t>(o)];
  for (int n : seen)
    if (n != 1) return false;
  return true;
}
static_assert(read_once(), "every option is read exactly once");

// Reads one variable: records its text, applies it, reports a bad value
// with the table's error text and leaves the default in place.
void read_one(Opt id, const EnvLookup& env, LoadedConfig* cfg, Diagnostics* diag) {
  const OptionDef& o = option(id);
  const char* v = env(o.name);
  if (v == nullptr) return;
  const auto i = static_cast<size_t>(id);
  cfg->given[i] = true;
  cfg->text[i] = v;
  const size_t before = diag->errors.size();
  if (!kApply[i](v, cfg, diag) && diag->errors.size() == before)
    diag->add(o.name, v, 1, option_error(o));
  suffix_new(diag, before, o.expected[0] == '\0' ? ("; " + option_otherwise(o)).c_str() : "");
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
  // Defaults come from the table, through the same functions as values.
  Diagnostics ignored;
  for (size_t i = 0; i < kOptCount; ++i) {
    const OptionDef& o = option(static_cast<Opt>(i));
    if (o.def[0] != '\0') kApply[i](o.def, cfg, &ignored);
  }
  for (Opt id : kBeforeTopology) read_one(id, env, cfg, diag);

  cfg->topo = read_topology(cfg->sysfs_root);
  cfg->discovered = tiers_from_topology(cfg->topo);
  cfg->policy.ntiers = static_cast<int>(cfg->discovered.size());
  for (size_t i = 0; i < cfg->discovered.size(); ++i) cfg->policy.tiers[i] = cfg->discovered[i];
  for (Opt id : kAfterTopology) read_one(id, env, cfg, diag);
  if (!cfg->given[static_cast<size_t>(Opt::kPmemDir)]) {
    for (int i = 0; i < cfg->policy.ntiers; ++i) {
      if (cfg->policy.tiers[i].kind == TierKind::kPmemFile) {
        cfg->pmem_dir = cfg->policy.tiers[i].path;
        break;
      }
    }
  }
}

void load_config_from_environ(bool secure, LoadedConfig* cfg, Diagnostics* diag) {
  // Secure-execution programs read none of it (SecureMode::kIgnored).
  std::vector<std::string> names;
  if (!secure && environ != nullptr) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "STRATA_", 7) != 0) continue;
      const char* eq = std::strchr(*e, '=');
      if (eq != nullptr) names.emplace_back(*e, static_cast<size_t>(eq - *e));
    }
  }
  auto lookup = [secure](const char* name) -> const char* {
    const OptionDef* o = find_option(name);
    if (secure && (o == nullptr || o->secure == SecureMode::kIgnored)) return nullptr;
    return getenv(name);
  };
  load_config(lookup, names, cfg, diag);
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
