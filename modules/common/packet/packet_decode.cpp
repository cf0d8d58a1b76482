// SPDX-License-Identifier: GPL-2.0-or-later
// L2-L4 frame decoder: bounds-checked walk over link, VLAN/MPLS/PPPoE, IPv4/IPv6 and TCP/UDP headers.
#include "packet_decode.hpp"

#include <cstring>   // std::memcpy, std::memset

namespace flowacct::packet {
namespace {

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinQ = 0x88A8;
constexpr std::uint16_t kEtherQinQOld1 = 0x9100;
constexpr std::uint16_t kEtherQinQOld2 = 0x9200;
constexpr std::uint16_t kEtherMplsUc = 0x8847;
constexpr std::uint16_t kEtherMplsMc = 0x8848;
constexpr std::uint16_t kEtherPppoeSession = 0x8864;

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;

inline std::uint16_t be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
inline std::uint32_t le32(const std::uint8_t* p) {
    return (std::uint32_t{p[3]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[1]} << 8) | p[0];
}

inline void set_v4_mapped(std::uint8_t out[16], const std::uint8_t* v4) {
    std::memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out + 12, v4, 4);
}

inline bool is_vlan_type(std::uint16_t t) {
    return t == kEtherVlan || t == kEtherQinQ || t == kEtherQinQOld1 || t == kEtherQinQOld2;
}

// TCP/UDP ports, flags and payload from the L4 bytes present. `avail` is bounded by both the
// capture and the IP length, so Ethernet padding is never taken for payload.
void decode_l4(const std::uint8_t* p, std::uint32_t avail, fa_record& rec, L4View& l4) {
    if (rec.proto == kProtoTcp) {
        if (avail < 4) return;  // snaplen cut the header: ports unknown, left 0
        rec.src_port = be16(p);
        rec.dst_port = be16(p + 2);
        if (avail < 14) return;
        rec.tcp_flags = p[13];
        std::uint32_t doff = static_cast<std::uint32_t>(p[12] >> 4) * 4;
        if (doff >= 20 && doff <= avail) {
            l4.payload = p + doff;
            l4.payload_len = avail - doff;
        }
    } else if (rec.proto == kProtoUdp) {
        if (avail < 4) return;
        rec.src_port = be16(p);
        rec.dst_port = be16(p + 2);
        if (avail >= 8) {
            l4.payload = p + 8;
            l4.payload_len = avail - 8;
        }
    } else if (avail > 0) {
        l4.payload = p;
        l4.payload_len = avail;
    }
}

DecodeResult decode_ipv4(const std::uint8_t* p, std::uint32_t caplen, fa_record& rec, L4View& l4,
                         FragmentInfo& frag) {
    if (caplen < 20) return DecodeResult::Truncated;
    if ((p[0] >> 4) != 4) return DecodeResult::Malformed;
    std::uint32_t ihl = static_cast<std::uint32_t>(p[0] & 0x0f) * 4;
    if (ihl < 20) return DecodeResult::Malformed;
    if (ihl > caplen) return DecodeResult::Truncated;
    std::uint32_t total = be16(p + 2);
    if (total < ihl) return DecodeResult::Malformed;

    rec.ip_version = 4;
    rec.ether_type = kEtherIpv4;
    rec.tos = p[1];
    rec.proto = p[9];
    set_v4_mapped(rec.src_ip, p + 12);
    set_v4_mapped(rec.dst_ip, p + 16);
    rec.packets = 1;
    rec.bytes = total;

    std::uint16_t off_field = be16(p + 6);
    std::uint32_t frag_off = off_field & 0x1fff;
    bool more = (off_field & 0x2000) != 0;
    if (more || frag_off != 0) {
        frag.is_fragment = true;
        frag.is_first = frag_off == 0;
        frag.id = be16(p + 4);
    }
    if (frag_off != 0) {
        rec.flags |= FA_REC_FRAGMENT;  // no L4 header here: ports unknown
        return DecodeResult::Ok;
    }
    std::uint32_t end = total < caplen ? total : caplen;
    decode_l4(p + ihl, end - ihl, rec, l4);
    return DecodeResult::Ok;
}

DecodeResult decode_ipv6(const std::uint8_t* p, std::uint32_t caplen, fa_record& rec, L4View& l4,
                         FragmentInfo& frag) {
    if (caplen < 40) return DecodeResult::Truncated;
    if ((p[0] >> 4) != 6) return DecodeResult::Malformed;
    std::uint32_t plen = be16(p + 4);

    rec.ip_version = 6;
    rec.ether_type = kEtherIpv6;
    rec.tos = static_cast<std::uint8_t>((be32(p) >> 20) & 0xff);
    std::memcpy(rec.src_ip, p + 8, 16);
    std::memcpy(rec.dst_ip, p + 24, 16);
    rec.packets = 1;
    rec.bytes = plen + 40u;

    // A payload length of 0 is a jumbogram (or a capture of an offloaded send): trust the capture.
    std::uint32_t end = plen == 0 ? caplen : (plen + 40u < caplen ? plen + 40u : caplen);
    std::uint32_t off = 40;
    std::uint8_t next = p[6];
    for (int hops = 0;; ++hops) {
        if (hops > kMaxIpv6ExtHeaders) return DecodeResult::Malformed;
        switch (next) {
        case 0:    // hop-by-hop options
        case 43:   // routing
        case 60:   // destination options
        case 135:  // mobility
        case 139:  // HIP
        case 140:  // shim6
        {
            if (off + 2 > end) {
                rec.proto = next;  // chain cut by the snaplen: the last header type we know
                return DecodeResult::Ok;
            }
            std::uint8_t nh = p[off];
            off += (static_cast<std::uint32_t>(p[off + 1]) + 1) * 8;
            next = nh;
            continue;
        }
        case 51: {  // authentication header: length in 4-byte units, minus 2
            if (off + 2 > end) {
                rec.proto = next;
                return DecodeResult::Ok;
            }
            std::uint8_t nh = p[off];
            off += (static_cast<std::uint32_t>(p[off + 1]) + 2) * 4;
            next = nh;
            continue;
        }
        case 44: {  // fragment header, fixed 8 bytes
            if (off + 8 > end) {
                rec.proto = next;
                return DecodeResult::Ok;
            }
            std::uint16_t offlg = be16(p + off + 2);
            frag.is_fragment = true;
            frag.is_first = (offlg & 0xfff8) == 0;
            frag.id = be32(p + off + 4);
            next = p[off];
            off += 8;
            if (!frag.is_first) {
                rec.proto = next;
                rec.flags |= FA_REC_FRAGMENT;
                return DecodeResult::Ok;
            }
            continue;
        }
        default:
            rec.proto = next;
            if (off < end) decode_l4(p + off, end - off, rec, l4);
            return DecodeResult::Ok;
        }
    }
}

DecodeResult decode_ip_any(const std::uint8_t* p, std::uint32_t caplen, fa_record& rec, L4View& l4,
                           FragmentInfo& frag) {
    if (caplen < 1) return DecodeResult::Truncated;
    switch (p[0] >> 4) {
    case 4: return decode_ipv4(p, caplen, rec, l4, frag);
    case 6: return decode_ipv6(p, caplen, rec, l4, frag);
    default: return DecodeResult::Malformed;
    }
}

// From an ethertype at frame[off]: VLAN tags, LLC/SNAP, MPLS, PPPoE, then IP.
DecodeResult decode_ethertype(std::uint16_t etype, const std::uint8_t* f, std::uint32_t off, std::uint32_t caplen,
                              fa_record& rec, L4View& l4, FragmentInfo& frag) {
    for (int tags = 0; is_vlan_type(etype); ++tags) {
        if (tags == kMaxVlanTags) return DecodeResult::Malformed;
        if (off + 4 > caplen) {
            rec.ether_type = etype;
            return DecodeResult::Truncated;
        }
        if (tags == 0) rec.vlan = be16(f + off) & 0x0fff;  // outer tag
        etype = be16(f + off + 2);
        off += 4;
    }
    if (etype < 0x0600) {  // 802.3 length field: only LLC/SNAP carries an ethertype
        if (off + 8 > caplen) return DecodeResult::NotIp;
        if (f[off] != 0xAA || f[off + 1] != 0xAA || f[off + 2] != 0x03) return DecodeResult::NotIp;
        etype = be16(f + off + 6);
        off += 8;
    }
    rec.ether_type = etype;
    switch (etype) {
    case kEtherIpv4:
        return decode_ipv4(f + off, caplen - off, rec, l4, frag);
    case kEtherIpv6:
        return decode_ipv6(f + off, caplen - off, rec, l4, frag);
    case kEtherMplsUc:
    case kEtherMplsMc:
        for (int labels = 0;; ++labels) {
            if (labels == kMaxMplsLabels) return DecodeResult::Malformed;
            if (off + 4 > caplen) return DecodeResult::Truncated;
            bool bottom = (f[off + 2] & 0x01) != 0;
            off += 4;
            if (bottom) break;
        }
        if (off >= caplen) return DecodeResult::Truncated;
        switch (f[off] >> 4) {
        case 4: return decode_ipv4(f + off, caplen - off, rec, l4, frag);
        case 6: return decode_ipv6(f + off, caplen - off, rec, l4, frag);
        default: return DecodeResult::NotIp;  // e.g. an Ethernet pseudowire
        }
    case kEtherPppoeSession: {
        if (off + 8 > caplen) return DecodeResult::Truncated;
        std::uint16_t ppp = be16(f + off + 6);
        off += 8;
        if (ppp == 0x0021) return decode_ipv4(f + off, caplen - off, rec, l4, frag);
        if (ppp == 0x0057) return decode_ipv6(f + off, caplen - off, rec, l4, frag);
        return DecodeResult::NotIp;
    }
    default:
        return DecodeResult::NotIp;
    }
}

// DLT_NULL stores the address family in the capturing host's byte order, DLT_LOOP in network
// order; BSDs disagree on the value of AF_INET6.
DecodeResult decode_af(std::uint32_t af, const std::uint8_t* f, std::uint32_t caplen, fa_record& rec, L4View& l4,
                       FragmentInfo& frag) {
    if (af == 2) return decode_ipv4(f + 4, caplen - 4, rec, l4, frag);
    if (af == 10 || af == 24 || af == 28 || af == 30) return decode_ipv6(f + 4, caplen - 4, rec, l4, frag);
    return DecodeResult::NotIp;
}

} // namespace

