#include <catch2/catch.hpp>

#include "allocator/discovery.h"

using namespace strata;

namespace {
std::vector<TierDef> tiers_of(const char* fixture) {
  return tiers_from_topology(read_topology(std::string(STRATA_FIXTURES) + "/" + fixture));
}
}  // namespace

TEST_CASE("one node: one dram tier", "[discovery]") {
  Topology t = read_topology(STRATA_FIXTURES "/sys-1node");
  REQUIRE(t.nodes.size() == 1);
  CHECK(t.nodes[0].has_cpus);
  CHECK(t.nodes[0].mem_bytes == 16384000ULL * 1024);
  CHECK_FALSE(t.has_memtiers);
  auto tiers = tiers_from_topology(t);
  REQUIRE(tiers.size() == 1);
  CHECK(std::string(tiers[0].name) == "dram");
  CHECK(tiers[0].nodes.str() == "0");
  CHECK(std::string(tiers[0].why) ==
        "nodes 0: DRAM with CPUs, 16000 MiB, no kernel memory tiers, distance 10 from CPU nodes");
}

TEST_CASE("CPU-less node is a slower tier even when the kernel groups it with DRAM",
          "[discovery]") {
  auto tiers = tiers_of("sys-2node-cxl");
  REQUIRE(tiers.size() == 2);
  CHECK(std::string(tiers[0].name) == "dram");
  CHECK(tiers[0].nodes.str() == "0");
  CHECK(std::string(tiers[1].name) == "cxl");
  CHECK(tiers[1].kind == TierKind::kCxl);
  CHECK(tiers[1].nodes.str() == "1");
  CHECK(std::string(tiers[1].why) ==
        "nodes 1: CPU-less memory (CXL-like), 4096 MiB, kernel memory_tier4, distance 20 from CPU "
        "nodes");
}

TEST_CASE("four nodes: two sockets, CXL, KMEM-DAX PMEM in a lower kernel tier", "[discovery]") {
  Topology t = read_topology(STRATA_FIXTURES "/sys-4node");
  REQUIRE(t.nodes.size() == 4);
  CHECK(t.has_memtiers);
  CHECK(t.nodes[3].dax_kmem);
  CHECK(t.nodes[3].memtier == 22);
  CHECK(t.nodes[2].memtier == 4);
  auto tiers = tiers_from_topology(t);
  REQUIRE(tiers.size() == 3);
  CHECK(std::string(tiers[0].name) == "dram");
  CHECK(tiers[0].nodes.str() == "0-1");
  CHECK(std::string(tiers[1].name) == "cxl");
  CHECK(tiers[1].nodes.str() == "2");
  CHECK(std::string(tiers[2].name) == "pmem");
  CHECK(tiers[2].kind == TierKind::kPmemNode);
  CHECK(tiers[2].nodes.str() == "3");
  CHECK(std::string(tiers[2].why) ==
        "nodes 3: KMEM-DAX PMEM onlined as system RAM, 131072 MiB, kernel memory_tier22, distance "
        "30 from CPU nodes");
}

TEST_CASE("no kernel memory tiers: order by class", "[discovery]") {
  auto tiers = tiers_of("sys-3node-vm");
  REQUIRE(tiers.size() == 3);
  CHECK(std::string(tiers[0].name) == "dram");
  CHECK(std::string(tiers[1].name) == "cxl");
  CHECK(tiers[1].nodes.str() == "1");
  CHECK(std::string(tiers[2].name) == "pmem");
  CHECK(tiers[2].nodes.str() == "2");
}

TEST_CASE("a CXL region's node is CXL memory, apart from a CPU-less node in its kernel tier",
          "[discovery]") {
  // The test VM with --cxl: region2's KMEM-DAX memory on node 3 shares memory_tier22
  // with the CPU-less node 1; region3 has no committed decode (size 0).
  Topology t = read_topology(STRATA_FIXTURES "/sys-cxl-region-vm");
  REQUIRE(t.nodes.size() == 4);
  CHECK(t.nodes[3].dax_kmem);
  CHECK(t.nodes[3].cxl_region == "region2 (pmem, 256 MiB at 0x2d0000000)");
  CHECK(t.nodes[2].cxl_region.empty());  // its memory block lies outside the region
  CHECK(t.nodes[1].cxl_region.empty());
  auto tiers = tiers_from_topology(t);
  REQUIRE(tiers.size() == 4);
  CHECK(std::string(tiers[0].name) == "dram");
  CHECK(std::string(tiers[1].name) == "cxl");
  CHECK(tiers[1].nodes.str() == "1");
  CHECK(std::string(tiers[2].name) == "cxl2");
  CHECK(tiers[2].kind == TierKind::kCxl);
  CHECK(tiers[2].nodes.str() == "3");
  CHECK(std::string(tiers[2].why) ==
        "nodes 3: CXL memory: region2 (pmem, 256 MiB at 0x2d0000000), 128 MiB, kernel "
        "memory_tier22, distance 20 from CPU nodes");
  CHECK(std::string(tiers[3].name) == "pmem");
  CHECK(tiers[3].nodes.str() == "2");
}

TEST_CASE("no NUMA information: one unbound tier", "[discovery]") {
  auto tiers = tiers_of("sys-empty");
  REQUIRE(tiers.size() == 1);
  CHECK(std::string(tiers[0].name) == "dram");
  CHECK(tiers[0].nodes.empty());
  CHECK(std::string(tiers[0].why).find("no NUMA information") == 0);
  auto missing = tiers_of("does-not-exist");
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].nodes.empty());
}
