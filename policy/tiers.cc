// NodeMask, the tier kinds, node lists, and the STRATA_TIERS grammar.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "policy/config.h"
#include "policy/lex.h"

namespace strata {

using namespace lex;  // NOLINT(google-build-using-namespace): the shared lexing helpers

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

namespace {

constexpr std::string_view kTiersVar = "STRATA_TIERS";

// One tier entry being parsed: the whole value (for error columns), where
// errors go, the tier's name and which keys it set.
struct TierCtx {
  std::string_view value;
  Diagnostics* diag;
  std::string_view name;
  bool has_nodes = false;
  bool has_path = false;
  bool has_size = false;
  bool has_kind = false;
  bool ok = true;
  void add(std::string_view at, const std::string& what) const {
    diag->add(kTiersVar, value, col(value, at), what);
  }
  // An error about a key's value (at the value, or the whole key=value if empty).
  void bad(std::string_view a, std::string_view val, const std::string& what) {
    add(val.empty() ? a : val, what);
    ok = false;
  }
};

// Attributes are comma separated; a node list may itself contain commas
// ("nodes=0,2-3,cap=1G"), so a piece that starts with a digit continues
// the previous value.
std::vector<std::string_view> attr_pieces(std::string_view attrs) {
  std::vector<std::string_view> pieces;
  if (attrs.empty()) return pieces;
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
  return pieces;
}

// One key=value of a tier.
void parse_attr(std::string_view raw, TierDef* t, TierCtx* x) {
  std::string_view a = trim(raw);
  size_t eq = a.find('=');
  if (a.empty() || eq == std::string_view::npos) {
    x->add(a.empty() ? raw : a, "expected key=value in tier " + quote(x->name) + ", got " +
                                    quote(a) + " (keys: nodes, cap, path, size, kind, high, low)");
    x->ok = false;
    return;
  }
  std::string_view key = trim(a.substr(0, eq));
  std::string_view val = trim(a.substr(eq + 1));
  if (key == "nodes") {
    if (!parse_nodelist(val, &t->nodes))
      x->bad(a, val,
             "bad node list " + quote(val) + " (expected e.g. 1 or 0-1,3; nodes < " +
                 std::to_string(kMaxNodes) + ")");
    x->has_nodes = true;
  } else if (key == "cap") {
    if (!parse_size(val, &t->cap) || t->cap == 0)
      x->bad(a, val, "bad capacity " + quote(val) + " (expected a size > 0 such as 512M or 8G)");
  } else if (key == "size") {
    if (!parse_size(val, &t->size) || t->size < (2ULL << 20))
      x->bad(a, val, "bad size " + quote(val) + " (expected a size of at least 2M, e.g. 16G)");
    x->has_size = true;
  } else if (key == "path") {
    if (val.empty() || val[0] != '/' || val.size() >= sizeof(t->path))
      x->bad(a, val, "bad path " + quote(val) + " (expected an absolute directory path)");
    else
      std::memcpy(t->path, val.data(), val.size());
    x->has_path = true;
  } else if (key == "high" || key == "low") {
    std::string_view num = val;
    if (!num.empty() && num.back() == '%') num.remove_suffix(1);
    uint64_t v = 0;
    if (num.size() > 3 || !parse_uint(num, 100, &v) || v < 1)
      x->bad(a, val, "bad watermark " + quote(val) + " (expected a percentage from 1% to 100%)");
    else
      (key == "high" ? t->high_pct : t->low_pct) = static_cast<uint8_t>(v);
  } else if (key == "kind") {
    if (val == "dram")
      t->kind = TierKind::kDram;
    else if (val == "cxl")
      t->kind = TierKind::kCxl;
    else if (val == "pmem")
      t->kind = TierKind::kPmemNode;
    else
      x->bad(a, val, "bad kind " + quote(val) + " (expected dram, cxl or pmem)");
    x->has_kind = true;
  } else {
    x->bad(a, key,
           "unknown key " + quote(key) + " in tier " + quote(x->name) +
               " (expected nodes, cap, path, size, kind, high or low)");
  }
}

// The checks across a tier's keys, and what a tier takes from discovery;
// false (with the error added) if entry e does not make a tier.
bool finish_tier(std::string_view e, const std::vector<TierDef>& discovered, TierDef* t,
                 const TierCtx& x) {
  const std::string_view name = x.name;
  if (t->low_pct > t->high_pct) {
    x.add(e, "tier " + quote(name) + " has low=" + std::to_string(t->low_pct) +
                 "% above high=" + std::to_string(t->high_pct) + "% (expected low <= high)");
    return false;
  }
  if (x.has_nodes && x.has_path) {
    x.add(e, "tier " + quote(name) + " has both nodes= and path= (expected one of them)");
    return false;
  }
  if (x.has_size && !x.has_path) {
    x.add(e, "tier " + quote(name) + " has size= without path= (size is the PMEM file size)");
    return false;
  }
  if (x.has_path) {
    t->kind = TierKind::kPmemFile;
    if (!x.has_size) t->size = t->cap;
    if (t->size == 0) {
      x.add(e, "tier " + quote(name) + " has path= but no size= (expected e.g. size=16G)");
      return false;
    }
    if (t->cap == 0 || t->cap > t->size) t->cap = t->size;
    std::snprintf(t->why, sizeof t->why, "STRATA_TIERS: file heap, %llu MiB in %.120s",
                  static_cast<unsigned long long>(t->size >> 20), t->path);
  } else if (!x.has_nodes) {
    auto it = std::find_if(discovered.begin(), discovered.end(),
                           [&](const TierDef& d) { return name == d.name; });
    if (it == discovered.end()) {
      std::string known;
      for (const auto& d : discovered) known += (known.empty() ? "" : ", ") + std::string(d.name);
      x.add(e, "tier " + quote(name) + " has no nodes= or path= and is not a discovered tier" +
                   " (discovered: " + (known.empty() ? "none" : known) + ")");
      return false;
    }
    t->nodes = it->nodes;
    if (!x.has_kind) t->kind = it->kind;
    std::snprintf(t->why, sizeof t->why, "STRATA_TIERS: discovered tier %s, nodes %s", it->name,
                  it->nodes.str().c_str());
  } else {
    if (!x.has_kind) {
      // Same nodes as a discovered tier: take its kind.
      for (const auto& d : discovered)
        if (d.nodes == t->nodes) t->kind = d.kind;
    }
    std::snprintf(t->why, sizeof t->why, "STRATA_TIERS: nodes %s", t->nodes.str().c_str());
  }
  return true;
}

}  // namespace

bool parse_tiers(std::string_view value, const std::vector<TierDef>& discovered,
                 std::vector<TierDef>* out, Diagnostics* diag) {
  const size_t errors_before = diag->errors.size();
  std::vector<TierDef> tiers;
  for (std::string_view entry : split(value, ';')) {
    std::string_view e = trim(entry);
    if (e.empty()) continue;
    size_t colon = e.find(':');
    std::string_view name = trim(e.substr(0, colon));
    std::string_view attrs =
        colon == std::string_view::npos ? std::string_view{} : e.substr(colon + 1);
    TierCtx x{value, diag, name};
    if (!valid_name(name)) {
      x.add(e, "bad tier name " + quote(name) + " (expected 1-31 letters, digits, '_' or '-')");
      continue;
    }
    TierDef t;
    std::memcpy(t.name, name.data(), name.size());
    for (std::string_view raw : attr_pieces(attrs)) parse_attr(raw, &t, &x);
    if (!x.ok || !finish_tier(e, discovered, &t, x)) continue;
    bool dup = std::any_of(tiers.begin(), tiers.end(),
                           [&](const TierDef& o) { return std::strcmp(o.name, t.name) == 0; });
    if (dup) {
      x.add(e, "tier " + quote(name) + " is declared twice");
      continue;
    }
    tiers.push_back(t);
  }
  if (diag->errors.size() == errors_before) {
    if (tiers.empty()) {
      diag->add(kTiersVar, value, 1,
                "no tier declared (expected name:nodes=LIST or name:path=DIR,size=SIZE)");
    } else if (tiers.size() > static_cast<size_t>(kMaxTiers)) {
      diag->add(kTiersVar, value, 1,
                std::to_string(tiers.size()) + " tiers declared (expected at most " +
                    std::to_string(kMaxTiers) + ")");
    }
  }
  if (diag->errors.size() != errors_before) return false;
  *out = std::move(tiers);
  return true;
}

}  // namespace strata
