// STRATA_POLICY beyond size rules: call sites, thread hints, weighted
// interleave, pin; STRATA_MIGRATE; tier watermarks.
#include <catch2/catch.hpp>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "policy/config.h"

using namespace strata;

namespace {

CompiledPolicy three_tiers() {
  CompiledPolicy p;
  p.ntiers = 3;
  const char* names[] = {"dram", "cxl", "pmem"};
  for (int i = 0; i < 3; ++i) {
    std::snprintf(p.tiers[i].name, sizeof p.tiers[i].name, "%s", names[i]);
    p.tiers[i].nodes.set(i);
  }
  return p;
}

CompiledPolicy compiled(const char* text) {
  CompiledPolicy p = three_tiers();
  Diagnostics diag;
  bool ok = parse_policy(text, &p, &diag);
  INFO(text);
  for (const auto& e : diag.errors) INFO(e);
  REQUIRE(ok);
  REQUIRE(diag.errors.empty());
  return p;
}

std::vector<std::string> errors_of(const char* text) {
  CompiledPolicy p = three_tiers();
  Diagnostics diag;
  CHECK_FALSE(parse_policy(text, &p, &diag));
  CHECK(p.nrules == 0);
  return diag.errors;
}

// A call site as the runtime would resolve it.
struct Site {
  const char* func;
  const char* module;
  uint64_t offset;
};

uint64_t bits_of(void* ctx) {
  auto* pair = static_cast<std::pair<const CompiledPolicy*, const Site*>*>(ctx);
  const Site* s = pair->second;
  return pair->first->site_mask(s->func, s->func, s->module, site_hash(s->module, s->offset));
}

Placement place_at(const CompiledPolicy& p, uint64_t size, const Site* s, int hint_label = -1,
                   int hint_tier = -1, InterleaveState* il = nullptr) {
  std::pair<const CompiledPolicy*, const Site*> ctx{&p, s};
  PlaceQuery q;
  q.size = size;
  q.hint_label = hint_label;
  q.hint_tier = hint_tier;
  q.site_bits = s != nullptr ? bits_of : nullptr;
  q.site_ctx = &ctx;
  return p.decide(q, il);
}

}  // namespace

