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

namespace {

// Random IPv4 prefixes over `spread` distinct /8s (few: they nest and overlap), every length,
// duplicates of earlier prefixes with new values, a default route and host routes.
std::vector<Prefix4> random_v4(std::mt19937_64& rng, std::size_t count, std::uint32_t spread) {
    std::vector<Prefix4> ps;
    std::uint32_t value = 1;
    ps.push_back({0, 0, value++});
    for (std::size_t i = 0; i < count; ++i) {
        if (i % 50 == 49) { // the same prefix again: the later one wins
            Prefix4 again = ps[rng() % ps.size()];
            again.value = value++;
            ps.push_back(again);
            continue;
        }
        std::uint32_t a = (static_cast<std::uint32_t>(rng() % spread) << 24) | static_cast<std::uint32_t>(rng() & 0xffffff);
        std::uint8_t len = static_cast<std::uint8_t>(i % 7 == 0 ? 32 : 8 + rng() % 25);
        ps.push_back({a & (len ? ~0u << (32 - len) : 0), len, value++});
    }
    return ps;
}

// Addresses that hit the prefixes: their first, last and a random address, and random ones.
std::vector<std::uint32_t> probes_v4(const std::vector<Prefix4>& ps, std::mt19937_64& rng, std::size_t count) {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < count; ++i) {
        const Prefix4& p = ps[rng() % ps.size()];
        std::uint32_t host = p.len == 32 ? 0 : (p.len == 0 ? ~0u : ~0u >> p.len);
        switch (i % 4) {
        case 0: out.push_back(p.addr); break;
        case 1: out.push_back(p.addr | host); break;
        case 2: out.push_back(p.addr | (static_cast<std::uint32_t>(rng()) & host)); break;
        default: out.push_back(static_cast<std::uint32_t>(rng())); break;
        }
    }
    return out;
}

} // namespace

TEST_CASE("IPv4 table matches a naive longest match in both layouts (16-8-8 and DIR-24-8)") {
    std::mt19937_64 rng(2024);
    // Few /8s keep the table small (16-8-8); all 256 spread long prefixes over more than
    // kDir24Threshold /16s (DIR-24-8).
    for (std::uint32_t spread : {3u, 256u}) {
        CAPTURE(spread);
        std::vector<Prefix4> ps = random_v4(rng, spread == 3 ? 4000 : 30000, spread);
        Ipv4Table t;
        t.build(ps);
        CHECK(t.first_level_bits() == (spread == 3 ? 16u : 24u));
        std::vector<std::uint32_t> addrs = probes_v4(ps, rng, spread == 3 ? 20000 : 3000);
        std::vector<std::uint32_t> got(addrs.size());
        t.lookup_batch(addrs.data(), got.data(), addrs.size());
        for (std::size_t i = 0; i < addrs.size(); ++i) {
            CAPTURE(addrs[i]);
            const std::uint32_t want = reference(ps, addrs[i], 32);
            REQUIRE(t.lookup(addrs[i]) == want);
            REQUIRE(got[i] == want);
        }
        // Rebuilt with other content, nothing of the old one stays.
        t.build({{0x0a000000, 8, 77}});
        CHECK(t.first_level_bits() == 16);
        CHECK(t.lookup(0x0a010203) == 77);
        CHECK(t.lookup(addrs[0] | 0x80000000u) == 0);
    }
}

TEST_CASE("IPv6 table matches a naive longest match: clusters, /128s, ::/0, duplicates, node budget") {
    std::mt19937_64 rng(99);
    std::vector<Prefix6> ps;
    std::uint32_t value = 1;
    ps.push_back({0, 0, value++}); // ::/0
    ps.push_back({~u128{0}, 128, value++});
    ps.push_back({0, 128, value++});
    auto base = [&] { return (static_cast<u128>(0x2001 + rng() % 4) << 112) | (static_cast<u128>(rng()) << 48); };
    for (int i = 0; i < 6000; ++i) {
        u128 a = base();
        std::uint8_t len = static_cast<std::uint8_t>(16 + rng() % 113);
        ps.push_back({a & (~u128{0} << (128 - len)), len, value++});
    }
    // Tight clusters of host routes, each needing nodes down to the last byte: more of them
    // than the node budget allows, so some blocks are left to the galloping search.
    for (int c = 0; c < 3000; ++c) {
        u128 a = base() | rng() % 65536;
        for (int k = 0; k < 6; ++k) ps.push_back({a + static_cast<u128>(k * 3), 128, value++});
    }
    for (int i = 0; i < 300; ++i) { // duplicates: the later wins
        Prefix6 again = ps[rng() % ps.size()];
        again.value = value++;
        ps.push_back(again);
    }
    // Values past 2^30 do not fit in an index entry: their blocks go through the ranges.
    for (std::size_t i = 0; i < ps.size(); i += 10) ps[i].value |= 1u << 30;
    Ipv6Table t;
    t.build(ps);
    CHECK(t.nodes() == t.ranges() / 8 + 64); // the budget was reached
    std::vector<u128> addrs;
    for (int i = 0; i < 40000; ++i) {
        const Prefix6& p = ps[rng() % ps.size()];
        const u128 host = p.len == 0 ? ~u128{0} : p.len == 128 ? 0 : ~u128{0} >> p.len;
        const u128 noise = (static_cast<u128>(rng()) << 64) | rng();
        switch (i % 5) {
        case 0: addrs.push_back(p.addr); break;
        case 1: addrs.push_back(p.addr | host); break;
        case 2: addrs.push_back(p.addr | (noise & host)); break;
        case 3: addrs.push_back(p.addr + 1); break;
        default: addrs.push_back(base() | (noise & 0xffffffffffffull)); break;
        }
    }
    std::vector<std::uint32_t> got(addrs.size());
    t.lookup_batch(addrs.data(), got.data(), addrs.size());
    for (std::size_t i = 0; i < addrs.size(); ++i) {
        const std::uint32_t want = reference(ps, addrs[i], 128);
        REQUIRE(t.lookup(addrs[i]) == want);
        REQUIRE(got[i] == want);
    }
    // Batches shorter than the number of lookups in flight.
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{21}}) {
        std::vector<std::uint32_t> small(n + 1, 12345);
        t.lookup_batch(addrs.data(), small.data(), n);
        for (std::size_t i = 0; i < n; ++i) REQUIRE(small[i] == t.lookup(addrs[i]));
        CHECK(small[n] == 12345); // nothing written past n
    }
}
