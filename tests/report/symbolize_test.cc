// Symbolization end to end: this program writes a profile whose module map is
// its own ELF file (load bias, range and build id from dl_iterate_phdr, as the
// runtime does) and whose frames are return addresses inside functions of this
// file (address + 1), then runs strata-report on it and checks that the report
// names those functions (demangled) with file:line from DWARF, prints frames of
// a missing module as module+0xOFFSET, and refuses a module whose build id
// changed.
//   strata-report-symbolize-test STRATA_REPORT
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "policy/config.h"
#include "profiler/profile_format.h"

// ---- functions the frames point into
extern "C" __attribute__((noinline, used)) int strata_report_c_function(int x) {
  return x * 7 + 1;
}
static const int kAlphaLine = __LINE__ + 1;
__attribute__((noinline, used)) int known_alpha(int x) {
  return strata_report_c_function(x) * 3;
}
namespace {
__attribute__((noinline, used)) double known_beta(double v) {
  return v * 0.5 + known_alpha(static_cast<int>(v));
}
}  // namespace
struct Widget {
  __attribute__((noinline, used)) long grow(unsigned long n);
  long size = 0;
};
long Widget::grow(unsigned long n) {
  size += static_cast<long>(n) + static_cast<long>(known_beta(1.0));
  return size;
}

namespace {

int g_failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++g_failures;
}

struct Self {
  uint64_t base = 0, start = UINT64_MAX, end = 0;
  std::string build_id;
};

int find_self(dl_phdr_info* info, size_t, void* data) {
  auto* self = static_cast<Self*>(data);
  self->base = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD) {
      self->start = std::min<uint64_t>(self->start, info->dlpi_addr + ph.p_vaddr);
      self->end = std::max<uint64_t>(self->end, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    } else if (ph.p_type == PT_NOTE) {
      const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
      const char* e = p + ph.p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= e) {
        const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
        const char* name = p + sizeof(ElfW(Nhdr));
        const char* desc = name + ((n->n_namesz + 3) & ~3U);
        if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0)
          self->build_id.assign(desc, n->n_descsz);
        p = desc + ((n->n_descsz + 3) & ~3U);
      }
    }
  }
  return 1;  // the first object is the main program
}

std::string run(const std::vector<std::string>& args, int* status) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  waitpid(pid, status, 0);
  return out;
}

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

