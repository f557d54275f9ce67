// libFuzzer target for the profile reader (profiler/profile_format.cc), which
// strata-report runs on files a user hands it. Every input must parse or be
// rejected with one message; no crash, no hang, no leak, no undefined
// behaviour (built with ASan + UBSan). The seeds (corpus-profile/) are small
// real profiles written by the preload.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "profiler/profile_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  strata::profile::Profile p;
  std::string error;
  const bool ok =
      strata::profile::parse(std::span<const unsigned char>(data, size), "fuzz", &p, &error);
  if (ok != error.empty()) __builtin_trap();                           // ok <=> no message
  if (!ok && error.find('\n') != std::string::npos) __builtin_trap();  // one line
  if (ok) {
    // What the report reads: every interval's chunks and every site's fields.
    uint64_t sum = 0;
    for (const auto& iv : p.intervals)
      for (const auto& c : iv.chunks) sum += c.id;
    for (const auto& s : p.sites) sum += s.nframes;
    static volatile uint64_t sink;
    sink = sum;
  }
  return 0;
}
