// The raw profile format: writer (streaming, partial writes, errors, no
// allocation), reader (round trip, forward compatibility, errors, robustness).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "profiler/profile_format.h"
#include "src/tools/report/report.h"
#include "tests/report/sample_profile.h"

// ---- allocation counting: this program's malloc family forwards to glibc's
// and counts calls while armed (operator new ends up here too).
extern "C" void* __libc_malloc(size_t);
extern "C" void* __libc_calloc(size_t, size_t);
extern "C" void* __libc_realloc(void*, size_t);
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocs{0};
}  // namespace
extern "C" void* malloc(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  return __libc_malloc(n);
}
extern "C" void* calloc(size_t a, size_t b) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1);
  return __libc_realloc(p, n);
}

using namespace strata;
using namespace strata::profile;

namespace {

// A memory file: what the writer wrote, read back.
struct MemFile {
  int fd = memfd_create("profile", MFD_CLOEXEC);
  ~MemFile() { close(fd); }
  std::vector<unsigned char> bytes() const {
    off_t n = lseek(fd, 0, SEEK_END);
    std::vector<unsigned char> out(static_cast<size_t>(n));
    REQUIRE(pread(fd, out.data(), out.size(), 0) == n);
    return out;
  }
};

std::vector<unsigned char> sample_bytes(size_t bufsize = 4096) {
  MemFile f;
  REQUIRE(test::write_sample_profile(f.fd, bufsize));
  return f.bytes();
}

Profile parse_ok(const std::vector<unsigned char>& b) {
  Profile p;
  std::string err;
  INFO(err);
  bool ok = parse(b, "mem.prof", &p, &err);
  INFO(err);
  REQUIRE(ok);
  return p;
}

std::string parse_err(const std::vector<unsigned char>& b) {
  Profile p;
  std::string err;
  REQUIRE_FALSE(parse(b, "mem.prof", &p, &err));
  return err;
}

uint32_t u32_at(const std::vector<unsigned char>& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}
void set_u32(std::vector<unsigned char>* b, size_t off, uint32_t v) {
  std::memcpy(b->data() + off, &v, 4);
}

struct Rec {
  size_t at;  // offset of the record header
  uint32_t type;
  uint32_t len;
};
std::vector<Rec> records(const std::vector<unsigned char>& b) {
  std::vector<Rec> out;
  for (size_t pos = kFileHeaderBytes; pos < b.size();) {
    Rec r{pos, u32_at(b, pos), u32_at(b, pos + 4)};
    out.push_back(r);
    pos += kRecordHeaderBytes + r.len;
  }
  return out;
}

// A writer whose every record type is filled with distinctive values.
void write_all_kinds(Writer& w) {
  HeaderRecord h;
  h.pid = -7;
  h.start_ns = 111;
  h.end_ns = 222;
  h.interval_ms = 250;
  h.exe = "/bin/app";
  h.sampler = "abit";
  h.tiers_spec = "dram;cxl";
  h.policy_spec = "size>=1M -> cxl";
  h.migrate_spec = "on";
  w.header(h);
  w.tier(TierRecord{0, "dram", "dram", 0, 0});
  w.tier(TierRecord{1, "cxl", "cxl", 1ULL << 30, -1});
  w.module(ModuleRecord{0x1000, 0x1000, 0x9000, "/bin/app", std::string_view("\x01\x00\xff", 3)});
  SiteRecord s;
  s.hash = 0xfeedULL;
  s.nframes = 20;  // clamped to kMaxFrames
  for (int i = 0; i < kMaxFrames; ++i) s.frames[i] = 0x1000 + static_cast<uint64_t>(i);
  s.allocs = 1;
  s.frees = 2;
  s.bytes_allocated = 3;
  s.bytes_freed = 4;
  s.live_bytes = 5;
  s.lifetime_ns = 6;
  s.heat_byte_intervals = 7.5;
  s.byte_intervals = 8.25;
  s.tier_byte_intervals[7] = 9;
  s.placed_tier = 1;
  w.site(s);
  IntervalRecord iv;
  iv.index = 3;
  iv.time_ns = 44;
  iv.resident[1] = 55;
  iv.promoted_bytes = 66;
  iv.demoted_bytes = 77;
  iv.promoted = 8;
  iv.demoted = 9;
  iv.failures = 10;
  const ChunkRecord chunks[] = {
      {5, 0.25F, 0, 4096}, {6, std::nanf(""), 1, 1}, {7, 3.0F, -1, 2 << 20}};
  w.interval(iv, chunks);
  w.move(MoveRecord{3, 6, 1, 0, 2 << 20, MoveReason::kSwapIn});
}

}  // namespace

