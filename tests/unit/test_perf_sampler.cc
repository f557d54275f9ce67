// The pebs/ibs sampler. Its decoder runs on synthetic perf rings built here
// (the machines here have no PMU), inside guard pages so that a read outside
// the ring crashes the test instead of passing by luck. pebs and ibs must
// open or say why in one line. The `faults` mode (software page-fault events,
// no PMU needed) runs the live path end to end: per-CPU rings, output
// redirection, inheritance by threads, not by forked children.
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "profiler/perf_sampler.h"
#include "tests/unit/skip.h"

using strata::sampling::Obs;
using strata::sampling::PerfSampler;
namespace perf = strata::sampling::perf;

namespace {

constexpr uint32_t kPid = 4242;
constexpr uint64_t kRich = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR |
                           PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD;

// One page of ring data between two PROT_NONE pages. Positions are the
// kernel's free-running offsets; put() wraps them like the kernel does.
class Ring {
 public:
  Ring() {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* m = mmap(nullptr, 3 * page_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m != MAP_FAILED);
    base_ = static_cast<unsigned char*>(m);
    REQUIRE(mprotect(base_ + page_, page_, PROT_READ | PROT_WRITE) == 0);
  }
  ~Ring() { munmap(base_, 3 * page_); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  unsigned char* data() { return base_ + page_; }
  uint64_t size() const { return page_; }
  void start_at(uint64_t pos) { head = tail = pos; }
  void put(const void* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
      data()[(head + i) & (page_ - 1)] = static_cast<const unsigned char*>(p)[i];
    head += n;
  }
  void u64(uint64_t v) { put(&v, sizeof v); }
  void header(uint32_t type, uint16_t size) {
    perf_event_header h{type, 0, size};
    put(&h, sizeof h);
  }
  // A PERF_RECORD_SAMPLE with the fields of `type` in the order documented
  // at PERF_RECORD_SAMPLE in linux/perf_event.h.
  void sample(uint64_t type, uint64_t addr, uint32_t pid = kPid) {
    std::vector<uint64_t> body;
    if (type & PERF_SAMPLE_IDENTIFIER) body.push_back(0x1d);
    if (type & PERF_SAMPLE_IP) body.push_back(0x401000);
    if (type & PERF_SAMPLE_TID) body.push_back(pid | (uint64_t{pid + 1} << 32));
    if (type & PERF_SAMPLE_TIME) body.push_back(123456789);
    if (type & PERF_SAMPLE_ADDR) body.push_back(addr);
    if (type & PERF_SAMPLE_ID) body.push_back(0x1d);
    if (type & PERF_SAMPLE_STREAM_ID) body.push_back(0x1e);
    if (type & PERF_SAMPLE_CPU) body.push_back(3);
    if (type & PERF_SAMPLE_PERIOD) body.push_back(100003);
    if (type & PERF_SAMPLE_CALLCHAIN) body.insert(body.end(), {2, 0x401000, 0x402000});
    if (type & PERF_SAMPLE_WEIGHT) body.push_back(250);
    if (type & PERF_SAMPLE_DATA_SRC) body.push_back(0x68100142);
    header(PERF_RECORD_SAMPLE, static_cast<uint16_t>(8 + 8 * body.size()));
    for (uint64_t v : body) u64(v);
  }
  bool decode(uint64_t type, uint32_t pid, perf::ChunkTable* t, perf::DecodeStats* st) {
    return perf::decode_ring(data(), size(), tail, head, perf::SampleLayout(type), pid, t, st);
  }

  uint64_t head = 0;
  uint64_t tail = 0;

 private:
  size_t page_ = 0;
  unsigned char* base_ = nullptr;
};

void keep(const Obs& o, void* ctx) {
  static_cast<std::vector<Obs>*>(ctx)->push_back(o);
}

constexpr uint64_t kA = uint64_t{0x7f1234400000} >> 21;  // a chunk number

}  // namespace

TEST_CASE("perf: sample fields sit where the documented order puts them", "[perf_sampler]") {
  perf::SampleLayout addr_only(PERF_SAMPLE_ADDR);
  CHECK(addr_only.offset(PERF_SAMPLE_ADDR) == 8);
  CHECK(addr_only.offset(PERF_SAMPLE_TID) == -1);
  CHECK(addr_only.min_size() == 16);

  perf::SampleLayout basic(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR);
  CHECK(basic.offset(PERF_SAMPLE_IP) == 8);
  CHECK(basic.offset(PERF_SAMPLE_TID) == 16);
  CHECK(basic.offset(PERF_SAMPLE_TIME) == 24);
  CHECK(basic.offset(PERF_SAMPLE_ADDR) == 32);
  CHECK(basic.min_size() == 40);

  // IDENTIFIER is bit 16 but comes first; ID and STREAM_ID (bits 6, 9)
  // come before CPU (bit 7).
  perf::SampleLayout ids(PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_ADDR |
                         PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU);
  CHECK(ids.offset(PERF_SAMPLE_IDENTIFIER) == 8);
  CHECK(ids.offset(PERF_SAMPLE_IP) == 16);
  CHECK(ids.offset(PERF_SAMPLE_ADDR) == 24);
  CHECK(ids.offset(PERF_SAMPLE_ID) == 32);
  CHECK(ids.offset(PERF_SAMPLE_STREAM_ID) == 40);
  CHECK(ids.offset(PERF_SAMPLE_CPU) == 48);

  // Fixed fields after the variable block keep their place when no
  // variable field is requested, and lose it behind one.
  perf::SampleLayout late(PERF_SAMPLE_TID | PERF_SAMPLE_ADDR | PERF_SAMPLE_WEIGHT |
                          PERF_SAMPLE_DATA_SRC | PERF_SAMPLE_PHYS_ADDR);
  CHECK(late.offset(PERF_SAMPLE_WEIGHT) == 24);
  CHECK(late.offset(PERF_SAMPLE_DATA_SRC) == 32);
  CHECK(late.offset(PERF_SAMPLE_PHYS_ADDR) == 40);
  perf::SampleLayout weight_struct(PERF_SAMPLE_ADDR | PERF_SAMPLE_WEIGHT_STRUCT);
  CHECK(weight_struct.offset(PERF_SAMPLE_WEIGHT_STRUCT) == 16);
  perf::SampleLayout chained(PERF_SAMPLE_TID | PERF_SAMPLE_ADDR | PERF_SAMPLE_PERIOD |
                             PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_WEIGHT);
  CHECK(chained.offset(PERF_SAMPLE_ADDR) == 16);
  CHECK(chained.offset(PERF_SAMPLE_PERIOD) == 24);
  CHECK(chained.offset(PERF_SAMPLE_CALLCHAIN) == -1);
  CHECK(chained.offset(PERF_SAMPLE_WEIGHT) == -1);
  CHECK(chained.min_size() == 32);

  CHECK(basic.offset(0) == -1);
  CHECK(basic.offset(PERF_SAMPLE_IP | PERF_SAMPLE_ADDR) == -1);
}

TEST_CASE("perf: samples add up per 2 MiB chunk, fractions relative to the hottest",
          "[perf_sampler]") {
  Ring r;
  const uint64_t a = kA << 21;
  const uint64_t b = (kA + 1) << 21;  // the next chunk: the first byte past a's last
  const uint64_t c = (kA + 1000) << 21;
  r.sample(kRich, a);
  r.sample(kRich, b);
  r.sample(kRich, a + 0x1000);
  r.sample(kRich, c + 0x1234);
  r.sample(kRich, a + 0x1fffff);  // a's last byte
  r.sample(kRich, b + 0x10);
  r.sample(kRich, a + 0x100000);
  r.sample(kRich, a + 8, kPid + 1);               // another process
  r.sample(kRich, 0);                             // no data address
  r.sample(kRich, uint64_t{0xffff888000001000});  // kernel
  perf::ChunkTable t(64);
  perf::DecodeStats st;
  REQUIRE(r.decode(kRich, kPid, &t, &st));
  CHECK(st.samples == 10);
  CHECK(st.counted == 7);
  CHECK(st.foreign == 1);
  CHECK(st.no_addr == 1);
  CHECK(st.kernel == 1);
  CHECK(st.errors == 0);
  CHECK(st.other == 0);
  CHECK(t.size() == 3);
  CHECK(t.count(kA) == 4);
  CHECK(t.count(kA + 1) == 2);
  CHECK(t.count(kA + 1000) == 1);
  CHECK(t.max_count() == 4);
  CHECK(t.total() == 7);

  std::vector<Obs> obs;
  CHECK(perf::emit_chunks(t, keep, &obs) == 3);
  std::map<uintptr_t, Obs> by_start;
  for (const Obs& o : obs) by_start[o.start] = o;
  REQUIRE(by_start.size() == 3);
  for (const auto& [start, o] : by_start) {
    CHECK(o.end - o.start == uintptr_t{2} << 20);
    CHECK(o.rss == 0);
    CHECK(o.anon_huge == 0);
  }
  CHECK(by_start.at(a).fraction == 1.0);
  CHECK(by_start.at(b).fraction == 0.5);
  CHECK(by_start.at(c).fraction == 0.25);

  // Without a pid filter the other process's sample counts too.
  perf::ChunkTable all(64);
  perf::DecodeStats st2;
  REQUIRE(r.decode(kRich, 0, &all, &st2));
  CHECK(all.count(kA) == 5);
  CHECK(st2.foreign == 0);

  // An empty table emits nothing.
  t.clear();
  obs.clear();
  CHECK(perf::emit_chunks(t, keep, &obs) == 0);
  CHECK(obs.empty());
}

TEST_CASE("perf: records that wrap around the ring end decode", "[perf_sampler]") {
  const uint64_t type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR;  // 32 bytes
  Ring r;
  const uint64_t end = r.size();
  SECTION("the address field wraps, far past the first lap") {
    r.start_at(5 * end + end - 16);  // header and TID before the end, TIME and ADDR after
    r.sample(type, (kA << 21) + 0xabc);
    r.sample(type, (kA + 7) << 21);
  }
  SECTION("the header itself wraps") {
    r.start_at(end - 4);
    r.sample(type, (kA << 21) + 0xabc);
    r.sample(type, (kA + 7) << 21);
  }
  SECTION("the address straddles the end") {
    r.start_at(end - 28);  // the ADDR u64 at end - 4
    r.sample(type, (kA << 21) + 0xabc);
    r.sample(type, (kA + 7) << 21);
  }
  perf::ChunkTable t(8);
  perf::DecodeStats st;
  REQUIRE(r.decode(type, kPid, &t, &st));
  CHECK(st.errors == 0);
  CHECK(st.counted == 2);
  CHECK(t.count(kA) == 1);
  CHECK(t.count(kA + 7) == 1);
}

TEST_CASE("perf: lost, throttle and lost-samples records are counted", "[perf_sampler]") {
  Ring r;
  r.sample(PERF_SAMPLE_ADDR, kA << 21);
  r.header(PERF_RECORD_LOST, 24);  // u64 id, lost
  r.u64(7);
  r.u64(17);
  r.sample(PERF_SAMPLE_ADDR, kA << 21);
  r.header(PERF_RECORD_LOST, 32);  // with a sample_id_all trailer
  r.u64(7);
  r.u64(5);
  r.u64(0xdead);
  r.header(PERF_RECORD_LOST_SAMPLES, 16);
  r.u64(3);
  r.header(PERF_RECORD_THROTTLE, 32);
  r.u64(1);
  r.u64(7);
  r.u64(7);
  r.sample(PERF_SAMPLE_ADDR, kA << 21);
  perf::ChunkTable t(8);
  perf::DecodeStats st;
  REQUIRE(r.decode(PERF_SAMPLE_ADDR, kPid, &t, &st));
  CHECK(st.lost_records == 2);
  CHECK(st.lost == 25);
  CHECK(st.throttles == 1);
  CHECK(st.counted == 3);
  CHECK(t.count(kA) == 3);
  CHECK(st.errors == 0);
}

TEST_CASE("perf: other record types are skipped by their size", "[perf_sampler]") {
  Ring r;
  // A record of an unknown type whose payload looks like a sample: only a
  // decoder that skips by the header size stays out of it.
  r.header(0x4242, 40);
  r.header(PERF_RECORD_SAMPLE, 16);
  r.u64((kA + 5) << 21);
  r.u64(0);
  r.u64(0);
  r.header(PERF_RECORD_MMAP2, 64);
  for (int i = 0; i < 7; ++i) r.u64(0);
  r.sample(PERF_SAMPLE_ADDR, kA << 21);
  perf::ChunkTable t(8);
  perf::DecodeStats st;
  REQUIRE(r.decode(PERF_SAMPLE_ADDR, kPid, &t, &st));
  CHECK(st.other == 2);
  CHECK(st.samples == 1);
  CHECK(t.count(kA) == 1);
  CHECK(t.count(kA + 5) == 0);
  CHECK(st.errors == 0);
}

TEST_CASE("perf: malformed data stops decoding with an error, inside the ring", "[perf_sampler]") {
  const uint64_t type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR;
  Ring r;
  r.start_at(3 * r.size() + 100);
  perf::ChunkTable t(8);
  perf::DecodeStats st;
  r.sample(type, kA << 21);  // decoded before the bad record
  uint64_t expect_counted = 1;
  SECTION("header size 0") {
    r.header(PERF_RECORD_SAMPLE, 0);
    r.u64(0);
    r.sample(type, (kA + 1) << 21);
  }
  SECTION("header size below the header") {
    r.header(0x4242, 4);
    r.sample(type, (kA + 1) << 21);
  }
  SECTION("record larger than what is published") {
    r.header(PERF_RECORD_SAMPLE, 200);
    r.u64(kPid);
    r.u64(0);
  }
  SECTION("fewer bytes than a header before head") {
    const uint32_t partial = 0x42;
    r.put(&partial, sizeof partial);
  }
  SECTION("sample shorter than its fields") {
    r.header(PERF_RECORD_SAMPLE, 16);
    r.u64(kA << 21);
  }
  SECTION("lost record without its count") {
    r.header(PERF_RECORD_LOST, 16);
    r.u64(7);
  }
  SECTION("head more than a ring ahead of tail") {
    r.head = r.tail + r.size() + 8;
    expect_counted = 0;
  }
  SECTION("ring size not a power of two") {
    CHECK_FALSE(perf::decode_ring(r.data(), r.size() - 8, r.tail, r.head, perf::SampleLayout(type),
                                  kPid, &t, &st));
    CHECK(st.errors == 1);
    CHECK(st.samples == 0);
    return;
  }
  CHECK_FALSE(r.decode(type, kPid, &t, &st));
  CHECK(st.errors == 1);
  CHECK(st.counted == expect_counted);
  CHECK(t.count(kA + 1) == 0);
}

TEST_CASE("perf: a ring full of garbage ends decoding without straying", "[perf_sampler]") {
  Ring r;
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (uint64_t i = 0; i < r.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r.data()[i] = static_cast<unsigned char>(x);
  }
  for (uint64_t tail : {uint64_t{0}, uint64_t{7 * 4096 + 1000}, uint64_t{123}}) {
    perf::ChunkTable t(16);
    perf::DecodeStats st;
    const bool ok = perf::decode_ring(r.data(), r.size(), tail, tail + r.size(),
                                      perf::SampleLayout(kRich), 0, &t, &st);
    // Every record is at least 8 bytes, so a 4 KiB ring holds at most 512.
    const uint64_t records = st.samples + st.lost_records + st.throttles + st.other;
    CHECK(records <= r.size() / 8);
    CHECK(st.errors == (ok ? 0 : 1));
    CHECK(t.total() == st.counted);
  }
}

TEST_CASE("perf: the chunk table counts what does not fit as overflow", "[perf_sampler]") {
  perf::ChunkTable t(4);
  CHECK(t.max_chunks() == 4);
  for (uint64_t c : {10, 11, 12, 13}) CHECK(t.add(c));
  CHECK_FALSE(t.add(14));
  CHECK_FALSE(t.add(15, 3));
  CHECK(t.overflow() == 4);
  CHECK(t.add(10));  // known chunks still count when full
  CHECK(t.count(10) == 2);
  CHECK(t.count(14) == 0);
  CHECK(t.size() == 4);
  CHECK(t.max_count() == 2);
  CHECK(t.total() == 5);
  t.clear();
  CHECK(t.size() == 0);
  CHECK(t.overflow() == 0);
  CHECK(t.total() == 0);
  CHECK(t.count(10) == 0);
  CHECK(t.add(14));
  CHECK(t.count(14) == 1);

  // Through the decoder: samples of a third chunk do not fit in two.
  Ring r;
  for (int i = 0; i < 3; ++i) r.sample(PERF_SAMPLE_ADDR, kA << 21);
  r.sample(PERF_SAMPLE_ADDR, (kA + 1) << 21);
  for (int i = 0; i < 2; ++i) r.sample(PERF_SAMPLE_ADDR, (kA + 2) << 21);
  r.sample(PERF_SAMPLE_ADDR, kA << 21);
  perf::ChunkTable small(2);
  perf::DecodeStats st;
  REQUIRE(r.decode(PERF_SAMPLE_ADDR, 0, &small, &st));
  CHECK(st.samples == 7);
  CHECK(st.counted == 5);
  CHECK(st.overflow == 2);
  CHECK(small.overflow() == 2);
  CHECK(small.count(kA) == 4);
  CHECK(small.count(kA + 2) == 0);
}

TEST_CASE("perf: the chunk table agrees with a map on many chunks", "[perf_sampler]") {
  perf::ChunkTable t(1000);
  std::map<uint64_t, uint64_t> want;
  // A dense run (a heap) and a strided set (what collides in a weak hash).
  for (uint64_t i = 0; i < 500; ++i) want[kA + i] = i % 7 + 1;
  for (uint64_t i = 1; i <= 500; ++i) want[i << 16] = i % 5 + 1;
  for (const auto& [chunk, n] : want) {
    for (uint64_t k = 0; k < n; ++k) REQUIRE(t.add(chunk));
  }
  CHECK(t.size() == want.size());
  CHECK_FALSE(t.add(1));
  std::map<uint64_t, uint64_t> got;
  t.for_each([&](uint64_t chunk, uint64_t n) { got[chunk] = n; });
  CHECK(got == want);
  for (const auto& [chunk, n] : want) CHECK(t.count(chunk) == n);
  CHECK(t.max_count() == 7);
}

TEST_CASE("perf: sysfs formats and event strings encode like perf", "[perf_sampler]") {
  uint64_t cfg[3] = {};
  CHECK(perf::apply_format("config:0-7", 0xcd, cfg));
  CHECK(perf::apply_format("config:8-15", 0x1, cfg));
  CHECK(perf::apply_format("config1:0-15\n", 3, cfg));
  CHECK(perf::apply_format("config2:0", 1, cfg));
  CHECK(cfg[0] == 0x1cd);
  CHECK(cfg[1] == 3);
  CHECK(cfg[2] == 1);
  uint64_t split[3] = {};
  CHECK(perf::apply_format("config:0-7,32-35", 0xabc, split));
  CHECK(split[0] == ((uint64_t{0xa} << 32) | 0xbc));
  uint64_t bad[3] = {};
  CHECK_FALSE(perf::apply_format("config:0-7", 0x100, bad));  // too wide
  CHECK_FALSE(perf::apply_format("config3:0", 1, bad));
  CHECK_FALSE(perf::apply_format("config:7-0", 1, bad));
  CHECK_FALSE(perf::apply_format("config:0-64", 1, bad));
  CHECK_FALSE(perf::apply_format("config:", 1, bad));
  CHECK_FALSE(perf::apply_format("umask", 1, bad));
  CHECK(bad[0] == 0);

  auto intel = [](const char* term, char* buf, size_t cap, void*) {
    static const std::map<std::string, std::string> kFormats = {{"event", "config:0-7"},
                                                                {"umask", "config:8-15"},
                                                                {"ldlat", "config1:0-15"},
                                                                {"any", "config:21"}};
    auto it = kFormats.find(term);
    if (it == kFormats.end()) return false;
    std::snprintf(buf, cap, "%s", it->second.c_str());
    return true;
  };
  uint64_t loads[3] = {};
  CHECK(perf::encode_event("event=0xcd,umask=0x1,ldlat=3", intel, nullptr, loads));
  CHECK(loads[0] == 0x1cd);
  CHECK(loads[1] == 3);
  uint64_t stores[3] = {};
  CHECK(perf::encode_event("event=0xd0,umask=0x82\n", intel, nullptr, stores));
  CHECK(stores[0] == 0x82d0);
  uint64_t flag[3] = {};
  CHECK(perf::encode_event("event=0x3,any", intel, nullptr, flag));
  CHECK(flag[0] == ((uint64_t{1} << 21) | 0x3));
  uint64_t no[3] = {};
  CHECK_FALSE(perf::encode_event("event=0xcd,bogus=1", intel, nullptr, no));
  CHECK_FALSE(perf::encode_event("event=", intel, nullptr, no));
  CHECK_FALSE(perf::encode_event("event=0x1cd", intel, nullptr, no));
  CHECK_FALSE(perf::encode_event("event=0xcd;umask=1", intel, nullptr, no));
}

TEST_CASE("perf: CPU lists parse like /sys/devices/system/cpu/online", "[perf_sampler]") {
  int cpus[16];
  REQUIRE(perf::parse_cpu_list("0-3,5,7-8\n", cpus, 16) == 7);
  CHECK(std::vector<int>(cpus, cpus + 7) == std::vector<int>{0, 1, 2, 3, 5, 7, 8});
  CHECK(perf::parse_cpu_list("0", cpus, 16) == 1);
  CHECK(perf::parse_cpu_list("", cpus, 16) == 0);
  CHECK(perf::parse_cpu_list("3-1", cpus, 16) == -1);
  CHECK(perf::parse_cpu_list("0-3,", cpus, 16) == -1);
  CHECK(perf::parse_cpu_list("a", cpus, 16) == -1);
  CHECK(perf::parse_cpu_list("0-7", cpus, 4) == -1);
}

TEST_CASE("perf: pebs and ibs open here or say why in one line", "[perf_sampler]") {
  for (PerfSampler::Mode mode : {PerfSampler::Mode::kPebs, PerfSampler::Mode::kIbs}) {
    PerfSampler s(mode);
    char why[256];
    std::memset(why, 0, sizeof why);
    const bool ok = s.open(why, sizeof why);
    WARN(s.name() << (ok ? " opened: " : " unavailable: ") << why);
    const std::string line = why;
    CHECK(!line.empty());
    CHECK(line.rfind(std::string(s.name()) + ": ", 0) == 0);
    CHECK(line.find('\n') == std::string::npos);
    std::vector<Obs> obs;
    if (ok) {
      CHECK(s.rings() > 0);
      CHECK(s.collect(keep, &obs) == 0);
    } else {
      CHECK(s.rings() == 0);
      CHECK(s.collect(keep, &obs) == -EBADF);
    }
    s.close();
    s.close();
    CHECK(s.collect(keep, &obs) == -EBADF);
  }
}

TEST_CASE("perf: faults mode samples this process's threads through per-CPU rings",
          "[perf_sampler]") {
  PerfSampler s(PerfSampler::Mode::kFaults, 1);
  char why[256];
  if (!s.open(why, sizeof why)) {
    STRATA_SKIP("perf_event_open unusable here: " << why);
  }
  INFO(why);
  CHECK(std::string(why).rfind("faults: ", 0) == 0);
  REQUIRE(s.rings() > 0);

  constexpr size_t kChunk = size_t{2} << 20;
  constexpr size_t kPage = 4096;
  auto* raw = static_cast<char*>(
      mmap(nullptr, 7 * kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  REQUIRE(raw != MAP_FAILED);
  char* p =
      reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kChunk - 1) & ~(kChunk - 1));
  // One fault per 4 KiB page: no transparent huge pages (of any size).
  REQUIRE(madvise(p, 6 * kChunk, MADV_NOHUGEPAGE) == 0);
  auto touch = [&](int chunk, size_t pages) {
    for (size_t i = 0; i < pages; ++i) p[chunk * kChunk + i * kPage] = 1;
  };
  std::vector<Obs> obs;
  REQUIRE(s.collect(keep, &obs) == 0);  // start a clean interval
  obs.clear();

  // A forked child does not inherit the events (inherit_thread, else the
  // pid filter): its faults in chunk 4 must not show.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (size_t i = 0; i < 32; ++i) p[4 * kChunk + i * kPage] = 1;
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  touch(0, 512);
  touch(1, 256);
  touch(2, 128);
  // A thread created after open() is followed (inherit).
  std::thread t([&] { touch(3, 64); });
  t.join();

  REQUIRE(s.collect(keep, &obs) == 0);
  std::map<uintptr_t, Obs> by_start;
  for (const Obs& o : obs) {
    CHECK(o.end - o.start == kChunk);
    CHECK(o.fraction > 0);
    CHECK(o.fraction <= 1);
    by_start[o.start] = o;
  }
  auto fraction = [&](int chunk) {
    auto it = by_start.find(reinterpret_cast<uintptr_t>(p + chunk * kChunk));
    return it == by_start.end() ? -1.0 : it->second.fraction;
  };
  CHECK(fraction(0) == 1.0);
  CHECK(fraction(1) == 0.5);
  CHECK(fraction(2) == 0.25);
  CHECK(fraction(3) == 0.125);
  CHECK(fraction(4) == -1.0);  // the child's
  CHECK(fraction(5) == -1.0);  // untouched
  CHECK(s.stats().counted >= 960);
  CHECK(s.stats().errors == 0);
  CHECK(s.stats().lost == 0);

  s.close();
  CHECK(s.collect(keep, &obs) == -EBADF);
  munmap(raw, 7 * kChunk);
}
