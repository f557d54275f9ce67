#include "src/tools/report/symbolize.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace strata::report {
namespace {

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

std::string basename_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string demangle(const char* name) {
  int status = -1;
  char* dem = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && dem != nullptr ? dem : name;
  std::free(dem);
  return out;
}

}  // namespace

Symbolizer::Symbolizer(const std::vector<profile::Module>& modules, bool enabled)
    : modules_(modules),
      status_(modules.size(), ModuleStatus::kMissing),
      dw_modules_(modules.size(), nullptr) {
  if (!enabled || modules.empty()) return;
  dwfl_ = dwfl_begin(&kCallbacks);
  if (dwfl_ == nullptr) return;
  dwfl_report_begin(dwfl_);
  for (size_t i = 0; i < modules.size(); ++i) {
    const profile::Module& m = modules[i];
    if (m.path.empty() || m.path.find('\0') != std::string::npos) continue;
    // add_p_vaddr: `base` is the load bias, as dl_iterate_phdr reports it.
    Dwfl_Module* mod =
        dwfl_report_elf(dwfl_, basename_of(m.path).c_str(), m.path.c_str(), -1, m.base, true);
    if (mod == nullptr) continue;  // missing, unreadable, not ELF, or overlapping another
    if (!m.build_id.empty()) {
      const unsigned char* bits = nullptr;
      GElf_Addr vaddr = 0;
      int n = dwfl_module_build_id(mod, &bits, &vaddr);
      if (n <= 0 || static_cast<size_t>(n) != m.build_id.size() ||
          std::memcmp(bits, m.build_id.data(), m.build_id.size()) != 0) {
        status_[i] = ModuleStatus::kBuildIdMismatch;
        continue;
      }
    }
    status_[i] = ModuleStatus::kFound;
    dw_modules_[i] = mod;
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
}

Symbolizer::~Symbolizer() {
  if (dwfl_ != nullptr) dwfl_end(dwfl_);
}

int Symbolizer::module_of(uint64_t address) const {
  for (size_t i = 0; i < modules_.size(); ++i)
    if (address >= modules_[i].start && address < modules_[i].end) return static_cast<int>(i);
  return -1;
}

Frame Symbolizer::resolve(uint64_t address) {
  auto it = cache_.find(address);
  if (it != cache_.end()) return it->second;
  Frame f;
  f.address = address;
  f.module = module_of(address);
  if (f.module >= 0) {
    const profile::Module& m = modules_[static_cast<size_t>(f.module)];
    f.offset = address - m.base;
    f.module_name = basename_of(m.path);
    Dwfl_Module* mod = dw_modules_[static_cast<size_t>(f.module)];
    // The call instruction ends just before the return address.
    GElf_Addr pc = address != 0 ? address - 1 : 0;
    if (mod != nullptr && dwfl_addrmodule(dwfl_, pc) == mod) {
      GElf_Off off = 0;
      GElf_Sym sym;
      const char* name = dwfl_module_addrinfo(mod, pc, &off, &sym, nullptr, nullptr, nullptr);
      if (name != nullptr && name[0] != '\0') f.function = demangle(name);
      Dwfl_Line* line = dwfl_module_getsrc(mod, pc);
      int lineno = 0;
      const char* file = line != nullptr
                             ? dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)
                             : nullptr;
      if (file != nullptr && lineno > 0) {
        f.file = file;
        f.line = lineno;
      }
    }
  }
  cache_.emplace(address, f);
  return f;
}

}  // namespace strata::report
