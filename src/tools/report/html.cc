// One self-contained HTML page: no network, inline CSS/JS/SVG, data embedded.
//   1. a time x chunk-address heatmap (canvas; rows = distinct chunks in
//      address order, grouped by address gaps and labelled; colour = heat),
//   2. tier occupancy over time (stacked areas, SVG),
//   3. per-site bars (mean live bytes coloured by heat, tier residency),
//   4. migrations and the suggested policy.
// The heatmap sits at a fixed place (tests/report/check_html.py screenshots
// the page and checks its pixels): keep #top and #heatmap heights in sync.
#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/tools/report/merge.h"
#include "src/tools/report/report.h"

namespace strata::report {
namespace {

constexpr size_t kMaxRows = 600;     // heatmap rows (chunk buckets) = plot height in px
constexpr size_t kMaxCols = 980;     // heatmap columns (interval buckets) = plot width in px
constexpr uint64_t kGroupGap = 32;   // chunks: a larger address gap starts a new group
constexpr size_t kMaxBarSites = 20;  // per-site bars
// Heat levels are characters of this alphabet (0 = coldest); '.' = no chunk.
constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const char* const kTierColors[kMaxTiers] = {"#1b9e77", "#7570b3", "#e7298a", "#66a61e",
                                            "#e6ab02", "#a6761d", "#666666", "#17becf"};

// Heat colour, blue (cold) - pale yellow - red (hot), same stops as the page's JS.
std::string heat_color(double h) {
  static const double kStops[5][3] = {
      {49, 54, 149}, {116, 173, 209}, {255, 255, 191}, {244, 109, 67}, {165, 0, 38}};
  h = std::clamp(std::isfinite(h) ? h : 0.0, 0.0, 1.0) * 4;
  int i = std::min(static_cast<int>(h), 3);
  double f = h - i;
  char b[16];
  std::snprintf(
      b, sizeof b, "#%02x%02x%02x",
      static_cast<int>(std::lround(kStops[i][0] + f * (kStops[i + 1][0] - kStops[i][0]))),
      static_cast<int>(std::lround(kStops[i][1] + f * (kStops[i + 1][1] - kStops[i][1]))),
      static_cast<int>(std::lround(kStops[i][2] + f * (kStops[i + 1][2] - kStops[i][2]))));
  return b;
}

// JSON embedded in a <script> element must not contain "</".
std::string script_safe(std::string s) {
  size_t pos = 0;
  while ((pos = s.find("</", pos)) != std::string::npos) {
    s.replace(pos, 2, "<\\/");
    pos += 3;
  }
  return s;
}

std::string seconds(double s) {
  return fixed(s, s < 10 ? 2 : 1) + " s";
}

std::string clip(const std::string& s, size_t w) {
  if (s.size() <= w) return s;
  size_t n = w - 3;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "...";
}

// The heatmap grid and its row/column metadata, as a JSON object.
std::string heatmap_data(const Report& r) {
  const profile::Profile& p = *r.prof;
  std::vector<uint64_t> ids;
  for (const profile::Interval& iv : p.intervals)
    for (const profile::ChunkRecord& c : iv.chunks) ids.push_back(c.id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  const size_t n = ids.size();
  const size_t rows = std::min(n, kMaxRows);
  const size_t cols = std::min(p.intervals.size(), kMaxCols);
  const uint64_t chunk_bytes = p.header.chunk_bytes;
  std::unordered_map<uint64_t, size_t> row_of;
  row_of.reserve(n);
  for (size_t k = 0; k < n; ++k) row_of[ids[k]] = k * rows / n;  // bucket: consecutive chunks

  // Per cell: mean over the column's intervals of the max over the row's chunks.
  std::vector<double> sum(rows * cols, 0);
  std::vector<uint32_t> cnt(rows * cols, 0);
  std::vector<int8_t> tier(rows * cols, -1);
  std::vector<double> row_max(rows);
  std::vector<int8_t> row_tier(rows);
  const size_t nint = p.intervals.size();
  for (size_t i = 0; i < nint; ++i) {
    const size_t c = i * cols / nint;
    std::fill(row_max.begin(), row_max.end(), -1.0);
    for (const profile::ChunkRecord& ch : p.intervals[i].chunks) {
      size_t row = row_of[ch.id];
      if (ch.heat > row_max[row]) {
        row_max[row] = ch.heat;
        row_tier[row] = ch.tier;
      }
    }
    for (size_t row = 0; row < rows; ++row) {
      if (row_max[row] < 0) continue;
      sum[row * cols + c] += row_max[row];
      cnt[row * cols + c]++;
      tier[row * cols + c] = row_tier[row];
    }
  }
  std::string heat(rows * cols, '.');
  std::string tiers(rows * cols, '.');
  const auto levels = static_cast<double>(kAlphabet.size() - 1);
  for (size_t k = 0; k < rows * cols; ++k) {
    if (cnt[k] == 0) continue;
    double h = std::clamp(sum[k] / cnt[k], 0.0, 1.0);
    heat[k] = kAlphabet[static_cast<size_t>(std::lround(h * levels))];
    tiers[k] = tier[k] >= 0 && tier[k] < kMaxTiers ? static_cast<char>('0' + tier[k]) : '?';
  }

  std::string out = "{\"rows\":" + std::to_string(rows) + ",\"cols\":" + std::to_string(cols) +
                    ",\"alphabet\":" + json_string(kAlphabet) + ",\"heat\":" + json_string(heat) +
                    ",\"tier\":" + json_string(tiers);
  // Rows: first chunk address and chunk count.
  out += ",\"rowStart\":[";
  for (size_t row = 0, k = 0; row < rows; ++row) {
    size_t first = k;
    while (k < n && k * rows / n == row) ++k;
    out += std::string(row ? "," : "") + json_string(hex(ids[first] * chunk_bytes));
  }
  out += "],\"rowCount\":[";
  for (size_t row = 0, k = 0; row < rows; ++row) {
    size_t first = k;
    while (k < n && k * rows / n == row) ++k;
    out += std::string(row ? "," : "") + std::to_string(k - first);
  }
  // Columns: first interval index and its time.
  out += "],\"colStart\":[";
  for (size_t c = 0; c < cols; ++c) {
    size_t i = (c * nint + cols - 1) / cols;
    out += std::string(c ? "," : "") + std::to_string(p.intervals[i].rec.index);
  }
  out += "],\"colTime\":[";
  for (size_t c = 0; c < cols; ++c) {
    size_t i = (c * nint + cols - 1) / cols;
    out +=
        std::string(c ? "," : "") + fixed(static_cast<double>(p.intervals[i].rec.time_ns) / 1e9, 3);
  }
  // Groups: runs of chunks without a large address gap.
  out += "],\"groups\":[";
  bool first_group = true;
  for (size_t k = 0; k < n;) {
    size_t e = k + 1;
    while (e < n && ids[e] - ids[e - 1] <= kGroupGap) ++e;
    uint64_t span = (ids[e - 1] - ids[k] + 1) * chunk_bytes;
    std::string label = hex(ids[k] * chunk_bytes) + " " + human_bytes(static_cast<double>(span));
    out += std::string(first_group ? "" : ",") + "{\"row\":" + std::to_string(k * rows / n) +
           ",\"label\":" + json_string(label) + ",\"chunks\":" + std::to_string(e - k) + "}";
    first_group = false;
    k = e;
  }
  out += "],\"tiers\":[";
  for (size_t t = 0; t < r.tiers.size(); ++t)
    out += std::string(t ? "," : "") + json_string(p.tiers[t].name);
  out += "],\"tierColors\":[";
  for (size_t t = 0; t < kMaxTiers; ++t)
    out += std::string(t ? "," : "") + json_string(kTierColors[t]);
  out += "],\"chunkBytes\":" + std::to_string(chunk_bytes) +
         ",\"duration\":" + fixed(r.duration_s, 3) + "}";
  return script_safe(out);
}

std::string occupancy_svg(const Report& r) {
  const profile::Profile& p = *r.prof;
  const double w = 1160;
  const double h = 260;
  const double x0 = 80;
  const double x1 = w - 10;
  const double y0 = 10;
  const double y1 = h - 28;
  std::string svg = "<svg width=\"1160\" height=\"260\" xmlns=\"http://www.w3.org/2000/svg\">";
  const size_t n = p.intervals.size();
  const size_t ntiers = r.tiers.size();
  if (n == 0 || ntiers == 0) return svg + "<text x=\"10\" y=\"30\">no intervals</text></svg>";
  const size_t step = std::max<size_t>(1, n / 1200);
  std::vector<size_t> idx;
  for (size_t i = 0; i < n; i += step) idx.push_back(i);
  if (idx.back() != n - 1) idx.push_back(n - 1);
  double top = 0;
  for (size_t i : idx) {
    double s = 0;
    for (size_t t = 0; t < ntiers; ++t) s += static_cast<double>(p.intervals[i].rec.resident[t]);
    top = std::max(top, s);
  }
  if (top <= 0) top = 1;
  auto X = [&](size_t k) {
    return idx.size() == 1
               ? x0
               : x0 + (x1 - x0) * static_cast<double>(k) / static_cast<double>(idx.size() - 1);
  };
  auto Y = [&](double v) { return y1 - (y1 - y0) * v / top; };
  std::vector<double> below(idx.size(), 0);
  for (size_t t = 0; t < ntiers; ++t) {
    std::vector<double> above(idx.size());
    for (size_t k = 0; k < idx.size(); ++k)
      above[k] = below[k] + static_cast<double>(p.intervals[idx[k]].rec.resident[t]);
    std::string pts;
    for (size_t k = 0; k < idx.size(); ++k)
      pts += fixed(X(k), 1) + "," + fixed(Y(above[k]), 1) + " ";
    for (size_t k = idx.size(); k-- > 0;) pts += fixed(X(k), 1) + "," + fixed(Y(below[k]), 1) + " ";
    svg += "<polygon points=\"" + pts + "\" fill=\"" + kTierColors[t] +
           "\" fill-opacity=\"0.85\" stroke=\"" + kTierColors[t] + "\"><title>" +
           html_escape(p.tiers[t].name) + "</title></polygon>";
    below = above;
  }
  // Axes.
  svg += "<line x1=\"" + fixed(x0, 0) + "\" y1=\"" + fixed(y1, 0) + "\" x2=\"" + fixed(x1, 0) +
         "\" y2=\"" + fixed(y1, 0) + "\" stroke=\"#444\"/>";
  for (int k = 0; k <= 2; ++k) {
    double v = top * k / 2;
    svg += "<text x=\"" + fixed(x0 - 6, 0) + "\" y=\"" + fixed(Y(v) + 4, 0) +
           "\" text-anchor=\"end\" font-size=\"11\">" + human_bytes(v) + "</text>";
  }
  svg +=
      "<text x=\"" + fixed(x0, 0) + "\" y=\"" + fixed(h - 8, 0) + "\" font-size=\"11\">0 s</text>";
  svg += "<text x=\"" + fixed(x1, 0) + "\" y=\"" + fixed(h - 8, 0) +
         "\" text-anchor=\"end\" font-size=\"11\">" + seconds(r.duration_s) + "</text>";
  // Legend.
  double lx = x0 + 10;
  for (size_t t = 0; t < ntiers; ++t) {
    std::string label = p.tiers[t].name + " (peak " + human_bytes(r.tiers[t].peak) + ")";
    svg += "<rect x=\"" + fixed(lx, 0) + "\" y=\"14\" width=\"12\" height=\"12\" fill=\"" +
           kTierColors[t] + "\"/><text x=\"" + fixed(lx + 16, 0) + "\" y=\"24\" font-size=\"12\">" +
           html_escape(label) + "</text>";
    lx += 24 + 7.0 * static_cast<double>(label.size());
  }
  return svg + "</svg>";
}

std::string site_bars_svg(const Report& r, size_t top) {
  std::vector<size_t> order;
  for (size_t i = 0; i < r.sites.size(); ++i)
    if (r.sites[i].sampled) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return r.sites[a].mean_live > r.sites[b].mean_live; });
  order.resize(std::min(order.size(), std::max(top, kMaxBarSites)));
  const double row_h = 30;
  const double label_w = 470;
  const double bar_w = 420;
  const double height = 20 + row_h * static_cast<double>(order.size());
  std::string svg = "<svg width=\"1160\" height=\"" + fixed(height, 0) +
                    "\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"12\">";
  if (order.empty()) return svg + "<text x=\"10\" y=\"16\">no sampled site</text></svg>";
  double max_live = r.sites[order.front()].mean_live;
  if (max_live <= 0) max_live = 1;
  for (size_t k = 0; k < order.size(); ++k) {
    const Site& s = r.sites[order[k]];
    double y = 10 + row_h * static_cast<double>(k);
    std::string call = s.frames.empty() ? "-" : s.frames.front().label();
    svg += "<text x=\"0\" y=\"" + fixed(y + 13, 0) + "\" font-family=\"monospace\">" +
           html_escape(hash_str(s.rec->hash) + " " + clip(call, 44)) + "</text>";
    double bw = std::max(1.0, bar_w * s.mean_live / max_live);
    svg += "<rect x=\"" + fixed(label_w, 0) + "\" y=\"" + fixed(y, 0) + "\" width=\"" +
           fixed(bw, 1) + "\" height=\"16\" fill=\"" + heat_color(s.heat) + "\"><title>heat " +
           fixed(s.heat, 2) + "</title></rect>";
    // Tier residency: a thin stacked bar under the main one.
    double x = label_w;
    for (size_t t = 0; t < r.tiers.size(); ++t) {
      double tw = bw * s.tier_share[t];
      if (tw <= 0) continue;
      svg += "<rect x=\"" + fixed(x, 1) + "\" y=\"" + fixed(y + 18, 0) + "\" width=\"" +
             fixed(tw, 1) + "\" height=\"5\" fill=\"" + kTierColors[t] + "\"><title>" +
             html_escape(tier_name(r, static_cast<int>(t))) + " " +
             fixed(100 * s.tier_share[t], 0) + "%</title></rect>";
      x += tw;
    }
    svg += "<text x=\"" + fixed(label_w + bw + 8, 0) + "\" y=\"" + fixed(y + 13, 0) + "\">" +
           human_bytes(s.mean_live) + " mean live, heat " + fixed(s.heat, 2) + " (" +
           class_name(s.cls) + ")</text>";
  }
  return svg + "</svg>";
}

const char* const kStyle = R"(
body{margin:0;width:1180px;font:13px/1.35 sans-serif;color:#222;background:#fff}
#top{height:118px;overflow:hidden;padding:8px 10px;box-sizing:border-box}
#top h1{font-size:17px;margin:0 0 4px}
#top p{margin:0}
#heatmap{height:680px;position:relative}
#heatmap h2{position:absolute;left:10px;top:0;margin:0;height:26px;line-height:26px}
#heat{position:absolute;left:10px;top:30px}
#mode{position:absolute;right:14px;top:2px}
h2{font-size:15px;margin:14px 10px 6px}
section{padding:0 10px}
table{border-collapse:collapse;margin:4px 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
pre{background:#f4f4f4;padding:8px;white-space:pre-wrap;word-break:break-all}
#tip{position:absolute;display:none;background:#fffbe6;border:1px solid #999;padding:3px 6px;
 font-size:12px;pointer-events:none;white-space:pre}
.legend{display:inline-block;width:160px;height:10px;vertical-align:middle;
 background:linear-gradient(90deg,#313695,#74add1,#ffffbf,#f46d43,#a50026)}
)";

const char* const kScript = R"(
(function () {
  const D = JSON.parse(document.getElementById('heatdata').textContent);
  const cv = document.getElementById('heat');
  const g = cv.getContext('2d');
  const GUT = 180, PW = cv.width - GUT, PH = 600;
  const STOPS = [[49,54,149],[116,173,209],[255,255,191],[244,109,67],[165,0,38]];
  function heatRGB(h) {
    h = Math.min(1, Math.max(0, h)) * 4;
    const i = Math.min(3, Math.floor(h)), f = h - i, a = STOPS[i], b = STOPS[i + 1];
    return [0, 1, 2].map(k => Math.round(a[k] + f * (b[k] - a[k])));
  }
  const level = new Int16Array(128).fill(-1);
  for (let i = 0; i < D.alphabet.length; i++) level[D.alphabet.charCodeAt(i)] = i;
  const lut = [];
  for (let i = 0; i < D.alphabet.length; i++) lut.push(heatRGB(i / (D.alphabet.length - 1)));
  const tierRGB = D.tierColors.map(c => [1, 3, 5].map(k => parseInt(c.substr(k, 2), 16)));
  let mode = 'heat';
  function draw() {
    g.fillStyle = '#fff';
    g.fillRect(0, 0, cv.width, cv.height);
    g.fillStyle = '#333';
    g.font = '12px sans-serif';
    if (D.rows === 0 || D.cols === 0) { g.fillText('no chunks sampled', GUT + 10, 20); return; }
    const img = g.createImageData(PW, PH), px = img.data;
    const grid = mode === 'heat' ? D.heat : D.tier;
    const rowOf = new Int32Array(PH), colOf = new Int32Array(PW);
    for (let y = 0; y < PH; y++) rowOf[y] = Math.min(D.rows - 1, Math.floor(y * D.rows / PH));
    for (let x = 0; x < PW; x++) colOf[x] = Math.min(D.cols - 1, Math.floor(x * D.cols / PW));
    for (let y = 0; y < PH; y++) {
      const base = rowOf[y] * D.cols;
      for (let x = 0; x < PW; x++) {
        const ch = grid.charCodeAt(base + colOf[x]);
        let c;
        if (ch === 46) c = [238, 238, 238];
        else if (mode === 'heat') c = lut[Math.max(0, level[ch])];
        else c = tierRGB[ch - 48] || [0, 0, 0];
        const o = 4 * (y * PW + x);
        px[o] = c[0]; px[o + 1] = c[1]; px[o + 2] = c[2]; px[o + 3] = 255;
      }
    }
    g.putImageData(img, GUT, 0);
    let lastLabel = -100;
    for (const grp of D.groups) {
      const y = Math.floor(grp.row * PH / D.rows);
      if (grp.row > 0) { g.fillStyle = '#fff'; g.fillRect(GUT, y, PW, 2); }
      g.fillStyle = '#333';
      g.fillRect(GUT - 6, y, 4, 1);
      if (y - lastLabel >= 14) { g.fillText(grp.label, 4, y + 12); lastLabel = y; }
    }
    g.fillText('0 s', GUT, PH + 15);
    g.textAlign = 'right';
    g.fillText(D.duration.toFixed(1) + ' s', GUT + PW, PH + 15);
    g.textAlign = 'left';
  }
  draw();
  const tip = document.getElementById('tip');
  cv.addEventListener('mousemove', e => {
    const r = cv.getBoundingClientRect(), x = e.clientX - r.left - GUT, y = e.clientY - r.top;
    if (x < 0 || x >= PW || y < 0 || y >= PH || D.rows === 0) { tip.style.display = 'none'; return; }
    const row = Math.min(D.rows - 1, Math.floor(y * D.rows / PH));
    const col = Math.min(D.cols - 1, Math.floor(x * D.cols / PW));
    const ch = D.heat.charCodeAt(row * D.cols + col), t = D.tier.charCodeAt(row * D.cols + col);
    const heat = ch === 46 ? 'no chunk' : 'heat ' + (level[ch] / (D.alphabet.length - 1)).toFixed(2);
    const tier = t === 46 ? '' : ', on ' + (D.tiers[t - 48] || '?');
    tip.textContent = D.rowStart[row] + ' (' + D.rowCount[row] + ' chunk' +
      (D.rowCount[row] > 1 ? 's' : '') + ')\ninterval ' + D.colStart[col] + ' at ' +
      D.colTime[col].toFixed(2) + ' s\n' + heat + tier;
    tip.style.display = 'block';
    tip.style.left = (e.pageX + 12) + 'px';
    tip.style.top = (e.pageY + 12) + 'px';
  });
  cv.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
  document.getElementById('mode').addEventListener('change', e => { mode = e.target.value; draw(); });
})();
)";

}  // namespace

std::string render_html(const Report& r, size_t top) {
  const profile::Profile& p = *r.prof;
  const profile::Header& h = p.header;
  std::string exe = h.exe.empty() ? "?" : h.exe;
  std::string o;
  o += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  o += "<title>strata report: " + html_escape(exe) + "</title>\n<style>" + kStyle + "</style>\n";
  o += "</head><body>\n<div id=\"top\"><h1>strata report: " + html_escape(exe) + " (pid " +
       std::to_string(h.pid) + ")</h1>\n";
  o += "<p>" + seconds(r.duration_s) + ", " + std::to_string(p.intervals.size()) +
       " intervals of " + std::to_string(h.interval_ms) + " ms, sampler " + html_escape(h.sampler) +
       ", chunks of " + human_bytes(static_cast<double>(h.chunk_bytes)) + "; profile " +
       html_escape(r.file) + "</p>\n<p>tiers, fastest first:";
  for (size_t t = 0; t < p.tiers.size(); ++t)
    o += std::string(t ? "," : "") + " <b>" + html_escape(p.tiers[t].name) + "</b> (" +
         html_escape(p.tiers[t].kind) +
         (p.tiers[t].cap ? ", cap " + human_bytes(static_cast<double>(p.tiers[t].cap)) : "") + ")";
  o += "</p>\n<p>" + std::to_string(r.sites.size()) + " sites, " +
       human_bytes(static_cast<double>(r.total_bytes)) + " allocated in " +
       std::to_string(r.total_allocs) + " blocks, " +
       human_bytes(static_cast<double>(r.total_live)) + " live at the end; hot: heat &ge; " +
       fixed(r.hot_threshold, 2) + ", cold: &le; " + fixed(r.cold_threshold, 2) +
       "</p>\n<p>heat: 0 <span class=\"legend\"></span> 1 (share of a chunk's pages "
       "touched per interval; grey: no chunk)</p>\n";
  if (!r.sources.empty())
    o += "<pre id=\"sources\">" + html_escape(render_sources_text(r, top)) + "</pre>";
  o += "</div>\n";

  o += "<div id=\"heatmap\"><h2>Heat by chunk address (rows, address order) over time</h2>\n";
  o += "<select id=\"mode\"><option value=\"heat\">colour: heat</option>"
       "<option value=\"tier\">colour: tier</option></select>\n";
  o += "<canvas id=\"heat\" width=\"1160\" height=\"620\"></canvas></div>\n";
  o += "<div id=\"tip\"></div>\n";

  o += "<h2>Tier occupancy over time (resident bytes, stacked)</h2>\n<section>" + occupancy_svg(r) +
       "</section>\n";
  o += "<h2>Sites by mean live bytes (bar colour: heat; thin bar: tier residency)</h2>\n"
       "<section>" +
       site_bars_svg(r, top) + "</section>\n";

  const Migrations& m = r.mig;
  o += "<h2>Migrations</h2>\n<section><p>" + std::to_string(m.moves) + " chunk moves, " +
       human_bytes(static_cast<double>(m.bytes)) + "; " + std::to_string(m.failures) +
       " failed</p>\n<table><tr><th>from</th><th>to</th><th>moves</th><th>bytes</th></tr>";
  for (int a = 0; a < kMaxTiers; ++a)
    for (int b = 0; b < kMaxTiers; ++b)
      if (m.path_moves[a][b] != 0)
        o += "<tr><td>" + html_escape(tier_name(r, a)) + "</td><td>" +
             html_escape(tier_name(r, b)) + "</td><td>" + std::to_string(m.path_moves[a][b]) +
             "</td><td>" + human_bytes(static_cast<double>(m.path_bytes[a][b])) + "</td></tr>";
  o += "</table></section>\n";

  o += "<h2>Suggested policy</h2>\n<section><pre>" + html_escape(render_policy(r)) +
       "</pre></section>\n";
  o += "<script type=\"application/json\" id=\"heatdata\">" + heatmap_data(r) + "</script>\n";
  o += "<script>" + std::string(kScript) + "</script>\n</body></html>\n";
  return o;
}

}  // namespace strata::report
