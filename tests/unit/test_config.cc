#include <catch2/catch.hpp>
#include <map>

#include "policy/config.h"
#include "src/runtime/config_load.h"

using namespace strata;

namespace {

std::vector<TierDef> discovered3() {
  std::vector<TierDef> d(3);
  std::snprintf(d[0].name, sizeof d[0].name, "dram");
  d[0].nodes.set(0);
  std::snprintf(d[1].name, sizeof d[1].name, "cxl");
  d[1].kind = TierKind::kCxl;
  d[1].nodes.set(1);
  std::snprintf(d[2].name, sizeof d[2].name, "pmem");
  d[2].kind = TierKind::kPmemNode;
  d[2].nodes.set(2);
  return d;
}

CompiledPolicy policy_with(const std::vector<TierDef>& tiers) {
  CompiledPolicy p;
  p.ntiers = static_cast<int>(tiers.size());
  for (size_t i = 0; i < tiers.size(); ++i) p.tiers[i] = tiers[i];
  return p;
}

}  // namespace

TEST_CASE("sizes parse with binary suffixes and reject junk", "[config]") {
  uint64_t v = 0;
  CHECK(parse_size("0", &v));
  CHECK(v == 0);
  CHECK(parse_size("4096", &v));
  CHECK(v == 4096);
  CHECK(parse_size("4K", &v));
  CHECK(v == 4096);
  CHECK(parse_size("1m", &v));
  CHECK(v == (1ULL << 20));
  CHECK(parse_size("2GiB", &v));
  CHECK(v == (2ULL << 30));
  CHECK(parse_size("3T", &v));
  CHECK(v == (3ULL << 40));
  CHECK(parse_size("7B", &v));
  CHECK(v == 7);
  CHECK_FALSE(parse_size("", &v));
  CHECK_FALSE(parse_size("K", &v));
  CHECK_FALSE(parse_size("1Q", &v));
  CHECK_FALSE(parse_size("1KK", &v));
  CHECK_FALSE(parse_size("-1", &v));
  CHECK_FALSE(parse_size("1.5G", &v));
  CHECK_FALSE(parse_size("99999999999999999999", &v));
  CHECK_FALSE(parse_size("20000000T", &v));  // overflows 64 bits
}

TEST_CASE("node lists use the kernel's syntax", "[config]") {
  NodeMask m;
  REQUIRE(parse_nodelist("0-2,5", &m));
  CHECK(m.str() == "0-2,5");
  CHECK(m.count() == 4);
  CHECK(m.first() == 0);
  CHECK(m.max_node() == 5);
  CHECK_FALSE(parse_nodelist("", &m));
  CHECK_FALSE(parse_nodelist("3-1", &m));
  CHECK_FALSE(parse_nodelist("a", &m));
  CHECK_FALSE(parse_nodelist("1024", &m));
  REQUIRE(parse_nodelist("1023", &m));
  CHECK(m.str() == "1023");
}

TEST_CASE("STRATA_TIERS: valid declarations", "[config]") {
  Diagnostics diag;
  std::vector<TierDef> out;
  REQUIRE(parse_tiers("fast:nodes=0,2-3,cap=8G; slow:nodes=1 ;pm:path=/mnt/pmem,size=16G",
                      discovered3(), &out, &diag));
  REQUIRE(diag.errors.empty());
  REQUIRE(out.size() == 3);
  CHECK(std::string(out[0].name) == "fast");
  CHECK(out[0].nodes.str() == "0,2-3");
  CHECK(out[0].cap == (8ULL << 30));
  CHECK(out[1].nodes.str() == "1");
  CHECK(out[1].kind == TierKind::kCxl);  // same nodes as the discovered cxl tier
  CHECK(out[2].kind == TierKind::kPmemFile);
  CHECK(std::string(out[2].path) == "/mnt/pmem");
  CHECK(out[2].size == (16ULL << 30));
  CHECK(out[2].cap == (16ULL << 30));
}

