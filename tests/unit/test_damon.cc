// The damon sampler on a fake DAMON sysfs admin directory (the fake cannot act
// on "on" or "commit", so tried regions are pre-populated and the test checks
// what was written, in order). Against the real system paths only open()
// runs, and every write is refused by a hook: this machine has a kdamond that
// belongs to someone else.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "profiler/damon.h"
#include "tests/unit/fake_tree.h"

namespace fs = std::filesystem;
using fake_tree::check_obs;
using fake_tree::collect_obs;
using fake_tree::get_file;
using fake_tree::put_file;
using fake_tree::TempDir;
using strata::sampling::DamonAttrs;
using strata::sampling::DamonSampler;
using strata::sampling::Obs;
using strata::sampling::Span;

// --------------------------------------------------------------- damon fakes

namespace {

constexpr const char* kCtx = "kdamonds/0/contexts/0/";
constexpr const char* kScheme = "kdamonds/0/contexts/0/schemes/0/";

struct FakeDamon {
  TempDir dir;
  std::string root = dir.path + "/admin";
  std::vector<std::pair<std::string, std::string>> writes;  // relative path, value
  bool refuse = false;
  int attempts = 0;

  // A tree as the kernel would show it once everything is created (the fake
  // cannot create directories when nr_* is written).
  explicit FakeDamon(const char* nr_kdamonds = "0\n", const char* state = "off\n",
                     const char* avail = "vaddr\nfvaddr\npaddr\n") {
    put("kdamonds/nr_kdamonds", nr_kdamonds);
    put("kdamonds/0/state", state);
    put("kdamonds/0/pid", "-1\n");
    put("kdamonds/0/contexts/nr_contexts", "0\n");
    std::string c = kCtx;
    put(c + "avail_operations", avail);
    put(c + "operations", "vaddr\n");
    put(c + "monitoring_attrs/intervals/sample_us", "5000\n");
    put(c + "monitoring_attrs/intervals/aggr_us", "100000\n");
    put(c + "monitoring_attrs/intervals/update_us", "1000000\n");
    put(c + "monitoring_attrs/nr_regions/min", "10\n");
    put(c + "monitoring_attrs/nr_regions/max", "1000\n");
    put(c + "targets/nr_targets", "0\n");
    put(c + "targets/0/pid_target", "0\n");
    put(c + "schemes/nr_schemes", "0\n");
    std::string s = kScheme;
    put(s + "action", "pageout\n");
    for (const char* r : {"sz", "nr_accesses", "age"}) {
      put(s + "access_pattern/" + r + "/min", "7\n");
      put(s + "access_pattern/" + r + "/max", "7\n");
    }
    put(s + "tried_regions/total_bytes", "0\n");
    std::string t = c + "targets/0/regions/";
    put(t + "nr_regions", "0\n");
    for (int i = 0; i < 16; ++i) {
      put(t + std::to_string(i) + "/start", "0\n");
      put(t + std::to_string(i) + "/end", "0\n");
    }
  }
  void put(const std::string& rel, const std::string& text) const {
    put_file(root + "/" + rel, text);
  }
  std::string get(const std::string& rel) const { return get_file(root + "/" + rel); }
  void region(int i, uint64_t start, uint64_t end, uint64_t nr_accesses) const {
    std::string r = std::string(kScheme) + "tried_regions/" + std::to_string(i) + "/";
    put(r + "start", std::to_string(start) + "\n");
    put(r + "end", std::to_string(end) + "\n");
    put(r + "nr_accesses", std::to_string(nr_accesses) + "\n");
    put(r + "age", "3\n");
  }
  static bool hook(const char* path, const char* value, void* ctx) {
    auto* f = static_cast<FakeDamon*>(ctx);
    ++f->attempts;
    std::string p = path;
    REQUIRE(p.rfind(f->root + "/", 0) == 0);  // never outside the tree
    f->writes.emplace_back(p.substr(f->root.size() + 1), value);
    return !f->refuse;
  }
  void attach(DamonSampler& s) { s.set_write_hook(hook, this); }
};

using Writes = std::vector<std::pair<std::string, std::string>>;

Writes setup_writes(const std::string& pid, const std::string& sample = "5000",
                    const std::string& aggr = "100000") {
  std::string c = kCtx;
  std::string s = kScheme;
  return {
      {"kdamonds/nr_kdamonds", "1"},
      {"kdamonds/0/contexts/nr_contexts", "1"},
      {c + "operations", "vaddr"},
      {c + "monitoring_attrs/intervals/sample_us", sample},
      {c + "monitoring_attrs/intervals/aggr_us", aggr},
      {c + "monitoring_attrs/intervals/update_us", "3600000000"},
      {c + "monitoring_attrs/nr_regions/min", "10"},
      {c + "monitoring_attrs/nr_regions/max", "100"},
      {c + "targets/nr_targets", "1"},
      {c + "targets/0/pid_target", pid},
      {c + "schemes/nr_schemes", "1"},
      {s + "action", "stat"},
      {s + "access_pattern/sz/min", "0"},
      {s + "access_pattern/sz/max", "18446744073709551615"},
      {s + "access_pattern/nr_accesses/min", "0"},
      {s + "access_pattern/nr_accesses/max", "4294967295"},
      {s + "access_pattern/age/min", "0"},
      {s + "access_pattern/age/max", "4294967295"},
      {"kdamonds/0/state", "on"},
  };
}

}  // namespace