DecodeResult decode_frame(int dlt, const std::uint8_t* f, std::uint32_t caplen, std::uint32_t /*wirelen*/,
                          fa_record& rec, L4View& l4, FragmentInfo& frag) {
    l4 = L4View{};
    frag = FragmentInfo{};
    if (f == nullptr) return DecodeResult::Truncated;
    switch (dlt) {
    case kDltEthernet:
        if (caplen < 14) return DecodeResult::Truncated;
        std::memcpy(rec.dst_mac, f, 6);
        std::memcpy(rec.src_mac, f + 6, 6);
        return decode_ethertype(be16(f + 12), f, 14, caplen, rec, l4, frag);
    case kDltLinuxSll: {
        // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
        if (caplen < 16) return DecodeResult::Truncated;
        if (be16(f + 4) == 6) std::memcpy(rec.src_mac, f + 6, 6);
        return decode_ethertype(be16(f + 14), f, 16, caplen, rec, l4, frag);
    }
    case kDltLinuxSll2: {
        // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
        if (caplen < 20) return DecodeResult::Truncated;
        if (f[11] == 6) std::memcpy(rec.src_mac, f + 12, 6);
        return decode_ethertype(be16(f), f, 20, caplen, rec, l4, frag);
    }
    case kDltRaw:
    case kLinktypeRaw:
        return decode_ip_any(f, caplen, rec, l4, frag);
    case kDltIpv4:
        if (caplen >= 1 && (f[0] >> 4) != 4) return DecodeResult::Malformed;
        return decode_ipv4(f, caplen, rec, l4, frag);
    case kDltIpv6:
        if (caplen >= 1 && (f[0] >> 4) != 6) return DecodeResult::Malformed;
        return decode_ipv6(f, caplen, rec, l4, frag);
    case kDltNull: {
        if (caplen < 4) return DecodeResult::Truncated;
        std::uint32_t le = le32(f);
        return decode_af(le <= 0xffff ? le : be32(f), f, caplen, rec, l4, frag);
    }
    case kDltLoop:
        if (caplen < 4) return DecodeResult::Truncated;
        return decode_af(be32(f), f, caplen, rec, l4, frag);
    default:
        return DecodeResult::NotIp;
    }
}

DecodeResult decode_frame(int dlt, const std::uint8_t* frame, std::uint32_t caplen, std::uint32_t wirelen,
                          fa_record& rec, L4View& l4) {
    FragmentInfo frag;
    return decode_frame(dlt, frame, caplen, wirelen, rec, l4, frag);
}

DecodeResult decode_ip(const std::uint8_t* ip, std::uint32_t caplen, fa_record& rec, L4View& l4) {
    l4 = L4View{};
    FragmentInfo frag;
    if (ip == nullptr) return DecodeResult::Truncated;
    return decode_ip_any(ip, caplen, rec, l4, frag);
}

const char* to_string(DecodeResult r) noexcept {
    switch (r) {
    case DecodeResult::Ok: return "ok";
    case DecodeResult::NotIp: return "not_ip";
    case DecodeResult::Truncated: return "truncated";
    case DecodeResult::Malformed: return "malformed";
    }
    return "unknown";
}

} // namespace flowacct::packet
