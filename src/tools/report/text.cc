// The text summary: what a terminal user reads in ten seconds.
#include <algorithm>
#include <cmath>
#include <string>

#include "src/tools/report/merge.h"
#include "src/tools/report/report.h"

namespace strata::report {
namespace {

constexpr size_t kCallWidth = 40;
constexpr size_t kSparkWidth = 48;

std::string pad_right(std::string s, size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}
std::string pad_left(const std::string& s, size_t w) {
  return s.size() < w ? std::string(w - s.size(), ' ') + s : s;
}

// Cuts to w bytes with "...", never inside a UTF-8 sequence.
std::string clip(const std::string& s, size_t w) {
  if (s.size() <= w) return s;
  size_t n = w - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

std::string duration(double s) {
  if (s < 1) return fixed(s * 1000, 0) + " ms";
  return fixed(s, 1) + " s";
}

std::string mostly_on(const Report& r, const Site& s) {
  if (s.main_tier < 0) return "-";
  if (!s.sampled) return tier_name(r, s.main_tier) + " (placed)";
  return tier_name(r, s.main_tier) + " " + fixed(100 * s.tier_share[s.main_tier], 0) + "%";
}

// A ranking under a title that doubles as its column header.
void site_table(const Report& r, const char* title, const std::vector<size_t>& list, size_t top,
                std::string* out) {
  if (list.empty()) {
    *out += std::string(title) + ": none\n";
    return;
  }
  *out += pad_right(title, 26) + "heat  mean live  allocated  mostly on   allocation call\n";
  for (size_t k = 0; k < list.size() && k < top; ++k) {
    const Site& s = r.sites[list[k]];
    std::string call = s.frames.empty() ? "-" : s.frames.front().label();
    *out += pad_left(std::to_string(k + 1), 4) + "  " + hash_str(s.rec->hash) + "  " +
            fixed(s.heat, 2) + "  " + pad_left(human_bytes(s.mean_live), 9) + "  " +
            pad_left(human_bytes(static_cast<double>(s.rec->bytes_allocated)), 9) + "  " +
            pad_right(mostly_on(r, s), 10) + "  " + clip(call, kCallWidth) + "\n";
  }
  if (list.size() > top)
    *out += "      ... " + std::to_string(list.size() - top) + " more (--top N)\n";
}

// One character per time bucket, eight levels, scaled to the tier's peak.
std::string sparkline(const profile::Profile& p, size_t tier, double peak) {
  static const char* const kLevels[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                        "\u2585", "\u2586", "\u2587", "\u2588"};
  size_t n = p.intervals.size();
  size_t width = std::min(n, kSparkWidth);
  std::string out;
  for (size_t b = 0; b < width; ++b) {
    size_t lo = b * n / width;
    size_t hi = std::max(lo + 1, (b + 1) * n / width);
    double v = 0;
    for (size_t i = lo; i < hi; ++i)
      v = std::max(v, static_cast<double>(p.intervals[i].rec.resident[tier]));
    if (v <= 0 || peak <= 0) {
      out += ' ';
      continue;
    }
    int level = static_cast<int>(std::ceil(v / peak * 8)) - 1;
    out += kLevels[std::clamp(level, 0, 7)];
  }
  return out;
}

}  // namespace

std::string render_text(const Report& r, size_t top) {
  const profile::Profile& p = *r.prof;
  const profile::Header& h = p.header;
  std::string out;
  out += "strata profile of " + (h.exe.empty() ? std::string("?") : h.exe) + " (pid " +
         std::to_string(h.pid) + "): " + duration(r.duration_s) + ", " +
         std::to_string(p.intervals.size()) + " intervals of " + std::to_string(h.interval_ms) +
         " ms, sampler " + (h.sampler.empty() ? std::string("?") : h.sampler) + "\n";
  out += "tiers, fastest first:";
  for (size_t t = 0; t < p.tiers.size(); ++t) {
    const profile::Tier& tr = p.tiers[t];
    out += std::string(t ? "," : "") + " " + tr.name + " (" + tr.kind +
           (tr.cap != 0 ? ", cap " + human_bytes(static_cast<double>(tr.cap)) : "") + ")";
  }
  out += "\n";
  size_t counts[4] = {};
  for (const Site& s : r.sites) counts[static_cast<int>(s.cls)]++;
  out += std::to_string(r.sites.size()) + " sites (" + std::to_string(counts[0]) + " hot, " +
         std::to_string(counts[1]) + " cold, " + std::to_string(counts[2]) + " mixed, " +
         std::to_string(counts[3]) +
         " unsampled): " + human_bytes(static_cast<double>(r.total_bytes)) + " allocated in " +
         std::to_string(r.total_allocs) + " blocks, " +
         human_bytes(static_cast<double>(r.total_live)) + " live at the end\n";
  out += "hot: mean heat >= " + fixed(r.hot_threshold, 2) +
         ", cold: <= " + fixed(r.cold_threshold, 2) + " (" + r.threshold_source +
         "; heat = share of pages touched per interval)\n";
  out += render_sources_text(r, top);

  out += "\n";
  site_table(r, "HOT SITES (hottest)", r.hot, top, &out);
  out += "\n";
  site_table(r, "COLD SITES (largest)", r.cold, top, &out);

  out +=
      "\nTIER USAGE, resident bytes over " + duration(r.duration_s) + " (each line to its peak)\n";
  if (p.intervals.empty()) {
    out += "  no intervals\n";
  } else {
    size_t w = 4;
    for (size_t t = 0; t < r.tiers.size(); ++t) w = std::max(w, p.tiers[t].name.size());
    for (size_t t = 0; t < r.tiers.size(); ++t) {
      const TierUsage& u = r.tiers[t];
      out += "  " + pad_right(p.tiers[t].name, w) + "  " + sparkline(p, t, u.peak) + "  peak " +
             human_bytes(u.peak) + ", end " + human_bytes(u.end);
      if (p.tiers[t].cap != 0) out += ", cap " + human_bytes(static_cast<double>(p.tiers[t].cap));
      out += "\n";
    }
  }

  const Migrations& m = r.mig;
  out += "\nMIGRATIONS: ";
  if (m.moves == 0 && m.failures == 0) {
    out += "none\n";
  } else {
    out += std::to_string(m.moves) + " chunk moves, " + human_bytes(static_cast<double>(m.bytes));
    static const char* const kReason[] = {"watermark", "promote", "swap-out", "swap-in"};
    std::string reasons;
    for (int k = 0; k < 4; ++k)
      if (m.reason_moves[k] != 0)
        reasons += std::string(reasons.empty() ? "" : ", ") + kReason[k] + " " +
                   std::to_string(m.reason_moves[k]);
    if (!reasons.empty()) out += " (" + reasons + ")";
    out += "; " + std::to_string(m.failures) + " failed\n";
    std::string paths;
    for (int a = 0; a < kMaxTiers; ++a)
      for (int b = 0; b < kMaxTiers; ++b)
        if (m.path_moves[a][b] != 0)
          paths += std::string(paths.empty() ? "  " : ", ") + tier_name(r, a) + " -> " +
                   tier_name(r, b) + " " + std::to_string(m.path_moves[a][b]) + " (" +
                   human_bytes(static_cast<double>(m.path_bytes[a][b])) + ")";
    if (!paths.empty()) out += paths + "\n";
  }

  out += "\nSUGGESTED POLICY (--format policy prints it alone)\n";
  const Suggestion& sg = r.policy;
  if (sg.rules.empty()) {
    out += "  # " + sg.note + "\n";
    return out;
  }
  size_t shown_hot = 0;
  size_t shown_cold = 0;
  size_t hidden = 0;
  for (const PolicyRule& rule : sg.rules) {
    size_t& shown = rule.hot ? shown_hot : shown_cold;
    if (shown == top) {
      ++hidden;
      continue;
    }
    ++shown;
    out += "  # " + hash_str(r.sites[rule.site].rec->hash) + ": " + rule.why + "\n";
  }
  if (hidden != 0) out += "  # ... " + std::to_string(hidden) + " more rules explained there\n";
  if (!sg.error.empty()) out += "  # strata rejects this suggestion (a bug): " + sg.error + "\n";
  out += "  STRATA_POLICY=" + shell_quote(sg.value) + "\n";
  return out;
}

}  // namespace strata::report
