// SPDX-License-Identifier: GPL-2.0-or-later
// The hash aggregator through its C descriptor: every primitive, nets, sum_* double counting,
// tcp flags, time bins, refresh timing and bounds.
#include <doctest/doctest.h>

#include <cstring>   // std::memset
#include <map>       // std::map
#include <random>    // std::mt19937_64
#include <string>    // std::string
#include <vector>    // std::vector

#include <flowacct/sdk/primitives.hpp> // sdk::set_v4, sdk::parse_addr, sdk::format_primitive

#include "agg_table.hpp"  // aggregator::hash_key, HashSeed
#include "key_layout.hpp" // aggregator::KeyLayout, KeyForm
#include "fake_host.hpp" // FakeHost, Instance, load_module

using namespace flowacct;
using flowacct::test::FakeHost;
using flowacct::test::Instance;
using Config = std::map<std::string, std::string>;

namespace {

const fa_module_descriptor* agg() {
    static const fa_module_descriptor* d = test::load_module("aggregator_hash.so");
    REQUIRE(d != nullptr);
    return d;
}

fa_record rec(const char* src, const char* dst, std::uint16_t sport = 1, std::uint16_t dport = 2,
              std::uint64_t bytes = 100) {
    fa_record r;
    std::memset(&r, 0, sizeof r);
    sdk::parse_addr(src, r.src_ip);
    sdk::parse_addr(dst, r.dst_ip);
    r.ip_version = std::string(src).find(':') != std::string::npos ? 6 : 4;
    r.src_port = sport;
    r.dst_port = dport;
    r.proto = 6;
    r.packets = 1;
    r.bytes = bytes;
    return r;
}

struct Collected {
    std::vector<fa_row> rows;
    std::uint64_t primitives = 0;
    std::uint32_t history_s = 0;
    int writes = 0;
};

fa_row_sink sink_for(Collected& c) {
    return fa_row_sink{&c, [](void* ctx, const fa_row_batch* b) -> fa_status {
                           auto* c = static_cast<Collected*>(ctx);
                           c->rows.insert(c->rows.end(), b->rows, b->rows + b->count);
                           c->primitives = b->primitives;
                           c->history_s = b->history_s;
                           ++c->writes;
                           return FA_OK;
                       }};
}

// Runs records through an aggregator configured with `config` and returns the forced purge.
Collected aggregate(std::map<std::string, std::string> config, const std::vector<fa_record>& records) {
    FakeHost host(std::move(config));
    host.manual_clock_us = 1'700'000'000'000'000ull;
    Instance inst(agg(), host);
    REQUIRE_MESSAGE(inst, inst.error);
    const auto* ops = inst.ops<fa_aggregator_ops>();
    ops->ingest(inst.get(), records.data(), static_cast<std::uint32_t>(records.size()));
    Collected c;
    fa_row_sink sink = sink_for(c);
    REQUIRE(ops->purge(inst.get(), host.manual_clock_us, 1, &sink) == FA_OK);
    return c;
}

std::string show(const fa_record& r, fa_primitive p) {
    return sdk::format_primitive(r, p, [](std::uint32_t id) { return std::to_string(id); });
}

} // namespace

TEST_CASE("records with the same key are summed, others kept apart") {
    auto c = aggregate({{"aggregate", "src_host, dst_port"}},
                       {rec("10.0.0.1", "10.0.0.9", 1, 80, 100), rec("10.0.0.1", "10.0.0.8", 2, 80, 50),
                        rec("10.0.0.1", "10.0.0.9", 1, 443, 10), rec("10.0.0.2", "10.0.0.9", 1, 80, 1)});
    REQUIRE(c.rows.size() == 3);
    std::map<std::string, std::uint64_t> bytes;
    for (const auto& r : c.rows) bytes[show(r.rec, FA_P_SRC_HOST) + "/" + show(r.rec, FA_P_DST_PORT)] += r.rec.bytes;
    CHECK(bytes["10.0.0.1/80"] == 150);
    CHECK(bytes["10.0.0.1/443"] == 10);
    CHECK(bytes["10.0.0.2/80"] == 1);
    // Primitives not aggregated on are zero in the rows.
    for (const auto& r : c.rows) CHECK(r.rec.src_port == 0);
}