TEST_CASE("damon: open() sets up kdamond 0, collect() reads tried regions, close() undoes",
          "[damon]") {
  FakeDamon f;
  {
    DamonSampler s(f.root.c_str(), DamonAttrs{}, 4242);
    f.attach(s);
    CHECK(std::strcmp(s.name(), "damon") == 0);
    char why[256];
    REQUIRE(s.open(why, sizeof why));
    CHECK(std::string(why) ==
          "damon: kdamond 0 monitors pid 4242 (vaddr, sample 5000 us, aggr 100000 us, 10-100 "
          "regions, TLB flushed once per sample)");
    Writes want = setup_writes("4242");
    CHECK(f.writes == want);
    // What the files hold now (the fake stores what was written).
    CHECK(f.get("kdamonds/nr_kdamonds") == "1");
    CHECK(f.get(std::string(kCtx) + "targets/0/pid_target") == "4242");
    CHECK(f.get(std::string(kScheme) + "action") == "stat");
    CHECK(f.get(std::string(kScheme) + "access_pattern/sz/max") == "18446744073709551615");
    CHECK(f.get("kdamonds/0/state") == "on");

    // Regions as the kernel lists them: one spanning chunk borders on both
    // sides, one inside a chunk, one page, and one of exactly two chunks
    // with more accesses than an interval can hold (clamped).
    f.region(0, 0x10100000, 0x10500000, 10);
    f.region(1, 0x10500000, 0x10600000, 20);
    f.region(2, 0x7f0000000000, 0x7f0000001000, 0);
    f.region(3, 0x20000000, 0x20400000, 25);
    std::vector<Obs> obs;
    REQUIRE(s.collect(collect_obs, &obs) == 0);
    CHECK(f.writes.size() == want.size() + 1);
    CHECK(f.writes.back() == std::make_pair(std::string("kdamonds/0/state"),
                                            std::string("update_schemes_tried_regions")));
    REQUIRE(obs.size() == 7);
    check_obs(obs[0], 0x10100000, 0x10200000, 0.5, 0);  // 10 of 100000/5000 = 20
    check_obs(obs[1], 0x10200000, 0x10400000, 0.5, 0);
    check_obs(obs[2], 0x10400000, 0x10500000, 0.5, 0);
    check_obs(obs[3], 0x10500000, 0x10600000, 1.0, 0);
    check_obs(obs[4], 0x7f0000000000, 0x7f0000001000, 0.0, 0);
    check_obs(obs[5], 0x20000000, 0x20200000, 1.0, 0);
    check_obs(obs[6], 0x20200000, 0x20400000, 1.0, 0);

    s.close();
    Writes tail(f.writes.end() - 2, f.writes.end());
    CHECK(tail == Writes{{"kdamonds/0/state", "off"}, {"kdamonds/nr_kdamonds", "0"}});
    CHECK(f.get("kdamonds/nr_kdamonds") == "0");
    size_t n = f.writes.size();
    s.close();  // twice: nothing more
    CHECK(f.writes.size() == n);
    CHECK(s.collect(collect_obs, &obs) == -EBADF);
  }
  CHECK(f.writes.size() == setup_writes("4242").size() + 3);  // the destructor wrote nothing
}

