// SPDX-License-Identifier: GPL-2.0-or-later
// Rows/s committed by each SQL output at 100K distinct keys per bin: one purge of new rows
// (inserts), then a purge of the same keys and bin (counters added to existing rows). Drives the
// modules through FakeHost; flush() returns once the rows are committed. Not run by ctest.
// SQL_BENCH_PREFILL_BINS=N first fills the table with N earlier bins of the same keys, so the
// merge meets a table that already holds N * rows rows (as a table a day old does).
// SQL_BENCH_ONLY=insert runs only the first purge (for a profile of it). SQL_BENCH_WARM=1 also times
// the first purge of a new bin by a module that has just written the bin before (a daemon's
// steady state: its buffers are reused, not fresh pages). SQL_BENCH_T=1 also prints when each purge
// was handed over (the pipeline thread's part of the time).
// Usage: SQL_BENCH_ROWS=100000 SQL_BENCH_BACKENDS="sqlite3 pgsql mysql" SQL_BENCH_PREFILL_BINS=0 sql_bench
#include <chrono>    // std::chrono
#include <cstdio>    // std::printf
#include <cstdlib>   // std::getenv
#include <string>    // std::string

#include <fstream>   // std::ofstream
#include <sstream>   // std::istringstream

#include <unistd.h>  // getpid

#include "server_cases.hpp" // Driver, make_row, TempDir

using namespace flowacct;
using namespace flowacct::sqltest;

namespace {

constexpr std::uint64_t kBin = 1'700'000'400;

std::vector<fa_row> rows_for(std::size_t n, std::uint64_t bin_s = kBin) {
    std::vector<fa_row> rows;
    rows.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto r = make_row(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(i % 50), bin_s, 1 + i % 3,
                          100 + i % 1000);
        r.rec.src_as = 5466;
        r.rec.dst_as = static_cast<std::uint32_t>(i % 4000);
        rows.push_back(r);
    }
    return rows;
}

// With `warm`, the module first writes and commits those rows (not timed), as a daemon has written
// earlier bins: its buffers are then the ones it keeps, not fresh pages.
double run(const std::string& module, std::map<std::string, std::string> cfg, const std::vector<fa_row>& rows,
           const char* what, const std::vector<fa_row>* warm = nullptr) {
    std::uint64_t prims = kHostPrims | bit(FA_P_SRC_AS) | bit(FA_P_DST_AS);
    Driver d(module, cfg);
    if (!d.ok()) {
        std::printf("  %s: %s\n", what, d.error().c_str());
        return 0;
    }
    // One purge, handed over 1024 rows at a time as the aggregator does, then committed.
    const auto purge = [&](const std::vector<fa_row>& all) {
        const auto t_start = std::chrono::steady_clock::now();
        for (std::size_t first = 0; first < all.size(); first += 1024)
            d.write(all.data() + first, std::min<std::size_t>(1024, all.size() - first), prims, 600);
        const auto t_tick = std::chrono::steady_clock::now();
        d.tick();
        if (std::getenv("SQL_BENCH_T"))
            std::printf("  handed over in %.1f ms\n", std::chrono::duration<double, std::milli>(t_tick - t_start).count());
        d.flush();
    };
    std::uint64_t before = 0;
    if (warm) {
        purge(*warm);
        before = d.counter("sql_rows_committed");
    }
    auto t0 = std::chrono::steady_clock::now();
    purge(rows);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::uint64_t committed = d.counter("sql_rows_committed") - before;
    std::printf("  %-28s %8llu rows committed in %6.3f s = %9.0f rows/s\n", what,
                static_cast<unsigned long long>(committed), s, committed / s);
    return committed / s;
}

} // namespace

TEST_CASE("rows per second committed at 100K distinct keys per bin") {
    pin_utc();
    std::size_t n = std::stoul(env_or("SQL_BENCH_ROWS", "100000"));
    std::vector<std::string> which;
    std::istringstream names(env_or("SQL_BENCH_BACKENDS", "sqlite3 pgsql mysql"));
    for (std::string w; names >> w;) which.push_back(w);
    const auto rows = rows_for(n);
    for (const auto& b : which) {
        TempDir dir;
        std::map<std::string, std::string> cfg = {{"sql_table_version", "9"},
                                                  {"sql_journal_dir", dir / "journal"},
                                                  {"aggregate", "src_host,dst_host,src_port,dst_port,proto,src_as,dst_as"}};
        sql::Dialect d = sql::Dialect::Sqlite;
        if (b == "sqlite3") {
            cfg["sql_db"] = dir / "bench.db";
        } else {
            d = b == "pgsql" ? sql::Dialect::Pgsql : sql::Dialect::Mysql;
            cfg["sql_host"] = env_or(b == "pgsql" ? "FLOWACCT_PG_HOST" : "FLOWACCT_MYSQL_HOST", "127.0.0.1");
            cfg["sql_port"] = env_or(b == "pgsql" ? "FLOWACCT_PG_PORT" : "FLOWACCT_MYSQL_PORT", b == "pgsql" ? "5432" : "3306");
            cfg["sql_db"] = env_or("FLOWACCT_SQL_DB", "flowacct_test");
            cfg["sql_user"] = env_or("FLOWACCT_SQL_USER", "flowacct");
            cfg["sql_passwd"] = env_or("FLOWACCT_SQL_PASSWORD", "flowacct");
        }
        const std::string table = "bench_v9_" + std::to_string(::getpid());
        cfg["sql_table"] = table;
        std::string ddl = sql::create_table_sql(d, sql::make_schema(d, 9, false, 0), table);
        std::string drop = "DROP TABLE IF EXISTS " + sql::quote_table(d, table);
        // Create and drop the table through the module's own client library: a tiny schema file.
        {
            std::ofstream(dir / "schema.sql") << ddl;
        }
        cfg["sql_table_schema"] = dir / "schema.sql";
        std::printf("%s (%zu distinct keys in one bin):\n", b.c_str(), n);
        const std::uint64_t prefill = std::stoul(env_or("SQL_BENCH_PREFILL_BINS", "0"));
        for (std::uint64_t p = 0; p < prefill; ++p)
            run("output_" + b + ".so", cfg, rows_for(n, kBin - 600 * (prefill - p)),
                ("prefill bin " + std::to_string(p + 1) + "/" + std::to_string(prefill)).c_str());
        run("output_" + b + ".so", cfg, rows, "insert (new rows)");
        if (env_or("SQL_BENCH_WARM", "") == "1") {
            const auto earlier = rows_for(n, kBin + 600), later = rows_for(n, kBin + 1200);
            run("output_" + b + ".so", cfg, later, "insert (new rows), warm", &earlier);
        }
        if (env_or("SQL_BENCH_ONLY", "") == "insert") continue;
        run("output_" + b + ".so", cfg, rows, "update (same keys and bin)");
        cfg["sql_dont_try_update"] = "true";
        cfg["sql_table"] = table + "_ins";
        {
            std::string ddl2 = sql::create_table_sql(d, sql::make_schema(d, 9, false, 0), table + "_ins");
            std::ofstream(dir / "schema.sql") << without_primary_key(ddl2);
        }
        run("output_" + b + ".so", cfg, rows, "insert only (dont_try_update)");
        std::printf("  (tables %s and %s_ins left for inspection; drop them with: %s; DROP TABLE %s_ins)\n",
                    table.c_str(), table.c_str(), drop.c_str(), table.c_str());
    }
}
