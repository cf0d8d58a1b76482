// SPDX-License-Identifier: GPL-2.0-or-later
// The sqlite3 output module driven through FakeHost: pmacct tables, adding counters across
// purges, injection attempts, the journal when the database is unavailable, two writers.
#include <chrono>   // std::chrono
#include <cstring>  // std::memset
#include <fstream>  // std::ifstream
#include <sstream>  // std::stringstream
#include <thread>   // std::thread

#include <sys/mount.h> // mount, umount2

#include <sqlite3.h> // sqlite3_*

#include <doctest/doctest.h>

#include "sql_test_support.hpp" // sqltest::Driver, make_row, TempDir

using namespace flowacct;
using namespace flowacct::sqltest;

namespace {

constexpr const char* kModule = "output_sqlite3.so";

class Db {
public:
    explicit Db(const std::string& path) {
        REQUIRE(sqlite3_open(path.c_str(), &db_) == SQLITE_OK);
        sqlite3_busy_timeout(db_, 5000);
    }
    ~Db() { sqlite3_close(db_); }
    void exec(const std::string& sql) {
        char* err = nullptr;
        int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
        INFO(sql << ": " << (err ? err : ""));
        sqlite3_free(err);
        REQUIRE(rc == SQLITE_OK);
    }
    void exec_file(const std::string& path) {
        std::ifstream in(path);
        REQUIRE_MESSAGE(in, "missing " << path);
        std::stringstream ss;
        ss << in.rdbuf();
        exec(ss.str());
    }
    /// Rows as "a|b|c" lines.
    std::vector<std::string> query(const std::string& sql) {
        std::vector<std::string> out;
        sqlite3_stmt* st = nullptr;
        REQUIRE_MESSAGE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK, sqlite3_errmsg(db_));
        while (sqlite3_step(st) == SQLITE_ROW) {
            std::string line;
            for (int i = 0; i < sqlite3_column_count(st); ++i) {
                const unsigned char* t = sqlite3_column_text(st, i);
                line += (i ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
            }
            out.push_back(line);
        }
        sqlite3_finalize(st);
        return out;
    }
    std::string one(const std::string& sql) {
        auto r = query(sql);
        return r.empty() ? std::string("<none>") : r[0];
    }

private:
    sqlite3* db_ = nullptr;
};

std::string script(const char* table) {
    return std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/sql/sqlite3/" + table + ".sql";
}

std::map<std::string, std::string> base_config(const TempDir& dir, const std::string& db) {
    return {{"sql_db", db}, {"sql_journal_dir", dir / "journal"}, {"sql_table_version", "9"},
            {"aggregate", "src_host,dst_host,src_port,dst_port,proto"}};
}

} // namespace

TEST_CASE("sqlite3 writes acct_v9 rows and a later purge of the same bin adds to them") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    Db db(db_path);
    db.exec_file(script("acct_v9"));
    Driver d(kModule, base_config(dir, db_path));
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d.purge({make_row(1, 1, 600, 2, 200), make_row(2, 1, 600, 1, 60)}, kHostPrims) == FA_OK);
    auto second = make_row(1, 1, 600, 3, 300);
    second.rec.tcp_flags = 0x10;
    CHECK(d.purge({second}, kHostPrims) == FA_OK);
    CHECK(d.purge({make_row(1, 1, 1200, 5, 500)}, kHostPrims) == FA_OK); // next bin: a row of its own
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_committed") == 4);
    CHECK(d.counter("sql_backlog_rows") == 0);
    CHECK(db.one("SELECT COUNT(*) FROM acct_v9") == "3");
    CHECK(db.one("SELECT ip_src, ip_dst, port_src, port_dst, ip_proto, packets, bytes, flows, tcp_flags, tag, "
                 "class_id, mac_src, stamp_inserted FROM acct_v9 WHERE ip_src = '10.0.0.1' AND stamp_inserted = "
                 "'1970-01-01 00:10:00'") ==
          "10.0.0.1|192.168.0.1|40000|443|tcp|5|500|2|18|0|unknown|00:00:00:00:00:00|1970-01-01 00:10:00");
    CHECK(db.one("SELECT stamp_updated IS NOT NULL FROM acct_v9 LIMIT 1") == "1");
}

