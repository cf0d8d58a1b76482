// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of the shared SQL code: pmacct's column sets per version and backend, identifiers,
// table names, row rendering and the journal file format.
#include <cstring>   // std::memcpy
#include <fstream>   // std::ifstream
#include <sstream>   // std::stringstream

#include <doctest/doctest.h>
#include <flowacct/sdk/module.hpp> // sdk::Error

#include "schema_scripts.hpp"   // sqltest::schema_script
#include "sql_journal.hpp"      // sql::Journal
#include "sql_schema.hpp"       // sql::make_schema
#include "sql_test_support.hpp" // sqltest::make_row, TempDir

using namespace flowacct;
using sql::Dialect;

namespace {

std::string names(const sql::Schema& s) {
    std::string out;
    for (const auto& c : s.columns) out += (out.empty() ? "" : ",") + c.name;
    return out;
}

std::string keys(const sql::Schema& s) {
    std::string out;
    for (const auto& c : s.columns)
        if (c.key) out += (out.empty() ? "" : ",") + c.name;
    return out;
}

} // namespace

TEST_CASE("each table version has pmacct's acct_vN columns") {
    CHECK(names(sql::make_schema(Dialect::Mysql, 1, false, 0)) ==
          "mac_src,mac_dst,ip_src,ip_dst,src_port,dst_port,ip_proto,packets,bytes,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Mysql, 2, false, 0)) ==
          "agent_id,mac_src,mac_dst,vlan,ip_src,ip_dst,src_port,dst_port,ip_proto,packets,bytes,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Mysql, 3, false, 0)) ==
          "agent_id,mac_src,mac_dst,vlan,ip_src,ip_dst,src_port,dst_port,ip_proto,tos,packets,bytes,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Sqlite, 4, false, 0)) ==
          "agent_id,mac_src,mac_dst,vlan,ip_src,ip_dst,src_port,dst_port,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Sqlite, 5, false, 0)) ==
          "agent_id,class_id,mac_src,mac_dst,vlan,ip_src,ip_dst,src_port,dst_port,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Pgsql, 6, false, 0)) ==
          "agent_id,class_id,mac_src,mac_dst,vlan,as_src,as_dst,ip_src,ip_dst,port_src,port_dst,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Mysql, 7, false, 0)) ==
          "agent_id,class_id,mac_src,mac_dst,vlan,as_src,as_dst,ip_src,ip_dst,src_port,dst_port,tcp_flags,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated");
    CHECK(names(sql::make_schema(Dialect::Mysql, 8, false, 0)) ==
          "agent_id,class_id,mac_src,mac_dst,vlan,as_src,as_dst,ip_src,ip_dst,port_src,port_dst,tcp_flags,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated");
    const sql::Schema v9 = sql::make_schema(Dialect::Pgsql, 9, false, 0);
    CHECK(names(v9) ==
          "tag,class_id,mac_src,mac_dst,vlan,as_src,as_dst,ip_src,ip_dst,port_src,port_dst,tcp_flags,ip_proto,tos,packets,bytes,flows,stamp_inserted,stamp_updated");
    // pmacct's v9 primary key: flows and tcp_flags are not part of it.
    CHECK(keys(v9) == "tag,class_id,mac_src,mac_dst,vlan,as_src,as_dst,ip_src,ip_dst,port_src,port_dst,ip_proto,tos,stamp_inserted");
    CHECK(sql::default_table(1) == "acct");
    CHECK(sql::default_table(6) == "acct_v6");
}

TEST_CASE("a primitive without a column in the chosen version is refused with the key to change") {
    auto tag2 = 1ull << FA_P_TAG2;
    CHECK_THROWS_WITH_AS(sql::make_schema(Dialect::Pgsql, 9, false, tag2), doctest::Contains("sql_optimize_clauses"),
                         sdk::Error);
    CHECK_THROWS_WITH_AS(sql::make_schema(Dialect::Pgsql, 5, false, 1ull << FA_P_SRC_AS),
                         doctest::Contains("needs sql_table_version 6"), sdk::Error);
    CHECK_THROWS_AS(sql::make_schema(Dialect::Pgsql, 10, false, 0), sdk::Error);
}

TEST_CASE("optimized tables hold exactly the aggregated primitives") {
    std::uint64_t m = (1ull << FA_P_SRC_AS) | (1ull << FA_P_IN_IFACE) | (1ull << FA_P_LABEL) | (1ull << FA_P_TCPFLAGS);
    auto s = sql::make_schema(Dialect::Pgsql, 1, true, m);
    CHECK(names(s) == "label,as_src,iface_in,tcp_flags,packets,bytes,stamp_inserted,stamp_updated");
    CHECK(keys(s) == "label,as_src,iface_in,stamp_inserted");
    auto with_flows = sql::make_schema(Dialect::Mysql, 1, true, (1ull << FA_P_DST_HOST) | (1ull << FA_P_FLOWS));
    CHECK(names(with_flows) == "ip_dst,packets,bytes,flows,stamp_inserted,stamp_updated");
}

