// Sampler selection: the one STRATA_SAMPLER names, or (auto) the best that
// opens here, with the reason recorded for --explain, stats and the log.
#include <cstdio>
#include <cstring>
#include <memory>

#include "base/log.h"
#include "profiler/abit.h"
#include "profiler/damon.h"
#include "profiler/idle.h"
#include "profiler/perf_sampler.h"
#include "src/engine/internal.h"

namespace strata::engine {
namespace {

std::unique_ptr<sampling::Sampler> make(SamplerKind k, const SamplerConfig& sc,
                                        uint32_t interval_ms) {
  switch (k) {
    case SamplerKind::kAbit:
      return std::make_unique<abit::AbitSampler>();
    case SamplerKind::kPebs:
      return std::make_unique<sampling::PerfSampler>(sampling::PerfSampler::Mode::kPebs, sc.period);
    case SamplerKind::kIbs:
      return std::make_unique<sampling::PerfSampler>(sampling::PerfSampler::Mode::kIbs, sc.period);
    case SamplerKind::kIdle:
      return std::make_unique<sampling::IdleSampler>();
    case SamplerKind::kDamon:
      return std::make_unique<sampling::DamonSampler>(
          sampling::kDamonRoot, sampling::damon_attrs(sc.window_ms, interval_ms));
    default:
      return nullptr;
  }
}

void append(char* dst, size_t cap, const char* s) {
  size_t n = std::strlen(dst);
  if (n + 1 < cap) std::snprintf(dst + n, cap - n, "%s", s);
}

}  // namespace

std::unique_ptr<sampling::Sampler> choose(const SamplerConfig& sc, uint32_t interval_ms) {
  char why[256];
  g_sampler_reason[0] = '\0';
  if (sc.kind != SamplerKind::kAuto) {
    auto s = make(sc.kind, sc, interval_ms);
    why[0] = '\0';
    if (s == nullptr)
      std::snprintf(why, sizeof why, "%s: not built into this libstrata",
                    sampler_kind_name(sc.kind));
    if (s != nullptr && s->open(why, sizeof why)) {
      std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "%s (STRATA_SAMPLER)", why);
      return s;
    }
    log_msg(LogLevel::kError,
            "STRATA_SAMPLER=\"%s\": unavailable here: %s (expected a sampler that works on this "
            "machine); using auto",
            g_sampler_text, why);
    if (g_strict) exit_strict();
  }
  // Best first: page-granular hardware sampling, then accessed bits per
  // chunk VMA, then the root-only kernel interfaces.
  const SamplerKind order[] = {SamplerKind::kPebs, SamplerKind::kIbs, SamplerKind::kAbit,
                               SamplerKind::kIdle, SamplerKind::kDamon};
  char skipped[384] = {};
  for (SamplerKind k : order) {
    auto s = make(k, sc, interval_ms);
    why[0] = '\0';
    if (s == nullptr)
      std::snprintf(why, sizeof why, "%s: not built into this libstrata", sampler_kind_name(k));
    if (s != nullptr && s->open(why, sizeof why)) {
      std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "auto: %s%s%s", why,
                    skipped[0] != '\0' ? "; not used: " : "", skipped);
      return s;
    }
    if (skipped[0] != '\0') append(skipped, sizeof skipped, "; ");
    append(skipped, sizeof skipped, why);
  }
  std::snprintf(g_sampler_reason, sizeof g_sampler_reason, "no sampler works here: %s", skipped);
  return nullptr;
}

}  // namespace strata::engine