TEST_CASE("tcp flags are OR-ed and flows added when aggregated") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    Db db(db_path);
    db.exec_file(script("acct_v9"));
    auto cfg = base_config(dir, db_path);
    cfg["aggregate"] = "src_host,tcpflags,flows";
    Driver d(kModule, cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::uint64_t prims = bit(FA_P_SRC_HOST) | bit(FA_P_TCPFLAGS) | bit(FA_P_FLOWS);
    auto a = make_row(1, 0, 600, 1, 10);
    // The aggregator zeroes what it does not key on.
    std::memset(a.rec.dst_ip, 0, sizeof a.rec.dst_ip);
    a.rec.src_port = a.rec.dst_port = 0;
    a.rec.proto = 0;
    auto b = a;
    b.rec.tcp_flags = 0x11;
    CHECK(d.purge({a}, prims) == FA_OK);
    CHECK(d.purge({b}, prims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    // Non-aggregated columns hold pmacct's empty values.
    CHECK(db.one("SELECT ip_src, ip_dst, port_dst, tcp_flags, flows, packets FROM acct_v9") ==
          "10.0.0.1|0.0.0.0|0|19|2|2");
}

TEST_CASE("sql_dont_try_update inserts a row per purge") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    Db db(db_path);
    std::ifstream in(script("acct_v9"));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string ddl = ss.str();
    // Same columns, no primary key: what an insert-only site uses.
    db.exec(without_primary_key(ddl));
    auto cfg = base_config(dir, db_path);
    cfg["sql_dont_try_update"] = "true";
    Driver d(kModule, cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d.purge({make_row(1, 1, 600, 2, 200)}, kHostPrims) == FA_OK);
    CHECK(d.purge({make_row(1, 1, 600, 3, 300)}, kHostPrims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "2|5");
}

TEST_CASE("a hostile class or label name is stored as text and cannot inject SQL") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    Db db(db_path);
    db.exec("CREATE TABLE victim (x INT)");
    auto cfg = base_config(dir, db_path);
    cfg["sql_optimize_clauses"] = "true";
    cfg["sql_table"] = "acct_opt";
    cfg["aggregate"] = "class,label,src_host";
    Driver d(kModule, cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    db.exec(
        "CREATE TABLE acct_opt (class_id CHAR(16) NOT NULL, label VARCHAR(255) NOT NULL, ip_src CHAR(45) NOT NULL, "
        "packets BIGINT NOT NULL, bytes BIGINT NOT NULL, stamp_inserted DATETIME NOT NULL, stamp_updated DATETIME, "
        "PRIMARY KEY (class_id, label, ip_src, stamp_inserted))");
    const std::string evil = "x'); DROP TABLE victim; --";
    const std::string evil_label = "a\",\"b'); DELETE FROM acct_opt; -- \n\x01";
    auto row = make_row(1, 0, 600, 1, 10);
    row.rec.class_id = d.host.api()->intern(d.host.api()->ctx, evil.data(), evil.size());
    row.rec.label_id = d.host.api()->intern(d.host.api()->ctx, evil_label.data(), evil_label.size());
    std::uint64_t prims = bit(FA_P_CLASS) | bit(FA_P_LABEL) | bit(FA_P_SRC_HOST);
    CHECK(d.purge({row}, prims) == FA_OK);
    CHECK(d.purge({row}, prims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(db.one("SELECT COUNT(*) FROM victim") == "0"); // still there
    CHECK(db.one("SELECT class_id, label, packets FROM acct_opt") ==
          "x'); DROP TABLE |a\",\"b'); DELETE FROM acct_opt; -- ??|2");
}

TEST_CASE("the seed query returns 10-minute acct_v6 rows whose totals match what was sent") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    Db db(db_path);
    db.exec_file(script("acct_v6"));
    auto cfg = base_config(dir, db_path);
    cfg["sql_table_version"] = "6";
    cfg["aggregate"] = "src_as,dst_as,src_host,dst_host";
    Driver d(kModule, cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::uint64_t prims = bit(FA_P_SRC_AS) | bit(FA_P_DST_AS) | bit(FA_P_SRC_HOST) | bit(FA_P_DST_HOST);
    const std::uint64_t t0 = 1'700'000'400; // a 10-minute boundary
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
    auto rows = db.query("SELECT * FROM acct_v6 WHERE as_src = 5466 ORDER BY stamp_inserted DESC LIMIT 10;");
    CHECK(rows.size() == 10);
    auto bins = db.query("SELECT stamp_inserted, SUM(bytes) FROM (SELECT * FROM acct_v6 WHERE as_src = 5466 ORDER BY "
                         "stamp_inserted DESC LIMIT 10) GROUP BY stamp_inserted ORDER BY stamp_inserted DESC");
    REQUIRE(bins.size() == 5); // two rows per bin with as_src 5466
    for (std::size_t i = 0; i < bins.size(); ++i) {
        std::uint64_t bin_s = t0 + (11 - i) * 600;
        std::time_t t = static_cast<std::time_t>(bin_s);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::gmtime(&t));
        CHECK(bins[i] == std::string(stamp) + "|" + std::to_string(sent_bytes[bin_s]));
    }
}

TEST_CASE("rows are journaled while the database is unavailable and written once when it is back") {
    pin_utc();
    TempDir dir;
    const std::string db_dir = dir / "db";   // missing until the "database" comes back
    const std::string db_path = db_dir + "/acct.db";
    auto cfg = base_config(dir, db_path);
    std::uint64_t sent_packets = 0;
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        for (int purge = 0; purge < 3; ++purge) {
            std::vector<fa_row> rows;
            for (int k = 0; k < 50; ++k) {
                rows.push_back(make_row(k, 1, 600, 1 + purge, 100));
                sent_packets += 1 + purge;
            }
            CHECK(d.purge(rows, kHostPrims) == FA_OK); // never blocks on the database
        }
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 0);
        CHECK(d.counter("sql_rows_journaled") == 150);
        CHECK(d.counter("sql_journal_rows") == 150);
        bool logged = false;
        for (const auto& l : d.host.logs) logged |= l.find("rows wait in memory") != std::string::npos;
        CHECK(logged);
    }
    std::filesystem::create_directories(db_dir);
    {
        Db db(db_path);
        db.exec_file(script("acct_v9"));
    }
    std::vector<std::filesystem::path> saved;
    for (const auto& e : std::filesystem::directory_iterator(dir / "journal"))
        if (e.path().extension() == ".journal") saved.push_back(e.path());
    REQUIRE(saved.size() == 3);
    for (const auto& p : saved) std::filesystem::copy_file(p, p.string() + ".copy");
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.wait_counter("sql_rows_replayed", 150));
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_journal_rows") == 0);
    }
    Db db(db_path);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "50|" + std::to_string(sent_packets));
    // A crash between COMMIT and removing the journal files leaves them behind: the commit
    // marker makes the next start skip them instead of counting twice.
    for (const auto& p : saved) std::filesystem::rename(p.string() + ".copy", p);
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.wait_counter("sql_batches_already_committed", 3));
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 0);
    }
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "50|" + std::to_string(sent_packets));
}

