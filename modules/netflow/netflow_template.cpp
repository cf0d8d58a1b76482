// SPDX-License-Identifier: GPL-2.0-or-later
// Template compilation (definition -> field-offset program) and its one-line text form.
#include "netflow_template.hpp"

#include <arpa/inet.h> // inet_ntop, inet_pton, AF_INET6

#include <cerrno>      // errno
#include <cstdlib>     // std::strtoull
#include <cstring>     // std::memcpy
#include <initializer_list> // std::initializer_list
#include <sstream>     // std::istringstream

namespace flowacct::netflow {

namespace {

// Information element ids (RFC 7012 / RFC 3954 field types) the decoder understands.
enum Ie : std::uint16_t {
    kOctetDelta = 1, kPacketDelta = 2, kProto = 4, kTos = 5, kTcpFlags = 6, kSrcPort = 7,
    kSrcIp4 = 8, kSrcMask4 = 9, kInIface = 10, kDstPort = 11, kDstIp4 = 12, kDstMask4 = 13,
    kOutIface = 14, kNextHop4 = 15, kSrcAs = 16, kDstAs = 17, kBgpNextHop4 = 18,
    kEndUptime = 21, kStartUptime = 22, kPostOctetDelta = 23, kPostPacketDelta = 24,
    kSrcIp6 = 27, kDstIp6 = 28, kSrcMask6 = 29, kDstMask6 = 30, kSamplingInterval = 34,
    kSamplerId = 48, kSamplerRandomInterval = 50, kSrcMac = 56, kPostDstMac = 57, kVlan = 58,
    kNextHop6 = 62, kBgpNextHop6 = 63, kDstMac = 80, kPostSrcMac = 81, kOctetTotal = 85,
    kPacketTotal = 86, kPeerDstAs = 128, kPeerSrcAs = 129, kStartSec = 150, kEndSec = 151,
    kStartMs = 152, kEndMs = 153, kStartUs = 154, kEndUs = 155, kStartNs = 156, kEndNs = 157,
    kStartDeltaUs = 158, kEndDeltaUs = 159, kSysInitMs = 160, kDot1qVlan = 243,
    kEtherType = 256, kSelectorId = 302, kPacketInterval = 305, kPacketSpace = 306,
    kSamplingSize = 309, kSamplingPopulation = 310,
};

// Picks, among alternatives in order of preference, the first element the template carries.
std::uint16_t pick(const TemplateDef& def, std::size_t first_field, std::initializer_list<std::uint16_t> prefs) {
    for (std::uint16_t want : prefs)
        for (std::size_t i = first_field; i < def.fields.size(); ++i)
            if (def.fields[i].pen == 0 && def.fields[i].id == want && def.fields[i].length != kVarlen)
                return want;
    return 0;
}

TimeMode mode_of(std::uint16_t ie) {
    switch (ie) {
    case kStartUptime: case kEndUptime: return TimeMode::Uptime;
    case kStartSec: case kEndSec: return TimeMode::Seconds;
    case kStartMs: case kEndMs: return TimeMode::Millis;
    case kStartUs: case kEndUs: case kStartNs: case kEndNs: return TimeMode::Ntp;
    case kStartDeltaUs: case kEndDeltaUs: return TimeMode::DeltaUs;
    default: return TimeMode::None;
    }
}

} // namespace

CompileResult compile(const TemplateDef& def, std::size_t max_fields, Program& out) {
    out = Program{};
    out.def = def;
    if (def.fields.empty()) return CompileResult::NoFields;
    if (def.fields.size() > max_fields) return CompileResult::TooManyFields;
    if (def.options && (def.scope_count == 0 || def.scope_count > def.fields.size()))
        return CompileResult::BadScope;

    // v9 scope fields use their own type space (1 = system, 2 = interface...): never decode them.
    const std::size_t first = (def.options && def.version == 9) ? def.scope_count : 0;
    const std::uint16_t bytes_ie = pick(def, first, {kOctetDelta, kOctetTotal, kPostOctetDelta});
    const std::uint16_t packets_ie = pick(def, first, {kPacketDelta, kPacketTotal, kPostPacketDelta});
    const std::uint16_t start_ie =
        pick(def, first, {kStartMs, kStartUs, kStartNs, kStartSec, kStartUptime, kStartDeltaUs});
    const std::uint16_t end_ie = pick(def, first, {kEndMs, kEndUs, kEndNs, kEndSec, kEndUptime, kEndDeltaUs});
    const std::uint16_t src_mac_ie = pick(def, first, {kSrcMac, kPostSrcMac});
    const std::uint16_t dst_mac_ie = pick(def, first, {kDstMac, kPostDstMac});
    const std::uint16_t nh4_ie = pick(def, first, {kNextHop4, kBgpNextHop4});
    const std::uint16_t nh6_ie = pick(def, first, {kNextHop6, kBgpNextHop6});
    const std::uint16_t vlan_ie = pick(def, first, {kVlan, kDot1qVlan});
    const std::uint16_t sampler_ie = pick(def, 0, {kSamplerId, kSelectorId});
    const std::uint16_t interval_ie = pick(def, first, {kSamplingInterval, kSamplerRandomInterval, kPacketInterval});
    out.start_mode = mode_of(start_ie);
    out.end_mode = mode_of(end_ie);

    std::uint32_t seg = 0; // offset inside the current fixed segment
    std::uint32_t varlen_fields = 0;
    for (std::size_t i = 0; i < def.fields.size(); ++i) {
        const FieldSpec& f = def.fields[i];
        if (f.length == kVarlen) {
            if (seg > 0xFFFF) return CompileResult::TooLong;
            out.ops.push_back(FieldOp::make(Op::Varlen, 0, seg));
            out.has_varlen = true;
            ++varlen_fields;
            seg = 0;
            continue;
        }
        const std::uint32_t len = f.length;
        Op op = Op::Skip;
        std::uint32_t need_min = 1, need_max = 8; // acceptable sizes for the chosen op
        const bool decodable = f.pen == 0 && i >= first;
        if (decodable && len > 0) {
            const std::uint16_t ie = f.id;
            auto addr = [&](Op o, std::uint32_t size) { op = o; need_min = need_max = size; };
            switch (ie) {
            case kSrcIp4: addr(Op::SrcIp4, 4); break;
            case kDstIp4: addr(Op::DstIp4, 4); break;
            case kSrcIp6: addr(Op::SrcIp6, 16); break;
            case kDstIp6: addr(Op::DstIp6, 16); break;
            case kNextHop4: case kBgpNextHop4: if (ie == nh4_ie) addr(Op::NextHop4, 4); break;
            case kNextHop6: case kBgpNextHop6: if (ie == nh6_ie) addr(Op::NextHop6, 16); break;
            case kSrcMac: case kPostSrcMac: if (ie == src_mac_ie) addr(Op::SrcMac, 6); break;
            case kDstMac: case kPostDstMac: if (ie == dst_mac_ie) addr(Op::DstMac, 6); break;
            case kSrcPort: op = Op::SrcPort; break;
            case kDstPort: op = Op::DstPort; break;
            case kProto: op = Op::Proto; break;
            case kTos: op = Op::Tos; break;
            case kTcpFlags: op = Op::TcpFlags; break;
            case kSrcMask4: case kSrcMask6: op = Op::SrcMask; break;
            case kDstMask4: case kDstMask6: op = Op::DstMask; break;
            case kInIface: op = Op::InIface; break;
            case kOutIface: op = Op::OutIface; break;
            case kSrcAs: op = Op::SrcAs; break;
            case kDstAs: op = Op::DstAs; break;
            case kPeerSrcAs: op = Op::PeerSrcAs; break;
            case kPeerDstAs: op = Op::PeerDstAs; break;
            case kVlan: case kDot1qVlan: if (ie == vlan_ie) op = Op::Vlan; break;
            case kEtherType: op = Op::EtherType; break;
            case kOctetDelta: case kOctetTotal: case kPostOctetDelta: if (ie == bytes_ie) op = Op::Bytes; break;
            case kPacketDelta: case kPacketTotal: case kPostPacketDelta: if (ie == packets_ie) op = Op::Packets; break;
            case kSysInitMs: op = Op::SysInitMs; break;
            case kSamplerId: case kSelectorId: if (ie == sampler_ie) op = Op::SamplerId; break;
            case kSamplingInterval: case kSamplerRandomInterval: case kPacketInterval:
                if (ie == interval_ie) op = Op::SamplingInterval;
                break;
            case kPacketSpace: op = Op::SamplingSpace; break;
            case kSamplingSize: op = Op::SamplingSize; break;
            case kSamplingPopulation: op = Op::SamplingPopulation; break;
            default:
                if (ie == start_ie) op = Op::StartRaw;
                else if (ie == end_ie) op = Op::EndRaw;
                if ((op == Op::StartRaw || op == Op::EndRaw) && mode_of(ie) == TimeMode::Ntp)
                    need_min = need_max = 8;
                break;
            }
            if (op != Op::Skip && (len < need_min || len > need_max)) {
                ++out.bad_field_lengths; // decoded as opaque: never copy past the destination
                if (op == Op::StartRaw) out.start_mode = TimeMode::None;
                if (op == Op::EndRaw) out.end_mode = TimeMode::None;
                op = Op::Skip;
            }
        }
        if (op != Op::Skip) {
            if (seg > 0xFFFF) return CompileResult::TooLong;
            out.ops.push_back(FieldOp::make(op, len, seg));
            if (op == Op::SamplerId) out.has_sampler_id = true;
            if (op == Op::SamplingInterval) out.has_interval = true;
        }
        seg += len;
        out.fixed_len += len;
        if (out.fixed_len > 0xFFFF) return CompileResult::TooLong;
    }
    // The tail segment has no field; its length is what follows the last varlen field.
    out.ops.push_back(FieldOp::make(Op::End, 0, seg));
    out.min_len = out.fixed_len + varlen_fields;
    // Largest record an IPFIX message can hold: 65535 - message header - set header.
    if (out.min_len > 65535 - 16 - 4) return CompileResult::TooLong;
    if (out.min_len == 0) return CompileResult::NoFields;
    return CompileResult::Ok;
}

std::string to_line(const TemplateDef& def) {
    char addr[INET6_ADDRSTRLEN] = "::";
    inet_ntop(AF_INET6, def.exporter, addr, sizeof addr);
    std::string s = std::to_string(def.version) + " " + addr + " " + std::to_string(def.port) + " " +
                    std::to_string(def.domain) + " " + std::to_string(def.id) + " " +
                    (def.options ? "1" : "0") + " " + std::to_string(def.scope_count) + " " +
                    std::to_string(def.fields.size());
    for (const FieldSpec& f : def.fields)
        s += " " + std::to_string(f.id) + "/" + std::to_string(f.length) + "/" + std::to_string(f.pen);
    return s;
}

namespace {

bool parse_uint(const std::string& tok, std::uint64_t max, std::uint64_t& out) {
    if (tok.empty() || tok.size() > 20) return false;
    for (char c : tok)
        if (c < '0' || c > '9') return false;
    errno = 0;
    out = std::strtoull(tok.c_str(), nullptr, 10);
    return errno == 0 && out <= max;
}

} // namespace

bool parse_line(const std::string& line, TemplateDef& out) {
    std::istringstream in(line);
    std::string tok;
    std::uint64_t v = 0;
    out = TemplateDef{};
    if (!(in >> tok) || !parse_uint(tok, 10, v) || (v != 9 && v != 10)) return false;
    out.version = static_cast<std::uint8_t>(v);
    if (!(in >> tok) || inet_pton(AF_INET6, tok.c_str(), out.exporter) != 1) return false;
    if (!(in >> tok) || !parse_uint(tok, 0xFFFF, v)) return false;
    out.port = static_cast<std::uint16_t>(v);
    if (!(in >> tok) || !parse_uint(tok, 0xFFFFFFFFu, v)) return false;
    out.domain = static_cast<std::uint32_t>(v);
    if (!(in >> tok) || !parse_uint(tok, 0xFFFF, v) || v < 256) return false;
    out.id = static_cast<std::uint16_t>(v);
    if (!(in >> tok) || !parse_uint(tok, 1, v)) return false;
    out.options = v == 1;
    if (!(in >> tok) || !parse_uint(tok, 0xFFFF, v)) return false;
    out.scope_count = static_cast<std::uint16_t>(v);
    std::uint64_t n = 0;
    if (!(in >> tok) || !parse_uint(tok, 0xFFFF, n)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
        if (!(in >> tok)) return false;
        const auto a = tok.find('/');
        const auto b = tok.find('/', a == std::string::npos ? a : a + 1);
        if (a == std::string::npos || b == std::string::npos) return false;
        FieldSpec f;
        if (!parse_uint(tok.substr(0, a), 0xFFFF, v)) return false;
        f.id = static_cast<std::uint16_t>(v);
        if (!parse_uint(tok.substr(a + 1, b - a - 1), 0xFFFF, v)) return false;
        f.length = static_cast<std::uint16_t>(v);
        if (!parse_uint(tok.substr(b + 1), 0xFFFFFFFFu, v)) return false;
        f.pen = static_cast<std::uint32_t>(v);
        out.fields.push_back(f);
    }
    return !(in >> tok); // nothing may follow
}

} // namespace flowacct::netflow
