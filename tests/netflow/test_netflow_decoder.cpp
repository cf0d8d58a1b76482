// SPDX-License-Identifier: GPL-2.0-or-later
// Unit tests of the NetFlow v5 / v9 / IPFIX decoder: fields, time encodings, templates,
// sampling, sequence numbers and every malformed input of RELIABILITY.md C1-C6.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include "decoder_helpers.hpp" // Harness, exporter, kExportSecs
#include "templates_file.hpp"  // load_templates, save_templates

using flowacct::gen::Writer;
using flowacct::test::exporter;
using flowacct::test::Harness;
using flowacct::test::ip_text;
using flowacct::test::kArrivalUs;
using flowacct::test::kExportSecs;
namespace nf = flowacct::netflow;

namespace {

constexpr std::uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) { return a << 24 | b << 16 | c << 8 | d; }

// A typical v9 data template (softflowd-like) and one record of it.
void v9_template_256(Writer& w) {
    w.set_begin(0).template_record(256, {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {5, 1}, {6, 1}, {10, 2},
                                         {14, 2}, {1, 4}, {2, 4}, {22, 4}, {21, 4}, {15, 4}, {16, 2}, {17, 2},
                                         {9, 1}, {13, 1}, {56, 6}, {80, 6}, {58, 2}})
        .set_end();
}
void v9_record_256(Writer& w, std::uint32_t src, std::uint32_t bytes, std::uint32_t first, std::uint32_t last) {
    w.ip4(src).ip4(ip(10, 0, 0, 2)).u16(1234).u16(80).u8(6).u8(0x10).u8(0x1b).u16(3).u16(4).u32(bytes).u32(10)
        .u32(first).u32(last).ip4(ip(10, 0, 0, 254)).u16(64512).u16(64513).u8(24).u8(16)
        .bytes("\x00\x11\x22\x33\x44\x55", 6).bytes("\x66\x77\x88\x99\xaa\xbb", 6).u16(100);
}

} // namespace

TEST_CASE("v5 datagram decodes every field with times from sysUptime") {
    Harness h;
    Writer w;
    w.v5_header(2, 100000, kExportSecs, 250000000, 7, 1, 3, 0);
    Writer::V5Record r;
    r.src = ip(10, 1, 1, 1); r.dst = ip(10, 2, 2, 2); r.nexthop = ip(10, 3, 3, 3);
    r.in = 5; r.out = 6; r.packets = 3; r.bytes = 1500; r.first = 90000; r.last = 99000;
    r.sport = 1000; r.dport = 53; r.flags = 0x12; r.proto = 17; r.tos = 8; r.src_as = 100; r.dst_as = 200;
    r.src_mask = 24; r.dst_mask = 16;
    w.v5_record(r).v5_record(r);
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 2);
    const fa_record& x = recs[0];
    CHECK(ip_text(x.src_ip) == "10.1.1.1");
    CHECK(ip_text(x.dst_ip) == "10.2.2.2");
    CHECK(ip_text(x.nexthop) == "10.3.3.3");
    CHECK(ip_text(x.peer_src_ip) == "192.0.2.1");
    CHECK(x.in_iface == 5); CHECK(x.out_iface == 6);
    CHECK(x.packets == 3); CHECK(x.bytes == 1500); CHECK(x.flows == 1);
    CHECK(x.src_port == 1000); CHECK(x.dst_port == 53);
    CHECK(x.tcp_flags == 0x12); CHECK(x.proto == 17); CHECK(x.tos == 8);
    CHECK(x.src_as == 100); CHECK(x.dst_as == 200); CHECK(x.src_mask == 24); CHECK(x.dst_mask == 16);
    CHECK(x.ip_version == 4); CHECK(x.engine_id == 3);
    CHECK(x.sampling_rate == 1);
    const std::uint64_t export_us = kExportSecs * 1000000 + 250000;
    CHECK(x.time_start_us == export_us - 10000 * 1000);
    CHECK(x.time_end_us == export_us - 1000 * 1000);
    CHECK(h.c("records") == 2);
    CHECK(h.c("rx_datagrams") == 1);
}

TEST_CASE("v5 sampling interval from the header is reported or renormalized") {
    Writer w;
    w.v5_header(1, 1000, kExportSecs, 0, 0, 0, 0, 0x4000 | 100);
    Writer::V5Record r; r.packets = 2; r.bytes = 200; r.first = r.last = 1000;
    w.v5_record(r);
    SUBCASE("reported") {
        Harness h;
        auto recs = h.feed(w);
        REQUIRE(recs.size() == 1);
        CHECK(recs[0].sampling_rate == 100);
        CHECK(recs[0].packets == 2);
    }
    SUBCASE("renormalized") {
        nf::DecoderOptions o; o.renormalize = true;
        Harness h(o);
        auto recs = h.feed(w);
        REQUIRE(recs.size() == 1);
        CHECK(recs[0].sampling_rate == 1);
        CHECK(recs[0].packets == 200);
        CHECK(recs[0].bytes == 20000);
    }
}

