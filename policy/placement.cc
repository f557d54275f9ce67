// The compiled policy at run time: which tier an allocation goes to (decide),
// and the call-site matching that site= and lib= rules use.
#include "policy/config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "policy/lex.h"

namespace strata {

using namespace lex;  // NOLINT(google-build-using-namespace): the shared lexing helpers

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

}  // namespace strata
