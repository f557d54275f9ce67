#include "policy/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace strata {

// --------------------------------------------------------------------- nodes
bool NodeMask::empty() const {
  return std::all_of(std::begin(bits), std::end(bits), [](uint64_t b) { return b == 0; });
}

int NodeMask::count() const {
  int n = 0;
  for (uint64_t b : bits) n += __builtin_popcountll(b);
  return n;
}

int NodeMask::first() const {
  for (int i = 0; i < kMaxNodes; ++i)
    if (test(i)) return i;
  return -1;
}

int NodeMask::max_node() const {
  for (int i = kMaxNodes - 1; i >= 0; --i)
    if (test(i)) return i;
  return -1;
}

std::string NodeMask::str() const {
  std::string out;
  for (int i = 0; i < kMaxNodes; ++i) {
    if (!test(i)) continue;
    int j = i;
    while (j + 1 < kMaxNodes && test(j + 1)) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(i);
    if (j > i) out += '-' + std::to_string(j);
    i = j;
  }
  return out;
}

const char* tier_kind_name(TierKind k) {
  switch (k) {
    case TierKind::kDram:
      return "dram";
    case TierKind::kCxl:
      return "cxl";
    case TierKind::kPmemNode:
      return "pmem-node";
    case TierKind::kPmemFile:
      return "pmem-file";
  }
  return "?";
}

int CompiledPolicy::tier_by_name(std::string_view name) const {
  for (int i = 0; i < ntiers; ++i)
    if (name == tiers[i].name) return i;
  return -1;
}

int CompiledPolicy::label_index(std::string_view name) const {
  for (int i = 0; i < nlabels; ++i)
    if (name == labels[i]) return i;
  return -1;
}

int CompiledPolicy::hint_tier(std::string_view name) const {
  if (name == "hot") return 0;
  if (name == "cold") return ntiers > 0 ? ntiers - 1 : 0;
  return tier_by_name(name);
}

Placement CompiledPolicy::decide(const PlaceQuery& q, InterleaveState* il) const {
  Placement out;
  const auto kind = static_cast<uint8_t>(q.kind);
  bool have_site = false;
  uint64_t site = 0;
  const bool hinted = q.hint_tier >= 0;
  for (int i = 0; i < nrules; ++i) {
    const Rule& r = rules[i];
    // A thread hint naming a tier acts as a rule of priority kHintPrio.
    if (hinted && r.prio < kHintPrio) {
      out.tier = q.hint_tier;
      out.rule = -2;
      return out;
    }
    if (!(r.kinds & kind) || q.size < r.size_min || q.size > r.size_max) continue;
    if (r.hint >= 0 && r.hint != q.hint_label) continue;
    if (r.site_cond) {
      if (!have_site) {
        site = q.site_bits != nullptr ? q.site_bits(q.site_ctx) : 0;
        have_site = true;
      }
      if (((site >> i) & 1) == 0) continue;
    }
    out.nospill = r.nospill;
    out.pin = r.pin;
    out.rule = i;
    if (r.nweights == 0 || il == nullptr) {
      out.tier = r.tier;
      return out;
    }
    // Weighted interleave by bytes: the target furthest below its share.
    int best = 0;
    for (int k = 1; k < r.nweights; ++k) {
      uint64_t bk = __atomic_load_n(&il->bytes[i][k], __ATOMIC_RELAXED);
      uint64_t bb = __atomic_load_n(&il->bytes[i][best], __ATOMIC_RELAXED);
      // bk / w[k] < bb / w[best], without division.
      if (static_cast<unsigned __int128>(bk) * r.weight[best] <
          static_cast<unsigned __int128>(bb) * r.weight[k])
        best = k;
    }
    __atomic_fetch_add(&il->bytes[i][best], q.size, __ATOMIC_RELAXED);
    out.tier = r.wtier[best];
    return out;
  }
  if (hinted) {
    out.tier = q.hint_tier;
    out.rule = -2;
  }
  return out;
}

