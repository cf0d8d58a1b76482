// SPDX-License-Identifier: GPL-2.0-or-later
// Decoder tests: every link type, tags, IPv6 extension headers, fragments, truncation at every offset.
#include <doctest/doctest.h>   // TEST_CASE, CHECK, SUBCASE

#include <cstring>             // std::memcmp

#include "frames.hpp"          // hand-built frames
#include "packet_decode.hpp"   // decode_frame, decode_ip

using namespace flowacct::packet;
using namespace flowacct::test;

namespace {

struct Decoded {
    DecodeResult result;
    fa_record rec{};
    L4View l4;
    FragmentInfo frag;
};

Decoded decode(int dlt, const Bytes& b, std::uint32_t caplen = 0xffffffffu) {
    Decoded d;
    std::uint32_t len = caplen > b.size() ? static_cast<std::uint32_t>(b.size()) : caplen;
    d.result = decode_frame(dlt, b.data(), len, static_cast<std::uint32_t>(b.size()), d.rec, d.l4, d.frag);
    return d;
}

const std::uint8_t kV4Src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
const std::uint8_t kV4Dst[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
const std::uint8_t kV6Src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

} // namespace

TEST_CASE("an Ethernet IPv4 TCP frame fills every L2-L4 field and counts the IP total length") {
    Bytes b = eth_v4_tcp(40000, 443, 0x12);
    b[15] = 0xb8;  // TOS
    Decoded d = decode(kDltEthernet, b);
    REQUIRE(d.result == DecodeResult::Ok);
    const std::uint8_t src_mac[6] = {2, 0, 0, 0, 0, 1}, dst_mac[6] = {2, 0, 0, 0, 0, 2};
    CHECK(std::memcmp(d.rec.src_mac, src_mac, 6) == 0);
    CHECK(std::memcmp(d.rec.dst_mac, dst_mac, 6) == 0);
    CHECK(d.rec.ether_type == 0x0800);
    CHECK(d.rec.ip_version == 4);
    CHECK(std::memcmp(d.rec.src_ip, kV4Src, 16) == 0);
    CHECK(std::memcmp(d.rec.dst_ip, kV4Dst, 16) == 0);
    CHECK(d.rec.proto == 6);
    CHECK(d.rec.tos == 0xb8);
    CHECK(d.rec.src_port == 40000);
    CHECK(d.rec.dst_port == 443);
    CHECK(d.rec.tcp_flags == 0x12);
    CHECK(d.rec.packets == 1);
    CHECK(d.rec.bytes == 50);
    CHECK(d.rec.flows == 0);
    CHECK(d.rec.vlan == 0);
    CHECK((d.rec.flags & FA_REC_FRAGMENT) == 0);
    CHECK(d.l4.payload_len == 10);
    CHECK(d.l4.payload == b.data() + 14 + 20 + 20);
}

TEST_CASE("Ethernet padding is neither counted in bytes nor taken for payload") {
    Bytes b;
    ether(b, 0x0800);
    ipv4(b, 17, 28);
    udp(b, 53, 5353, 8);
    payload(b, 60 - b.size(), 0);  // pad to the Ethernet minimum
    Decoded d = decode(kDltEthernet, b);
    REQUIRE(d.result == DecodeResult::Ok);
    CHECK(d.rec.bytes == 28);
    CHECK(d.rec.src_port == 53);
    CHECK(d.rec.dst_port == 5353);
    CHECK(d.l4.payload_len == 0);
}

TEST_CASE("VLAN tags: 802.1Q gives the VLAN id, QinQ gives the outer one, too many tags are malformed") {
    SUBCASE("802.1Q") {
        Bytes b;
        ether(b, 0x8100);
        vlan_tag(b, 0x2000 | 100, 0x0800);  // priority bits are not part of the id
        ipv4(b, 17, 28);
        udp(b, 1, 2, 8);
        Decoded d = decode(kDltEthernet, b);
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.vlan == 100);
        CHECK(d.rec.ether_type == 0x0800);
        CHECK(d.rec.bytes == 28);
    }
    SUBCASE("802.1ad QinQ") {
        Bytes b;
        ether(b, 0x88a8);
        vlan_tag(b, 200, 0x8100);
        vlan_tag(b, 300, 0x86dd);
        ipv6(b, 17, 8);
        udp(b, 1, 2, 8);
        Decoded d = decode(kDltEthernet, b);
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.vlan == 200);
        CHECK(d.rec.ether_type == 0x86dd);
        CHECK(d.rec.bytes == 48);
    }
    SUBCASE("nine tags") {
        Bytes b;
        ether(b, 0x8100);
        for (int i = 0; i < 9; ++i) vlan_tag(b, 10, 0x8100);
        payload(b, 40, 0);
        CHECK(decode(kDltEthernet, b).result == DecodeResult::Malformed);
    }
    SUBCASE("a tag cut by the capture") {
        Bytes b;
        ether(b, 0x8100);
        put(b, {0, 5});
        CHECK(decode(kDltEthernet, b).result == DecodeResult::Truncated);
    }
}

