// `--format chunks`: every interval's chunk records as tab-separated lines,
// for scripts and benchmarks that compare the heat strata reported with a
// known truth (bench/scale.cc).
#include <cstdio>
#include <string>

#include "src/tools/report/report.h"

namespace strata::report {

std::string render_chunks(const Report& r) {
  std::string out = "# interval\ttime_s\tchunk\theat\ttier\tbytes\n";
  if (r.prof == nullptr) return out;
  char line[160];
  // Interval times count from the profile's start (CLOCK_REALTIME, ns).
  std::snprintf(line, sizeof line, "# start_ns\t%llu\n",
                static_cast<unsigned long long>(r.prof->header.start_ns));
  out += line;
  for (const profile::Interval& iv : r.prof->intervals) {
    for (const profile::ChunkRecord& c : iv.chunks) {
      std::snprintf(line, sizeof line, "%u\t%.3f\t0x%llx\t%.4f\t%d\t%u\n", iv.rec.index,
                    static_cast<double>(iv.rec.time_ns) / 1e9,
                    static_cast<unsigned long long>(c.id), static_cast<double>(c.heat),
                    static_cast<int>(c.tier), c.bytes);
      out += line;
    }
  }
  return out;
}

}  // namespace strata::report