TEST_CASE("v9 template and data decode every common field") {
    Harness h;
    Writer w;
    w.v9_header(2, 100000, kExportSecs, 1, 42);
    v9_template_256(w);
    w.set_begin(256);
    v9_record_256(w, ip(10, 0, 0, 1), 5000, 40000, 99000);
    w.set_end(4);
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    const fa_record& x = recs[0];
    CHECK(ip_text(x.src_ip) == "10.0.0.1");
    CHECK(ip_text(x.dst_ip) == "10.0.0.2");
    CHECK(ip_text(x.nexthop) == "10.0.0.254");
    CHECK(x.src_port == 1234); CHECK(x.dst_port == 80);
    CHECK(x.proto == 6); CHECK(x.tos == 0x10); CHECK(x.tcp_flags == 0x1b);
    CHECK(x.in_iface == 3); CHECK(x.out_iface == 4);
    CHECK(x.bytes == 5000); CHECK(x.packets == 10);
    CHECK(x.src_as == 64512); CHECK(x.dst_as == 64513);
    CHECK(x.src_mask == 24); CHECK(x.dst_mask == 16);
    CHECK(x.src_mac[0] == 0x00); CHECK(x.src_mac[5] == 0x55);
    CHECK(x.dst_mac[0] == 0x66); CHECK(x.dst_mac[5] == 0xbb);
    CHECK(x.vlan == 100);
    CHECK(x.engine_id == 42);
    CHECK(x.time_start_us == kExportSecs * 1000000 - 60000 * 1000);
    CHECK(x.time_end_us == kExportSecs * 1000000 - 1000 * 1000);
    CHECK(h.c("tmpl_added") == 1);
    CHECK(h.c("v9_count_mismatch") == 0);
}

TEST_CASE("integer fields decode at every size an exporter may reduce them to (RFC 7011 6.2)") {
    // Each integer field has a handler per load width (1, 2, 4, 8 bytes) and one for the others.
    Harness h;
    Writer w;
    w.v9_header(2, 100000, kExportSecs, 1, 0);
    w.set_begin(0)
        .template_record(300, {{1, 8}, {2, 3}, {10, 1}, {14, 2}, {7, 4}, {11, 5}, {4, 2}, {16, 4}, {17, 8}, {8, 4},
                               {12, 4}, {5, 6}, {6, 7}, {58, 1}})
        .set_end();
    w.set_begin(300);
    w.u64(0x0102030405060708ull)          // bytes, 8
        .bytes("\x0a\x0b\x0c", 3)          // packets, 3
        .u8(7)                            // in_iface, 1
        .u16(0x0102)                      // out_iface, 2
        .u32(80)                          // src_port, 4
        .bytes("\x00\x00\x00\x01\xbb", 5)  // dst_port, 5
        .u16(17)                          // proto, 2
        .u32(4200000000u)                 // src_as, 4
        .u64(65000)                       // dst_as, 8
        .ip4(ip(10, 0, 0, 1)).ip4(ip(10, 0, 0, 2))
        .bytes("\x00\x00\x00\x00\x00\xb8", 6)  // tos, 6
        .bytes("\x00\x00\x00\x00\x00\x00\x12", 7)  // tcp_flags, 7
        .u8(42);                          // vlan, 1
    w.set_end(4);
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    const fa_record& x = recs[0];
    CHECK(x.bytes == 0x0102030405060708ull);
    CHECK(x.packets == 0x0a0b0c);
    CHECK(x.in_iface == 7);
    CHECK(x.out_iface == 0x0102);
    CHECK(x.src_port == 80);
    CHECK(x.dst_port == 443);
    CHECK(x.proto == 17);
    CHECK(x.src_as == 4200000000u);
    CHECK(x.dst_as == 65000);
    CHECK(ip_text(x.src_ip) == "10.0.0.1");
    CHECK(ip_text(x.dst_ip) == "10.0.0.2");
    CHECK(x.tos == 0xb8);
    CHECK(x.tcp_flags == 0x12);
    CHECK(x.vlan == 42);
    CHECK(h.c("bad_field_len") == 0);
    CHECK(h.c("tmpl_added") == 1);
}

TEST_CASE("v9 first switched just before a sysUptime wrap is in the past, not 49 days ahead") {
    Harness h;
    Writer w;
    w.v9_header(2, 1000, kExportSecs, 1, 0);
    v9_template_256(w);
    w.set_begin(256);
    v9_record_256(w, ip(10, 0, 0, 1), 100, 0xFFFFFF00u, 900);
    w.set_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    // (1000 - 0xFFFFFF00) mod 2^32 = 1256 ms before the export.
    CHECK(recs[0].time_start_us == kExportSecs * 1000000 - 1256 * 1000);
    CHECK(recs[0].time_end_us == kExportSecs * 1000000 - 100 * 1000);
    CHECK(h.c("ts_future") == 0);
}

