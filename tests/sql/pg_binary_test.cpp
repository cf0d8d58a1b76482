// SPDX-License-Identifier: GPL-2.0-or-later
// The pgsql output's binary COPY (modules/pgsql/pg_binary.hpp), without a server: each type's
// bytes as PostgreSQL's own send functions write them, the order of the order keys, and the
// cells that send a batch as text instead.
#include <arpa/inet.h> // inet_ntop

#include <algorithm>   // std::sort, std::adjacent_find

#include <cstdio>      // std::snprintf
#include <cstring>     // std::memcpy
#include <ctime>       // timegm, gmtime_r
#include <initializer_list>
#include <random>      // std::mt19937_64

#include <doctest/doctest.h>

#include <flowacct/sdk/primitives.hpp> // sdk::append_addr, sdk::set_v4

#include "pg_binary.hpp"

using namespace flowacct;
using pgbin::Wire;

namespace {

std::string field(Wire w, std::string_view cell) {
    std::string out;
    INFO(cell);
    REQUIRE(pgbin::put_field(w, cell, out));
    return out;
}

bool refused(Wire w, std::string_view cell) {
    std::string out;
    return !pgbin::put_field(w, cell, out);
}

std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int x : b) s.push_back(static_cast<char>(x));
    return s;
}

std::string be64(std::int64_t v) {
    std::string s;
    for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * i)));
    return s;
}

// Microseconds from 2000-01-01 00:00:00 to the UTC wall-clock time given.
std::int64_t pg_us(int y, int mo, int d, int h, int mi, int s) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (static_cast<std::int64_t>(timegm(&tm)) - 946684800) * 1000000;
}

sql::RenderedGroup group(const std::vector<std::vector<std::string>>& rows) {
    sql::RenderedGroup g;
    g.columns = rows.empty() ? 0 : rows[0].size();
    g.text.assign(1, '\0');
    for (const auto& r : rows) {
        for (const auto& c : r) {
            g.cells.push_back({static_cast<std::uint32_t>(g.text.size()), static_cast<std::uint32_t>(c.size())});
            g.text += c;
            g.text.push_back('\0');
        }
        g.counters.emplace_back();
    }
    return g;
}

std::string body(const pgbin::Encoder& e, std::size_t chunk = 1 << 20) {
    std::string all;
    CHECK(e.send(chunk, [&](std::string_view c) {
        all += c;
        return true;
    }));
    return all;
}

// The order key of `cell`: the value's bytes, after the field's 4-byte length.
std::string order_key(Wire w, std::string_view cell) {
    std::string key;
    pgbin::put_order_key(w, std::string_view(field(w, cell)).substr(4), key);
    return key;
}

} // namespace

TEST_CASE("pg_binary: the column types written in binary, by pg_type oid") {
    Wire w{};
    CHECK((pgbin::wire_of(20, w) && w == Wire::Int8));
    CHECK((pgbin::wire_of(23, w) && w == Wire::Int4));
    CHECK((pgbin::wire_of(21, w) && w == Wire::Int2));
    CHECK((pgbin::wire_of(829, w) && w == Wire::Mac));
    CHECK((pgbin::wire_of(869, w) && w == Wire::Inet));
    CHECK((pgbin::wire_of(1114, w) && w == Wire::Timestamp));
    CHECK((pgbin::wire_of(1042, w) && w == Wire::Text)); // CHAR(n)
    CHECK((pgbin::wire_of(1043, w) && w == Wire::Text)); // VARCHAR(n)
    CHECK((pgbin::wire_of(25, w) && w == Wire::Text));
    CHECK_FALSE(pgbin::wire_of(1700, w)); // numeric
    CHECK_FALSE(pgbin::wire_of(650, w));  // cidr
    CHECK_FALSE(pgbin::wire_of(1184, w)); // timestamp with time zone
}

