#include "src/prof/sites.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "allocator/heap.h"
#include "base/log.h"
#include "base/sys.h"

namespace strata::sites {
namespace {

// ---- symbolizer: libdw's dwfl, loaded with dlopen so programs without site
// rules never map it. dladdr alone only sees exported symbols; dwfl reads
// .symtab too (static functions of a program that was not stripped).
struct Dw {
  decltype(&dwfl_begin) begin;
  decltype(&dwfl_report_begin_add) report_begin_add;
  decltype(&dwfl_report_elf) report_elf;
  decltype(&dwfl_report_end) report_end;
  decltype(&dwfl_addrmodule) addrmodule;
  decltype(&dwfl_module_addrname) addrname;
  decltype(&dwfl_linux_proc_find_elf) find_elf;
};

constinit Dw g_dw{};
constinit std::atomic<int> g_dw_state{0};  // 0 not tried, 1 loaded, 2 unavailable
constinit Dwfl* g_dwfl = nullptr;
constinit sys::SpinLock g_dw_lock;
constinit Dwfl_Callbacks g_callbacks{};

int no_debuginfo(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*, const char*, GElf_Word,
                 char**) {
  return -1;  // the object's own .symtab/.dynsym is enough; no search, no network
}

void load_dw() {
  int expected = 0;
  if (!g_dw_state.compare_exchange_strong(expected, 3)) return;  // 3: loading
  heap::ReentrancyGuard g;
  void* lib = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  bool ok = lib != nullptr;
#define STRATA_DW(field, name)                                             \
  if (ok) {                                                                \
    g_dw.field = reinterpret_cast<decltype(g_dw.field)>(dlsym(lib, name)); \
    ok = g_dw.field != nullptr;                                            \
  }
  STRATA_DW(begin, "dwfl_begin")
  STRATA_DW(report_begin_add, "dwfl_report_begin_add")
  STRATA_DW(report_elf, "dwfl_report_elf")
  STRATA_DW(report_end, "dwfl_report_end")
  STRATA_DW(addrmodule, "dwfl_addrmodule")
  STRATA_DW(addrname, "dwfl_module_addrname")
  STRATA_DW(find_elf, "dwfl_linux_proc_find_elf")
#undef STRATA_DW
  if (ok) {
    g_callbacks.find_elf = g_dw.find_elf;
    g_callbacks.find_debuginfo = no_debuginfo;
    g_dwfl = g_dw.begin(&g_callbacks);
    ok = g_dwfl != nullptr;
  }
  if (!ok)
    STRATA_LOG(LogLevel::kInfo,
               "libdw.so.1 unavailable: site= rules see exported function names only "
               "(install libdw1)");
  g_dw_state.store(ok ? 1 : 2, std::memory_order_release);
}

// Function containing `pc` in the object at `path` loaded at `base`, via dwfl.
const char* dw_name(const char* path, uintptr_t base, uintptr_t pc) {
  if (g_dw_state.load(std::memory_order_acquire) != 1) return nullptr;
  g_dw_lock.lock();
  Dwfl_Module* m = g_dw.addrmodule(g_dwfl, pc);
  if (m == nullptr) {
    g_dw.report_begin_add(g_dwfl);
    g_dw.report_elf(g_dwfl, path, path, -1, base, false);
    g_dw.report_end(g_dwfl, nullptr, nullptr);
    m = g_dw.addrmodule(g_dwfl, pc);
  }
  const char* name = m != nullptr ? g_dw.addrname(m, pc) : nullptr;
  g_dw_lock.unlock();
  return name;  // owned by dwfl, lives as long as the module
}

// ---- cache: open addressing on the return address, insert-only.
constexpr size_t kSlots = size_t{1} << 15;
constexpr int kProbe = 32;
struct Slot {
  std::atomic<uintptr_t> key;
  std::atomic<uint64_t> bits;
  std::atomic<bool> ready;
};
constinit Slot g_slots[kSlots]{};
constinit std::atomic<uint64_t> g_cached{0};
constinit std::atomic<uint64_t> g_overflow{0};

size_t slot_of(uintptr_t ra) {
  uint64_t h = ra * 0x9e3779b97f4a7c15ULL;
  return static_cast<size_t>(h >> 49) & (kSlots - 1);
}

uint64_t compute_bits(const CompiledPolicy& pol, const void* ra) {
  SiteInfo s;
  if (!resolve(ra, &s)) {
    STRATA_LOG(LogLevel::kDebug, "site %p: in no loaded object", ra);
    return 0;
  }
  uint64_t bits = pol.site_mask(s.func, s.mangled, s.module, s.hash);
  STRATA_LOG(LogLevel::kDebug, "site 0x%016llx %s+0x%llx %s: rule bits %#llx",
             static_cast<unsigned long long>(s.hash), s.module,
             static_cast<unsigned long long>(s.offset), s.func[0] ? s.func : "?",
             static_cast<unsigned long long>(bits));
  return bits;
}

void copy(char* dst, size_t cap, const char* src) {
  size_t n = std::strlen(src);
  if (n >= cap) n = cap - 1;
  std::memcpy(dst, src, n);
  dst[n] = '\0';
}

// Module, offset and hash of ra; *info, *lm and the module's path (in exe
// when it is the main program) for the symbol lookup.
bool locate_module(const void* ra, SiteInfo* out, Dl_info* info, link_map** lm, char* exe,
                   size_t cap, const char** path) {
  // The call instruction precedes the return address: look up ra - 1 so a
  // call at the very end of a function is not attributed to the next one.
  auto pc = reinterpret_cast<uintptr_t>(ra) - 1;
  if (dladdr1(reinterpret_cast<void*>(pc), info, reinterpret_cast<void**>(lm), RTLD_DL_LINKMAP) ==
          0 ||
      *lm == nullptr)
    return false;
  *path = (*lm)->l_name;
  if (*path == nullptr || (*path)[0] == '\0') {  // the main program
    long n = readlink("/proc/self/exe", exe, cap - 1);
    exe[n > 0 ? n : 0] = '\0';
    *path = exe;
  }
  const char* slash = std::strrchr(*path, '/');
  copy(out->module, sizeof out->module, slash != nullptr ? slash + 1 : *path);
  out->offset = pc + 1 - (*lm)->l_addr;
  out->hash = site_hash(out->module, out->offset);
  out->func[0] = out->mangled[0] = '\0';
  return true;
}

}  // namespace

bool locate(const void* ra, SiteInfo* out) {
  Dl_info info{};
  link_map* lm = nullptr;
  char exe[512];
  const char* path = nullptr;
  return locate_module(ra, out, &info, &lm, exe, sizeof exe, &path);
}

bool resolve(const void* ra, SiteInfo* out) {
  heap::ReentrancyGuard g;
  Dl_info info{};
  link_map* lm = nullptr;
  char exe[512];
  const char* path = nullptr;
  if (!locate_module(ra, out, &info, &lm, exe, sizeof exe, &path)) return false;
  const auto pc = reinterpret_cast<uintptr_t>(ra) - 1;
  const char* name = nullptr;
  if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    name = info.dli_sname;
  } else {
    load_dw();
    name = dw_name(path, lm->l_addr, pc);
  }
  if (name != nullptr) {
    copy(out->mangled, sizeof out->mangled, name);
    int status = -1;
    char* dem = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    copy(out->func, sizeof out->func, status == 0 && dem != nullptr ? dem : name);
    std::free(dem);
  }
  return true;
}

