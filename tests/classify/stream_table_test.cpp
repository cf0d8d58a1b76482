// SPDX-License-Identifier: GPL-2.0-or-later
// StreamTable internals and the `.pat` parser: lookups survive erasures, both directions share
// a stream, files are read as l7-filter writes them.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <cstdio>      // std::remove
#include <fstream>     // std::ofstream
#include <map>         // std::map
#include <random>      // std::mt19937_64
#include <stdexcept>   // std::runtime_error

#include "pattern_set.hpp"  // parse_pattern_file, PatternSet
#include "stream_table.hpp" // StreamTable, make_key

namespace cls = flowacct::classify;

namespace {

fa_record rec(std::uint32_t a, std::uint16_t sp, std::uint32_t b, std::uint16_t dp) {
    fa_record r{};
    r.ip_version = 4;
    r.proto = 6;
    std::memcpy(r.src_ip + 12, &a, 4);
    std::memcpy(r.dst_ip + 12, &b, 4);
    r.src_port = sp;
    r.dst_port = dp;
    return r;
}

} // namespace

TEST_CASE("both directions of a conversation map to one key, with the direction told apart") {
    bool lo1 = false, lo2 = false;
    auto k1 = cls::make_key(rec(1, 1000, 2, 80), lo1);
    auto k2 = cls::make_key(rec(2, 80, 1, 1000), lo2);
    CHECK(k1 == k2);
    CHECK(lo1 != lo2);
    bool lo3 = false;
    CHECK_FALSE(cls::make_key(rec(1, 1001, 2, 80), lo3) == k1);
}

TEST_CASE("stream table lookups stay correct through growth and many expirations") {
    cls::StreamTable t(5000, 42);
    std::mt19937_64 rng(7);
    std::map<std::uint32_t, std::uint64_t> live;  // stream number -> last_seen
    std::uint64_t now = 1000;
    for (int round = 0; round < 200; ++round) {
        t.prepare(64);
        std::uint64_t erased = 0;
        t.sweep(now, 50, 50, 256, [&](cls::Stream& s) {
            std::uint32_t n;
            std::memcpy(&n, s.key.lo_ip + 12, 4);
            CHECK(live.erase(n) == 1);
            ++erased;
        });
        for (int i = 0; i < 64; ++i) {
            std::uint32_t n = static_cast<std::uint32_t>(rng() % 20000) + 1;
            bool lo = false, inserted = false;
            auto key = cls::make_key(rec(n, 1, 0xffffffffu, 2), lo);
            std::uint32_t slot = t.find_or_insert(key, inserted);
            if (slot == cls::kNoSlot) {
                CHECK(t.size() == 5000);
                continue;
            }
            CHECK(inserted == (live.count(n) == 0));
            t.at(slot).last_seen_us = now;
            live[n] = now;
        }
        CHECK(t.size() == live.size());
        now += 7;
    }
    // Every stream the model holds is still found, none inserted again.
    for (const auto& [n, seen] : live) {
        bool lo = false, inserted = true;
        auto key = cls::make_key(rec(n, 1, 0xffffffffu, 2), lo);
        CHECK(t.find_or_insert(key, inserted) != cls::kNoSlot);
        CHECK_FALSE(inserted);
    }
}

TEST_CASE("pattern files are read as l7-filter writes them") {
    const char* path = "/tmp/flowacct-classify-test.pat";
    std::ofstream(path) << "# comment\n\n   # indented comment\nfoo\r\n^foo[\\x09-\\x0d -~]*bar\r\n"
                        << "userspace pattern=ignored\n";
    auto p = cls::parse_pattern_file(path);
    CHECK(p.protocol == "foo");
    CHECK(p.regex == "^foo[\\x09-\\x0d -~]*bar");
    CHECK(p.origin == std::string(path) + ":5");

    std::vector<std::string> rejected;
    cls::PatternSet set({p}, rejected);
    CHECK(rejected.empty());
    bool oom = false;
    const std::string hit = "FOO\tand BAR";  // case-insensitive, \xHH escapes understood
    CHECK(set.match(reinterpret_cast<const std::uint8_t*>(hit.data()), static_cast<std::uint32_t>(hit.size()), oom) == 0);
    const std::string miss = "xfoo bar";  // ^ anchors at the payload start
    CHECK(set.match(reinterpret_cast<const std::uint8_t*>(miss.data()), static_cast<std::uint32_t>(miss.size()), oom) == -1);

    std::ofstream(path) << "bad name!\nabc\n";
    CHECK_THROWS_WITH_AS(cls::parse_pattern_file(path), doctest::Contains(":1: 'bad name!' is not a protocol name"),
                         std::runtime_error);
    std::remove(path);
}