TEST_CASE("non-IP frames are reported as such with their L2 fields") {
    Bytes b;
    ether(b, 0x0806);  // ARP
    payload(b, 28, 0);
    Decoded d = decode(kDltEthernet, b);
    CHECK(d.result == DecodeResult::NotIp);
    CHECK(d.rec.ether_type == 0x0806);
    CHECK(d.rec.src_mac[5] == 1);
    CHECK(d.rec.ip_version == 0);
}

TEST_CASE("LLC/SNAP, MPLS and PPPoE session frames reach the IP header") {
    SUBCASE("LLC/SNAP") {
        Bytes b;
        ether(b, 46 + 8);  // 802.3 length
        put(b, {0xaa, 0xaa, 0x03, 0, 0, 0});
        put16(b, 0x0800);
        ipv4(b, 17, 28);
        udp(b, 7, 9, 8);
        Decoded d = decode(kDltEthernet, b);
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.dst_port == 9);
    }
    SUBCASE("MPLS stack of two labels") {
        Bytes b;
        ether(b, 0x8847);
        put(b, {0, 0x01, 0x00, 64});  // label 16, not bottom
        put(b, {0, 0x02, 0x01, 64});  // label 32, bottom of stack
        ipv4(b, 6, 40);
        tcp(b, 1000, 22, 0x10);
        Decoded d = decode(kDltEthernet, b);
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.dst_port == 22);
        CHECK(d.rec.bytes == 40);
    }
    SUBCASE("MPLS stack without bottom of stack") {
        Bytes b;
        ether(b, 0x8847);
        for (int i = 0; i < 40; ++i) put(b, {0, 0x01, 0x00, 64});
        CHECK(decode(kDltEthernet, b).result == DecodeResult::Malformed);
    }
    SUBCASE("PPPoE session carrying IPv6") {
        Bytes b;
        ether(b, 0x8864);
        put(b, {0x11, 0x00, 0x00, 0x01});
        put16(b, 50);
        put16(b, 0x0057);
        ipv6(b, 17, 8);
        udp(b, 546, 547, 8);
        Decoded d = decode(kDltEthernet, b);
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.ip_version == 6);
        CHECK(d.rec.src_port == 546);
    }
}

TEST_CASE("IPv6 counts payload length plus 40 and takes the traffic class as tos") {
    Bytes b;
    ether(b, 0x86dd);
    ipv6(b, 17, 20, 0x2e);
    udp(b, 5000, 53, 20);
    payload(b, 12);
    Decoded d = decode(kDltEthernet, b);
    REQUIRE(d.result == DecodeResult::Ok);
    CHECK(d.rec.ip_version == 6);
    CHECK(d.rec.bytes == 60);
    CHECK(d.rec.tos == 0x2e);
    CHECK(std::memcmp(d.rec.src_ip, kV6Src, 16) == 0);
    CHECK(d.rec.dst_ip[15] == 2);
    CHECK(d.rec.dst_port == 53);
    CHECK(d.l4.payload_len == 12);
}

