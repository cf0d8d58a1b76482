// SPDX-License-Identifier: GPL-2.0-or-later
// The pgsql output module against a real PostgreSQL (tests/sql/start_servers.sh).
#include <libpq-fe.h> // PQ*

#include <fstream> // std::ifstream
#include <sstream> // std::stringstream

#include <doctest/doctest.h>

#include "server_cases.hpp" // sqltest::ServerDb and the shared cases

using namespace flowacct;
using namespace flowacct::sqltest;

namespace {

class PgDb final : public ServerDb {
public:
    ~PgDb() override {
        if (conn_) PQfinish(conn_);
    }
    bool connect() override {
        std::string ci = "host=" + host() + " port=" + std::to_string(port()) + " dbname=" +
                         env_or("FLOWACCT_SQL_DB", "flowacct_test") + " user=" + env_or("FLOWACCT_SQL_USER", "flowacct") +
                         " password=" + env_or("FLOWACCT_SQL_PASSWORD", "flowacct") + " connect_timeout=3";
        conn_ = PQconnectdb(ci.c_str());
        if (PQstatus(conn_) != CONNECTION_OK) return false;
        PQclear(PQexec(conn_, "SET client_min_messages = warning"));
        return true;
    }
    void exec(const std::string& sql) override {
        PGresult* r = PQexec(conn_, sql.c_str());
        auto st = PQresultStatus(r);
        INFO(sql << ": " << PQerrorMessage(conn_));
        PQclear(r);
        REQUIRE((st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK));
    }
    std::vector<std::string> query(const std::string& sql) override {
        PGresult* r = PQexec(conn_, sql.c_str());
        INFO(sql << ": " << PQerrorMessage(conn_));
        REQUIRE(PQresultStatus(r) == PGRES_TUPLES_OK);
        std::vector<std::string> out;
        for (int i = 0; i < PQntuples(r); ++i) {
            std::string line;
            for (int c = 0; c < PQnfields(r); ++c) line += (c ? "|" : "") + std::string(PQgetvalue(r, i, c));
            out.push_back(line);
        }
        PQclear(r);
        return out;
    }
    sql::Dialect dialect() const override { return sql::Dialect::Pgsql; }
    const char* module() const override { return "output_pgsql.so"; }
    std::string host() const override { return env_or("FLOWACCT_PG_HOST", "127.0.0.1"); }
    int port() const override { return std::stoi(env_or("FLOWACCT_PG_PORT", "5432")); }
    const char* dir() const override { return "pgsql"; }

private:
    PGconn* conn_ = nullptr;
};

// A fresh acct_v9 table from the etc/sql script, stamps in UTC.
std::string new_v9_table(PgDb& db) {
    pin_utc();
    const std::string t = unique_table("acct_v9");
    db.create_from_script(9, t);
    return t;
}

} // namespace

TEST_CASE("pgsql: the etc/sql scripts create every table version") {
    PgDb db;
    if (server_up(db)) case_scripts_create_every_version(db);
}

TEST_CASE("pgsql: a later purge of the same bin adds to the row (COPY and merge)") {
    PgDb db;
    if (server_up(db)) case_upsert_adds_counters(db);
}

TEST_CASE("pgsql: without a unique key the merge joins (UPDATE then INSERT of the new rows)") {
    PgDb db;
    if (server_up(db))
        case_upsert_adds_counters(db, {}, [&](const std::string& t) { db.exec("ALTER TABLE " + db.q(t) + " DROP CONSTRAINT " + db.q(t + "_pkey")); });
}

TEST_CASE("pgsql: with a unique key on some key columns the merge joins and skips the INSERT when nothing is new") {
    PgDb db;
    if (server_up(db))
        case_upsert_adds_counters(db, {}, [&](const std::string& t) {
            db.exec("ALTER TABLE " + db.q(t) + " DROP CONSTRAINT " + db.q(t + "_pkey"));
            db.exec("CREATE UNIQUE INDEX ON " + db.q(t) + " (ip_src, ip_dst, port_src, port_dst, stamp_inserted)");
        });
}

