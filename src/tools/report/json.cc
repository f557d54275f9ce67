// JSON output; every field is documented in docs/report.md (schema_version 1).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "src/tools/report/report.h"

namespace strata::report {
namespace {

// A small pretty-printing emitter: two-space indentation, arrays of numbers
// on one line. Values are JSON tokens made by the helpers below.
class Emitter {
 public:
  std::string take() { return std::move(out_) + "\n"; }
  void begin_object(const char* key = nullptr) { open(key, '{', false); }
  void end_object() { close('}'); }
  void begin_array(const char* key = nullptr, bool one_line = false) { open(key, '[', one_line); }
  void end_array() { close(']'); }
  void field(const char* key, const std::string& token) {
    separate(key);
    out_ += token;
  }
  void item(const std::string& token) { field(nullptr, token); }

 private:
  struct Level {
    bool first = true;
    bool one_line = false;
  };
  void separate(const char* key) {
    if (!levels_.empty()) {
      Level& l = levels_.back();
      if (!l.first) out_ += l.one_line ? ", " : ",";
      if (!l.one_line) out_ += "\n" + std::string(2 * levels_.size(), ' ');
      l.first = false;
    }
    if (key != nullptr) out_ += json_string(key) + ": ";
  }
  void open(const char* key, char c, bool one_line) {
    bool parent_one_line = !levels_.empty() && levels_.back().one_line;
    separate(key);
    out_ += c;
    levels_.push_back(Level{true, one_line || parent_one_line});
  }
  void close(char c) {
    Level l = levels_.back();
    levels_.pop_back();
    if (!l.first && !l.one_line) out_ += "\n" + std::string(2 * levels_.size(), ' ');
    out_ += c;
  }
  std::string out_;
  std::vector<Level> levels_;
};

std::string num(uint64_t v) {
  return std::to_string(v);
}
std::string num(int64_t v) {
  return std::to_string(v);
}
std::string num(int v) {
  return std::to_string(v);
}
std::string real(double v, int decimals = 4) {
  return fixed(v, decimals);
}
std::string integral(double v) {
  return fixed(std::round(v), 0);
}
std::string str(std::string_view s) {
  return json_string(s);
}
std::string boolean(bool b) {
  return b ? "true" : "false";
}
const std::string kNull = "null";

std::string tier_or_null(const Report& r, int t) {
  return t < 0 ? kNull : str(tier_name(r, t));
}

void frames(Emitter& e, const Site& s) {
  e.begin_array("frames");
  for (const Frame& f : s.frames) {
    e.begin_object();
    e.field("address", str(hex(f.address)));
    e.field("module", f.module < 0 ? kNull : str(f.module_name));
    e.field("offset", f.module < 0 ? kNull : str(hex(f.offset)));
    e.field("function", f.function.empty() ? kNull : str(f.function));
    e.field("file", f.file.empty() ? kNull : str(f.file));
    e.field("line", f.line > 0 ? num(f.line) : kNull);
    e.field("label", str(f.label()));
    e.end_object();
  }
  e.end_array();
}

std::string rank_of(const std::vector<size_t>& list, size_t site) {
  for (size_t k = 0; k < list.size(); ++k)
    if (list[k] == site) return num(static_cast<uint64_t>(k + 1));
  return kNull;
}

// The run, and the merged profiles it came from.
void json_run(Emitter& e, const Report& r) {
  const profile::Profile& p = *r.prof;
  const profile::Header& h = p.header;
  e.begin_object("run");
  e.field("pid", num(static_cast<int64_t>(h.pid)));
  e.field("exe", str(h.exe));
  e.field("start_ns", num(h.start_ns));
  e.field("end_ns", num(h.end_ns));
  e.field("duration_s", real(r.duration_s, 3));
  e.field("interval_ms", num(static_cast<uint64_t>(h.interval_ms)));
  e.field("intervals", num(static_cast<uint64_t>(p.intervals.size())));
  e.field("sampler", str(h.sampler));
  e.field("chunk_bytes", num(h.chunk_bytes));
  e.field("tiers_spec", str(h.tiers_spec));
  e.field("policy_spec", str(h.policy_spec));
  e.field("migrate_spec", str(h.migrate_spec));
  e.end_object();
  if (!r.sources.empty()) {  // a merged report only
    e.begin_array("sources");
    for (const Source& s : r.sources) {
      e.begin_object();
      e.field("file", str(s.file));
      e.field("exe", str(s.exe));
      e.field("pid", num(static_cast<int64_t>(s.pid)));
      e.field("sites", num(static_cast<uint64_t>(s.sites)));
      e.field("intervals", num(static_cast<uint64_t>(s.intervals)));
      e.field("duration_s", real(s.duration_s, 3));
      e.end_object();
    }
    e.end_array();
  }
}

// Thresholds, tiers and modules.
void json_setup(Emitter& e, const Report& r) {
  const profile::Profile& p = *r.prof;
  const size_t ntiers = r.tiers.size();
  e.begin_object("thresholds");
  e.field("hot", real(r.hot_threshold));
  e.field("cold", real(r.cold_threshold));
  e.field("source", str(r.threshold_source));
  e.field("min_share", real(kMinShare));
  e.end_object();

  e.begin_array("tiers");
  for (size_t t = 0; t < ntiers; ++t) {
    const profile::Tier& tr = p.tiers[t];
    e.begin_object();
    e.field("index", num(static_cast<uint64_t>(tr.index)));
    e.field("name", str(tr.name));
    e.field("kind", str(tr.kind));
    e.field("cap_bytes", num(tr.cap));
    e.field("first_node", tr.first_node < 0 ? kNull : num(static_cast<int64_t>(tr.first_node)));
    e.field("peak_bytes", integral(r.tiers[t].peak));
    e.field("mean_bytes", integral(r.tiers[t].mean));
    e.field("end_bytes", integral(r.tiers[t].end));
    e.end_object();
  }
  e.end_array();

  e.begin_array("modules");
  for (size_t i = 0; i < p.modules.size(); ++i) {
    const profile::Module& m = p.modules[i];
    std::string id;
    for (unsigned char c : m.build_id) {
      static const char* const kHex = "0123456789abcdef";
      id += kHex[c >> 4];
      id += kHex[c & 15];
    }
    e.begin_object();
    e.field("path", str(m.path));
    e.field("base", str(hex(m.base)));
    e.field("start", str(hex(m.start)));
    e.field("end", str(hex(m.end)));
    e.field("build_id", id.empty() ? kNull : str(id));
    e.field("status", str(module_status_name(r.modules[i])));
    e.end_object();
  }
  e.end_array();
}

// Totals and the hot and cold rankings (their first `top`).
void json_totals(Emitter& e, const Report& r, size_t top) {
  size_t counts[4] = {};
  for (const Site& s : r.sites) counts[static_cast<int>(s.cls)]++;
  e.begin_object("totals");
  e.field("sites", num(static_cast<uint64_t>(r.sites.size())));
  e.field("hot", num(static_cast<uint64_t>(counts[0])));
  e.field("cold", num(static_cast<uint64_t>(counts[1])));
  e.field("mixed", num(static_cast<uint64_t>(counts[2])));
  e.field("unsampled", num(static_cast<uint64_t>(counts[3])));
  e.field("allocations", num(r.total_allocs));
  e.field("bytes_allocated", num(r.total_bytes));
  e.field("live_bytes", num(r.total_live));
  e.field("byte_intervals", integral(r.total_byte_intervals));
  e.end_object();

  e.begin_array("hot", true);
  for (size_t k = 0; k < r.hot.size() && k < top; ++k)
    e.item(str(hash_str(r.sites[r.hot[k]].rec->hash)));
  e.end_array();
  e.begin_array("cold", true);
  for (size_t k = 0; k < r.cold.size() && k < top; ++k)
    e.item(str(hash_str(r.sites[r.cold[k]].rec->hash)));
  e.end_array();
}

// One entry per site.
void json_sites(Emitter& e, const Report& r) {
  const size_t ntiers = r.tiers.size();
  e.begin_array("sites");
  for (size_t i = 0; i < r.sites.size(); ++i) {
    const Site& s = r.sites[i];
    const profile::SiteRecord& rec = *s.rec;
    e.begin_object();
    e.field("hash", str(hash_str(rec.hash)));
    e.field("class", str(class_name(s.cls)));
    e.field("hot_rank", rank_of(r.hot, i));
    e.field("cold_rank", rank_of(r.cold, i));
    if (!r.sources.empty()) {
      e.begin_array("sources", true);
      for (uint32_t k : s.sources) e.item(num(static_cast<uint64_t>(k)));
      e.end_array();
    }
    e.field("allocations", num(rec.allocs));
    e.field("frees", num(rec.frees));
    e.field("bytes_allocated", num(rec.bytes_allocated));
    e.field("bytes_freed", num(rec.bytes_freed));
    e.field("live_bytes", num(rec.live_bytes));
    e.field("mean_lifetime_ns", s.mean_lifetime_ns < 0 ? kNull : integral(s.mean_lifetime_ns));
    e.field("long_lived", boolean(s.long_lived));
    e.field("heat", s.sampled ? real(s.heat) : kNull);
    e.field("mean_live_bytes", integral(s.mean_live));
    e.field("share", real(s.share));
    e.begin_array("tier_share", true);
    for (size_t t = 0; t < ntiers; ++t) e.item(real(s.tier_share[t]));
    e.end_array();
    e.field("main_tier", tier_or_null(r, s.main_tier));
    e.field("placed_tier",
            tier_or_null(r, rec.placed_tier < static_cast<int>(ntiers) ? rec.placed_tier : -1));
    frames(e, s);
    e.end_object();
  }
  e.end_array();
}

// One entry per sampling interval.
void json_intervals(Emitter& e, const Report& r) {
  const profile::Profile& p = *r.prof;
  const size_t ntiers = r.tiers.size();
  e.begin_array("intervals");
  for (const profile::Interval& iv : p.intervals) {
    double bytes = 0;
    double heat_bytes = 0;
    uint64_t hist[10] = {};
    for (const profile::ChunkRecord& c : iv.chunks) {
      bytes += c.bytes;
      heat_bytes += c.bytes * static_cast<double>(c.heat);
      int b = std::clamp(static_cast<int>(c.heat * 10), 0, 9);
      hist[b] += c.bytes;
    }
    e.begin_object();
    e.field("index", num(static_cast<uint64_t>(iv.rec.index)));
    e.field("time_ns", num(iv.rec.time_ns));
    e.begin_array("resident_bytes", true);
    for (size_t t = 0; t < ntiers; ++t) e.item(num(iv.rec.resident[t]));
    e.end_array();
    e.field("promoted_bytes", num(iv.rec.promoted_bytes));
    e.field("demoted_bytes", num(iv.rec.demoted_bytes));
    e.field("promoted", num(static_cast<uint64_t>(iv.rec.promoted)));
    e.field("demoted", num(static_cast<uint64_t>(iv.rec.demoted)));
    e.field("failures", num(static_cast<uint64_t>(iv.rec.failures)));
    e.field("chunks", num(static_cast<uint64_t>(iv.chunks.size())));
    e.field("chunk_bytes", integral(bytes));
    e.field("mean_heat", bytes > 0 ? real(heat_bytes / bytes) : kNull);
    e.begin_array("heat_histogram_bytes", true);
    for (uint64_t v : hist) e.item(num(v));
    e.end_array();
    e.end_object();
  }
  e.end_array();
}

// Migrations, by reason and by path.
void json_migrations(Emitter& e, const Report& r) {
  const Migrations& m = r.mig;
  e.begin_object("migrations");
  e.field("moves", num(m.moves));
  e.field("bytes", num(m.bytes));
  e.begin_object("by_reason");
  static const char* const kReason[] = {"watermark", "promote", "swap_out", "swap_in"};
  for (int k = 0; k < 4; ++k) {
    e.begin_object(kReason[k]);
    e.field("moves", num(m.reason_moves[k]));
    e.field("bytes", num(m.reason_bytes[k]));
    e.end_object();
  }
  e.end_object();
  e.begin_array("by_path");
  for (int a = 0; a < kMaxTiers; ++a)
    for (int b = 0; b < kMaxTiers; ++b)
      if (m.path_moves[a][b] != 0) {
        e.begin_object();
        e.field("from", str(tier_name(r, a)));
        e.field("to", str(tier_name(r, b)));
        e.field("moves", num(m.path_moves[a][b]));
        e.field("bytes", num(m.path_bytes[a][b]));
        e.end_object();
      }
  e.end_array();
  e.field("promoted_bytes", num(m.promoted_bytes));
  e.field("demoted_bytes", num(m.demoted_bytes));
  e.field("promoted", num(m.promoted));
  e.field("demoted", num(m.demoted));
  e.field("failures", num(m.failures));
  e.end_object();
}

// The suggested policy.
void json_policy(Emitter& e, const Report& r) {
  const Suggestion& sg = r.policy;
  e.begin_object("policy");
  e.field("value", str(sg.value));
  e.field("fast_tier", tier_or_null(r, r.fast_tier));
  e.field("capacity_tier", tier_or_null(r, r.capacity_tier));
  e.begin_array("rules");
  for (const PolicyRule& rule : sg.rules) {
    e.begin_object();
    e.field("rule", str(rule.text));
    e.field("site", str(hash_str(r.sites[rule.site].rec->hash)));
    e.field("kind", str(rule.hot ? "hot" : "cold"));
    e.field("why", str(rule.why));
    e.end_object();
  }
  e.end_array();
  e.field("note", sg.note.empty() ? kNull : str(sg.note));
  e.field("error", sg.error.empty() ? kNull : str(sg.error));
  e.end_object();
}

}  // namespace

std::string render_json(const Report& r, size_t top) {
  const profile::Header& h = r.prof->header;
  Emitter e;
  e.begin_object();
  e.field("schema", str("strata-report"));
  e.field("schema_version", num(kJsonSchemaVersion));
  e.field("file", str(r.file));
  e.field("format_version", num(static_cast<uint64_t>(h.version)));
  json_run(e, r);
  json_setup(e, r);
  json_totals(e, r, top);
  json_sites(e, r);
  json_intervals(e, r);
  json_migrations(e, r);
  json_policy(e, r);
  e.end_object();
  return e.take();
}

std::string render_policy(const Report& r) {
  const Suggestion& sg = r.policy;
  std::string out = "# strata-report: suggested STRATA_POLICY for " +
                    (r.prof->header.exe.empty() ? std::string("?") : r.prof->header.exe) +
                    " (profile " + r.file + ")\n";
  if (sg.rules.empty()) {
    out += "# " + sg.note + "\n";
    out += "STRATA_POLICY=''\n";
    return out;
  }
  out += "# Hot sites (mean heat >= " + fixed(r.hot_threshold, 2) + ") go to the fastest tier, " +
         tier_name(r, r.fast_tier) + ", at priority " + std::to_string(kHotPrio) +
         ";\n# long-lived ones are also pinned (pinned pages stay pinned after free).\n" +
         "# Cold sites (mean heat <= " + fixed(r.cold_threshold, 2) + ") with at least " +
         fixed(100 * kMinColdPolicyShare, 0) +
         "% of the sampled bytes go to\n# the capacity tier, " + tier_name(r, r.capacity_tier) +
         ".\n";
  for (size_t k = 0; k < sg.rules.size(); ++k) {
    const PolicyRule& rule = sg.rules[k];
    const Site& s = r.sites[rule.site];
    out += "# " + std::to_string(k + 1) + ". " + rule.text + "\n#    " +
           (s.frames.empty() ? std::string("-") : s.frames.front().label()) + ": " + rule.why +
           "\n";
  }
  if (!sg.error.empty()) out += "# strata rejects this suggestion (a bug): " + sg.error + "\n";
  out += "STRATA_POLICY=" + shell_quote(sg.value) + "\n";
  return out;
}

}  // namespace strata::report
