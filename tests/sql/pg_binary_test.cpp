// SPDX-License-Identifier: GPL-2.0-or-later
// The pgsql output's binary COPY (modules/pgsql/pg_binary.hpp), without a server: each type's
// bytes as PostgreSQL's own send functions write them, the order of the order keys, and the
// cells that send a batch as text instead.
#include <arpa/inet.h> // inet_ntop

#include <cstdio>      // std::snprintf
#include <ctime>       // timegm, gmtime_r
#include <initializer_list>
#include <random>      // std::mt19937_64

#include <doctest/doctest.h>

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