TEST_CASE("the primary key leads with stamp_inserted, then addresses, ports, ASes, MACs; PostgreSQL fixed-width first") {
    const auto order = [](Dialect d, const sql::Schema& s) {
        std::string out;
        for (std::size_t i : sql::primary_key_order(d, s)) out += (out.empty() ? "" : ",") + s.columns[i].name;
        return out;
    };
    CHECK(order(Dialect::Pgsql, sql::make_schema(Dialect::Pgsql, 9, false, 0)) ==
          "stamp_inserted,port_src,port_dst,as_src,as_dst,mac_src,mac_dst,tag,vlan,ip_proto,tos,ip_src,ip_dst,class_id");
    CHECK(order(Dialect::Mysql, sql::make_schema(Dialect::Mysql, 9, false, 0)) ==
          "stamp_inserted,ip_src,ip_dst,port_src,port_dst,as_src,as_dst,mac_src,mac_dst,tag,class_id,vlan,ip_proto,tos");
    CHECK(order(Dialect::Sqlite, sql::make_schema(Dialect::Sqlite, 9, false, 0)) ==
          "stamp_inserted,ip_src,ip_dst,port_src,port_dst,as_src,as_dst,mac_src,mac_dst,tag,class_id,vlan,ip_proto,tos");
    std::uint64_t m = (1ull << FA_P_SRC_AS) | (1ull << FA_P_IN_IFACE) | (1ull << FA_P_LABEL);
    CHECK(order(Dialect::Pgsql, sql::make_schema(Dialect::Pgsql, 1, true, m)) == "stamp_inserted,as_src,iface_in,label");
    CHECK(sql::create_table_sql(Dialect::Sqlite, sql::make_schema(Dialect::Sqlite, 1, true, m), "t")
              .find("PRIMARY KEY (\"stamp_inserted\", \"as_src\", \"label\", \"iface_in\")") != std::string::npos);
}

TEST_CASE("identifiers are validated and quoted per backend") {
    CHECK(sql::valid_identifier("acct_v9"));
    CHECK(sql::valid_identifier("_x1"));
    CHECK_FALSE(sql::valid_identifier("9acct"));
    CHECK_FALSE(sql::valid_identifier("acct;DROP TABLE x"));
    CHECK_FALSE(sql::valid_identifier("acct\""));
    CHECK_FALSE(sql::valid_identifier(std::string(64, 'a')));
    CHECK(sql::valid_identifier(std::string(63, 'a')));
    CHECK(sql::valid_table_name("pmacct.acct"));
    CHECK_FALSE(sql::valid_table_name("a.b.c"));
    CHECK(sql::quote_table(Dialect::Pgsql, "pmacct.acct") == "\"pmacct\".\"acct\"");
    CHECK(sql::quote_table(Dialect::Mysql, "acct") == "`acct`");
}