TEST_CASE("a backlog beyond sql_backlog_rows goes to the journal, in order") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "missing/acct.db";
    auto cfg = base_config(dir, db_path);
    cfg["sql_backlog_rows"] = "10";
    Driver d(kModule, cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d.purge({make_row(1, 1, 600, 1, 1), make_row(2, 1, 600, 1, 1), make_row(3, 1, 600, 1, 1),
                   make_row(4, 1, 600, 1, 1), make_row(5, 1, 600, 1, 1), make_row(6, 1, 600, 1, 1)},
                  kHostPrims) == FA_OK);
    std::vector<fa_row> more;
    for (int k = 0; k < 8; ++k) more.push_back(make_row(k, 2, 600, 1, 1));
    CHECK(d.purge(more, kHostPrims) == FA_OK);
    // The second purge does not fit next to the first in 10 rows: journaled at once.
    CHECK(d.counter("sql_rows_journaled") == 8);
    CHECK(d.counter("sql_backlog_rows") == 14);
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_journaled") == 14);
}

TEST_CASE("sql_table with strftime variables and sql_table_schema give a table per day") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    {
        std::ofstream schema(dir / "schema.sql");
        schema << "CREATE TABLE acct_%Y%m%d (ip_src CHAR(45) NOT NULL, packets BIGINT NOT NULL, bytes BIGINT NOT NULL, "
                  "stamp_inserted DATETIME NOT NULL, stamp_updated DATETIME, PRIMARY KEY (ip_src, stamp_inserted));";
    }
    auto cfg = base_config(dir, db_path);
    cfg["sql_optimize_clauses"] = "true";
    cfg["aggregate"] = "src_host";
    cfg["sql_table"] = "acct_%Y%m%d";
    cfg["sql_table_schema"] = dir / "schema.sql";
    Driver d(kModule, cfg);
    REQUIRE_MESSAGE(d.ok(), d.error());
    const std::uint64_t day = 86400 * 19000; // 2022-01-08
    CHECK(d.purge({make_row(1, 0, day + 600, 1, 10), make_row(1, 0, day + 86400 + 600, 2, 20)}, bit(FA_P_SRC_HOST)) ==
          FA_OK);
    CHECK(d.flush() == FA_OK);
    Db db(db_path);
    CHECK(db.one("SELECT packets FROM acct_20220108") == "1");
    CHECK(db.one("SELECT packets FROM acct_20220109") == "2");
}

