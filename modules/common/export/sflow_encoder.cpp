// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 datagrams (sflow.org sflow_version_5.txt): header synthesis and sample encoding.
#include "sflow_encoder.hpp"

#include <algorithm> // std::max
#include <cstring>  // std::memcpy, std::memset

namespace flowacct::exporter {

namespace {
constexpr std::size_t kMaxHeader = 96;
// Worst case of one flow sample: sample header 44 + raw header 24 + 96 + ethernet 32 + switch 24 +
// router 36 + gateway (IPv6 next hop, two-AS path) 76.
constexpr std::size_t kMaxFlowSample = 44 + 24 + kMaxHeader + 32 + 24 + 36 + 76;
constexpr std::size_t kCounterSample = 8 + 12 + 8 + 88;

void put16(std::uint8_t* p, std::uint16_t v) { p[0] = static_cast<std::uint8_t>(v >> 8); p[1] = static_cast<std::uint8_t>(v); }

std::uint16_t checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t s = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) s += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) s += static_cast<std::uint32_t>(p[n - 1] << 8);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s);
}
} // namespace

std::size_t synthesize_header(const fa_record& r, std::uint32_t ip_length, bool ethernet, std::uint8_t* out,
                              std::size_t cap) {
    if ((r.ip_version != 4 && r.ip_version != 6) || cap < 78) return 0;
    std::size_t n = 0;
    if (ethernet) {
        std::memcpy(out, r.dst_mac, 6);
        std::memcpy(out + 6, r.src_mac, 6);
        n = 12;
        if (r.vlan) {
            put16(out + n, 0x8100);
            put16(out + n + 2, static_cast<std::uint16_t>(r.vlan & 0x0fff));
            n += 4;
        }
        put16(out + n, r.ip_version == 4 ? 0x0800 : 0x86dd);
        n += 2;
    }
    // A fragment whose ports the capture joined from its first fragment is written whole, so the
    // collector sees the ports; one without ports stays a non-first fragment.
    const bool frag = (r.flags & FA_REC_FRAGMENT) != 0 && r.src_port == 0 && r.dst_port == 0;
    std::size_t l4 = 0;
    if (!frag) l4 = r.proto == 6 ? 20 : (r.proto == 17 || r.proto == 1 || r.proto == 58) ? 8 : 0;
    const std::size_t ip_hdr = r.ip_version == 4 ? 20 : 40;
    if (ip_length < ip_hdr + l4) ip_length = static_cast<std::uint32_t>(ip_hdr + l4);
    if (ip_length > 65535) ip_length = 65535;
    std::uint8_t* ip = out + n;
    std::memset(ip, 0, ip_hdr + l4);
    if (r.ip_version == 4) {
        ip[0] = 0x45;
        ip[1] = r.tos;
        put16(ip + 2, static_cast<std::uint16_t>(ip_length));
        if (frag) put16(ip + 6, 0x00b9); // a non-first fragment (offset 185*8): no L4 header
        ip[8] = 64;
        ip[9] = r.proto;
        std::memcpy(ip + 12, r.src_ip + 12, 4);
        std::memcpy(ip + 16, r.dst_ip + 12, 4);
        put16(ip + 10, checksum(ip, 20));
    } else {
        ip[0] = static_cast<std::uint8_t>(0x60 | (r.tos >> 4));
        ip[1] = static_cast<std::uint8_t>((r.tos & 0x0f) << 4);
        put16(ip + 4, static_cast<std::uint16_t>(ip_length - 40));
        ip[6] = r.proto;
        ip[7] = 64;
        std::memcpy(ip + 8, r.src_ip, 16);
        std::memcpy(ip + 24, r.dst_ip, 16);
    }
    std::uint8_t* t = ip + ip_hdr;
    if (l4 == 20) {
        put16(t, r.src_port);
        put16(t + 2, r.dst_port);
        t[12] = 0x50;
        t[13] = r.tcp_flags;
        put16(t + 14, 65535);
    } else if (l4 == 8 && r.proto == 17) {
        put16(t, r.src_port);
        put16(t + 2, r.dst_port);
        put16(t + 4, static_cast<std::uint16_t>(ip_length - ip_hdr));
    } else if (l4 == 8) {
        // ICMP: type and code from dst_port (type << 8 | code) when a collector put them there;
        // otherwise an echo request, a type every decoder knows.
        t[0] = static_cast<std::uint8_t>(r.dst_port ? r.dst_port >> 8 : (r.proto == 1 ? 8 : 128));
        t[1] = static_cast<std::uint8_t>(r.dst_port);
    }
    return n + ip_hdr + l4;
}

