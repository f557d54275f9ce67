// strata-run: run an unmodified program under libstrata, or inspect what
// strata would do on this machine.
#include <hwloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/sys.h"
#include "profiler/abit.h"
#include "src/runtime/config_load.h"

namespace {

constexpr const char* kUsage =
    "usage: strata-run [options] [--] program [args...]\n"
    "       strata-run --show-tiers | --explain | --check [options]\n"
    "\n"
    "Runs an unmodified program with libstrata.so preloaded.\n"
    "\n"
    "options:\n"
    "  --stats[=FILE]     print per-tier statistics at exit (stderr, or append to FILE)\n"
    "  --tiers SPEC       set STRATA_TIERS (e.g. 'dram:nodes=0;cxl:nodes=1,cap=8G')\n"
    "  --policy SPEC      set STRATA_POLICY (e.g. 'size>=1M -> cxl')\n"
    "  --profile PATH     write a profile for strata-report (STRATA_PROFILE)\n"
    "  --metrics PATH     keep Prometheus metrics in PATH (STRATA_METRICS)\n"
    "  --migrate SPEC     set STRATA_MIGRATE (e.g. 'on' or 'interval=500ms')\n"
    "  --strict           configuration errors are fatal (STRATA_STRICT=1)\n"
    "  --log LEVEL        error, warn, info or debug (STRATA_LOG)\n"
    "  --lib PATH         libstrata.so to preload (default: next to this tool, else\n"
    "                     where it was installed)\n"
    "  --show-tiers       print the tiers found on this machine and why, then exit\n"
    "  --explain          print the effective configuration and rules, then exit\n"
    "  --check            validate the configuration; exit 0 if valid, 2 if not\n"
    "  --options-table    print the STRATA_* options table (markdown), then exit\n"
    "  --version          print the version\n"
    "  -h, --help         this text\n"
    "\n"
    "Every STRATA_* variable already in the environment is honoured; see\n"
    "docs/configuration.md.\n";

std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = '\0';
  std::string p(buf);
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

// The library next to this tool (build tree: bin/ and lib/; installed:
// bin/ and lib/ or lib/<multiarch>/), then where it was installed.
std::string find_lib() {
  const std::string dir = self_dir();
  const std::string multiarch = STRATA_MULTIARCH;
  std::vector<std::string> candidates;
  for (const char* name : {STRATA_SONAME, "libstrata.so"}) {
    candidates.push_back(dir + "/../lib/" + name);
    if (!multiarch.empty()) candidates.push_back(dir + "/../lib/" + multiarch + "/" + name);
    candidates.push_back(dir + "/" + name);
    candidates.push_back(std::string(STRATA_INSTALL_LIBDIR) + "/" + name);
  }
  for (const std::string& c : candidates) {
    if (access(c.c_str(), R_OK) == 0) {
      char real[4096];
      if (realpath(c.c_str(), real) != nullptr) return real;
      return c;
    }
  }
  return "";
}

bool load(strata::LoadedConfig* cfg, strata::Diagnostics* diag) {
  strata::load_config_from_environ(false, cfg, diag);
  return diag->errors.empty();
}

std::string read_trim(const char* path) {
  char buf[256];
  if (strata::sys::read_file(path, buf, sizeof buf) < 0) return "";
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void print_hwloc() {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    std::printf("hwloc: topology not available\n");
    return;
  }
  int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  std::printf("hwloc view (%d NUMA node%s):\n", n, n == 1 ? "" : "s");
  for (int i = 0; i < n; ++i) {
    hwloc_obj_t node = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, i);
    char cpus[128] = "none";
    if (node->cpuset != nullptr && !hwloc_bitmap_iszero(node->cpuset))
      hwloc_bitmap_list_snprintf(cpus, sizeof cpus, node->cpuset);
    std::printf("  node %u: %llu MiB, local CPUs %s%s%s", node->os_index,
                static_cast<unsigned long long>(node->attr->numanode.local_memory >> 20), cpus,
                node->subtype != nullptr ? ", subtype " : "",
                node->subtype != nullptr ? node->subtype : "");
    const char* dax = hwloc_obj_get_info_by_name(node, "DAXDevice");
    if (dax != nullptr) std::printf(", DAX device %s", dax);
    struct hwloc_location loc;
    loc.type = HWLOC_LOCATION_TYPE_CPUSET;
    loc.location.cpuset = const_cast<hwloc_cpuset_t>(hwloc_topology_get_topology_cpuset(topo));
    hwloc_uint64_t bw = 0;
    hwloc_uint64_t lat = 0;
    bool have_bw =
        hwloc_memattr_get_value(topo, HWLOC_MEMATTR_ID_BANDWIDTH, node, &loc, 0, &bw) == 0;
    bool have_lat =
        hwloc_memattr_get_value(topo, HWLOC_MEMATTR_ID_LATENCY, node, &loc, 0, &lat) == 0;
    if (have_bw || have_lat) {
      std::printf(", bandwidth %llu MB/s, latency %llu ns", static_cast<unsigned long long>(bw),
                  static_cast<unsigned long long>(lat));
    } else {
      std::printf(", no bandwidth/latency attributes (no HMAT)");
    }
    std::printf("\n");
  }
  hwloc_topology_destroy(topo);
}

void print_kernel_tiering() {
  std::string nb = read_trim("/proc/sys/kernel/numa_balancing");
  std::string dem = read_trim("/sys/kernel/mm/numa/demotion_enabled");
  const char* mode = "unknown";
  if (nb == "0")
    mode = "off";
  else if (nb == "1")
    mode = "NUMA balancing";
  else if (nb == "2")
    mode = "memory tiering (promotion)";
  else if (nb == "3")
    mode = "NUMA balancing + memory tiering";
  std::printf("kernel tiering: numa_balancing=%s (%s), demotion_enabled=%s\n",
              nb.empty() ? "unavailable" : nb.c_str(), mode,
              dem.empty() ? "unavailable" : dem.c_str());
}