TEST_CASE("IPFIX decodes IPv6 addresses and skips enterprise and variable-length fields") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 7);
    w.set_begin(2).template_record(300, {{27, 16}, {28, 16}, {7, 2}, {11, 2}, {4, 1}, {6, 2}, {1, 8}, {2, 8},
                                         {100, 0xFFFF, 9}, {82, 0xFFFF}, {152, 8}, {153, 8}, {62, 16}, {29, 1},
                                         {30, 1}, {128, 4}, {129, 4}, {256, 2}})
        .set_end();
    w.set_begin(300);
    const std::uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const std::uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    for (int i = 0; i < 2; ++i) {
        w.bytes(a, 16).bytes(b, 16).u16(443).u16(50000 + i).u8(6).u16(0x0002).u64(1000).u64(2);
        w.u8(3).bytes("abc", 3);             // enterprise varlen, short form
        w.u8(255).u16(4).bytes("eth0", 4);   // interfaceName, long form
        w.u64(kExportSecs * 1000 - 2000).u64(kExportSecs * 1000 - 1000).bytes(b, 16).u8(64).u8(48).u32(65001).u32(65002)
            .u16(0x86DD);
    }
    w.u8(0).u8(0).u8(0); // set padding after var-len records
    w.set_end();
    w.ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 2);
    const fa_record& x = recs[1];
    CHECK(ip_text(x.src_ip) == "2001:db8::1");
    CHECK(ip_text(x.dst_ip) == "2001:db8::2");
    CHECK(ip_text(x.nexthop) == "2001:db8::2");
    CHECK(x.ip_version == 6);
    CHECK(x.src_port == 443); CHECK(x.dst_port == 50001);
    CHECK(x.tcp_flags == 2);
    CHECK(x.bytes == 1000); CHECK(x.packets == 2);
    CHECK(x.src_mask == 64); CHECK(x.dst_mask == 48);
    CHECK(x.peer_dst_as == 65001); CHECK(x.peer_src_as == 65002);
    CHECK(x.ether_type == 0x86DD);
    CHECK(x.engine_id == 7);
    CHECK(x.time_start_us == (kExportSecs * 1000 - 2000) * 1000);
    CHECK(x.time_end_us == (kExportSecs * 1000 - 1000) * 1000);
    CHECK(h.c("bad_varlen") == 0);
}

TEST_CASE("IPFIX flow times decode in every encoding") {
    const std::uint64_t t0 = kExportSecs - 10; // flow start, seconds
    const std::uint64_t ntp = (t0 + 2208988800ull) << 32 | 0x80000000u; // + 0.5 s
    struct Case { const char* name; std::uint16_t start_ie, end_ie, len; std::uint64_t start, end, expect_start_us; };
    const Case cases[] = {
        {"seconds", 150, 151, 4, t0, t0 + 5, t0 * 1000000},
        {"milliseconds", 152, 153, 8, t0 * 1000 + 7, t0 * 1000 + 5007, t0 * 1000000 + 7000},
        {"microseconds", 154, 155, 8, ntp, ntp, t0 * 1000000 + 500000},
        {"nanoseconds", 156, 157, 8, ntp, ntp, t0 * 1000000 + 500000},
        {"delta microseconds", 158, 159, 4, 10000000, 5000000, t0 * 1000000},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 1);
        w.set_begin(2).template_record(400, {{8, 4}, {c.start_ie, c.len}, {c.end_ie, c.len}}).set_end();
        w.set_begin(400).ip4(ip(1, 2, 3, 4)).uint(c.start, c.len).uint(c.end, c.len).set_end();
        w.ipfix_end();
        auto recs = h.feed(w);
        REQUIRE(recs.size() == 1);
        CHECK(recs[0].time_start_us == c.expect_start_us);
        CHECK(recs[0].time_end_us >= recs[0].time_start_us);
    }
}

TEST_CASE("IPFIX sysUpTime times are relative to systemInitTimeMilliseconds from options data") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 1);
    w.set_begin(3).ipfix_options_template(500, 1, {{149, 4}, {160, 8}}).set_end();
    w.set_begin(2).template_record(401, {{8, 4}, {22, 4}, {21, 4}}).set_end();
    w.set_begin(500).u32(1).u64((kExportSecs - 3600) * 1000).set_end();
    w.set_begin(401).ip4(ip(1, 2, 3, 4)).u32(3000000).u32(3001000).set_end();
    w.ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].time_start_us == ((kExportSecs - 3600) * 1000 + 3000000) * 1000);
    CHECK(recs[0].time_end_us == ((kExportSecs - 3600) * 1000 + 3001000) * 1000);
    CHECK(h.c("options_records") == 1);
}

