// SPDX-License-Identifier: GPL-2.0-or-later
// The mysql output module against a real MariaDB (tests/sql/start_servers.sh).
#include <mysql.h> // mysql_*

#include <doctest/doctest.h>

#include "server_cases.hpp" // sqltest::ServerDb and the shared cases

using namespace flowacct;
using namespace flowacct::sqltest;

namespace {

class MyDb final : public ServerDb {
public:
    ~MyDb() override {
        if (db_) mysql_close(db_);
    }
    bool connect() override {
        db_ = mysql_init(nullptr);
        unsigned timeout = 3;
        mysql_options(db_, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        return mysql_real_connect(db_, host().c_str(), env_or("FLOWACCT_SQL_USER", "flowacct").c_str(),
                                  env_or("FLOWACCT_SQL_PASSWORD", "flowacct").c_str(),
                                  env_or("FLOWACCT_SQL_DB", "flowacct_test").c_str(), static_cast<unsigned>(port()),
                                  nullptr, CLIENT_MULTI_STATEMENTS) != nullptr;
    }
    void exec(const std::string& sql) override {
        int rc = mysql_real_query(db_, sql.data(), sql.size());
        INFO(sql << ": " << mysql_error(db_));
        REQUIRE(rc == 0);
        do {
            if (MYSQL_RES* r = mysql_store_result(db_)) mysql_free_result(r);
        } while (mysql_next_result(db_) == 0);
    }
    std::vector<std::string> query(const std::string& sql) override {
        int rc = mysql_real_query(db_, sql.data(), sql.size());
        INFO(sql << ": " << mysql_error(db_));
        REQUIRE(rc == 0);
        MYSQL_RES* r = mysql_store_result(db_);
        REQUIRE(r != nullptr);
        std::vector<std::string> out;
        unsigned n = mysql_num_fields(r);
        while (MYSQL_ROW row = mysql_fetch_row(r)) {
            std::string line;
            for (unsigned c = 0; c < n; ++c) line += (c ? "|" : "") + std::string(row[c] ? row[c] : "");
            out.push_back(line);
        }
        mysql_free_result(r);
        return out;
    }
    sql::Dialect dialect() const override { return sql::Dialect::Mysql; }
    const char* module() const override { return "output_mysql.so"; }
    std::string host() const override { return env_or("FLOWACCT_MYSQL_HOST", "127.0.0.1"); }
    int port() const override { return std::stoi(env_or("FLOWACCT_MYSQL_PORT", "3306")); }
    const char* dir() const override { return "mysql"; }

private:
    MYSQL* db_ = nullptr;
};

} // namespace

TEST_CASE("mysql: the etc/sql scripts create every table version") {
    MyDb db;
    if (server_up(db)) case_scripts_create_every_version(db);
}

TEST_CASE("mysql: a later purge of the same bin adds to the row (ON DUPLICATE KEY UPDATE)") {
    MyDb db;
    if (server_up(db)) case_upsert_adds_counters(db);
}

TEST_CASE("mysql: sql_multi_values 0 writes one row per statement and gives the same rows") {
    MyDb db;
    if (server_up(db)) case_upsert_adds_counters(db, {{"sql_multi_values", "0"}});
}

TEST_CASE("mysql: sql_dont_try_update inserts a row per purge") {
    MyDb db;
    if (server_up(db)) case_dont_try_update(db);
}

TEST_CASE("mysql: a hostile class or label name cannot inject SQL") {
    MyDb db;
    if (server_up(db)) case_injection(db);
}

TEST_CASE("mysql: the seed query returns 10-minute acct_v6 rows whose totals match") {
    MyDb db;
    if (server_up(db)) case_seed_query(db);
}

TEST_CASE("mysql: the server gone mid-run and back loses and doubles nothing") {
    MyDb db;
    if (server_up(db)) case_outage_mid_run(db);
}

TEST_CASE("mysql: a restart with the server down replays the journal exactly once") {
    MyDb db;
    if (server_up(db)) case_restart_with_server_down(db);
}

TEST_CASE("mysql: two writers on one table give exact totals") {
    MyDb db;
    if (server_up(db)) case_two_writers(db);
}

TEST_CASE("mysql: a unix socket in sql_host and a password file connect") {
    MyDb db;
    if (!server_up(db)) return;
    const std::string socket = env_or("FLOWACCT_MYSQL_SOCKET", "/run/mysqld/mysqld.sock");
    if (!std::filesystem::exists(socket)) {
        MESSAGE("skipped: no socket " << socket);
        return;
    }
    pin_utc();
    TempDir dir;
    const std::string t = unique_table("acct_v9_sock");
    db.create_from_script(9, t);
    auto cfg = db.config(dir, t, 9);
    cfg["sql_host"] = socket;
    cfg.erase("sql_port");
    cfg.erase("sql_passwd");
    std::ofstream(dir / "passwd") << env_or("FLOWACCT_SQL_PASSWORD", "flowacct") << "\n";
    cfg["sql_passwd_file"] = dir / "passwd";
    {
        Driver d(db.module(), cfg);
        REQUIRE_MESSAGE(d.ok(), d.error());
        CHECK(d.purge({make_row(1, 1, 600, 7, 70)}, kHostPrims) == FA_OK);
        CHECK(d.flush() == FA_OK);
        CHECK(d.counter("sql_rows_committed") == 1);
    }
    CHECK(db.one("SELECT SUM(packets) FROM " + db.q(t)) == "7");
    db.exec("DROP TABLE " + db.q(t));
}

TEST_CASE("mysql: sql_table with strftime variables and sql_table_schema give a table per day") {
    MyDb db;
    if (server_up(db)) case_table_per_day(db);
}

TEST_CASE("mysql: a row the server refuses is quarantined and counted, the rest of its batch commits once") {
    MyDb db;
    if (server_up(db)) case_refused_row(db);
}

TEST_CASE("mysql: a value out of a narrowed column's range is refused alone") {
    MyDb db;
    if (server_up(db)) case_narrowed_column(db);
}

TEST_CASE("mysql: three hundred refused rows in one batch are each isolated and counted") {
    MyDb db;
    if (server_up(db)) case_many_refused_rows(db);
}
