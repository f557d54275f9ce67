// The raw profile: a compact, versioned binary file the preloaded library
// writes (at exit and on demand) and `strata-report` reads offline. Layout and
// versioning rule: docs/report.md.
//
//   file    = magic "STRATAPF" (8 bytes), u32 version, u32 reserved (0), record*
//   record  = u32 type, u32 length, payload[length]
//
// Native little-endian, fields packed (no padding), written field by field.
// A reader skips record types it does not know and ignores bytes after the
// fields it knows at the end of a record: new record types and new trailing
// fields need no version change. `kVersion` changes only when an existing
// field changes meaning or place; readers refuse newer versions.
//
// The Writer runs inside the malloc interposer: it never allocates, takes an
// fd and a caller-provided buffer, and writes with write(2). The reader is for
// the offline tool and allocates freely.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allocator/layout.h"
#include "policy/config.h"
#include "policy/migrate_plan.h"

namespace strata::profile {

inline constexpr char kMagic[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'P', 'F'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kFileHeaderBytes = 16;  // magic, version, reserved
inline constexpr size_t kRecordHeaderBytes = 8;
inline constexpr int kMaxFrames = 16;
using strata::kChunkShift;  // chunk id = address >> kChunkShift (2 MiB, allocator/layout.h)

enum class RecordType : uint32_t {
  kHeader = 1,    // exactly one, first
  kTier = 2,      // one per tier, fastest first
  kModule = 3,    // one per loaded ELF object
  kSite = 4,      // one per allocation site
  kInterval = 5,  // one per sampling interval, chunks included
  kMove = 6,      // one per chunk migration
  kEnd = 7,       // last: record counts; a file without it is truncated
};
const char* record_type_name(uint32_t type);  // "Header", ..., "unknown"

// ------------------------------------------------------------ records (writer)
// Strings are views: the writer copies them into the file, it keeps nothing.

struct HeaderRecord {
  int32_t pid = 0;
  uint64_t start_ns = 0;  // wall clock (CLOCK_REALTIME) when the profile started
  uint64_t end_ns = 0;    // ... and when it was written
  uint32_t interval_ms = 0;
  uint64_t chunk_bytes = uint64_t{1} << kChunkShift;
  std::string_view exe;           // /proc/self/exe
  std::string_view sampler;       // "abit", "pebs", ...
  std::string_view tiers_spec;    // STRATA_TIERS in effect ("" = discovered)
  std::string_view policy_spec;   // STRATA_POLICY in effect ("" = none)
  std::string_view migrate_spec;  // STRATA_MIGRATE in effect ("" = off)
};

struct TierRecord {
  uint8_t index = 0;
  std::string_view name;  // as in STRATA_TIERS / policy rules
  std::string_view kind;  // tier_kind_name(): "dram", "cxl", "pmem-node", "pmem-file"
  uint64_t cap = 0;       // capacity limit in bytes, 0 = none
  int32_t first_node = -1;
};

struct ModuleRecord {
  uint64_t base = 0;          // load bias (dl_phdr_info::dlpi_addr): address - base = ELF vaddr
  uint64_t start = 0;         // lowest mapped address of its PT_LOAD segments
  uint64_t end = 0;           // one past the highest
  std::string_view path;      // full path of the ELF file as mapped
  std::string_view build_id;  // raw NT_GNU_BUILD_ID bytes, "" = unknown (at most 255)
};

struct SiteRecord {
  // strata::site_hash(basename of the module holding frames[0], frames[0] - base).
  uint64_t hash = 0;
  uint32_t nframes = 0;              // at most kMaxFrames
  uint64_t frames[kMaxFrames] = {};  // return addresses, innermost (the allocation call) first
  uint64_t allocs = 0;
  uint64_t frees = 0;
  uint64_t bytes_allocated = 0;
  uint64_t bytes_freed = 0;
  uint64_t live_bytes = 0;   // allocated and not freed when the profile was written
  uint64_t lifetime_ns = 0;  // sum of the lifetimes of the freed blocks
  // Per sampling interval, the site's live sampled bytes in each chunk, summed:
  // byte_intervals += bytes; heat_byte_intervals += bytes * heat(chunk);
  // tier_byte_intervals[tier of the chunk] += bytes.
  double heat_byte_intervals = 0;
  double byte_intervals = 0;
  double tier_byte_intervals[kMaxTiers] = {};
  int8_t placed_tier = -1;  // tier most of its bytes were placed on, -1 = unknown
};

struct IntervalRecord {
  uint32_t index = 0;
  uint64_t time_ns = 0;               // end of the interval, since HeaderRecord::start_ns
  uint64_t resident[kMaxTiers] = {};  // bytes per tier
  uint64_t promoted_bytes = 0;
  uint64_t demoted_bytes = 0;
  uint32_t promoted = 0;  // chunks
  uint32_t demoted = 0;
  uint32_t failures = 0;  // moves that move_pages refused
};

struct ChunkRecord {
  uint64_t id = 0;     // address >> kChunkShift
  float heat = 0;      // [0, 1], the heat model's value at the end of the interval
  int8_t tier = -1;    // -1 = unknown
  uint32_t bytes = 0;  // bytes of the chunk in use (resident), at most chunk_bytes
};

struct MoveRecord {
  uint32_t interval = 0;
  uint64_t chunk = 0;
  int8_t from = -1;
  int8_t to = -1;
  uint64_t bytes = 0;
  MoveReason reason = MoveReason::kPromote;
};

// ---------------------------------------------------------------------- writer
class Writer {
 public:
  using WriteFn = ssize_t (*)(int fd, const void* buf, size_t n);
  static constexpr size_t kMinBuffer = 64;

  // Writes go to `fd` through buf[0, cap) (cap >= kMinBuffer; the caller keeps
  // the buffer alive until finish()). `write_fn` replaces write(2) (tests).
  // The file header is buffered at once. Never allocates.
  Writer(int fd, char* buf, size_t cap, WriteFn write_fn = nullptr);

  // Each returns ok(): false after the first failure, and then does nothing.
  // header() must be the first record and come once; a record given while an
  // interval still expects chunks is a misuse (EINVAL).
  bool header(const HeaderRecord& h);
  bool tier(const TierRecord& t);
  bool module(const ModuleRecord& m);
  bool site(const SiteRecord& s);  // nframes is clamped to kMaxFrames
  bool interval(const IntervalRecord& iv, std::span<const ChunkRecord> chunks);
  // The same, streamed: begin_interval, then exactly nchunks calls of chunk().
  bool begin_interval(const IntervalRecord& iv, uint32_t nchunks);
  bool chunk(const ChunkRecord& c);
  bool move(const MoveRecord& m);
  bool flush();   // writes out the buffer
  bool finish();  // End record + flush; true when everything reached the fd

  bool ok() const { return error_ == 0; }
  int error() const { return error_; }  // errno of the first failure, EINVAL for misuse
  uint64_t bytes_written() const { return written_; }

 private:
  bool begin(RecordType type, uint64_t length);
  void put(const void* p, size_t n);
  template <class T>
  void put_value(T v) {
    put(&v, sizeof v);
  }
  void put_string(std::string_view s);
  void fail(int err);

  int fd_;
  char* buf_;
  size_t cap_;
  size_t used_ = 0;
  WriteFn write_;
  int error_ = 0;
  bool have_header_ = false;
  bool finished_ = false;
  uint32_t chunks_left_ = 0;
  uint64_t written_ = 0;
  uint64_t counts_[8] = {};  // records per RecordType
  uint64_t chunk_count_ = 0;
};

// ---------------------------------------------------------------------- reader
struct Header {
  uint32_t version = 0;  // of the file
  int32_t pid = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint32_t interval_ms = 0;
  uint64_t chunk_bytes = 0;
  std::string exe, sampler, tiers_spec, policy_spec, migrate_spec;
};

struct Tier {
  uint8_t index = 0;
  std::string name, kind;
  uint64_t cap = 0;
  int32_t first_node = -1;
};

struct Module {
  uint64_t base = 0, start = 0, end = 0;
  std::string path;
  std::string build_id;  // raw bytes
};

struct Interval {
  IntervalRecord rec;
  std::vector<ChunkRecord> chunks;
};

struct Profile {
  Header header;
  std::vector<Tier> tiers;  // in file order (fastest first)
  std::vector<Module> modules;
  std::vector<SiteRecord> sites;
  std::vector<Interval> intervals;
  std::vector<MoveRecord> moves;
  uint64_t unknown_records = 0;  // skipped: written by a newer strata
};

// Parses a whole profile. On failure returns false and sets *error to one line
// that names the file (`name`) and says what was expected, e.g.
//   NAME: not a strata profile (starts with "ELF...", expected "STRATAPF")
//   NAME: profile format version 2 is newer than this reader (expected 1)
//   NAME: truncated at byte 1234: Interval record needs 560 bytes, 100 left
bool parse(std::span<const unsigned char> data, std::string_view name, Profile* out,
           std::string* error);
// Reads the file at `path` and parses it.
bool read_file(const char* path, Profile* out, std::string* error);

}  // namespace strata::profile