TEST_CASE("profile: every record round-trips", "[report][format]") {
  MemFile f;
  char buf[64];
  Writer w(f.fd, buf, sizeof buf);
  write_all_kinds(w);
  REQUIRE(w.finish());
  auto bytes = f.bytes();
  CHECK(w.bytes_written() == bytes.size());
  CHECK(std::memcmp(bytes.data(), "STRATAPF", 8) == 0);
  CHECK(u32_at(bytes, 8) == kVersion);

  Profile p = parse_ok(bytes);
  CHECK(p.header.version == kVersion);
  CHECK(p.header.pid == -7);
  CHECK(p.header.start_ns == 111);
  CHECK(p.header.end_ns == 222);
  CHECK(p.header.interval_ms == 250);
  CHECK(p.header.chunk_bytes == 2u << 20);
  CHECK(p.header.exe == "/bin/app");
  CHECK(p.header.sampler == "abit");
  CHECK(p.header.tiers_spec == "dram;cxl");
  CHECK(p.header.policy_spec == "size>=1M -> cxl");
  CHECK(p.header.migrate_spec == "on");
  REQUIRE(p.tiers.size() == 2);
  CHECK(p.tiers[1].name == "cxl");
  CHECK(p.tiers[1].cap == 1ULL << 30);
  CHECK(p.tiers[1].first_node == -1);
  REQUIRE(p.modules.size() == 1);
  CHECK(p.modules[0].end == 0x9000);
  CHECK(p.modules[0].build_id == std::string("\x01\x00\xff", 3));
  REQUIRE(p.sites.size() == 1);
  const SiteRecord& s = p.sites[0];
  CHECK(s.hash == 0xfeed);
  CHECK(s.nframes == kMaxFrames);
  CHECK(s.frames[15] == 0x100f);
  CHECK(s.frees == 2);
  CHECK(s.lifetime_ns == 6);
  CHECK(s.heat_byte_intervals == 7.5);
  CHECK(s.byte_intervals == 8.25);
  CHECK(s.tier_byte_intervals[7] == 9);
  CHECK(s.placed_tier == 1);
  REQUIRE(p.intervals.size() == 1);
  const Interval& iv = p.intervals[0];
  CHECK(iv.rec.index == 3);
  CHECK(iv.rec.resident[1] == 55);
  CHECK(iv.rec.failures == 10);
  REQUIRE(iv.chunks.size() == 3);
  CHECK(iv.chunks[0].heat == 0.25F);
  CHECK(iv.chunks[1].heat == 0.0F);  // NaN read as 0
  CHECK(iv.chunks[2].heat == 1.0F);  // clamped
  CHECK(iv.chunks[2].tier == -1);
  CHECK(iv.chunks[2].bytes == 2u << 20);
  REQUIRE(p.moves.size() == 1);
  CHECK(p.moves[0].reason == MoveReason::kSwapIn);
  CHECK(p.moves[0].from == 1);
  CHECK(p.unknown_records == 0);
}

TEST_CASE("profile: output does not depend on the buffer size", "[report][format]") {
  auto a = sample_bytes(Writer::kMinBuffer);
  auto b = sample_bytes(1000);
  auto c = sample_bytes(1 << 20);
  CHECK(a == b);
  CHECK(a == c);
}

