// The STRATA_MIGRATE and STRATA_SAMPLER grammars (the migration engine's settings).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "policy/config.h"
#include "policy/lex.h"

namespace strata {

using namespace lex;  // NOLINT(google-build-using-namespace): the shared lexing helpers

const char* heat_model_name(HeatModel m) {
  switch (m) {
    case HeatModel::kEwma:
      return "ewma";
    case HeatModel::kLru:
      return "lru";
    case HeatModel::kLfu:
      return "lfu";
  }
  return "?";
}

namespace {

// "1.5", "0.25", "1": a non-negative decimal.
bool parse_decimal(std::string_view s, double* out) {
  if (s.empty() || s.size() > 12) return false;
  double v = 0;
  double scale = 0;
  for (char c : s) {
    if (c == '.' && scale == 0) {
      scale = 1;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      if (scale == 0) {
        v = v * 10 + (c - '0');
      } else {
        scale /= 10;
        v += (c - '0') * scale;
      }
    } else {
      return false;
    }
  }
  *out = v;
  return true;
}

// "500ms", "2s", "1.5s" -> milliseconds.
bool parse_duration_ms(std::string_view s, uint64_t* ms) {
  double v = 0;
  if (s.size() > 2 && s.substr(s.size() - 2) == "ms") {
    if (!parse_decimal(s.substr(0, s.size() - 2), &v)) return false;
  } else if (s.size() > 1 && s.back() == 's') {
    if (!parse_decimal(s.substr(0, s.size() - 1), &v)) return false;
    v *= 1000;
  } else {
    return false;
  }
  *ms = static_cast<uint64_t>(v + 0.5);
  return true;
}

}  // namespace

bool parse_migrate(std::string_view value, MigrateConfig* out, Diagnostics* diag) {
  constexpr std::string_view kVar = "STRATA_MIGRATE";
  const size_t errors_before = diag->errors.size();
  MigrateConfig m;
  std::string_view all = trim(value);
  if (all == "off" || all == "0") {
    *out = m;
    return true;
  }
  m.enabled = true;
  if (all == "on" || all == "1" || all.empty()) {
    *out = m;
    return true;
  }
  bool first = true;
  for (std::string_view raw : split(value, ',')) {
    std::string_view a = trim(raw);
    size_t eq = a.find('=');
    std::string_view key = trim(a.substr(0, eq));
    std::string_view val =
        eq == std::string_view::npos ? std::string_view{} : trim(a.substr(eq + 1));
    size_t at = col(value, val.empty() ? (a.empty() ? raw : a) : val);
    auto bad = [&](const std::string& what) { diag->add(kVar, value, at, what); };
    // "on,key=value,...": the leading switch is optional.
    const bool leading_on = first && (a == "on" || a == "1");
    first = false;
    if (leading_on) continue;
    if (eq == std::string_view::npos) {
      diag->add(kVar, value, col(value, a.empty() ? raw : a),
                "expected key=value, got " + quote(a) +
                    " (keys: model, alpha, window, promote, demote, hold, rate, interval, batch; "
                    "or on/off)");
      continue;
    }
    uint64_t u = 0;
    double d = 0;
    if (key == "model") {
      if (val == "ewma")
        m.model = HeatModel::kEwma;
      else if (val == "lru")
        m.model = HeatModel::kLru;
      else if (val == "lfu")
        m.model = HeatModel::kLfu;
      else
        bad("bad heat model " + quote(val) + " (expected ewma, lru or lfu)");
    } else if (key == "alpha") {
      if (parse_decimal(val, &d) && d > 0 && d <= 1)
        m.alpha = d;
      else
        bad("bad alpha " + quote(val) + " (expected a number in (0, 1], e.g. 0.5)");
    } else if (key == "window") {
      if (parse_uint(val, 64, &u) && u >= 1)
        m.window = static_cast<uint32_t>(u);
      else
        bad("bad window " + quote(val) + " (expected 1 to 64 intervals)");
    } else if (key == "promote" || key == "demote") {
      if (parse_decimal(val, &d) && d <= 1)
        (key == "promote" ? m.promote : m.demote) = d;
      else
        bad("bad " + std::string(key) + " threshold " + quote(val) +
            " (expected a heat from 0 to 1, e.g. 0.5)");
    } else if (key == "hold") {
      if (parse_uint(val, 1000, &u))
        m.hold = static_cast<uint32_t>(u);
      else
        bad("bad hold " + quote(val) + " (expected 0 to 1000 intervals)");
    } else if (key == "rate") {
      std::string_view r = val;
      if (r.size() > 2 && r.substr(r.size() - 2) == "/s") r.remove_suffix(2);
      if (parse_size(r, &u) && u >= (1ULL << 20))
        m.rate = u;
      else
        bad("bad rate " + quote(val) + " (expected bytes per second of at least 1M, e.g. 256M/s)");
    } else if (key == "interval") {
      if (parse_duration_ms(val, &u) && u >= 10 && u <= 60000)
        m.interval_ms = static_cast<uint32_t>(u);
      else
        bad("bad interval " + quote(val) + " (expected 10ms to 60s, e.g. 500ms or 1s)");
    } else if (key == "batch") {
      if (parse_uint(val, 1 << 20, &u) && u >= 1)
        m.batch_pages = static_cast<uint32_t>(u);
      else
        bad("bad batch " + quote(val) + " (expected 1 to 1048576 pages per move_pages call)");
    } else {
      diag->add(kVar, value, col(value, key.empty() ? a : key),
                "unknown key " + quote(key) +
                    " (expected model, alpha, window, promote, demote, hold, rate, interval or "
                    "batch)");
    }
  }
  if (diag->errors.size() == errors_before && m.demote >= m.promote) {
    diag->add(kVar, value, 1,
              "demote threshold " + std::to_string(m.demote).substr(0, 4) +
                  " is not below promote threshold " + std::to_string(m.promote).substr(0, 4) +
                  " (expected demote < promote, or pages would ping-pong)");
  }
  if (diag->errors.size() != errors_before) return false;
  *out = m;
  return true;
}

std::string explain_migrate(const MigrateConfig& m) {
  if (!m.enabled) return "migration: off\n";
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "migration: model=%s, alpha=%.2f, window=%u, promote=%.2f, demote=%.2f, hold=%u, "
                "rate=%lluM/s, interval=%ums, batch=%u\n",
                heat_model_name(m.model), m.alpha, m.window, m.promote, m.demote, m.hold,
                static_cast<unsigned long long>(m.rate >> 20), m.interval_ms, m.batch_pages);
  return buf;
}