TEST_CASE("templates are scoped by exporter address and source id, not by source port") {
    Harness h;
    auto send = [&](const nf::Exporter& from, std::uint32_t source_id, bool wide) {
        Writer w;
        w.v9_header(2, 1000, kExportSecs, 0, source_id);
        if (wide) w.set_begin(0).template_record(256, {{8, 4}, {1, 8}}).set_end();
        else w.set_begin(0).template_record(256, {{8, 4}, {1, 2}}).set_end();
        return h.feed(w, from);
    };
    send(exporter("192.0.2.1", 5000), 1, true);
    send(exporter("192.0.2.1", 5000), 2, false);
    send(exporter("192.0.2.9", 5000), 1, false);
    auto data = [&](const nf::Exporter& from, std::uint32_t source_id) {
        Writer w;
        w.v9_header(1, 1000, kExportSecs, 1, source_id);
        // 12 bytes: one record of the wide layout, or two of the narrow one.
        w.set_begin(256).ip4(ip(9, 9, 9, 9)).u64(0x0102).set_end();
        return h.feed(w, from).size();
    };
    CHECK(data(exporter("192.0.2.1", 5000), 1) == 1);
    CHECK(data(exporter("192.0.2.1", 5000), 2) == 2);
    CHECK(data(exporter("192.0.2.1", 5001), 1) == 1); // an exporter restarted on a new port
    CHECK(data(exporter("192.0.2.9", 5000), 1) == 2);
    CHECK(data(exporter("192.0.2.1", 5000), 3) == 0);
    CHECK(h.c("no_template") == 1);
}

TEST_CASE("a template redefined between two data sets applies from its position on") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 1);
    w.set_begin(2).template_record(256, {{8, 4}, {2, 4}}).set_end();
    w.set_begin(256).ip4(ip(1, 1, 1, 1)).u32(5).set_end();
    w.set_begin(2).template_record(256, {{8, 4}, {2, 8}, {7, 2}}).set_end();
    w.set_begin(256).ip4(ip(2, 2, 2, 2)).u64(6).u16(99).set_end();
    w.ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].packets == 5);
    CHECK(recs[1].packets == 6);
    CHECK(recs[1].src_port == 99);
    CHECK(h.c("tmpl_replaced") == 1);
    // The same layout again is a refresh, not a replacement.
    Writer again;
    again.ipfix_header(kExportSecs, 2, 1).set_begin(2).template_record(256, {{8, 4}, {2, 8}, {7, 2}}).set_end().ipfix_end();
    h.feed(again);
    CHECK(h.c("tmpl_refreshed") == 1);
    CHECK(h.c("tmpl_replaced") == 1);
}

TEST_CASE("data before its template is counted, then decodes once the template arrives") {
    Harness h;
    Writer data;
    data.v9_header(1, 1000, kExportSecs, 0, 0).set_begin(256);
    v9_record_256(data, ip(10, 0, 0, 1), 1, 1000, 1000);
    data.set_end();
    CHECK(h.feed(data).empty());
    CHECK(h.c("no_template") == 1);
    Writer tmpl;
    tmpl.v9_header(1, 1000, kExportSecs, 1, 0);
    v9_template_256(tmpl);
    h.feed(tmpl);
    CHECK(h.feed(data).size() == 1);
}

TEST_CASE("IPFIX template withdrawal over UDP is ignored") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 1);
    w.set_begin(2).template_record(256, {{8, 4}}).set_end();
    w.set_begin(2).u16(256).u16(0).u16(2).u16(0).set_end(); // withdraw 256, then all
    w.set_begin(256).ip4(ip(1, 1, 1, 1)).set_end();
    w.ipfix_end();
    CHECK(h.feed(w).size() == 1);
    CHECK(h.c("udp_withdrawal_ignored") == 2);
}

TEST_CASE("v9 options data maps sampler ids to intervals") {
    nf::DecoderOptions o;
    SUBCASE("reported") {}
    SUBCASE("renormalized") { o.renormalize = true; }
    Harness h(o);
    Writer w;
    w.v9_header(4, 1000, kExportSecs, 0, 0);
    w.set_begin(1).v9_options_template(257, {{1, 4}}, {{48, 1}, {49, 1}, {50, 4}}).set_end(4);
    w.set_begin(0).template_record(258, {{8, 4}, {1, 4}, {2, 4}, {48, 1}}).set_end();
    w.set_begin(257).u32(0).u8(1).u8(2).u32(100).u32(0).u8(2).u8(2).u32(1000).set_end(4);
    w.set_begin(258).ip4(ip(1, 1, 1, 1)).u32(100).u32(1).u8(1).ip4(ip(2, 2, 2, 2)).u32(100).u32(1).u8(2).set_end(4);
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 2);
    CHECK(h.c("options_records") == 2);
    if (o.renormalize) {
        CHECK(recs[0].packets == 100); CHECK(recs[0].bytes == 10000); CHECK(recs[0].sampling_rate == 1);
        CHECK(recs[1].packets == 1000); CHECK(recs[1].sampling_rate == 1);
    } else {
        CHECK(recs[0].packets == 1); CHECK(recs[0].sampling_rate == 100);
        CHECK(recs[1].sampling_rate == 1000);
    }
    CHECK(h.c("v9_count_mismatch") == 1); // header said 4, the datagram holds 6 records
}

