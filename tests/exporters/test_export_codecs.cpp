// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of the exporter building blocks: the flow cache, and the NetFlow and sFlow encoders
// checked by decoding their datagrams with flowacct's own collector decoders.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <algorithm> // std::max, std::min
#include <cstring>  // std::memcpy
#include <map>      // std::map
#include <string>   // std::string
#include <vector>   // std::vector

#include "flow_cache.hpp"      // FlowCache, parse_timeouts
#include "netflow_decoder.hpp" // netflow::Decoder
#include "netflow_encoder.hpp" // NetflowEncoder
#include "sflow_decoder.hpp"   // sflow::Decoder
#include "sflow_encoder.hpp"   // SflowEncoder, synthesize_header

using namespace flowacct;
using namespace flowacct::exporter;

namespace {

constexpr std::uint64_t kSec = 1000000;
constexpr std::uint64_t kT0 = 1700000000ull * kSec;

fa_record packet4(std::uint8_t src_last, std::uint16_t sport, std::uint8_t proto, std::uint64_t t_us,
                  std::uint64_t bytes = 100, std::uint8_t flags = 0) {
    fa_record r{};
    r.src_ip[10] = r.src_ip[11] = r.dst_ip[10] = r.dst_ip[11] = 0xff;
    r.src_ip[12] = 10, r.src_ip[15] = src_last;
    r.dst_ip[12] = 192, r.dst_ip[13] = 168, r.dst_ip[15] = 1;
    r.ip_version = 4;
    r.proto = proto;
    r.src_port = sport;
    r.dst_port = 80;
    r.tcp_flags = flags;
    r.packets = 1;
    r.bytes = bytes;
    r.flows = 1;
    r.time_start_us = r.time_end_us = t_us;
    return r;
}

fa_record packet6(std::uint16_t sport, std::uint64_t t_us) {
    fa_record r{};
    r.src_ip[0] = 0x20, r.src_ip[1] = 0x01, r.src_ip[2] = 0x0d, r.src_ip[3] = 0xb8, r.src_ip[15] = 1;
    r.dst_ip[0] = 0x20, r.dst_ip[1] = 0x01, r.dst_ip[2] = 0x0d, r.dst_ip[3] = 0xb8, r.dst_ip[15] = 2;
    r.ip_version = 6;
    r.proto = 17;
    r.src_port = sport;
    r.dst_port = 53;
    r.packets = 3;
    r.bytes = 300;
    r.time_start_us = t_us;
    r.time_end_us = t_us + 2 * kSec;
    return r;
}

struct Collect final : FlowSink {
    std::vector<fa_record> flows;
    void flow(const fa_record& f) override { flows.push_back(f); }
};

struct Datagrams final : DatagramSink {
    std::vector<std::vector<std::uint8_t>> all;
    void datagram(const std::uint8_t* d, std::size_t n) override { all.emplace_back(d, d + n); }
};

struct MapCounters final : netflow::CounterSource {
    std::map<std::string, std::uint64_t> slots;
    std::uint64_t* slot(const char* name, const std::string& labels) override {
        return &slots[std::string(name) + (labels.empty() ? "" : "{" + labels + "}")];
    }
    std::uint64_t sum(const std::string& name) const {
        std::uint64_t s = 0;
        for (const auto& [k, v] : slots)
            if (k == name || k.rfind(name + "{", 0) == 0) s += v;
        return s;
    }
};

std::vector<fa_record> decode_netflow(const Datagrams& d, MapCounters& counters) {
    netflow::DecoderOptions opt;
    netflow::Decoder dec(opt, counters);
    netflow::VectorSink sink;
    netflow::Exporter from;
    from.addr[10] = from.addr[11] = 0xff, from.addr[12] = 127, from.addr[15] = 1;
    from.port = 9999;
    for (const auto& g : d.all) dec.decode(g.data(), g.size(), from, kT0 + 100 * kSec, sink);
    return sink.take();
}

} // namespace