const char* sampler_kind_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::kAuto:
      return "auto";
    case SamplerKind::kAbit:
      return "abit";
    case SamplerKind::kPebs:
      return "pebs";
    case SamplerKind::kIbs:
      return "ibs";
    case SamplerKind::kIdle:
      return "idle";
    case SamplerKind::kDamon:
      return "damon";
    case SamplerKind::kTrace:
      return "trace";
    case SamplerKind::kOff:
      return "off";
  }
  return "?";
}

bool parse_sampler(std::string_view value, SamplerConfig* out, Diagnostics* diag) {
  constexpr std::string_view kVar = "STRATA_SAMPLER";
  const size_t errors_before = diag->errors.size();
  SamplerConfig c;
  bool first = true;
  for (std::string_view raw : split(value, ',')) {
    std::string_view a = trim(raw);
    size_t at = col(value, a.empty() ? raw : a);
    if (first) {
      first = false;
      if (a.substr(0, 6) == "trace:") {
        std::string_view path = trim(a.substr(6));
        if (path.empty() || path.size() >= sizeof c.trace) {
          diag->add(kVar, value, at, "expected trace:FILE with a file path of 1 to 255 bytes");
        } else {
          c.kind = SamplerKind::kTrace;
          std::memcpy(c.trace, path.data(), path.size());
        }
        continue;
      }
      bool known = false;
      for (auto k : {SamplerKind::kAuto, SamplerKind::kAbit, SamplerKind::kPebs, SamplerKind::kIbs,
                     SamplerKind::kIdle, SamplerKind::kDamon, SamplerKind::kOff}) {
        if (a == sampler_kind_name(k)) {
          c.kind = k;
          known = true;
        }
      }
      if (!known)
        diag->add(kVar, value, at,
                  "unknown sampler " + quote(a) +
                      " (expected auto, abit, pebs, ibs, idle, damon, trace:FILE or off)");
      continue;
    }
    size_t eq = a.find('=');
    std::string_view key = trim(a.substr(0, eq));
    std::string_view val =
        eq == std::string_view::npos ? std::string_view{} : trim(a.substr(eq + 1));
    uint64_t u = 0;
    double d = 0;
    if (key == "cpu" && eq != std::string_view::npos) {
      std::string_view v = val;
      if (!v.empty() && v.back() == '%') v.remove_suffix(1);
      if (val == "auto")
        c.cpu_pct = 0;
      else if (parse_decimal(v, &d) && d >= 0.1 && d <= 100)
        c.cpu_pct = d;
      else
        diag->add(kVar, value, col(value, val.empty() ? a : val),
                  "bad cpu budget " + quote(val) + " (expected auto or 0.1% to 100%, e.g. 3%)");
    } else if (key == "period" && eq != std::string_view::npos) {
      if (parse_uint(val, 1U << 30, &u) && u >= 100)
        c.period = static_cast<uint32_t>(u);
      else
        diag->add(kVar, value, col(value, val.empty() ? a : val),
                  "bad period " + quote(val) + " (expected 100 to 1073741824 events per sample)");
    } else if (key == "window" && eq != std::string_view::npos) {
      if (val == "auto")
        c.window_ms = 0;
      else if (parse_duration_ms(val, &u) && u >= 1 && u <= 60000)
        c.window_ms = static_cast<uint32_t>(u);
      else
        diag->add(kVar, value, col(value, val.empty() ? a : val),
                  "bad window " + quote(val) + " (expected auto or 1ms to 60s, e.g. 20ms)");
    } else if (key == "thp" && eq != std::string_view::npos) {
      if (val == "keep" || val == "split" || val == "huge") {
        c.keep_thp = val != "split";
        c.huge_thp = val == "huge";
      } else {
        diag->add(kVar, value, col(value, val.empty() ? a : val),
                  "bad thp " + quote(val) + " (expected split, keep or huge)");
      }
    } else {
      diag->add(kVar, value, at,
                "unknown option " + quote(a) +
                    " (expected cpu=P%, period=N, window=T or thp=split|keep|huge)");
    }
  }
  if (diag->errors.size() != errors_before) return false;
  *out = c;
  return true;
}

std::string explain_sampler(const SamplerConfig& s) {
  char cpu[32];
  if (s.cpu_pct > 0)
    std::snprintf(cpu, sizeof cpu, "%.1f%%", s.cpu_pct);
  else
    std::snprintf(cpu, sizeof cpu, "auto");
  const char* thp = s.huge_thp ? "huge" : s.keep_thp ? "keep" : "split";
  char buf[400];
  if (s.kind == SamplerKind::kTrace)
    std::snprintf(buf, sizeof buf, "sampler: trace:%s, cpu=%s\n", s.trace, cpu);
  else if (s.window_ms == 0)
    std::snprintf(buf, sizeof buf, "sampler: %s, cpu=%s, period=%u, window=auto, thp=%s\n",
                  sampler_kind_name(s.kind), cpu, s.period, thp);
  else
    std::snprintf(buf, sizeof buf, "sampler: %s, cpu=%s, period=%u, window=%ums, thp=%s\n",
                  sampler_kind_name(s.kind), cpu, s.period, s.window_ms, thp);
  return buf;
}

}  // namespace strata
