// Merging raw profiles of many processes into one (rules in merge.h).
#include "src/tools/report/merge.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

namespace strata::report {
namespace {

// Each merged module gets its own 1 TiB of synthetic address space.
constexpr unsigned kModuleShift = 40;
// Chunk ids of process k are moved by k << kChunkProcShift so that the
// heatmap keeps the processes' chunks apart (2^27 chunks of 2 MiB = 256 TiB).
constexpr unsigned kChunkProcShift = 27;

bool starts_with_magic(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char b[sizeof profile::kMagic] = {};
  ssize_t n = ::read(fd, b, sizeof b);
  ::close(fd);
  return n == static_cast<ssize_t>(sizeof b) && std::memcmp(b, profile::kMagic, sizeof b) == 0;
}

bool list_dir(const std::string& dir, std::vector<std::string>* files, std::string* error) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    *error = dir + ": cannot read the directory: " + std::strerror(errno);
    return false;
  }
  std::vector<std::string> found;
  while (const dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + (dir.ends_with('/') ? "" : "/") + name;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && starts_with_magic(path))
      found.push_back(path);
  }
  ::closedir(d);
  if (found.empty()) {
    *error = dir + ": no strata profile in the directory (expected files starting with \"" +
             std::string(profile::kMagic, sizeof profile::kMagic) + "\")";
    return false;
  }
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
  return true;
}

// Everything about one input that the merge of its records needs.
struct Mapping {
  std::vector<int> tier;       // input tier -> merged tier
  std::vector<size_t> module;  // input module -> merged module
};

class Merger {
 public:
  explicit Merger(Merged* out) : out_(out), p_(out->profile) {}

  bool add(const profile::Profile& in, uint32_t k, std::string* error) {
    Mapping m;
    if (!map_tiers(in, &m, error)) return false;
    if (k == 0) {
      p_.header = in.header;
      p_.header.pid = 0;
    } else if (!merge_header(in.header, error)) {
      return false;
    }
    for (const profile::Module& mod : in.modules) m.module.push_back(module_index(mod));
    for (const profile::SiteRecord& s : in.sites) add_site(in, m, s, k);
    for (size_t i = 0; i < in.intervals.size(); ++i) add_interval(in.intervals[i], m, i, k);
    for (profile::MoveRecord mv : in.moves) {
      mv.chunk += uint64_t{k} << kChunkProcShift;
      mv.from = map_tier(m, mv.from);
      mv.to = map_tier(m, mv.to);
      p_.moves.push_back(mv);
    }
    p_.unknown_records += in.unknown_records;
    return true;
  }

 private:
  bool map_tiers(const profile::Profile& in, Mapping* m, std::string* error) {
    for (const profile::Tier& t : in.tiers) {
      auto it = std::find_if(p_.tiers.begin(), p_.tiers.end(),
                             [&](const profile::Tier& o) { return o.name == t.name; });
      if (it == p_.tiers.end()) {
        if (p_.tiers.size() == static_cast<size_t>(kMaxTiers)) {
          *error = "the profiles name more than " + std::to_string(kMaxTiers) +
                   " different tiers (expected profiles of machines with the same tiers)";
          return false;
        }
        p_.tiers.push_back(t);
        p_.tiers.back().index = static_cast<uint8_t>(p_.tiers.size() - 1);
        it = p_.tiers.end() - 1;
      }
      m->tier.push_back(static_cast<int>(it - p_.tiers.begin()));
    }
    return true;
  }

  static int8_t map_tier(const Mapping& m, int t) {
    if (t < 0 || static_cast<size_t>(t) >= m.tier.size()) return -1;
    return static_cast<int8_t>(m.tier[static_cast<size_t>(t)]);
  }

  bool merge_header(const profile::Header& h, std::string* error) {
    profile::Header& mh = p_.header;
    if (h.chunk_bytes != mh.chunk_bytes) {
      *error = "the profiles use different chunk sizes (" + std::to_string(mh.chunk_bytes) +
               " and " + std::to_string(h.chunk_bytes) + " bytes; expected one)";
      return false;
    }
    if (h.start_ns != 0 && (mh.start_ns == 0 || h.start_ns < mh.start_ns)) mh.start_ns = h.start_ns;
    mh.end_ns = std::max(mh.end_ns, h.end_ns);
    auto add_unique = [](std::string* list, const std::string& v) {
      if (v.empty()) return;
      size_t pos = 0;
      while (pos <= list->size()) {
        size_t end = list->find(", ", pos);
        if (end == std::string::npos) end = list->size();
        if (list->compare(pos, end - pos, v) == 0) return;
        pos = end + 2;
      }
      *list += (list->empty() ? "" : ", ") + v;
    };
    add_unique(&mh.exe, h.exe);
    add_unique(&mh.sampler, h.sampler);
    return true;
  }

  size_t module_index(const profile::Module& mod) {
    auto key = std::make_pair(mod.path, mod.build_id);
    auto [it, added] = modules_.try_emplace(key, p_.modules.size());
    if (added) {
      profile::Module m = mod;
      m.base = uint64_t{p_.modules.size() + 1} << kModuleShift;
      m.start = m.base + (mod.start - mod.base);
      m.end = m.base + (mod.end - mod.base);
      p_.modules.push_back(m);
    }
    return it->second;
  }