TEST_CASE("glob patterns", "[policy]") {
  CHECK(glob_match("parse_*", "parse_header"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a?c", "abc"));
  CHECK_FALSE(glob_match("a?c", "ac"));
  CHECK(glob_match("ns::*::get", "ns::Cache::get"));
  CHECK_FALSE(glob_match("ns::*::get", "ns::Cache::get_all"));
  CHECK(glob_match("libpython3*.so*", "libpython3.11.so.1.0"));
  CHECK_FALSE(glob_match("hot", "hotter"));
  CHECK(glob_match("*a*a*a*", "banana-a"));
  // Pathological backtracking stays fast (linear-ish).
  std::string text(5000, 'a');
  CHECK_FALSE(glob_match("*a*a*a*a*a*b", text));
}

TEST_CASE("function names as site patterns see them", "[policy]") {
  CHECK(qualified_name("(anonymous namespace)::make_cold(unsigned long) [clone .constprop.0]") ==
        "(anonymous namespace)::make_cold");
  CHECK(unqualified_name("(anonymous namespace)::make_cold(unsigned long) [clone .constprop.0]") ==
        "make_cold");
  CHECK(qualified_name("ns::Cache<int, std::less<int> >::get(int) const") ==
        "ns::Cache<int, std::less<int> >::get");
  CHECK(unqualified_name("ns::Cache<a::b>::get(int) const") == "get");
  CHECK(unqualified_name("std::vector<int>::operator()(int)") == "operator()");
  CHECK(unqualified_name("main") == "main");
  CHECK(unqualified_name("") == "");
  CompiledPolicy p = compiled("site=make_cold_* -> cxl; site=ns::Cache*::get -> pmem");
  CHECK(p.site_mask("(anonymous namespace)::make_cold_record(unsigned long) [clone .isra.0]", "",
                    "app", 1) == 1);
  CHECK(p.site_mask("ns::Cache<int>::get(int) const", "", "app", 1) == 2);
  CHECK(p.site_mask("other::get(int)", "", "app", 1) == 0);
  CHECK(p.site_mask("", "make_cold_c_function", "app", 1) == 1);  // C: the symbol itself
}

TEST_CASE("site hash is stable and names module and offset", "[policy]") {
  CHECK(site_hash("app", 0x1234) == site_hash("app", 0x1234));
  CHECK(site_hash("app", 0x1234) != site_hash("app", 0x1235));
  CHECK(site_hash("app", 0x1234) != site_hash("libfoo.so", 0x1234));
  CHECK(site_hash("", 0) != 0);
  // FNV-1a of "a" then eight zero bytes: a fixed value, so reports and
  // rules from another run agree.
  CHECK(site_hash("a", 0) == 0xbfe4d88f2353f60cULL);  // computed independently in Python
}

TEST_CASE("site, lib and hint conditions: normal form", "[policy]") {
  CompiledPolicy p = compiled(
      "site=hot_*, size>=4K -> dram, pin\n"
      "lib=libcold*.so* -> pmem\n"
      "site=0x00000000DEADBEEF -> cxl\n"
      "prio=7, hint=scratch, kind=heap -> cxl, nospill\n"
      "site=ns::Cache::*, lib=myapp -> cxl");
  CHECK(p.site_rules);
  CHECK(p.hint_rules);
  CHECK(p.nlabels == 1);
  CHECK(p.label_index("scratch") == 0);
  CHECK(explain_rules(p) ==
        "prio=7, kind=heap, hint=scratch -> cxl, nospill\n"
        "size>=4096, site=hot_* -> dram, pin\n"
        "lib=libcold*.so* -> pmem\n"
        "site=0x00000000deadbeef -> cxl\n"
        "site=ns::Cache::*, lib=myapp -> cxl\n");
}

TEST_CASE("site rules match by function, module and hash", "[policy]") {
  CompiledPolicy p = compiled(
      "site=hot_*, size>=4K -> dram, pin\n"
      "lib=libcold*.so* -> pmem\n"
      "site=0x6a1f4f2e9b7c0d11 -> cxl\n"
      "site=ns::Cache::*, lib=myapp -> cxl\n"
      "* -> cxl");
  Site hot{"hot_path(unsigned long)", "myapp", 0x100};
  Site cold{"fill", "libcold-data.so.2", 0x200};
  Site cache{"ns::Cache::insert(int)", "myapp", 0x300};
  Site cache_elsewhere{"ns::Cache::insert(int)", "libother.so", 0x300};
  Site plain{"main", "myapp", 0x400};

  Placement r = place_at(p, 8192, &hot);
  CHECK(r.tier == 0);
  CHECK(r.pin);
  CHECK(r.rule == 0);
  CHECK(place_at(p, 100, &hot).tier == 1);  // size condition fails: falls to '*'
  CHECK(place_at(p, 100, &cold).tier == 2);
  CHECK(place_at(p, 100, &cache).tier == 1);
  CHECK(place_at(p, 100, &cache).rule == 3);
  CHECK(place_at(p, 100, &cache_elsewhere).rule == 4);  // lib= must match too
  CHECK(place_at(p, 100, &plain).rule == 4);
  // Without a resolver, site rules never match.
  CHECK(place_at(p, 8192, nullptr).rule == 4);

  // Hash rule: the hash of the site the report printed.
  uint64_t h = site_hash("myapp", 0x400);
  char text[96];
  std::snprintf(text, sizeof text, "site=0x%016llx -> pmem", static_cast<unsigned long long>(h));
  CompiledPolicy ph = compiled(text);
  CHECK(place_at(ph, 1, &plain).tier == 2);
  CHECK(place_at(ph, 1, &hot).tier == 0);
}

TEST_CASE("site resolution is lazy: only when a site rule is otherwise matched", "[policy]") {
  CompiledPolicy p = compiled("site=x, size>=1M -> cxl; size>=64K -> pmem");
  int calls = 0;
  PlaceQuery q;
  q.site_bits = [](void* c) -> uint64_t {
    ++*static_cast<int*>(c);
    return 0;
  };
  q.site_ctx = &calls;
  q.size = 100;
  CHECK(p.decide(q, nullptr).tier == 0);
  CHECK(calls == 0);  // the size condition failed first
  q.size = 2 << 20;
  CHECK(p.decide(q, nullptr).tier == 2);
  CHECK(calls == 1);
}

TEST_CASE("rule priority: highest wins, then source order", "[policy]") {
  CompiledPolicy p = compiled(
      "* -> pmem\n"
      "prio=10, size>=1K -> cxl\n"
      "prio=10, size>=1M -> dram\n"
      "prio=20, size>=1G -> dram");
  CHECK(place_at(p, 100, nullptr).tier == 2);
  CHECK(place_at(p, 2048, nullptr).tier == 1);
  CHECK(place_at(p, 2 << 20, nullptr).tier == 1);  // same prio: first listed wins
  CHECK(place_at(p, 2ULL << 30, nullptr).tier == 0);
}

TEST_CASE("thread hints: label rules and tier hints, with precedence", "[policy]") {
  CompiledPolicy p = compiled(
      "hint=scratch -> pmem\n"
      "prio=200, size>=1G -> dram\n"
      "prio=100, size>=1M -> cxl\n"
      "size>=1K -> cxl");
  const int scratch = p.label_index("scratch");
  REQUIRE(scratch == 0);
  CHECK(p.label_index("other") == -1);
  CHECK(p.hint_tier("hot") == 0);
  CHECK(p.hint_tier("cold") == 2);
  CHECK(p.hint_tier("cxl") == 1);
  CHECK(p.hint_tier("scratch") == -1);

  // A label only matters to rules that name it.
  CHECK(place_at(p, 100, nullptr, scratch).tier == 2);
  CHECK(place_at(p, 100, nullptr).tier == 0);
  CHECK(place_at(p, 2048, nullptr).tier == 1);

  // A hint naming a tier acts as a rule of priority 100: it beats prio < 100
  // (the label rule and size>=1K), loses to prio >= 100.
  const int dram = 0;
  const int pmem = 2;
  Placement h = place_at(p, 2048, nullptr, -1, pmem);
  CHECK(h.tier == pmem);
  CHECK(h.rule == -2);
  CHECK(place_at(p, 100, nullptr, scratch, dram).tier == dram);  // hint over prio-0 label rule
  CHECK(place_at(p, 2 << 20, nullptr, -1, pmem).tier == 1);      // prio=100 rule wins the tie
  CHECK(place_at(p, 2ULL << 30, nullptr, -1, pmem).tier == 0);   // prio=200 rule wins

  // With no rules at all a tier hint still places.
  CompiledPolicy none = three_tiers();
  CHECK(place_at(none, 1, nullptr, -1, 1).tier == 1);
}

TEST_CASE("weighted interleave: 1:3 over 10,000 allocations lands within 2% by bytes", "[policy]") {
  CompiledPolicy p = compiled("size>=64 -> dram:1,pmem:3");
  CHECK(explain_rules(p) == "size>=64 -> dram:1,pmem:3\n");
  InterleaveState il;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> size(64, 64 << 10);
  uint64_t bytes[3] = {};
  for (int i = 0; i < 10000; ++i) {
    uint64_t s = size(rng);
    Placement r = place_at(p, s, nullptr, -1, -1, &il);
    REQUIRE((r.tier == 0 || r.tier == 2));
    bytes[r.tier] += s;
  }
  double total = static_cast<double>(bytes[0] + bytes[2]);
  CHECK(bytes[1] == 0);
  CHECK(std::abs(bytes[0] / total - 0.25) < 0.02);
  CHECK(std::abs(bytes[2] / total - 0.75) < 0.02);
  // Small allocations are not part of the rule.
  CHECK(place_at(p, 10, nullptr, -1, -1, &il).tier == 0);
}

TEST_CASE("weighted interleave: skewed sizes still converge by bytes", "[policy]") {
  CompiledPolicy p = compiled("* -> dram:2, cxl:1, pmem:1");
  InterleaveState il;
  uint64_t bytes[3] = {};
  for (int i = 0; i < 10000; ++i) {
    uint64_t s = (i % 10 == 0) ? (1 << 20) : 64;  // a few big ones among many small
    bytes[place_at(p, s, nullptr, -1, -1, &il).tier] += s;
  }
  double total = static_cast<double>(bytes[0] + bytes[1] + bytes[2]);
  CHECK(std::abs(bytes[0] / total - 0.50) < 0.02);
  CHECK(std::abs(bytes[1] / total - 0.25) < 0.02);
  CHECK(std::abs(bytes[2] / total - 0.25) < 0.02);
}

TEST_CASE("policy errors for sites, hints, weights", "[policy]") {
  auto e = errors_of("site=, * -> cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"site=, * -> cxl\": column 1: bad site pattern '' (expected a function "
        "name or glob such as parse_* or ns::Cls::*, at most 63 characters)");
  e = errors_of("site=0xZZ -> cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"site=0xZZ -> cxl\": column 1: bad site hash '0xZZ' (expected 0x and "
        "1-16 hex digits, as the profiler report prints)");
  e = errors_of("lib=a b -> cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"lib=a b -> cxl\": column 1: bad library pattern 'a b' (expected a file "
        "name or glob such as libpython3* or myapp, at most 63 characters)");
  e = errors_of("hint=a/b -> cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"hint=a/b -> cxl\": column 1: bad hint label 'a/b' (expected 1-31 "
        "letters, digits, '_', '-' or '.', as passed to strata_thread_hint_push)");
  e = errors_of("site=a, site=b -> cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"site=a, site=b -> cxl\": column 9: two site= patterns in one rule "
        "(expected one; write two rules)");
  e = errors_of("* -> dram:0,cxl:3");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"* -> dram:0,cxl:3\": column 11: bad weight '0' for tier 'dram' "
        "(expected an integer from 1 to 1000, as in dram:1,cxl:3)");
  e = errors_of("* -> dram:1,cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"* -> dram:1,cxl\": column 13: rule mixes a plain tier with weighted "
        "tiers (expected TIER or TIER:W,TIER:W)");
  e = errors_of("* -> dram:1,dram:2");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"* -> dram:1,dram:2\": column 13: tier 'dram' weighted twice (expected "
        "each tier once)");
  e = errors_of("* -> nvm:1,cxl:1");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"* -> nvm:1,cxl:1\": column 6: unknown tier 'nvm' (expected one of: "
        "dram, cxl, pmem)");
  e = errors_of("caller=main -> cxl");
  REQUIRE(e.size() == 1);
  CHECK(e[0] ==
        "STRATA_POLICY=\"caller=main -> cxl\": column 1: unknown condition 'caller=main' "
        "(expected size<op>N, kind=heap|mmap, site=NAME|0xHASH, lib=NAME, hint=LABEL or *)");
  // Every error of a policy is reported, not only the first.
  e = errors_of("site= -> cxl; hint= -> cxl; * -> x:1");
  CHECK(e.size() == 3);
}