TEST_CASE("STRATA_TIERS: a discovered tier can be named to set its capacity", "[config]") {
  Diagnostics diag;
  std::vector<TierDef> out;
  REQUIRE(parse_tiers("dram:cap=1G;pmem", discovered3(), &out, &diag));
  REQUIRE(out.size() == 2);
  CHECK(out[0].nodes.str() == "0");
  CHECK(out[0].cap == (1ULL << 30));
  CHECK(out[1].nodes.str() == "2");
  CHECK(out[1].kind == TierKind::kPmemNode);
}

TEST_CASE("STRATA_TIERS: every error is reported with column and expectation", "[config]") {
  Diagnostics diag;
  std::vector<TierDef> out;
  const char* v = "fast:nodes=0,cpa=1G;x y:nodes=1;slow:nodes=9-3;f:path=rel;g:path=/p;dram:cap=0";
  CHECK_FALSE(parse_tiers(v, discovered3(), &out, &diag));
  // A long value is quoted as its escaped excerpt (Diagnostics::kExcerpt bytes, then "...").
  std::string pre = std::string("STRATA_TIERS=\"") + excerpt(v, Diagnostics::kExcerpt) + "\": ";
  REQUIRE(diag.errors.size() == 6);
  CHECK(diag.errors[0] == pre +
                              "column 14: unknown key 'cpa' in tier 'fast' (expected nodes, cap, "
                              "path, size, kind, high or low)");
  CHECK(diag.errors[1] ==
        pre + "column 21: bad tier name 'x y' (expected 1-31 letters, digits, '_' or '-')");
  CHECK(diag.errors[2] ==
        pre + "column 44: bad node list '9-3' (expected e.g. 1 or 0-1,3; nodes < 1024)");
  CHECK(diag.errors[3] == pre + "column 55: bad path 'rel' (expected an absolute directory path)");
  CHECK(diag.errors[4] ==
        pre + "column 59: tier 'g' has path= but no size= (expected e.g. size=16G)");
  CHECK(diag.errors[5] ==
        pre + "column 78: bad capacity '0' (expected a size > 0 such as 512M or 8G)");
  CHECK(out.empty());
}

TEST_CASE("STRATA_TIERS: structural errors", "[config]") {
  auto first_error = [](const char* v) {
    Diagnostics diag;
    std::vector<TierDef> out;
    parse_tiers(v, discovered3(), &out, &diag);
    return diag.errors.empty() ? std::string() : diag.errors[0];
  };
  CHECK(first_error("a:nodes=0;a:nodes=1") ==
        "STRATA_TIERS=\"a:nodes=0;a:nodes=1\": column 11: tier 'a' is declared twice");
  CHECK(first_error("a:nodes=0,path=/x") ==
        "STRATA_TIERS=\"a:nodes=0,path=/x\": column 1: tier 'a' has both nodes= and path= "
        "(expected one of them)");
  CHECK(first_error("zz") ==
        "STRATA_TIERS=\"zz\": column 1: tier 'zz' has no nodes= or path= and is not a discovered "
        "tier (discovered: dram, cxl, pmem)");
  CHECK(first_error(" ; ") ==
        "STRATA_TIERS=\" ; \": column 1: no tier declared (expected name:nodes=LIST or "
        "name:path=DIR,size=SIZE)");
  CHECK(first_error("a:nodes=0;b:nodes=0;c:nodes=0;d:nodes=0;e:nodes=0;f:nodes=0;g:nodes=0;"
                    "h:nodes=0;i:nodes=0")
            .find("9 tiers declared (expected at most 8)") != std::string::npos);
  CHECK(first_error("a:nodes") ==
        "STRATA_TIERS=\"a:nodes\": column 3: expected key=value in tier 'a', got 'nodes' (keys: "
        "nodes, cap, path, size, kind, high, low)");
  CHECK(first_error("a:nodes=0,size=4G") ==
        "STRATA_TIERS=\"a:nodes=0,size=4G\": column 1: tier 'a' has size= without path= (size is "
        "the PMEM file size)");
}