int show(bool tiers, bool explain, bool check) {
  strata::LoadedConfig cfg;
  strata::Diagnostics diag;
  bool ok = load(&cfg, &diag);
  for (const auto& e : diag.lines()) std::fprintf(stderr, "strata: %s\n", e.c_str());
  if (check) {
    std::printf("%s\n", ok ? "strata: configuration is valid" : "strata: configuration has errors");
    return ok ? 0 : 2;
  }
  if (tiers) {
    if (!cfg.topo.note.empty()) std::printf("sysfs: %s\n", cfg.topo.note.c_str());
    std::printf("%s", strata::describe_tiers(cfg).c_str());
    if (cfg.tiers_from_env) {
      std::printf("discovered on this machine:\n");
      for (const auto& t : cfg.discovered)
        std::printf("  %-10s nodes %-8s %s\n", t.name,
                    t.nodes.empty() ? "any" : t.nodes.str().c_str(), t.why);
    }
    print_hwloc();
    print_kernel_tiering();
    int k = -1;
    if (strata::abit::paddr_kdamond_on(&k))
      std::printf(
          "sampler note: a physical-address DAMON monitor runs (kdamond %d): it clears "
          "accessed bits machine-wide, so the abit sampler reads fewer referenced pages "
          "than were used\n",
          k);
  }
  if (explain) {
    if (!tiers) std::printf("%s", strata::describe_tiers(cfg).c_str());
    std::printf("policy%s:\n", cfg.policy_from_env ? " (STRATA_POLICY)" : " (default)");
    std::string rules = strata::explain_rules(cfg.policy);
    size_t start = 0;
    while (start < rules.size()) {
      size_t nl = rules.find('\n', start);
      std::printf("  %s\n", rules.substr(start, nl - start).c_str());
      start = nl + 1;
    }
    std::printf("%s", strata::explain_migrate(cfg.policy.migrate).c_str());
    std::printf("%s", strata::explain_sampler(cfg.policy.sampler).c_str());
    for (int i = 0; i < cfg.policy.ntiers && cfg.policy.migrate.enabled; ++i)
      std::printf("  tier %s: high=%u%%, low=%u%%\n", cfg.policy.tiers[i].name,
                  cfg.policy.tiers[i].high_pct, cfg.policy.tiers[i].low_pct);
    std::printf("named persistent regions: %s\n",
                cfg.pmem_dir.empty() ? "unavailable (no STRATA_PMEM_DIR, no PMEM file-heap tier)"
                                     : cfg.pmem_dir.c_str());
    size_t count = 0;
    const strata::OptionDef* opts = strata::options_table(&count);
    std::printf("variables:\n");
    for (size_t i = 0; i < count; ++i) {
      const char* v = cfg.env_text(opts[i].id);
      std::printf("  %-18s = %s%s\n", opts[i].name, v ? v : opts[i].def, v ? "" : "  (default)");
    }
  }
  return ok ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string lib;
  bool show_tiers = false;
  bool explain = false;
  bool check = false;
  int i = 1;
  auto need = [&](const char* opt) -> const char* {
    if (i + 1 >= argc) {
      std::fprintf(stderr, "strata-run: %s needs a value\n%s", opt, kUsage);
      std::exit(2);
    }
    return argv[++i];
  };
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    if (a == "--stats")
      setenv("STRATA_STATS", "1", 1);
    else if (a.rfind("--stats=", 0) == 0)
      setenv("STRATA_STATS", a.c_str() + 8, 1);
    else if (a == "--tiers")
      setenv("STRATA_TIERS", need("--tiers"), 1);
    else if (a == "--policy")
      setenv("STRATA_POLICY", need("--policy"), 1);
    else if (a == "--profile")
      setenv("STRATA_PROFILE", need("--profile"), 1);
    else if (a == "--metrics")
      setenv("STRATA_METRICS", need("--metrics"), 1);
    else if (a == "--migrate")
      setenv("STRATA_MIGRATE", need("--migrate"), 1);
    else if (a == "--strict")
      setenv("STRATA_STRICT", "1", 1);
    else if (a == "--log")
      setenv("STRATA_LOG", need("--log"), 1);
    else if (a == "--lib")
      lib = need("--lib");
    else if (a == "--show-tiers")
      show_tiers = true;
    else if (a == "--explain")
      explain = true;
    else if (a == "--check")
      check = true;
    else if (a == "--options-table") {
      std::printf("%s", strata::options_markdown().c_str());
      return 0;
    } else if (a == "--version") {
      std::printf("strata-run 0.1.0\n");
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      std::fprintf(stderr, "strata-run: unknown option '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (show_tiers || explain || check) return show(show_tiers, explain, check);
  if (i >= argc) {
    std::fprintf(stderr, "strata-run: no program given\n%s", kUsage);
    return 2;
  }
  if (lib.empty()) lib = find_lib();
  if (lib.empty() || access(lib.c_str(), R_OK) != 0) {
    std::fprintf(stderr,
                 "strata-run: cannot find libstrata.so next to %s nor in %s (use --lib PATH)\n",
                 self_dir().c_str(), STRATA_INSTALL_LIBDIR);
    return 127;
  }
  const char* old = getenv("LD_PRELOAD");
  std::string preload = lib;
  if (old != nullptr && *old != '\0') preload += std::string(":") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  execvp(argv[i], argv + i);
  std::fprintf(stderr, "strata-run: cannot run '%s': %s\n", argv[i], std::strerror(errno));
  return 127;
}