TEST_CASE("IPv6 extension headers are walked to the transport header") {
    Bytes b;
    ipv6(b, 0, 8 + 16 + 24 + 20);
    put(b, {60, 0, 1, 4, 0, 0, 0, 0});                  // hop-by-hop, 8 bytes
    put(b, {51, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});  // destination options, 16 bytes
    put(b, {6, 4, 0, 0});                                // AH: (4 + 2) * 4 = 24 bytes
    payload(b, 20, 0);
    tcp(b, 1234, 80, 0x02);
    Decoded d = decode(kDltIpv6, b);
    REQUIRE(d.result == DecodeResult::Ok);
    CHECK(d.rec.proto == 6);
    CHECK(d.rec.src_port == 1234);
    CHECK(d.rec.dst_port == 80);
    CHECK(d.rec.tcp_flags == 0x02);

    SUBCASE("a chain longer than the bound is malformed") {
        Bytes c;
        ipv6(c, 60, 8 * 20);
        for (int i = 0; i < 20; ++i) put(c, {60, 0, 1, 4, 0, 0, 0, 0});
        CHECK(decode(kDltIpv6, c).result == DecodeResult::Malformed);
    }
    SUBCASE("an extension length pointing past the capture stops the walk") {
        Bytes c;
        ipv6(c, 0, 2048);
        put(c, {6, 255, 0, 0, 0, 0, 0, 0});  // claims 2048 bytes
        Decoded e = decode(kDltIpv6, c);
        CHECK(e.result == DecodeResult::Ok);
        CHECK(e.rec.proto == 6);
        CHECK(e.rec.src_port == 0);
        CHECK(e.l4.payload_len == 0);
    }
}

TEST_CASE("fragments: the first keeps its ports, later ones are flagged with ports 0") {
    SUBCASE("IPv4") {
        Bytes first;
        ipv4(first, 17, 20 + 16, 0x2000, 0, 77);  // MF, offset 0
        udp(first, 5000, 6000, 100);
        payload(first, 8);
        Decoded a = decode(kDltRaw, first);
        REQUIRE(a.result == DecodeResult::Ok);
        CHECK(a.rec.src_port == 5000);
        CHECK((a.rec.flags & FA_REC_FRAGMENT) == 0);
        CHECK(a.frag.is_fragment);
        CHECK(a.frag.is_first);
        CHECK(a.frag.id == 77);

        Bytes later;
        ipv4(later, 17, 20 + 84, 2, 0, 77);  // offset 16 bytes
        payload(later, 84);
        Decoded b = decode(kDltRaw, later);
        REQUIRE(b.result == DecodeResult::Ok);
        CHECK(b.rec.src_port == 0);
        CHECK(b.rec.dst_port == 0);
        CHECK(b.rec.proto == 17);
        CHECK(b.rec.bytes == 104);
        CHECK((b.rec.flags & FA_REC_FRAGMENT) != 0);
        CHECK(b.frag.is_fragment);
        CHECK_FALSE(b.frag.is_first);
        CHECK(b.frag.id == 77);
    }
    SUBCASE("IPv6") {
        Bytes later;
        ipv6(later, 44, 8 + 40);
        put(later, {17, 0, 0x00, 0x10});  // offset 16 bytes, M=0
        put32(later, 0xdeadbeef);
        payload(later, 40);
        Decoded b = decode(kDltIpv6, later);
        REQUIRE(b.result == DecodeResult::Ok);
        CHECK(b.rec.proto == 17);
        CHECK(b.rec.src_port == 0);
        CHECK((b.rec.flags & FA_REC_FRAGMENT) != 0);
        CHECK(b.frag.id == 0xdeadbeef);
        CHECK(b.rec.bytes == 88);

        Bytes first;
        ipv6(first, 44, 8 + 8 + 8);
        put(first, {17, 0, 0x00, 0x01});  // offset 0, M=1
        put32(first, 0xdeadbeef);
        udp(first, 4000, 4001, 56);
        payload(first, 8);
        Decoded a = decode(kDltIpv6, first);
        REQUIRE(a.result == DecodeResult::Ok);
        CHECK(a.rec.dst_port == 4001);
        CHECK(a.frag.is_first);
    }
}