TEST_CASE("nfprobe_timeouts parses pmacct's syntax and refuses unknown names") {
    Timeouts t;
    std::string err;
    CHECK(parse_timeouts("tcp=30:udp=10:tcp.fin=5:maxlife=600:expint=2", t, err));
    CHECK(t.tcp == 30);
    CHECK(t.udp == 10);
    CHECK(t.tcp_fin == 5);
    CHECK(t.maxlife == 600);
    CHECK(t.expint == 2);
    CHECK(t.icmp == 300); // unnamed ones keep pmacct's defaults
    CHECK_FALSE(parse_timeouts("tcp=30:bogus=1", t, err));
    CHECK(err.find("bogus") != std::string::npos);
    CHECK_FALSE(parse_timeouts("udp=ten", t, err));
}

TEST_CASE("the flow cache merges the packets of a flow and exports it after the idle timeout") {
    Timeouts t;
    t.udp = 10;
    t.expint = 1;
    FlowCache cache(t, 100);
    Collect out;
    for (int i = 0; i < 5; ++i) cache.add(packet4(1, 1000, 17, kT0 + i * kSec, 100), out);
    cache.add(packet4(2, 1000, 17, kT0, 40), out);
    CHECK(cache.size() == 2);
    CHECK(cache.expire(kT0 + 12 * kSec, false, out) == 1); // the second flow was idle 12 s, the first 8 s
    REQUIRE(out.flows.size() == 1);
    CHECK(out.flows[0].bytes == 40);
    CHECK(cache.expire(kT0 + 15 * kSec, false, out) == 1);
    REQUIRE(out.flows.size() == 2);
    CHECK(out.flows[1].packets == 5);
    CHECK(out.flows[1].bytes == 500);
    CHECK(out.flows[1].time_start_us == kT0);
    CHECK(out.flows[1].time_end_us == kT0 + 4 * kSec);
    CHECK(cache.size() == 0);
    CHECK(cache.stats().expired_idle == 2);
}

TEST_CASE("a TCP flow that saw a FIN or RST expires after tcp.fin or tcp.rst, not after tcp") {
    Timeouts t;
    t.tcp = 100;
    t.tcp_fin = 5;
    t.tcp_rst = 2;
    t.expint = 1;
    FlowCache cache(t, 100);
    Collect out;
    cache.add(packet4(1, 1, 6, kT0, 60, 0x02), out);
    cache.add(packet4(1, 1, 6, kT0 + kSec, 60, 0x11), out); // FIN|ACK
    cache.add(packet4(2, 2, 6, kT0, 60, 0x04), out);        // RST
    cache.add(packet4(3, 3, 6, kT0, 60, 0x10), out);        // plain ACK
    cache.expire(kT0 + 3 * kSec, false, out);
    REQUIRE(out.flows.size() == 1);
    CHECK(out.flows[0].src_port == 2);
    cache.expire(kT0 + 7 * kSec, false, out);
    REQUIRE(out.flows.size() == 2);
    CHECK(out.flows[1].src_port == 1);
    CHECK(out.flows[1].tcp_flags == 0x13);
    CHECK(cache.size() == 1);
    CHECK(cache.stats().expired_tcp_end == 2);
}

TEST_CASE("a full cache exports its least recently seen flow first and never holds more than maxflows") {
    Timeouts t;
    FlowCache cache(t, 3);
    Collect out;
    cache.add(packet4(1, 1, 17, kT0), out);
    cache.add(packet4(2, 1, 17, kT0 + 1), out);
    cache.add(packet4(3, 1, 17, kT0 + 2), out);
    cache.add(packet4(1, 1, 17, kT0 + 3), out); // flow 1 is now the most recent
    cache.add(packet4(4, 1, 17, kT0 + 4), out);
    CHECK(cache.size() == 3);
    REQUIRE(out.flows.size() == 1);
    CHECK(out.flows[0].src_ip[15] == 2);
    CHECK(cache.stats().forced == 1);
    cache.expire(0, true, out);
    CHECK(out.flows.size() == 4);
    std::uint64_t packets = 0;
    for (const auto& f : out.flows) packets += f.packets;
    CHECK(packets == 5);
}

