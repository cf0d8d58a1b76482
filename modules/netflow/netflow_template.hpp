// SPDX-License-Identifier: GPL-2.0-or-later
// v9/IPFIX templates: their definition as received, and the field-offset program compiled from
// it once so that data records decode without any per-field lookup.
#pragma once

#include <cstdint> // std::uint8_t .. std::uint64_t
#include <string>  // std::string
#include <vector>  // std::vector

namespace flowacct::netflow {

inline constexpr std::uint16_t kVarlen = 0xFFFF;

/// One field specifier. `pen` is 0 for IANA elements.
struct FieldSpec {
    std::uint16_t id = 0;
    std::uint16_t length = 0; // kVarlen: IPFIX variable length
    std::uint32_t pen = 0;
    bool operator==(const FieldSpec&) const = default;
};

/// A template as the exporter defined it; the unit persisted in nfacctd_templates_file.
struct TemplateDef {
    std::uint8_t exporter[16] = {}; // IPv4-mapped or IPv6
    std::uint16_t port = 0;
    std::uint32_t domain = 0;       // v9 source id / IPFIX observation domain
    std::uint16_t id = 0;
    std::uint8_t version = 9;       // 9 or 10
    bool options = false;
    std::uint16_t scope_count = 0;  // options only: the first scope_count fields are scopes
    std::vector<FieldSpec> fields;
};

/// What a compiled field does with its bytes.
enum class Op : std::uint8_t {
    Skip,
    Varlen,                 // a variable-length field: read its length prefix, move the base
    SrcIp4, DstIp4, SrcIp6, DstIp6, NextHop4, NextHop6,
    SrcMac, DstMac,
    SrcPort, DstPort, Proto, Tos, TcpFlags, SrcMask, DstMask,
    InIface, OutIface, SrcAs, DstAs, PeerSrcAs, PeerDstAs, Vlan, EtherType,
    Bytes, Packets,
    StartRaw, EndRaw,       // raw time values, interpreted by Program::start/end_mode
    SysInitMs,              // IE 160: systemInitTimeMilliseconds
    SamplerId,              // IE 48 / 302
    SamplingInterval,       // IE 34 / 50 / 305
    SamplingSpace,          // IE 306
    SamplingSize,           // IE 309
    SamplingPopulation,     // IE 310
    End,                    // the tail: its offset is the length of the last fixed segment
};

/// How a raw time value turns into µs since the epoch.
enum class TimeMode : std::uint8_t {
    None,
    Uptime,   // ms since the exporter booted (v9: header sysUptime; IPFIX: systemInitTime)
    Seconds,  // s since the epoch
    Millis,   // ms since the epoch
    Ntp,      // 64-bit NTP timestamp (IPFIX dateTimeMicroseconds/Nanoseconds)
    DeltaUs,  // µs before the export time
};

/// Where a field's handler sits in the decoder's dispatch table: one entry per op, five per
/// integer op (SrcPort .. SamplingPopulation: a big-endian load of 1, 2, 4, 8 or another length).
constexpr std::uint8_t dispatch_index(Op op, std::uint32_t len) {
    const auto o = static_cast<std::uint32_t>(op);
    const auto first_int = static_cast<std::uint32_t>(Op::SrcPort);
    const auto last_int = static_cast<std::uint32_t>(Op::SamplingPopulation);
    if (o < first_int) return static_cast<std::uint8_t>(o);
    if (o > last_int) return static_cast<std::uint8_t>(first_int + 5 * (last_int - first_int + 1) + (o - last_int - 1));
    const std::uint32_t width = len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : len == 8 ? 3 : 4;
    return static_cast<std::uint8_t>(first_int + 5 * (o - first_int) + width);
}

/// One step: run the handler of an op (dispatch_index) on `len` bytes at base + `offset`.
struct FieldOp {
    std::uint8_t handler;  // dispatch_index(op, len)
    std::uint8_t len;      // 1..16; for Varlen 0
    std::uint16_t offset;  // from the current base (the record start, or after the last varlen)
    static FieldOp make(Op op, std::uint32_t len, std::uint32_t offset) {
        return FieldOp{dispatch_index(op, len), static_cast<std::uint8_t>(len), static_cast<std::uint16_t>(offset)};
    }
};

/// A template compiled into a straight list of FieldOps.
struct Program {
    TemplateDef def;
    std::vector<FieldOp> ops;
    std::uint32_t fixed_len = 0;   // sum of fixed-length fields
    std::uint32_t min_len = 0;     // fixed_len + 1 per varlen field: the smallest record
    bool has_varlen = false;
    TimeMode start_mode = TimeMode::None;
    TimeMode end_mode = TimeMode::None;
    bool has_sampler_id = false;
    bool has_interval = false;
    std::uint32_t bad_field_lengths = 0; // known elements with a wrong size, decoded as opaque
    std::uint64_t refreshed_us = 0;      // arrival time of the last definition or refresh
};

/// Why a template was refused, or Ok.
enum class CompileResult { Ok, NoFields, TooManyFields, TooLong, BadScope };

/// Builds `out` from `def`. Fields with a known meaning but a wrong size become opaque
/// (counted in out.bad_field_lengths). Pure function; any thread.
CompileResult compile(const TemplateDef& def, std::size_t max_fields, Program& out);

/// One line of text for a template, and back (nfacctd_templates_file). parse() returns false
/// on any malformed line and leaves `out` unspecified.
std::string to_line(const TemplateDef& def);
bool parse_line(const std::string& line, TemplateDef& out);

} // namespace flowacct::netflow
