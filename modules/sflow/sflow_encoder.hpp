// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 encoder: builds datagrams, samples and records byte by byte. Used by the traffic
// generator (bench/gen_sflow), the unit tests and the fuzzing seed corpus; not by the module.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t .. std::uint64_t
#include <cstring>  // std::memcpy
#include <vector>   // std::vector

#include "sflow_wire.hpp" // format constants

namespace flowacct::sflow::encode {

using Bytes = std::vector<std::uint8_t>;

inline void u16(Bytes& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
inline void u32(Bytes& b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void u64(Bytes& b, std::uint64_t v) {
    u32(b, static_cast<std::uint32_t>(v >> 32));
    u32(b, static_cast<std::uint32_t>(v));
}
inline void raw(Bytes& b, const void* p, std::size_t n) {
    const auto* c = static_cast<const std::uint8_t*>(p);
    b.insert(b.end(), c, c + n);
}
/// XDR opaque body: the bytes, then zeros up to a multiple of 4.
inline void padded(Bytes& b, const std::uint8_t* p, std::size_t n) {
    raw(b, p, n);
    while (n % 4) {
        b.push_back(0);
        ++n;
    }
}
inline void patch_u32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}

/// An sFlow address: IPv4 when `v6` is false (the first 4 bytes of `a` are used).
struct Address {
    bool v6 = false;
    std::uint8_t a[16]{};
    static Address v4(std::uint8_t x0, std::uint8_t x1, std::uint8_t x2, std::uint8_t x3) {
        Address r;
        r.a[0] = x0, r.a[1] = x1, r.a[2] = x2, r.a[3] = x3;
        return r;
    }
    static Address ipv6(const std::uint8_t (&b)[16]) {
        Address r;
        r.v6 = true;
        std::memcpy(r.a, b, 16);
        return r;
    }
};
inline void address(Bytes& b, const Address& a) {
    u32(b, a.v6 ? kAddrIPv6 : kAddrIPv4);
    raw(b, a.a, a.v6 ? 16 : 4);
}

/// A record or sample: format word, length word, body.
inline void framed(Bytes& out, std::uint32_t format, const Bytes& body) {
    u32(out, format);
    u32(out, static_cast<std::uint32_t>(body.size()));
    raw(out, body.data(), body.size());
}

// ---- flow records (bodies) ----
inline Bytes raw_header(std::uint32_t header_protocol, std::uint32_t frame_length, std::uint32_t stripped,
                        const Bytes& header) {
    Bytes b;
    u32(b, header_protocol);
    u32(b, frame_length);
    u32(b, stripped);
    u32(b, static_cast<std::uint32_t>(header.size()));
    padded(b, header.data(), header.size());
    return b;
}
inline Bytes sampled_ipv4(std::uint32_t length, std::uint8_t proto, const std::uint8_t (&src)[4],
                          const std::uint8_t (&dst)[4], std::uint16_t sport, std::uint16_t dport,
                          std::uint8_t tcp_flags, std::uint8_t tos) {
    Bytes b;
    u32(b, length);
    u32(b, proto);
    raw(b, src, 4);
    raw(b, dst, 4);
    u32(b, sport);
    u32(b, dport);
    u32(b, tcp_flags);
    u32(b, tos);
    return b;
}
inline Bytes sampled_ipv6(std::uint32_t length, std::uint8_t proto, const std::uint8_t (&src)[16],
                          const std::uint8_t (&dst)[16], std::uint16_t sport, std::uint16_t dport,
                          std::uint8_t tcp_flags, std::uint8_t priority) {
    Bytes b;
    u32(b, length);
    u32(b, proto);
    raw(b, src, 16);
    raw(b, dst, 16);
    u32(b, sport);
    u32(b, dport);
    u32(b, tcp_flags);
    u32(b, priority);
    return b;
}
inline Bytes sampled_ethernet(std::uint32_t length, const std::uint8_t (&src)[6], const std::uint8_t (&dst)[6],
                              std::uint32_t type) {
    Bytes b;
    u32(b, length);
    raw(b, src, 6);
    u16(b, 0);
    raw(b, dst, 6);
    u16(b, 0);
    u32(b, type);
    return b;
}
inline Bytes ext_switch(std::uint32_t src_vlan, std::uint32_t src_prio, std::uint32_t dst_vlan,
                        std::uint32_t dst_prio) {
    Bytes b;
    u32(b, src_vlan);
    u32(b, src_prio);
    u32(b, dst_vlan);
    u32(b, dst_prio);
    return b;
}
inline Bytes ext_router(const Address& nexthop, std::uint32_t src_mask, std::uint32_t dst_mask) {
    Bytes b;
    address(b, nexthop);
    u32(b, src_mask);
    u32(b, dst_mask);
    return b;
}
/// One AS_SEQUENCE segment holding `path`, and `communities`.
inline Bytes ext_gateway(const Address& nexthop, std::uint32_t as, std::uint32_t src_as, std::uint32_t src_peer_as,
                         const std::vector<std::uint32_t>& path, const std::vector<std::uint32_t>& communities,
                         std::uint32_t local_pref) {
    Bytes b;
    address(b, nexthop);
    u32(b, as);
    u32(b, src_as);
    u32(b, src_peer_as);
    if (path.empty()) {
        u32(b, 0);
    } else {
        u32(b, 1);
        u32(b, 2); // AS_SEQUENCE
        u32(b, static_cast<std::uint32_t>(path.size()));
        for (auto a : path) u32(b, a);
    }
    u32(b, static_cast<std::uint32_t>(communities.size()));
    for (auto c : communities) u32(b, c);
    u32(b, local_pref);
    return b;
}

// ---- samples ----
struct FlowSample {
    bool expanded = false;
    std::uint32_t seq = 1;
    std::uint32_t source_id = 0; // type << 24 | index (compact form)
    std::uint32_t rate = 1;
    std::uint32_t pool = 0;
    std::uint32_t drops = 0;
    std::uint32_t input = 0;     // format << 30 | value in the compact form; the value when expanded
    std::uint32_t output = 0;
    std::vector<std::pair<std::uint32_t, Bytes>> records; // format, body
};

inline Bytes flow_sample_body(const FlowSample& s) {
    Bytes b;
    u32(b, s.seq);
    if (s.expanded) {
        u32(b, s.source_id >> 24);
        u32(b, s.source_id & 0xFFFFFF);
    } else {
        u32(b, s.source_id);
    }
    u32(b, s.rate);
    u32(b, s.pool);
    u32(b, s.drops);
    if (s.expanded) {
        u32(b, s.input >> 30);
        u32(b, s.input & 0x3FFFFFFF);
        u32(b, s.output >> 30);
        u32(b, s.output & 0x3FFFFFFF);
    } else {
        u32(b, s.input);
        u32(b, s.output);
    }
    u32(b, static_cast<std::uint32_t>(s.records.size()));
    for (const auto& [format, body] : s.records) framed(b, format, body);
    return b;
}

/// Generic interface counters (counter record format 1), 88 bytes.
struct IfCounters {
    std::uint32_t if_index = 1, if_type = 6;
    std::uint64_t speed = 1'000'000'000;
    std::uint32_t direction = 1, status = 3;
    std::uint64_t in_octets = 0;
    std::uint32_t in_ucast = 0, in_mcast = 0, in_bcast = 0, in_discards = 0, in_errors = 0, in_unknown = 0;
    std::uint64_t out_octets = 0;
    std::uint32_t out_ucast = 0, out_mcast = 0, out_bcast = 0, out_discards = 0, out_errors = 0, promisc = 0;
};
inline Bytes generic_if(const IfCounters& c) {
    Bytes b;
    u32(b, c.if_index);
    u32(b, c.if_type);
    u64(b, c.speed);
    u32(b, c.direction);
    u32(b, c.status);
    u64(b, c.in_octets);
    u32(b, c.in_ucast);
    u32(b, c.in_mcast);
    u32(b, c.in_bcast);
    u32(b, c.in_discards);
    u32(b, c.in_errors);
    u32(b, c.in_unknown);
    u64(b, c.out_octets);
    u32(b, c.out_ucast);
    u32(b, c.out_mcast);
    u32(b, c.out_bcast);
    u32(b, c.out_discards);
    u32(b, c.out_errors);
    u32(b, c.promisc);
    return b;
}
inline Bytes counter_sample_body(std::uint32_t seq, std::uint32_t source_id,
                                 const std::vector<std::pair<std::uint32_t, Bytes>>& records) {
    Bytes b;
    u32(b, seq);
    u32(b, source_id);
    u32(b, static_cast<std::uint32_t>(records.size()));
    for (const auto& [format, body] : records) framed(b, format, body);
    return b;
}

/// A datagram under construction: header, then samples appended with add().
class Datagram {
public:
    Datagram(const Address& agent, std::uint32_t sub_agent, std::uint32_t seq, std::uint32_t uptime_ms) {
        u32(b_, kVersion5);
        address(b_, agent);
        u32(b_, sub_agent);
        u32(b_, seq);
        u32(b_, uptime_ms);
        count_at_ = b_.size();
        u32(b_, 0);
    }
    Datagram& add(std::uint32_t format, const Bytes& body) {
        framed(b_, format, body);
        patch_u32(b_, count_at_, ++count_);
        return *this;
    }
    Datagram& add_flow(const FlowSample& s) {
        return add(s.expanded ? kFlowSampleExpanded : kFlowSample, flow_sample_body(s));
    }
    const Bytes& bytes() const { return b_; }
    Bytes& mutable_bytes() { return b_; }
    std::size_t count_offset() const { return count_at_; }

private:
    Bytes b_;
    std::size_t count_at_ = 0;
    std::uint32_t count_ = 0;
};

// ---- sampled packet headers ----
inline std::uint16_t ip_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += (std::uint32_t{p[i]} << 8) | p[i + 1];
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

/// An Ethernet + IPv4 + TCP/UDP header of a packet whose IP total length is `ip_length`,
/// cut after the L4 header plus `payload_bytes` bytes of payload (0x5a filler).
inline Bytes ethernet_ipv4(const std::uint8_t (&src)[4], const std::uint8_t (&dst)[4], std::uint8_t proto,
                           std::uint16_t sport, std::uint16_t dport, std::uint16_t ip_length,
                           std::size_t payload_bytes = 0, std::uint8_t tos = 0) {
    Bytes b;
    const std::uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02}, smac[6] = {0x02, 0, 0, 0, 0, 0x01};
    raw(b, dmac, 6);
    raw(b, smac, 6);
    u16(b, 0x0800);
    const std::size_t ip_at = b.size();
    b.push_back(0x45);
    b.push_back(tos);
    u16(b, ip_length);
    u16(b, 0x1234);
    u16(b, 0x4000); // DF
    b.push_back(64);
    b.push_back(proto);
    u16(b, 0);
    raw(b, src, 4);
    raw(b, dst, 4);
    const std::uint16_t sum = ip_checksum(b.data() + ip_at, 20);
    b[ip_at + 10] = static_cast<std::uint8_t>(sum >> 8);
    b[ip_at + 11] = static_cast<std::uint8_t>(sum);
    u16(b, sport);
    u16(b, dport);
    if (proto == 6) {
        u32(b, 1000);
        u32(b, 0);
        b.push_back(0x50);
        b.push_back(0x18); // PSH ACK
        u16(b, 65535);
        u16(b, 0);
        u16(b, 0);
    } else {
        u16(b, static_cast<std::uint16_t>(ip_length >= 20 ? ip_length - 20 : 8));
        u16(b, 0);
    }
    b.insert(b.end(), payload_bytes, 0x5a);
    return b;
}

/// The same for IPv6 (no Ethernet header when `with_ethernet` is false).
inline Bytes ethernet_ipv6(const std::uint8_t (&src)[16], const std::uint8_t (&dst)[16], std::uint8_t proto,
                           std::uint16_t sport, std::uint16_t dport, std::uint16_t payload_length,
                           std::size_t payload_bytes = 0, bool with_ethernet = true) {
    Bytes b;
    if (with_ethernet) {
        const std::uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02}, smac[6] = {0x02, 0, 0, 0, 0, 0x01};
        raw(b, dmac, 6);
        raw(b, smac, 6);
        u16(b, 0x86DD);
    }
    u32(b, 0x60000000);
    u16(b, payload_length);
    b.push_back(proto);
    b.push_back(64);
    raw(b, src, 16);
    raw(b, dst, 16);
    u16(b, sport);
    u16(b, dport);
    if (proto == 6) {
        u32(b, 1000);
        u32(b, 0);
        b.push_back(0x50);
        b.push_back(0x02); // SYN
        u16(b, 65535);
        u16(b, 0);
        u16(b, 0);
    } else {
        u16(b, payload_length);
        u16(b, 0);
    }
    b.insert(b.end(), payload_bytes, 0x5a);
    return b;
}

} // namespace flowacct::sflow::encode