TEST_CASE("every primitive separates records that differ only in it and prints its value") {
    struct Case {
        const char* name;
        fa_primitive id;
        void (*set)(fa_record&);
        const char* printed;
    };
    const Case cases[] = {
        {"src_mac", FA_P_SRC_MAC, [](fa_record& r) { r.src_mac[5] = 0xab; }, "00:00:00:00:00:ab"},
        {"dst_mac", FA_P_DST_MAC, [](fa_record& r) { r.dst_mac[0] = 0x02; }, "02:00:00:00:00:00"},
        {"vlan", FA_P_VLAN, [](fa_record& r) { r.vlan = 42; }, "42"},
        {"etype", FA_P_ETYPE, [](fa_record& r) { r.ether_type = 0x86dd; }, "86dd"},
        {"src_host", FA_P_SRC_HOST, [](fa_record& r) { sdk::parse_addr("10.9.9.9", r.src_ip); }, "10.9.9.9"},
        {"dst_host", FA_P_DST_HOST, [](fa_record& r) { sdk::parse_addr("10.8.8.8", r.dst_ip); }, "10.8.8.8"},
        {"src_mask", FA_P_SRC_MASK, [](fa_record& r) { r.src_mask = 24; }, "24"},
        {"dst_mask", FA_P_DST_MASK, [](fa_record& r) { r.dst_mask = 16; }, "16"},
        {"src_as", FA_P_SRC_AS, [](fa_record& r) { r.src_as = 5466; }, "5466"},
        {"dst_as", FA_P_DST_AS, [](fa_record& r) { r.dst_as = 65000; }, "65000"},
        {"peer_src_as", FA_P_PEER_SRC_AS, [](fa_record& r) { r.peer_src_as = 7; }, "7"},
        {"peer_dst_as", FA_P_PEER_DST_AS, [](fa_record& r) { r.peer_dst_as = 8; }, "8"},
        {"src_port", FA_P_SRC_PORT, [](fa_record& r) { r.src_port = 5353; }, "5353"},
        {"dst_port", FA_P_DST_PORT, [](fa_record& r) { r.dst_port = 8080; }, "8080"},
        {"tos", FA_P_TOS, [](fa_record& r) { r.tos = 0xb8; }, "184"},
        {"proto", FA_P_PROTO, [](fa_record& r) { r.proto = 17; }, "udp"},
        {"tag", FA_P_TAG, [](fa_record& r) { r.tag = 1ull << 40; }, "1099511627776"},
        {"tag2", FA_P_TAG2, [](fa_record& r) { r.tag2 = 9; }, "9"},
        {"label", FA_P_LABEL, [](fa_record& r) { r.label_id = 3; }, "3"},
        {"class", FA_P_CLASS, [](fa_record& r) { r.class_id = 4; }, "4"},
        {"in_iface", FA_P_IN_IFACE, [](fa_record& r) { r.in_iface = 10; }, "10"},
        {"out_iface", FA_P_OUT_IFACE, [](fa_record& r) { r.out_iface = 11; }, "11"},
        {"peer_src_ip", FA_P_PEER_SRC_IP, [](fa_record& r) { sdk::parse_addr("192.0.2.1", r.peer_src_ip); }, "192.0.2.1"},
        {"peer_dst_ip", FA_P_PEER_DST_IP, [](fa_record& r) { sdk::parse_addr("2001:db8::1", r.nexthop); }, "2001:db8::1"},
        {"sampling_rate", FA_P_SAMPLING_RATE, [](fa_record& r) { r.sampling_rate = 1000; }, "1000"},
    };
    for (const auto& tc : cases) {
        CAPTURE(tc.name);
        fa_record a = rec("10.0.0.1", "10.0.0.2");
        fa_record b = a;
        tc.set(b);
        auto c = aggregate({{"aggregate", tc.name}}, {a, b, b});
        REQUIRE(c.rows.size() == 2);
        CHECK(sdk::has_primitive(c.primitives, tc.id));
        const fa_row& changed = c.rows[0].rec.packets == 2 ? c.rows[0] : c.rows[1];
        CHECK(changed.rec.packets == 2);
        CHECK(show(changed.rec, tc.id) == tc.printed);
    }
}

