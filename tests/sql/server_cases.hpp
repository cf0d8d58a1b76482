// SPDX-License-Identifier: GPL-2.0-or-later
// Test cases shared by the pgsql and mysql outputs against a real server: each backend's test
// file supplies a ServerDb and runs these. Tables get a random suffix so runs do not collide.
#pragma once

#include <fstream>   // std::ifstream
#include <functional> // std::function
#include <random>    // std::random_device
#include <sstream>   // std::stringstream
#include <thread>    // std::thread

#include <doctest/doctest.h>

#include <flowacct/sdk/primitives.hpp> // sdk::format_stamp

#include "sql_schema.hpp"       // sql::Dialect, sql::default_table
#include "sql_test_support.hpp" // Driver, make_row, TempDir
#include "tcp_proxy.hpp"        // TcpProxy

namespace flowacct::sqltest {

/// A test's own session with the server.
class ServerDb {
public:
    virtual ~ServerDb() = default;
    /// False when the server cannot be reached.
    virtual bool connect() = 0;
    virtual void exec(const std::string& sql) = 0;
    /// Rows as "a|b|c".
    virtual std::vector<std::string> query(const std::string& sql) = 0;
    virtual sql::Dialect dialect() const = 0;
    virtual const char* module() const = 0;
    virtual std::string host() const = 0;
    virtual int port() const = 0;
    virtual const char* dir() const = 0; // etc/sql/<dir>

    std::string one(const std::string& sql) {
        auto r = query(sql);
        return r.empty() ? std::string("<none>") : r[0];
    }
    std::string q(const std::string& name) const { return sql::quote_ident(dialect(), name); }

    /// Creates `table` from etc/sql/<dir>/acct_vN.sql, renamed.
    void create_from_script(int version, const std::string& table) {
        std::string path = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/sql/" + dir() + "/" + sql::default_table(version) + ".sql";
        std::ifstream in(path);
        REQUIRE_MESSAGE(in, "missing " << path);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        std::string from = "CREATE TABLE IF NOT EXISTS " + q(sql::default_table(version));
        auto at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.replace(at, from.size(), "CREATE TABLE " + q(table));
        exec(text);
    }

