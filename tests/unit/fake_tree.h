// Helpers for the unit tests of samplers that read files (idle, damon): a
// temporary directory for a fake tree, whole-file reads and writes, and the
// observations a sampler reports.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "profiler/sampler.h"

namespace fake_tree {

namespace fs = std::filesystem;
using strata::sampling::Obs;

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/strata-fake-tree-XXXXXX";
    const char* p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline void put_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::trunc);
  f << text;
  REQUIRE(f.good());
}

inline std::string get_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void collect_obs(const Obs& o, void* ctx) {
  static_cast<std::vector<Obs>*>(ctx)->push_back(o);
}

inline void check_obs(const Obs& o, uint64_t start, uint64_t end, double fraction, uint64_t rss) {
  INFO("obs [" << std::hex << o.start << ", " << o.end << ")" << std::dec);
  CHECK(o.start == start);
  CHECK(o.end == end);
  CHECK(o.fraction == fraction);
  CHECK(o.rss == rss);
  CHECK(o.anon_huge == 0);
}

}  // namespace fake_tree