TEST_CASE("src_net and dst_net mask the address with the record's prefix length, IPv4 and IPv6") {
    fa_record a = rec("10.1.2.3", "2001:db8:1:2::5");
    a.src_mask = 16;
    a.dst_mask = 48;
    fa_record b = rec("10.1.200.7", "2001:db8:1:ff::9");
    b.src_mask = 16;
    b.dst_mask = 48;
    auto c = aggregate({{"aggregate", "src_net"}}, {a, b});
    REQUIRE(c.rows.size() == 1);
    CHECK(show(c.rows[0].rec, FA_P_SRC_NET) == "10.1.0.0");
    CHECK(c.rows[0].rec.packets == 2);
    b.ip_version = a.ip_version = 6;
    auto d = aggregate({{"aggregate", "dst_net, dst_mask"}}, {a, b});
    REQUIRE(d.rows.size() == 1);
    CHECK(show(d.rows[0].rec, FA_P_DST_NET) == "2001:db8:1::");
    CHECK(d.rows[0].rec.dst_mask == 48);
}

TEST_CASE("IPv6 hosts are kept and printed as IPv6") {
    auto c = aggregate({{"aggregate", "src_host, dst_host"}}, {rec("2001:db8::1", "::1"), rec("2001:db8::1", "::1")});
    REQUIRE(c.rows.size() == 1);
    CHECK(show(c.rows[0].rec, FA_P_SRC_HOST) == "2001:db8::1");
    CHECK(show(c.rows[0].rec, FA_P_DST_HOST) == "::1");
}

TEST_CASE("IPv4 and IPv6 hosts in one table: rows keep every address exactly, with history and sum_host") {
    // IPv4 hosts go to a compact key, others to the full one: the rows must not tell them apart.
    fa_record mapped6 = rec("::ffff:10.0.0.1", "2001:db8::2", 5, 6, 1000); // v4-mapped source in an IPv6 packet
    REQUIRE(mapped6.ip_version == 6);
    fa_record v4_written_mapped = rec("::ffff:10.0.0.1", "::ffff:10.0.0.2", 1, 2, 100); // the same as the first two
    v4_written_mapped.ip_version = 4;
    fa_record non_ip = rec("10.0.0.1", "10.0.0.2", 9, 9, 50000); // no addresses at all
    std::memset(non_ip.src_ip, 0, 16);
    std::memset(non_ip.dst_ip, 0, 16);
    non_ip.ip_version = 0;
    const std::vector<fa_record> in = {rec("10.0.0.1", "10.0.0.2", 1, 2, 1), rec("10.0.0.1", "10.0.0.2", 1, 2, 2),
                                       rec("2001:db8::1", "10.0.0.2", 3, 4, 10), mapped6, v4_written_mapped,
                                       rec("0.0.0.0", "255.255.255.255", 7, 8, 10000), non_ip};
    for (const std::string history : {"", "10m"}) {
        CAPTURE(history);
        Config cfg{{"aggregate", "src_host, dst_host, src_port"}};
        if (!history.empty()) cfg["print_history"] = history;
        auto c = aggregate(cfg, in);
        std::map<std::string, std::uint64_t> bytes;
        for (const auto& r : c.rows)
            bytes[show(r.rec, FA_P_SRC_HOST) + " " + show(r.rec, FA_P_DST_HOST) + " " + show(r.rec, FA_P_SRC_PORT) + " v" +
                  std::to_string(r.rec.ip_version)] += r.rec.bytes;
        CHECK(bytes.size() == 5);
        CHECK(bytes["10.0.0.1 10.0.0.2 1 v4"] == 103);
        CHECK(bytes["2001:db8::1 10.0.0.2 3 v6"] == 10);
        CHECK(bytes["10.0.0.1 2001:db8::2 5 v6"] == 1000);
        CHECK(bytes["0.0.0.0 255.255.255.255 7 v4"] == 10000);
        CHECK(bytes["0.0.0.0 0.0.0.0 9 v0"] == 50000);
        for (const auto& r : c.rows) {
            if (r.rec.ip_version != 4) continue;
            fa_record want = r.rec;
            sdk::parse_addr(show(r.rec, FA_P_SRC_HOST).c_str(), want.src_ip);
            CHECK(std::memcmp(want.src_ip, r.rec.src_ip, 16) == 0); // v4 rows hold the mapped form
            if (!history.empty()) CHECK(r.stamp_inserted_us % 600'000'000u == 0);
        }
    }
    auto sum = aggregate({{"aggregate", "sum_host"}}, {rec("10.0.0.1", "2001:db8::9", 1, 2, 5), rec("2001:db8::9", "10.0.0.1", 1, 2, 7)});
    std::map<std::string, std::uint64_t> by_host;
    for (const auto& r : sum.rows) by_host[show(r.rec, FA_P_SUM_HOST)] += r.rec.bytes;
    CHECK(by_host.size() == 2);
    CHECK(by_host["10.0.0.1"] == 12);
    CHECK(by_host["2001:db8::9"] == 12);
}