TEST_CASE("packets added as a batch give the flows, in the order, of packets added one by one") {
    // More flows than the cache holds, flows repeating within the batch's look-ahead and beyond
    // it, TCP flags that end flows: every eviction and merge must happen as without the batch.
    std::vector<fa_record> packets;
    std::uint32_t x = 12345;
    for (int i = 0; i < 3000; ++i) {
        x = x * 1103515245u + 12345u;
        const auto flow = static_cast<std::uint8_t>((x >> 16) % 200);
        const std::uint8_t flags = (x >> 8) % 50 == 0 ? 0x01 : 0x10;
        packets.push_back(packet4(flow, static_cast<std::uint16_t>(1000 + flow % 7), flow % 3 ? 6 : 17,
                                  kT0 + static_cast<std::uint64_t>(i) * 1000, 40 + i % 100, flags));
        if (i % 97 == 0) packets.push_back(packets.back()); // the same flow twice in a row
    }
    Timeouts t;
    FlowCache one(t, 64), batched(t, 64);
    Collect a, b;
    for (const auto& p : packets) one.add(p, a);
    std::vector<const fa_record*> ptrs;
    for (const auto& p : packets) ptrs.push_back(&p);
    for (std::size_t at = 0; at < ptrs.size(); at += 300)
        batched.add(ptrs.data() + at, std::min<std::size_t>(300, ptrs.size() - at), b);
    one.expire(0, true, a);
    batched.expire(0, true, b);
    CHECK(one.stats().forced > 1000);
    REQUIRE(a.flows.size() == b.flows.size());
    for (std::size_t i = 0; i < a.flows.size(); ++i) {
        CAPTURE(i);
        CHECK(std::memcmp(&a.flows[i], &b.flows[i], sizeof(fa_record)) == 0);
    }
}

TEST_CASE("maxlife exports a flow that is still active, and the next packets start a new flow") {
    Timeouts t;
    t.maxlife = 10;
    t.expint = 1;
    FlowCache cache(t, 10);
    Collect out;
    for (int i = 0; i <= 12; ++i) {
        cache.add(packet4(1, 1, 17, kT0 + i * kSec), out);
        cache.expire(kT0 + i * kSec, false, out);
    }
    REQUIRE(out.flows.size() == 1);
    CHECK(out.flows[0].packets == 11);
    CHECK(cache.stats().expired_active == 1);
    cache.expire(0, true, out);
    CHECK(out.flows[1].packets == 2);
}

TEST_CASE("NetFlow v5, v9 and IPFIX exports decode to the same flows with flowacct's netflow decoder") {
    for (int version : {5, 9, 10}) {
        CAPTURE(version);
        NetflowConfig cfg;
        cfg.version = version;
        cfg.engine_type = 1;
        cfg.engine_id = 7;
        cfg.domain = 0x107;
        Datagrams d;
        NetflowEncoder enc(cfg, d);
        std::uint64_t packets = 0, bytes = 0, flows = 0;
        for (int i = 0; i < 200; ++i) {
            fa_record f = packet4(static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(1000 + i), i % 2 ? 6 : 17,
                                  kT0 + i * kSec, 1000 + i);
            f.packets = 3 + i;
            f.time_start_us = f.time_end_us - kSec;
            f.vlan = 42;
            f.src_mac[5] = 0xaa;
            f.in_iface = 3, f.out_iface = 4, f.src_as = 65001, f.dst_as = 65002, f.src_mask = 24, f.dst_mask = 16;
            f.tcp_flags = 0x1b;
            f.tos = 0x20;
            CHECK(enc.add(f, kT0 + 300 * kSec));
            packets += f.packets, bytes += f.bytes, ++flows;
        }
        if (version != 5) {
            for (int i = 0; i < 10; ++i) {
                fa_record f = packet6(static_cast<std::uint16_t>(5000 + i), kT0 + i * kSec);
                CHECK(enc.add(f, kT0 + 300 * kSec));
                packets += f.packets, bytes += f.bytes, ++flows;
            }
        }
        enc.flush(kT0 + 300 * kSec);
        for (const auto& g : d.all) CHECK(g.size() <= 1400);
        MapCounters counters;
        std::vector<fa_record> recs = decode_netflow(d, counters);
        REQUIRE(recs.size() == flows);
        std::uint64_t p = 0, b = 0;
        for (const auto& r : recs) p += r.packets, b += r.bytes;
        CHECK(p == packets);
        CHECK(b == bytes);
        const fa_record& r = recs[5];
        CHECK(r.src_port == 1005);
        CHECK(r.dst_port == 80);
        CHECK(r.proto == 6);
        CHECK(r.tos == 0x20);
        CHECK(r.tcp_flags == 0x1b);
        CHECK(r.src_ip[15] == 5);
        CHECK(r.in_iface == 3);
        CHECK(r.out_iface == 4);
        CHECK(r.src_as == 65001);
        CHECK(r.src_mask == 24);
        CHECK(r.time_end_us / 1000 == (kT0 + 5 * kSec) / 1000);
        CHECK(r.time_start_us / 1000 == (kT0 + 4 * kSec) / 1000);
        CHECK(r.engine_id == (version == 5 ? 7u : 0x107u));
        if (version != 5) {
            CHECK(r.vlan == 42);
            CHECK(r.src_mac[5] == 0xaa);
            CHECK(recs.back().ip_version == 6);
            CHECK(recs.back().src_port == 5009);
            CHECK(recs.back().src_ip[0] == 0x20);
        }
        CHECK(counters.sum("seq_lost") == 0);
        CHECK(counters.sum("seq_reordered") == 0);
        CHECK(counters.sum("no_template") == 0);
        CHECK(counters.sum("bad_set_len") == 0);
        CHECK(counters.sum("v9_count_mismatch") == 0);
        CHECK(counters.sum("v5_count_mismatch") == 0);
        if (version == 5) {
            // 28 flows of 48 bytes fill a datagram under the 1400-byte bound (30 would not).
            CHECK(d.all.size() == 8);
            CHECK(d.all[0].size() == 24 + 28 * 48);
        }
    }
}

