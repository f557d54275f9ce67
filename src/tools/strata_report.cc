// strata-report: reads raw profiles (STRATA_PROFILE=path; several are merged,
// src/report/merge.h) and prints a text summary, JSON, one HTML page, a
// suggested STRATA_POLICY, or a pprof profile.proto. docs/report.md.
//
// Exit status: 0 done, 1 the profile or the output file failed, 2 bad arguments.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "profiler/profile_format.h"
#include "src/tools/report/merge.h"
#include "src/tools/report/pprof.h"
#include "src/tools/report/report.h"

namespace {

constexpr const char* kUsage =
    "usage: strata-report PROFILE... [--format text|json|html|policy|pprof|chunks] [-o FILE]\n"
    "                     [--top N] [--no-symbols]\n"
    "\n"
    "Reads raw profiles written by libstrata (STRATA_PROFILE=path) and prints:\n"
    "  text    a summary: hot and cold allocation sites, tier usage over time,\n"
    "          migrations, a suggested policy (default)\n"
    "  json    the same data as one JSON object (schema: docs/report.md)\n"
    "  html    one self-contained page: heatmap of chunk heat over time, tier\n"
    "          occupancy, per-site bars\n"
    "  policy  the suggested STRATA_POLICY with one comment per rule\n"
    "  pprof   a gzipped profile.proto for `pprof` (needs -o FILE)\n"
    "  chunks  every interval's chunks, tab-separated: interval, time_s, chunk, heat,\n"
    "          tier, bytes\n"
    "\n"
    "Several profiles, or a directory of them (PATH.PID files of forked workers),\n"
    "are merged into one report and one policy: sites with the same hash are one.\n"
    "\n"
    "  -o FILE       write to FILE instead of standard output\n"
    "  --top N       sites listed per ranking (default 5, 1-1000)\n"
    "  --no-symbols  do not open the profiled program's ELF files: frames print\n"
    "                as module+0xOFFSET\n"
    "  -h, --help    this text\n"
    "\n"
    "Exit status: 0 done, 1 unreadable profile or output, 2 bad arguments.\n";

int usage_error(const std::string& what) {
  std::fprintf(stderr, "strata-report: %s; see strata-report --help\n", what.c_str());
  return 2;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

struct Args {
  std::vector<std::string> inputs;
  std::string format = "text";
  std::string out_path;
  size_t top = 5;
  bool symbols = true;
};

// The command line into *args; returns -1 to go on, or the exit status.
int parse_args(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    std::string_view value;
    bool has_inline = false;
    if (a.starts_with("--") && a.find('=') != std::string_view::npos) {
      value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto take = [&](std::string_view* v) {
      if (has_inline) {
        *v = value;
        return true;
      }
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--format") {
      std::string_view v;
      if (!take(&v))
        return usage_error(
            "--format needs a value (expected text, json, html, policy, pprof or chunks)");
      if (v != "text" && v != "json" && v != "html" && v != "policy" && v != "pprof" &&
          v != "chunks")
        return usage_error(
            "--format \"" + std::string(v) +
            "\" is not a format (expected text, json, html, policy, pprof or chunks)");
      args->format = v;
    } else if (a == "-o" || a == "--output") {
      std::string_view v;
      if (!take(&v) || v.empty()) return usage_error(std::string(a) + " needs a file name");
      args->out_path = v;
    } else if (a == "--top") {
      std::string_view v;
      if (!take(&v)) return usage_error("--top needs a number (expected 1-1000)");
      size_t n = 0;
      bool good = !v.empty() && v.size() <= 4;
      for (char c : v) {
        good = good && c >= '0' && c <= '9';
        n = n * 10 + static_cast<size_t>(c - '0');
      }
      if (!good || n < 1 || n > 1000)
        return usage_error("--top \"" + std::string(v) + "\" is not a number from 1 to 1000");
      args->top = n;
    } else if (a == "--no-symbols" && !has_inline) {
      args->symbols = false;
    } else if (a.starts_with("-") && a.size() > 1) {
      return usage_error("unknown option \"" + std::string(argv[i]) + "\"");
    } else {
      args->inputs.emplace_back(a);
    }
  }
  return -1;
}

// Writes out to out_path (standard output if empty); returns the exit status.
int write_out(const std::string& out, const std::string& out_path) {
  int fd = STDOUT_FILENO;
  if (!out_path.empty()) {
    fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "strata-report: %s: cannot create: %s\n", out_path.c_str(),
                   std::strerror(errno));
      return 1;
    }
  }
  bool ok = write_all(fd, out);
  int err = errno;
  if (!out_path.empty() && ::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    std::fprintf(stderr, "strata-report: %s: cannot write: %s\n",
                 out_path.empty() ? "standard output" : out_path.c_str(), std::strerror(err));
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const int status = parse_args(argc, argv, &args); status >= 0) return status;
  const std::vector<std::string>& inputs = args.inputs;
  const std::string& format = args.format;
  const std::string& out_path = args.out_path;
  if (inputs.empty()) return usage_error("no profile given (expected strata-report PROFILE)");
  if (format == "pprof" && out_path.empty())
    return usage_error("--format pprof writes a binary file: give -o FILE");

  std::vector<std::string> files;
  std::vector<strata::profile::Profile> profs;
  std::string error;
  bool ok = strata::report::collect_inputs(inputs, &files, &error);
  for (size_t k = 0; ok && k < files.size(); ++k)
    ok = strata::profile::read_file(files[k].c_str(), &profs.emplace_back(), &error);
  strata::report::Merged merged;
  if (ok && profs.size() > 1) ok = strata::report::merge(profs, files, &merged, &error);
  if (!ok) {
    std::fprintf(stderr, "strata-report: %s\n", error.c_str());
    return 1;
  }
  strata::report::Options opt;
  opt.symbolize = args.symbols;
  const bool many = profs.size() > 1;
  strata::report::Report rep = strata::report::analyze(
      many ? merged.profile : profs.front(),
      many ? std::to_string(files.size()) + " profiles" : files.front(), opt);
  if (many) strata::report::attach_sources(merged, &rep);
  std::string out;
  if (format == "pprof") {
    out = strata::report::render_pprof(rep);
    if (out.empty()) {
      std::fprintf(stderr, "strata-report: %s: cannot encode the pprof profile\n",
                   out_path.c_str());
      return 1;
    }
  } else if (format == "json")
    out = strata::report::render_json(rep, args.top);
  else if (format == "html")
    out = strata::report::render_html(rep, args.top);
  else if (format == "policy")
    out = strata::report::render_policy(rep);
  else if (format == "chunks")
    out = strata::report::render_chunks(rep);
  else
    out = strata::report::render_text(rep, args.top);

  return write_out(out, out_path);
}
