// The lexing the grammars share: trimming, splitting, columns, sizes, booleans,
// and the one-line error format (Diagnostics).
#include "policy/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "policy/lex.h"

namespace strata {

using namespace lex;  // NOLINT(google-build-using-namespace): the shared lexing helpers

std::string excerpt(std::string_view s, size_t max) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  for (; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

void Diagnostics::add(std::string_view var, std::string_view value, size_t column,
                      const std::string& what) {
  std::string m(var);
  m += "=\"";
  m += excerpt(value, kExcerpt);
  m += "\": column ";
  m += std::to_string(column);
  m += ": ";
  m += what;
  errors.push_back(std::move(m));
}

namespace lex {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Column (1-based) of `part` inside `whole` (part must be a view into whole).
size_t col(std::string_view whole, std::string_view part) {
  return static_cast<size_t>(part.data() - whole.data()) + 1;
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() >= sizeof(TierDef::name)) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Splits on `sep` (not inside nothing fancy); keeps views into the original.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::string quote(std::string_view s) {
  return "'" + excerpt(s, 40) + "'";
}

// Decimal digits only (no sign, at most 10), value at most `max`.
bool parse_uint(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

}  // namespace lex

bool parse_size(std::string_view s, uint64_t* out) {
  s = trim(s);
  if (s.empty()) return false;
  uint64_t v = 0;
  size_t i = 0;
  for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (i == 0) return false;
  uint64_t mult = 1;
  std::string_view suffix = s.substr(i);
  if (!suffix.empty()) {
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    switch (c) {
      case 'K':
        mult = 1ULL << 10;
        break;
      case 'M':
        mult = 1ULL << 20;
        break;
      case 'G':
        mult = 1ULL << 30;
        break;
      case 'T':
        mult = 1ULL << 40;
        break;
      case 'B':
        mult = 1;
        break;
      default:
        return false;
    }
    suffix.remove_prefix(1);
    if (c != 'B') {
      // Accept K, KB, KiB (all binary).
      if (suffix == "iB" || suffix == "ib" || suffix == "B" || suffix == "b") suffix = {};
    }
    if (!suffix.empty()) return false;
  }
  if (v != 0 && mult > UINT64_MAX / v) return false;
  *out = v * mult;
  return true;
}

bool parse_bool(std::string_view s, bool* out) {
  if (s == "1") {
    *out = true;
    return true;
  }
  if (s == "0") {
    *out = false;
    return true;
  }
  return false;
}

std::vector<std::string> Diagnostics::lines(size_t per_var) const {
  std::vector<std::string> out;
  std::vector<std::pair<std::string, size_t>> seen;  // variable, errors so far
  for (const std::string& e : errors) {
    std::string var = e.substr(0, e.find('='));
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == var; });
    if (it == seen.end()) it = seen.insert(seen.end(), {var, 0});
    if (++it->second <= per_var) out.push_back(e);
  }
  for (const auto& [var, n] : seen)
    if (n > per_var)
      out.push_back(var + ": ... and " + std::to_string(n - per_var) + " more error" +
                    (n - per_var == 1 ? "" : "s"));
  return out;
}

}  // namespace strata
