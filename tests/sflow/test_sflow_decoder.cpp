// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 decoder: every record type, sequence accounting, interface counters, and each
// malformed case of RELIABILITY.md C7/C8 dropped and counted under its reason.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <cstdint>  // std::uint8_t
#include <string>   // std::string

#include <flowacct/sdk/primitives.hpp> // sdk::addr_to_string

#include "sflow_encoder.hpp"      // encode::*
#include "sflow_test_support.hpp" // test::VectorSink, test::CounterMap

using namespace flowacct;
namespace enc = flowacct::sflow::encode;

namespace {

const enc::Address kAgent = enc::Address::v4(192, 0, 2, 1);
constexpr std::uint64_t kArrivalUs = 1'700'000'000'000'000ull;
const std::uint8_t kSrc[4] = {10, 1, 2, 3};
const std::uint8_t kDst[4] = {172, 16, 0, 9};

std::string ip(const std::uint8_t* a) { return sdk::addr_to_string(a, !sdk::is_v4_mapped(a)); }

// A flow sample with one raw Ethernet/IPv4/TCP header record of a 1000-byte frame.
enc::FlowSample tcp_sample(std::uint32_t rate = 1, bool expanded = false) {
    enc::FlowSample s;
    s.expanded = expanded;
    s.rate = rate;
    s.pool = rate;
    s.input = 3;
    s.output = 7;
    const auto header = enc::ethernet_ipv4(kSrc, kDst, 6, 40000, 443, 982, 20, 0x28);
    s.records.push_back({sflow::kRecRawHeader, enc::raw_header(sflow::kHeaderEthernet, 1000, 4, header)});
    return s;
}

struct Fixture {
    explicit Fixture(sflow::DecoderOptions o = {}) : decoder(o, counters.factory()) {}
    std::uint32_t decode(const enc::Bytes& b) { return decoder.decode(b.data(), b.size(), kArrivalUs, sink); }
    test::CounterMap counters;
    sflow::Decoder decoder;
    test::VectorSink sink;
};

enc::Bytes one_sample_datagram(const enc::FlowSample& s, std::uint32_t seq = 1) {
    enc::Datagram d(kAgent, 0, seq, 100000 + 10 * seq);
    d.add_flow(s);
    return d.bytes();
}

} // namespace

TEST_CASE("a flow sample with a raw Ethernet header becomes one record as sfacctd counts it") {
    Fixture f;
    REQUIRE(f.decode(one_sample_datagram(tcp_sample(100))) == 1);
    REQUIRE(f.sink.records.size() == 1);
    const fa_record& r = f.sink.records[0];
    CHECK(ip(r.src_ip) == "10.1.2.3");
    CHECK(ip(r.dst_ip) == "172.16.0.9");
    CHECK(r.ip_version == 4);
    CHECK(r.proto == 6);
    CHECK(r.src_port == 40000);
    CHECK(r.dst_port == 443);
    CHECK(r.tos == 0x28);
    CHECK(r.bytes == 1000);   // frame_length, FCS included
    CHECK(r.packets == 1);
    CHECK(r.flows == 1);
    CHECK(r.sampling_rate == 100);
    CHECK(r.in_iface == 3);
    CHECK(r.out_iface == 7);
    CHECK(ip(r.peer_src_ip) == "192.0.2.1");
    CHECK(r.engine_id == 0);
    CHECK(r.time_end_us == kArrivalUs);
    CHECK(f.counters.agent("records") == 1);
    CHECK(f.counters.agent("flow_samples") == 1);
    CHECK(f.counters.drops() == 0);
}

TEST_CASE("renormalization multiplies bytes and packets by the sampling rate and reports rate 1") {
    Fixture f({true, false});
    REQUIRE(f.decode(one_sample_datagram(tcp_sample(512))) == 1);
    const fa_record& r = f.sink.records[0];
    CHECK(r.bytes == 512000);
    CHECK(r.packets == 512);
    CHECK(r.flows == 1);
    CHECK(r.sampling_rate == 1);
}

