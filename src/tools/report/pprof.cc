// The report as profile.proto (message definitions: Debian's
// golang-github-google-pprof-dev, compiled by protoc for the lite runtime),
// gzipped with zlib as pprof expects.
#include "src/tools/report/pprof.h"

#include <zlib.h>

#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "profile.pb.h"

namespace strata::report {
namespace {

namespace pb = perftools::profiles;

class Builder {
 public:
  explicit Builder(pb::Profile* p) : p_(p) { intern(""); }

  int64_t intern(const std::string& s) {
    auto [it, added] = strings_.try_emplace(s, static_cast<int64_t>(strings_.size()));
    if (added) p_->add_string_table(s);
    return it->second;
  }

  uint64_t location(const Report& r, const Frame& f) {
    auto [it, added] = locations_.try_emplace(f.address, locations_.size() + 1);
    if (!added) return it->second;
    pb::Location* loc = p_->add_location();
    loc->set_id(it->second);
    loc->set_address(f.address);
    if (f.module >= 0) loc->set_mapping_id(mapping(r, f.module));
    if (!f.function.empty()) {
      pb::Line* line = loc->add_line();
      line->set_function_id(function(f));
      line->set_line(f.line);
    }
    return it->second;
  }

 private:
  uint64_t mapping(const Report& r, int module) {
    auto [it, added] = mappings_.try_emplace(module, mappings_.size() + 1);
    if (!added) return it->second;
    const profile::Module& m = r.prof->modules[static_cast<size_t>(module)];
    pb::Mapping* mp = p_->add_mapping();
    mp->set_id(it->second);
    mp->set_memory_start(m.start);
    mp->set_memory_limit(m.end);
    mp->set_file_offset(m.start - m.base);
    mp->set_filename(intern(m.path));
    std::string id;
    for (unsigned char c : m.build_id) {
      static const char kHex[] = "0123456789abcdef";
      id += kHex[c >> 4];
      id += kHex[c & 15];
    }
    mp->set_build_id(intern(id));
    bool found = static_cast<size_t>(module) < r.modules.size() &&
                 r.modules[static_cast<size_t>(module)] == ModuleStatus::kFound;
    mp->set_has_functions(found);
    mp->set_has_filenames(found);
    mp->set_has_line_numbers(found);
    return it->second;
  }

  uint64_t function(const Frame& f) {
    auto [it, added] = functions_.try_emplace({f.function, f.file}, functions_.size() + 1);
    if (!added) return it->second;
    pb::Function* fn = p_->add_function();
    fn->set_id(it->second);
    fn->set_name(intern(f.function));
    fn->set_system_name(intern(f.function));
    fn->set_filename(intern(f.file));
    return it->second;
  }

  pb::Profile* p_;
  std::map<std::string, int64_t> strings_;
  std::map<uint64_t, uint64_t> locations_;  // address -> id
  std::map<int, uint64_t> mappings_;        // module -> id
  std::map<std::pair<std::string, std::string>, uint64_t> functions_;
};

void add_label(Builder* b, pb::Sample* s, const char* key, const std::string& value) {
  pb::Label* l = s->add_label();
  l->set_key(b->intern(key));
  l->set_str(b->intern(value));
}

std::string gzip(const std::string& in) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return "";
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

}  // namespace

std::string render_pprof(const Report& r) {
  pb::Profile p;
  Builder b(&p);
  for (const auto& st : kPprofSampleTypes) {
    pb::ValueType* vt = p.add_sample_type();
    vt->set_type(b.intern(st[0]));
    vt->set_unit(b.intern(st[1]));
  }
  p.set_default_sample_type(b.intern(kPprofSampleTypes[kPprofDefaultSample][0]));
  const profile::Header& h = r.prof->header;
  p.set_time_nanos(static_cast<int64_t>(h.start_ns));
  p.set_duration_nanos(static_cast<int64_t>(std::llround(r.duration_s * 1e9)));
  p.add_comment(b.intern("strata profile of " + (h.exe.empty() ? std::string("?") : h.exe) +
                         (r.sources.size() > 1
                              ? " (" + std::to_string(r.sources.size()) + " processes merged)"
                              : "")));
  for (const Site& s : r.sites) {
    if (s.frames.empty() || (s.rec->allocs == 0 && !s.sampled)) continue;
    pb::Sample* smp = p.add_sample();
    for (const Frame& f : s.frames) smp->add_location_id(b.location(r, f));
    smp->add_value(static_cast<int64_t>(s.rec->bytes_allocated));
    smp->add_value(static_cast<int64_t>(s.rec->allocs));
    smp->add_value(std::llround(s.mean_live));
    smp->add_value(std::llround(s.heat * s.mean_live));
    smp->add_value(std::llround(s.heat * 100));
    add_label(&b, smp, "site", hash_str(s.rec->hash));
    add_label(&b, smp, "class", class_name(s.cls));
    if (s.main_tier >= 0) add_label(&b, smp, "tier", tier_name(r, s.main_tier));
    if (!s.sources.empty()) {
      pb::Label* l = smp->add_label();
      l->set_key(b.intern("processes"));
      l->set_num(static_cast<int64_t>(s.sources.size()));
    }
  }
  std::string raw;
  if (!p.SerializeToString(&raw)) return "";
  return gzip(raw);
}

}  // namespace strata::report
