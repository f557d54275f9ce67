// The inputs of a merged report, side by side (text and HTML).
#include <algorithm>
#include <string>

#include "src/tools/report/merge.h"
#include "src/tools/report/report.h"

namespace strata::report {
namespace {

// "#1 #3" for the ranks (1-based, within top) of `list` whose site `k` holds.
std::string ranks_in(const Report& r, const std::vector<size_t>& list, size_t top, uint32_t k) {
  std::string out;
  for (size_t i = 0; i < list.size() && i < top; ++i) {
    const std::vector<uint32_t>& src = r.sites[list[i]].sources;
    if (std::find(src.begin(), src.end(), k) != src.end())
      out += (out.empty() ? "#" : " #") + std::to_string(i + 1);
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string render_sources_text(const Report& r, size_t top) {
  if (r.sources.empty()) return "";
  std::string programs;
  size_t nprograms = 0;
  for (size_t k = 0; k < r.sources.size(); ++k) {
    bool seen = false;
    for (size_t j = 0; j < k && !seen; ++j) seen = r.sources[j].exe == r.sources[k].exe;
    nprograms += seen ? 0 : 1;
  }
  std::string out = "merged from " + std::to_string(r.sources.size()) + " profiles of " +
                    std::to_string(nprograms) + (nprograms == 1 ? " program" : " programs") +
                    " (sites with the same hash are one; hot/cold: their ranks below)\n";
  for (size_t k = 0; k < r.sources.size(); ++k) {
    const Source& s = r.sources[k];
    auto kk = static_cast<uint32_t>(k);
    out += "  " + s.file + ": " + (s.exe.empty() ? std::string("?") : s.exe) + " (pid " +
           std::to_string(s.pid) + "), " + std::to_string(s.sites) + " sites, " +
           std::to_string(s.intervals) + " intervals; hot " + ranks_in(r, r.hot, top, kk) +
           ", cold " + ranks_in(r, r.cold, top, kk) + "\n";
  }
  return out;
}

}  // namespace strata::report