    /// Connection keys for the module; `port` overrides the server's (a proxy).
    std::map<std::string, std::string> config(const TempDir& dir, const std::string& table, int version,
                                              int port_override = 0) const {
        return {{"sql_host", host()},
                {"sql_port", std::to_string(port_override ? port_override : port())},
                {"sql_db", env_or("FLOWACCT_SQL_DB", "flowacct_test")},
                {"sql_user", env_or("FLOWACCT_SQL_USER", "flowacct")},
                {"sql_passwd", env_or("FLOWACCT_SQL_PASSWORD", "flowacct")},
                {"sql_table", table},
                {"sql_table_version", std::to_string(version)},
                {"sql_journal_dir", dir / "journal"},
                {"aggregate", "src_host,dst_host,src_port,dst_port,proto"}};
    }
};

inline std::string unique_table(const std::string& base) {
    std::random_device rd;
    return base + "_" + std::to_string(rd() % 1000000000u);
}

/// Skips (returns false) when the server is unreachable, unless FLOWACCT_REQUIRE_SQL is set.
inline bool server_up(ServerDb& db) {
    if (db.connect()) return true;
    if (require_sql()) FAIL("server unreachable and FLOWACCT_REQUIRE_SQL is set (run tests/sql/start_servers.sh)");
    MESSAGE("skipped: server unreachable (run tests/sql/start_servers.sh)");
    return false;
}

inline void case_scripts_create_every_version(ServerDb& db) {
    for (int v = 1; v <= 9; ++v) {
        std::string t = unique_table("script_v" + std::to_string(v));
        db.create_from_script(v, t);
        db.exec("DROP TABLE " + db.q(t));
    }
}

/// `adjust` may change the table made from the script (its keys) before the module sees it.
inline void case_upsert_adds_counters(ServerDb& db, std::map<std::string, std::string> extra = {},
                                      const std::function<void(const std::string&)>& adjust = {}) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9");
    db.create_from_script(9, t);
    if (adjust) adjust(t);
    auto cfg = db.config(dir, t, 9);
    for (auto& [k, v] : extra) cfg[k] = v;
    {
        Driver d(db.module(), cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge({make_row(1, 1, 600, 2, 200), make_row(2, 1, 600, 1, 60)}, kHostPrims) == FA_OK);
        auto second = make_row(1, 1, 600, 3, 300);
        second.rec.tcp_flags = 0x10;
        CHECK(d.purge({second}, kHostPrims) == FA_OK);
        CHECK(d.purge({make_row(1, 1, 1200, 5, 500)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 4);
    }
    {
        // A second run (another process lifetime) adds to the same bin too.
        Driver d(db.module(), cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge({make_row(1, 1, 600, 10, 1000)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
    }
    const std::string proto = db.dialect() == sql::Dialect::Pgsql ? "6" : "tcp";
    CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM " + db.q(t)) == "3|21|2060");
    CHECK(db.one("SELECT ip_src, ip_dst, port_src, port_dst, ip_proto, packets, bytes, flows, tcp_flags, tag, mac_src, "
                 "stamp_inserted FROM " + db.q(t) + " WHERE ip_src = '10.0.0.1' AND stamp_inserted = '1970-01-01 00:10:00'") ==
          "10.0.0.1|192.168.0.1|40000|443|" + proto + "|15|1500|3|18|0|00:00:00:00:00:00|1970-01-01 00:10:00");
    CHECK(db.one("SELECT COUNT(*) FROM " + db.q(t) + " WHERE stamp_updated IS NULL") == "0");
    db.exec("DROP TABLE " + db.q(t));
}

inline void case_dont_try_update(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_ins");
    // The v9 columns without a primary key: an insert-only site.
    std::string path = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/sql/" + db.dir() + "/acct_v9.sql";
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string ddl = ss.str();
    ddl = without_primary_key(ddl);
    std::string from = "CREATE TABLE IF NOT EXISTS " + db.q("acct_v9");
    ddl.replace(ddl.find(from), from.size(), "CREATE TABLE " + db.q(t));
    db.exec(ddl);
    auto cfg = db.config(dir, t, 9);
    cfg["sql_dont_try_update"] = "true";
    Driver d(db.module(), cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d.purge({make_row(1, 1, 600, 2, 200)}, kHostPrims) == FA_OK);
    CHECK(d.purge({make_row(1, 1, 600, 3, 300)}, kHostPrims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM " + db.q(t)) == "2|5");
    db.exec("DROP TABLE " + db.q(t));
}

inline void case_injection(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_opt");
    const std::string victim = unique_table("victim");
    db.exec("CREATE TABLE " + db.q(victim) + " (x INT)");
    auto cfg = db.config(dir, t, 1);
    cfg["sql_optimize_clauses"] = "true";
    cfg["aggregate"] = "class,label,src_host";
    Driver d(db.module(), cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::string ddl = "CREATE TABLE " + db.q(t) + " (class_id CHAR(16) NOT NULL, label VARCHAR(255) NOT NULL, ip_src " +
                      (db.dialect() == sql::Dialect::Pgsql ? "inet" : "CHAR(45)") +
                      " NOT NULL, packets BIGINT NOT NULL, bytes BIGINT NOT NULL, stamp_inserted " +
                      (db.dialect() == sql::Dialect::Pgsql ? "timestamp" : "DATETIME") + " NOT NULL, stamp_updated " +
                      (db.dialect() == sql::Dialect::Pgsql ? "timestamp" : "DATETIME") +
                      ", PRIMARY KEY (class_id, label, ip_src, stamp_inserted))";
    db.exec(ddl);
    const std::string evil = "x'); DROP TABLE " + victim + "; --";
    const std::string evil_label = "a\\',`b\"); DELETE FROM " + t + "; -- \n\x01\xc3";
    auto row = make_row(1, 0, 600, 1, 10);
    row.rec.class_id = d.host.api()->intern(d.host.api()->ctx, evil.data(), evil.size());
    row.rec.label_id = d.host.api()->intern(d.host.api()->ctx, evil_label.data(), evil_label.size());
    std::uint64_t prims = bit(FA_P_CLASS) | bit(FA_P_LABEL) | bit(FA_P_SRC_HOST);
    CHECK(d.purge({row}, prims) == FA_OK);
    CHECK(d.purge({row}, prims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_committed") == 2);
    CHECK(db.one("SELECT COUNT(*) FROM " + db.q(victim)) == "0");
    CHECK(db.one("SELECT label, packets FROM " + db.q(t)) == "a\\',`b\"); DELETE FROM " + t + "; -- ???|2");
    CHECK(db.one("SELECT class_id FROM " + db.q(t)).rfind("x'); DROP TABLE", 0) == 0);
    db.exec("DROP TABLE " + db.q(t));
    db.exec("DROP TABLE " + db.q(victim));
}

inline void case_seed_query(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v6");
    db.create_from_script(6, t);
    auto cfg = db.config(dir, t, 6);
    cfg["aggregate"] = "src_as,dst_as,src_host,dst_host";
    Driver d(db.module(), cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::uint64_t prims = bit(FA_P_SRC_AS) | bit(FA_P_DST_AS) | bit(FA_P_SRC_HOST) | bit(FA_P_DST_HOST);
    const std::uint64_t t0 = 1'700'000'400;
    std::map<std::uint64_t, std::uint64_t> sent_bytes;
    for (int bin = 0; bin < 12; ++bin) {
        std::vector<fa_row> rows;
        for (int k = 0; k < 3; ++k) {
            auto r = make_row(k, bin, t0 + bin * 600, 1 + k, 1000 * (bin + 1) + k);
            r.rec.src_as = k == 2 ? 3320 : 5466;
            r.rec.dst_as = 64500 + k;
            rows.push_back(r);
            if (r.rec.src_as == 5466) sent_bytes[t0 + bin * 600] += r.rec.bytes;
        }
        CHECK(d.purge(rows, prims, 600) == FA_OK);
    }
    CHECK(d.flush() == FA_OK);
    auto rows = db.query("SELECT * FROM " + db.q(t) + " WHERE as_src = 5466 ORDER BY stamp_inserted DESC LIMIT 10;");
    CHECK(rows.size() == 10);
    auto bins = db.query("SELECT stamp_inserted, SUM(bytes) FROM (SELECT * FROM " + db.q(t) +
                         " WHERE as_src = 5466 ORDER BY stamp_inserted DESC LIMIT 10) AS s GROUP BY stamp_inserted "
                         "ORDER BY stamp_inserted DESC");
    REQUIRE(bins.size() == 5);
    for (std::size_t i = 0; i < bins.size(); ++i) {
        std::uint64_t bin_s = t0 + (11 - i) * 600;
        CHECK(bins[i] == sdk::format_stamp(bin_s) + "|" + std::to_string(sent_bytes[bin_s]));
    }
    db.exec("DROP TABLE " + db.q(t));
}

/// The server goes away while purges keep coming, then comes back: totals exact.
inline void case_outage_mid_run(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_out");
    db.create_from_script(9, t);
    TcpProxy proxy(db.host(), db.port());
    auto cfg = db.config(dir, t, 9, proxy.port());
    cfg["sql_backlog_rows"] = "250"; // part of the backlog goes to the journal
    Driver d(db.module(), cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::uint64_t packets = 0, rows_sent = 0;
    auto purge = [&](int round) {
        std::vector<fa_row> rows;
        for (int k = 0; k < 100; ++k) {
            rows.push_back(make_row(k, 0, 600 * (1 + round % 3), 1 + round, 10));
            packets += 1 + round;
        }
        rows_sent += rows.size();
        CHECK(d.purge(rows, kHostPrims) == FA_OK);
    };
    purge(0);
    REQUIRE(d.wait_counter("sql_rows_committed", 100));
    proxy.set_down(true);
    for (int round = 1; round <= 6; ++round) purge(round);
    CHECK(d.counter("sql_rows_committed") == 100);
    CHECK(d.counter("sql_rows_journaled") > 0);
    CHECK(d.counter("sql_backlog_rows") == 600);
    proxy.set_down(false);
    REQUIRE(d.wait_counter("sql_rows_committed", rows_sent));
    purge(7);
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_backlog_rows") == 0);
    CHECK(db.one("SELECT SUM(packets), COUNT(*) FROM " + db.q(t)) == std::to_string(packets) + "|300");
    bool back = false;
    for (const auto& l : d.host.logs) back |= l.find("database available again") != std::string::npos;
    CHECK(back);
    db.exec("DROP TABLE " + db.q(t));
}

/// Shutdown with the server down keeps the journal; the next start writes it first.
inline void case_restart_with_server_down(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_rs");
    db.create_from_script(9, t);
    TcpProxy proxy(db.host(), db.port());
    proxy.set_down(true);
    auto cfg = db.config(dir, t, 9, proxy.port());
    std::uint64_t packets = 0;
    {
        Driver d(db.module(), cfg);
        REQUIRE_MESSAGE(d.ok(), d.error()); // the server down at start is not an error
        for (int round = 0; round < 3; ++round) {
            std::vector<fa_row> rows;
            for (int k = 0; k < 40; ++k) {
                rows.push_back(make_row(k, 0, 600, 1 + round, 10));
                packets += 1 + round;
            }
            CHECK(d.purge(rows, kHostPrims) == FA_OK);
        }
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_journal_rows") == 120);
    }
    proxy.set_down(false);
    {
        Driver d(db.module(), cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge({make_row(0, 0, 600, 1000, 10)}, kHostPrims) == FA_OK);
        packets += 1000;
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_replayed") == 120);
        CHECK(d.counter("sql_journal_rows") == 0);
    }
    CHECK(db.one("SELECT SUM(packets), COUNT(*) FROM " + db.q(t)) == std::to_string(packets) + "|40");
    db.exec("DROP TABLE " + db.q(t));
}

inline void case_two_writers(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_two");
    db.create_from_script(9, t);
    auto run = [&](const std::string& name) {
        auto cfg = db.config(dir, t, 9);
        cfg["sql_journal_dir"] = dir / ("journal-" + name);
        Driver d(db.module(), cfg, name);
        REQUIRE(d.ok());
        for (int purge = 0; purge < 10; ++purge) {
            std::vector<fa_row> rows;
            // Both writers hit the same keys, in opposite orders.
            for (int k = 0; k < 300; ++k) rows.push_back(make_row(name == "a" ? k : 299 - k, 0, 600, 1, 10));
            CHECK(d.purge(rows, kHostPrims) == FA_OK);
        }
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 3000);
        CHECK(d.counter("sql_journal_rows") == 0);
    };
    std::thread a(run, "a"), b(run, "b");
    a.join();
    b.join();
    CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM " + db.q(t)) == "300|6000|60000");
    db.exec("DROP TABLE " + db.q(t));
}

/// A row the server refuses (a CHECK the site added) is quarantined and counted; every other
/// row of its batch commits exactly once, on insert and on update, with two writers at once.
inline void case_refused_row(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_poison");
    db.create_from_script(9, t);
    db.exec("ALTER TABLE " + db.q(t) + " ADD CONSTRAINT fa_small_packets CHECK (packets < 1000000)");
    auto run = [&](const std::string& name) {
        auto cfg = db.config(dir, t, 9);
        cfg["sql_journal_dir"] = dir / ("journal-" + name);
        Driver d(db.module(), cfg, name);
        REQUIRE_MESSAGE(d.ok(), d.error());
        feed_with_poison(d);
        check_poison_writer(d, dir / ("journal-" + name + "/" + name + ".refused.jsonl"));
    };
    run("solo");
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM " + db.q(t)) == "100|198");
    CHECK(db.one("SELECT packets FROM " + db.q(t) + " WHERE ip_src = '10.0.0.50'") == "1");
    CHECK(db.one("SELECT packets FROM " + db.q(t) + " WHERE ip_src = '10.0.0.7'") == "1");
    db.exec("DELETE FROM " + db.q(t));
    std::thread a(run, "a"), b(run, "b");
    a.join();
    b.join();
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM " + db.q(t)) == "100|396");
    CHECK(db.one("SELECT packets FROM " + db.q(t) + " WHERE ip_src = '10.0.0.7'") == "2");
    db.exec("DROP TABLE " + db.q(t));
}

/// Many refused rows scattered through one batch: each is isolated and counted, the others commit.
inline void case_many_refused_rows(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_many");
    db.create_from_script(9, t);
    db.exec("ALTER TABLE " + db.q(t) + " ADD CONSTRAINT fa_small_packets CHECK (packets < 1000000)");
    Driver d(db.module(), db.config(dir, t, 9));
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::vector<fa_row> rows;
    for (int k = 0; k < 3000; ++k) rows.push_back(make_row(k, 0, 600, k % 10 == 3 ? 2'000'000 : 2, 10));
    CHECK(d.purge(rows, kHostPrims) == FA_OK);
    // Isolating 300 rows takes thousands of savepoint round trips (seconds); shutdown gives the
    // writer 30 s before it journals instead, which a loaded, sanitized run can exceed. What is
    // checked here is the isolation: wait for the writer's commit, then flush.
    CHECK(d.wait_counter("sql_rows_committed", 2700, 180000));
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_refused") == 300);
    CHECK(d.counter("sql_rows_committed") == 2700);
    CHECK(refused_lines(dir / "journal/t.refused.jsonl").size() == 300);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM " + db.q(t)) == "2700|5400");
    db.exec("DROP TABLE " + db.q(t));
}

/// A column narrowed by the site (packets as a 32-bit integer): a value out of its range is a
/// data error (SQLSTATE 22003, MySQL 1264 in strict mode) like a constraint, isolated the same way.
inline void case_narrowed_column(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_narrow");
    db.create_from_script(9, t);
    db.exec(db.dialect() == sql::Dialect::Pgsql ? "ALTER TABLE " + db.q(t) + " ALTER COLUMN packets TYPE integer"
                                                : "ALTER TABLE " + db.q(t) + " MODIFY packets INT UNSIGNED NOT NULL");
    auto cfg = db.config(dir, t, 9);
    Driver d(db.module(), cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::vector<fa_row> rows;
    std::uint64_t good = 0;
    for (int k = 0; k < 300; ++k) {
        rows.push_back(make_row(k, 0, 600, k == 123 ? 5'000'000'000ull : 1 + k % 5, 10));
        if (k != 123) good += 1 + k % 5;
    }
    CHECK(d.purge(rows, kHostPrims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_refused") == 1);
    CHECK(d.counter("sql_rows_committed") == 299);
    auto lines = refused_lines(dir / "journal/t.refused.jsonl");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("\"packets\":\"5000000000\"") != std::string::npos);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM " + db.q(t)) == "299|" + std::to_string(good));
    db.exec("DROP TABLE " + db.q(t));
}

/// sql_table with strftime variables: a table per day, created from sql_table_schema.
inline void case_table_per_day(ServerDb& db) {
    pin_utc();
    TempDir dir;
    const std::string base = unique_table("daily");
    const std::string pattern = base + "_%Y%m%d";
    auto schema = sql::make_schema(db.dialect(), 1, true, bit(FA_P_SRC_HOST));
    std::ofstream(dir / "schema.sql") << sql::create_table_sql(db.dialect(), schema, pattern);
    auto cfg = db.config(dir, pattern, 1);
    cfg["sql_optimize_clauses"] = "true";
    cfg["aggregate"] = "src_host";
    cfg["sql_table_schema"] = dir / "schema.sql";
    Driver d(db.module(), cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    const std::uint64_t day = 86400 * 19000; // 2022-01-08
    CHECK(d.purge({make_row(1, 0, day + 600, 1, 10), make_row(1, 0, day + 86400 + 600, 2, 20)}, bit(FA_P_SRC_HOST)) ==
          FA_OK);
    CHECK(d.purge({make_row(1, 0, day + 600, 4, 40)}, bit(FA_P_SRC_HOST)) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(db.one("SELECT packets FROM " + db.q(base + "_20220108")) == "5");
    CHECK(db.one("SELECT packets FROM " + db.q(base + "_20220109")) == "2");
    db.exec("DROP TABLE " + db.q(base + "_20220108"));
    db.exec("DROP TABLE " + db.q(base + "_20220109"));
}

} // namespace flowacct::sqltest