TEST_CASE("flows without routing data travel in the lean templates: fewer datagrams, the same flows") {
    for (int version : {9, 10}) {
        CAPTURE(version);
        std::size_t datagrams[2] = {};
        for (int routed = 0; routed < 2; ++routed) {
            NetflowConfig cfg;
            cfg.version = version;
            Datagrams d;
            NetflowEncoder enc(cfg, d);
            std::uint64_t packets = 0, bytes = 0;
            for (int i = 0; i < 300; ++i) {
                fa_record f = i % 3 ? packet4(static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(1000 + i), 6,
                                              kT0 + i * kSec, 1000 + i)
                                    : packet6(static_cast<std::uint16_t>(5000 + i), kT0 + i * kSec);
                f.vlan = 7;
                f.dst_mac[0] = 0x02;
                if (routed) f.in_iface = 3;
                if (i == 299) f.bytes = 5'000'000'000ull; // past 32 bits: the full template
                CHECK(enc.add(f, kT0 + 400 * kSec));
                packets += f.packets, bytes += f.bytes;
            }
            enc.flush(kT0 + 400 * kSec);
            datagrams[routed] = d.all.size();
            MapCounters counters;
            std::vector<fa_record> recs = decode_netflow(d, counters);
            REQUIRE(recs.size() == 300);
            std::uint64_t p = 0, b = 0;
            for (const auto& r : recs) p += r.packets, b += r.bytes;
            CHECK(p == packets);
            CHECK(b == bytes);
            // A datagram holds one template's flows: records come grouped by template, so they
            // are found by port.
            const auto by_port = [&](std::uint16_t port) {
                const fa_record* found = nullptr;
                for (const auto& r : recs)
                    if (r.src_port == port) found = &r;
                REQUIRE(found);
                return *found;
            };
            CHECK(by_port(1001).vlan == 7);
            CHECK(by_port(1001).dst_mac[0] == 0x02);
            CHECK(by_port(1001).ip_version == 4);
            CHECK(by_port(1001).in_iface == (routed ? 3u : 0u));
            CHECK(by_port(5003).ip_version == 6);
            CHECK(by_port(1299).bytes == 5'000'000'000ull);
            CHECK(counters.sum("no_template") == 0);
            CHECK(counters.sum("bad_set_len") == 0);
        }
        // 300 flows: 85 and 121 bytes a record in the full IPFIX templates, 55 and 79 in the lean ones.
        CHECK(datagrams[0] * 10 < datagrams[1] * 7);
    }
}

TEST_CASE("NetFlow v5 cannot carry IPv6 flows: they are counted, not sent") {
    NetflowConfig cfg;
    cfg.version = 5;
    Datagrams d;
    NetflowEncoder enc(cfg, d);
    CHECK_FALSE(enc.add(packet6(1, kT0), kT0));
    CHECK(enc.add(packet4(1, 1, 17, kT0), kT0));
    enc.flush(kT0);
    CHECK(enc.stats().dropped_ipv6_v5 == 1);
    CHECK(d.all.size() == 1);
}

TEST_CASE("templates open the first datagram and are sent again every refresh_packets datagrams") {
    for (int version : {9, 10}) {
        CAPTURE(version);
        NetflowConfig cfg;
        cfg.version = version;
        cfg.refresh_packets = 4;
        Datagrams d;
        NetflowEncoder enc(cfg, d);
        for (int i = 0; i < 10; ++i) {
            enc.add(packet4(1, static_cast<std::uint16_t>(i), 17, kT0), kT0);
            enc.flush(kT0);
        }
        REQUIRE(d.all.size() == 10);
        const std::size_t header = version == 9 ? 20 : 16;
        const std::uint16_t tmpl_set = version == 9 ? 0 : 2;
        std::vector<int> with;
        for (std::size_t i = 0; i < d.all.size(); ++i) {
            std::uint16_t first_set = static_cast<std::uint16_t>(d.all[i][header] << 8 | d.all[i][header + 1]);
            if (first_set == tmpl_set) with.push_back(static_cast<int>(i));
        }
        CHECK(with == std::vector<int>{0, 4, 8});
        // v9 sequence counts datagrams, IPFIX counts data records (options records included).
        auto seq = [&](std::size_t i) {
            const std::uint8_t* p = d.all[i].data() + (version == 9 ? 12 : 8);
            return static_cast<std::uint32_t>(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]);
        };
        CHECK(seq(0) == 0);
        CHECK(seq(1) == (version == 9 ? 1u : 2u)); // IPFIX: 1 options record + 1 flow in the first
        CHECK(seq(2) == (version == 9 ? 2u : 3u));
    }
}

