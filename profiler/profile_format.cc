#include "profiler/profile_format.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace strata::profile {

static_assert(std::endian::native == std::endian::little,
              "the raw profile is little-endian; a big-endian writer needs byte swaps");

namespace {

// Payload sizes of the fixed parts of format version 1 (see docs/report.md).
constexpr size_t kStrHeader = 4;  // u32 length, then the bytes
constexpr size_t kHeaderFixed = 4 + 8 + 8 + 4 + 8;
constexpr size_t kTierFixed = 1 + 4 + 8;
constexpr size_t kModuleFixed = 8 + 8 + 8;
constexpr size_t kSiteFixed = 8 + 6 * 8 + 2 * 8 + kMaxTiers * 8 + 1 + 1;
constexpr size_t kIntervalFixed = 4 + 8 + kMaxTiers * 8 + 8 + 8 + 4 + 4 + 4 + 4 + 4;
constexpr size_t kChunkRecordBytes = 8 + 4 + 1 + 4;
constexpr size_t kMoveBytes = 4 + 8 + 1 + 1 + 1 + 8;
constexpr size_t kEndCounts = 7;  // header, tier, module, site, interval, move, chunk

size_t str_size(std::string_view s) {
  return kStrHeader + s.size();
}

ssize_t sys_write(int fd, const void* buf, size_t n) {
  return ::write(fd, buf, n);
}

}  // namespace

const char* record_type_name(uint32_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kHeader:
      return "Header";
    case RecordType::kTier:
      return "Tier";
    case RecordType::kModule:
      return "Module";
    case RecordType::kSite:
      return "Site";
    case RecordType::kInterval:
      return "Interval";
    case RecordType::kMove:
      return "Move";
    case RecordType::kEnd:
      return "End";
  }
  return "unknown";
}

// ====================================================================== writer

Writer::Writer(int fd, char* buf, size_t cap, WriteFn write_fn)
    : fd_(fd), buf_(buf), cap_(cap), write_(write_fn != nullptr ? write_fn : sys_write) {
  if (buf == nullptr || cap < kMinBuffer || fd < 0) {
    fail(EINVAL);
    return;
  }
  put(kMagic, sizeof kMagic);
  put_value<uint32_t>(kVersion);
  put_value<uint32_t>(0);
}

void Writer::fail(int err) {
  if (error_ == 0) error_ = err != 0 ? err : EIO;
}

bool Writer::flush() {
  size_t off = 0;
  while (error_ == 0 && off < used_) {
    ssize_t n = write_(fd_, buf_ + off, used_ - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(errno);
    } else if (n == 0) {
      fail(EIO);  // a regular file or pipe never accepts 0 of n > 0 bytes
    } else {
      off += static_cast<size_t>(n);
      written_ += static_cast<uint64_t>(n);
    }
  }
  used_ = 0;
  return ok();
}

void Writer::put(const void* p, size_t n) {
  const auto* src = static_cast<const char*>(p);
  while (n > 0 && error_ == 0) {
    if (used_ == cap_ && !flush()) return;
    size_t take = cap_ - used_ < n ? cap_ - used_ : n;
    std::memcpy(buf_ + used_, src, take);
    used_ += take;
    src += take;
    n -= take;
  }
}

void Writer::put_string(std::string_view s) {
  put_value<uint32_t>(static_cast<uint32_t>(s.size()));
  put(s.data(), s.size());
}

bool Writer::begin(RecordType type, uint64_t length) {
  if (error_ != 0) return false;
  if (finished_ || chunks_left_ != 0 || (type != RecordType::kHeader) != have_header_) {
    fail(EINVAL);
    return false;
  }
  if (length > UINT32_MAX) {
    fail(EFBIG);
    return false;
  }
  put_value<uint32_t>(static_cast<uint32_t>(type));
  put_value<uint32_t>(static_cast<uint32_t>(length));
  counts_[static_cast<uint32_t>(type)]++;
  return error_ == 0;
}

