// Live metrics (STRATA_METRICS=path): per-tier usage, allocation, spill and
// migration counters in the Prometheus text exposition format, rewritten
// atomically (a temporary file renamed over the path) once per engine
// interval. A node exporter's textfile collector, or anything that reads a
// file, can pick it up. Every metric is documented in docs/metrics.md.
#pragma once

namespace strata::metrics {

// Writes the current values to `path`. Allocation-free; false on I/O errors
// (reported once).
bool write(const char* path);

}  // namespace strata::metrics
