// Tier discovery from sysfs. Pure: reads files under a root directory that
// tests point at fixtures (tests/fixtures/sys-*), the runtime at /sys.
#pragma once

#include <string>
#include <vector>

#include "policy/tiers.h"

namespace strata {

struct NodeInfo {
  int id = -1;
  bool has_cpus = false;
  bool dax_kmem = false;  // memory onlined from a DAX device by the kmem driver
  // CXL region whose host physical range holds this node's memory ("" if none), e.g.
  // "region2 (pmem, 256 MiB at 0x2d0000000)"
  std::string cxl_region;
  unsigned long long mem_bytes = 0;
  int memtier = -1;           // kernel memory tier id (larger = slower), -1 unknown
  std::vector<int> distance;  // SLIT row, indexed by node position in `nodes`
};

struct Topology {
  std::vector<NodeInfo> nodes;
  bool has_memtiers = false;
  std::string note;  // what could not be read, if anything
};

Topology read_topology(const std::string& sysfs_root);

// Groups nodes into tiers, fastest first: by kernel memory tier, then class
// (DRAM with CPUs, CPU-less DRAM (CXL-like), memory of a CXL region, KMEM-DAX
// PMEM), then distance from the CPU nodes. Never empty: without NUMA information, one "dram" tier
// with no node binding.
std::vector<TierDef> tiers_from_topology(const Topology& topo);

}  // namespace strata
