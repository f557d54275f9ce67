#include "allocator/discovery.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
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

enum Class { kCpu = 0, kCpuless = 1, kDax = 2 };

Class class_of(const NodeInfo& n) {
  if (n.has_cpus) return kCpu;
  return n.dax_kmem ? kDax : kCpuless;
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
  static const char* kClassName[] = {"dram", "cxl", "pmem"};
  static const TierKind kClassKind[] = {TierKind::kDram, TierKind::kCxl, TierKind::kPmemNode};
  static const char* kClassWhy[] = {"DRAM with CPUs", "CPU-less memory (CXL-like)",
                                    "KMEM-DAX PMEM onlined as system RAM"};
  int used[3] = {0, 0, 0};
  for (const auto& [key, nodes] : groups) {
    if (out.size() >= static_cast<size_t>(kMaxTiers)) break;
    auto [memtier, cls, d] = key;
    TierDef t;
    t.kind = kClassKind[cls];
    int k = ++used[cls];
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
    std::snprintf(t.why, sizeof t.why, "nodes %s: %s, %llu MiB, %s, distance %d from CPU nodes",
                  t.nodes.str().c_str(), kClassWhy[cls], mem >> 20, tierbuf, cls == kCpu ? 10 : d);
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