TEST_CASE("sql_table expands strftime variables per bin and refuses names that are not identifiers") {
    sqltest::pin_utc();
    sql::TableName daily("acct_v9_%Y%m%d");
    CHECK(daily.dynamic());
    CHECK(daily.expand(1'700'000'000) == "acct_v9_20231114");
    CHECK(sql::TableName("acct").expand(5) == "acct");
    CHECK_THROWS_WITH_AS(sql::TableName("acct_%F"), doctest::Contains("not a table name"), sdk::Error);
    CHECK_THROWS_WITH_AS(sql::TableName("acct; DROP TABLE acct"), doctest::Contains("not a table name"), sdk::Error);
    CHECK_THROWS_WITH_AS(sql::TableName("acct_$peer_src_ip"), doctest::Contains("$ variables"), sdk::Error);
}

TEST_CASE("rows of one batch with the same key and bin are merged before writing") {
    sqltest::pin_utc();
    auto schema = sql::make_schema(Dialect::Pgsql, 1, true, sqltest::kHostPrims);
    sql::TableName table("acct_%H");
    sql::Renderer r(Dialect::Pgsql, schema, table);
    std::vector<sql::StoredRow> rows(4);
    rows[0].row = sqltest::make_row(1, 1, 3600, 2, 200);
    rows[1].row = sqltest::make_row(1, 1, 3600, 3, 300);   // same key, same bin: merged
    rows[2].row = sqltest::make_row(1, 1, 7200, 5, 500);   // next hour: another table
    rows[3].row = sqltest::make_row(2, 1, 3600, 7, 700);
    rows[1].row.rec.tcp_flags = 0x10;
    auto groups = r.render(rows, 7300);
    REQUIRE(groups.size() == 2);
    CHECK(groups[0].table == "acct_01");
    CHECK(groups[1].table == "acct_02");
    REQUIRE(groups[0].rows() == 2);
    CHECK(groups[0].counters[0].packets == 5);
    CHECK(groups[0].counters[0].bytes == 500);
    CHECK(groups[0].counters[0].tcp_flags == 0x12);
    std::size_t ip_src = 0, proto = 0, packets = 0, ins = 0, upd = 0;
    for (std::size_t i = 0; i < schema.columns.size(); ++i) {
        if (schema.columns[i].name == "ip_src") ip_src = i;
        if (schema.columns[i].name == "ip_proto") proto = i;
        if (schema.columns[i].name == "packets") packets = i;
        if (schema.columns[i].name == "stamp_inserted") ins = i;
        if (schema.columns[i].name == "stamp_updated") upd = i;
    }
    CHECK(groups[0].cell(0, ip_src) == "10.0.0.1");
    CHECK(groups[0].cell(0, proto) == "6"); // PostgreSQL tables hold protocol numbers
    CHECK(groups[0].cell(0, packets) == "5");
    CHECK(groups[0].cell(0, ins) == "1970-01-01 01:00:00");
    CHECK(groups[0].cell(0, upd) == "1970-01-01 02:01:40");
    // Every cell is also a C string (libpq takes those), the second row's as well as the first's.
    CHECK(std::string(groups[0].c_str(1, ip_src)) == "10.0.0.2");
    CHECK(std::string(groups[0].c_str(1, packets)) == "7");
    CHECK(std::string(groups[0].c_str(1, ins)) == "1970-01-01 01:00:00");
    CHECK(std::string(groups[1].c_str(0, packets)) == "5");
    const auto my_schema = sql::make_schema(Dialect::Mysql, 1, true, sqltest::kHostPrims);
    sql::Renderer my(Dialect::Mysql, my_schema, table);
    CHECK(my.render(rows, 0)[0].cell(0, proto) == "tcp"); // MySQL and SQLite tables hold names
    rows[0].row.rec.proto = 58;                             // "ipv6-icmp" does not fit CHAR(6)
    CHECK(my.render(rows, 0)[0].cell(0, proto) == "58");
}

TEST_CASE("class and label names are bound as sanitized text cut to the column width") {
    CHECK(sql::sanitize_text("x'); DROP TABLE acct; --", 255) == "x'); DROP TABLE acct; --");
    CHECK(sql::sanitize_text("a\nb\tc\xff", 255) == "a?b?c?");
    CHECK(sql::sanitize_text("0123456789abcdefXYZ", 16) == "0123456789abcdef");
}

TEST_CASE("a journal file round-trips a batch and corruption is detected, never trusted") {
    sqltest::TempDir dir;
    sql::Journal j(dir.path, "p");
    sql::RowBatch b;
    b.seq = 42;
    b.rows.resize(3);
    for (int i = 0; i < 3; ++i) b.rows[i].row = sqltest::make_row(i, 1, 600, i + 1, 100);
    b.rows[1].class_name = "http";
    b.rows[2].label = "customer-a";
    auto path = j.write(b);
    auto files = j.scan();
    REQUIRE(files.size() == 1);
    CHECK(files[0].seq == 42);
    CHECK(files[0].rows == 3);
    sql::RowBatch back;
    REQUIRE(j.read(path, back));
    CHECK(back.seq == 42);
    REQUIRE(back.rows.size() == 3);
    CHECK(back.rows[1].class_name == "http");
    CHECK(back.rows[2].label == "customer-a");
    CHECK(back.rows[2].row.rec.packets == 3);

    std::string data = sql::encode_batch(b);
    sql::RowBatch out;
    SUBCASE("truncated") { CHECK_FALSE(sql::decode_batch(data.substr(0, data.size() - 20), out)); }
    SUBCASE("flipped byte") {
        data[100] ^= 1;
        CHECK_FALSE(sql::decode_batch(data, out));
    }
    SUBCASE("huge row count with a valid checksum") {
        std::uint64_t huge = ~0ull;
        std::memcpy(data.data() + 24, &huge, 8);
        std::string body = data.substr(0, data.size() - 16);
        std::uint64_t h = 1469598103934665603ull;
        for (unsigned char c : body) {
            h ^= c;
            h *= 1099511628211ull;
        }
        std::memcpy(data.data() + data.size() - 16, &h, 8);
        CHECK_FALSE(sql::decode_batch(data, out));
    }
    SUBCASE("empty") { CHECK_FALSE(sql::decode_batch(std::string(), out)); }
}

TEST_CASE("a journal directory is locked by one process instance at a time") {
    sqltest::TempDir dir;
    sql::Journal first(dir.path, "p");
    // flock locks are per open file description: a second open in the same process conflicts too.
    CHECK_THROWS_WITH_AS(sql::Journal(dir.path, "p"), doctest::Contains("locked by another process"), sdk::Error);
    CHECK_NOTHROW(sql::Journal(dir.path, "q"));
}

TEST_CASE("the shipped etc/sql scripts match the tables the modules write") {
    for (auto d : {Dialect::Pgsql, Dialect::Mysql, Dialect::Sqlite}) {
        for (int v = 1; v <= 9; ++v) {
            std::string path = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/etc/sql/" + sqltest::backend_dir(d) + "/" +
                               sql::default_table(v) + ".sql";
            std::ifstream in(path);
            REQUIRE_MESSAGE(in, "missing " << path);
            std::stringstream ss;
            ss << in.rdbuf();
            CHECK_MESSAGE(ss.str() == sqltest::schema_script(d, v), path << " differs; run sql_gen_schemas");
        }
    }
}