TEST_CASE("pgsql: sql_use_copy false loads with bound multi-row INSERTs and gives the same rows") {
    PgDb db;
    if (server_up(db)) case_upsert_adds_counters(db, {{"sql_use_copy", "false"}});
}

TEST_CASE("pgsql: sql_dont_try_update inserts a row per purge") {
    PgDb db;
    if (server_up(db)) case_dont_try_update(db);
}

TEST_CASE("pgsql: a hostile class or label name cannot inject SQL") {
    PgDb db;
    if (server_up(db)) case_injection(db);
}

TEST_CASE("pgsql: the seed query returns 10-minute acct_v6 rows whose totals match") {
    PgDb db;
    if (server_up(db)) case_seed_query(db);
}

TEST_CASE("pgsql: the server gone mid-run and back loses and doubles nothing") {
    PgDb db;
    if (server_up(db)) case_outage_mid_run(db);
}

TEST_CASE("pgsql: a restart with the server down replays the journal exactly once") {
    PgDb db;
    if (server_up(db)) case_restart_with_server_down(db);
}

TEST_CASE("pgsql: two writers on one table give exact totals") {
    PgDb db;
    if (server_up(db)) case_two_writers(db);
}

TEST_CASE("pgsql: sql_table with strftime variables and sql_table_schema give a table per day") {
    PgDb db;
    if (server_up(db)) case_table_per_day(db);
}

TEST_CASE("pgsql: a row the server refuses is quarantined and counted, the rest of its batch commits once") {
    PgDb db;
    if (server_up(db)) case_refused_row(db);
}

TEST_CASE("pgsql: a value out of a narrowed column's range is refused alone") {
    PgDb db;
    if (server_up(db)) case_narrowed_column(db);
}

TEST_CASE("pgsql: three hundred refused rows in one batch are each isolated and counted") {
    PgDb db;
    if (server_up(db)) case_many_refused_rows(db);
}

TEST_CASE("pgsql: a new bin's row written meanwhile by a writer that takes no lock is merged, not refused") {
    PgDb db;
    if (!server_up(db)) return;
    TempDir dir;
    const std::string t = new_v9_table(db);
    // The race, made certain: as the first row of the new bin goes in, a row with the same key
    // goes in first (once: a sequence is not rolled back with the transaction's savepoint).
    db.exec("CREATE SEQUENCE " + t + "_once");
    db.exec("CREATE FUNCTION " + t + "_race() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF nextval('" + t +
            "_once') = 1 THEN INSERT INTO " + t + " SELECT NEW.*; END IF; RETURN NEW; END $$");
    db.exec("CREATE TRIGGER race BEFORE INSERT ON " + t + " FOR EACH ROW WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION " +
            t + "_race()");
    {
        Driver d(db.module(), db.config(dir, t, 9));
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge({make_row(1, 1, 600, 2, 200), make_row(2, 1, 600, 1, 60)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 2);
        CHECK(d.counter("sql_rows_refused") == 0);
    }
    CHECK(db.one("SELECT last_value FROM " + t + "_once") != "1"); // the trigger fired again in the merge
    CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM " + t) == "2|3|260");
    db.exec("DROP TABLE " + t);
    db.exec("DROP FUNCTION " + t + "_race()");
    db.exec("DROP SEQUENCE " + t + "_once");
}

TEST_CASE("pgsql: a purge larger than one transaction writes its new bin straight in and its totals exactly") {
    PgDb db;
    if (!server_up(db)) return;
    TempDir dir;
    const std::string t = new_v9_table(db);
    std::vector<fa_row> rows;
    for (std::uint32_t i = 0; i < 150000; ++i) rows.push_back(make_row(i, i % 7, 600, 1 + i % 3, 100));
    {
        Driver d(db.module(), db.config(dir, t, 9));
        REQUIRE_MESSAGE(d.ok(), d.error());
        for (int purge = 0; purge < 2; ++purge) {
            for (std::size_t at = 0; at < rows.size(); at += 4096)
                CHECK(d.write({rows.begin() + at, rows.begin() + std::min(rows.size(), at + 4096)}, kHostPrims) == FA_OK);
            CHECK(d.tick() == FA_OK);
        }
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 300000);
        CHECK(d.counter("sql_batches_committed") >= 4); // each purge in more than one transaction
    }
    CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM " + db.q(t)) == "150000|600000|30000000");
    db.exec("DROP TABLE " + db.q(t));
}