TEST_CASE("IPFIX options with packet interval and space give the sampling rate") {
    nf::DecoderOptions o; o.renormalize = true;
    Harness h(o);
    Writer w;
    w.ipfix_header(kExportSecs, 0, 1);
    w.set_begin(3).ipfix_options_template(600, 1, {{302, 4}, {305, 4}, {306, 4}}).set_end();
    w.set_begin(2).template_record(601, {{8, 4}, {2, 4}}).set_end();
    w.set_begin(600).u32(5).u32(1).u32(63).set_end();
    w.set_begin(601).ip4(ip(1, 1, 1, 1)).u32(3).set_end();
    w.ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].packets == 3 * 64);
    CHECK(recs[0].sampling_rate == 1);
}

TEST_CASE("sampling interval 0 in options data is invalid and counted") {
    Harness h;
    Writer w;
    w.v9_header(2, 1000, kExportSecs, 0, 0);
    w.set_begin(1).v9_options_template(257, {{1, 4}}, {{34, 4}}).set_end();
    w.set_begin(257).u32(0).u32(0).set_end();
    h.feed(w);
    CHECK(h.c("sampling_invalid") == 1);
}

TEST_CASE("v9 sequence numbers count lost, duplicate, reordered packets and resets") {
    Harness h;
    auto send = [&](std::uint32_t seq, std::uint32_t uptime = 100000) {
        Writer w;
        w.v9_header(0, uptime, kExportSecs, seq, 0);
        h.feed(w);
    };
    send(10);
    send(11);
    send(15); // 12, 13, 14 lost
    CHECK(h.c("seq_lost") == 3);
    send(15);
    CHECK(h.c("seq_dup") == 1);
    send(13);
    CHECK(h.c("seq_reordered") == 1);
    send(16);
    send(0, 500); // the exporter rebooted: uptime went back
    CHECK(h.c("seq_reset") == 1);
    send(1, 600);
    CHECK(h.c("seq_lost") == 3);
    send(0x7FFFFFFF, 700); // a jump no loss explains
    CHECK(h.c("seq_reset") == 2);
    send(0x80000000, 0xFFFFFF00u);
    send(0x80000001, 100); // sysUptime wrapped after 49.7 days: not a reboot
    CHECK(h.c("seq_reset") == 2);
    CHECK(h.c("seq_lost") == 3);
}

TEST_CASE("IPFIX sequence numbers count data records and wrap at 2^32") {
    Harness h;
    auto send = [&](std::uint32_t seq, int records) {
        Writer w;
        w.ipfix_header(kExportSecs, seq, 3);
        w.set_begin(2).template_record(256, {{8, 4}}).set_end();
        w.set_begin(256);
        for (int i = 0; i < records; ++i) w.ip4(ip(1, 1, 1, 1));
        w.set_end().ipfix_end();
        h.feed(w);
    };
    send(0xFFFFFFFE, 3);
    send(1, 2); // 0xFFFFFFFE + 3 wraps to 1
    CHECK(h.c("seq_lost") == 0);
    send(8, 1); // 3..7 lost
    CHECK(h.c("seq_lost") == 5);
    CHECK(h.c("seq_reset") == 0);
}

TEST_CASE("v5 sequence numbers count flows per engine") {
    Harness h;
    auto send = [&](std::uint32_t seq, std::uint16_t count, std::uint8_t engine) {
        Writer w;
        w.v5_header(count, 1000, kExportSecs, 0, seq, 0, engine);
        for (int i = 0; i < count; ++i) w.v5_record({});
        h.feed(w);
    };
    send(0, 30, 1);
    send(100, 5, 2);
    send(30, 10, 1);
    send(105, 1, 2);
    CHECK(h.c("seq_lost") == 0);
    send(50, 1, 1); // 40..49 lost
    CHECK(h.c("seq_lost") == 10);
}

// ---- malformed inputs (RELIABILITY.md C1-C6) ------------------------------------------

TEST_CASE("short datagrams are dropped and counted") {
    for (std::size_t n : {0, 1, 3, 19, 23}) {
        CAPTURE(n);
        Harness h;
        std::vector<std::uint8_t> d(n, 0);
        if (n >= 2) d[1] = n == 19 ? 9 : 5; // v9 needs 20 bytes, v5 24
        CHECK(h.feed(d).empty());
        CHECK(h.c("short_datagram") == 1);
    }
}

TEST_CASE("unknown versions are dropped and counted") {
    for (std::uint16_t v : {0, 1, 8, 11, 0xFFFF}) {
        Harness h;
        Writer w;
        w.u16(v).zeros(30);
        CHECK(h.feed(w).empty());
        CHECK(h.c("bad_version") == 1);
    }
}