TEST_CASE("sum_host counts a record once for its source and once for its destination") {
    auto c = aggregate({{"aggregate", "sum_host"}},
                       {rec("10.0.0.1", "10.0.0.2", 1, 2, 100), rec("10.0.0.2", "10.0.0.3", 1, 2, 10)});
    std::map<std::string, std::uint64_t> bytes;
    for (const auto& r : c.rows) bytes[show(r.rec, FA_P_SUM_HOST)] += r.rec.bytes;
    CHECK(bytes.size() == 3);
    CHECK(bytes["10.0.0.1"] == 100);
    CHECK(bytes["10.0.0.2"] == 110);
    CHECK(bytes["10.0.0.3"] == 10);
}

TEST_CASE("sum_port, sum_as, sum_mac and sum_net double count the same way") {
    fa_record r = rec("10.0.0.1", "10.0.1.1", 1000, 80, 7);
    r.src_as = 1;
    r.dst_as = 2;
    r.src_mac[5] = 1;
    r.dst_mac[5] = 2;
    r.src_mask = 24;
    r.dst_mask = 24;
    for (const char* p : {"sum_port", "sum_as", "sum_mac", "sum_net"}) {
        CAPTURE(p);
        auto c = aggregate({{"aggregate", p}}, {r});
        REQUIRE(c.rows.size() == 2);
        CHECK(c.rows[0].rec.bytes + c.rows[1].rec.bytes == 14);
    }
}

TEST_CASE("sum_* cannot be combined with other primitives") {
    FakeHost host(Config{{"aggregate", "sum_host, dst_port"}});
    Instance inst(agg(), host);
    CHECK_FALSE(inst);
    CHECK(inst.error.find("aggregate: a sum_* primitive cannot be combined") != std::string::npos);
}

TEST_CASE("unknown and pmacct-only primitives are refused with a clear message") {
    FakeHost host(Config{{"aggregate", "src_host, src_hots"}});
    Instance inst(agg(), host);
    CHECK(inst.error.find("unknown primitive 'src_hots'") != std::string::npos);
    FakeHost host2(Config{{"aggregate", "as_path"}});
    Instance inst2(agg(), host2);
    CHECK(inst2.error.find("'as_path' is a pmacct primitive flowacct does not support yet") != std::string::npos);
}

TEST_CASE("tcpflags are OR-ed into the row and flows are summed") {
    fa_record a = rec("10.0.0.1", "10.0.0.2");
    a.tcp_flags = 0x02;
    a.flows = 1;
    fa_record b = a;
    b.tcp_flags = 0x10;
    b.flows = 0;
    auto c = aggregate({{"aggregate", "src_host, tcpflags, flows"}}, {a, b});
    REQUIRE(c.rows.size() == 1);
    CHECK(c.rows[0].rec.tcp_flags == 0x12);
    CHECK(c.rows[0].rec.flows == 1);
    CHECK(sdk::has_primitive(c.primitives, FA_P_FLOWS));
    CHECK(sdk::has_primitive(c.primitives, FA_P_TCPFLAGS));
}

