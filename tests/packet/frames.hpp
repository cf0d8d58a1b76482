// SPDX-License-Identifier: GPL-2.0-or-later
// Hand-built frames for the decoder tests: each helper appends one header, bytes spelled out.
#pragma once

#include <cstdint>        // std::uint8_t, std::uint16_t, std::uint32_t
#include <initializer_list> // std::initializer_list
#include <vector>         // std::vector

namespace flowacct::test {

using Bytes = std::vector<std::uint8_t>;

inline void put(Bytes& b, std::initializer_list<int> v) {
    for (int x : v) b.push_back(static_cast<std::uint8_t>(x));
}
inline void put16(Bytes& b, std::uint32_t v) { put(b, {static_cast<int>((v >> 8) & 0xff), static_cast<int>(v & 0xff)}); }
inline void put32(Bytes& b, std::uint32_t v) {
    put16(b, v >> 16);
    put16(b, v & 0xffff);
}

// dst 02:00:00:00:00:02, src 02:00:00:00:00:01, then `ethertype`.
inline void ether(Bytes& b, std::uint16_t ethertype) {
    put(b, {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1});
    put16(b, ethertype);
}
inline void vlan_tag(Bytes& b, std::uint16_t vid, std::uint16_t next_type) {
    put16(b, vid);
    put16(b, next_type);
}

// IPv4 10.0.0.1 -> 192.0.2.7, total length `total`, fragment field `frag` (flags|offset/8).
inline void ipv4(Bytes& b, std::uint8_t proto, std::uint16_t total, std::uint16_t frag = 0, std::uint8_t tos = 0,
                 std::uint16_t id = 0x1234) {
    put(b, {0x45, tos});
    put16(b, total);
    put16(b, id);
    put16(b, frag);
    put(b, {64, proto, 0, 0, 10, 0, 0, 1, 192, 0, 2, 7});
}
// IPv6 2001:db8::1 -> 2001:db8::2, payload length `plen`, traffic class `tc`.
inline void ipv6(Bytes& b, std::uint8_t next, std::uint16_t plen, std::uint8_t tc = 0) {
    put32(b, 0x60000000u | (std::uint32_t{tc} << 20));
    put16(b, plen);
    put(b, {next, 64});
    put(b, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
    put(b, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
}
inline void tcp(Bytes& b, std::uint16_t sport, std::uint16_t dport, std::uint8_t flags) {
    put16(b, sport);
    put16(b, dport);
    put32(b, 1);
    put32(b, 0);
    put(b, {0x50, flags});
    put16(b, 65535);
    put32(b, 0);
}
inline void udp(Bytes& b, std::uint16_t sport, std::uint16_t dport, std::uint16_t len) {
    put16(b, sport);
    put16(b, dport);
    put16(b, len);
    put16(b, 0);
}
inline void payload(Bytes& b, std::uint32_t n, std::uint8_t fill = 'x') { b.insert(b.end(), n, fill); }

// A complete Ethernet/IPv4/TCP frame with 10 payload bytes: IP total length 50.
inline Bytes eth_v4_tcp(std::uint16_t sport = 40000, std::uint16_t dport = 80, std::uint8_t flags = 0x02) {
    Bytes b;
    ether(b, 0x0800);
    ipv4(b, 6, 50);
    tcp(b, sport, dport, flags);
    payload(b, 10);
    return b;
}

} // namespace flowacct::test