TEST_CASE("v5 count that overstates or is out of range drops the datagram") {
    for (std::uint16_t count : {0, 31, 30}) {
        CAPTURE(count);
        Harness h;
        Writer w;
        w.v5_header(count, 0, kExportSecs, 0, 0);
        for (int i = 0; i < 28; ++i) w.v5_record({});
        CHECK(h.feed(w).empty());
        CHECK(h.c("v5_count_mismatch") == 1);
    }
}

TEST_CASE("IPFIX message length other than the datagram drops it") {
    for (std::uint16_t len : {0, 15, 200, 20}) {
        CAPTURE(len);
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, {{8, 4}}).set_end();
        w.patch16(2, len);
        h.feed(w);
        CHECK(h.c("bad_msg_len") == 1);
        CHECK(h.c("tmpl_added") == 0);
    }
}

TEST_CASE("set length 0, 1-3 or past the datagram drops the rest without looping") {
    for (std::uint16_t set_len : {0, 1, 3, 0xFFFF}) {
        CAPTURE(set_len);
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, {{8, 4}}).set_end();
        w.u16(256).u16(set_len).zeros(8).ipfix_end();
        h.feed(w);
        CHECK(h.c("bad_set_len") == 1);
        CHECK(h.c("tmpl_added") == 1); // the sets before are kept
    }
}

TEST_CASE("v9 zero padding after the last flowset is accepted and counted") {
    Harness h;
    Writer w;
    w.v9_header(2, 1000, kExportSecs, 0, 0);
    v9_template_256(w);
    w.set_begin(256);
    v9_record_256(w, ip(1, 1, 1, 1), 1, 1, 1);
    w.set_end().zeros(1408 - w.size());
    CHECK(h.feed(w).size() == 1);
    CHECK(h.c("pad_bytes") > 0);
    CHECK(h.c("bad_set_len") == 0);
}

TEST_CASE("reserved set ids are skipped by length") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 0);
    w.set_begin(0).zeros(4).set_end().set_begin(1).zeros(4).set_end().set_begin(4).set_end().set_begin(255).set_end();
    w.set_begin(2).template_record(256, {{8, 4}}).set_end().ipfix_end();
    h.feed(w);
    CHECK(h.c("reserved_set_id") == 4);
    CHECK(h.c("tmpl_added") == 1);
}

TEST_CASE("bad templates are rejected and data for them never loops") {
    SUBCASE("template id below 256") {
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(255, {{8, 4}}).set_end().ipfix_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("v9 field count 0") {
        Harness h;
        Writer w;
        w.v9_header(1, 0, kExportSecs, 0, 0).set_begin(0).u16(256).u16(0).set_end();
        w.set_begin(256).zeros(100).set_end();
        CHECK(h.feed(w).empty());
        CHECK(h.c("tmpl_rejected") == 1);
        CHECK(h.c("no_template") == 1);
    }
    SUBCASE("every field of length 0") {
        Harness h;
        Writer w;
        w.v9_header(1, 0, kExportSecs, 0, 0).set_begin(0).template_record(256, {{8, 0}, {12, 0}}).set_end();
        w.set_begin(256).zeros(1).set_end();
        CHECK(h.feed(w).empty());
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("too many fields") {
        Harness h;
        Writer w;
        std::vector<Writer::Field> fields(16383 / 2, Writer::Field{1, 1});
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, fields).set_end().ipfix_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("record longer than any message") {
        Harness h;
        Writer w;
        std::vector<Writer::Field> fields(300, Writer::Field{1, 255});
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, fields).set_end().ipfix_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("field count past the set") {
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).u16(256).u16(1000).u16(8).u16(4).set_end().ipfix_end();
        h.feed(w);
        CHECK(h.c("bad_set_len") == 1);
        CHECK(h.c("tmpl_added") == 0);
    }
}

TEST_CASE("known elements with an oversized length are decoded as opaque") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 0);
    w.set_begin(2).template_record(256, {{8, 50}, {12, 3}, {27, 4}, {56, 8}, {2, 16}, {7, 2}}).set_end();
    w.set_begin(256).zeros(50 + 3 + 4 + 8 + 16).u16(77).set_end().ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].src_port == 77);
    CHECK(recs[0].ip_version == 0);
    CHECK(h.c("bad_field_len") == 5);
}

TEST_CASE("variable-length field running past its set drops the rest of the set") {
    for (int form = 0; form < 2; ++form) {
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, {{8, 4}, {82, 0xFFFF}}).set_end();
        w.set_begin(256).ip4(ip(1, 1, 1, 1)).u8(2).u16(0x6566);            // a good record
        w.ip4(ip(2, 2, 2, 2));
        if (form == 0) w.u8(254).zeros(10);
        else w.u8(255).u16(0xFFFF);
        w.set_end().ipfix_end();
        CHECK(h.feed(w).size() == 1);
        CHECK(h.c("bad_varlen") == 1);
    }
}

