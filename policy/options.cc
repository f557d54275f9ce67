#include "policy/options.h"

namespace strata {
namespace {

constexpr SecureMode kNo = SecureMode::kIgnored;

constexpr OptionDef kOptions[] = {
    {Opt::kTiers, "STRATA_TIERS", OptType::kSpec, "", "tier list, see docs/configuration.md",
     "Tiers fastest first: name:nodes=LIST,cap=SIZE,high=P%,low=P%;name:path=DIR,size=SIZE. "
     "Unset: discovered from sysfs.",
     kNo, "", "STRATA_TIERS ignored, using the discovered tiers"},
    {Opt::kPolicy, "STRATA_POLICY", OptType::kSpec, "",
     "rule list or @FILE, see docs/configuration.md",
     "Placement rules: [prio=N,]COND,... -> TIER[:W,...][,nospill][,pin]; ... Unset: everything "
     "on the fastest tier.",
     kNo, "", "STRATA_POLICY ignored, everything on the fastest tier"},
    {Opt::kMigrate, "STRATA_MIGRATE", OptType::kSpec, "off",
     "off, on, or key=value list, see docs/configuration.md",
     "Migration engine: model=ewma|lru|lfu,promote=H,demote=H,hold=N,rate=SIZE/s,interval=T,"
     "batch=N.",
     kNo, "", "STRATA_MIGRATE ignored, migration off"},
    {Opt::kSampler, "STRATA_SAMPLER", OptType::kSpec, "auto",
     "auto, abit, pebs, ibs, idle, damon, trace:FILE or off, then cpu=P%, period=N, window=T, "
     "thp=split|keep|huge",
     "Hotness sampler for the migration engine; auto picks the best that works here and says "
     "why.",
     kNo, "", "STRATA_SAMPLER ignored, sampler auto"},
    {Opt::kProfile, "STRATA_PROFILE", OptType::kString, "",
     "a file path; %p is replaced by the process id",
     "Write a raw profile for strata-report at exit (and when PATH.dump appears); a forked "
     "child writes PATH.PID.",
     kNo, "a file path of 1 to 479 bytes", "no profile"},
    {Opt::kProfileRate, "STRATA_PROFILE_RATE", OptType::kSpec, "512K", "a size of at least 1K",
     "Mean bytes allocated between two sampled allocations of the profiler.", kNo,
     "a size of at least 1K (e.g. 512K)", ""},
    {Opt::kMetrics, "STRATA_METRICS", OptType::kString, "", "a file path",
     "Rewrite per-tier usage, allocation and migration counters in Prometheus text format "
     "there once per interval (see docs/metrics.md).",
     kNo, "a file path of 1 to 479 bytes", "no metrics"},
    {Opt::kPmemDir, "STRATA_PMEM_DIR", OptType::kString, "", "an absolute directory path",
     "Directory of named persistent regions (strata_pmem_open). Unset: the path= of the first "
     "PMEM file-heap tier.",
     kNo, "an absolute directory path", "named persistent regions unavailable"},
    {Opt::kStrict, "STRATA_STRICT", OptType::kBool, "0", "0 or 1",
     "1: a configuration error is fatal (exit status 2) instead of falling back to defaults.", kNo,
     "0 or 1", ""},
    {Opt::kStats, "STRATA_STATS", OptType::kString, "", "empty, 1, stderr, or a file path",
     "Print per-tier statistics at exit to stderr (1, stderr) or append them to a file.", kNo, "",
     ""},
    {Opt::kLog, "STRATA_LOG", OptType::kEnum, "warn", "error, warn, info, debug",
     "How much strata writes to stderr.", kNo, "error, warn, info or debug", ""},
    {Opt::kSysfsRoot, "STRATA_SYSFS_ROOT", OptType::kString, "/sys", "a directory",
     "Where tier discovery reads sysfs from (tests point it at fixtures).", kNo,
     "an absolute directory path", ""},
};

constexpr bool in_order() {
  size_t i = 0;
  for (const OptionDef& o : kOptions)
    if (static_cast<size_t>(o.id) != i++) return false;
  return i == kOptCount;
}
static_assert(in_order(), "kOptions must list every Opt once, in the enum's order");

const char* type_name(OptType t) {
  switch (t) {
    case OptType::kBool:
      return "bool";
    case OptType::kSize:
      return "size";
    case OptType::kEnum:
      return "enum";
    case OptType::kString:
      return "string";
    case OptType::kSpec:
      return "spec";
  }
  return "?";
}

}  // namespace

const OptionDef* options_table(size_t* count) {
  *count = kOptCount;
  return kOptions;
}

const OptionDef& option(Opt id) {
  return kOptions[static_cast<size_t>(id)];
}

const OptionDef* find_option(std::string_view name) {
  for (const auto& o : kOptions) {
    if (name == o.name) return &o;
  }
  return nullptr;
}

std::string option_otherwise(const OptionDef& o) {
  if (o.otherwise[0] != '\0') return o.otherwise;
  return std::string("using ") + o.def;
}

std::string option_error(const OptionDef& o) {
  return std::string("expected ") + o.expected + "; " + option_otherwise(o);
}

std::string options_markdown() {
  std::string out =
      "| variable | type | default | accepted | meaning | if invalid | setuid |\n"
      "|---|---|---|---|---|---|---|\n";
  for (const OptionDef& o : kOptions) {
    out += std::string("| `") + o.name + "` | " + type_name(o.type) + " | " +
           (o.def[0] != '\0' ? o.def : "(unset)") + " | " + o.range + " | " + o.doc + " | ";
    out += o.expected[0] == '\0' && o.otherwise[0] == '\0' ? "-" : option_otherwise(o);
    out += " | ignored |\n";
  }
  return out;
}

}  // namespace strata
