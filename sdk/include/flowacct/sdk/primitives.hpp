// SPDX-License-Identifier: GPL-2.0-or-later
// The aggregation primitives: their configuration names, their pmacct column names (formatted
// headers, JSON/SQL names) and how a value is printed and parsed. Shared by the aggregator, the
// outputs and the query client so that every view names and prints a primitive the same way.
#pragma once

#include <arpa/inet.h>   // inet_ntop, inet_pton
#include <charconv>      // std::to_chars
#include <cstdint>       // std::uint8_t
#include <cstdio>        // std::snprintf
#include <cstring>       // std::memcpy, std::memcmp
#include <ctime>         // localtime_r
#include <string>        // std::string
#include <string_view>   // std::string_view

#include <flowacct/abi.h> // fa_record, fa_primitive

namespace flowacct::sdk {

struct PrimitiveInfo {
    fa_primitive id;
    const char* name;    // as `aggregate` writes it
    const char* header;  // formatted/CSV header, pmacct's spelling
    const char* column;  // JSON key and SQL column, pmacct's spelling
    int width;           // formatted column width
};

// Order is the column order of printed rows (pmacct's order where it has one).
inline constexpr PrimitiveInfo kPrimitives[] = {
    {FA_P_TAG, "tag", "TAG", "tag", 10},
    {FA_P_TAG2, "tag2", "TAG2", "tag2", 10},
    {FA_P_LABEL, "label", "LABEL", "label", 16},
    {FA_P_CLASS, "class", "CLASS", "class", 16},
    {FA_P_SRC_MAC, "src_mac", "SRC_MAC", "mac_src", 17},
    {FA_P_DST_MAC, "dst_mac", "DST_MAC", "mac_dst", 17},
    {FA_P_SUM_MAC, "sum_mac", "SRC_MAC", "mac_src", 17},
    {FA_P_VLAN, "vlan", "VLAN", "vlan", 5},
    {FA_P_ETYPE, "etype", "ETYPE", "etype", 5},
    {FA_P_SRC_AS, "src_as", "SRC_AS", "as_src", 10},
    {FA_P_DST_AS, "dst_as", "DST_AS", "as_dst", 10},
    {FA_P_SUM_AS, "sum_as", "SRC_AS", "as_src", 10},
    {FA_P_PEER_SRC_AS, "peer_src_as", "PEER_SRC_AS", "peer_as_src", 11},
    {FA_P_PEER_DST_AS, "peer_dst_as", "PEER_DST_AS", "peer_as_dst", 11},
    {FA_P_PEER_SRC_IP, "peer_src_ip", "PEER_SRC_IP", "peer_ip_src", 45},
    {FA_P_PEER_DST_IP, "peer_dst_ip", "PEER_DST_IP", "peer_ip_dst", 45},
    {FA_P_IN_IFACE, "in_iface", "IN_IFACE", "iface_in", 10},
    {FA_P_OUT_IFACE, "out_iface", "OUT_IFACE", "iface_out", 10},
    {FA_P_SRC_HOST, "src_host", "SRC_IP", "ip_src", 45},
    {FA_P_SUM_HOST, "sum_host", "SRC_IP", "ip_src", 45},
    {FA_P_SRC_NET, "src_net", "SRC_NET", "net_src", 45},
    {FA_P_SUM_NET, "sum_net", "SRC_NET", "net_src", 45},
    {FA_P_DST_HOST, "dst_host", "DST_IP", "ip_dst", 45},
    {FA_P_DST_NET, "dst_net", "DST_NET", "net_dst", 45},
    {FA_P_SRC_MASK, "src_mask", "SRC_MASK", "mask_src", 8},
    {FA_P_DST_MASK, "dst_mask", "DST_MASK", "mask_dst", 8},
    {FA_P_SRC_PORT, "src_port", "SRC_PORT", "port_src", 8},
    {FA_P_SUM_PORT, "sum_port", "SRC_PORT", "port_src", 8},
    {FA_P_DST_PORT, "dst_port", "DST_PORT", "port_dst", 8},
    {FA_P_TCPFLAGS, "tcpflags", "TCP_FLAGS", "tcp_flags", 9},
    {FA_P_PROTO, "proto", "PROTOCOL", "ip_proto", 10},
    {FA_P_TOS, "tos", "TOS", "tos", 5},
    {FA_P_SAMPLING_RATE, "sampling_rate", "SAMPLING_RATE", "sampling_rate", 13},
};

inline const PrimitiveInfo* find_primitive(std::string_view name) {
    for (const auto& p : kPrimitives)
        if (name == p.name) return &p;
    return nullptr;
}

inline const PrimitiveInfo& primitive_info(fa_primitive id) {
    for (const auto& p : kPrimitives)
        if (p.id == id) return p;
    return kPrimitives[0];
}

inline bool has_primitive(std::uint64_t mask, fa_primitive id) { return (mask >> id) & 1u; }

inline bool is_v4_mapped(const std::uint8_t* a) {
    static const std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(a, prefix, 12) == 0;
}

inline void set_v4(std::uint8_t* dst, const std::uint8_t* v4) {
    std::memset(dst, 0, 10);
    dst[10] = 0xff;
    dst[11] = 0xff;
    std::memcpy(dst + 12, v4, 4);
}

inline bool is_zero_addr(const std::uint8_t* a) {
    for (int i = 0; i < 16; ++i)
        if (a[i]) return false;
    return true;
}

/// IPv4-mapped addresses print as dotted quads; an all-zero address prints as 0.0.0.0 (pmacct's
/// empty value) unless `v6` says the record is IPv6.
namespace detail {
// Dotted quad of 4 bytes at `a`, written at `p`; returns the end.
inline char* put_v4(char* p, const std::uint8_t* a) {
    for (int i = 0; i < 4; ++i) {
        unsigned v = a[i];
        if (v >= 100) {
            *p++ = static_cast<char>('0' + v / 100);
            v %= 100;
            *p++ = static_cast<char>('0' + v / 10);
        } else if (v >= 10) {
            *p++ = static_cast<char>('0' + v / 10);
        }
        *p++ = static_cast<char>('0' + v % 10);
        if (i < 3) *p++ = '.';
    }
    return p;
}
// IPv6 text as glibc's inet_ntop writes it (RFC 5952: the longest run of two or more zero groups,
// the first of equal runs, becomes "::"; lower-case hex; "::a.b.c.d" and "::ffff:a.b.c.d" for
// IPv4-compatible and -mapped addresses), at `p`; returns the end. pmacct prints with inet_ntop.
inline char* put_v6(char* p, const std::uint8_t* a) {
    static constexpr char kHex[] = "0123456789abcdef";
    unsigned w[8];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<unsigned>(a[2 * i]) << 8 | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && w[j] == 0) ++j;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best = -1;
    for (int i = 0; i < 8; ++i) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) *p++ = ':';
            continue;
        }
        if (i != 0) *p++ = ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)))
            return put_v4(p, a + 12);
        unsigned v = w[i];
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            unsigned d = (v >> shift) & 0xf;
            if (d || started || shift == 0) {
                *p++ = kHex[d];
                started = true;
            }
        }
    }
    if (best >= 0 && best + best_len == 8) *p++ = ':';
    return p;
}
} // namespace detail