TEST_CASE("options templates with a bad scope are rejected") {
    SUBCASE("IPFIX scope count 0") {
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(3).ipfix_options_template(256, 0, {{34, 4}}).set_end().ipfix_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("IPFIX scope count above the field count") {
        Harness h;
        Writer w;
        w.ipfix_header(kExportSecs, 0, 0).set_begin(3).ipfix_options_template(256, 3, {{34, 4}}).set_end().ipfix_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("v9 scope length not a multiple of 4") {
        Harness h;
        Writer w;
        w.v9_header(1, 0, kExportSecs, 0, 0).set_begin(1).u16(256).u16(6).u16(4).zeros(10).set_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
    SUBCASE("v9 option length past the flowset") {
        Harness h;
        Writer w;
        w.v9_header(1, 0, kExportSecs, 0, 0).set_begin(1).u16(256).u16(4).u16(400).zeros(8).set_end();
        h.feed(w);
        CHECK(h.c("tmpl_rejected") == 1);
    }
}

TEST_CASE("timestamps far in the future or past are clamped to the arrival time") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, {{8, 4}, {150, 4}, {151, 4}}).set_end();
    w.set_begin(256).ip4(1).u32(kExportSecs + 365 * 86400).u32(kExportSecs + 365 * 86400);
    w.ip4(2).u32(1).u32(2).set_end().ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].time_end_us == kArrivalUs);
    CHECK(recs[1].time_end_us == kArrivalUs);
    CHECK(h.c("ts_future") == 1);
    CHECK(h.c("ts_stale") == 1);
}

TEST_CASE("arrival time replaces exporter time with nfacctd_time_new") {
    nf::DecoderOptions o; o.time_new = true;
    Harness h(o);
    Writer w;
    w.v5_header(1, 1000, kExportSecs - 100, 0, 0);
    Writer::V5Record r; r.first = 10; r.last = 900;
    w.v5_record(r);
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].time_start_us == kArrivalUs);
    CHECK(recs[0].time_end_us == kArrivalUs);
}

TEST_CASE("absurd counters are kept, saturated and counted") {
    nf::DecoderOptions o; o.renormalize = true;
    Harness h(o);
    Writer w;
    w.ipfix_header(kExportSecs, 0, 0);
    w.set_begin(3).ipfix_options_template(257, 1, {{149, 4}, {34, 4}}).set_end();
    w.set_begin(257).u32(0).u32(0xFFFFFFFF).set_end();
    w.set_begin(2).template_record(256, {{1, 8}, {2, 8}}).set_end();
    w.set_begin(256).u64(~0ull).u64(1).u64(100).u64(0).set_end().ipfix_end();
    auto recs = h.feed(w);
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].bytes == ~0ull);
    CHECK(h.c("counter_sanity") >= 2);
}

TEST_CASE("templates per domain and exporters are bounded with counted evictions") {
    nf::DecoderOptions o;
    o.max_templates = 4;
    o.max_sessions = 2;
    Harness h(o);
    Writer w;
    w.ipfix_header(kExportSecs, 0, 0).set_begin(2);
    for (std::uint16_t id = 256; id < 266; ++id) w.template_record(id, {{8, 4}});
    w.set_end().ipfix_end();
    h.feed(w);
    CHECK(h.c("tmpl_added") == 10);
    CHECK(h.c("tmpl_evicted") == 6);
    CHECK(h.dec.templates().size() == 4);
    h.feed(w, exporter("192.0.2.2"));
    h.feed(w, exporter("192.0.2.3"));
    CHECK(*h.dec.global(nf::Cnt::ExporterEvicted) == 1);
    CHECK(h.dec.templates().size() == 8);
}

TEST_CASE("a template file round-trips and a corrupt one loads what parses") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 5);
    w.set_begin(2).template_record(256, {{8, 4}, {100, 0xFFFF, 9}}).set_end();
    w.set_begin(3).ipfix_options_template(257, 1, {{149, 4}, {34, 4}}).set_end().ipfix_end();
    h.feed(w);
    const std::string path = std::string(FLOWACCT_TEST_BINARY_DIR) + "/netflow_templates_test.txt";
    REQUIRE(nf::save_templates(path, h.dec.templates()).empty());
    auto got = nf::load_templates(path);
    CHECK(got.bad_lines == 0);
    REQUIRE(got.templates.size() == 2);
    Harness fresh;
    for (const auto& def : got.templates) CHECK(fresh.dec.install(def, kArrivalUs));
    Writer data;
    data.ipfix_header(kExportSecs, 0, 5).set_begin(256).ip4(ip(1, 1, 1, 1)).u8(0).set_end().ipfix_end();
    CHECK(fresh.feed(data).size() == 1);

    std::FILE* f = std::fopen(path.c_str(), "a");
    std::fputs("10 ::ffff:1.2.3.4 5 0 300 0 0 3 8/4/0 12/4\ngarbage\n\x01\x02", f);
    std::fclose(f);
    got = nf::load_templates(path);
    CHECK(got.templates.size() == 2);
    CHECK(got.bad_lines == 3);
    CHECK_FALSE(nf::save_templates("/nonexistent-dir/x", got.templates).empty());
    std::remove(path.c_str());
}