TEST_CASE("pg_binary: integers are big-endian in the column's own width; out of its range goes as text") {
    CHECK(field(Wire::Int8, "5466") == bytes({0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x15, 0x5a}));
    CHECK(field(Wire::Int8, "9223372036854775807") == bytes({0, 0, 0, 8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
    CHECK(field(Wire::Int4, "-1") == bytes({0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff}));
    CHECK(field(Wire::Int4, "4000") == bytes({0, 0, 0, 4, 0, 0, 0x0f, 0xa0}));
    CHECK(field(Wire::Int2, "443") == bytes({0, 0, 0, 2, 0x01, 0xbb}));
    CHECK(refused(Wire::Int8, "18446744073709551615")); // a u64 beyond BIGINT: the server refuses it as text
    CHECK(refused(Wire::Int4, "2147483648"));
    CHECK(refused(Wire::Int2, "70000"));
    CHECK(refused(Wire::Int8, ""));
    CHECK(refused(Wire::Int8, "12a"));
    CHECK(refused(Wire::Int8, " 1"));
    CHECK(refused(Wire::Int8, "+1"));
}

TEST_CASE("pg_binary: macaddr is its six bytes") {
    CHECK(field(Wire::Mac, "00:1b:21:aa:BB:cc") == bytes({0, 0, 0, 6, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}));
    CHECK(refused(Wire::Mac, "00-1b-21-aa-bb-cc"));
    CHECK(refused(Wire::Mac, "00:1b:21:aa:bb"));
    CHECK(refused(Wire::Mac, "00:1b:21:aa:bb:cg"));
}

TEST_CASE("pg_binary: inet is PostgreSQL's family, mask length, is_cidr, size and address") {
    CHECK(field(Wire::Inet, "10.1.2.3") == bytes({0, 0, 0, 8, 2, 32, 0, 4, 10, 1, 2, 3}));
    CHECK(field(Wire::Inet, "0.0.0.0") == bytes({0, 0, 0, 8, 2, 32, 0, 4, 0, 0, 0, 0}));
    CHECK(field(Wire::Inet, "255.255.255.255") == bytes({0, 0, 0, 8, 2, 32, 0, 4, 255, 255, 255, 255}));
    CHECK(field(Wire::Inet, "2001:db8::1") ==
          bytes({0, 0, 0, 20, 3, 128, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
    CHECK(refused(Wire::Inet, "10.1.2"));
    CHECK(refused(Wire::Inet, "256.1.1.1"));
    CHECK(refused(Wire::Inet, "10.1.2.3/24")); // a mask goes as text: the server reads it
    CHECK(refused(Wire::Inet, "01.2.3.4"));
    CHECK(refused(Wire::Inet, ""));
}

TEST_CASE("pg_binary: timestamp is microseconds from 2000-01-01, the wall-clock time as written") {
    CHECK(field(Wire::Timestamp, "2000-01-01 00:00:00") == bytes({0, 0, 0, 8}) + be64(0));
    CHECK(field(Wire::Timestamp, "1999-12-31 23:59:59") == bytes({0, 0, 0, 8}) + be64(-1000000));
    CHECK(field(Wire::Timestamp, "2023-11-14 22:20:00") == bytes({0, 0, 0, 8}) + be64(pg_us(2023, 11, 14, 22, 20, 0)));
    CHECK(field(Wire::Timestamp, "2024-02-29 12:00:01.25") ==
          bytes({0, 0, 0, 8}) + be64(pg_us(2024, 2, 29, 12, 0, 1) + 250000));
    CHECK(field(Wire::Timestamp, "2100-12-31 23:59:59.000001") ==
          bytes({0, 0, 0, 8}) + be64(pg_us(2100, 12, 31, 23, 59, 59) + 1));
    CHECK(refused(Wire::Timestamp, "2023-02-29 00:00:00")); // no such day: the server says so
    CHECK(refused(Wire::Timestamp, "2100-02-29 00:00:00"));
    CHECK(refused(Wire::Timestamp, "2023-13-01 00:00:00"));
    CHECK(refused(Wire::Timestamp, "2023-11-14T22:20:00"));
    CHECK(refused(Wire::Timestamp, "2023-11-14 22:20"));
    CHECK(refused(Wire::Timestamp, "2023-11-14 22:20:00."));
    CHECK(refused(Wire::Timestamp, "2023-11-14 22:20:00+01"));
    CHECK(refused(Wire::Timestamp, ""));
}

TEST_CASE("pg_binary: text is its bytes, the server checks them") {
    CHECK(field(Wire::Text, "tcp") == bytes({0, 0, 0, 3, 't', 'c', 'p'}));
    CHECK(field(Wire::Text, "") == bytes({0, 0, 0, 0}));
    CHECK(field(Wire::Text, "a'b\\") == bytes({0, 0, 0, 4, 'a', '\'', 'b', '\\'}));
}

TEST_CASE("pg_binary: order keys sort byte-wise as PostgreSQL sorts the values") {
    CHECK(order_key(Wire::Int8, "-5") < order_key(Wire::Int8, "0"));
    CHECK(order_key(Wire::Int8, "0") < order_key(Wire::Int8, "7"));
    CHECK(order_key(Wire::Int8, "255") < order_key(Wire::Int8, "256"));
    CHECK(order_key(Wire::Int4, "-2147483648") < order_key(Wire::Int4, "-1"));
    CHECK(order_key(Wire::Int2, "80") < order_key(Wire::Int2, "443"));
    CHECK(order_key(Wire::Timestamp, "1999-12-31 23:59:59") < order_key(Wire::Timestamp, "2000-01-01 00:00:00"));
    CHECK(order_key(Wire::Inet, "9.255.255.255") < order_key(Wire::Inet, "10.0.0.0"));
    CHECK(order_key(Wire::Inet, "255.255.255.255") < order_key(Wire::Inet, "::1")); // IPv4 before IPv6
    CHECK(order_key(Wire::Mac, "00:00:00:00:00:ff") < order_key(Wire::Mac, "00:00:00:00:01:00"));
    CHECK(order_key(Wire::Text, "ab") < order_key(Wire::Text, "abc"));
}

TEST_CASE("pg_binary: a batch is the header, its rows in the index's order, and the trailer") {
    const auto g = group({{"5", "10.0.0.2"}, {"5", "10.0.0.1"}, {"-1", "10.0.0.9"}});
    const std::vector<Wire> wires = {Wire::Int4, Wire::Inet};
    const std::string head = std::string("PGCOPY\n\xff\r\n", 10) + std::string(9, '\0');
    REQUIRE(pgbin::header() == head);
    const auto row = [&](const char* n, const char* ip) { return bytes({0, 2}) + field(Wire::Int4, n) + field(Wire::Inet, ip); };
    pgbin::Encoder e;
    SUBCASE("sorted by the first column, then the second") {
        REQUIRE(e.encode(g, wires, {0, 1}));
        CHECK(body(e) == head + row("-1", "10.0.0.9") + row("5", "10.0.0.1") + row("5", "10.0.0.2") + "\xff\xff");
    }
    SUBCASE("sorted by the second column only") {
        REQUIRE(e.encode(g, wires, {1}));
        CHECK(body(e) == head + row("5", "10.0.0.1") + row("5", "10.0.0.2") + row("-1", "10.0.0.9") + "\xff\xff");
    }
    SUBCASE("no order keeps the group's") {
        REQUIRE(e.encode(g, wires, {}));
        CHECK(body(e) == head + row("5", "10.0.0.2") + row("5", "10.0.0.1") + row("-1", "10.0.0.9") + "\xff\xff");
    }
    SUBCASE("in chunks, the same bytes") {
        REQUIRE(e.encode(g, wires, {0, 1}));
        std::size_t calls = 0;
        std::string all;
        CHECK(e.send(8, [&](std::string_view c) {
            ++calls;
            all += c;
            return true;
        }));
        CHECK(calls == 4); // each row (the first with the header), then the trailer
        CHECK(all == body(e));
    }
    SUBCASE("a failed send stops it") {
        REQUIRE(e.encode(g, wires, {0, 1}));
        std::size_t calls = 0;
        CHECK_FALSE(e.send(8, [&](std::string_view) { return ++calls < 2; }));
        CHECK(calls == 2);
    }
}

TEST_CASE("pg_binary: one cell that is not its column's value sends the whole batch as text") {
    pgbin::Encoder e;
    CHECK_FALSE(e.encode(group({{"1", "80"}, {"2", "70000"}}), {Wire::Int8, Wire::Int2}, {0}));
    CHECK_FALSE(e.encode(group({{"1", "80"}}), {Wire::Int8}, {})); // a form per column
    // A bin's rows share the text of their stamps: parsed once, written in every row.
    sql::RenderedGroup g = group({{"2023-11-14 22:20:00", "1"}, {"", "2"}});
    g.cells[2] = g.cells[0];
    REQUIRE(e.encode(g, {Wire::Timestamp, Wire::Int2}, {1}));
    const std::string stamp = field(Wire::Timestamp, "2023-11-14 22:20:00");
    CHECK(body(e) == std::string(pgbin::header()) + bytes({0, 2}) + stamp + field(Wire::Int2, "1") + bytes({0, 2}) +
                         stamp + field(Wire::Int2, "2") + "\xff\xff");
}

TEST_CASE("pg_binary: random values encode as PostgreSQL's send functions would (timestamps, addresses, integers)") {
    std::mt19937_64 rng(20261127);
    for (int i = 0; i < 20000; ++i) {
        // Any second from 1970 to 2100, written as the renderer writes stamps.
        const std::time_t t = static_cast<std::time_t>(rng() % 4102444800ull);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char text[96];
        std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec);
        INFO(text);
        REQUIRE(field(Wire::Timestamp, text) == bytes({0, 0, 0, 8}) + be64((static_cast<std::int64_t>(t) - 946684800) * 1000000));
        // An address of either family, as inet_ntop writes it.
        unsigned char a[16];
        for (auto& b : a) b = static_cast<unsigned char>(rng());
        char addr[INET6_ADDRSTRLEN];
        const bool v6 = i % 2;
        inet_ntop(v6 ? AF_INET6 : AF_INET, a, addr, sizeof addr);
        INFO(addr);
        std::string want = v6 ? bytes({0, 0, 0, 20, 3, 128, 0, 16}) : bytes({0, 0, 0, 8, 2, 32, 0, 4});
        want.append(reinterpret_cast<const char*>(a), v6 ? 16 : 4);
        REQUIRE(field(Wire::Inet, addr) == want);
        // A BIGINT.
        const auto v = static_cast<std::int64_t>(rng());
        REQUIRE(field(Wire::Int8, std::to_string(v)) == bytes({0, 0, 0, 8}) + be64(v));
    }
}

namespace {

// The order key of the value the renderer writes for `r`'s column `c` of `schema` (its text,
// encoded by the column's form): the order PostgreSQL gives the rows.
std::string row_key(const sql::Schema& schema, std::size_t c, Wire w, const sql::StoredRow& r) {
    const auto& rec = r.row.rec;
    std::string text;
    switch (schema.columns[c].primitive) {
    case FA_P_SRC_HOST: sdk::append_addr(text, rec.src_ip, rec.ip_version == 6); break;
    case FA_P_SRC_PORT: text = std::to_string(rec.src_port); break;
    case FA_P_DST_AS: text = std::to_string(rec.dst_as); break;
    default: FAIL("no text for this column in the test");
    }
    return order_key(w, text);
}

sql::Column column(const char* name, sql::Field f, fa_primitive p = FA_P_COUNT) {
    sql::Column c;
    c.name = name;
    c.field = f;
    c.primitive = p;
    return c;
}

} // namespace

TEST_CASE("pg_binary: rows cut into parts in the order of the first column that varies") {
    // An index (stamp_inserted, port_src, dst_as, ip_src, class_id), as the etc/sql keys list them.
    sql::Schema schema;
    schema.columns = {column("stamp_inserted", sql::Field::StampInserted), column("port_src", sql::Field::Primitive, FA_P_SRC_PORT),
                      column("as_dst", sql::Field::Primitive, FA_P_DST_AS), column("ip_src", sql::Field::Primitive, FA_P_SRC_HOST),
                      column("class_id", sql::Field::Primitive, FA_P_CLASS)};
    const std::vector<Wire> wires = {Wire::Timestamp, Wire::Int4, Wire::Int8, Wire::Inet, Wire::Text};
    const std::vector<std::size_t> order = {0, 1, 2, 3, 4};
    std::mt19937_64 rnd(7);
    std::vector<sql::StoredRow> rows(20000);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto& rec = rows[i].row.rec;
        rows[i].row.stamp_inserted_us = 600'000'000;
        rec.src_port = 443;
        rec.dst_as = 0;
        const std::uint64_t v = rnd();
        if (i % 3 == 0) {
            rec.ip_version = 6;
            for (int b = 0; b < 16; ++b) rec.src_ip[b] = static_cast<std::uint8_t>(v >> (b % 8 * 8));
            rec.src_ip[0] = static_cast<std::uint8_t>(0x20 + (v & 1)); // 2000::/7, some sharing their top bits
        } else {
            rec.ip_version = 4;
            const std::uint8_t a[4] = {10, static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                                       static_cast<std::uint8_t>(v >> 16)};
            sdk::set_v4(rec.src_ip, a);
        }
        if (i % 10 == 9) rows[i] = rows[i - 9]; // the same key again: it must share its part
    }
    // The parts' rows are the input's, each once; each part's values all sort before the next
    // part's (by the column's text encoded as the server orders it); equal values in one part.
    const auto check_parts = [&](const pgbin::Parts& p, std::size_t col) {
        REQUIRE(p.rows.size() == rows.size());
        std::vector<const sql::StoredRow*> seen(p.rows);
        std::sort(seen.begin(), seen.end());
        CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
        CHECK(seen.front() == &rows.front());
        CHECK(seen.back() == &rows.back());
        REQUIRE(p.ends.size() >= 4);
        CHECK(p.ends.back() == rows.size());
        std::string prev_max;
        std::size_t begin = 0;
        for (std::size_t end : p.ends) {
            REQUIRE(end > begin);
            std::string lo, hi;
            for (std::size_t i = begin; i < end; ++i) {
                const std::string k = row_key(schema, col, wires[col], *p.rows[i]);
                if (i == begin || k < lo) lo = k;
                if (i == begin || k > hi) hi = k;
            }
            CHECK(prev_max < lo); // strictly: a value is never in two parts
            prev_max = hi;
            begin = end;
        }
    };
    pgbin::Parts parts;
    SUBCASE("port_src and as_dst are the same in every row: ip_src decides, IPv4 before IPv6") {
        REQUIRE(pgbin::split_in_order(schema, wires, order, rows, 4096, parts));
        check_parts(parts, 3);
        CHECK(parts.rows.front()->row.rec.ip_version == 4);
        CHECK(parts.rows.back()->row.rec.ip_version == 6);
    }
    SUBCASE("IPv6 addresses of one /64 spread over parts too") {
        for (std::size_t i = 0; i < rows.size(); ++i) {
            auto& rec = rows[i].row.rec;
            const std::uint64_t v = rnd();
            rec.ip_version = 6;
            const std::uint8_t net[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
            std::memcpy(rec.src_ip, net, 8);
            for (int b = 8; b < 16; ++b) rec.src_ip[b] = static_cast<std::uint8_t>(v >> ((b - 8) * 8));
            if (i % 10 == 9) rows[i] = rows[i - 9];
        }
        REQUIRE(pgbin::split_in_order(schema, wires, order, rows, 4096, parts));
        check_parts(parts, 3);
    }
    SUBCASE("a column that varies before it decides instead") {
        for (std::size_t i = 0; i < rows.size(); ++i) rows[i].row.rec.dst_as = static_cast<std::uint32_t>(i * 7919 % 3000);
        for (std::size_t i = 9; i < rows.size(); i += 10) rows[i] = rows[i - 9];
        REQUIRE(pgbin::split_in_order(schema, wires, order, rows, 4096, parts));
        check_parts(parts, 2);
    }
    SUBCASE("a few distinct values give fewer parts, never one value in two") {
        for (std::size_t i = 0; i < rows.size(); ++i) rows[i].row.rec.src_port = static_cast<std::uint16_t>(i % 5 ? 80 : 443);
        REQUIRE(pgbin::split_in_order(schema, wires, order, rows, 1024, parts));
        CHECK(parts.ends.size() == 2);
        CHECK(parts.ends.front() == rows.size() * 4 / 5);
        CHECK(parts.rows.front()->row.rec.src_port == 80);
    }
    SUBCASE("a text column to look at, a column of another form, or no column that varies: whole") {
        CHECK_FALSE(pgbin::split_in_order(schema, wires, {0, 4, 3}, rows, 4096, parts));
        CHECK(parts.rows.empty());
        CHECK_FALSE(pgbin::split_in_order(schema, {Wire::Timestamp, Wire::Int4, Wire::Int8, Wire::Text, Wire::Text}, order,
                                          rows, 4096, parts));
        for (auto& r : rows) r = rows.front();
        CHECK_FALSE(pgbin::split_in_order(schema, wires, {0, 1, 2, 3}, rows, 4096, parts));
    }
}
