#include "profiler/trace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace strata {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, int base, uint64_t* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, *out, base);
  return ec == std::errc() && p == end;
}

bool parse_chunk(std::string_view s, uint64_t* out) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    return parse_u64(s.substr(2), 16, out);
  return parse_u64(s, 10, out);
}

bool parse_fraction(std::string_view s, double* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && p == end && *out >= 0 && *out <= 1;  // NaN fails both
}

}  // namespace

bool parse_trace(std::string_view text, std::string_view name, std::vector<Observation>* out,
                 std::vector<std::string>* errors) {
  out->clear();
  const size_t errors_before = errors->size();
  uint64_t last_interval = 0;
  size_t lineno = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++lineno;
    std::string_view line = raw;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;

    auto fail = [&](const std::string& what) {
      std::string msg(name);
      msg += ':' + std::to_string(lineno) + ": \"";
      msg += trim(raw);
      msg += "\": " + what;
      errors->push_back(std::move(msg));
    };
    std::string_view field[4];
    size_t nfields = 0;
    while (!line.empty() && nfields < 4) {
      size_t end = 0;
      while (end < line.size() && !is_blank(line[end])) ++end;
      field[nfields++] = line.substr(0, end);
      line = trim(line.substr(end));
    }
    if (nfields != 3) {
      fail(std::string(nfields < 3 ? "too few" : "too many") +
           " fields (expected INTERVAL CHUNK REFERENCED_FRACTION)");
      continue;
    }
    Observation o{};
    if (!parse_u64(field[0], 10, &o.interval)) {
      fail("interval \"" + std::string(field[0]) + "\" (expected an unsigned decimal integer)");
      continue;
    }
    if (!parse_chunk(field[1], &o.chunk)) {
      fail("chunk \"" + std::string(field[1]) +
           "\" (expected an unsigned 64-bit integer, decimal or 0x hex)");
      continue;
    }
    if (o.chunk == UINT64_MAX) {
      fail("chunk id 0xffffffffffffffff is reserved (expected a smaller id)");
      continue;
    }
    if (!parse_fraction(field[2], &o.fraction)) {
      fail("referenced fraction \"" + std::string(field[2]) + "\" (expected a number in [0, 1])");
      continue;
    }
    if (!out->empty() && o.interval < last_interval) {
      fail("interval " + std::to_string(o.interval) + " after interval " +
           std::to_string(last_interval) + " (expected intervals in non-decreasing order)");
      continue;
    }
    last_interval = o.interval;
    out->push_back(o);
  }
  return errors->size() == errors_before;
}

bool load_trace(const char* path, std::vector<Observation>* out, std::vector<std::string>* errors) {
  out->clear();
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    errors->push_back(std::string(path) + ": cannot open (" + std::strerror(errno) + ")");
    return false;
  }
  std::string text;
  char buf[1 << 14];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) {
    errors->push_back(std::string(path) + ": cannot read (" + std::strerror(err) + ")");
    return false;
  }
  return parse_trace(text, path, out, errors);
}

TraceReplay::TraceReplay(const ReplayConfig& cfg) : cfg_(cfg), heat_(cfg.migrate, cfg.max_chunks) {
  if (cfg_.tiers.empty()) cfg_.tiers.emplace_back();  // one unlimited tier
  if (cfg_.tiers.size() > kMaxTiers) cfg_.tiers.resize(kMaxTiers);
  resident_.assign(cfg_.tiers.size(), 0);
}

int TraceReplay::tier_of(uint64_t chunk) const {
  auto it = index_.find(chunk);
  return it == index_.end() ? -1 : chunks_[it->second].tier;
}