/// Writes the text of a 16-byte address at `buf` (46 bytes at least) and returns its length:
/// IPv4 for a v4-mapped address (and 0.0.0.0 for an all-zero one unless `v6`), else IPv6.
inline std::size_t format_addr(char* buf, const std::uint8_t* a, bool v6 = false) {
    if (is_v4_mapped(a)) return static_cast<std::size_t>(detail::put_v4(buf, a + 12) - buf);
    if (is_zero_addr(a) && !v6) {
        std::memcpy(buf, "0.0.0.0", 7);
        return 7;
    }
    return static_cast<std::size_t>(detail::put_v6(buf, a) - buf);
}

/// Appends the text format_addr() writes.
inline void append_addr(std::string& out, const std::uint8_t* a, bool v6 = false) {
    char buf[48];
    out.append(buf, format_addr(buf, a, v6));
}

inline std::string addr_to_string(const std::uint8_t* a, bool v6 = false) {
    std::string s;
    append_addr(s, a, v6);
    return s;
}

/// Parses IPv4 or IPv6 text into the 16-byte form. Returns false on bad input.
inline bool parse_addr(const std::string& text, std::uint8_t* out) {
    std::uint8_t v4[4];
    if (inet_pton(AF_INET, text.c_str(), v4) == 1) {
        set_v4(out, v4);
        return true;
    }
    return inet_pton(AF_INET6, text.c_str(), out) == 1;
}