bool Writer::header(const HeaderRecord& h) {
  uint64_t len = kHeaderFixed + str_size(h.exe) + str_size(h.sampler) + str_size(h.tiers_spec) +
                 str_size(h.policy_spec) + str_size(h.migrate_spec);
  if (!begin(RecordType::kHeader, len)) return false;
  have_header_ = true;
  put_value(h.pid);
  put_value(h.start_ns);
  put_value(h.end_ns);
  put_value(h.interval_ms);
  put_value(h.chunk_bytes);
  put_string(h.exe);
  put_string(h.sampler);
  put_string(h.tiers_spec);
  put_string(h.policy_spec);
  put_string(h.migrate_spec);
  return ok();
}

bool Writer::tier(const TierRecord& t) {
  if (!begin(RecordType::kTier, kTierFixed + str_size(t.name) + str_size(t.kind))) return false;
  put_value(t.index);
  put_value(t.first_node);
  put_value(t.cap);
  put_string(t.name);
  put_string(t.kind);
  return ok();
}

bool Writer::module(const ModuleRecord& m) {
  std::string_view id = m.build_id.substr(0, 255);
  if (!begin(RecordType::kModule, kModuleFixed + str_size(m.path) + str_size(id))) return false;
  put_value(m.base);
  put_value(m.start);
  put_value(m.end);
  put_string(m.path);
  put_string(id);
  return ok();
}

bool Writer::site(const SiteRecord& s) {
  uint32_t nframes = s.nframes < kMaxFrames ? s.nframes : kMaxFrames;
  if (!begin(RecordType::kSite, kSiteFixed + uint64_t{nframes} * 8)) return false;
  put_value(s.hash);
  put_value(s.allocs);
  put_value(s.frees);
  put_value(s.bytes_allocated);
  put_value(s.bytes_freed);
  put_value(s.live_bytes);
  put_value(s.lifetime_ns);
  put_value(s.heat_byte_intervals);
  put_value(s.byte_intervals);
  for (double v : s.tier_byte_intervals) put_value(v);
  put_value(s.placed_tier);
  put_value(static_cast<uint8_t>(nframes));
  for (uint32_t i = 0; i < nframes; ++i) put_value(s.frames[i]);
  return ok();
}

bool Writer::begin_interval(const IntervalRecord& iv, uint32_t nchunks) {
  if (!begin(RecordType::kInterval, kIntervalFixed + uint64_t{nchunks} * kChunkRecordBytes))
    return false;
  put_value(iv.index);
  put_value(iv.time_ns);
  for (uint64_t v : iv.resident) put_value(v);
  put_value(iv.promoted_bytes);
  put_value(iv.demoted_bytes);
  put_value(iv.promoted);
  put_value(iv.demoted);
  put_value(iv.failures);
  put_value(nchunks);
  put_value(
      static_cast<uint32_t>(kChunkRecordBytes));  // stride: a reader skips trailing chunk fields
  chunks_left_ = nchunks;
  return ok();
}

bool Writer::chunk(const ChunkRecord& c) {
  if (error_ != 0) return false;
  if (chunks_left_ == 0) {
    fail(EINVAL);
    return false;
  }
  --chunks_left_;
  ++chunk_count_;
  put_value(c.id);
  put_value(c.heat);
  put_value(c.tier);
  put_value(c.bytes);
  return ok();
}

bool Writer::interval(const IntervalRecord& iv, std::span<const ChunkRecord> chunks) {
  if (chunks.size() > UINT32_MAX) {
    fail(EFBIG);
    return false;
  }
  if (!begin_interval(iv, static_cast<uint32_t>(chunks.size()))) return false;
  for (const ChunkRecord& c : chunks)
    if (!chunk(c)) return false;
  return ok();
}

bool Writer::move(const MoveRecord& m) {
  if (!begin(RecordType::kMove, kMoveBytes)) return false;
  put_value(m.interval);
  put_value(m.chunk);
  put_value(m.from);
  put_value(m.to);
  put_value(static_cast<uint8_t>(m.reason));
  put_value(m.bytes);
  return ok();
}