std::string_view qualified_name(std::string_view f) {
  // Compiler clones: "f(int) [clone .constprop.0] [clone .isra.0]".
  while (!f.empty() && f.back() == ']') {
    size_t open = f.rfind(" [clone ");
    if (open == std::string_view::npos) break;
    f = f.substr(0, open);
  }
  // Trailing qualifiers of member functions, then the parameter list.
  for (std::string_view q : {" const", " volatile", " &&", " &"}) {
    if (f.size() > q.size() && f.substr(f.size() - q.size()) == q) f.remove_suffix(q.size());
  }
  if (!f.empty() && f.back() == ')') {
    int depth = 0;
    for (size_t i = f.size(); i-- > 0;) {
      if (f[i] == ')') ++depth;
      if (f[i] == '(' && --depth == 0) {
        if (i > 0) f = f.substr(0, i);
        break;
      }
    }
  }
  return f;
}

std::string_view unqualified_name(std::string_view f) {
  f = qualified_name(f);
  // Last "::" outside template arguments and parentheses.
  int depth = 0;
  for (size_t i = f.size(); i-- > 1;) {
    char c = f[i];
    if (c == '>' || c == ')') ++depth;
    if (c == '<' || c == '(') --depth;
    if (depth == 0 && c == ':' && f[i - 1] == ':') return f.substr(i + 1);
  }
  return f;
}

uint64_t CompiledPolicy::site_mask(std::string_view func, std::string_view mangled,
                                   std::string_view module, uint64_t hash) const {
  // Patterns name functions: "parse_*" matches the unqualified name,
  // "ns::Cls::*" (any pattern with "::") the qualified one, without the
  // parameters; the full demangled text and the linker symbol match too.
  const std::string_view qual = qualified_name(func);
  const std::string_view bare = unqualified_name(func);
  uint64_t bits = 0;
  for (int i = 0; i < nrules; ++i) {
    const Rule& r = rules[i];
    if (!r.site_cond) continue;
    if (r.site_hash != 0 && r.site_hash != hash) continue;
    if (r.site_pat[0] != '\0' &&
        !(glob_match(r.site_pat, std::strstr(r.site_pat, "::") != nullptr ? qual : bare) ||
          glob_match(r.site_pat, func) || glob_match(r.site_pat, mangled)))
      continue;
    if (r.lib_pat[0] != '\0' && !glob_match(r.lib_pat, module)) continue;
    bits |= 1ULL << i;
  }
  return bits;
}

uint64_t site_hash(std::string_view module, uint64_t offset) {
  uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  for (char c : module) mix(static_cast<unsigned char>(c));
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(offset >> (8 * i)));
  return h != 0 ? h : 1;
}