  // The address of `a` in the merged module space: the same offset in the
  // same module; an address in no module is kept as it is.
  static uint64_t rebase(const profile::Profile& in, const Mapping& m, const profile::Profile& out,
                         uint64_t a) {
    for (size_t i = 0; i < in.modules.size(); ++i) {
      const profile::Module& mod = in.modules[i];
      if (a >= mod.start && a < mod.end) return out.modules[m.module[i]].base + (a - mod.base);
    }
    return a;
  }

  void add_site(const profile::Profile& in, const Mapping& m, const profile::SiteRecord& s,
                uint32_t k) {
    size_t idx = p_.sites.size();
    bool fresh = true;
    if (s.hash != 0) {
      auto [it, added] = sites_.try_emplace(s.hash, idx);
      idx = it->second;
      fresh = added;
    }
    if (fresh) {
      profile::SiteRecord r = s;
      r.nframes = std::min<uint32_t>(s.nframes, profile::kMaxFrames);
      for (uint32_t f = 0; f < r.nframes; ++f) r.frames[f] = rebase(in, m, p_, s.frames[f]);
      std::fill(std::begin(r.tier_byte_intervals), std::end(r.tier_byte_intervals), 0.0);
      for (int t = 0; t < kMaxTiers; ++t) {
        int mt = map_tier(m, t);
        if (mt >= 0) r.tier_byte_intervals[mt] += s.tier_byte_intervals[t];
      }
      r.placed_tier = map_tier(m, s.placed_tier);
      p_.sites.push_back(r);
      out_->site_sources.push_back({k});
      return;
    }
    profile::SiteRecord& r = p_.sites[idx];
    r.allocs += s.allocs;
    r.frees += s.frees;
    r.bytes_allocated += s.bytes_allocated;
    r.bytes_freed += s.bytes_freed;
    r.live_bytes += s.live_bytes;
    r.lifetime_ns += s.lifetime_ns;
    r.heat_byte_intervals += s.heat_byte_intervals;
    r.byte_intervals += s.byte_intervals;
    for (int t = 0; t < kMaxTiers; ++t) {
      int mt = map_tier(m, t);
      if (mt >= 0) r.tier_byte_intervals[mt] += s.tier_byte_intervals[t];
    }
    if (r.placed_tier < 0) r.placed_tier = map_tier(m, s.placed_tier);
    std::vector<uint32_t>& src = out_->site_sources[idx];
    if (src.back() != k) src.push_back(k);
  }

  void add_interval(const profile::Interval& iv, const Mapping& m, size_t i, uint32_t k) {
    if (i == p_.intervals.size()) {
      profile::Interval fresh;
      fresh.rec.index = static_cast<uint32_t>(i);
      p_.intervals.push_back(fresh);
    }
    profile::IntervalRecord& r = p_.intervals[i].rec;
    r.time_ns = std::max(r.time_ns, iv.rec.time_ns);
    for (int t = 0; t < kMaxTiers; ++t) {
      int mt = map_tier(m, t);
      if (mt >= 0) r.resident[mt] += iv.rec.resident[t];
    }
    r.promoted_bytes += iv.rec.promoted_bytes;
    r.demoted_bytes += iv.rec.demoted_bytes;
    r.promoted += iv.rec.promoted;
    r.demoted += iv.rec.demoted;
    r.failures += iv.rec.failures;
    for (profile::ChunkRecord c : iv.chunks) {
      c.id += uint64_t{k} << kChunkProcShift;
      c.tier = map_tier(m, c.tier);
      p_.intervals[i].chunks.push_back(c);
    }
  }

  Merged* out_;
  profile::Profile& p_;
  std::map<std::pair<std::string, std::string>, size_t> modules_;  // (path, build id)
  std::map<uint64_t, size_t> sites_;                               // hash -> merged site
};

}  // namespace

bool collect_inputs(const std::vector<std::string>& args, std::vector<std::string>* files,
                    std::string* error) {
  for (const std::string& a : args) {
    struct stat st;
    if (::stat(a.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (!list_dir(a, files, error)) return false;
    } else {
      files->push_back(a);  // read_file names the problem if it is not a profile
    }
  }
  return true;
}

bool merge(const std::vector<profile::Profile>& in, const std::vector<std::string>& files,
           Merged* out, std::string* error) {
  Merger m(out);
  for (size_t k = 0; k < in.size(); ++k) {
    if (!m.add(in[k], static_cast<uint32_t>(k), error)) return false;
    const profile::Header& h = in[k].header;
    Source s;
    s.file = k < files.size() ? files[k] : "";
    s.exe = h.exe;
    s.pid = h.pid;
    s.sites = in[k].sites.size();
    s.intervals = in[k].intervals.size();
    if (h.end_ns > h.start_ns) s.duration_s = static_cast<double>(h.end_ns - h.start_ns) / 1e9;
    out->sources.push_back(std::move(s));
  }
  return true;
}

void attach_sources(const Merged& merged, Report* r) {
  r->sources = merged.sources;
  for (size_t i = 0; i < r->sites.size() && i < merged.site_sources.size(); ++i)
    r->sites[i].sources = merged.site_sources[i];
}

}  // namespace strata::report