TEST_CASE("a single weighted tier is that tier", "[policy]") {
  CompiledPolicy p = compiled("* -> cxl:5");
  CHECK(p.rules[0].nweights == 0);
  CHECK(explain_rules(p) == "* -> cxl\n");
}

TEST_CASE("STRATA_MIGRATE: defaults, keys, errors", "[policy]") {
  MigrateConfig m;
  Diagnostics diag;
  REQUIRE(parse_migrate("off", &m, &diag));
  CHECK_FALSE(m.enabled);
  REQUIRE(parse_migrate("on", &m, &diag));
  CHECK(m.enabled);
  CHECK(explain_migrate(m) ==
        "migration: model=ewma, alpha=0.50, window=8, promote=0.50, demote=0.10, hold=4, "
        "rate=256M/s, interval=1000ms, batch=4096\n");
  REQUIRE(parse_migrate(
      "model=lfu,window=16,promote=0.7,demote=0.05,hold=2,rate=64M/s,interval=250ms,batch=512", &m,
      &diag));
  CHECK(diag.errors.empty());
  CHECK(m.model == HeatModel::kLfu);
  CHECK(m.window == 16);
  CHECK(m.promote == Approx(0.7));
  CHECK(m.demote == Approx(0.05));
  CHECK(m.hold == 2);
  CHECK(m.rate == (64ULL << 20));
  CHECK(m.interval_ms == 250);
  CHECK(m.batch_pages == 512);
  REQUIRE(parse_migrate("interval=1.5s", &m, &diag));
  CHECK(m.interval_ms == 1500);

  MigrateConfig keep;
  keep.rate = 1;
  Diagnostics d;
  CHECK_FALSE(parse_migrate("model=mru,rate=fast,interval=5ms,speed=1,alpha=0", &keep, &d));
  CHECK(keep.rate == 1);  // untouched on error
  REQUIRE(d.errors.size() == 5);
  const std::string pre = "STRATA_MIGRATE=\"model=mru,rate=fast,interval=5ms,speed=1,alpha=0\": ";
  CHECK(d.errors[0] == pre + "column 7: bad heat model 'mru' (expected ewma, lru or lfu)");
  CHECK(d.errors[1] ==
        pre + "column 16: bad rate 'fast' (expected bytes per second of at least 1M, e.g. 256M/s)");
  CHECK(d.errors[2] ==
        pre + "column 30: bad interval '5ms' (expected 10ms to 60s, e.g. 500ms or 1s)");
  CHECK(d.errors[3] ==
        pre +
            "column 34: unknown key 'speed' (expected model, alpha, window, promote, demote, "
            "hold, rate, interval or batch)");
  CHECK(d.errors[4] == pre + "column 48: bad alpha '0' (expected a number in (0, 1], e.g. 0.5)");

  Diagnostics d2;
  CHECK_FALSE(parse_migrate("promote=0.2,demote=0.3", &keep, &d2));
  REQUIRE(d2.errors.size() == 1);
  CHECK(d2.errors[0] ==
        "STRATA_MIGRATE=\"promote=0.2,demote=0.3\": column 1: demote threshold 0.30 is not below "
        "promote threshold 0.20 (expected demote < promote, or pages would ping-pong)");
}