namespace {
int g_calls = 0;
// At most 7 bytes per call; every third call is interrupted.
ssize_t stingy_write(int fd, const void* p, size_t n) {
  if (++g_calls % 3 == 0) {
    errno = EINTR;
    return -1;
  }
  return write(fd, p, n < 7 ? n : 7);
}
ssize_t failing_write(int, const void*, size_t) {
  errno = EIO;
  return -1;
}
}  // namespace

TEST_CASE("profile: partial writes and EINTR are retried", "[report][format]") {
  MemFile normal;
  MemFile stingy;
  char b1[128];
  char b2[128];
  Writer w1(normal.fd, b1, sizeof b1);
  Writer w2(stingy.fd, b2, sizeof b2, stingy_write);
  write_all_kinds(w1);
  write_all_kinds(w2);
  REQUIRE(w1.finish());
  REQUIRE(w2.finish());
  CHECK(g_calls > 30);
  CHECK(normal.bytes() == stingy.bytes());
}

TEST_CASE("profile: write errors are reported, not hidden", "[report][format]") {
  SECTION("ENOSPC from /dev/full") {
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    char buf[256];
    Writer w(fd, buf, sizeof buf);
    write_all_kinds(w);
    CHECK_FALSE(w.finish());
    CHECK(w.error() == ENOSPC);
    CHECK_FALSE(w.move(MoveRecord{}));  // sticky
    close(fd);
  }
  SECTION("EIO from the write function") {
    char buf[64];
    Writer w(1, buf, sizeof buf, failing_write);
    write_all_kinds(w);
    CHECK_FALSE(w.finish());
    CHECK(w.error() == EIO);
  }
}

TEST_CASE("profile: writer misuse is EINVAL", "[report][format]") {
  MemFile f;
  char buf[128];
  SECTION("buffer too small") {
    Writer w(f.fd, buf, Writer::kMinBuffer - 1);
    CHECK_FALSE(w.ok());
    CHECK(w.error() == EINVAL);
  }
  SECTION("a record before the header") {
    Writer w(f.fd, buf, sizeof buf);
    CHECK_FALSE(w.tier(TierRecord{}));
    CHECK(w.error() == EINVAL);
  }
  SECTION("two headers") {
    Writer w(f.fd, buf, sizeof buf);
    CHECK(w.header(HeaderRecord{}));
    CHECK_FALSE(w.header(HeaderRecord{}));
  }
  SECTION("too few chunks") {
    Writer w(f.fd, buf, sizeof buf);
    w.header(HeaderRecord{});
    CHECK(w.begin_interval(IntervalRecord{}, 2));
    CHECK(w.chunk(ChunkRecord{}));
    CHECK_FALSE(w.move(MoveRecord{}));
    CHECK(w.error() == EINVAL);
  }
  SECTION("too many chunks") {
    Writer w(f.fd, buf, sizeof buf);
    w.header(HeaderRecord{});
    CHECK(w.begin_interval(IntervalRecord{}, 1));
    CHECK(w.chunk(ChunkRecord{}));
    CHECK_FALSE(w.chunk(ChunkRecord{}));
  }
  SECTION("finish without a header") {
    Writer w(f.fd, buf, sizeof buf);
    CHECK_FALSE(w.finish());
  }
}

TEST_CASE("profile: the writer never allocates", "[report][format]") {
  MemFile f;
  char buf[96];  // small: many flushes inside the armed region
  Writer* w = nullptr;
  alignas(Writer) unsigned char storage[sizeof(Writer)];
  long before = g_allocs.load();
  g_counting = true;
  w = new (storage) Writer(f.fd, buf, sizeof buf);
  write_all_kinds(*w);
  for (int i = 0; i < 100; ++i) {
    w->begin_interval(IntervalRecord{}, 3);
    for (int k = 0; k < 3; ++k) w->chunk(ChunkRecord{static_cast<uint64_t>(k), 0.5F, 0, 4096});
  }
  bool ok = w->finish();
  g_counting = false;
  long during = g_allocs.load() - before;
  w->~Writer();
  CHECK(ok);
  CHECK(during == 0);
  // The counter works: a std::string allocates.
  g_counting = true;
  std::string* s = new std::string(100, 'x');
  g_counting = false;
  CHECK(g_allocs.load() - before >= 2);
  delete s;
}

