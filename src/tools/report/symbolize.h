// Offline symbolization of return addresses with the module map a profile
// saved: libdw (dwfl) opens each module's ELF file at its saved path and load
// bias, names functions from .symtab/.dynsym (demangled) and file:line from
// DWARF when present. A module whose file is missing or whose build id no
// longer matches leaves its frames as module+0xOFFSET.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "profiler/profile_format.h"
#include "src/tools/report/report.h"

struct Dwfl;
struct Dwfl_Module;

namespace strata::report {

class Symbolizer {
 public:
  // enabled = false: no file is opened, frames get module+offset only.
  Symbolizer(const std::vector<profile::Module>& modules, bool enabled);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // `address` is a return address: the call instruction before it is looked up.
  Frame resolve(uint64_t address);
  const std::vector<ModuleStatus>& status() const { return status_; }

 private:
  int module_of(uint64_t address) const;

  const std::vector<profile::Module>& modules_;
  std::vector<ModuleStatus> status_;
  std::vector<Dwfl_Module*> dw_modules_;
  Dwfl* dwfl_ = nullptr;
  std::map<uint64_t, Frame> cache_;
};

}  // namespace strata::report