TEST_CASE("STRATA_TIERS watermarks", "[policy]") {
  std::vector<TierDef> disc(1);
  std::snprintf(disc[0].name, sizeof disc[0].name, "dram");
  disc[0].nodes.set(0);
  std::vector<TierDef> out;
  Diagnostics diag;
  REQUIRE(parse_tiers("fast:nodes=0,cap=1G,high=95%,low=70;slow:nodes=0", disc, &out, &diag));
  CHECK(out[0].high_pct == 95);
  CHECK(out[0].low_pct == 70);
  CHECK(out[1].high_pct == 90);  // defaults
  CHECK(out[1].low_pct == 80);
  Diagnostics d;
  CHECK_FALSE(parse_tiers("a:nodes=0,high=150%;b:nodes=0,high=50,low=60", disc, &out, &d));
  REQUIRE(d.errors.size() == 2);
  CHECK(d.errors[0] ==
        "STRATA_TIERS=\"a:nodes=0,high=150%;b:nodes=0,high=50,low=60\": column 16: bad watermark "
        "'150%' (expected a percentage from 1% to 100%)");
  CHECK(d.errors[1] ==
        "STRATA_TIERS=\"a:nodes=0,high=150%;b:nodes=0,high=50,low=60\": column 21: tier 'b' has "
        "low=60% above high=50% (expected low <= high)");
}

