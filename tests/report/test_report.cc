// strata-report's analysis on the recorded profile: classes, rankings, the
// suggested policy (parsed by strata's parser), and degenerate profiles.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "policy/config.h"
#include "profiler/profile_format.h"
#include "src/tools/report/report.h"
#include "tests/report/sample_profile.h"

using namespace strata;

namespace {

profile::Profile sample() {
  int fd = memfd_create("profile", MFD_CLOEXEC);
  REQUIRE(test::write_sample_profile(fd, 4096));
  off_t n = lseek(fd, 0, SEEK_END);
  std::vector<unsigned char> b(static_cast<size_t>(n));
  REQUIRE(pread(fd, b.data(), b.size(), 0) == n);
  close(fd);
  profile::Profile p;
  std::string err;
  REQUIRE(profile::parse(b, "sample.prof", &p, &err));
  return p;
}

const report::Site& site_at(const report::Report& r, const char* module, uint64_t offset) {
  uint64_t h = site_hash(module, offset);
  auto it = std::find_if(r.sites.begin(), r.sites.end(),
                         [&](const report::Site& s) { return s.rec->hash == h; });
  REQUIRE(it != r.sites.end());
  return *it;
}

size_t count_lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST_CASE("report: sites are classified and ranked", "[report]") {
  profile::Profile p = sample();
  report::Report r = report::analyze(p, "sample.prof", report::Options{});
  CHECK(r.hot_threshold == 0.5);  // STRATA_MIGRATE=on: the defaults
  CHECK(r.cold_threshold == 0.1);

  const report::Site& index = site_at(r, "kvstore", test::kIndexOffset);
  const report::Site& log = site_at(r, "libstore.so.1", test::kLogOffset);
  const report::Site& churn = site_at(r, "libstore.so.1", test::kChurnOffset);
  const report::Site& cache = site_at(r, "kvstore", 0x2a00);
  const report::Site& temp = site_at(r, "kvstore", 0x4500);
  const report::Site& config = site_at(r, "kvstore", 0x5000);
  CHECK(index.cls == report::SiteClass::kHot);
  CHECK(index.heat > 0.85);
  CHECK(index.long_lived);
  CHECK(index.main_tier == 0);
  CHECK(log.cls == report::SiteClass::kCold);
  CHECK(log.heat < 0.1);
  CHECK(churn.cls == report::SiteClass::kHot);
  CHECK_FALSE(churn.long_lived);
  CHECK(cache.cls == report::SiteClass::kMixed);  // cold, then hot after the phase change
  CHECK(temp.cls == report::SiteClass::kUnsampled);
  CHECK(config.cls == report::SiteClass::kHot);
  CHECK(config.share < report::kMinShare);

  // Hot: hottest first, the tiny config site left out. Cold: largest first.
  REQUIRE(r.hot.size() == 2);
  CHECK(r.sites[r.hot[0]].rec == index.rec);
  CHECK(r.sites[r.hot[1]].rec == churn.rec);
  REQUIRE(r.cold.size() == 2);
  CHECK(r.sites[r.cold[0]].rec == log.rec);

  // Frames of missing modules print as module+offset; unknown addresses as hex.
  CHECK(index.frames.front().label() == "kvstore+0x1a2b");
  CHECK(log.frames.front().label() == "libstore.so.1+0x4410");
  CHECK(temp.frames.back().label() == "0x7fffe0001234");
  CHECK(r.modules[0] == report::ModuleStatus::kMissing);

  // Migrations: the Move records and the Interval totals agree.
  CHECK(r.mig.moves == r.mig.promoted + r.mig.demoted);
  CHECK(r.mig.reason_moves[static_cast<int>(MoveReason::kSwapIn)] ==
        r.mig.reason_moves[static_cast<int>(MoveReason::kSwapOut)]);
  CHECK(r.mig.failures == 2);
  CHECK(r.mig.path_moves[1][0] > 0);  // cxl -> dram
  CHECK(r.mig.path_moves[1][2] > 0);  // cxl -> pmem
}

TEST_CASE("report: the suggested policy is one strata accepts", "[report]") {
  profile::Profile p = sample();
  report::Report r = report::analyze(p, "sample.prof", report::Options{});
  const report::Suggestion& sg = r.policy;
  INFO(sg.value);
  CHECK(sg.error.empty());
  REQUIRE(sg.rules.size() == 3);  // 2 hot, 1 cold: the other cold site is a crumb

  auto pol = std::make_unique<CompiledPolicy>();
  pol->ntiers = 3;
  std::strcpy(pol->tiers[0].name, "dram");
  std::strcpy(pol->tiers[1].name, "cxl");
  std::strcpy(pol->tiers[2].name, "pmem");
  Diagnostics d;
  REQUIRE(parse_policy(sg.value, pol.get(), &d));
  REQUIRE(d.errors.empty());
  REQUIRE(pol->nrules == 3);
  for (int i = 0; i < pol->nrules; ++i)
    CHECK(pol->rules[i].site_hash != site_hash("kvstore", 0x4010));  // 0.3% of the bytes
  auto rule_for = [&](uint64_t hash) -> const Rule* {
    for (int i = 0; i < pol->nrules; ++i)
      if (pol->rules[i].site_hash == hash) return &pol->rules[i];
    return nullptr;
  };
  const Rule* index = rule_for(site_hash("kvstore", test::kIndexOffset));
  REQUIRE(index != nullptr);
  CHECK(index->tier == 0);
  CHECK(index->pin);
  CHECK(index->prio == report::kHotPrio);
  const Rule* churn = rule_for(site_hash("libstore.so.1", test::kChurnOffset));
  REQUIRE(churn != nullptr);
  CHECK(churn->tier == 0);
  CHECK_FALSE(churn->pin);  // short-lived blocks are not pinned
  const Rule* log = rule_for(site_hash("libstore.so.1", test::kLogOffset));
  REQUIRE(log != nullptr);
  CHECK(log->tier == 2);
  CHECK_FALSE(log->pin);
  // The placement strata would make for the hot site's allocations.
  PlaceQuery q;
  q.size = 48 << 20;
  struct Ctx {
    const CompiledPolicy* pol;
    uint64_t hash;
  } ctx{pol.get(), site_hash("kvstore", test::kIndexOffset)};
  q.site_ctx = &ctx;
  q.site_bits = [](void* c) {
    auto* x = static_cast<Ctx*>(c);
    return x->pol->site_mask("main", "main", "kvstore", x->hash);
  };
  Placement pl = pol->decide(q, nullptr);
  CHECK(pl.tier == 0);
  CHECK(pl.pin);
}

TEST_CASE("report: outputs stay short and self-contained", "[report]") {
  profile::Profile p = sample();
  report::Report r = report::analyze(p, "sample.prof", report::Options{});
  std::string text = report::render_text(r, 5);
  CHECK(count_lines(text) <= 42);
  CHECK(text.find("STRATA_POLICY='" + r.policy.value + "'") != std::string::npos);
  std::string html = report::render_html(r, 5);
  CHECK(html.find("<canvas id=\"heat\"") != std::string::npos);
  CHECK(html.find("src=") == std::string::npos);  // nothing loaded from anywhere
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);
  // The only URL is the SVG namespace.
  size_t urls = 0;
  for (size_t at = html.find("http"); at != std::string::npos; at = html.find("http", at + 1)) {
    CHECK(html.compare(at, 26, "http://www.w3.org/2000/svg") == 0);
    ++urls;
  }
  CHECK(urls == 2);  // the occupancy and site-bar SVGs
}