TEST_CASE("profile: readers skip unknown records and trailing fields", "[report][format]") {
  auto bytes = sample_bytes();
  Profile want = parse_ok(bytes);
  std::vector<unsigned char> out(bytes.begin(), bytes.begin() + kFileHeaderBytes);
  auto put_u32 = [&](uint32_t v) {
    unsigned char b[4];
    std::memcpy(b, &v, 4);
    out.insert(out.end(), b, b + 4);
  };
  bool widened_interval = false;
  for (const Rec& r : records(bytes)) {
    const unsigned char* payload = bytes.data() + r.at + kRecordHeaderBytes;
    if (r.type == static_cast<uint32_t>(RecordType::kSite)) {
      // A newer writer appended 12 bytes of fields to Site.
      put_u32(r.type);
      put_u32(r.len + 12);
      out.insert(out.end(), payload, payload + r.len);
      out.insert(out.end(), 12, 0xab);
    } else if (r.type == static_cast<uint32_t>(RecordType::kInterval) && !widened_interval) {
      // ... and 3 bytes to every chunk (stride 17 -> 20).
      constexpr size_t kFixed = 4 + 8 + 8 * kMaxTiers + 8 + 8 + 4 + 4 + 4;
      uint32_t n = u32_at(bytes, r.at + kRecordHeaderBytes + kFixed);
      REQUIRE(u32_at(bytes, r.at + kRecordHeaderBytes + kFixed + 4) == 17);
      REQUIRE(r.len == kFixed + 8 + 17 * n);
      put_u32(r.type);
      put_u32(r.len + 3 * n);
      out.insert(out.end(), payload, payload + kFixed + 4);
      put_u32(20);
      for (uint32_t k = 0; k < n; ++k) {
        const unsigned char* c = payload + kFixed + 8 + 17 * k;
        out.insert(out.end(), c, c + 17);
        out.insert(out.end(), 3, 0xcd);
      }
      widened_interval = true;
    } else {
      out.insert(out.end(), bytes.begin() + static_cast<long>(r.at),
                 bytes.begin() + static_cast<long>(r.at + kRecordHeaderBytes + r.len));
    }
    if (r.type == static_cast<uint32_t>(RecordType::kHeader)) {
      put_u32(200);  // a record type from the future
      put_u32(5);
      out.insert(out.end(), {1, 2, 3, 4, 5});
    }
  }
  Profile got = parse_ok(out);
  CHECK(got.unknown_records == 1);
  REQUIRE(got.sites.size() == want.sites.size());
  for (size_t i = 0; i < got.sites.size(); ++i) {
    CHECK(got.sites[i].hash == want.sites[i].hash);
    CHECK(got.sites[i].byte_intervals == want.sites[i].byte_intervals);
    CHECK(got.sites[i].nframes == want.sites[i].nframes);
  }
  REQUIRE(got.intervals.size() == want.intervals.size());
  for (size_t i = 0; i < got.intervals.size(); ++i) {
    REQUIRE(got.intervals[i].chunks.size() == want.intervals[i].chunks.size());
    for (size_t k = 0; k < got.intervals[i].chunks.size(); ++k) {
      CHECK(got.intervals[i].chunks[k].id == want.intervals[i].chunks[k].id);
      CHECK(got.intervals[i].chunks[k].heat == want.intervals[i].chunks[k].heat);
    }
  }
  CHECK(got.moves.size() == want.moves.size());
}