TEST_CASE("two writers on one database give exact totals") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    {
        Db db(db_path);
        db.exec_file(script("acct_v9"));
    }
    auto run = [&](const std::string& name) {
        auto cfg = base_config(dir, db_path);
        cfg["sql_journal_dir"] = dir / ("journal-" + name);
        Driver d(kModule, cfg, name);
        REQUIRE(d.ok());
        for (int purge = 0; purge < 20; ++purge) {
            std::vector<fa_row> rows;
            for (int k = 0; k < 200; ++k) rows.push_back(make_row(k, 0, 600, 1, 10));
            CHECK(d.purge(rows, kHostPrims) == FA_OK);
        }
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 4000);
    };
    std::thread a(run, "a"), b(run, "b");
    a.join();
    b.join();
    Db db(db_path);
    CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM acct_v9") == "200|8000|80000");
}

TEST_CASE("configuration mistakes are refused at start with the key at fault") {
    TempDir dir;
    auto cfg = base_config(dir, dir / "acct.db");
    SUBCASE("table name") {
        cfg["sql_table"] = "acct; DROP TABLE x";
        Driver d(kModule, cfg);
        CHECK_FALSE(d.ok());
        CHECK(d.error().rfind("sql_table:", 0) == 0);
    }
    SUBCASE("primitive without a column") {
        cfg["aggregate"] = "src_host,tag2";
        Driver d(kModule, cfg);
        CHECK_FALSE(d.ok());
        CHECK(d.error().rfind("sql_table_version:", 0) == 0);
    }
    SUBCASE("journal directory shared by two instances") {
        Driver first(kModule, cfg);
        REQUIRE(first.ok());
        Driver second(kModule, cfg);
        CHECK_FALSE(second.ok());
        CHECK(second.error().rfind("sql_journal_dir:", 0) == 0);
    }
    SUBCASE("commit table name") {
        cfg["sql_commit_table"] = "x y";
        Driver d(kModule, cfg);
        CHECK_FALSE(d.ok());
        CHECK(d.error().rfind("sql_commit_table:", 0) == 0);
    }
}

TEST_CASE("a database locked by another client delays the rows but never the pipeline") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    Db locker(db_path);
    locker.exec_file(script("acct_v9"));
    locker.exec("BEGIN EXCLUSIVE");
    Driver d(kModule, base_config(dir, db_path));
    REQUIRE_MESSAGE(d.ok(), d.error());
    auto t0 = std::chrono::steady_clock::now();
    for (int purge = 0; purge < 5; ++purge) CHECK(d.purge({make_row(1, 1, 600, 1, 10)}, kHostPrims) == FA_OK);
    // The writer waits on the lock (busy timeout 5 s); write() and tick() returned at once: under
    // the 5 s a single purge waiting on the lock would take, with room for a loaded sanitized run.
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
    CHECK(d.counter("sql_rows_committed") == 0);
    locker.exec("COMMIT");
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_committed") == 5);
    CHECK(locker.one("SELECT SUM(packets) FROM acct_v9") == "5");
}