bool glob_match(std::string_view pat, std::string_view text) {
  // Iterative matcher with one backtrack point: linear for one '*', and
  // never worse than O(|pat| * |text|).
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t mark = 0;
  while (t < text.size()) {
    if (p < pat.size() && (pat[p] == '?' || pat[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

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

// ------------------------------------------------------------------- parsing
void Diagnostics::add(std::string_view var, std::string_view value, size_t column,
                      const std::string& what) {
  std::string m(var);
  m += "=\"";
  m += value;
  m += "\": column ";
  m += std::to_string(column);
  m += ": ";
  m += what;
  errors.push_back(std::move(m));
}

namespace {

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
  return "'" + std::string(s) + "'";
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

}  // namespace

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
  s = trim(s);
  if (s == "1" || s == "true" || s == "yes" || s == "on") {
    *out = true;
    return true;
  }
  if (s == "0" || s == "false" || s == "no" || s == "off" || s.empty()) {
    *out = false;
    return true;
  }
  return false;
}

bool parse_nodelist(std::string_view s, NodeMask* out) {
  s = trim(s);
  if (s.empty()) return false;
  NodeMask m;
  for (std::string_view part : split(s, ',')) {
    part = trim(part);
    size_t dash = part.find('-');
    std::string_view a = part.substr(0, dash);
    std::string_view b = dash == std::string_view::npos ? a : part.substr(dash + 1);
    auto num = [](std::string_view t, int* v) {
      if (t.empty() || t.size() > 4) return false;
      int x = 0;
      for (char c : t) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        x = x * 10 + (c - '0');
      }
      *v = x;
      return x < kMaxNodes;
    };
    int lo = 0;
    int hi = 0;
    if (!num(a, &lo) || !num(b, &hi) || hi < lo) return false;
    for (int n = lo; n <= hi; ++n) m.set(n);
  }
  *out = m;
  return true;
}

// --------------------------------------------------------------- STRATA_TIERS
bool parse_tiers(std::string_view value, const std::vector<TierDef>& discovered,
                 std::vector<TierDef>* out, Diagnostics* diag) {
  constexpr std::string_view kVar = "STRATA_TIERS";
  const size_t errors_before = diag->errors.size();
  std::vector<TierDef> tiers;
  for (std::string_view entry : split(value, ';')) {
    std::string_view e = trim(entry);
    if (e.empty()) continue;
    size_t colon = e.find(':');
    std::string_view name = trim(e.substr(0, colon));
    std::string_view attrs =
        colon == std::string_view::npos ? std::string_view{} : e.substr(colon + 1);
    if (!valid_name(name)) {
      diag->add(kVar, value, col(value, e),
                "bad tier name " + quote(name) + " (expected 1-31 letters, digits, '_' or '-')");
      continue;
    }
    TierDef t;
    std::memcpy(t.name, name.data(), name.size());
    bool has_nodes = false;
    bool has_path = false;
    bool has_size = false;
    bool has_kind = false;
    bool ok = true;
    // Attributes are comma separated; a node list may itself contain commas
    // ("nodes=0,2-3,cap=1G"), so a piece that starts with a digit continues
    // the previous value.
    std::vector<std::string_view> pieces;
    if (!attrs.empty()) {
      for (std::string_view p : split(attrs, ',')) {
        std::string_view tp = trim(p);
        if (!pieces.empty() && !tp.empty() && std::isdigit(static_cast<unsigned char>(tp[0])) &&
            trim(pieces.back()).substr(0, 6) == "nodes=") {
          const char* begin = pieces.back().data();
          pieces.back() = std::string_view(begin, static_cast<size_t>(p.data() + p.size() - begin));
        } else {
          pieces.push_back(p);
        }
      }
    }
    for (std::string_view raw : pieces) {
      std::string_view a = trim(raw);
      size_t eq = a.find('=');
      if (a.empty() || eq == std::string_view::npos) {
        diag->add(kVar, value, col(value, a.empty() ? raw : a),
                  "expected key=value in tier " + quote(name) + ", got " + quote(a) +
                      " (keys: nodes, cap, path, size, kind, high, low)");
        ok = false;
        continue;
      }
      std::string_view key = trim(a.substr(0, eq));
      std::string_view val = trim(a.substr(eq + 1));
      if (key == "nodes") {
        if (!parse_nodelist(val, &t.nodes)) {
          diag->add(kVar, value, col(value, val.empty() ? a : val),
                    "bad node list " + quote(val) + " (expected e.g. 1 or 0-1,3; nodes < " +
                        std::to_string(kMaxNodes) + ")");
          ok = false;
        }
        has_nodes = true;
      } else if (key == "cap") {
        if (!parse_size(val, &t.cap) || t.cap == 0) {
          diag->add(kVar, value, col(value, val.empty() ? a : val),
                    "bad capacity " + quote(val) + " (expected a size > 0 such as 512M or 8G)");
          ok = false;
        }
      } else if (key == "size") {
        if (!parse_size(val, &t.size) || t.size < (2ULL << 20)) {
          diag->add(kVar, value, col(value, val.empty() ? a : val),
                    "bad size " + quote(val) + " (expected a size of at least 2M, e.g. 16G)");
          ok = false;
        }
        has_size = true;
      } else if (key == "path") {
        if (val.empty() || val[0] != '/' || val.size() >= sizeof(t.path)) {
          diag->add(kVar, value, col(value, val.empty() ? a : val),
                    "bad path " + quote(val) + " (expected an absolute directory path)");
          ok = false;
        } else {
          std::memcpy(t.path, val.data(), val.size());
        }
        has_path = true;
      } else if (key == "high" || key == "low") {
        std::string_view num = val;
        if (!num.empty() && num.back() == '%') num.remove_suffix(1);
        uint64_t v = 0;
        if (num.size() > 3 || !parse_uint(num, 100, &v) || v < 1) {
          diag->add(kVar, value, col(value, val.empty() ? a : val),
                    "bad watermark " + quote(val) + " (expected a percentage from 1% to 100%)");
          ok = false;
        } else {
          (key == "high" ? t.high_pct : t.low_pct) = static_cast<uint8_t>(v);
        }
      } else if (key == "kind") {
        if (val == "dram")
          t.kind = TierKind::kDram;
        else if (val == "cxl")
          t.kind = TierKind::kCxl;
        else if (val == "pmem")
          t.kind = TierKind::kPmemNode;
        else {
          diag->add(kVar, value, col(value, val.empty() ? a : val),
                    "bad kind " + quote(val) + " (expected dram, cxl or pmem)");
          ok = false;
        }
        has_kind = true;
      } else {
        diag->add(kVar, value, col(value, key.empty() ? a : key),
                  "unknown key " + quote(key) + " in tier " + quote(name) +
                      " (expected nodes, cap, path, size, kind, high or low)");
        ok = false;
      }
    }
    if (!ok) continue;
    if (t.low_pct > t.high_pct) {
      diag->add(kVar, value, col(value, e),
                "tier " + quote(name) + " has low=" + std::to_string(t.low_pct) +
                    "% above high=" + std::to_string(t.high_pct) + "% (expected low <= high)");
      continue;
    }
    if (has_nodes && has_path) {
      diag->add(kVar, value, col(value, e),
                "tier " + quote(name) + " has both nodes= and path= (expected one of them)");
      continue;
    }
    if (has_size && !has_path) {
      diag->add(kVar, value, col(value, e),
                "tier " + quote(name) + " has size= without path= (size is the PMEM file size)");
      continue;
    }
    if (has_path) {
      t.kind = TierKind::kPmemFile;
      if (!has_size) t.size = t.cap;
      if (t.size == 0) {
        diag->add(kVar, value, col(value, e),
                  "tier " + quote(name) + " has path= but no size= (expected e.g. size=16G)");
        continue;
      }
      if (t.cap == 0 || t.cap > t.size) t.cap = t.size;
      std::snprintf(t.why, sizeof t.why, "STRATA_TIERS: file heap, %llu MiB in %.120s",
                    static_cast<unsigned long long>(t.size >> 20), t.path);
    } else if (!has_nodes) {
      auto it = std::find_if(discovered.begin(), discovered.end(),
                             [&](const TierDef& d) { return name == d.name; });
      if (it == discovered.end()) {
        std::string known;
        for (const auto& d : discovered) known += (known.empty() ? "" : ", ") + std::string(d.name);
        diag->add(kVar, value, col(value, e),
                  "tier " + quote(name) + " has no nodes= or path= and is not a discovered tier" +
                      " (discovered: " + (known.empty() ? "none" : known) + ")");
        continue;
      }
      t.nodes = it->nodes;
      if (!has_kind) t.kind = it->kind;
      std::snprintf(t.why, sizeof t.why, "STRATA_TIERS: discovered tier %s, nodes %s", it->name,
                    it->nodes.str().c_str());
    } else {
      if (!has_kind) {
        // Same nodes as a discovered tier: take its kind.
        for (const auto& d : discovered)
          if (d.nodes == t.nodes) t.kind = d.kind;
      }
      std::snprintf(t.why, sizeof t.why, "STRATA_TIERS: nodes %s", t.nodes.str().c_str());
    }
    bool dup = std::any_of(tiers.begin(), tiers.end(),
                           [&](const TierDef& o) { return std::strcmp(o.name, t.name) == 0; });
    if (dup) {
      diag->add(kVar, value, col(value, e), "tier " + quote(name) + " is declared twice");
      continue;
    }
    tiers.push_back(t);
  }
  if (diag->errors.size() == errors_before) {
    if (tiers.empty()) {
      diag->add(kVar, value, 1,
                "no tier declared (expected name:nodes=LIST or name:path=DIR,size=SIZE)");
    } else if (tiers.size() > static_cast<size_t>(kMaxTiers)) {
      diag->add(kVar, value, 1,
                std::to_string(tiers.size()) + " tiers declared (expected at most " +
                    std::to_string(kMaxTiers) + ")");
    }
  }
  if (diag->errors.size() != errors_before) return false;
  *out = std::move(tiers);
  return true;
}

// -------------------------------------------------------------- STRATA_POLICY
namespace {

bool valid_label(std::string_view s) {
  if (s.empty() || s.size() >= sizeof(CompiledPolicy::labels[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

// A glob for site= or lib=: printable, no spaces or separators, fits the rule.
bool valid_pattern(std::string_view s) {
  if (s.empty() || s.size() >= sizeof(Rule::site_pat)) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isgraph(static_cast<unsigned char>(c)) && c != ',' && c != ';' && c != '#';
  });
}

bool parse_hash(std::string_view s, uint64_t* out) {
  if (s.size() < 3 || s.size() > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return false;
  uint64_t v = 0;
  for (char c : s.substr(2)) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                        : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return v != 0;
}

bool parse_cond(std::string_view c, Rule* r, CompiledPolicy* policy, std::string* expected) {
  if (c == "*") return true;
  if (c.substr(0, 5) == "site=") {
    std::string_view v = trim(c.substr(5));
    r->site_cond = true;
    if (v.substr(0, 2) == "0x" || v.substr(0, 2) == "0X") {
      if (!parse_hash(v, &r->site_hash)) {
        *expected = "bad site hash " + quote(v) +
                    " (expected 0x and 1-16 hex digits, as the profiler report prints)";
        return false;
      }
      return true;
    }
    if (!valid_pattern(v)) {
      *expected = "bad site pattern " + quote(v) +
                  " (expected a function name or glob such as parse_* or ns::Cls::*, at most 63 "
                  "characters)";
      return false;
    }
    if (r->site_pat[0] != '\0') {
      *expected = "two site= patterns in one rule (expected one; write two rules)";
      return false;
    }
    std::memcpy(r->site_pat, v.data(), v.size());
    return true;
  }
  if (c.substr(0, 4) == "lib=") {
    std::string_view v = trim(c.substr(4));
    if (!valid_pattern(v)) {
      *expected = "bad library pattern " + quote(v) +
                  " (expected a file name or glob such as libpython3* or myapp, at most 63 "
                  "characters)";
      return false;
    }
    if (r->lib_pat[0] != '\0') {
      *expected = "two lib= patterns in one rule (expected one; write two rules)";
      return false;
    }
    r->site_cond = true;
    std::memcpy(r->lib_pat, v.data(), v.size());
    return true;
  }
  if (c.substr(0, 5) == "hint=") {
    std::string_view v = trim(c.substr(5));
    if (!valid_label(v)) {
      *expected = "bad hint label " + quote(v) +
                  " (expected 1-31 letters, digits, '_', '-' or '.', as passed to "
                  "strata_thread_hint_push)";
      return false;
    }
    if (r->hint >= 0) {
      *expected = "two hint= conditions in one rule (expected one; write two rules)";
      return false;
    }
    int idx = policy->label_index(v);
    if (idx < 0) {
      if (policy->nlabels >= kMaxLabels) {
        *expected =
            "too many distinct hint labels (expected at most " + std::to_string(kMaxLabels) + ")";
        return false;
      }
      idx = policy->nlabels++;
      std::memcpy(policy->labels[idx], v.data(), v.size());
    }
    r->hint = static_cast<int8_t>(idx);
    return true;
  }
  if (c.substr(0, 5) == "kind=") {
    std::string_view k = trim(c.substr(5));
    if (k == "heap")
      r->kinds &= static_cast<uint8_t>(AllocKind::kHeap);
    else if (k == "mmap")
      r->kinds &= static_cast<uint8_t>(AllocKind::kMmap);
    else {
      *expected = "bad kind " + quote(k) + " (expected heap or mmap)";
      return false;
    }
    return true;
  }
  if (c.substr(0, 4) == "size") {
    std::string_view rest = trim(c.substr(4));
    std::string_view op;
    for (std::string_view cand : {"<=", ">=", "==", "<", ">", "="}) {
      if (rest.substr(0, cand.size()) == cand) {
        op = cand;
        break;
      }
    }
    uint64_t v = 0;
    std::string_view num = trim(rest.substr(op.size()));
    if (op.empty() || !parse_size(num, &v)) {
      *expected = "bad size condition " + quote(c) +
                  " (expected size<N, size<=N, size>N, size>=N or size=N with N like 64, 4K, 1M)";
      return false;
    }
    uint64_t lo = 0;
    uint64_t hi = UINT64_MAX;
    if (op == "<") {
      if (v == 0) {
        *expected = "condition " + quote(c) + " never matches";
        return false;
      }
      hi = v - 1;
    } else if (op == "<=") {
      hi = v;
    } else if (op == ">") {
      if (v == UINT64_MAX) {
        *expected = "condition " + quote(c) + " never matches";
        return false;
      }
      lo = v + 1;
    } else if (op == ">=") {
      lo = v;
    } else {
      lo = hi = v;
    }
    r->size_min = std::max(r->size_min, lo);
    r->size_max = std::min(r->size_max, hi);
    return true;
  }
  *expected = "unknown condition " + quote(c) +
              " (expected size<op>N, kind=heap|mmap, site=NAME|0xHASH, lib=NAME, hint=LABEL or *)";
  return false;
}

}  // namespace

bool parse_policy(std::string_view value, CompiledPolicy* policy, Diagnostics* diag) {
  constexpr std::string_view kVar = "STRATA_POLICY";
  const size_t errors_before = diag->errors.size();
  policy->nlabels = 0;
  std::vector<Rule> rules;
  int order = 0;
  // Rules are separated by ';' or newlines; '#' starts a comment to end of line.
  std::vector<std::string_view> entries;
  {
    size_t start = 0;
    for (size_t i = 0; i <= value.size(); ++i) {
      if (i == value.size() || value[i] == ';' || value[i] == '\n') {
        std::string_view e = value.substr(start, i - start);
        size_t hash = e.find('#');
        if (hash != std::string_view::npos) e = e.substr(0, hash);
        entries.push_back(e);
        start = i + 1;
      }
    }
  }
  for (std::string_view entry : entries) {
    std::string_view e = trim(entry);
    if (e.empty()) continue;
    size_t arrow = e.find("->");
    if (arrow == std::string_view::npos) {
      diag->add(kVar, value, col(value, e),
                "rule " + quote(e) + " has no '->' (expected CONDITION,... -> TIER)");
      continue;
    }
    Rule r;
    r.order = order++;
    bool ok = true;
    std::string_view lhs = trim(e.substr(0, arrow));
    std::string_view rhs = trim(e.substr(arrow + 2));
    if (lhs.empty()) {
      diag->add(kVar, value, col(value, e),
                "rule " + quote(e) + " has no condition (use * for all)");
      continue;
    }
    for (std::string_view c : split(lhs, ',')) {
      std::string_view tc = trim(c);
      std::string expected;
      if (tc.substr(0, 5) == "prio=") {
        std::string_view p = trim(tc.substr(5));
        int v = 0;
        bool neg = !p.empty() && p[0] == '-';
        if (neg) p.remove_prefix(1);
        bool good = !p.empty() && p.size() <= 6 && std::all_of(p.begin(), p.end(), [](char ch) {
          return std::isdigit(static_cast<unsigned char>(ch));
        });
        if (good)
          for (char ch : p) v = v * 10 + (ch - '0');
        if (!good) {
          diag->add(
              kVar, value, col(value, tc.empty() ? c : tc),
              "bad priority " + quote(tc) + " (expected prio=N with N from -999999 to 999999)");
          ok = false;
        }
        r.prio = neg ? -v : v;
        continue;
      }
      if (tc.empty() || !parse_cond(tc, &r, policy, &expected)) {
        diag->add(kVar, value, col(value, tc.empty() ? c : tc),
                  expected.empty() ? "empty condition (expected size<op>N, kind=heap|mmap, "
                                     "site=NAME|0xHASH, lib=NAME, hint=LABEL or *)"
                                   : expected);
        ok = false;
      }
    }
    if (ok && (r.kinds == 0 || r.size_min > r.size_max)) {
      diag->add(kVar, value, col(value, lhs), "conditions " + quote(lhs) + " never match together");
      ok = false;
    }
    bool have_tier = false;
    auto unknown_tier = [&](std::string_view tname, std::string_view at) {
      std::string known;
      for (int i = 0; i < policy->ntiers; ++i)
        known += (i ? ", " : "") + std::string(policy->tiers[i].name);
      diag->add(kVar, value, col(value, at),
                (tname.empty() ? std::string("missing tier") : "unknown tier " + quote(tname)) +
                    " (expected one of: " + known + ")");
      ok = false;
    };
    for (std::string_view a : split(rhs, ',')) {
      std::string_view ta = trim(a);
      if (ta == "nospill") {
        r.nospill = true;
        continue;
      }
      if (ta == "pin") {
        r.pin = true;
        continue;
      }
      std::string_view tname = ta.substr(0, 5) == "tier=" ? trim(ta.substr(5)) : ta;
      // TIER:WEIGHT interleaves by bytes over the weighted tiers.
      size_t colon = tname.find(':');
      std::string_view wtext;
      if (colon != std::string_view::npos) {
        wtext = trim(tname.substr(colon + 1));
        tname = trim(tname.substr(0, colon));
      }
      int t = policy->tier_by_name(tname);
      if (t < 0) {
        unknown_tier(tname, ta.empty() ? (rhs.empty() ? e : rhs) : ta);
        continue;
      }
      if (colon != std::string_view::npos) {
        uint64_t w = 0;
        if (wtext.size() > 4 || !parse_uint(wtext, 1000, &w) || w < 1) {
          diag->add(kVar, value, col(value, wtext.empty() ? ta : wtext),
                    "bad weight " + quote(wtext) + " for tier " + quote(tname) +
                        " (expected an integer from 1 to 1000, as in dram:1,cxl:3)");
          ok = false;
          continue;
        }
        if (have_tier && r.nweights == 0) {
          diag->add(kVar, value, col(value, ta),
                    "rule mixes a plain tier with weighted tiers (expected TIER or TIER:W,TIER:W)");
          ok = false;
          continue;
        }
        for (int i = 0; i < r.nweights; ++i) {
          if (r.wtier[i] == t) {
            diag->add(kVar, value, col(value, ta),
                      "tier " + quote(tname) + " weighted twice (expected each tier once)");
            ok = false;
          }
        }
        if (!ok) continue;
        r.wtier[r.nweights] = static_cast<int8_t>(t);
        r.weight[r.nweights] = static_cast<uint16_t>(w);
        ++r.nweights;
        if (!have_tier) r.tier = t;
        have_tier = true;
        continue;
      }
      if (have_tier) {
        diag->add(
            kVar, value, col(value, ta),
            r.nweights > 0
                ? "rule mixes a plain tier with weighted tiers (expected TIER or TIER:W,TIER:W)"
                : "rule names two tiers (expected one, or weights such as dram:1,cxl:3)");
        ok = false;
        continue;
      }
      have_tier = true;
      r.tier = t;
    }
    if (ok && !have_tier) {
      diag->add(kVar, value, col(value, e), "rule " + quote(e) + " names no tier");
      ok = false;
    }
    if (ok && r.nweights == 1) {  // one weighted tier is just that tier
      r.nweights = 0;
    }
    if (!ok) continue;
    if (rules.size() >= static_cast<size_t>(kMaxRules)) {
      diag->add(kVar, value, col(value, e),
                "too many rules (expected at most " + std::to_string(kMaxRules) + ")");
      break;
    }
    rules.push_back(r);
  }
  if (diag->errors.size() != errors_before) return false;
  std::stable_sort(rules.begin(), rules.end(),
                   [](const Rule& a, const Rule& b) { return a.prio > b.prio; });
  policy->nrules = 0;
  policy->heap_rules = policy->mmap_rules = policy->site_rules = policy->hint_rules = false;
  for (Rule& r : rules) {
    std::string text;
    if (r.kinds == static_cast<uint8_t>(AllocKind::kHeap)) text += ", kind=heap";
    if (r.kinds == static_cast<uint8_t>(AllocKind::kMmap)) text += ", kind=mmap";
    if (r.size_min > 0) text += ", size>=" + std::to_string(r.size_min);
    if (r.size_max != UINT64_MAX) text += ", size<=" + std::to_string(r.size_max);
    if (r.site_hash != 0) {
      char h[24];
      std::snprintf(h, sizeof h, "0x%016llx", static_cast<unsigned long long>(r.site_hash));
      text += ", site=" + std::string(h);
    }
    if (r.site_pat[0] != '\0') text += ", site=" + std::string(r.site_pat);
    if (r.lib_pat[0] != '\0') text += ", lib=" + std::string(r.lib_pat);
    if (r.hint >= 0) text += ", hint=" + std::string(policy->labels[r.hint]);
    if (text.empty()) text = ", *";
    if (r.prio != 0) text = ", prio=" + std::to_string(r.prio) + text;
    text.erase(0, 2);
    text += " -> ";
    if (r.nweights == 0) {
      text += policy->tiers[r.tier].name;
    } else {
      for (int i = 0; i < r.nweights; ++i)
        text += std::string(i ? "," : "") + policy->tiers[r.wtier[i]].name + ":" +
                std::to_string(r.weight[i]);
    }
    if (r.nospill) text += ", nospill";
    if (r.pin) text += ", pin";
    std::snprintf(r.text, sizeof r.text, "%s", text.c_str());
    if (r.kinds & static_cast<uint8_t>(AllocKind::kHeap)) policy->heap_rules = true;
    if (r.kinds & static_cast<uint8_t>(AllocKind::kMmap)) policy->mmap_rules = true;
    if (r.site_cond) policy->site_rules = true;
    if (r.hint >= 0) policy->hint_rules = true;
    policy->rules[policy->nrules++] = r;
  }
  return true;
}

std::string explain_rules(const CompiledPolicy& policy) {
  std::string out;
  for (int i = 0; i < policy.nrules; ++i) {
    out += policy.rules[i].text;
    out += '\n';
  }
  if (policy.nrules == 0)
    out += "(no rules: everything on " + std::string(policy.tiers[0].name) + ")\n";
  return out;
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
  for (std::string_view raw : split(value, ',')) {
    std::string_view a = trim(raw);
    size_t eq = a.find('=');
    std::string_view key = trim(a.substr(0, eq));
    std::string_view val =
        eq == std::string_view::npos ? std::string_view{} : trim(a.substr(eq + 1));
    size_t at = col(value, val.empty() ? (a.empty() ? raw : a) : val);
    auto bad = [&](const std::string& what) { diag->add(kVar, value, at, what); };
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
      if (val == "keep" || val == "split")
        c.keep_thp = val == "keep";
      else
        diag->add(kVar, value, col(value, val.empty() ? a : val),
                  "bad thp " + quote(val) + " (expected split or keep)");
    } else {
      diag->add(kVar, value, at,
                "unknown option " + quote(a) +
                    " (expected cpu=P%, period=N, window=T or thp=split|keep)");
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
  char buf[400];
  if (s.kind == SamplerKind::kTrace)
    std::snprintf(buf, sizeof buf, "sampler: trace:%s, cpu=%s\n", s.trace, cpu);
  else if (s.window_ms == 0)
    std::snprintf(buf, sizeof buf, "sampler: %s, cpu=%s, period=%u, window=auto, thp=%s\n",
                  sampler_kind_name(s.kind), cpu, s.period, s.keep_thp ? "keep" : "split");
  else
    std::snprintf(buf, sizeof buf, "sampler: %s, cpu=%s, period=%u, window=%ums, thp=%s\n",
                  sampler_kind_name(s.kind), cpu, s.period, s.window_ms,
                  s.keep_thp ? "keep" : "split");
  return buf;
}

}  // namespace strata