TEST_CASE("STRATA_POLICY: size rules compile and place", "[config]") {
  Diagnostics diag;
  CompiledPolicy p = policy_with(discovered3());
  REQUIRE(parse_policy("size>=1M -> cxl; size>=1G -> pmem", &p, &diag));
  REQUIRE(diag.errors.empty());
  CHECK(p.nrules == 2);
  CHECK(p.heap_rules);
  CHECK(p.mmap_rules);
  CHECK(p.place(100, AllocKind::kHeap) == 0);
  CHECK(p.place((1 << 20) - 1, AllocKind::kHeap) == 0);
  CHECK(p.place(1 << 20, AllocKind::kHeap) == 1);
  // First listed wins at equal priority: the 1G rule is shadowed.
  CHECK(p.place(2ULL << 30, AllocKind::kHeap) == 1);
  CHECK(explain_rules(p) == "size>=1048576 -> cxl\nsize>=1073741824 -> pmem\n");
}

TEST_CASE("STRATA_POLICY: priorities, kinds, ranges, nospill", "[config]") {
  Diagnostics diag;
  CompiledPolicy p = policy_with(discovered3());
  REQUIRE(
      parse_policy("size>=1M -> cxl\n"
                   "prio=5, size>=1G -> pmem   # big things to PMEM\n"
                   "kind=mmap, size>64K, size<=256K -> tier=pmem, nospill\n"
                   "prio=-1, * -> dram",
                   &p, &diag));
  REQUIRE(diag.errors.empty());
  REQUIRE(p.nrules == 4);
  CHECK(p.place(2ULL << 30, AllocKind::kHeap) == 2);  // prio 5 beats source order
  CHECK(p.place(2 << 20, AllocKind::kHeap) == 1);
  bool nospill = false;
  CHECK(p.place(100 << 10, AllocKind::kMmap, &nospill) == 2);
  CHECK(nospill);
  CHECK(p.place(100 << 10, AllocKind::kHeap, &nospill) == 0);
  CHECK_FALSE(nospill);
  CHECK(p.place(64 << 10, AllocKind::kMmap) == 0);  // size>64K excludes 64K itself
  CHECK(explain_rules(p) ==
        "prio=5, size>=1073741824 -> pmem\n"
        "size>=1048576 -> cxl\n"
        "kind=mmap, size>=65537, size<=262144 -> pmem, nospill\n"
        "prio=-1, * -> dram\n");
}

TEST_CASE("STRATA_POLICY: errors name column, text and expectation", "[config]") {
  Diagnostics diag;
  CompiledPolicy p = policy_with(discovered3());
  const char* v =
      "size>=1Q -> cxl;size>1M -> nowhere;bogus;size<1K,size>2K -> cxl;"
      "kind=file -> cxl; -> dram;prio=x,* -> dram;* -> cxl,pmem";
  CHECK_FALSE(parse_policy(v, &p, &diag));
  std::string pre = std::string("STRATA_POLICY=\"") + excerpt(v, Diagnostics::kExcerpt) + "\": ";
  REQUIRE(diag.errors.size() == 8);
  CHECK(diag.errors[0] == pre +
                              "column 1: bad size condition 'size>=1Q' (expected size<N, size<=N, "
                              "size>N, size>=N or size=N with N like 64, 4K, 1M)");
  CHECK(diag.errors[1] ==
        pre + "column 28: unknown tier 'nowhere' (expected one of: dram, cxl, pmem)");
  CHECK(diag.errors[2] ==
        pre + "column 36: rule 'bogus' has no '->' (expected CONDITION,... -> TIER)");
  CHECK(diag.errors[3] == pre + "column 42: conditions 'size<1K,size>2K' never match together");
  CHECK(diag.errors[4] == pre + "column 65: bad kind 'file' (expected heap or mmap)");
  CHECK(diag.errors[5] == pre + "column 83: rule '-> dram' has no condition (use * for all)");
  CHECK(diag.errors[6] ==
        pre + "column 91: bad priority 'prio=x' (expected prio=N with N from -999999 to 999999)");
  CHECK(diag.errors[7] ==
        pre + "column 117: rule names two tiers (expected one, or weights such as dram:1,cxl:3)");
  CHECK(p.nrules == 0);  // nothing half-applied
}

TEST_CASE("STRATA_POLICY: an overlong priority is an error, not an overflow", "[config]") {
  // Found by the parser fuzzer (tests/fuzz): the digits were accumulated before the
  // length check.
  Diagnostics diag;
  CompiledPolicy p = policy_with(discovered3());
  CHECK_FALSE(parse_policy("prio=99999999999999999999, * -> cxl", &p, &diag));
  REQUIRE(diag.errors.size() == 1);
  CHECK(diag.errors[0].find("bad priority 'prio=99999999999999999999'") != std::string::npos);
}

