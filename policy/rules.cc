// The STRATA_POLICY grammar: conditions, actions, priorities, labels; and the
// rules in normal form (explain_rules).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "policy/config.h"
#include "policy/lex.h"

namespace strata {

using namespace lex;  // NOLINT(google-build-using-namespace): the shared lexing helpers

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

bool cond_site(std::string_view c, Rule* r, std::string* expected) {
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

bool cond_lib(std::string_view c, Rule* r, std::string* expected) {
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

bool cond_hint(std::string_view c, Rule* r, CompiledPolicy* policy, std::string* expected) {
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

bool cond_kind(std::string_view c, Rule* r, std::string* expected) {
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

bool cond_size(std::string_view c, Rule* r, std::string* expected) {
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

bool parse_cond(std::string_view c, Rule* r, CompiledPolicy* policy, std::string* expected) {
  if (c == "*") return true;
  if (c.substr(0, 5) == "site=") return cond_site(c, r, expected);
  if (c.substr(0, 4) == "lib=") return cond_lib(c, r, expected);
  if (c.substr(0, 5) == "hint=") return cond_hint(c, r, policy, expected);
  if (c.substr(0, 5) == "kind=") return cond_kind(c, r, expected);
  if (c.substr(0, 4) == "size") return cond_size(c, r, expected);
  *expected = "unknown condition " + quote(c) +
              " (expected size<op>N, kind=heap|mmap, site=NAME|0xHASH, lib=NAME, hint=LABEL or *)";
  return false;
}

constexpr std::string_view kVar = "STRATA_POLICY";

// One rule being parsed: the whole value (for error columns), the policy its
// tiers and labels come from, where errors go, and whether it still holds.
struct RuleCtx {
  std::string_view value;
  CompiledPolicy* policy;
  Diagnostics* diag;
  bool ok = true;
  void add(std::string_view at, const std::string& what) const {
    diag->add(kVar, value, col(value, at), what);
  }
};

// Rules are separated by ';' or newlines; '#' starts a comment to end of line.
std::vector<std::string_view> policy_entries(std::string_view value) {
  std::vector<std::string_view> entries;
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
  return entries;
}

// prio=N (c is the condition as written, tc trimmed).
void parse_prio(std::string_view c, std::string_view tc, Rule* r, RuleCtx* x) {
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
    x->add(tc.empty() ? c : tc,
           "bad priority " + quote(tc) + " (expected prio=N with N from -999999 to 999999)");
    x->ok = false;
  }
  r->prio = neg ? -v : v;
}

// The conditions left of "->".
void parse_lhs(std::string_view lhs, Rule* r, RuleCtx* x) {
  for (std::string_view c : split(lhs, ',')) {
    std::string_view tc = trim(c);
    std::string expected;
    if (tc.substr(0, 5) == "prio=") {
      parse_prio(c, tc, r, x);
      continue;
    }
    if (tc.empty() || !parse_cond(tc, r, x->policy, &expected)) {
      x->add(tc.empty() ? c : tc, expected.empty()
                                      ? "empty condition (expected size<op>N, kind=heap|mmap, "
                                        "site=NAME|0xHASH, lib=NAME, hint=LABEL or *)"
                                      : expected);
      x->ok = false;
    }
  }
  if (x->ok && (r->kinds == 0 || r->size_min > r->size_max)) {
    x->add(lhs, "conditions " + quote(lhs) + " never match together");
    x->ok = false;
  }
}

void unknown_tier(std::string_view tname, std::string_view at, RuleCtx* x) {
  std::string known;
  for (int i = 0; i < x->policy->ntiers; ++i)
    known += (i ? ", " : "") + std::string(x->policy->tiers[i].name);
  x->add(at, (tname.empty() ? std::string("missing tier") : "unknown tier " + quote(tname)) +
                 " (expected one of: " + known + ")");
  x->ok = false;
}

// TIER:WEIGHT (ta as written, tier t of name tname, weight text wtext).
void weighted_tier(std::string_view ta, std::string_view tname, std::string_view wtext, int t,
                   bool* have_tier, Rule* r, RuleCtx* x) {
  uint64_t w = 0;
  if (wtext.size() > 4 || !parse_uint(wtext, 1000, &w) || w < 1) {
    x->add(wtext.empty() ? ta : wtext,
           "bad weight " + quote(wtext) + " for tier " + quote(tname) +
               " (expected an integer from 1 to 1000, as in dram:1,cxl:3)");
    x->ok = false;
    return;
  }
  if (*have_tier && r->nweights == 0) {
    x->add(ta, "rule mixes a plain tier with weighted tiers (expected TIER or TIER:W,TIER:W)");
    x->ok = false;
    return;
  }
  for (int i = 0; i < r->nweights; ++i) {
    if (r->wtier[i] == t) {
      x->add(ta, "tier " + quote(tname) + " weighted twice (expected each tier once)");
      x->ok = false;
    }
  }
  if (!x->ok) return;
  r->wtier[r->nweights] = static_cast<int8_t>(t);
  r->weight[r->nweights] = static_cast<uint16_t>(w);
  ++r->nweights;
  if (!*have_tier) r->tier = t;
  *have_tier = true;
}

// The actions right of "->" in rule e: a tier, weighted tiers, nospill, pin.
void parse_rhs(std::string_view e, std::string_view rhs, Rule* r, RuleCtx* x) {
  bool have_tier = false;
  for (std::string_view a : split(rhs, ',')) {
    std::string_view ta = trim(a);
    if (ta == "nospill") {
      r->nospill = true;
      continue;
    }
    if (ta == "pin") {
      r->pin = true;
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
    int t = x->policy->tier_by_name(tname);
    if (t < 0) {
      unknown_tier(tname, ta.empty() ? (rhs.empty() ? e : rhs) : ta, x);
      continue;
    }
    if (colon != std::string_view::npos) {
      weighted_tier(ta, tname, wtext, t, &have_tier, r, x);
      continue;
    }
    if (have_tier) {
      x->add(ta,
             r->nweights > 0
                 ? "rule mixes a plain tier with weighted tiers (expected TIER or TIER:W,TIER:W)"
                 : "rule names two tiers (expected one, or weights such as dram:1,cxl:3)");
      x->ok = false;
      continue;
    }
    have_tier = true;
    r->tier = t;
  }
  if (x->ok && !have_tier) {
    x->add(e, "rule " + quote(e) + " names no tier");
    x->ok = false;
  }
  if (x->ok && r->nweights == 1) {  // one weighted tier is just that tier
    r->nweights = 0;
  }
}

// The rule in normal form, as --explain and the logs print it.
std::string rule_text(const Rule& r, const CompiledPolicy& policy) {
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
  if (r.hint >= 0) text += ", hint=" + std::string(policy.labels[r.hint]);
  if (text.empty()) text = ", *";
  if (r.prio != 0) text = ", prio=" + std::to_string(r.prio) + text;
  text.erase(0, 2);
  text += " -> ";
  if (r.nweights == 0) {
    text += policy.tiers[r.tier].name;
  } else {
    for (int i = 0; i < r.nweights; ++i)
      text += std::string(i ? "," : "") + policy.tiers[r.wtier[i]].name + ":" +
              std::to_string(r.weight[i]);
  }
  if (r.nospill) text += ", nospill";
  if (r.pin) text += ", pin";
  return text;
}

}  // namespace

bool parse_policy(std::string_view value, CompiledPolicy* policy, Diagnostics* diag) {
  const size_t errors_before = diag->errors.size();
  policy->nlabels = 0;
  std::vector<Rule> rules;
  int order = 0;
  for (std::string_view entry : policy_entries(value)) {
    std::string_view e = trim(entry);
    if (e.empty()) continue;
    RuleCtx x{value, policy, diag};
    size_t arrow = e.find("->");
    if (arrow == std::string_view::npos) {
      x.add(e, "rule " + quote(e) + " has no '->' (expected CONDITION,... -> TIER)");
      continue;
    }
    Rule r;
    r.order = order++;
    std::string_view lhs = trim(e.substr(0, arrow));
    std::string_view rhs = trim(e.substr(arrow + 2));
    if (lhs.empty()) {
      x.add(e, "rule " + quote(e) + " has no condition (use * for all)");
      continue;
    }
    parse_lhs(lhs, &r, &x);
    parse_rhs(e, rhs, &r, &x);
    if (!x.ok) continue;
    if (rules.size() >= static_cast<size_t>(kMaxRules)) {
      x.add(e, "too many rules (expected at most " + std::to_string(kMaxRules) + ")");
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
    std::snprintf(r.text, sizeof r.text, "%s", rule_text(r, *policy).c_str());
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

}  // namespace strata
