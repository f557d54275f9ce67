// pprof output: the report as a gzipped profile.proto, the format of
// `go tool pprof`, jeprof and continuous-profiling services. docs/report.md
// ("pprof") lists the sample types and labels.
#pragma once

#include <string>

#include "src/tools/report/report.h"

namespace strata::report {

// Sample types, in this order (pprof -sample_index=NAME selects one):
inline constexpr const char* kPprofSampleTypes[][2] = {
    {"alloc_space", "bytes"},    // bytes allocated at the site
    {"alloc_objects", "count"},  // allocation calls
    {"live_space", "bytes"},     // mean sampled live bytes (byte-intervals / intervals)
    {"hot_space", "bytes"},      // heat x mean live bytes: the default
    {"heat", "percent"},         // mean heat x 100, rounded: strata-report's hot ranking
};
inline constexpr int kPprofDefaultSample = 3;

// The gzipped profile.proto bytes; "" only if gzip itself fails.
std::string render_pprof(const Report& r);

}  // namespace strata::report