TEST_CASE("options table covers every variable the loader reads", "[config]") {
  size_t n = 0;
  const OptionDef* t = options_table(&n);
  REQUIRE(n >= 6);
  for (size_t i = 0; i < n; ++i) {
    CHECK(std::string(t[i].name).rfind("STRATA_", 0) == 0);
    CHECK(std::string(t[i].doc).size() > 10);
    CHECK(find_option(t[i].name) == &t[i]);
  }
  CHECK(find_option("STRATA_NOPE") == nullptr);
}

TEST_CASE("options table: defaults and error lines come from the table", "[config]") {
  // Nothing set: every default is the table's, applied by the loader.
  std::map<std::string, std::string> env = {{"STRATA_SYSFS_ROOT", STRATA_FIXTURES "/sys-3node-vm"}};
  auto lookup = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  LoadedConfig cfg;
  Diagnostics diag;
  load_config(lookup, {"STRATA_SYSFS_ROOT"}, &cfg, &diag);
  CHECK(diag.errors.empty());
  uint64_t rate = 0;
  REQUIRE(parse_size(option(Opt::kProfileRate).def, &rate));
  CHECK(cfg.profile_rate == rate);
  CHECK(cfg.log_level == 1);  // "warn"
  CHECK_FALSE(cfg.strict);
  CHECK(cfg.env_text(Opt::kSysfsRoot) == env["STRATA_SYSFS_ROOT"]);
  CHECK(cfg.env_text(Opt::kTiers) == nullptr);
  // A bad value of each variable without a grammar: the table's text, the default kept.
  for (Opt id : {Opt::kProfileRate, Opt::kStrict, Opt::kLog, Opt::kPmemDir, Opt::kProfile}) {
    const OptionDef& o = option(id);
    env[o.name] = id == Opt::kProfile ? std::string(600, 'p') : "bad";
    LoadedConfig c2;
    Diagnostics d2;
    load_config(lookup, {}, &c2, &d2);
    REQUIRE(d2.errors.size() == 1);
    CHECK(d2.errors[0] == std::string(o.name) + "=\"" +
                              excerpt(env[o.name], Diagnostics::kExcerpt) +
                              "\": column 1: " + option_error(o));
    CHECK(c2.profile_rate == rate);
    CHECK(c2.log_level == 1);
    env.erase(o.name);
  }
  CHECK(option_error(option(Opt::kProfileRate)) ==
        "expected a size of at least 1K (e.g. 512K); using 512K");
  // The grammars' errors end with what strata does instead.
  env["STRATA_MIGRATE"] = "model=mru";
  LoadedConfig c3;
  Diagnostics d3;
  load_config(lookup, {}, &c3, &d3);
  REQUIRE(d3.errors.size() == 1);
  CHECK(d3.errors[0].ends_with("; STRATA_MIGRATE ignored, migration off"));
  CHECK_FALSE(c3.policy.migrate.enabled);
}