TEST_CASE("IPv4 header inconsistencies are malformed or truncated, never read past the capture") {
    Bytes b = eth_v4_tcp();
    SUBCASE("IHL below 5") {
        b[14] = 0x44;
        CHECK(decode(kDltEthernet, b).result == DecodeResult::Malformed);
    }
    SUBCASE("IHL 15 with 20 bytes captured") {
        b[14] = 0x4f;
        CHECK(decode(kDltEthernet, b, 14 + 20).result == DecodeResult::Truncated);
    }
    SUBCASE("total length below the header length") {
        b[16] = 0;
        b[17] = 19;
        CHECK(decode(kDltEthernet, b).result == DecodeResult::Malformed);
    }
    SUBCASE("ethertype IPv4 carrying version 6") {
        b[14] = 0x65;
        CHECK(decode(kDltEthernet, b).result == DecodeResult::Malformed);
    }
    SUBCASE("a snaplen that cuts the TCP header keeps the IP record with ports 0") {
        Decoded d = decode(kDltEthernet, b, 14 + 20 + 2);
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.bytes == 50);
        CHECK(d.rec.src_port == 0);
        CHECK(d.l4.payload_len == 0);
    }
}

TEST_CASE("every supported link type decodes the same IPv4 packet") {
    Bytes ip;
    ipv4(ip, 17, 36);
    udp(ip, 111, 2049, 16);
    payload(ip, 8);
    auto with = [&](const Bytes& head) {
        Bytes b = head;
        b.insert(b.end(), ip.begin(), ip.end());
        return b;
    };
    auto check_ok = [](const Decoded& d) {
        REQUIRE(d.result == DecodeResult::Ok);
        CHECK(d.rec.bytes == 36);
        CHECK(d.rec.dst_port == 2049);
        CHECK(std::memcmp(d.rec.dst_ip, kV4Dst, 16) == 0);
    };
    SUBCASE("DLT_RAW, LINKTYPE_RAW and DLT_IPV4") {
        check_ok(decode(kDltRaw, ip));
        check_ok(decode(kLinktypeRaw, ip));
        check_ok(decode(kDltIpv4, ip));
        CHECK(decode(kDltIpv6, ip).result == DecodeResult::Malformed);
    }
    SUBCASE("DLT_LINUX_SLL takes the source MAC from the address field") {
        Bytes h;
        put(h, {0, 0, 0, 1, 0, 6, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0, 0});
        put16(h, 0x0800);
        Decoded d = decode(kDltLinuxSll, with(h));
        check_ok(d);
        CHECK(d.rec.src_mac[0] == 0xaa);
        CHECK(d.rec.src_mac[5] == 0xff);
    }
    SUBCASE("DLT_LINUX_SLL2") {
        Bytes h;
        put16(h, 0x0800);
        put(h, {0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0, 0});
        Decoded d = decode(kDltLinuxSll2, with(h));
        check_ok(d);
        CHECK(d.rec.src_mac[0] == 0x11);
    }
    SUBCASE("DLT_NULL in either byte order, DLT_LOOP in network order") {
        check_ok(decode(kDltNull, with(Bytes{2, 0, 0, 0})));
        check_ok(decode(kDltNull, with(Bytes{0, 0, 0, 2})));
        check_ok(decode(kDltLoop, with(Bytes{0, 0, 0, 2})));
        CHECK(decode(kDltNull, with(Bytes{7, 0, 0, 0})).result == DecodeResult::NotIp);
    }
    SUBCASE("DLT_NULL IPv6 under each BSD's AF_INET6") {
        Bytes v6;
        ipv6(v6, 17, 8);
        udp(v6, 1, 2, 8);
        for (std::uint8_t af : {10, 24, 28, 30}) {
            Bytes b{af, 0, 0, 0};
            b.insert(b.end(), v6.begin(), v6.end());
            Decoded d = decode(kDltNull, b);
            CHECK(d.result == DecodeResult::Ok);
            CHECK(d.rec.ip_version == 6);
        }
    }
    SUBCASE("an unknown link type is not IP") {
        CHECK(decode(147, ip).result == DecodeResult::NotIp);
    }
}