TEST_CASE("a datagram holds one template's flows; they go out in runs of one length, numbered in order") {
    for (int version : {9, 10}) {
        CAPTURE(version);
        NetflowConfig cfg;
        cfg.version = version;
        Datagrams d;
        NetflowEncoder enc(cfg, d);
        std::uint64_t packets = 0;
        for (int i = 0; i < 3000; ++i) {
            // IPv4 and IPv6 flows interleaved; a new sampling rate halfway (announced before use).
            fa_record f = i % 3 ? packet4(static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(i), 6, kT0 + i)
                                : packet6(static_cast<std::uint16_t>(i), kT0 + i);
            f.sampling_rate = i < 1500 ? 1 : 64;
            CHECK(enc.add(f, kT0 + 10 * kSec));
            packets += f.packets;
        }
        enc.flush(kT0 + 10 * kSec);
        // Each datagram alone: its flows are all IPv4 or all IPv6.
        netflow::DecoderOptions opt;
        MapCounters counters;
        netflow::Decoder dec(opt, counters);
        netflow::Exporter from;
        from.port = 9999;
        std::size_t size_changes = 0, decoded = 0;
        std::uint64_t decoded_packets = 0;
        for (std::size_t i = 0; i < d.all.size(); ++i) {
            netflow::VectorSink sink;
            dec.decode(d.all[i].data(), d.all[i].size(), from, kT0 + 100 * kSec, sink);
            std::vector<fa_record> recs = sink.take();
            for (const auto& r : recs) {
                CHECK(r.ip_version == recs.front().ip_version);
                CHECK(r.sampling_rate == (r.src_port < 1500 ? 1u : 64u));
                decoded_packets += r.packets;
            }
            decoded += recs.size();
            if (i && d.all[i].size() != d.all[i - 1].size()) ++size_changes;
        }
        CHECK(decoded == 3000);
        CHECK(decoded_packets == packets);
        CHECK(counters.sum("no_template") == 0);
        for (const char* seq : {"seq_lost", "seq_reordered", "seq_dup", "seq_reset"}) CHECK_MESSAGE(counters.sum(seq) == 0, seq);
        // Runs: the datagrams of a template follow one another (with mixed datagrams, each
        // datagram's length differed from the last's).
        CHECK(size_changes * 4 < d.all.size());
    }
}