TEST_CASE("load_config: fail open per variable, unknown variables reported", "[config]") {
  std::map<std::string, std::string> env = {
      {"STRATA_SYSFS_ROOT", STRATA_FIXTURES "/sys-3node-vm"},
      {"STRATA_TIERS", "dram;cxl:cap=1G;pmem"},
      {"STRATA_POLICY", "size>=1M -> nowhere"},
      {"STRATA_STRICT", "maybe"},
      {"STRATA_TEIRS", "x"},
  };
  auto lookup = [&](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  std::vector<std::string> names;
  for (auto& [k, v] : env) names.push_back(k);
  LoadedConfig cfg;
  Diagnostics diag;
  load_config(lookup, names, &cfg, &diag);
  REQUIRE(diag.errors.size() == 3);
  CHECK(diag.errors[0].rfind("STRATA_TEIRS=\"x\": column 1: unknown variable (expected one of: "
                             "STRATA_TIERS, ",
                             0) == 0);
  CHECK(diag.errors[1] == "STRATA_STRICT=\"maybe\": column 1: expected 0 or 1; using 0");
  CHECK(diag.errors[2] ==
        "STRATA_POLICY=\"size>=1M -> nowhere\": column 13: unknown tier 'nowhere' (expected one "
        "of: dram, cxl, pmem); STRATA_POLICY ignored, everything on the fastest tier");
  // STRATA_TIERS was valid and stays in force; the bad policy left no rule.
  CHECK(cfg.tiers_from_env);
  REQUIRE(cfg.policy.ntiers == 3);
  CHECK(cfg.policy.tiers[1].cap == (1ULL << 30));
  CHECK(cfg.policy.nrules == 0);
  CHECK_FALSE(cfg.strict);
}

TEST_CASE("load_config: nodes that are not online invalidate STRATA_TIERS", "[config]") {
  auto lookup = [](const char* n) -> const char* {
    if (std::string(n) == "STRATA_SYSFS_ROOT") return STRATA_FIXTURES "/sys-1node";
    if (std::string(n) == "STRATA_TIERS") return "a:nodes=0;b:nodes=1";
    return nullptr;
  };
  LoadedConfig cfg;
  Diagnostics diag;
  load_config(lookup, {"STRATA_SYSFS_ROOT", "STRATA_TIERS"}, &cfg, &diag);
  REQUIRE(diag.errors.size() == 1);
  CHECK(diag.errors[0] ==
        "STRATA_TIERS=\"a:nodes=0;b:nodes=1\": column 1: tier 'b' names node 1 which is not online "
        "(expected nodes 0); STRATA_TIERS ignored, using the discovered tiers");
  CHECK_FALSE(cfg.tiers_from_env);
  CHECK(cfg.policy.ntiers == 1);
  CHECK(std::string(cfg.policy.tiers[0].name) == "dram");
}

TEST_CASE("load_config: policy from a file", "[config]") {
  char path[] = "/tmp/strata-policy-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  const char text[] = "# comment line\nsize>=2M -> cxl\n\n";
  REQUIRE(write(fd, text, sizeof text - 1) == static_cast<ssize_t>(sizeof text - 1));
  close(fd);
  std::string pol = std::string("@") + path;
  auto lookup = [&](const char* n) -> const char* {
    if (std::string(n) == "STRATA_SYSFS_ROOT") return STRATA_FIXTURES "/sys-2node-cxl";
    if (std::string(n) == "STRATA_POLICY") return pol.c_str();
    return nullptr;
  };
  LoadedConfig cfg;
  Diagnostics diag;
  load_config(lookup, {}, &cfg, &diag);
  unlink(path);
  REQUIRE(diag.errors.empty());
  CHECK(cfg.policy_from_env);
  CHECK(cfg.policy.nrules == 1);
  CHECK(cfg.policy.place(3 << 20, AllocKind::kHeap) == 1);

  Diagnostics d2;
  LoadedConfig c2;
  auto missing = [](const char* n) -> const char* {
    return std::string(n) == "STRATA_POLICY" ? "@/nonexistent/policy" : nullptr;
  };
  load_config(missing, {}, &c2, &d2);
  REQUIRE(d2.errors.size() == 1);
  CHECK(
      d2.errors[0] ==
      "STRATA_POLICY=\"@/nonexistent/policy\": column 2: cannot read policy file: No such file or "
      "directory (expected @/path/to/a/regular/file); STRATA_POLICY ignored, everything on the "
      "fastest tier");
}

TEST_CASE("excerpt: control characters escaped, long values cut", "[config]") {
  CHECK(excerpt("plain", 64) == "plain");
  CHECK(excerpt("x\x1b[31mRED\nstrata: fake", 64) == "x\\x1b[31mRED\\nstrata: fake");
  CHECK(excerpt("a\"b\\c\td\r\x7f", 64) == "a\\x22b\\x5cc\\td\\r\\x7f");
  CHECK(excerpt(std::string(100, 'v'), 8) == "vvvvvvvv...");
  CHECK(excerpt("12345678", 8) == "12345678");
  // A byte past the limit is never examined, whatever it is.
  CHECK(excerpt(std::string_view("ab\ncd", 2), 2) == "ab");
}
