// Small formatting helpers shared by the renderers.
#include <cmath>
#include <cstdio>
#include <string>

#include "src/tools/report/report.h"

namespace strata::report {

std::string human_bytes(double bytes) {
  if (!std::isfinite(bytes) || bytes < 0) bytes = 0;
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  char b[32];
  if (bytes < 1024) {
    std::snprintf(b, sizeof b, "%.0f B", bytes);
    return b;
  }
  int u = 0;
  double v = bytes / 1024;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  std::snprintf(b, sizeof b, "%.1f %s", v, kUnits[u]);
  return b;
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string hash_str(uint64_t h) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(h));
  return b;
}

std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) v = 0;
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  std::string s = b;
  if (s.size() > 1 && s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos)
    s.erase(0, 1);  // no "-0.00"
  return s;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f || c >= 0x80) {
          // Bytes, not code points: paths and names in a profile need not be
          // UTF-8, and a JSON document must be. Non-ASCII bytes become U+00XX.
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t')
          out += '?';
        else
          out += c;
    }
  }
  return out;
}

std::string tier_name(const Report& r, int tier) {
  if (tier < 0) return "?";
  if (r.prof != nullptr && static_cast<size_t>(tier) < r.prof->tiers.size())
    return r.prof->tiers[static_cast<size_t>(tier)].name;
  return "tier" + std::to_string(tier);
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Frame::location() const {
  if (module < 0) return hex(address);
  return module_name + "+" + hex(offset);
}

std::string Frame::label() const {
  if (function.empty()) return location();
  if (file.empty()) return function;
  size_t slash = file.rfind('/');
  return function + " (" + (slash == std::string::npos ? file : file.substr(slash + 1)) + ":" +
         std::to_string(line) + ")";
}

const char* class_name(SiteClass c) {
  switch (c) {
    case SiteClass::kHot:
      return "hot";
    case SiteClass::kCold:
      return "cold";
    case SiteClass::kMixed:
      return "mixed";
    case SiteClass::kUnsampled:
      return "unsampled";
  }
  return "?";
}

const char* module_status_name(ModuleStatus s) {
  switch (s) {
    case ModuleStatus::kFound:
      return "found";
    case ModuleStatus::kMissing:
      return "missing";
    case ModuleStatus::kBuildIdMismatch:
      return "build-id-mismatch";
  }
  return "?";
}

}  // namespace strata::report
