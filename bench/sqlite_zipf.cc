// strata-bench-sqlite-zipf: SQLite (libsqlite3) with Zipf-distributed point
// queries. It builds an in-memory table of --footprint bytes (rows of a drawn
// size; SQLite's pages come from malloc, so the preload sees them), then runs
// intervals of `SELECT ... WHERE id = ?` on Zipf-ranked ids with a share of
// UPDATEs, printing per interval the queries per second and this process's
// bytes per node (/proc/self/numa_maps). Where the accesses land is for the
// test bed's judge: SQLite's page layout is its own.
//
//   strata-bench-sqlite-zipf [--seed=S] [--footprint=128M] [--intervals=10]
//       [--interval-ms=1000]
// Drawn from the seed: row payload (100-2000 bytes, log-uniform), Zipf
// exponent (0.8-1.2), share of updates (0-0.1); ids ranked in a random order.
#include <sqlite3.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "suite_common.h"

namespace {

using namespace bench;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "strata-bench-sqlite-zipf: %s\n", msg.c_str());
  std::exit(2);
}

void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    die(std::string(what) + ": " + sqlite3_errmsg(db));
}

sqlite3_stmt* prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  check(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), db, sql);
  return st;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1, footprint = 128 << 20, intervals = 10, interval_ms = 1000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: strata-bench-sqlite-zipf [--seed=S] [--footprint=128M] [--intervals=10]\n"
          "  [--interval-ms=1000]\n");
      return 0;
    }
    if (eq == std::string_view::npos) die("unexpected argument \"" + std::string(arg) + "\"");
    const std::string_view name = arg.substr(0, eq), value = arg.substr(eq + 1);
    bool ok = false;
    if (name == "--seed") ok = parse_u64(value, &seed);
    if (name == "--footprint") ok = parse_size(value, &footprint) && footprint >= (1 << 20);
    if (name == "--intervals") ok = parse_u64(value, &intervals) && intervals >= 1;
    if (name == "--interval-ms") ok = parse_u64(value, &interval_ms) && interval_ms >= 1;
    if (!ok) die(std::string(arg) + ": unknown option or invalid value (see --help)");
  }
  Rng rng{seed};
  const auto payload = static_cast<int>(rng.log_range(100, 2000));
  const double s = rng.range(0.8, 1.2);
  const double upd_share = rng.range(0.0, 0.1);
  const uint64_t rows = std::max<uint64_t>(footprint / static_cast<uint64_t>(payload), 16);
  const int max_node = max_numa_node();
  std::printf("# strata-bench-sqlite-zipf --seed=%" PRIu64 " --footprint=%s: %" PRIu64
              " rows of %d bytes, zipf s=%.3f, updates %.3f\n",
              seed, size_str(footprint).c_str(), rows, payload, s, upd_share);
  sqlite3* db = nullptr;
  check(sqlite3_open(":memory:", &db), db, "open");
  // The whole table in SQLite's page cache (malloc'd), none of it spilled.
  check(sqlite3_exec(db, "PRAGMA cache_size=-4000000; PRAGMA journal_mode=OFF;", nullptr, nullptr,
                     nullptr),
        db, "pragma");
  check(sqlite3_exec(db, "CREATE TABLE kv(id INTEGER PRIMARY KEY, v BLOB)", nullptr, nullptr,
                     nullptr),
        db, "create");
  const double l0 = now_ms(CLOCK_MONOTONIC);
  check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
  sqlite3_stmt* ins = prepare(db, "INSERT INTO kv(id, v) VALUES(?, zeroblob(?))");
  for (uint64_t i = 0; i < rows; ++i) {
    sqlite3_bind_int64(ins, 1, static_cast<sqlite3_int64>(i));
    sqlite3_bind_int(ins, 2, payload);
    check(sqlite3_step(ins), db, "insert");
    sqlite3_reset(ins);
  }
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  std::printf("# loaded in %.0f ms\n", now_ms(CLOCK_MONOTONIC) - l0);
  sqlite3_stmt* sel = prepare(db, "SELECT length(v) FROM kv WHERE id = ?");
  sqlite3_stmt* upd = prepare(db, "UPDATE kv SET v = zeroblob(?) WHERE id = ?");
  const Zipf zipf(rows, s);
  const std::vector<uint32_t> rank = permutation(rows, rng);
  const uint64_t upd_t = threshold(upd_share);
  std::printf("interval,queries,queries_per_s");
  for (int n = 0; n <= max_node; ++n) std::printf(",node%d_bytes", n);
  std::printf("\n");
  uint64_t total = 0, sum = 0;
  double total_ms = 0;
  for (uint64_t iv = 0; iv < intervals; ++iv) {
    const double t0 = now_ms(CLOCK_MONOTONIC);
    double t1 = t0;
    uint64_t q = 0;
    while (t1 < t0 + static_cast<double>(interval_ms)) {
      for (int j = 0; j < 64; ++j) {
        const auto id = static_cast<sqlite3_int64>(rank[zipf.draw(rng)]);
        sqlite3_stmt* st = rng.next() < upd_t ? upd : sel;
        if (st == upd) {
          sqlite3_bind_int(upd, 1, payload);
          sqlite3_bind_int64(upd, 2, id);
        } else {
          sqlite3_bind_int64(sel, 1, id);
        }
        const int rc = sqlite3_step(st);
        check(rc, db, "query");
        if (rc == SQLITE_ROW) sum += static_cast<uint64_t>(sqlite3_column_int(st, 0));
        sqlite3_reset(st);
      }
      q += 64;
      t1 = now_ms(CLOCK_MONOTONIC);
    }
    std::vector<uint64_t> nodes;
    numa_maps_bytes(0, max_node, &nodes);
    std::printf("%" PRIu64 ",%" PRIu64 ",%.0f", iv, q, static_cast<double>(q) * 1e3 / (t1 - t0));
    for (uint64_t b : nodes) std::printf(",%" PRIu64, b);
    std::printf("\n");
    std::fflush(stdout);
    total += q;
    total_ms += t1 - t0;
  }
  std::printf("# summary program=sqlite seed=%" PRIu64 " queries=%" PRIu64
              " queries_per_s=%.0f checksum=%" PRIu64 "\n",
              seed, total, static_cast<double>(total) * 1e3 / total_ms, sum);
  sqlite3_finalize(ins);
  sqlite3_finalize(sel);
  sqlite3_finalize(upd);
  sqlite3_close(db);
  return 0;
}