/// Writes the 17 characters of a MAC address (aa:bb:cc:dd:ee:ff) at `buf`.
inline void format_mac(char* buf, const std::uint8_t* m) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 6; ++i) {
        buf[3 * i] = kHex[m[i] >> 4];
        buf[3 * i + 1] = kHex[m[i] & 0xf];
        if (i < 5) buf[3 * i + 2] = ':';
    }
}

inline void append_mac(std::string& out, const std::uint8_t* m) {
    char buf[17];
    format_mac(buf, m);
    out.append(buf, 17);
}

inline std::string mac_to_string(const std::uint8_t* m) {
    std::string s;
    append_mac(s, m);
    return s;
}

/// Parses exactly what format_mac writes (17 characters, hex digits of either case). Returns
/// false on anything else.
inline bool parse_mac_exact(std::string_view text, std::uint8_t* out) {
    if (text.size() != 17) return false;
    const auto hex = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (int i = 0; i < 6; ++i) {
        const int h = hex(text[i * 3]), l = hex(text[i * 3 + 1]);
        if (h < 0 || l < 0 || (i < 5 && text[i * 3 + 2] != ':')) return false;
        out[i] = static_cast<std::uint8_t>(h * 16 + l);
    }
    return true;
}

inline bool parse_mac(const std::string& text, std::uint8_t* out) {
    unsigned v[6];
    char tail;
    if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return false;
    for (int i = 0; i < 6; ++i) {
        if (v[i] > 255) return false;
        out[i] = static_cast<std::uint8_t>(v[i]);
    }
    return true;
}

/// IANA protocol names as pmacct prints them; numbers for the others.
inline const char* proto_name(std::uint8_t p) {
    switch (p) {
    case 0: return "ip";
    case 1: return "icmp";
    case 2: return "igmp";
    case 4: return "ipip";
    case 6: return "tcp";
    case 17: return "udp";
    case 41: return "ipv6";
    case 46: return "rsvp";
    case 47: return "gre";
    case 50: return "esp";
    case 51: return "ah";
    case 58: return "ipv6-icmp";
    case 89: return "ospf";
    case 103: return "pim";
    case 112: return "vrrp";
    case 132: return "sctp";
    default: return nullptr;
    }
}

inline bool parse_proto(const std::string& text, std::uint8_t& out) {
    for (int p = 0; p < 256; ++p) {
        const char* n = proto_name(static_cast<std::uint8_t>(p));
        if (n && text == n) {
            out = static_cast<std::uint8_t>(p);
            return true;
        }
    }
    char* end = nullptr;
    unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || *end || v > 255) return false;
    out = static_cast<std::uint8_t>(v);
    return true;
}

struct FormatOptions {
    bool numeric_proto = false; // -u
};

/// Appends the decimal digits of `v`.
template <class T> void append_number(std::string& out, T v) {
    char buf[24];
    out.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, v).ptr - buf));
}