TEST_CASE("a template not refreshed within its lifetime expires and its data is counted as no_template") {
    nf::DecoderOptions o;
    o.template_lifetime_us = 600ull * 1000000;
    Harness h(o);
    Writer t;
    t.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, {{8, 4}}).set_end().ipfix_end();
    h.feed(t);
    Writer d;
    d.ipfix_header(kExportSecs, 0, 0).set_begin(256).ip4(ip(1, 1, 1, 1)).set_end().ipfix_end();
    CHECK(h.feed(d, exporter(), kArrivalUs + 599ull * 1000000).size() == 1);
    h.feed(t, exporter(), kArrivalUs + 500ull * 1000000); // a refresh restarts the lifetime
    CHECK(h.feed(d, exporter(), kArrivalUs + 1000ull * 1000000).size() == 1);
    CHECK(h.feed(d, exporter(), kArrivalUs + 1101ull * 1000000).empty());
    CHECK(h.c("tmpl_expired") == 1);
    CHECK(h.c("no_template") == 1);
    CHECK(h.dec.templates().empty());
}

namespace {
struct Lines final : nf::DecodeLog {
    std::vector<std::string> lines;
    void warn(const std::string& l) override { lines.push_back(l); }
};
} // namespace

TEST_CASE("a flood of malformed datagrams logs one line a second with a suppressed count") {
    flowacct::test::MapCounters counters;
    Lines log;
    nf::Decoder dec({}, counters, &log);
    nf::VectorSink sink;
    const std::uint8_t bad[4] = {0, 11, 0, 0};
    for (int i = 0; i < 200000; ++i) dec.decode(bad, sizeof bad, exporter(), kArrivalUs + i, sink); // 0.2 s
    dec.decode(bad, sizeof bad, exporter(), kArrivalUs + 2000000, sink);
    CHECK(counters.get("bad_version") == 200001);
    REQUIRE(log.lines.size() == 2);
    CHECK(log.lines[0].find("bad_version") != std::string::npos);
    CHECK(log.lines[1].find("199999 similar lines suppressed") != std::string::npos);
}

TEST_CASE("an IPFIX message of the maximum length 65535 decodes completely") {
    Harness h;
    Writer w;
    w.ipfix_header(kExportSecs, 0, 0).set_begin(2).template_record(256, {{8, 4}, {2, 4}, {82, 0xFFFF}}).set_end();
    w.set_begin(256);
    std::size_t records = 0;
    while (w.size() + 11 <= 65535 - 3) {
        w.ip4(ip(1, 1, 1, 1)).u32(1).u8(2).u16(0x6566);
        ++records;
    }
    // The last record stretches its var-len field to fill the message; padding (RFC 7011
    // §3.3.1) must stay shorter than a record, so none is left.
    const std::size_t room = 65535 - w.size();
    REQUIRE(room >= 9);
    w.ip4(ip(1, 1, 1, 1)).u32(1).u8(room - 9).zeros(room - 9);
    ++records;
    w.set_end().ipfix_end();
    REQUIRE(w.size() == 65535);
    CHECK(h.feed(w).size() == records);
    CHECK(h.c("bad_msg_len") == 0);
    CHECK(h.c("bad_varlen") == 0);
}

TEST_CASE("observation domains and sampler ids per exporter are bounded and the excess counted") {
    nf::DecoderOptions o;
    o.max_domains = 4;
    o.max_samplers = 2;
    Harness h(o);
    for (std::uint32_t odid = 0; odid < 100; ++odid) {
        Writer w;
        w.ipfix_header(kExportSecs, 0, odid).set_begin(2).template_record(256, {{8, 4}}).set_end().ipfix_end();
        h.feed(w);
    }
    CHECK(h.c("domain_rejected") == 96);
    CHECK(h.dec.templates().size() == 4);
    Writer w;
    w.v9_header(1, 1000, kExportSecs, 0, 0);
    w.set_begin(1).v9_options_template(257, {{1, 4}}, {{48, 1}, {50, 4}}).set_end(4);
    w.set_begin(257);
    for (std::uint8_t id = 1; id <= 5; ++id) w.u32(0).u8(id).u32(10u * id);
    w.set_end(4);
    h.feed(w, exporter("192.0.2.7"));
    CHECK(h.c("sampler_rejected", "192.0.2.7") == 3);
    CHECK(h.c("options_records", "192.0.2.7") == 5);
}