TEST_CASE("damon: the destructor stops and removes its own kdamond", "[damon]") {
  FakeDamon f;
  {
    DamonSampler s(f.root.c_str());  // this process
    f.attach(s);
    char why[256];
    REQUIRE(s.open(why, sizeof why));
    CHECK(f.writes == setup_writes(std::to_string(getpid())));
  }
  Writes tail(f.writes.end() - 2, f.writes.end());
  CHECK(tail == Writes{{"kdamonds/0/state", "off"}, {"kdamonds/nr_kdamonds", "0"}});
}

TEST_CASE("damon: custom intervals set the access scale", "[damon]") {
  FakeDamon f;
  DamonAttrs a;
  a.sample_us = 1000;
  a.aggr_us = 50000;  // at most 50 accesses per region and interval
  DamonSampler s(f.root.c_str(), a, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  CHECK(f.writes == setup_writes("7", "1000", "50000"));
  f.region(0, 0x1000, 0x3000, 25);
  f.region(1, 0x3000, 0x5000, 5);
  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  REQUIRE(obs.size() == 2);
  check_obs(obs[0], 0x1000, 0x3000, 0.5, 0);
  check_obs(obs[1], 0x3000, 0x5000, 0.1, 0);
}

namespace {

// The writes that restart the kdamond with `regions` as its initial regions.
Writes restart_writes(const std::vector<Span>& regions, uint32_t min = 10) {
  std::string t = std::string(kCtx) + "targets/0/regions/";
  Writes w{{"kdamonds/0/state", "off"}, {t + "nr_regions", std::to_string(regions.size())}};
  for (size_t i = 0; i < regions.size(); ++i) {
    w.emplace_back(t + std::to_string(i) + "/start", std::to_string(regions[i].start));
    w.emplace_back(t + std::to_string(i) + "/end", std::to_string(regions[i].end));
  }
  w.emplace_back(std::string(kCtx) + "monitoring_attrs/nr_regions/min", std::to_string(min));
  w.emplace_back("kdamonds/0/state", "on");
  return w;
}

bool same(const std::vector<Span>& a, const std::vector<Span>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].start != b[i].start || a[i].end != b[i].end) return false;
  return true;
}

constexpr uintptr_t kMiB = 1 << 20;

}  // namespace

TEST_CASE("damon: track() ranges become initial regions at chunk borders, restarted on growth",
          "[damon]") {
  FakeDamon f;
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  const size_t setup = f.writes.size();
  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);  // nothing tracked yet: no restart
  CHECK(f.writes.size() == setup + 1);
  // Unsorted, overlapping, not page-aligned: a heap's carved 5 MiB from 1 GiB
  // + 4 KiB, a range inside it, and a 3-page mmap.
  const uintptr_t g = 1024 * kMiB;
  const uintptr_t m = 0x7f0000000000;
  std::vector<Span> spans{{m, m + 0x3000}, {g + 0x1800, g + 5 * kMiB}, {g + kMiB, g + 2 * kMiB}};
  s.track(spans.data(), spans.size());
  size_t n = f.writes.size();
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  const std::vector<Span> want{{g + 0x1000, g + 2 * kMiB},
                               {g + 2 * kMiB, g + 4 * kMiB},
                               {g + 4 * kMiB, g + 5 * kMiB},
                               {m, m + 0x3000}};
  Writes w = restart_writes(want);
  w.emplace_back("kdamonds/0/state", "update_schemes_tried_regions");
  CHECK(Writes(f.writes.begin() + static_cast<ptrdiff_t>(n), f.writes.end()) == w);
  CHECK(same(s.committed(), want));
  CHECK(f.get(std::string(kCtx) + "targets/0/regions/1/end") == std::to_string(g + 4 * kMiB));

  // The same ranges, or fewer: no restart (memory given back just reads idle).
  spans.pop_back();
  spans[1].end = g + 3 * kMiB;
  s.track(spans.data(), spans.size());
  n = f.writes.size();
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  CHECK(f.writes.size() == n + 1);
  CHECK(same(s.committed(), want));

  // The heap grows by a chunk: restarted with the current ranges.
  spans[1].end = g + 6 * kMiB;
  s.track(spans.data(), spans.size());
  n = f.writes.size();
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  const std::vector<Span> grown{{g + 0x1000, g + 2 * kMiB},
                                {g + 2 * kMiB, g + 4 * kMiB},
                                {g + 4 * kMiB, g + 6 * kMiB},
                                {m, m + 0x3000}};
  w = restart_writes(grown);
  w.emplace_back("kdamonds/0/state", "update_schemes_tried_regions");
  CHECK(Writes(f.writes.begin() + static_cast<ptrdiff_t>(n), f.writes.end()) == w);
  CHECK(same(s.committed(), grown));
}