TEST_CASE("the sampling rate is announced in options data and decoded records carry it") {
    for (int version : {5, 9, 10}) {
        CAPTURE(version);
        NetflowConfig cfg;
        cfg.version = version;
        Datagrams d;
        NetflowEncoder enc(cfg, d);
        fa_record a = packet4(1, 1, 17, kT0);
        a.sampling_rate = 100;
        fa_record b = packet4(2, 1, 17, kT0);
        b.sampling_rate = 10;
        enc.add(a, kT0);
        enc.add(b, kT0);
        enc.add(a, kT0);
        enc.flush(kT0);
        MapCounters counters;
        std::vector<fa_record> recs = decode_netflow(d, counters);
        REQUIRE(recs.size() == 3);
        CHECK(recs[0].sampling_rate == 100);
        CHECK(recs[1].sampling_rate == 10);
        CHECK(recs[2].sampling_rate == 100);
    }
}

TEST_CASE("the synthesized header is a valid frame of the record: Ethernet, 802.1Q, IPv4, TCP") {
    fa_record r = packet4(9, 4321, 6, kT0, 1500, 0x12);
    r.vlan = 100;
    std::uint8_t h[96];
    std::size_t n = synthesize_header(r, 1500, true, h, sizeof h);
    CHECK(n == 18 + 20 + 20);
    CHECK(h[12] == 0x81);
    CHECK(h[16] == 0x08);
    CHECK(h[18] == 0x45);
    CHECK((h[20] << 8 | h[21]) == 1500);
    CHECK(h[18 + 9] == 6);
    CHECK((h[38] << 8 | h[39]) == 4321);
    CHECK(h[38 + 13] == 0x12);
    // The IPv4 checksum verifies.
    std::uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) s += static_cast<std::uint32_t>(h[18 + i] << 8 | h[19 + i]);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    CHECK(s == 0xffff);
    CHECK(synthesize_header(r, 1500, false, h, sizeof h) == 40); // IP packet only
    CHECK(h[0] == 0x45);
    fa_record nonip{};
    CHECK(synthesize_header(nonip, 100, true, h, sizeof h) == 0);
}

namespace {
struct SflowSink final : sflow::RecordSink {
    std::vector<fa_record> recs;
    fa_record& next() noexcept override {
        recs.emplace_back();
        return recs.back();
    }
    void discard_last() noexcept override { recs.pop_back(); }
    void attach_payload(fa_record&, const std::uint8_t*, std::uint32_t) noexcept override {}
};
} // namespace