TEST_CASE("report: degenerate profiles", "[report]") {
  auto write = [](auto&& body) {
    int fd = memfd_create("profile", MFD_CLOEXEC);
    char buf[256];
    profile::Writer w(fd, buf, sizeof buf);
    profile::HeaderRecord h;
    w.header(h);
    body(w);
    REQUIRE(w.finish());
    off_t n = lseek(fd, 0, SEEK_END);
    std::vector<unsigned char> b(static_cast<size_t>(n));
    REQUIRE(pread(fd, b.data(), b.size(), 0) == n);
    close(fd);
    profile::Profile p;
    std::string err;
    REQUIRE(profile::parse(b, "x.prof", &p, &err));
    return p;
  };
  SECTION("header only") {
    profile::Profile p = write([](profile::Writer&) {});
    report::Report r = report::analyze(p, "x.prof", report::Options{});
    CHECK(r.policy.rules.empty());
    CHECK(r.policy.note == "the profile has fewer than two tiers: nothing to place");
    CHECK(report::render_text(r, 5).find("HOT SITES") != std::string::npos);
    CHECK(report::render_policy(r).find("STRATA_POLICY=''") != std::string::npos);
    CHECK_FALSE(report::render_html(r, 5).empty());
    CHECK_FALSE(report::render_json(r, 5).empty());
  }
  SECTION("two tiers, nothing hot or cold") {
    profile::Profile p = write([](profile::Writer& w) {
      w.tier(profile::TierRecord{0, "fast", "dram", 0, 0});
      w.tier(profile::TierRecord{1, "slow", "cxl", 0, 1});
      profile::SiteRecord s;
      s.hash = 42;
      s.byte_intervals = 100;
      s.heat_byte_intervals = 30;
      w.site(s);
      const profile::ChunkRecord c{1, 0.3F, 0, 100};
      w.interval(profile::IntervalRecord{}, std::span(&c, 1));
    });
    report::Report r = report::analyze(p, "x.prof", report::Options{});
    REQUIRE(r.sites.size() == 1);
    CHECK(r.sites[0].cls == report::SiteClass::kMixed);
    CHECK(r.policy.note == "no site is clearly hot or cold: keep the default placement");
  }
  SECTION("thresholds follow the run's STRATA_MIGRATE") {
    profile::Profile p = write([](profile::Writer&) {});
    p.header.migrate_spec = "promote=0.3,demote=0.2";
    report::Report r = report::analyze(p, "x.prof", report::Options{});
    CHECK(r.hot_threshold == Approx(0.3));
    CHECK(r.cold_threshold == Approx(0.2));
    CHECK(r.threshold_source == "STRATA_MIGRATE of the run");
  }
}