TEST_CASE("decode_ip starts at the IP header and picks the version from it") {
    Bytes v4;
    ipv4(v4, 1, 28);
    payload(v4, 8);
    fa_record rec{};
    L4View l4;
    REQUIRE(decode_ip(v4.data(), static_cast<std::uint32_t>(v4.size()), rec, l4) == DecodeResult::Ok);
    CHECK(rec.ether_type == 0x0800);
    CHECK(rec.proto == 1);
    CHECK(rec.src_port == 0);
    CHECK(l4.payload_len == 8);  // ICMP: the whole L4 part is payload

    Bytes bad{0x50, 0, 0, 0};
    fa_record r2{};
    CHECK(decode_ip(bad.data(), 4, r2, l4) == DecodeResult::Malformed);
    CHECK(decode_ip(nullptr, 0, r2, l4) == DecodeResult::Truncated);
}

TEST_CASE("a frame cut at every offset decodes to a sane result without reading past the cut") {
    std::vector<std::pair<int, Bytes>> frames;
    frames.emplace_back(kDltEthernet, eth_v4_tcp());
    {
        Bytes b;
        ether(b, 0x88a8);
        vlan_tag(b, 10, 0x8100);
        vlan_tag(b, 20, 0x86dd);
        ipv6(b, 0, 8 + 8 + 16);
        put(b, {44, 0, 1, 4, 0, 0, 0, 0});
        put(b, {17, 0, 0, 1, 0, 0, 0, 9});
        udp(b, 10, 20, 16);
        payload(b, 8);
        frames.emplace_back(kDltEthernet, b);
    }
    {
        Bytes b;
        put(b, {0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x88, 0x47});
        put(b, {0, 1, 1, 64});
        ipv4(b, 17, 36);
        udp(b, 1, 2, 16);
        payload(b, 8);
        frames.emplace_back(kDltLinuxSll, b);
    }
    for (auto& [dlt, full] : frames) {
        Decoded whole = decode(dlt, full);
        REQUIRE(whole.result == DecodeResult::Ok);
        for (std::uint32_t cut = 0; cut <= full.size(); ++cut) {
            // A copy of exactly `cut` bytes: ASan flags any read past it.
            Bytes part(full.begin(), full.begin() + cut);
            Decoded d;
            d.result = decode_frame(dlt, part.empty() ? nullptr : part.data(), cut, static_cast<std::uint32_t>(full.size()),
                                    d.rec, d.l4, d.frag);
            CAPTURE(cut);
            CHECK((d.result == DecodeResult::Ok || d.result == DecodeResult::Truncated));
            if (d.result == DecodeResult::Ok) {
                CHECK(d.rec.bytes == whole.rec.bytes);
                CHECK(std::memcmp(d.rec.src_ip, whole.rec.src_ip, 16) == 0);
                CHECK((d.rec.src_port == 0 || d.rec.src_port == whole.rec.src_port));
                if (d.l4.payload_len) {
                    CHECK(d.l4.payload >= part.data());
                    CHECK(d.l4.payload + d.l4.payload_len <= part.data() + cut);
                }
            }
        }
    }
}