void write_profile(const char* path, const std::string& exe, const Self& self,
                   std::string_view build_id, const std::vector<uint64_t>& frames) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::abort();
  char buf[512];
  strata::profile::Writer w(fd, buf, sizeof buf);
  strata::profile::HeaderRecord h;
  h.pid = getpid();
  h.interval_ms = 100;
  h.exe = exe;
  w.header(h);
  w.tier(strata::profile::TierRecord{0, "dram", "dram", 0, 0});
  w.tier(strata::profile::TierRecord{1, "cxl", "cxl", 0, 1});
  w.module(strata::profile::ModuleRecord{self.base, self.start, self.end, exe, build_id});
  w.module(strata::profile::ModuleRecord{0x10000000, 0x10000000, 0x10100000,
                                         "/nonexistent/strata-report-test/libgone.so", ""});
  strata::profile::SiteRecord s;
  std::string base = exe.substr(exe.rfind('/') + 1);
  s.hash = strata::site_hash(base, frames[0] - self.base);
  for (uint64_t f : frames) s.frames[s.nframes++] = f;
  s.allocs = 1;
  s.bytes_allocated = s.live_bytes = 4 << 20;
  s.byte_intervals = 4 << 20;
  s.heat_byte_intervals = 0.9 * (4 << 20);
  s.tier_byte_intervals[0] = 4 << 20;
  s.placed_tier = 0;
  w.site(s);
  const strata::profile::ChunkRecord c{42, 0.9F, 0, 2 << 20};
  w.interval(strata::profile::IntervalRecord{}, std::span(&c, 1));
  if (!w.finish() || close(fd) != 0) std::abort();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s STRATA_REPORT\n", argv[0]);
    return 2;
  }
  const std::string report = argv[1];
  char exe_buf[4096];
  ssize_t n = readlink("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
  if (n <= 0) return 1;
  const std::string exe(exe_buf, static_cast<size_t>(n));
  Self self;
  dl_iterate_phdr(find_self, &self);
  std::printf("module %s: base 0x%llx, [0x%llx, 0x%llx), build id of %zu bytes\n", exe.c_str(),
              static_cast<unsigned long long>(self.base),
              static_cast<unsigned long long>(self.start),
              static_cast<unsigned long long>(self.end), self.build_id.size());

  auto ra = [](auto* fn) { return reinterpret_cast<uint64_t>(fn) + 1; };  // a "return address"
  uint64_t widget_grow = 0;
  {
    long (Widget::*pm)(unsigned long) = &Widget::grow;
    static_assert(sizeof pm == 2 * sizeof(void*));
    std::memcpy(&widget_grow, &pm, sizeof widget_grow);  // non-virtual: the function address
    widget_grow += 1;
  }
  const std::vector<uint64_t> frames = {ra(&known_alpha), ra(&known_beta),
                                        widget_grow,      ra(&strata_report_c_function),
                                        0x10001234,       0xdead0000};
  char dir[] = "/tmp/strata-symbolize-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  const std::string good = std::string(dir) + "/self.prof";
  const std::string changed = std::string(dir) + "/changed.prof";
  write_profile(good.c_str(), exe, self, self.build_id, frames);
  write_profile(changed.c_str(), exe, self, "\x01\x02\x03\x04", frames);

  int status = 0;
  std::string json = run({report, good, "--format", "json"}, &status);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "strata-report --format json exits 0");
  const std::string base = exe.substr(exe.rfind('/') + 1);
  check(contains(json, "\"status\": \"found\""), "the program's own module is found");
  check(contains(json, "\"function\": \"known_alpha(int)\""), "known_alpha(int) named");
  check(contains(json, "\"function\": \"(anonymous namespace)::known_beta(double)\""),
        "(anonymous namespace)::known_beta(double) named (demangled)");
  check(contains(json, "\"function\": \"Widget::grow(unsigned long)\""),
        "Widget::grow(unsigned long) named");
  check(contains(json, "\"function\": \"strata_report_c_function\""), "a C function named");
  // The entry address belongs to the line of the signature or, when the
  // compiler emits no prologue, to the first line of the body.
  check(contains(json, "\"label\": \"known_alpha(int) (symbolize_test.cc:" +
                           std::to_string(kAlphaLine) + ")\"") ||
            contains(json, "\"label\": \"known_alpha(int) (symbolize_test.cc:" +
                               std::to_string(kAlphaLine + 1) + ")\""),
        "known_alpha's file:line from DWARF is symbolize_test.cc:" + std::to_string(kAlphaLine) +
            " or the next line");
  check(contains(json, "symbolize_test.cc\""), "the DWARF file name is given in full");
  check(contains(json, "\"label\": \"libgone.so+0x1234\""),
        "a frame of a missing module prints as libgone.so+0x1234");
  check(contains(json, "\"status\": \"missing\""), "the missing module is reported missing");
  check(contains(json, "\"label\": \"0xdead0000\""), "a frame outside every module prints as hex");

  std::string text = run({report, good}, &status);
  check(contains(text, "known_alpha(int) (symbolize_test.cc:"),
        "the text summary names the allocation call");

  char off[64];
  std::snprintf(off, sizeof off, "+0x%llx",
                static_cast<unsigned long long>(ra(&known_alpha) - self.base));
  std::string plain = run({report, good, "--format", "json", "--no-symbols"}, &status);
  check(contains(plain, "\"label\": \"" + base + off + "\"") && !contains(plain, "known_alpha"),
        "--no-symbols prints " + base + off);

  if (self.build_id.empty()) {
    std::printf("note: this binary has no build id; the mismatch check is skipped\n");
  } else {
    std::string mism = run({report, changed, "--format", "json"}, &status);
    check(contains(mism, "\"status\": \"build-id-mismatch\"") &&
              contains(mism, "\"label\": \"" + base + off + "\"") && !contains(mism, "known_alpha"),
          "a module whose build id changed is not symbolized");
  }

  unlink(good.c_str());
  unlink(changed.c_str());
  rmdir(dir);
  if (g_failures != 0) {
    std::printf("%d check(s) failed; the JSON was:\n%s", g_failures, json.c_str());
    return 1;
  }
  return 0;
}