namespace {

// acct_v9 from the script with a CHECK the site added; without its primary key when `keyed` is
// false (the module then updates and inserts row by row, like pmacct).
void create_poison_table(Db& db, bool keyed) {
    std::ifstream in(script("acct_v9"));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string ddl = ss.str();
    auto pk = ddl.find(",\n    PRIMARY KEY");
    REQUIRE(pk != std::string::npos);
    if (!keyed) ddl = without_primary_key(ddl);
    ddl.insert(pk, ",\n    CONSTRAINT fa_small_packets CHECK (packets < 1000000)");
    db.exec(ddl);
}

} // namespace

TEST_CASE("a row the database refuses is quarantined and counted; the rest of its batch commits once") {
    for (bool keyed : {true, false}) {
        CAPTURE(keyed);
        pin_utc();
        TempDir dir;
        const std::string db_path = dir / "acct.db";
        {
            Db db(db_path);
            create_poison_table(db, keyed);
        }
        auto run = [&](const std::string& name) {
            auto cfg = base_config(dir, db_path);
            cfg["sql_journal_dir"] = dir / ("journal-" + name);
            Driver d(kModule, cfg, name);
            REQUIRE_MESSAGE(d.ok(), d.error());
            feed_with_poison(d);
            check_poison_writer(d, dir / ("journal-" + name + "/" + name + ".refused.jsonl"));
        };
        run("solo");
        {
            Db db(db_path);
            CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "100|198");
            CHECK(db.one("SELECT packets FROM acct_v9 WHERE ip_src = '10.0.0.50'") == "1");
            CHECK(db.one("SELECT packets FROM acct_v9 WHERE ip_src = '10.0.0.7'") == "1");
            db.exec("DELETE FROM acct_v9");
        }
        std::thread a(run, "a"), b(run, "b");
        a.join();
        b.join();
        Db db(db_path);
        CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "100|396");
        CHECK(db.one("SELECT packets FROM acct_v9 WHERE ip_src = '10.0.0.7'") == "2");
    }
}

TEST_CASE("one refused row among many: the counter says 1 and every other total is exact") {
    pin_utc();
    TempDir dir;
    const std::string db_path = dir / "acct.db";
    {
        Db db(db_path);
        create_poison_table(db, true);
    }
    auto cfg = base_config(dir, db_path);
    std::vector<fa_row> rows;
    std::uint64_t good = 0;
    for (int k = 0; k < 5000; ++k) {
        rows.push_back(make_row(k, 0, 600, k == 4321 ? 5'000'000 : 1 + k % 7, 10));
        if (k != 4321) good += 1 + k % 7;
    }
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge(rows, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_refused") == 1);
        CHECK(d.counter("sql_rows_committed") == 4999);
    }
    auto lines = refused_lines(dir / "journal/t.refused.jsonl");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].find("\"ip_src\":\"10.0.16.225\"") != std::string::npos); // 4321 = 0x10e1
    Db db(db_path);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "4999|" + std::to_string(good));
}