TEST_CASE("damon: more chunks than regions: pieces of several chunks", "[damon]") {
  FakeDamon f;
  DamonAttrs a;
  a.min_regions = 3;
  a.max_regions = 10;
  a.flush_tlb = false;
  DamonSampler s(f.root.c_str(), a, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  CHECK(std::string(why) ==
        "damon: kdamond 0 monitors pid 7 (vaddr, sample 5000 us, aggr 100000 us, 3-10 regions)");
  const uintptr_t g = 1024 * kMiB;
  Span span{g, g + 50 * kMiB};  // 25 chunks, at most 10 regions: 3 chunks (6 MiB) each
  s.track(&span, 1);
  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  REQUIRE(s.committed().size() == 9);
  // At least one region per piece: DAMON merges none past a piece.
  CHECK(f.get(std::string(kCtx) + "monitoring_attrs/nr_regions/min") == "9");
  for (size_t i = 0; i < 9; ++i) {
    CHECK(s.committed()[i].start == g + i * 6 * kMiB);
    CHECK(s.committed()[i].end == std::min(g + (i + 1) * 6 * kMiB, g + 50 * kMiB));
  }
}

TEST_CASE(
    "damon: window=T sets the sample interval; aggregation follows the engine interval, over 5 "
    "samples of at least 100 ms",
    "[damon]") {
  using strata::sampling::damon_attrs;
  CHECK(damon_attrs(0).sample_us == 20000);  // auto
  CHECK(damon_attrs(0).aggr_us == 100000);
  CHECK(damon_attrs(50).sample_us == 50000);
  CHECK(damon_attrs(50).aggr_us == 250000);
  CHECK(damon_attrs(5).aggr_us == 100000);
  CHECK(damon_attrs(1000000).sample_us == 60000000);  // clamped to a minute
  CHECK(damon_attrs(0).update_us == 3600000000U);
  // The aggregation follows the engine interval: one collect() per interval
  // sees every sample DAMON took in it.
  CHECK(damon_attrs(0, 300).aggr_us == 300000);
  CHECK(damon_attrs(0, 1000).aggr_us == 1000000);
  CHECK(damon_attrs(0, 50).aggr_us == 100000);                // at least 100 ms
  CHECK(damon_attrs(50, 200).aggr_us == 250000);              // at least 5 samples
  CHECK(damon_attrs(0, 4000000000U).aggr_us == 3600000000U);  // an hour at most
}

TEST_CASE("damon: prepare() asks for the regions (the wait), collect() only reads them",
          "[damon]") {
  FakeDamon f;
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  f.region(0, 0x10000000, 0x10200000, 10);
  // Before the kdamond watches tracked memory, prepare() does nothing: the
  // first collect() restarts it there (and waits itself).
  size_t n = f.writes.size();
  s.prepare();
  CHECK(f.writes.size() == n);
  const Span span{0x10000000, 0x10200000};
  s.track(&span, 1);
  std::vector<Obs> obs;
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  CHECK(same(s.committed(), {span}));
  obs.clear();
  n = f.writes.size();
  s.prepare();  // the engine calls it without its lock
  REQUIRE(f.writes.size() == n + 1);
  CHECK(f.writes.back() == std::make_pair(std::string("kdamonds/0/state"),
                                          std::string("update_schemes_tried_regions")));
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  CHECK(f.writes.size() == n + 1);  // no second request, so no second wait
  REQUIRE(obs.size() == 1);
  check_obs(obs[0], 0x10000000, 0x10200000, 0.5, 0);
  // Without prepare(), collect() asks itself (once per call).
  REQUIRE(s.collect(collect_obs, &obs) == 0);
  CHECK(f.writes.size() == n + 2);
  // A failed request fails the collect() that follows it.
  f.refuse = true;
  s.prepare();
  obs.clear();
  CHECK(s.collect(collect_obs, &obs) == -EPERM);
  CHECK(obs.empty());
  f.refuse = false;
  // After close(), prepare() does nothing and collect() reports it.
  s.close();
  const size_t closed = f.writes.size();
  s.prepare();
  CHECK(f.writes.size() == closed);
  CHECK(s.collect(collect_obs, &obs) == -EBADF);
}

TEST_CASE("damon: a failed restart is retried and fails collect()", "[damon]") {
  FakeDamon f;
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  fs::remove_all(f.root + "/" + kCtx + "targets/0/regions");  // a kernel before 5.18
  Span span{1024 * kMiB, 1028 * kMiB};
  s.track(&span, 1);
  std::vector<Obs> obs;
  CHECK(s.collect(collect_obs, &obs) == -ENOENT);
  CHECK(s.committed().empty());
  CHECK(s.collect(collect_obs, &obs) == -ENOENT);
}

TEST_CASE("damon: close() in a child after fork() leaves the parent's kdamond", "[damon]") {
  FakeDamon f;
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  const size_t n = f.writes.size();
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    s.close();  // the child's copy: must write nothing
    _exit(f.writes.size() == n && f.get("kdamonds/0/state") == "on" ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(f.get("kdamonds/0/state") == "on");
  s.close();
  Writes tail(f.writes.end() - 2, f.writes.end());
  CHECK(tail == Writes{{"kdamonds/0/state", "off"}, {"kdamonds/nr_kdamonds", "0"}});
}

TEST_CASE("damon: a malformed tried region fails collect()", "[damon]") {
  FakeDamon f;
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  REQUIRE(s.open(why, sizeof why));
  f.region(0, 0x1000, 0x3000, 5);
  f.put(std::string(kScheme) + "tried_regions/0/nr_accesses", "many\n");
  std::vector<Obs> obs;
  CHECK(s.collect(collect_obs, &obs) == -EIO);
  fs::remove(f.root + "/" + kScheme + "tried_regions/0/end");
  CHECK(s.collect(collect_obs, &obs) == -ENOENT);
}

TEST_CASE("damon: refuses a kdamond that someone else runs, without writing", "[damon]") {
  FakeDamon f("1\n", "on\n");
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  CHECK_FALSE(s.probe(why, sizeof why));
  CHECK(std::string(why) ==
        "damon: kdamond 0 is in use by another user (nr_kdamonds cannot change while it runs)");
  std::memset(why, 0, sizeof why);
  CHECK_FALSE(s.open(why, sizeof why));
  CHECK(std::string(why) ==
        "damon: kdamond 0 is in use by another user (nr_kdamonds cannot change while it runs)");
  CHECK(f.attempts == 0);
  CHECK(f.get("kdamonds/nr_kdamonds") == "1\n");
  CHECK(f.get("kdamonds/0/state") == "on\n");
  s.close();
  CHECK(f.attempts == 0);  // close() does not touch what it did not create
  std::vector<Obs> obs;
  CHECK(s.collect(collect_obs, &obs) == -EBADF);
  CHECK(f.attempts == 0);
}

TEST_CASE("damon: refuses a stopped kdamond set up by someone else", "[damon]") {
  FakeDamon f("1\n", "off\n");
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  CHECK_FALSE(s.open(why, sizeof why));
  CHECK(std::string(why) ==
        "damon: 1 stopped kdamond(s) set up by another user (writing nr_kdamonds would "
        "destroy them)");
  CHECK(f.attempts == 0);
}

TEST_CASE("damon: a second kdamond running is found too", "[damon]") {
  FakeDamon f("2\n", "off\n");
  f.put("kdamonds/1/state", "on\n");
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  CHECK_FALSE(s.open(why, sizeof why));
  CHECK(std::string(why) ==
        "damon: kdamond 1 is in use by another user (nr_kdamonds cannot change while it runs)");
  CHECK(f.attempts == 0);
}

TEST_CASE("damon: reasons without DAMON sysfs, vaddr, or tried regions", "[damon]") {
  char why[256];
  SECTION("no sysfs interface") {
    TempDir d;
    std::string root = d.path + "/admin";
    DamonSampler s(root.c_str());
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) == "damon: " + root +
                                  ": No such file or directory (kernel built without "
                                  "CONFIG_DAMON_SYSFS)");
  }
  SECTION("vaddr operations not built in: the kdamond is removed again") {
    FakeDamon f("0\n", "off\n", "paddr\n");
    DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
    f.attach(s);
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) == "damon: vaddr monitoring not built in (avail_operations: paddr)");
    CHECK(f.writes == Writes{{"kdamonds/nr_kdamonds", "1"},
                             {"kdamonds/0/contexts/nr_contexts", "1"},
                             {"kdamonds/nr_kdamonds", "0"}});
  }
  SECTION("no tried regions (before Linux 6.2): removed again") {
    FakeDamon f;
    fs::remove_all(f.root + "/" + kScheme + "tried_regions");
    DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
    f.attach(s);
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) == "damon: " + f.root + "/" + kScheme +
                                  "tried_regions: No such file or directory (kernel without "
                                  "DAMOS tried regions, before Linux 6.2)");
    Writes want = setup_writes("7");
    want.pop_back();  // never started
    want.emplace_back("kdamonds/nr_kdamonds", "0");
    CHECK(f.writes == want);
  }
  SECTION("a write failing midway: removed again, never started") {
    FakeDamon f;
    fs::remove(f.root + "/" + kCtx + "targets/0/pid_target");
    DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
    f.attach(s);
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) ==
          "damon: " + f.root + "/" + kCtx + "targets/0/pid_target: No such file or directory");
    Writes want = setup_writes("7");
    want.resize(10);  // up to the pid_target attempt
    want.emplace_back("kdamonds/nr_kdamonds", "0");
    CHECK(f.writes == want);
    CHECK(f.get("kdamonds/nr_kdamonds") == "0");
  }
  SECTION("invalid attributes, before anything is read or written") {
    FakeDamon f;
    DamonAttrs a;
    a.aggr_us = 1000;  // shorter than a sample
    DamonSampler s(f.root.c_str(), a, 7);
    f.attach(s);
    CHECK_FALSE(s.open(why, sizeof why));
    CHECK(std::string(why) ==
          "damon: invalid attributes (sample 5000 us, aggr 1000 us, regions 10-100)");
    CHECK(f.attempts == 0);
  }
}