TEST_CASE("pgsql: a column whose type changes between purges is written by its new type") {
    // Values go in binary, read by the server by the column's type: the types are looked up
    // in each transaction, else the int8 bytes of `bytes` would read as a numeric (zero).
    PgDb db;
    if (!server_up(db)) return;
    TempDir dir;
    const std::string t = new_v9_table(db);
    {
        Driver d(db.module(), db.config(dir, t, 9));
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge({make_row(1, 1, 600, 2, 200)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        db.exec("ALTER TABLE " + t + " ALTER COLUMN bytes TYPE numeric(20)");
        // A new bin (straight into the table) and the same bin again (through the staging table).
        CHECK(d.purge({make_row(1, 1, 1200, 3, 300), make_row(2, 1, 1200, 1, 60)}, kHostPrims) == FA_OK);
        CHECK(d.purge({make_row(1, 1, 600, 4, 400)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 4);
        CHECK(d.counter("sql_rows_refused") == 0);
    }
    CHECK(db.query("SELECT EXTRACT(EPOCH FROM stamp_inserted)::bigint, packets, bytes FROM " + t +
                   " ORDER BY 1, bytes") == std::vector<std::string>{"600|6|600", "1200|1|60", "1200|3|300"});
    db.exec("DROP TABLE " + t);
}

TEST_CASE("pgsql: sql_dont_try_update writes binary values into pmacct's narrower types") {
    PgDb db;
    if (!server_up(db)) return;
    TempDir dir;
    const std::string t = new_v9_table(db);
    db.exec("ALTER TABLE " + t + " DROP CONSTRAINT " + t + "_pkey, ALTER COLUMN packets TYPE integer, "
            "ALTER COLUMN as_dst TYPE integer, ALTER COLUMN tos TYPE integer");
    auto cfg = db.config(dir, t, 9);
    cfg["sql_dont_try_update"] = "true";
    {
        Driver d(db.module(), cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        auto r = make_row(1, 1, 600, 7, 700);
        r.rec.dst_as = 65001;
        r.rec.tos = 184;
        CHECK(d.purge({r}, kHostPrims | bit(FA_P_DST_AS) | bit(FA_P_TOS)) == FA_OK);
        CHECK(d.purge({r}, kHostPrims | bit(FA_P_DST_AS) | bit(FA_P_TOS)) == FA_OK);
        CHECK(d.flush() == FA_OK);
    }
    CHECK(db.query("SELECT ip_src, ip_dst, port_src, port_dst, ip_proto, as_dst, tos, packets, bytes FROM " + t) ==
          std::vector<std::string>(2, "10.0.0.1|192.168.0.1|40000|443|6|65001|184|7|700"));
    db.exec("DROP TABLE " + t);
}

TEST_CASE("pgsql: a table made by pmacct's own acct_v9 script (INT counters, its key order) gets exact totals") {
    // Debian's pmacct ships the script; .ci/deps installs pmacct.
    std::ifstream in("/usr/share/doc/pmacct/sql/pmacct-create-table_v9.pgsql");
    if (!in) {
        MESSAGE("skip: pmacct's pgsql scripts are not installed");
        return;
    }
    PgDb db;
    if (!server_up(db)) return;
    std::stringstream text;
    text << in.rdbuf();
    const std::string script = text.str();
    const std::size_t from = script.find("CREATE TABLE acct_v9 (");
    const std::size_t to = script.find(");", from);
    REQUIRE(from != std::string::npos);
    REQUIRE(to != std::string::npos);
    pin_utc();
    const std::string t = unique_table("pmacct_v9");
    std::string ddl = script.substr(from, to + 2 - from);
    ddl.replace(ddl.find("acct_v9"), 7, t);
    ddl.replace(ddl.find("acct_v9_pk"), 10, t + "_pk");
    db.exec(ddl);
    TempDir dir;
    {
        Driver d(db.module(), db.config(dir, t, 9));
        REQUIRE_MESSAGE(d.ok(), d.error());
        std::vector<fa_row> rows;
        for (std::uint32_t i = 0; i < 2000; ++i) rows.push_back(make_row(i, i % 7, 600, 1 + i % 3, 100));
        CHECK(d.purge(rows, kHostPrims) == FA_OK);
        CHECK(d.purge(rows, kHostPrims) == FA_OK);
        CHECK(d.purge({make_row(1, 1, 1200, 5, 50)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_refused") == 0);
    }
    CHECK(db.query("SELECT EXTRACT(EPOCH FROM stamp_inserted)::bigint, COUNT(*), SUM(packets), SUM(bytes), SUM(flows) FROM " + t +
                   " GROUP BY 1 ORDER BY 1") == std::vector<std::string>{"600|2000|7998|400000|4000", "1200|1|5|50|1"});
    db.exec("DROP TABLE " + t);
}

TEST_CASE("pgsql: a new bin sent a part at a time has every row once and the rows of one key merged") {
    // A first write of a bin goes a part at a time (rendered and encoded while the server stores
    // the parts before), cut by the key's first varying column: here port_src, then ip_src.
    PgDb db;
    if (!server_up(db)) return;
    TempDir dir;
    const std::string t = new_v9_table(db);
    for (const bool ports_vary : {true, false}) {
        const std::uint64_t bin = ports_vary ? 600 : 1200;
        std::vector<fa_row> rows;
        std::uint64_t packets = 0;
        for (std::uint32_t k = 0; k < 30000; ++k) {
            rows.push_back(make_row(k, k % 7, bin, 1 + k % 3, 100));
            if (ports_vary) rows.back().rec.src_port = static_cast<std::uint16_t>(1000 + k * 7919 % 20000);
            packets += 1 + k % 3;
        }
        for (std::uint32_t k = 0; k < 3000; ++k) { // the same keys again in the same purge: merged
            rows.push_back(rows[k * 9 + 4]);
            rows.back().rec.packets = 5;
            packets += 5;
        }
        Driver d(db.module(), db.config(dir, t, 9));
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge(rows, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 33000);
        CHECK(d.counter("sql_rows_refused") == 0);
        CHECK(d.counter("sql_commit_errors") == 0);
        // Not written again after a key's violation: no key was sent twice (in two parts).
        CHECK(d.counter("sql_batches_isolated") == 0);
        const std::string where = " WHERE stamp_inserted = to_timestamp(" + std::to_string(bin) + ") AT TIME ZONE 'UTC'";
        CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM " + t + where) ==
              "30000|" + std::to_string(packets) + "|3300000");
        CHECK(db.one("SELECT packets, bytes FROM " + t + where + " AND ip_src = '10.0.0.22'") == "7|200");
    }
    db.exec("DROP TABLE " + t);
}

TEST_CASE("pgsql: a value beyond a narrowed column's range in the last part of a new bin is refused alone") {
    // The parts before it are sent when the value is met: that COPY is abandoned and the batch
    // written again whole (the server then refuses the row, which is isolated).
    PgDb db;
    if (!server_up(db)) return;
    TempDir dir;
    const std::string t = new_v9_table(db);
    db.exec("ALTER TABLE " + t + " ALTER COLUMN packets TYPE integer");
    std::vector<fa_row> rows;
    for (std::uint32_t k = 0; k < 20000; ++k) rows.push_back(make_row(k, 0, 600, k == 19990 ? 5'000'000'000ull : 1, 10));
    Driver d(db.module(), db.config(dir, t, 9));
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d.purge(rows, kHostPrims) == FA_OK);
    CHECK(d.flush() == FA_OK);
    CHECK(d.counter("sql_rows_refused") == 1);
    CHECK(d.counter("sql_rows_committed") == 19999);
    CHECK(d.counter("sql_batches_isolated") == 1);
    CHECK(d.counter("sql_commit_errors") == 0);
    CHECK(db.one("SELECT COUNT(*), SUM(packets), SUM(bytes) FROM " + t) == "19999|19999|199990");
    CHECK(db.one("SELECT COUNT(*) FROM " + t + " WHERE ip_src = '10.0.78.22'") == "0"); // 19990
    db.exec("DROP TABLE " + t);
}