ReplayStep TraceReplay::step(uint64_t interval, std::span<const Observation> obs) {
  const int ntiers = static_cast<int>(cfg_.tiers.size());
  ReplayStep r;
  r.interval = interval;
  for (const Observation& o : obs) {
    auto [it, fresh] = index_.try_emplace(o.chunk, chunks_.size());
    if (fresh) {
      PlanChunk c;
      c.id = o.chunk;
      c.bytes = cfg_.chunk_bytes;
      c.pinned = std::find(cfg_.pinned.begin(), cfg_.pinned.end(), o.chunk) != cfg_.pinned.end();
      c.tier = std::min(cfg_.initial_tier, ntiers - 1);
      if (cfg_.initial_tier < 0) {
        c.tier = ntiers - 1;
        for (int t = 0; t < ntiers; ++t) {
          const PlanTier& tier = cfg_.tiers[t];
          const uint64_t after = resident_[t] + c.bytes;
          if (tier.enabled && (tier.limit == 0 || after <= tier.limit) &&
              (tier.capacity == 0 || after <= tier.capacity)) {
            c.tier = t;
            break;
          }
        }
      }
      resident_[c.tier] += c.bytes;
      chunks_.push_back(c);
    }
    const PlanChunk& c = chunks_[it->second];
    const double referenced = std::clamp(o.fraction, 0.0, 1.0) * static_cast<double>(c.bytes);
    r.referenced_bytes += referenced;
    if (c.tier == 0) r.fast_referenced_bytes += referenced;
    if (!cfg_.relative) heat_.observe(interval, o.chunk, o.fraction);
  }
  if (!cfg_.relative) {
    heat_.end_interval(interval);
  } else {
    // As the engine does: the window's most referenced chunk reads 1; a
    // window whose top saw almost nothing is skipped (no decay either).
    double top = 0;
    for (const Observation& o : obs) top = std::max(top, std::clamp(o.fraction, 0.0, 1.0));
    if (top >= kMinTopFraction) {
      ++heat_seq_;
      for (const Observation& o : obs) heat_.observe(heat_seq_, o.chunk, o.fraction / top);
      heat_.end_interval(heat_seq_);
    }
  }
  for (PlanChunk& c : chunks_) {
    c.heat = heat_.heat(c.id);
    c.recent = heat_.recent(c.id);
  }

  std::vector<PlanTier> tiers = cfg_.tiers;
  for (int t = 0; t < ntiers; ++t) tiers[t].resident = resident_[t];
  plan_migrations(tiers, chunks_, cfg_.migrate, interval, interval_budget(cfg_.migrate), &plan_);
  for (const Move& m : plan_.moves) {
    PlanChunk& c = chunks_[index_.at(m.chunk)];
    c.tier = m.to;
    c.moved_at = interval;
    resident_[m.from] -= m.bytes;
    resident_[m.to] += m.bytes;
  }

  r.moves = plan_.moves;
  r.stats = plan_.stats;
  r.resident = resident_;
  for (const PlanChunk& c : chunks_)
    if (c.tier == 0) r.fast.push_back(c.id);
  std::sort(r.fast.begin(), r.fast.end());
  return r;
}

std::vector<ReplayStep> replay_trace(std::span<const Observation> trace, const ReplayConfig& cfg) {
  std::vector<Observation> obs(trace.begin(), trace.end());
  std::stable_sort(obs.begin(), obs.end(), [](const Observation& a, const Observation& b) {
    return a.interval < b.interval;
  });
  std::vector<ReplayStep> steps;
  if (obs.empty()) return steps;
  TraceReplay replay(cfg);
  size_t k = 0;
  for (uint64_t i = obs.front().interval;; ++i) {
    const size_t first = k;
    while (k < obs.size() && obs[k].interval == i) ++k;
    steps.push_back(replay.step(i, std::span(obs).subspan(first, k - first)));
    if (i == obs.back().interval) break;
  }
  return steps;
}

TraceSampler::TraceSampler(const char* path) : path_(path) {}
TraceSampler::~TraceSampler() {
  close();
}

bool TraceSampler::open(char* why, size_t cap) {
  // Non-blocking and regular files only: a FIFO must not hang the program.
  fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) {
    std::snprintf(why, cap, "trace: %s: %s", path_.c_str(), std::strerror(errno));
    return false;
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::snprintf(why, cap, "trace: %s: not a regular file", path_.c_str());
    close();
    return false;
  }
  std::snprintf(why, cap, "trace: replaying %s", path_.c_str());
  return true;
}

void TraceSampler::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int TraceSampler::collect(sampling::Sink sink, void* ctx) {
  if (fd_ < 0) return -EBADF;
  char buf[16384];
  int err = 0;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = -errno;
    if (n <= 0) break;
    partial_.append(buf, static_cast<size_t>(n));
  }
  size_t last_nl = partial_.rfind('\n');
  if (last_nl != std::string::npos) {
    std::vector<Observation> obs;
    std::vector<std::string> errors;
    std::string_view text(partial_.data(), last_nl + 1);
    // Line by line, so one bad line does not drop the others.
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line = text.substr(pos, nl - pos + 1);
      pos = nl + 1;
      errors.clear();
      if (parse_trace(line, path_, &obs, &errors))
        pending_.insert(pending_.end(), obs.begin(), obs.end());
      else
        ++bad_;
    }
    partial_.erase(0, last_nl + 1);
  }
  size_t keep = 0;
  for (const Observation& o : pending_) {
    if (o.interval > n_) {
      pending_[keep++] = o;
      continue;
    }
    sampling::Obs s;
    s.start = static_cast<uintptr_t>(o.chunk) << sampling::kChunkShift;
    s.end = s.start + sampling::kChunkBytes;
    s.fraction = o.fraction;
    sink(s, ctx);
  }
  pending_.resize(keep);
  ++n_;
  return err;
}

}  // namespace strata