TEST_CASE("sql_journal_max_size caps the journal: rows past it are dropped and counted, the rest written once") {
    pin_utc();
    TempDir dir;
    const std::string db_dir = dir / "db"; // missing until the "database" comes back
    const std::string db_path = db_dir + "/acct.db";
    auto cfg = base_config(dir, db_path);
    cfg["sql_backlog_rows"] = "100";
    // A 100-row batch file: a header, the fixed-size rows with two empty names, a trailer. Room for
    // two files, not three.
    const std::uint64_t file_bytes = 32 + 100 * (sizeof(fa_row) + 4) + 16;
    const std::uint64_t cap = file_bytes * 5 / 2;
    cfg["sql_journal_max_size"] = std::to_string(cap);
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        for (int purge = 0; purge < 6; ++purge) {
            std::vector<fa_row> rows;
            for (int k = 0; k < 100; ++k) rows.push_back(make_row(k, 1, 600, 1ull << purge, 100));
            CHECK(d.purge(rows, kHostPrims) == FA_OK); // never blocks, never fails
        }
        // Purge 0 waits in memory, 1 and 2 in the journal, 3 to 5 are dropped.
        CHECK(d.counter("sql_rows_journaled") == 200);
        CHECK(d.counter("sql_rows_dropped") == 300);
        CHECK(d.counter("sql_journal_errors") == 3);
        CHECK(d.counter("sql_backlog_rows") == 300);
        std::uint64_t bytes = 0;
        for (const auto& e : std::filesystem::directory_iterator(dir / "journal"))
            if (e.path().extension() == ".journal") bytes += std::filesystem::file_size(e.path());
        CHECK(bytes == 2 * file_bytes);
        int logged = 0;
        for (const auto& l : d.host.logs) logged += l.find("sql_rows_dropped counts them") != std::string::npos;
        CHECK(logged == 1); // rate-limited
        // Shutdown: the batch in memory cannot join the full journal either: flush does not wait
        // for it, and it is counted as dropped.
        auto t0 = std::chrono::steady_clock::now();
        CHECK(d.flush() == FA_OK);
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
        d.destroy();
        CHECK(d.counter("sql_rows_dropped") == 400);
    }
    std::filesystem::create_directories(db_dir);
    {
        Db db(db_path);
        db.exec_file(script("acct_v9"));
    }
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.wait_counter("sql_rows_replayed", 200));
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_journal_rows") == 0);
    }
    Db db(db_path);
    // What the journal held is written exactly once: purges 1 and 2.
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "100|" + std::to_string(100 * (2 + 4)));
}

TEST_CASE("the journal's disk full: rows past it are dropped and counted, collection goes on, the journal is exact") {
    pin_utc();
    TempDir dir;
    const std::string spool = dir / "spool";
    std::filesystem::create_directories(spool);
    // A small tmpfs of its own: the disk fills for real and nothing else on the machine does.
    const std::uint64_t file_bytes = 32 + 100 * (sizeof(fa_row) + 4) + 16;
    const std::uint64_t file_pages = (file_bytes + 4095) / 4096;
    const std::string opts = "size=" + std::to_string(4096 * (2 + 2 * file_pages + file_pages / 2)) + ",mode=0700";
    if (::mount("tmpfs", spool.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
        MESSAGE("skipped: cannot mount a tmpfs (" << std::strerror(errno) << "); run as root to test a full disk");
        return;
    }
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{spool};
    const std::string db_dir = dir / "db"; // missing until the "database" comes back
    const std::string db_path = db_dir + "/acct.db";
    auto cfg = base_config(dir, db_path);
    cfg["sql_journal_dir"] = spool;
    cfg["sql_backlog_rows"] = "100";
    std::uint64_t journaled = 0;
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        for (int purge = 0; purge < 6; ++purge) {
            std::vector<fa_row> rows;
            for (int k = 0; k < 100; ++k) rows.push_back(make_row(k, 1, 600, 1ull << purge, 100));
            CHECK(d.purge(rows, kHostPrims) == FA_OK);
        }
        journaled = d.counter("sql_rows_journaled");
        CHECK(journaled >= 100);
        CHECK(journaled <= 300);
        CHECK(d.counter("sql_rows_dropped") == 500 - journaled);
        CHECK(d.counter("sql_journal_errors") == (500 - journaled) / 100);
        bool enospc = false;
        for (const auto& l : d.host.logs) enospc |= l.find("No space left on device") != std::string::npos;
        CHECK(enospc);
        for (const auto& e : std::filesystem::directory_iterator(spool))
            CHECK(e.path().extension() != ".tmp"); // a short write leaves nothing behind
        CHECK(d.flush() == FA_OK);
        d.destroy();
        CHECK(d.counter("sql_rows_dropped") == 600 - journaled);
    }
    std::filesystem::create_directories(db_dir);
    {
        Db db(db_path);
        db.exec_file(script("acct_v9"));
    }
    {
        Driver d(kModule, cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.wait_counter("sql_rows_replayed", journaled));
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_journal_rows") == 0);
    }
    // Purges 1 .. journaled/100 went to the journal, in order: their packets exactly, once.
    std::uint64_t packets = 0;
    for (std::uint64_t p = 1; p <= journaled / 100; ++p) packets += 100 * (1ull << p);
    Db db(db_path);
    CHECK(db.one("SELECT COUNT(*), SUM(packets) FROM acct_v9") == "100|" + std::to_string(packets));
}
