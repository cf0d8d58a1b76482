// SPDX-License-Identifier: GPL-2.0-or-later
// L2-L4 frame decoder: turns one captured frame (or one IP header) into a flow record.
#pragma once

#include <cstdint>        // std::uint8_t, std::uint32_t

#include <flowacct/abi.h> // fa_record, FA_REC_FRAGMENT

namespace flowacct::packet {

enum class DecodeResult { Ok, NotIp, Truncated, Malformed };

// L4 payload bytes present in the capture (after the TCP/UDP header; the whole L4 part for
// other protocols). Points into the caller's frame buffer.
struct L4View {
    const std::uint8_t* payload = nullptr;
    std::uint32_t payload_len = 0;
};

// Link types understood by decode_frame (libpcap DLT_* values, fixed on Linux).
inline constexpr int kDltNull = 0;
inline constexpr int kDltEthernet = 1;
inline constexpr int kDltRaw = 12;          // DLT_RAW on Linux
inline constexpr int kLinktypeRaw = 101;    // LINKTYPE_RAW as stored in savefiles
inline constexpr int kDltLoop = 108;
inline constexpr int kDltLinuxSll = 113;
inline constexpr int kDltIpv4 = 228;
inline constexpr int kDltIpv6 = 229;
inline constexpr int kDltLinuxSll2 = 276;

// Bounds on header chains, so a hostile frame costs a fixed amount of work.
inline constexpr int kMaxVlanTags = 8;
inline constexpr int kMaxMplsLabels = 16;
inline constexpr int kMaxIpv6ExtHeaders = 16;

/// Decodes one frame of libpcap link type `dlt` (DLT_EN10MB incl. 802.1Q/802.1ad QinQ, LLC/SNAP,
/// MPLS and PPPoE session frames, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW/DLT_IPV4/DLT_IPV6 and
/// LINKTYPE_RAW 101, DLT_NULL, DLT_LOOP) into `rec`: macs, vlan (outer tag), ether_type (of the
/// L3 header), src/dst ip (IPv4 as v4-mapped), ip_version, proto, tos, TCP/UDP ports, tcp_flags,
/// FA_REC_FRAGMENT for non-first fragments (ports 0), packets=1, flows=0 and bytes as pmacctd
/// counts them: the IPv4 total length, or the IPv6 payload length + 40.
///
/// Called on any thread; pure (no state, no allocation, no logging). Reads only
/// frame[0, caplen); `wirelen` is informational. `rec` must be zeroed by the caller; fields the
/// frame does not carry stay zero. `l4` points into `frame`.
/// Result: Ok = an IP record (an L4 header cut by the snaplen leaves ports 0);
/// NotIp = a well-formed non-IP frame (L2 fields filled); Truncated = the frame ends before the
/// IP header does; Malformed = a header is inconsistent (IHL < 5, total length < header length,
/// wrong IP version, too many tags or extension headers).
DecodeResult decode_frame(int dlt, const std::uint8_t* frame, std::uint32_t caplen, std::uint32_t wirelen,
                          fa_record& rec, L4View& l4);

/// The same starting at an IPv4 or IPv6 header (picked by the version nibble), e.g. for sFlow
/// sampled headers of protocol IPv4/IPv6. Sets ether_type to 0x0800 or 0x86DD.
DecodeResult decode_ip(const std::uint8_t* ip, std::uint32_t caplen, fa_record& rec, L4View& l4);

/// Fragment identity of the last IP packet decoded, for callers that join fragments (the pcap
/// input gives later fragments the ports of their first fragment, as pmacctd does).
struct FragmentInfo {
    bool is_fragment = false;     // MF set or offset non-zero
    bool is_first = false;        // offset zero
    std::uint32_t id = 0;         // IPv4 identification or IPv6 fragment header identification
};

/// decode_frame() that also reports the fragment identity. Same contract.
DecodeResult decode_frame(int dlt, const std::uint8_t* frame, std::uint32_t caplen, std::uint32_t wirelen,
                          fa_record& rec, L4View& l4, FragmentInfo& frag);

/// A short lower-case name of a result, for logs and tests.
const char* to_string(DecodeResult r) noexcept;

} // namespace flowacct::packet
