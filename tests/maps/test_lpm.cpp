// SPDX-License-Identifier: GPL-2.0-or-later
// Longest-prefix-match tables against a brute-force reference.
#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include <random>             // std::mt19937_64
#include <vector>             // std::vector

#include "lpm.hpp"            // lpm::Ipv4Table, lpm::Ipv6Table

using namespace flowacct::lpm;

namespace {

template <class P, class A> std::uint32_t reference(const std::vector<P>& ps, A addr, int bits) {
    int best_len = -1;
    std::uint32_t best = 0;
    for (const P& p : ps) {
        A mask = p.len == 0 ? A{0} : static_cast<A>(~A{0} << (bits - p.len));
        if ((addr & mask) == (p.addr & mask) && p.len >= best_len) {
            best_len = p.len;
            best = p.value;
        }
    }
    return best;
}

} // namespace

TEST_CASE("IPv4 table returns the longest covering prefix, nested, overlapping and default") {
    std::vector<Prefix4> ps = {
        {0x00000000, 0, 1},        // default route
        {0x0a000000, 8, 2},        // 10/8
        {0x0a010000, 16, 3},       // 10.1/16
        {0x0a010200, 24, 4},       // 10.1.2/24
        {0x0a010280, 25, 5},       // 10.1.2.128/25
        {0x0a0102ff, 32, 6},       // 10.1.2.255/32
        {0x0a010000, 17, 7},       // 10.1.0/17, after its /24 in the list
    };
    Ipv4Table t;
    t.build(ps);
    CHECK(t.lookup(0x0b000001) == 1);
    CHECK(t.lookup(0x0a020304) == 2);
    CHECK(t.lookup(0x0a01ff01) == 3);
    CHECK(t.lookup(0x0a010001) == 7);
    CHECK(t.lookup(0x0a010201) == 4);
    CHECK(t.lookup(0x0a010281) == 5);
    CHECK(t.lookup(0x0a0102ff) == 6);
    Ipv4Table empty;
    CHECK(empty.lookup(0x01020304) == 0);
}

TEST_CASE("IPv4 table agrees with a brute-force search on random prefixes") {
    std::mt19937_64 rng(42);
    std::vector<Prefix4> ps;
    for (std::uint32_t i = 1; i <= 3000; ++i) {
        // Few distinct /8s, so prefixes nest and overlap.
        std::uint32_t a = (static_cast<std::uint32_t>(rng() % 4) << 24) | static_cast<std::uint32_t>(rng() & 0xffffff);
        std::uint8_t len = static_cast<std::uint8_t>(rng() % 33);
        a &= len ? ~0u << (32 - len) : 0;
        ps.push_back({a, len, i});
    }
    // Equal prefixes: the later entry wins, as in the reference's >=.
    Ipv4Table t;
    t.build(ps);
    std::vector<std::uint32_t> addrs(20000), got(20000);
    for (auto& a : addrs) a = (static_cast<std::uint32_t>(rng() % 5) << 24) | static_cast<std::uint32_t>(rng() & 0xffffff);
    for (std::uint32_t a : addrs) REQUIRE(t.lookup(a) == reference(ps, a, 32));
    // The batch lookup gives the same answers, for every batch length around its pipeline depth.
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{17}, addrs.size()}) {
        t.lookup_batch(addrs.data(), got.data(), n);
        for (std::size_t i = 0; i < n; ++i) REQUIRE(got[i] == t.lookup(addrs[i]));
    }
}

TEST_CASE("IPv6 table agrees with a brute-force search on random prefixes") {
    std::mt19937_64 rng(7);
    std::vector<Prefix6> ps;
    auto random_addr = [&] {
        u128 a = (static_cast<u128>(0x2001 + rng() % 3) << 112) | (static_cast<u128>(rng()) << 48) | (rng() & 0xffff);
        return a;
    };
    for (std::uint32_t i = 1; i <= 2000; ++i) {
        u128 a = random_addr();
        std::uint8_t len = static_cast<std::uint8_t>(rng() % 129);
        a &= len ? ~u128{0} << (128 - len) : 0;
        ps.push_back({a, len, i});
    }
    ps.push_back({0, 0, 5000});                                          // ::/0
    ps.push_back({~u128{0}, 128, 5001});                                  // the last address
    Ipv6Table t;
    t.build(ps);
    for (int i = 0; i < 20000; ++i) {
        u128 a = random_addr();
        if (i % 3 == 0) a = ps[rng() % ps.size()].addr | (rng() % 4); // near a prefix start
        REQUIRE(t.lookup(a) == reference(ps, a, 128));
    }
    CHECK(t.lookup(~u128{0}) == 5001);
    CHECK(t.lookup(~u128{0} - 1) == reference(ps, ~u128{0} - 1, 128));
    Ipv6Table empty;
    CHECK(empty.lookup(u128{12345}) == 0);
}
