#include "policy/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace strata {

// ---------------------------------------------------------------- options table
namespace {

const OptionDef kOptions[] = {
    {"STRATA_TIERS", OptType::kSpec, "", "tier list, see docs/configuration.md",
     "Tiers fastest first: name:nodes=LIST,cap=SIZE;name:path=DIR,size=SIZE. "
     "Unset: discovered from sysfs."},
    {"STRATA_POLICY", OptType::kSpec, "", "rule list or @FILE, see docs/configuration.md",
     "Placement rules: [prio=N,]COND,... -> TIER[,nospill]; ... Unset: everything on the "
     "fastest tier."},
    {"STRATA_STRICT", OptType::kBool, "0", "0 or 1",
     "1: a configuration error is fatal (exit status 2) instead of falling back to defaults."},
    {"STRATA_STATS", OptType::kString, "", "empty, 1, stderr, or a file path",
     "Print per-tier statistics at exit to stderr (1, stderr) or append them to a file."},
    {"STRATA_LOG", OptType::kEnum, "warn", "error, warn, info, debug",
     "How much strata writes to stderr."},
    {"STRATA_SYSFS_ROOT", OptType::kString, "/sys", "a directory",
     "Where tier discovery reads sysfs from (tests point it at fixtures)."},
};

}  // namespace

const OptionDef* options_table(size_t* count) {
  *count = sizeof(kOptions) / sizeof(kOptions[0]);
  return kOptions;
}

const OptionDef* find_option(std::string_view name) {
  for (const auto& o : kOptions) {
    if (name == o.name) return &o;
  }
  return nullptr;
}

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
                      " (keys: nodes, cap, path, size, kind)");
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
                      " (expected nodes, cap, path, size or kind)");
        ok = false;
      }
    }
    if (!ok) continue;
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

bool parse_cond(std::string_view c, Rule* r, std::string* expected) {
  if (c == "*") return true;
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
  *expected = "unknown condition " + quote(c) + " (expected size<op>N, kind=heap|mmap or *)";
  return false;
}

}  // namespace

bool parse_policy(std::string_view value, CompiledPolicy* policy, Diagnostics* diag) {
  constexpr std::string_view kVar = "STRATA_POLICY";
  const size_t errors_before = diag->errors.size();
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
      if (tc.empty() || !parse_cond(tc, &r, &expected)) {
        diag->add(kVar, value, col(value, tc.empty() ? c : tc),
                  expected.empty() ? "empty condition (expected size<op>N, kind=heap|mmap or *)"
                                   : expected);
        ok = false;
      }
    }
    if (ok && (r.kinds == 0 || r.size_min > r.size_max)) {
      diag->add(kVar, value, col(value, lhs), "conditions " + quote(lhs) + " never match together");
      ok = false;
    }
    bool have_tier = false;
    for (std::string_view a : split(rhs, ',')) {
      std::string_view ta = trim(a);
      if (ta == "nospill") {
        r.nospill = true;
        continue;
      }
      std::string_view tname = ta.substr(0, 5) == "tier=" ? trim(ta.substr(5)) : ta;
      int t = policy->tier_by_name(tname);
      if (t < 0) {
        std::string known;
        for (int i = 0; i < policy->ntiers; ++i)
          known += (i ? ", " : "") + std::string(policy->tiers[i].name);
        diag->add(kVar, value, col(value, ta.empty() ? (rhs.empty() ? e : rhs) : ta),
                  (ta.empty() ? std::string("missing tier") : "unknown tier " + quote(tname)) +
                      " (expected one of: " + known + ")");
        ok = false;
        continue;
      }
      if (have_tier) {
        diag->add(kVar, value, col(value, ta), "rule names two tiers (expected one)");
        ok = false;
      }
      have_tier = true;
      r.tier = t;
    }
    if (ok && !have_tier) {
      diag->add(kVar, value, col(value, e), "rule " + quote(e) + " names no tier");
      ok = false;
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
  policy->heap_rules = policy->mmap_rules = false;
  for (Rule& r : rules) {
    std::string text;
    if (r.kinds == static_cast<uint8_t>(AllocKind::kHeap)) text += ", kind=heap";
    if (r.kinds == static_cast<uint8_t>(AllocKind::kMmap)) text += ", kind=mmap";
    if (r.size_min > 0) text += ", size>=" + std::to_string(r.size_min);
    if (r.size_max != UINT64_MAX) text += ", size<=" + std::to_string(r.size_max);
    if (text.empty()) text = ", *";
    if (r.prio != 0) text = ", prio=" + std::to_string(r.prio) + text;
    text.erase(0, 2);
    text += " -> ";
    text += policy->tiers[r.tier].name;
    if (r.nospill) text += ", nospill";
    std::snprintf(r.text, sizeof r.text, "%s", text.c_str());
    if (r.kinds & static_cast<uint8_t>(AllocKind::kHeap)) policy->heap_rules = true;
    if (r.kinds & static_cast<uint8_t>(AllocKind::kMmap)) policy->mmap_rules = true;
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

}  // namespace strata