TEST_CASE("an expanded flow sample from an IPv6 agent with an IPv6 header decodes") {
    Fixture f;
    const std::uint8_t agent6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99};
    const std::uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const std::uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    enc::FlowSample s;
    s.expanded = true;
    s.rate = 10;
    s.input = 0x12345;  // beyond the 24 bits of a compact source id: only the expanded form carries it
    s.output = 0x3FFFFFFF; // unknown
    const auto header = enc::ethernet_ipv6(s6, d6, 17, 5353, 53, 100, 8, false);
    s.records.push_back({sflow::kRecRawHeader, enc::raw_header(sflow::kHeaderIPv6, 144, 0, header)});
    enc::Datagram d(enc::Address::ipv6(agent6), 7, 1, 10);
    d.add_flow(s);
    REQUIRE(f.decode(d.bytes()) == 1);
    const fa_record& r = f.sink.records[0];
    CHECK(r.ip_version == 6);
    CHECK(ip(r.src_ip) == "2001:db8:1::1");
    CHECK(ip(r.dst_ip) == "2001:db8:2::2");
    CHECK(r.proto == 17);
    CHECK(r.src_port == 5353);
    CHECK(r.dst_port == 53);
    CHECK(r.bytes == 144);
    CHECK(r.in_iface == 0x12345);
    CHECK(r.out_iface == 0);
    CHECK(ip(r.peer_src_ip) == "2001:db8::99");
    CHECK(r.engine_id == 7);
    CHECK(f.counters.agent("flow_samples", "agent=2001:db8::99,sub_agent=7") == 1);
}

TEST_CASE("a raw header of protocol IPv4 starts at the IP header") {
    Fixture f;
    enc::FlowSample s;
    auto header = enc::ethernet_ipv4(kSrc, kDst, 17, 1000, 2000, 60);
    header.erase(header.begin(), header.begin() + 14);
    s.records.push_back({sflow::kRecRawHeader, enc::raw_header(sflow::kHeaderIPv4, 60, 0, header)});
    REQUIRE(f.decode(one_sample_datagram(s)) == 1);
    CHECK(ip(f.sink.records[0].src_ip) == "10.1.2.3");
    CHECK(f.sink.records[0].dst_port == 2000);
    CHECK(f.sink.records[0].bytes == 60);
}

