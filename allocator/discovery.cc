#include "allocator/discovery.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <tuple>

#include "base/sys.h"

namespace strata {
namespace {

bool read_text(const std::string& path, std::string* out) {
  char buf[8192];
  long n = sys::read_file(path.c_str(), buf, sizeof buf);
  if (n < 0) return false;
  out->assign(buf, static_cast<size_t>(n));
  while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
  return true;
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

enum Class { kCpu = 0, kCpuless = 1, kCxlRegion = 2, kDax = 3 };

Class class_of(const NodeInfo& n) {
  if (n.has_cpus) return kCpu;
  if (!n.cxl_region.empty()) return kCxlRegion;  // also KMEM-DAX: the region says what it is
  return n.dax_kmem ? kDax : kCpuless;
}

bool read_hex(const std::string& path, unsigned long long* out) {
  std::string text;
  if (!read_text(path, &text) || text.empty()) return false;
  char* end = nullptr;
  *out = std::strtoull(text.c_str(), &end, 16);
  return end != text.c_str() && *end == '\0';
}

// CXL regions (/sys/bus/cxl/devices/regionN: resource, size, mode): the memory
// blocks (/sys/devices/system/memory/memoryN, N = address / block_size_bytes)
// inside a region's host physical range name the node that holds them.
void mark_cxl_nodes(const std::string& root, Topology* topo) {
  const std::string mem_dir = root + "/devices/system/memory";
  unsigned long long block = 0;
  if (!read_hex(mem_dir + "/block_size_bytes", &block) || block == 0) return;
  for (const std::string& r : list_dir(root + "/bus/cxl/devices")) {
    if (r.rfind("region", 0) != 0) continue;
    const std::string dir = root + "/bus/cxl/devices/" + r;
    unsigned long long start = 0;
    unsigned long long size = 0;
    std::string mode;
    if (!read_hex(dir + "/resource", &start) || !read_hex(dir + "/size", &size) || size == 0)
      continue;  // a region without committed decode has no range yet
    if (!read_text(dir + "/mode", &mode)) mode = "?";
    char label[128];
    std::snprintf(label, sizeof label, "%s (%s, %llu MiB at 0x%llx)", r.c_str(), mode.c_str(),
                  size >> 20, start);
    for (unsigned long long b = start / block; b <= (start + size - 1) / block; ++b) {
      for (const std::string& e : list_dir(mem_dir + "/memory" + std::to_string(b))) {
        if (e.rfind("node", 0) != 0 || e.size() < 5 || e[4] < '0' || e[4] > '9') continue;
        int node = std::atoi(e.c_str() + 4);
        for (auto& n : topo->nodes)
          if (n.id == node && n.cxl_region.empty()) n.cxl_region = label;
      }
    }
  }
}

}  // namespace

Topology read_topology(const std::string& root) {
  Topology topo;
  const std::string node_dir = root + "/devices/system/node";
  std::string online;
  NodeMask mask;
  if (!read_text(node_dir + "/online", &online) || !parse_nodelist(online, &mask)) {
    topo.note = "no readable " + node_dir + "/online";
    return topo;
  }
  for (int id = 0; id < kMaxNodes; ++id) {
    if (!mask.test(id)) continue;
    NodeInfo n;
    n.id = id;
    const std::string dir = node_dir + "/node" + std::to_string(id);
    std::string text;
    if (read_text(dir + "/cpulist", &text)) n.has_cpus = !text.empty();
    if (read_text(dir + "/meminfo", &text)) {
      const char* p = std::strstr(text.c_str(), "MemTotal:");
      if (p != nullptr) n.mem_bytes = std::strtoull(p + 9, nullptr, 10) * 1024ULL;
    }
    if (read_text(dir + "/distance", &text)) {
      const char* p = text.c_str();
      char* end = nullptr;
      for (long v = std::strtol(p, &end, 10); end != p; v = std::strtol(p, &end, 10)) {
        n.distance.push_back(static_cast<int>(v));
        p = end;
      }
    }
    topo.nodes.push_back(std::move(n));
  }
  // KMEM DAX: devices bound to the kmem driver name their target node.
  for (const std::string& dev : list_dir(root + "/bus/dax/drivers/kmem")) {
    if (dev.rfind("dax", 0) != 0) continue;
    std::string text;
    if (!read_text(root + "/bus/dax/devices/" + dev + "/target_node", &text)) continue;
    int node = std::atoi(text.c_str());
    for (auto& n : topo.nodes)
      if (n.id == node) n.dax_kmem = true;
  }
  mark_cxl_nodes(root, &topo);
  // Kernel memory tiers (Linux 6.1+): memory_tierN/nodelist.
  for (const std::string& t : list_dir(root + "/devices/virtual/memory_tiering")) {
    if (t.rfind("memory_tier", 0) != 0) continue;
    int tier_id = std::atoi(t.c_str() + 11);
    std::string text;
    NodeMask tm;
    if (!read_text(root + "/devices/virtual/memory_tiering/" + t + "/nodelist", &text) ||
        !parse_nodelist(text, &tm))
      continue;
    topo.has_memtiers = true;
    for (auto& n : topo.nodes)
      if (tm.test(n.id)) n.memtier = tier_id;
  }
  return topo;
}

std::vector<TierDef> tiers_from_topology(const Topology& topo) {
  std::vector<TierDef> out;
  if (topo.nodes.empty()) {
    TierDef t;
    std::snprintf(t.name, sizeof t.name, "dram");
    std::snprintf(t.why, sizeof t.why, "no NUMA information (%s): one tier, default placement",
                  topo.note.c_str());
    out.push_back(t);
    return out;
  }
  // Average distance from the nodes with CPUs.
  std::vector<int> cpu_idx;
  for (size_t i = 0; i < topo.nodes.size(); ++i)
    if (topo.nodes[i].has_cpus) cpu_idx.push_back(static_cast<int>(i));
  auto dist = [&](const NodeInfo& n) {
    if (cpu_idx.empty()) return 0;
    int sum = 0;
    int cnt = 0;
    for (int c : cpu_idx) {
      const auto& row = topo.nodes[c].distance;
      size_t me = static_cast<size_t>(&n - topo.nodes.data());
      if (me < row.size()) {
        sum += row[me];
        ++cnt;
      }
    }
    return cnt ? sum / cnt : 0;
  };
  // key: (memtier, class, distance) -> nodes. Nodes sharing all three form a tier.
  std::map<std::tuple<int, int, int>, std::vector<const NodeInfo*>> groups;
  for (const auto& n : topo.nodes) {
    if (n.mem_bytes == 0 && !n.distance.empty() && !n.has_cpus) continue;  // memoryless node
    // Distance only separates CPU-less nodes; CPU nodes of several sockets are one tier.
    int d = class_of(n) == kCpu ? 0 : dist(n);
    groups[{n.memtier < 0 ? 0 : n.memtier, class_of(n), d}].push_back(&n);
  }
  // Sort order: memory tier, then class, then distance (the map already orders that way
  // except that memtier must dominate, which tuple order gives).
  // Both CPU-less classes are named cxl, cxl2, ... in order.
  static const char* kClassName[] = {"dram", "cxl", "cxl", "pmem"};
  static const TierKind kClassKind[] = {TierKind::kDram, TierKind::kCxl, TierKind::kCxl,
                                        TierKind::kPmemNode};
  static const int kNameSlot[] = {0, 1, 1, 2};
  int used[3] = {0, 0, 0};
  for (const auto& [key, nodes] : groups) {
    if (out.size() >= static_cast<size_t>(kMaxTiers)) break;
    auto [memtier, cls, d] = key;
    TierDef t;
    t.kind = kClassKind[cls];
    int k = ++used[kNameSlot[cls]];
    if (k == 1)
      std::snprintf(t.name, sizeof t.name, "%s", kClassName[cls]);
    else
      std::snprintf(t.name, sizeof t.name, "%s%d", kClassName[cls], k);
    unsigned long long mem = 0;
    for (const NodeInfo* n : nodes) {
      t.nodes.set(n->id);
      mem += n->mem_bytes;
    }
    char tierbuf[48];
    if (topo.has_memtiers)
      std::snprintf(tierbuf, sizeof tierbuf, "kernel memory_tier%d", memtier);
    else
      std::snprintf(tierbuf, sizeof tierbuf, "no kernel memory tiers");
    std::string what;
    switch (cls) {
      case kCpu:
        what = "DRAM with CPUs";
        break;
      case kCpuless:
        what = "CPU-less memory (CXL-like)";
        break;
      case kCxlRegion:
        what = "CXL memory: " + nodes.front()->cxl_region;
        break;
      default:
        what = "KMEM-DAX PMEM onlined as system RAM";
        break;
    }
    std::snprintf(t.why, sizeof t.why, "nodes %s: %s, %llu MiB, %s, distance %d from CPU nodes",
                  t.nodes.str().c_str(), what.c_str(), mem >> 20, tierbuf, cls == kCpu ? 10 : d);
    out.push_back(t);
  }
  if (out.empty()) {
    TierDef t;
    std::snprintf(t.name, sizeof t.name, "dram");
    std::snprintf(t.why, sizeof t.why, "no node with memory found: one tier, default placement");
    out.push_back(t);
  }
  return out;
}

}  // namespace strata