/// Appends the printed value of primitive `id` in `r` (a row's record) to `out`, with no string
/// in between (outputs print one per column per row). `names` resolves interned ids.
template <class NameOf>
void append_primitive(std::string& out, const fa_record& r, fa_primitive id, NameOf&& names, const FormatOptions& o = {}) {
    const bool v6 = r.ip_version == 6;
    switch (id) {
    case FA_P_SRC_MAC:
    case FA_P_SUM_MAC: return append_mac(out, r.src_mac);
    case FA_P_DST_MAC: return append_mac(out, r.dst_mac);
    case FA_P_VLAN: return append_number(out, r.vlan);
    case FA_P_ETYPE: {
        char b[8];
        out.append(b, static_cast<std::size_t>(std::to_chars(b, b + sizeof b, r.ether_type, 16).ptr - b));
        return;
    }
    case FA_P_SRC_HOST:
    case FA_P_SUM_HOST: return append_addr(out, r.src_ip, v6);
    case FA_P_DST_HOST: return append_addr(out, r.dst_ip, v6);
    case FA_P_SRC_NET:
    case FA_P_SUM_NET: return append_addr(out, r.src_net, v6);
    case FA_P_DST_NET: return append_addr(out, r.dst_net, v6);
    case FA_P_SRC_MASK: return append_number(out, r.src_mask);
    case FA_P_DST_MASK: return append_number(out, r.dst_mask);
    case FA_P_SRC_AS:
    case FA_P_SUM_AS: return append_number(out, r.src_as);
    case FA_P_DST_AS: return append_number(out, r.dst_as);
    case FA_P_PEER_SRC_AS: return append_number(out, r.peer_src_as);
    case FA_P_PEER_DST_AS: return append_number(out, r.peer_dst_as);
    case FA_P_SRC_PORT:
    case FA_P_SUM_PORT: return append_number(out, r.src_port);
    case FA_P_DST_PORT: return append_number(out, r.dst_port);
    case FA_P_TOS: return append_number(out, r.tos);
    case FA_P_PROTO: {
        const char* n = o.numeric_proto ? nullptr : proto_name(r.proto);
        if (n) out += n;
        else append_number(out, r.proto);
        return;
    }
    case FA_P_TCPFLAGS: return append_number(out, r.tcp_flags);
    case FA_P_TAG: return append_number(out, r.tag);
    case FA_P_TAG2: return append_number(out, r.tag2);
    case FA_P_LABEL: out += names(r.label_id); return;
    case FA_P_CLASS: {
        const std::string n = names(r.class_id);
        out += n.empty() ? "unknown" : n.c_str();
        return;
    }
    case FA_P_IN_IFACE: return append_number(out, r.in_iface);
    case FA_P_OUT_IFACE: return append_number(out, r.out_iface);
    // pmacct prints an unknown exporter or next hop as "::".
    case FA_P_PEER_SRC_IP: return append_addr(out, r.peer_src_ip, !is_v4_mapped(r.peer_src_ip));
    case FA_P_PEER_DST_IP: return append_addr(out, r.nexthop, !is_v4_mapped(r.nexthop));
    case FA_P_SAMPLING_RATE: return append_number(out, r.sampling_rate);
    case FA_P_FLOWS: return append_number(out, r.flows);
    case FA_P_COUNT: break;
    }
}

/// The printed value of primitive `id` in `r` (a row's record). `names` resolves interned ids.
template <class NameOf>
std::string format_primitive(const fa_record& r, fa_primitive id, NameOf&& names, const FormatOptions& o = {}) {
    std::string out;
    append_primitive(out, r, id, names, o);
    return out;
}

/// pmacct's time format for stamps (print output, SQL tables): local time, "YYYY-MM-DD HH:MM:SS".
inline std::string format_stamp(std::uint64_t t_s) {
    const std::time_t t = static_cast<std::time_t>(t_s);
    std::tm tm{};
    localtime_r(&t, &tm);
    char b[64];
    std::snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec);
    return b;
}

/// `s` escaped for use inside a JSON string (quotes, backslashes, control characters).
inline std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            out += b;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

/// True for primitives printed as JSON numbers rather than strings.
inline bool primitive_is_numeric(fa_primitive id) {
    switch (id) {
    case FA_P_VLAN: case FA_P_SRC_MASK: case FA_P_DST_MASK: case FA_P_SRC_AS: case FA_P_DST_AS:
    case FA_P_SUM_AS: case FA_P_PEER_SRC_AS: case FA_P_PEER_DST_AS: case FA_P_SRC_PORT:
    case FA_P_DST_PORT: case FA_P_SUM_PORT: case FA_P_TOS: case FA_P_TAG:
    case FA_P_TAG2: case FA_P_IN_IFACE: case FA_P_OUT_IFACE: case FA_P_SAMPLING_RATE:
        return true;
    default:
        return false;
    }
}

} // namespace flowacct::sdk