TEST_CASE("damon: a refusing write hook keeps every file as it was", "[damon]") {
  FakeDamon f;
  f.refuse = true;
  DamonSampler s(f.root.c_str(), DamonAttrs{}, 7);
  f.attach(s);
  char why[256];
  CHECK(s.probe(why, sizeof why));  // the tree is free
  CHECK_FALSE(s.open(why, sizeof why));
  CHECK(std::string(why) == "damon: " + f.root + "/kdamonds/nr_kdamonds: Operation not permitted");
  CHECK(f.attempts == 1);
  CHECK(f.get("kdamonds/nr_kdamonds") == "0\n");
}

TEST_CASE("damon: open() on this system's paths never writes", "[damon]") {
  // Every write is refused: even a bug could not change the real kdamonds.
  struct Guard {
    int attempts = 0;
  } g;
  DamonSampler s;
  s.set_write_hook(
      [](const char*, const char*, void* ctx) {
        ++static_cast<Guard*>(ctx)->attempts;
        return false;
      },
      &g);
  char probe_why[256];
  bool is_free = s.probe(probe_why, sizeof probe_why);
  CHECK(g.attempts == 0);
  char why[256];
  CHECK_FALSE(s.open(why, sizeof why));
  INFO(why);
  WARN("damon unavailable here: " << why);
  CHECK(std::strncmp(why, "damon: ", 7) == 0);
  if (is_free) {
    CHECK(g.attempts == 1);  // the first write (nr_kdamonds), refused
  } else {
    CHECK(g.attempts == 0);  // refused before any write
    CHECK(std::string(why) == probe_why);
  }
  // On this project's host a foreign kdamond runs: say so exactly.
  std::string nr = get_file("/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds");
  std::string state = get_file("/sys/kernel/mm/damon/admin/kdamonds/0/state");
  if (nr == "1\n" && state == "on\n")
    CHECK(std::string(why) ==
          "damon: kdamond 0 is in use by another user (nr_kdamonds cannot change while it runs)");
  s.close();
  CHECK(g.attempts == (is_free ? 1 : 0));
}