TEST_CASE("profile: reader errors name the file and what was expected", "[report][format]") {
  auto good = sample_bytes();
  auto recs = records(good);
  CHECK(parse_err({}) ==
        "mem.prof: empty file (expected a strata profile starting with \"STRATAPF\")");
  auto bad = good;
  bad[0] = 'X';
  CHECK(parse_err(bad) ==
        "mem.prof: not a strata profile (starts with \"XTRATAPF\", expected \"STRATAPF\")");
  bad = good;
  set_u32(&bad, 8, kVersion + 1);
  CHECK(parse_err(bad) == "mem.prof: profile format version " + std::to_string(kVersion + 1) +
                              " is newer than this reader (expected " + std::to_string(kVersion) +
                              "; use the strata-report of the strata that wrote it)");

  // Every truncation fails, naming the byte.
  for (size_t cut = 1; cut < good.size(); cut += 7) {
    std::string e = parse_err(std::vector<unsigned char>(good.begin(), good.begin() + cut));
    INFO(cut << ": " << e);
    CHECK(e.starts_with("mem.prof: truncated at byte "));
  }

  // Corruption inside records.
  const Rec& site = recs[6];  // header, 3 tiers, 2 modules, then sites
  REQUIRE(site.type == static_cast<uint32_t>(RecordType::kSite));
  bad = good;
  bad[site.at + kRecordHeaderBytes + 8 * 7 + 8 * 2 + 8 * kMaxTiers + 1] = 17;  // nframes
  CHECK(parse_err(bad) == "mem.prof: corrupt Site record at byte " + std::to_string(site.at) +
                              ": 17 frames (expected at most 16)");
  bad = good;
  set_u32(&bad, site.at + 4, 10);  // too short for its fields
  CHECK(parse_err(bad) == "mem.prof: corrupt Site record at byte " + std::to_string(site.at) +
                              ": length 10 is too short for its fields");
  bad = good;
  bad[recs[2].at + kRecordHeaderBytes] = 5;  // second tier's index
  CHECK(parse_err(bad) == "mem.prof: corrupt Tier record at byte " + std::to_string(recs[2].at) +
                              ": tier index 5 (expected 1, tiers in order, at most 8)");
  // A Move record taken out: the End record's counts no longer match.
  const Rec* mv = nullptr;
  for (const Rec& r : recs)
    if (r.type == static_cast<uint32_t>(RecordType::kMove)) mv = &r;
  REQUIRE(mv != nullptr);
  bad.assign(good.begin(), good.begin() + static_cast<long>(mv->at));
  bad.insert(bad.end(), good.begin() + static_cast<long>(mv->at + kRecordHeaderBytes + mv->len),
             good.end());
  std::string e = parse_err(bad);
  CHECK(e.find("corrupt End record") != std::string::npos);
  CHECK(e.find("Move records, the file has") != std::string::npos);
  // Data after the End record.
  bad = good;
  bad.insert(bad.end(), good.begin() + static_cast<long>(recs[1].at),
             good.begin() + static_cast<long>(recs[2].at));
  CHECK(parse_err(bad) == "mem.prof: corrupt Tier record at byte " + std::to_string(good.size()) +
                              ": record after the End record (expected end of file)");
}

TEST_CASE("profile: damaged files never crash the reader or the report", "[report][format]") {
  auto good = sample_bytes();
  std::mt19937_64 rng(12345);
  int parsed = 0;
  for (int round = 0; round < 1500; ++round) {
    auto b = good;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0:
          b[at] ^= static_cast<unsigned char>(1u << (rng() % 8));
          break;
        case 1:
          b[at] = static_cast<unsigned char>(rng());
          break;
        default:
          if (at + 4 <= b.size()) set_u32(&b, at, static_cast<uint32_t>(rng()));
      }
    }
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    Profile p;
    std::string err;
    if (!parse(b, "fuzz.prof", &p, &err)) {
      CHECK(err.starts_with("fuzz.prof: "));
      CHECK(err.find('\n') == std::string::npos);
      continue;
    }
    ++parsed;
    report::Options opt;
    opt.symbolize = false;
    report::Report r = report::analyze(p, "fuzz.prof", opt);
    CHECK_FALSE(report::render_text(r, 5).empty());
    CHECK_FALSE(report::render_json(r, 5).empty());
    CHECK_FALSE(report::render_html(r, 5).empty());
    CHECK_FALSE(report::render_policy(r).empty());
  }
  CHECK(parsed > 100);  // mutations of the payload mostly still parse: renderers ran
}