TEST_CASE("history splits rows into aligned time bins") {
    // 2023-11-14 22:13:20, 22:18:19 and 22:25:00 UTC.
    fa_record a = rec("10.0.0.1", "10.0.0.2");
    a.time_end_us = 1'700'000'000ull * 1'000'000;
    fa_record b = a;
    b.time_end_us = (1'700'000'000ull + 299) * 1'000'000;
    fa_record c2 = a;
    c2.time_end_us = (1'700'000'000ull + 700) * 1'000'000;
    auto c = aggregate({{"aggregate", "src_host"}, {"sql_history", "5m"}, {"sql_history_roundoff", "m"}}, {a, b, c2});
    REQUIRE(c.rows.size() == 3);
    CHECK(c.history_s == 300);
    std::map<std::uint64_t, std::uint64_t> per_bin;
    for (const auto& r : c.rows) per_bin[r.stamp_inserted_us / 1'000'000] += r.rec.packets;
    CHECK(per_bin[1'699'999'800] == 1); // 22:10:00
    CHECK(per_bin[1'700'000'100] == 1); // 22:15:00
    CHECK(per_bin[1'700'000'700] == 1); // 22:25:00
    auto h = aggregate({{"aggregate", "src_host"}, {"print_history", "1h"}}, {a, b, c2});
    REQUIRE(h.rows.size() == 1);
    CHECK(h.rows[0].stamp_inserted_us / 1'000'000 == 1'699'999'200); // 22:00:00
    auto d = aggregate({{"aggregate", "src_host"}, {"sql_history", "1d"}}, {a});
    CHECK(d.rows[0].stamp_inserted_us / 1'000'000 == 1'699'920'000); // 2023-11-14 00:00
    auto m = aggregate({{"aggregate", "src_host"}, {"sql_history", "1M"}}, {a});
    CHECK(m.rows[0].stamp_inserted_us / 1'000'000 == 1'698'796'800); // 2023-11-01 00:00
    auto w = aggregate({{"aggregate", "src_host"}, {"sql_history", "1w"}}, {a});
    CHECK(w.rows[0].stamp_inserted_us / 1'000'000 == 1'699'833'600); // Monday 2023-11-13
}

TEST_CASE("a record time far in the future is binned at arrival and counted") {
    FakeHost host(Config{{"aggregate", "src_host"}, {"sql_history", "10m"}});
    host.manual_clock_us = 1'700'000'000ull * 1'000'000;
    Instance inst(agg(), host);
    REQUIRE(inst);
    fa_record a = rec("10.0.0.1", "10.0.0.2");
    a.time_end_us = 4'102'444'800ull * 1'000'000; // 2100-01-01
    const auto* ops = inst.ops<fa_aggregator_ops>();
    ops->ingest(inst.get(), &a, 1);
    Collected c;
    fa_row_sink sink = sink_for(c);
    ops->purge(inst.get(), host.manual_clock_us, 1, &sink);
    REQUIRE(c.rows.size() == 1);
    CHECK(c.rows[0].stamp_inserted_us / 1'000'000 == 1'699'999'800);
    CHECK(host.counter("ts_future") == 1);
}

TEST_CASE("rows are purged every refresh interval on the monotonic clock, not before") {
    FakeHost host(Config{{"aggregate", "src_host"}, {"print_refresh_time", "60"}});
    host.manual_clock_us = 1'000'000'000;
    Instance inst(agg(), host);
    REQUIRE(inst);
    const auto* ops = inst.ops<fa_aggregator_ops>();
    fa_record a = rec("10.0.0.1", "10.0.0.2");
    ops->ingest(inst.get(), &a, 1);
    Collected c;
    fa_row_sink sink = sink_for(c);
    ops->purge(inst.get(), host.manual_clock_us + 59'000'000, 0, &sink);
    CHECK(c.rows.empty());
    ops->purge(inst.get(), host.manual_clock_us + 60'000'000, 0, &sink);
    CHECK(c.rows.size() == 1);
    CHECK(ops->size(inst.get()) == 0);
    // The next interval starts empty and is purged 60 s later.
    ops->ingest(inst.get(), &a, 1);
    ops->purge(inst.get(), host.manual_clock_us + 100'000'000, 0, &sink);
    CHECK(c.rows.size() == 1);
    ops->purge(inst.get(), host.manual_clock_us + 120'000'000, 0, &sink);
    CHECK(c.rows.size() == 2);
}

TEST_CASE("the output's default refresh applies when no refresh key is set") {
    FakeHost host(Config{{"aggregate", "src_host"}, {"__output_refresh_s", "1"}});
    host.manual_clock_us = 5'000'000;
    Instance inst(agg(), host);
    REQUIRE(inst);
    const auto* ops = inst.ops<fa_aggregator_ops>();
    fa_record a = rec("10.0.0.1", "10.0.0.2");
    ops->ingest(inst.get(), &a, 1);
    Collected c;
    fa_row_sink sink = sink_for(c);
    ops->purge(inst.get(), 6'000'000, 0, &sink);
    CHECK(c.rows.size() == 1);
}

TEST_CASE("a full table asks for an early purge and counts it; nothing is lost") {
    FakeHost host(Config{{"aggregate", "src_host, src_port"}, {"aggregate_max_entries", "1024"}});
    Instance inst(agg(), host);
    REQUIRE(inst);
    const auto* ops = inst.ops<fa_aggregator_ops>();
    std::vector<fa_record> recs;
    for (int i = 0; i < 1500; ++i) recs.push_back(rec("10.0.0.1", "10.0.0.2", static_cast<std::uint16_t>(i), 1));
    CHECK(ops->ingest(inst.get(), recs.data(), 1000) == 0);
    CHECK(ops->ingest(inst.get(), recs.data() + 1000, 500) != 0);
    CHECK(host.counter("early_purges") == 1);
    Collected c;
    fa_row_sink sink = sink_for(c);
    ops->purge(inst.get(), 0, 1, &sink);
    CHECK(c.rows.size() == 1500);
}

TEST_CASE("bad history and refresh values are refused with the key named") {
    FakeHost a(Config{{"aggregate", "src_host"}, {"sql_history", "10x"}});
    Instance ia(agg(), a);
    CHECK(ia.error.find("sql_history: expected a duration") != std::string::npos);
    FakeHost b(Config{{"aggregate", "src_host"}, {"sql_history", "10m"}, {"sql_history_roundoff", "q"}});
    Instance ib(agg(), b);
    CHECK(ib.error.find("sql_history_roundoff") != std::string::npos);
    FakeHost c(Config{{"aggregate", "src_host"}, {"print_history", "30s"}});
    Instance ic(agg(), c);
    CHECK(ic.error.find("print_history") != std::string::npos);
}

TEST_CASE("the key hash spreads traffic-shaped keys and depends on the process's secret") {
    using namespace flowacct::aggregator;
    // 5-tuple keys as the aggregator packs them (v4-mapped source and destination, ports, proto):
    // sequential addresses, and every pair also reversed (the other direction of the flow).
    constexpr std::uint32_t kSize = 40;
    const HashSeed& seed = HashSeed::process();
    std::vector<std::uint8_t> slots(1 << 16);
    std::size_t keys = 0, reversed_equal = 0;
    for (std::uint32_t i = 0; i < 32768; ++i) {
        std::uint8_t k[kSize] = {}, r[kSize] = {};
        k[10] = k[11] = k[26] = k[27] = 0xff;
        std::memcpy(k + 12, &i, 4);
        k[28] = 10;
        k[32] = 0x1f;
        k[33] = 0x90;
        k[36] = 6;
        std::memcpy(r, k + 16, 16);
        std::memcpy(r + 16, k, 16);
        std::memcpy(r + 32, k + 32, 8);
        const std::uint64_t hk = hash_key(k, kSize, seed), hr = hash_key(r, kSize, seed);
        if (hk == hr && std::memcmp(k, r, kSize) != 0) ++reversed_equal;
        slots[(hk >> 32) & 0xffff] = 1; // the table takes a key's home slot from the high half
        slots[(hr >> 32) & 0xffff] = 1;
        keys += 2;
    }
    CHECK(reversed_equal == 0);
    // 65 536 keys into 65 536 buckets: a random function fills 63 % of them (41 400).
    std::size_t filled = 0;
    for (auto s : slots) filled += s;
    CHECK(keys == 65536);
    CHECK(filled > 40000);
    HashSeed other = seed;
    other.s[0] ^= 1;
    std::uint8_t k[kSize] = {1, 2, 3};
    CHECK(hash_key(k, kSize, other) != hash_key(k, kSize, seed));
}

TEST_CASE("the table's arena keeps its bytes in place, and when it outgrows its reservation") {
    memory::GrowingArena arena(1 << 20); // rounded up to one 2 MB huge page
    std::uint8_t* first = arena.append(1000);
    for (int i = 0; i < 1000; ++i) first[i] = static_cast<std::uint8_t>(i * 7);
    for (int i = 0; i < 1000; ++i) arena.append(1000); // 1 MB: within the reservation, nothing moves
    CHECK(arena.data() == first);
    for (int i = 0; i < 5000; ++i) arena.append(1000); // 6 MB: past it, remapped
    CHECK(arena.size() == 6'001'000);
    bool same = true;
    for (int i = 0; i < 1000; ++i) same = same && arena.data()[i] == static_cast<std::uint8_t>(i * 7);
    CHECK(same);
    arena.data()[arena.size() - 1] = 1; // the whole size is writable
    arena.clear();
    CHECK(arena.size() == 0);
    CHECK(arena.touched() == 6'001'000);
}

TEST_CASE("keys built a word at a time equal keys copied field by field, for every primitive and form") {
    using aggregator::KeyForm;
    using aggregator::KeyLayout;
    constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    std::vector<std::vector<std::string>> lists;
    for (const auto& p : sdk::kPrimitives) lists.push_back({p.name});
    lists.push_back({"src_host", "dst_host", "src_port", "dst_port", "proto"});
    lists.push_back({"src_mac", "dst_mac", "vlan", "src_host", "dst_host", "src_port", "dst_port", "proto", "tos"});
    lists.push_back({"tag", "tag2", "label", "class", "in_iface", "out_iface", "peer_src_ip", "peer_dst_ip",
                     "sampling_rate", "etype", "src_as", "dst_as", "peer_src_as", "peer_dst_as", "src_mask",
                     "dst_mask", "vlan", "tos", "src_mac", "proto"});
    lists.push_back({"src_host", "src_net", "dst_port"});
    std::mt19937_64 rng(11);
    static const std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    int by_words = 0, compared = 0;
    for (const auto& list : lists) {
        for (bool with_bin : {false, true}) {
            CAPTURE(list.front());
            CAPTURE(list.size());
            CAPTURE(with_bin);
            const KeyLayout layout(list, with_bin);
            bool has_net = false;
            for (const auto& name : list) has_net = has_net || name.find("_net") != std::string::npos;
            for (bool compact : {false, true}) {
                if (compact && !layout.has_compact()) continue;
                const KeyForm& form = compact ? layout.compact() : layout.full();
                // Every form without a network is packed by words (on little-endian machines); one
                // with a network field by field.
                CHECK(form.by_words == (!has_net && kLittleEndian));
                if (!form.by_words) continue;
                ++by_words;
                KeyForm fields = form;
                fields.by_words = false;
                const std::size_t checked = with_bin ? form.bin_off : form.key_size;
                for (int i = 0; i < 64; ++i) {
                    fa_record r;
                    auto* bytes = reinterpret_cast<std::uint8_t*>(&r);
                    for (std::size_t b = 0; b < sizeof r; ++b) bytes[b] = static_cast<std::uint8_t>(rng());
                    if (compact || i % 2 == 0) {
                        std::memcpy(r.src_ip, kMapped, 12);
                        std::memcpy(r.dst_ip, kMapped, 12);
                    }
                    if (compact) REQUIRE(layout.fits_compact(r));
                    for (bool side_b : {false, true}) {
                        if (side_b && !layout.two_sided()) continue;
                        // Different bytes beforehand: a byte one way leaves unwritten shows.
                        std::vector<std::uint8_t> a(form.key_size, 0xAA), b(form.key_size, 0x55);
                        KeyLayout::pack(form, r, a.data(), side_b);
                        KeyLayout::pack_fields(fields, r, b.data(), side_b);
                        CHECK(std::memcmp(a.data(), b.data(), checked) == 0);
                        ++compared;
                    }
                }
            }
        }
    }
    if (!kLittleEndian) return;
    CHECK(by_words > 60);
    CHECK(compared > 4000);
    // Fields side by side in the record are side by side in the key, read as one piece a word.
    CHECK(KeyLayout({"dst_port", "src_port"}, false).full().words_a.pieces.size() == 1);
    CHECK(KeyLayout({"proto", "tos"}, false).full().words_a.pieces.size() == 1);
    CHECK(KeyLayout({"dst_mac", "src_mac"}, false).full().words_a.pieces.size() == 2); // 6 + 2 bytes, then 4
}