TEST_CASE("sampled IPv4 and IPv6 records fill the record without a raw header") {
    Fixture f;
    SUBCASE("IPv4") {
        enc::FlowSample s;
        s.records.push_back({sflow::kRecIPv4, enc::sampled_ipv4(1500, 6, kSrc, kDst, 22, 51000, 0x12, 0x10)});
        REQUIRE(f.decode(one_sample_datagram(s)) == 1);
        const fa_record& r = f.sink.records[0];
        CHECK(ip(r.src_ip) == "10.1.2.3");
        CHECK(r.src_port == 22);
        CHECK(r.dst_port == 51000);
        CHECK(r.tcp_flags == 0x12);
        CHECK(r.tos == 0x10);
        CHECK(r.bytes == 1500);
    }
    SUBCASE("IPv6") {
        const std::uint8_t s6[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        const std::uint8_t d6[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
        enc::FlowSample s;
        s.records.push_back({sflow::kRecIPv6, enc::sampled_ipv6(400, 17, s6, d6, 123, 123, 0, 0)});
        REQUIRE(f.decode(one_sample_datagram(s)) == 1);
        const fa_record& r = f.sink.records[0];
        CHECK(r.ip_version == 6);
        CHECK(ip(r.dst_ip) == "fe80::2");
        CHECK(r.dst_port == 123);
        CHECK(r.bytes == 400);
    }
}

TEST_CASE("extended switch, router and gateway records set vlan, next hop, masks and AS numbers") {
    Fixture f; // sfacctd_as and sfacctd_net unset: from the samples, as sfacctd
    auto s = tcp_sample();
    s.records.push_back({sflow::kRecExtSwitch, enc::ext_switch(101, 0, 202, 0)});
    s.records.push_back({sflow::kRecExtRouter, enc::ext_router(enc::Address::v4(10, 0, 0, 254), 24, 16)});
    s.records.push_back({sflow::kRecExtGateway, enc::ext_gateway(enc::Address::v4(10, 0, 0, 253), 65000, 64512,
                                                                 64513, {3356, 1299, 15169}, {1, 2, 3}, 100)});
    const std::uint8_t src_mac[6] = {0, 1, 2, 3, 4, 5}, dst_mac[6] = {6, 7, 8, 9, 10, 11};
    s.records.push_back({sflow::kRecEthernet, enc::sampled_ethernet(1000, src_mac, dst_mac, 0x0800)});
    REQUIRE(f.decode(one_sample_datagram(s)) == 1);
    const fa_record& r = f.sink.records[0];
    CHECK(r.vlan == 101);
    CHECK(ip(r.nexthop) == "10.0.0.253"); // the gateway's BGP next hop wins, as in sfacctd
    CHECK(r.src_mask == 24);
    CHECK(r.dst_mask == 16);
    CHECK(r.src_as == 64512);
    CHECK(r.peer_src_as == 64513);
    CHECK(r.peer_dst_as == 3356);
    CHECK(r.dst_as == 15169);
    CHECK(sdk::mac_to_string(r.src_mac) == "00:01:02:03:04:05");
    CHECK(r.bytes == 1000); // the raw header's frame length wins over the ethernet record
}

TEST_CASE("with sfacctd_as and sfacctd_net naming other sources the routing fields stay 0") {
    sflow::DecoderOptions o;
    o.as_from_sflow = o.masks_from_sflow = o.nexthop_from_sflow = false;
    Fixture f(o);
    auto s = tcp_sample();
    s.records.push_back({sflow::kRecExtSwitch, enc::ext_switch(101, 0, 202, 0)});
    s.records.push_back({sflow::kRecExtRouter, enc::ext_router(enc::Address::v4(10, 0, 0, 254), 24, 16)});
    s.records.push_back({sflow::kRecExtGateway, enc::ext_gateway(enc::Address::v4(10, 0, 0, 253), 65000, 64512,
                                                                 64513, {3356}, {}, 100)});
    REQUIRE(f.decode(one_sample_datagram(s)) == 1);
    const fa_record& r = f.sink.records[0];
    CHECK(r.vlan == 101);
    CHECK(sdk::is_zero_addr(r.nexthop));
    CHECK(r.src_mask == 0);
    CHECK(r.src_as == 0);
    CHECK(r.peer_dst_as == 0);
}

TEST_CASE("with only a router record the next hop is the router's") {
    Fixture f;
    auto s = tcp_sample();
    s.records.push_back({sflow::kRecExtRouter, enc::ext_router(enc::Address::v4(10, 0, 0, 254), 24, 16)});
    REQUIRE(f.decode(one_sample_datagram(s)) == 1);
    CHECK(ip(f.sink.records[0].nexthop) == "10.0.0.254");
}

TEST_CASE("L4 payload of the sampled header is attached only when asked for") {
    auto s = tcp_sample();
    SUBCASE("asked") {
        Fixture f({false, true});
        REQUIRE(f.decode(one_sample_datagram(s)) == 1);
        CHECK(f.sink.payloads[0] == std::vector<std::uint8_t>(20, 0x5a));
    }
    SUBCASE("not asked") {
        Fixture f;
        REQUIRE(f.decode(one_sample_datagram(s)) == 1);
        CHECK(f.sink.payloads[0].empty());
    }
}

TEST_CASE("datagram sequence numbers count lost, reordered, duplicate and reset per agent") {
    Fixture f;
    auto s = tcp_sample();
    for (std::uint32_t seq : {1u, 2u, 5u, 4u, 4u, 6u}) f.decode(one_sample_datagram(s, seq));
    CHECK(f.counters.agent("seq_lost") == 2);      // 3 and 4 missing at 5
    CHECK(f.counters.agent("seq_reordered") == 1); // 4 after 5
    CHECK(f.counters.agent("seq_dup") == 1);       // 4 again
    CHECK(f.counters.agent("seq_reset") == 0);
    // The agent restarts: sequence back to 1 with a small uptime.
    enc::Datagram d(kAgent, 0, 1, 5);
    d.add_flow(s);
    f.decode(d.bytes());
    CHECK(f.counters.agent("seq_reset") == 1);
    CHECK(f.counters.agent("seq_lost") == 2);
    // Another sub-agent of the same address has its own sequence.
    enc::Datagram other(kAgent, 1, 1000, 5);
    other.add_flow(s);
    f.decode(other.bytes());
    CHECK(f.counters.agent("seq_lost", "agent=192.0.2.1,sub_agent=1") == 0);
    CHECK(f.sink.records.back().engine_id == 1);
}

TEST_CASE("flow sample sequence numbers per source count lost samples, agent drops and restarts") {
    Fixture f;
    std::uint32_t dgram = 0;
    auto send = [&](std::uint32_t source, std::uint32_t seq, std::uint32_t pool, std::uint32_t drops) {
        auto s = tcp_sample(10);
        s.source_id = source;
        s.seq = seq;
        s.pool = pool;
        s.drops = drops;
        f.decode(one_sample_datagram(s, ++dgram));
    };
    send(3, 1, 10, 0);
    send(3, 2, 20, 0);
    send(4, 100, 1000, 7); // another source: its own sequence
    send(3, 5, 50, 2);     // 3 and 4 of source 3 lost; the agent dropped 2 packets
    send(3, 4, 40, 2);     // late: reordered, not a restart (pool still ahead of the start)
    send(4, 101, 1010, 7);
    CHECK(f.counters.agent("samples_lost") == 2);
    CHECK(f.counters.agent("source_drops") == 2);
    CHECK(f.counters.agent("source_reset") == 0);
    send(4, 5000, 50000, 7); // 4898 lost: far ahead, but within what loss can be
    CHECK(f.counters.agent("samples_lost") == 2 + 4898);
    send(4, 1, 10, 0); // the source restarted: the sequence went far back
    CHECK(f.counters.agent("source_reset") == 1);
    send(4, 2, 20, 0);
    CHECK(f.counters.agent("samples_lost") == 2 + 4898);
    CHECK(f.sink.records.size() == 9);
}

TEST_CASE("sequence numbers wrap at 2^32 without counting loss") {
    sflow::SequenceTracker t;
    std::uint32_t gap = 0;
    CHECK(t.observe(0xFFFFFFFEu, 100, gap) == sflow::SeqEvent::First);
    CHECK(t.observe(0xFFFFFFFFu, 110, gap) == sflow::SeqEvent::InOrder);
    CHECK(t.observe(0u, 120, gap) == sflow::SeqEvent::InOrder);
    CHECK(t.observe(2u, 130, gap) == sflow::SeqEvent::Gap);
    CHECK(gap == 1);
}

TEST_CASE("generic interface counters are tracked per interface and their increments counted") {
    Fixture f;
    enc::IfCounters c;
    c.if_index = 7;
    c.in_octets = 1000;
    c.out_octets = 5000;
    c.in_ucast = 0xFFFFFFF0u; // wraps before the next report
    c.in_errors = 1;
    auto send = [&](std::uint32_t seq) {
        enc::Datagram d(kAgent, 0, seq, 100 * seq);
        d.add(sflow::kCounterSample, enc::counter_sample_body(seq, 7, {{sflow::kCntGenericInterface, enc::generic_if(c)},
                                                                       {2, enc::Bytes(52, 0)}}));
        return f.decode(d.bytes());
    };
    CHECK(send(1) == 0);
    c.in_octets += 1500;
    c.out_octets += 300;
    c.in_ucast += 0x20; // 32 packets, across the 32-bit wrap
    c.in_errors += 2;
    send(2);
    CHECK(f.counters.agent("counter_samples") == 2);
    CHECK(f.counters.agent("if_counter_records") == 2);
    CHECK(f.counters.agent("if_in_octets") == 1500);
    CHECK(f.counters.agent("if_out_octets") == 300);
    CHECK(f.counters.agent("if_in_packets") == 32);
    CHECK(f.counters.agent("if_in_errors") == 2);
    std::uint8_t agent16[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    const sflow::InterfaceCounters* ic = f.decoder.interface(agent16, 0, 7);
    REQUIRE(ic != nullptr);
    CHECK(ic->in_octets == 2500);
    // A counter going backwards is a restart: a new baseline, no huge increment.
    c.in_octets = 10;
    send(3);
    CHECK(f.counters.agent("if_counter_reset") == 1);
    CHECK(f.counters.agent("if_in_octets") == 1500);
}

// ---- malformed input (RELIABILITY.md C7, C8) ----

TEST_CASE("num_samples 0xFFFFFFFF in a short datagram drops the datagram before decoding") {
    Fixture f;
    auto b = one_sample_datagram(tcp_sample());
    b.resize(64);
    enc::patch_u32(b, 24, 0xFFFFFFFFu);
    CHECK(f.decode(b) == 0);
    CHECK(f.counters.agent("drop_sample_count") == 1);
    CHECK(f.sink.records.empty());
}

TEST_CASE("more samples announced than present keeps the samples present and counts the lie") {
    Fixture f;
    enc::Datagram d(kAgent, 0, 1, 1);
    d.add_flow(tcp_sample());
    auto b = d.bytes();
    enc::patch_u32(b, d.count_offset(), 2);
    CHECK(f.decode(b) == 1);
    CHECK(f.counters.agent("drop_sample_count") == 1);
    CHECK(f.counters.agent("unknown_sample_format") == 0);
}

TEST_CASE("more records announced than present drops the sample") {
    Fixture f;
    auto body = enc::flow_sample_body(tcp_sample());
    enc::patch_u32(body, 28, 2); // one record present, two announced, bytes enough for the count test
    SUBCASE("flow sample") {
        enc::Datagram d(kAgent, 0, 1, 1);
        d.add(sflow::kFlowSample, body);
        CHECK(f.decode(d.bytes()) == 0);
    }
    SUBCASE("counter sample") {
        auto cbody = enc::counter_sample_body(1, 1, {{sflow::kCntGenericInterface, enc::generic_if({})}});
        enc::patch_u32(cbody, 8, 2);
        enc::Datagram d(kAgent, 0, 1, 1);
        d.add(sflow::kCounterSample, cbody);
        f.decode(d.bytes());
        CHECK(f.counters.agent("if_counter_records") == 0);
    }
    CHECK(f.counters.agent("drop_record_count") == 1);
    CHECK(f.counters.agent("unknown_record_format") == 0);
}

TEST_CASE("a sample length beyond the datagram drops the rest of the datagram") {
    Fixture f;
    enc::Datagram d(kAgent, 0, 1, 1);
    d.add_flow(tcp_sample());
    d.add_flow(tcp_sample());
    auto b = d.bytes();
    // Second sample's length word: after header (28) + first sample (8 + body).
    const std::size_t first_len = (std::size_t{b[32]} << 24) | (std::size_t{b[33]} << 16) | (b[34] << 8) | b[35];
    enc::patch_u32(b, 28 + 8 + first_len + 4, 100000);
    CHECK(f.decode(b) == 1);
    CHECK(f.counters.agent("drop_sample_length") == 1);
}

TEST_CASE("a sample longer than its records use is dropped and the next sample still decodes") {
    Fixture f;
    const auto body = enc::flow_sample_body(tcp_sample());
    auto longer = body;
    longer.insert(longer.end(), 8, 0);
    enc::Datagram d(kAgent, 0, 1, 1);
    d.add(sflow::kFlowSample, longer);
    d.add(sflow::kFlowSample, body);
    CHECK(f.decode(d.bytes()) == 1);
    CHECK(f.counters.agent("drop_sample_length") == 1);
    CHECK(f.sink.records.size() == 1);
}

TEST_CASE("a record length beyond its sample drops the sample") {
    Fixture f;
    auto body = enc::flow_sample_body(tcp_sample());
    enc::patch_u32(body, 32 + 4, 5000); // first record's length word
    enc::Datagram d(kAgent, 0, 1, 1);
    d.add(sflow::kFlowSample, body);
    CHECK(f.decode(d.bytes()) == 0);
    CHECK(f.counters.agent("drop_record_length") == 1);
}

TEST_CASE("a record count that cannot fit in the sample drops the sample") {
    Fixture f;
    auto body = enc::flow_sample_body(tcp_sample());
    enc::patch_u32(body, 28, 0xFFFFFFFFu);
    enc::Datagram d(kAgent, 0, 1, 1);
    d.add(sflow::kFlowSample, body);
    CHECK(f.decode(d.bytes()) == 0);
    CHECK(f.counters.agent("drop_record_count") == 1);
}

TEST_CASE("a fixed-size record whose length disagrees with its format drops the sample") {
    Fixture f;
    enc::FlowSample s;
    auto rec = enc::sampled_ipv4(100, 6, kSrc, kDst, 1, 2, 0, 0);
    rec.resize(28);
    s.records.push_back({sflow::kRecIPv4, rec});
    CHECK(f.decode(one_sample_datagram(s)) == 0);
    CHECK(f.counters.agent("drop_record_mismatch") == 1);
}

TEST_CASE("header_length beyond the record drops the sample") {
    Fixture f;
    auto s = tcp_sample();
    enc::patch_u32(s.records[0].second, 12, 1500);
    CHECK(f.decode(one_sample_datagram(s)) == 0);
    CHECK(f.counters.agent("drop_header_length") == 1);
}

TEST_CASE("header_length above frame_length, or stripped above frame_length, is clamped and counted") {
    Fixture f;
    auto s = tcp_sample();
    std::uint64_t bytes = 0;
    SUBCASE("frame shorter than the header") {
        enc::patch_u32(s.records[0].second, 4, 10);
        bytes = 10;
    }
    SUBCASE("stripped larger than the frame") {
        enc::patch_u32(s.records[0].second, 8, 5000);
        bytes = 1000;
    }
    REQUIRE(f.decode(one_sample_datagram(s)) == 1);
    CHECK(f.counters.agent("header_clamped") == 1);
    CHECK(ip(f.sink.records[0].src_ip) == "10.1.2.3"); // the header still decoded
    CHECK(f.sink.records[0].bytes == bytes);            // the frame length, as sfacctd counts it
}

TEST_CASE("sampling_rate 0 drops the sample without dividing by it") {
    Fixture f({true, false});
    CHECK(f.decode(one_sample_datagram(tcp_sample(0))) == 0);
    CHECK(f.counters.agent("drop_sampling_rate") == 1);
}

TEST_CASE("unknown sample formats, record formats and header protocols are skipped by length") {
    Fixture f;
    auto s = tcp_sample();
    s.records.push_back({(4413u << 12) | 5u, enc::Bytes(12, 0xee)}); // enterprise record
    enc::FlowSample odd;
    odd.records.push_back({sflow::kRecRawHeader, enc::raw_header(7, 100, 0, enc::Bytes(40, 1))}); // header protocol 7
    enc::Datagram d(kAgent, 0, 1, 1);
    d.add((4413u << 12) | 1u, enc::Bytes(20, 0xcc)); // enterprise sample
    d.add_flow(s);
    d.add_flow(odd);
    CHECK(f.decode(d.bytes()) == 2);
    CHECK(f.counters.agent("unknown_sample_format") == 1);
    CHECK(f.counters.agent("unknown_record_format") == 1);
    CHECK(f.counters.agent("unknown_header_protocol") == 1);
    CHECK(f.counters.drops() == 0);
}

TEST_CASE("agent address types other than IPv4 and IPv6 drop the datagram") {
    Fixture f;
    auto b = one_sample_datagram(tcp_sample());
    SUBCASE("type 0") { enc::patch_u32(b, 4, 0); }
    SUBCASE("type 3") { enc::patch_u32(b, 4, 3); }
    CHECK(f.decode(b) == 0);
    CHECK(f.counters.get("bad_agent_address") == 1);
    CHECK(f.decoder.agent_count() == 0);
}

TEST_CASE("versions other than 5 and datagrams shorter than a header are counted") {
    Fixture f;
    auto b = one_sample_datagram(tcp_sample());
    enc::patch_u32(b, 0, 4);
    CHECK(f.decode(b) == 0);
    CHECK(f.counters.get("bad_version") == 1);
    enc::Bytes tiny = {0, 0, 0, 5, 0, 0, 0, 1, 1, 2};
    CHECK(f.decode(tiny) == 0);
    CHECK(f.counters.get("short_datagram") == 1);
    CHECK(f.counters.get("rx_datagrams") == 2);
}

TEST_CASE("AS path and community counts beyond the gateway record are rejected before reading") {
    Fixture f;
    auto s = tcp_sample();
    auto gw = enc::ext_gateway(enc::Address::v4(1, 1, 1, 1), 1, 2, 3, {10, 20}, {7}, 100);
    SUBCASE("segment count") { enc::patch_u32(gw, 8 + 12, 0x40000000u); }
    SUBCASE("segment length") { enc::patch_u32(gw, 8 + 12 + 8, 0x40000000u); }
    SUBCASE("community count") { enc::patch_u32(gw, 8 + 12 + 4 + 8 + 8, 0x40000000u); }
    s.records.push_back({sflow::kRecExtGateway, gw});
    CHECK(f.decode(one_sample_datagram(s)) == 0);
    CHECK(f.counters.agent("drop_gateway_counts") == 1);
}

TEST_CASE("a next hop of an unknown address type drops the sample") {
    Fixture f;
    auto s = tcp_sample();
    auto router = enc::ext_router(enc::Address::v4(1, 1, 1, 1), 24, 24);
    enc::patch_u32(router, 0, 9);
    s.records.push_back({sflow::kRecExtRouter, router});
    CHECK(f.decode(one_sample_datagram(s)) == 0);
    CHECK(f.counters.agent("drop_address_type") == 1);
}

TEST_CASE("a sampled header whose IP header does not fit is dropped as l2l4_truncated") {
    Fixture f;
    enc::FlowSample s;
    auto header = enc::ethernet_ipv4(kSrc, kDst, 6, 1, 2, 40);
    header.resize(14 + 20);
    header[14] = 0x4f; // IHL 15: a 60-byte IP header in 20 captured bytes
    s.records.push_back({sflow::kRecRawHeader, enc::raw_header(sflow::kHeaderEthernet, 100, 4, header)});
    CHECK(f.decode(one_sample_datagram(s)) == 0);
    CHECK(f.counters.agent("l2l4_truncated") == 1);
}

TEST_CASE("bytes after the last sample are counted and the samples kept") {
    Fixture f;
    auto b = one_sample_datagram(tcp_sample());
    b.insert(b.end(), 6, 0);
    CHECK(f.decode(b) == 1);
    CHECK(f.counters.agent("trailing_bytes") == 1);
}

TEST_CASE("every truncation of a valid datagram decodes safely and never emits more") {
    enc::Datagram d(kAgent, 0, 1, 1);
    auto s = tcp_sample();
    s.records.push_back({sflow::kRecExtGateway, enc::ext_gateway(enc::Address::v4(1, 1, 1, 1), 1, 2, 3, {10}, {7}, 1)});
    d.add_flow(s);
    d.add(sflow::kCounterSample, enc::counter_sample_body(1, 1, {{sflow::kCntGenericInterface, enc::generic_if({})}}));
    d.add_flow(tcp_sample(1, true));
    const auto full = d.bytes();
    for (std::size_t n = 0; n < full.size(); ++n) {
        Fixture f;
        // A fresh copy of exactly n bytes, so a read past the end is a read past the allocation.
        enc::Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        const auto records = f.decode(cut);
        CHECK(records <= 1);
    }
}

TEST_CASE("agents beyond the table cap share one overflow state and are counted") {
    Fixture f;
    const auto s = tcp_sample();
    for (std::uint32_t i = 0; i <= sflow::Decoder::kMaxAgents; ++i) {
        enc::Datagram d(enc::Address::v4(10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                                         static_cast<std::uint8_t>(i)),
                        0, 1, 1);
        d.add_flow(s);
        f.decode(d.bytes());
    }
    CHECK(f.decoder.agent_count() == sflow::Decoder::kMaxAgents);
    CHECK(f.counters.get("agent_table_full") == 1);
    CHECK(f.counters.get("records{agent=overflow}") == 1);
    CHECK(f.sink.records.size() == sflow::Decoder::kMaxAgents + 1);
}