TEST_CASE("sFlow samples decode with flowacct's sflow decoder: fields, rate, bytes and counters") {
    SflowConfig cfg;
    cfg.agent[10] = cfg.agent[11] = 0xff, cfg.agent[12] = 10, cfg.agent[15] = 9;
    cfg.sub_agent = 1402;
    cfg.if_speed = 1000000000;
    Datagrams d;
    SflowEncoder enc(cfg, d);
    std::uint64_t bytes = 0;
    for (int i = 0; i < 100; ++i) {
        fa_record r = i % 10 == 9 ? packet6(static_cast<std::uint16_t>(i), kT0) : packet4(static_cast<std::uint8_t>(i), static_cast<std::uint16_t>(i), i % 2 ? 6 : 17, kT0, 60 + i);
        r.vlan = 7;
        r.src_mac[0] = 0x02, r.dst_mac[5] = 0x33;
        r.src_as = 65001, r.dst_as = 65002, r.peer_dst_as = 65003;
        r.src_mask = 24, r.dst_mask = 8;
        SampleInfo info;
        info.sampling_rate = 1;
        info.sample_pool = static_cast<std::uint32_t>(i + 1);
        info.frame_length = static_cast<std::uint32_t>(r.bytes / r.packets);
        bytes += info.frame_length;
        CHECK(enc.add_flow(r, info, 1000));
    }
    IfTotals tot;
    tot.in_octets = 12345, tot.in_packets = 100;
    enc.add_counters(tot, 2000);
    enc.flush();
    for (const auto& g : d.all) CHECK(g.size() <= 1400);
    CHECK(d.all.size() > 1);
    sflow::Decoder dec(sflow::DecoderOptions{});
    SflowSink sink;
    for (const auto& g : d.all) dec.decode(g.data(), g.size(), kT0, sink);
    REQUIRE(sink.recs.size() == 100);
    std::uint64_t b = 0;
    for (const auto& r : sink.recs) b += r.bytes;
    CHECK(b == bytes);
    const fa_record& r = sink.recs[3];
    CHECK(r.src_ip[15] == 3);
    CHECK(r.src_port == 3);
    CHECK(r.dst_port == 80);
    CHECK(r.proto == 6);
    CHECK(r.vlan == 7);
    CHECK(r.src_mac[0] == 0x02);
    CHECK(r.dst_mac[5] == 0x33);
    CHECK(r.src_as == 65001);
    CHECK(r.dst_as == 65002);
    CHECK(r.src_mask == 24);
    CHECK(r.engine_id == 1402);
    CHECK(r.peer_src_ip[15] == 9);
    CHECK(sink.recs[9].ip_version == 6);
    CHECK(sink.recs[9].dst_port == 53);
    const sflow::AgentState* agent = dec.agent(cfg.agent, 1402);
    REQUIRE(agent != nullptr);
    const sflow::InterfaceCounters* ifc = dec.interface(cfg.agent, 1402, 1);
    REQUIRE(ifc != nullptr);
    CHECK(ifc->in_octets == 12345);
    CHECK(ifc->speed_bps == 1000000000);
}

TEST_CASE("datagrams end at or under their bound whatever the bound: every flow still decodes (RELIABILITY C9)") {
    for (int version : {5, 9, 10}) {
        for (std::size_t bound = 600; bound <= 1500; bound += 7) {
            CAPTURE(version);
            CAPTURE(bound);
            NetflowConfig cfg;
            cfg.version = version;
            cfg.max_datagram = bound;
            cfg.refresh_packets = 3;
            Datagrams d;
            NetflowEncoder enc(cfg, d);
            std::size_t sent = 0;
            for (int i = 0; i < 97; ++i) {
                fa_record f = (version != 5 && i % 3 == 0) ? packet6(static_cast<std::uint16_t>(i), kT0)
                                                           : packet4(static_cast<std::uint8_t>(i), 7, 17, kT0);
                f.sampling_rate = static_cast<std::uint32_t>(1 + i % 5);
                if (enc.add(f, kT0)) ++sent;
            }
            enc.flush(kT0);
            std::size_t longest = 0;
            for (const auto& g : d.all) longest = std::max(longest, g.size());
            CHECK(longest <= bound);
            MapCounters counters;
            CHECK(decode_netflow(d, counters).size() == sent);
        }
    }
    for (std::size_t bound = 400; bound <= 1500; bound += 5) {
        CAPTURE(bound);
        SflowConfig cfg;
        cfg.max_datagram = bound;
        Datagrams d;
        SflowEncoder enc(cfg, d);
        for (int i = 0; i < 50; ++i) {
            fa_record r = i % 2 ? packet6(static_cast<std::uint16_t>(i), kT0) : packet4(static_cast<std::uint8_t>(i), 9, 6, kT0);
            r.vlan = 3, r.src_mac[0] = 2, r.src_as = 1, r.dst_as = 2, r.peer_dst_as = 3, r.src_mask = 8;
            r.nexthop[0] = 0x20; // an IPv6 next hop: the longest gateway record
            SampleInfo info;
            info.frame_length = 1500;
            enc.add_flow(r, info, 0);
            if (i % 10 == 0) enc.add_counters(IfTotals{}, 0);
        }
        enc.flush();
        std::size_t longest = 0;
        for (const auto& g : d.all) longest = std::max(longest, g.size());
        CHECK(longest <= bound);
        sflow::Decoder dec(sflow::DecoderOptions{});
        SflowSink sink;
        for (const auto& g : d.all) dec.decode(g.data(), g.size(), kT0, sink);
        CHECK(sink.recs.size() == 50);
    }
}