SflowEncoder::SflowEncoder(const SflowConfig& config, DatagramSink& sink)
    : cfg_(config), sink_(sink), w_(buf_, config.max_datagram < sizeof buf_ ? config.max_datagram : sizeof buf_) {}

void SflowEncoder::address(const std::uint8_t* a) {
    if (is_v4_mapped(a)) {
        w_.u32(1);
        w_.bytes(a + 12, 4);
    } else {
        w_.u32(2);
        w_.bytes(a, 16);
    }
}

void SflowEncoder::begin(std::uint32_t uptime_ms) {
    w_.reset();
    open_ = true;
    samples_ = 0;
    w_.u32(5);
    address(cfg_.agent);
    w_.u32(cfg_.sub_agent);
    w_.u32(++datagram_seq_);
    w_.u32(uptime_ms);
    count_at_ = w_.size();
    w_.u32(0);
}

void SflowEncoder::ensure_room(std::size_t need, std::uint32_t uptime_ms) {
    if (open_ && w_.room() < need) flush();
    if (!open_) begin(uptime_ms);
}

bool SflowEncoder::add_flow(const fa_record& r, const SampleInfo& info, std::uint32_t uptime_ms) {
    std::uint8_t hdr[kMaxHeader];
    const std::size_t hlen = synthesize_header(r, info.frame_length, false, hdr, sizeof hdr);
    if (hlen == 0) {
        ++stats_.dropped_non_ip;
        return false;
    }
    ensure_room(kMaxFlowSample, uptime_ms);
    w_.u32(1); // flow sample
    const std::size_t len_at = w_.size();
    w_.u32(0);
    w_.u32(++flow_seq_);
    w_.u32(cfg_.if_index); // source id: type 0 (ifIndex), index
    w_.u32(info.sampling_rate);
    w_.u32(info.sample_pool);
    w_.u32(0); // drops
    w_.u32(r.in_iface);
    w_.u32(r.out_iface);
    const std::size_t nrec_at = w_.size();
    w_.u32(0);
    std::uint32_t nrec = 0;
    // Raw packet header.
    w_.u32(1);
    w_.u32(static_cast<std::uint32_t>(16 + ((hlen + 3) & ~std::size_t{3})));
    w_.u32(r.ip_version == 4 ? 11 : 12); // header protocol IPv4 / IPv6
    w_.u32(std::max<std::uint32_t>(info.frame_length, static_cast<std::uint32_t>(hlen)));
    w_.u32(0); // stripped
    w_.u32(static_cast<std::uint32_t>(hlen));
    w_.bytes(hdr, hlen);
    w_.zeros((4 - hlen % 4) % 4);
    ++nrec;
    static constexpr std::uint8_t kNoMac[6] = {};
    if (std::memcmp(r.src_mac, kNoMac, 6) != 0 || std::memcmp(r.dst_mac, kNoMac, 6) != 0) {
        w_.u32(2); // sampled Ethernet
        w_.u32(24);
        w_.u32(std::max<std::uint32_t>(info.frame_length, static_cast<std::uint32_t>(hlen)) + (r.vlan ? 18 : 14));
        w_.bytes(r.src_mac, 6), w_.zeros(2);
        w_.bytes(r.dst_mac, 6), w_.zeros(2);
        w_.u32(r.ip_version == 4 ? 0x0800 : 0x86dd);
        ++nrec;
    }
    if (r.vlan) {
        w_.u32(1001);
        w_.u32(16);
        w_.u32(r.vlan), w_.u32(0), w_.u32(r.vlan), w_.u32(0);
        ++nrec;
    }
    static constexpr std::uint8_t kZero[16] = {};
    const bool has_nexthop = std::memcmp(r.nexthop, kZero, 16) != 0 &&
                             !(is_v4_mapped(r.nexthop) && std::memcmp(r.nexthop + 12, kZero, 4) == 0);
    const std::uint8_t* nh = r.nexthop;
    std::uint8_t mapped_zero[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    if (!has_nexthop && r.ip_version == 4) nh = mapped_zero; // an IPv4 flow announces 0.0.0.0
    const std::size_t alen = is_v4_mapped(nh) ? 8 : 20;
    if (r.src_mask || r.dst_mask || has_nexthop) {
        w_.u32(1002);
        w_.u32(static_cast<std::uint32_t>(alen + 8));
        address(nh);
        w_.u32(r.src_mask), w_.u32(r.dst_mask);
        ++nrec;
    }
    if (r.src_as || r.dst_as || r.peer_src_as || r.peer_dst_as) {
        const bool path = r.dst_as != 0;
        w_.u32(1003);
        const std::size_t glen_at = w_.size();
        w_.u32(0);
        address(nh);
        w_.u32(0);             // the agent's own AS: unknown
        w_.u32(r.src_as);
        w_.u32(r.peer_src_as);
        w_.u32(path ? 1 : 0);  // AS path segments
        if (path) {
            // A sequence ending at the destination AS (the peer AS first when known).
            const bool peer = r.peer_dst_as && r.peer_dst_as != r.dst_as;
            w_.u32(2);
            w_.u32(peer ? 2 : 1);
            if (peer) w_.u32(r.peer_dst_as);
            w_.u32(r.dst_as);
        }
        w_.u32(0); // communities
        w_.u32(0); // local pref
        w_.patch32(glen_at, static_cast<std::uint32_t>(w_.size() - glen_at - 4));
        ++nrec;
    }
    w_.patch32(nrec_at, nrec);
    w_.patch32(len_at, static_cast<std::uint32_t>(w_.size() - len_at - 4));
    ++samples_;
    ++stats_.flow_samples;
    return true;
}

void SflowEncoder::add_counters(const IfTotals& t, std::uint32_t uptime_ms) {
    ensure_room(kCounterSample, uptime_ms);
    w_.u32(2); // counter sample
    w_.u32(8 + 4 + 8 + 88);
    w_.u32(++counter_seq_);
    w_.u32(cfg_.if_index);
    w_.u32(1);
    w_.u32(1); // generic interface counters
    w_.u32(88);
    w_.u32(cfg_.if_index);
    w_.u32(6); // ethernetCsmacd
    w_.u64(cfg_.if_speed);
    w_.u32(1); // full duplex
    w_.u32(3); // admin up, oper up
    w_.u64(t.in_octets);
    w_.u32(static_cast<std::uint32_t>(t.in_packets));
    w_.u32(0), w_.u32(0), w_.u32(0), w_.u32(0), w_.u32(0); // multicast, broadcast, discards, errors, unknown
    w_.u64(0);                                               // out octets
    w_.u32(0), w_.u32(0), w_.u32(0), w_.u32(0), w_.u32(0);  // out ucast, mcast, bcast, discards, errors
    w_.u32(0);                                               // promiscuous
    ++samples_;
    ++stats_.counter_samples;
}

void SflowEncoder::flush() {
    if (!open_) return;
    open_ = false;
    if (samples_ == 0) {
        --datagram_seq_;
        return;
    }
    w_.patch32(count_at_, samples_);
    if (!w_.ok()) return;
    ++stats_.datagrams;
    sink_.datagram(buf_, w_.size());
}

} // namespace flowacct::exporter