uint64_t match_bits(const CompiledPolicy& pol, const void* ra) {
  auto key = reinterpret_cast<uintptr_t>(ra);
  size_t i = slot_of(key);
  for (int probe = 0; probe < kProbe; ++probe, i = (i + 1) & (kSlots - 1)) {
    Slot& s = g_slots[i];
    uintptr_t k = s.key.load(std::memory_order_acquire);
    if (k == key) {
      if (s.ready.load(std::memory_order_acquire)) return s.bits.load(std::memory_order_relaxed);
      return compute_bits(pol, ra);  // another thread is resolving it right now
    }
    if (k != 0) continue;
    uintptr_t expected = 0;
    if (!s.key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
      if (expected != key) continue;
      return compute_bits(pol, ra);
    }
    uint64_t bits = compute_bits(pol, ra);
    s.bits.store(bits, std::memory_order_relaxed);
    s.ready.store(true, std::memory_order_release);
    g_cached.fetch_add(1, std::memory_order_relaxed);
    return bits;
  }
  g_overflow.fetch_add(1, std::memory_order_relaxed);
  return compute_bits(pol, ra);
}

void prepare() {
  load_dw();
}

void counters(uint64_t* cached, uint64_t* overflow) {
  *cached = g_cached.load(std::memory_order_relaxed);
  *overflow = g_overflow.load(std::memory_order_relaxed);
}

void prefork() {
  g_dw_lock.lock();
}
void postfork_parent() {
  g_dw_lock.unlock();
}
void postfork_child() {
  g_dw_lock.unlock();
}

}  // namespace strata::sites