bool Writer::finish() {
  if (error_ == 0 && !have_header_) fail(EINVAL);
  if (!begin(RecordType::kEnd, kEndCounts * 8)) return false;
  for (auto t : {RecordType::kHeader, RecordType::kTier, RecordType::kModule, RecordType::kSite,
                 RecordType::kInterval, RecordType::kMove})
    put_value<uint64_t>(counts_[static_cast<uint32_t>(t)]);
  put_value<uint64_t>(chunk_count_);
  finished_ = true;
  return flush();
}

// ====================================================================== reader

namespace {

// Bounds-checked little-endian cursor over one record's payload.
class Cursor {
 public:
  Cursor(const unsigned char* p, size_t n) : p_(p), n_(n) {}
  template <class T>
  bool get(T* v) {
    if (n_ - pos_ < sizeof(T)) return false;
    std::memcpy(v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool str(std::string* s) {
    uint32_t len = 0;
    if (!get(&len) || n_ - pos_ < len) return false;
    s->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return true;
  }
  bool skip(size_t n) {
    if (n_ - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  size_t left() const { return n_ - pos_; }

 private:
  const unsigned char* p_;
  size_t n_;
  size_t pos_ = 0;
};

std::string printable(std::span<const unsigned char> bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

float clean_heat(float h) {
  if (!(h >= 0.0F)) return 0.0F;  // NaN or negative
  return h > 1.0F ? 1.0F : h;
}

double clean_nonneg(double v) {
  return std::isfinite(v) && v > 0 ? v : 0.0;
}

// The record readers: each reads one record's fields from c into the profile
// and returns "" or what is corrupt; `short_fields` is the message for a
// record too short for its fields.
std::string read_header(Cursor& c, Header* h, const std::string& short_fields) {
  if (!c.get(&h->pid) || !c.get(&h->start_ns) || !c.get(&h->end_ns) || !c.get(&h->interval_ms) ||
      !c.get(&h->chunk_bytes) || !c.str(&h->exe) || !c.str(&h->sampler) || !c.str(&h->tiers_spec) ||
      !c.str(&h->policy_spec) || !c.str(&h->migrate_spec))
    return short_fields;
  if (h->chunk_bytes == 0 || (h->chunk_bytes & (h->chunk_bytes - 1)) != 0)
    return "chunk size " + std::to_string(h->chunk_bytes) + " (expected a power of two)";
  return {};
}

std::string read_tier(Cursor& c, Profile* out, const std::string& short_fields) {
  Tier t;
  if (!c.get(&t.index) || !c.get(&t.first_node) || !c.get(&t.cap) || !c.str(&t.name) ||
      !c.str(&t.kind))
    return short_fields;
  if (t.index != out->tiers.size() || t.index >= kMaxTiers)
    return "tier index " + std::to_string(t.index) + " (expected " +
           std::to_string(out->tiers.size()) + ", tiers in order, at most " +
           std::to_string(kMaxTiers) + ")";
  out->tiers.push_back(std::move(t));
  return {};
}

std::string read_module(Cursor& c, Profile* out, const std::string& short_fields) {
  Module m;
  if (!c.get(&m.base) || !c.get(&m.start) || !c.get(&m.end) || !c.str(&m.path) ||
      !c.str(&m.build_id))
    return short_fields;
  out->modules.push_back(std::move(m));
  return {};
}

std::string read_site(Cursor& c, Profile* out, const std::string& short_fields) {
  SiteRecord s;
  uint8_t nframes = 0;
  bool okf = c.get(&s.hash) && c.get(&s.allocs) && c.get(&s.frees) && c.get(&s.bytes_allocated) &&
             c.get(&s.bytes_freed) && c.get(&s.live_bytes) && c.get(&s.lifetime_ns) &&
             c.get(&s.heat_byte_intervals) && c.get(&s.byte_intervals);
  for (double& v : s.tier_byte_intervals) okf = okf && c.get(&v);
  okf = okf && c.get(&s.placed_tier) && c.get(&nframes);
  if (!okf) return short_fields;
  if (nframes > kMaxFrames)
    return std::to_string(nframes) + " frames (expected at most " + std::to_string(kMaxFrames) +
           ")";
  s.nframes = nframes;
  for (uint32_t i = 0; i < nframes; ++i)
    if (!c.get(&s.frames[i])) return short_fields;
  s.heat_byte_intervals = clean_nonneg(s.heat_byte_intervals);
  s.byte_intervals = clean_nonneg(s.byte_intervals);
  for (double& v : s.tier_byte_intervals) v = clean_nonneg(v);
  out->sites.push_back(s);
  return {};
}

// *nchunks_out: the chunk records it held.
std::string read_interval(Cursor& c, Profile* out, uint64_t* nchunks_out,
                          const std::string& short_fields) {
  Interval iv;
  IntervalRecord& r = iv.rec;
  uint32_t nchunks = 0;
  uint32_t stride = 0;
  bool okf = c.get(&r.index) && c.get(&r.time_ns);
  for (uint64_t& v : r.resident) okf = okf && c.get(&v);
  okf = okf && c.get(&r.promoted_bytes) && c.get(&r.demoted_bytes) && c.get(&r.promoted) &&
        c.get(&r.demoted) && c.get(&r.failures) && c.get(&nchunks) && c.get(&stride);
  if (!okf) return short_fields;
  if (stride < kChunkRecordBytes)
    return "chunk stride " + std::to_string(stride) + " (expected at least " +
           std::to_string(kChunkRecordBytes) + ")";
  if (uint64_t{nchunks} * stride > c.left())
    return std::to_string(nchunks) + " chunks need " + std::to_string(uint64_t{nchunks} * stride) +
           " bytes, " + std::to_string(c.left()) + " left";
  iv.chunks.resize(nchunks);
  for (ChunkRecord& ch : iv.chunks) {
    c.get(&ch.id);
    c.get(&ch.heat);
    c.get(&ch.tier);
    c.get(&ch.bytes);
    c.skip(stride - kChunkRecordBytes);
    ch.heat = clean_heat(ch.heat);
  }
  *nchunks_out = nchunks;
  out->intervals.push_back(std::move(iv));
  return {};
}

std::string read_move(Cursor& c, Profile* out, const std::string& short_fields) {
  MoveRecord m;
  uint8_t reason = 0;
  if (!c.get(&m.interval) || !c.get(&m.chunk) || !c.get(&m.from) || !c.get(&m.to) ||
      !c.get(&reason) || !c.get(&m.bytes))
    return short_fields;
  if (reason > static_cast<uint8_t>(MoveReason::kSwapIn))
    return "move reason " + std::to_string(reason) + " (expected 0-3)";
  m.reason = static_cast<MoveReason>(reason);
  out->moves.push_back(m);
  return {};
}

// The End record's counts against what was read (`counts`).
std::string read_end(Cursor& c, const uint64_t* counts, const std::string& short_fields) {
  uint64_t want[kEndCounts] = {};
  for (uint64_t& v : want)
    if (!c.get(&v)) return short_fields;
  static const char* const kWhat[kEndCounts] = {"Header",   "Tier", "Module", "Site",
                                                "Interval", "Move", "chunk"};
  for (size_t i = 0; i < kEndCounts; ++i)
    if (want[i] != counts[i])
      return "it counts " + std::to_string(want[i]) + " " + kWhat[i] + " records, the file has " +
             std::to_string(counts[i]) + " (expected equal counts)";
  return {};
}

// One record of type `type`; counts[] as the End record counts them.
std::string read_record(uint32_t type, Cursor& c, Profile* out, uint64_t* counts, bool* have_end,
                        const std::string& short_fields) {
  std::string bad;
  switch (static_cast<RecordType>(type)) {
    case RecordType::kHeader:
      if (counts[0] != 0) return "a second Header record (expected one)";
      bad = read_header(c, &out->header, short_fields);
      break;
    case RecordType::kTier:
      bad = read_tier(c, out, short_fields);
      break;
    case RecordType::kModule:
      bad = read_module(c, out, short_fields);
      break;
    case RecordType::kSite:
      bad = read_site(c, out, short_fields);
      break;
    case RecordType::kInterval: {
      uint64_t nchunks = 0;
      bad = read_interval(c, out, &nchunks, short_fields);
      if (bad.empty()) counts[6] += nchunks;
      break;
    }
    case RecordType::kMove:
      bad = read_move(c, out, short_fields);
      break;
    case RecordType::kEnd:
      bad = read_end(c, counts, short_fields);
      if (bad.empty()) *have_end = true;
      return bad;
    default:
      out->unknown_records++;  // a newer writer's record type: skipped
      return {};
  }
  if (bad.empty()) counts[type - static_cast<uint32_t>(RecordType::kHeader)]++;
  return bad;
}

}  // namespace

bool parse(std::span<const unsigned char> data, std::string_view name, Profile* out,
           std::string* error) {
  *out = Profile{};
  std::string file(name);
  auto fail = [&](const std::string& what) {
    *error = file + ": " + what;
    return false;
  };
  const size_t magic_len = sizeof kMagic;
  size_t have = data.size() < magic_len ? data.size() : magic_len;
  if (data.empty())
    return fail("empty file (expected a strata profile starting with \"STRATAPF\")");
  if (std::memcmp(data.data(), kMagic, have) != 0)
    return fail("not a strata profile (starts with \"" + printable(data.first(have)) +
                "\", expected \"STRATAPF\")");
  if (data.size() < kFileHeaderBytes)
    return fail("truncated at byte " + std::to_string(data.size()) + ": the file header needs " +
                std::to_string(kFileHeaderBytes) + " bytes");
  uint32_t version = 0;
  std::memcpy(&version, data.data() + magic_len, sizeof version);
  if (version > kVersion)
    return fail("profile format version " + std::to_string(version) +
                " is newer than this reader (expected " + std::to_string(kVersion) +
                "; use the strata-report of the strata that wrote it)");
  if (version == 0)
    return fail("bad profile format version 0 (expected " + std::to_string(kVersion) + ")");
  out->header.version = version;

  uint64_t counts[kEndCounts] = {};  // as read
  bool have_end = false;
  size_t pos = kFileHeaderBytes;
  while (pos < data.size()) {
    const size_t at = pos;
    if (data.size() - pos < kRecordHeaderBytes)
      return fail("truncated at byte " + std::to_string(at) + ": a record header needs " +
                  std::to_string(kRecordHeaderBytes) + " bytes, " +
                  std::to_string(data.size() - pos) + " left");
    uint32_t type = 0;
    uint32_t len = 0;
    std::memcpy(&type, data.data() + pos, 4);
    std::memcpy(&len, data.data() + pos + 4, 4);
    pos += kRecordHeaderBytes;
    const std::string rname = record_type_name(type);
    if (data.size() - pos < len)
      return fail("truncated at byte " + std::to_string(at) + ": " + rname + " record needs " +
                  std::to_string(kRecordHeaderBytes + uint64_t{len}) + " bytes, " +
                  std::to_string(data.size() - at) + " left");
    Cursor c(data.data() + pos, len);
    pos += len;
    auto corrupt = [&](const std::string& what) {
      return fail("corrupt " + rname + " record at byte " + std::to_string(at) + ": " + what);
    };
    if (have_end) return corrupt("record after the End record (expected end of file)");
    if (counts[0] == 0 && type != static_cast<uint32_t>(RecordType::kHeader))
      return fail("corrupt file at byte " + std::to_string(at) + ": " + rname +
                  " record before the Header record (expected the Header first)");
    const std::string bad =
        read_record(type, c, out, counts, &have_end,
                    "length " + std::to_string(len) + " is too short for its fields");
    if (!bad.empty()) return corrupt(bad);
  }
  if (counts[0] == 0)
    return fail("truncated at byte " + std::to_string(data.size()) +
                ": no Header record (expected a Header record after the file header)");
  if (!have_end)
    return fail("truncated at byte " + std::to_string(data.size()) +
                ": no End record (expected the writer to finish the file)");
  return true;
}

bool read_file(const char* path, Profile* out, std::string* error) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::string(path) + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::vector<unsigned char> data;
  unsigned char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = std::string(path) + ": cannot read: " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  ::close(fd);
  return parse(data, path, out, error);
}

}  // namespace strata::profile