TEST_CASE("STRATA_SAMPLER: names, options, errors", "[policy]") {
  SamplerConfig s;
  Diagnostics diag;
  CHECK(s.kind == SamplerKind::kAuto);
  CHECK(explain_sampler(s) == "sampler: auto, cpu=auto, period=100003, window=auto, thp=split\n");
  REQUIRE(parse_sampler("abit,cpu=5%,window=20ms,thp=keep", &s, &diag));
  CHECK(s.kind == SamplerKind::kAbit);
  CHECK(s.cpu_pct == 5.0);
  CHECK(s.window_ms == 20);
  CHECK(s.keep_thp);
  REQUIRE(parse_sampler("pebs,period=5000", &s, &diag));
  CHECK(s.kind == SamplerKind::kPebs);
  CHECK(s.period == 5000);
  CHECK(s.window_ms == 0);  // each parse starts from the defaults
  REQUIRE(parse_sampler("trace:/tmp/t.trace", &s, &diag));
  CHECK(s.kind == SamplerKind::kTrace);
  CHECK(std::string(s.trace) == "/tmp/t.trace");
  for (const char* name : {"auto", "ibs", "idle", "damon", "off"}) {
    REQUIRE(parse_sampler(name, &s, &diag));
    CHECK(std::string(sampler_kind_name(s.kind)) == name);
  }
  CHECK(diag.errors.empty());

  // Errors: one line each, naming the variable, and *out untouched.
  s = SamplerConfig{};
  CHECK_FALSE(parse_sampler("frob", &s, &diag));
  CHECK_FALSE(parse_sampler("abit,cpu=0%", &s, &diag));
  CHECK_FALSE(parse_sampler("abit,window=0", &s, &diag));
  CHECK_FALSE(parse_sampler("abit,thp=maybe,period=10", &s, &diag));
  SamplerConfig h;
  REQUIRE(parse_sampler("abit,thp=huge", &h, &diag));
  CHECK(h.keep_thp);
  CHECK(h.huge_thp);
  CHECK(explain_sampler(h).find("thp=huge") != std::string::npos);
  CHECK_FALSE(parse_sampler("trace:", &s, &diag));
  CHECK_FALSE(parse_sampler("abit,colour=red", &s, &diag));
  REQUIRE(diag.errors.size() == 7);
  for (const std::string& e : diag.errors) CHECK(e.rfind("STRATA_SAMPLER=\"", 0) == 0);
  CHECK(diag.errors[0] ==
        "STRATA_SAMPLER=\"frob\": column 1: unknown sampler 'frob' (expected auto, abit, pebs, "
        "ibs, idle, damon, trace:FILE or off)");
  CHECK(diag.errors[4].find("expected 100 to") != std::string::npos);
  CHECK(s.kind == SamplerKind::kAuto);
}
