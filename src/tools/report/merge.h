// Many processes, one report: strata-report reads several raw profiles (or a
// directory of PATH.PID files) and merges them into one Profile that
// analyze() and every renderer take as they take a single one.
//
// Rules (docs/report.md, "Many processes"):
//   - sites are keyed by their stable hash (module file name + offset of the
//     allocation call), so the same site in every worker of a program, and the
//     same library call in different programs, is one site; its counters are
//     summed; a site without a hash stays one site per process;
//   - modules are keyed by path and build id and placed at disjoint synthetic
//     load addresses (offsets inside a module are kept), so each ELF file is
//     opened once and frames of every process symbolize alike;
//   - tiers are matched by name (first profile's order, new names appended);
//   - interval i of the merge is the sum of every process's interval i: tier
//     usage and mean live bytes are those of the processes running together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "profiler/profile_format.h"
#include "src/tools/report/report.h"

namespace strata::report {

// Expands the command line's inputs: a file is taken as given; a directory
// gives every regular file in it that starts with the profile magic, sorted by
// name (metrics files, .dump triggers and the like are skipped). Returns false
// with one line in *error when an input is unreadable or a directory holds no
// profile.
bool collect_inputs(const std::vector<std::string>& args, std::vector<std::string>* files,
                    std::string* error);

struct Merged {
  profile::Profile profile;
  std::vector<Source> sources;                      // one per input profile
  std::vector<std::vector<uint32_t>> site_sources;  // per merged site: indices into sources
};

// Merges `in` (parsed from `files`, same order). Returns false with one line
// in *error when the profiles cannot be merged (more distinct tiers than
// strata supports, different chunk sizes).
bool merge(const std::vector<profile::Profile>& in, const std::vector<std::string>& files,
           Merged* out, std::string* error);

// Copies the merge's per-source facts into a report analyze() made of
// merged.profile (Report::sources, Site::sources).
void attach_sources(const Merged& merged, Report* r);

}  // namespace strata::report

namespace strata::report {

// The text block naming a merged report's inputs side by side: one line per
// profile with its program, pid, sites, and which of the top hot and cold
// sites it holds. "" for a report of one profile.
std::string render_sources_text(const Report& r, size_t top);

}  // namespace strata::report
