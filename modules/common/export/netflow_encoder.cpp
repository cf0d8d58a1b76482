// SPDX-License-Identifier: GPL-2.0-or-later
// NetFlow v5 (Cisco), v9 (RFC 3954) and IPFIX (RFC 7011) datagram building.
#include "netflow_encoder.hpp"

#include <cstring>  // std::memcpy

namespace flowacct::exporter {

namespace {

struct Field {
    std::uint16_t id;
    std::uint16_t len;
};

// Data templates. The last group differs per version: uptime (v9) or absolute ms (IPFIX), and the
// sampler id (v9 FLOW_SAMPLER_ID 48, IPFIX selectorId 302).
constexpr Field kV4Fields[] = {{8, 4},  {12, 4}, {15, 4}, {7, 2},  {11, 2}, {4, 1},  {5, 1},
                               {6, 1},  {9, 1},  {13, 1}, {10, 4}, {14, 4}, {16, 4}, {17, 4},
                               {58, 2}, {56, 6}, {80, 6}, {1, 8},  {2, 8}};
constexpr Field kV6Fields[] = {{27, 16}, {28, 16}, {62, 16}, {7, 2},  {11, 2}, {4, 1},  {5, 1},
                               {6, 1},   {29, 1},  {30, 1},  {10, 4}, {14, 4}, {16, 4}, {17, 4},
                               {58, 2},  {56, 6},  {80, 6},  {1, 8},  {2, 8}};
// Lean templates: flows that carry no routing data (interfaces, ASes, masks and next hop all
// zero, as a capture's flows are) and whose counters fit 32 bits (reduced-size encoding, RFC 7011
// section 6.2; the flow cache closes a flow before its counters pass 32 bits): 35 % fewer bytes
// a flow, hence fewer datagrams.
constexpr Field kV4LeanFields[] = {{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {5, 1}, {6, 1}, {58, 2}, {56, 6}, {80, 6}, {1, 4}, {2, 4}};
constexpr Field kV6LeanFields[] = {{27, 16}, {28, 16}, {7, 2}, {11, 2}, {4, 1}, {5, 1}, {6, 1}, {58, 2}, {56, 6}, {80, 6}, {1, 4}, {2, 4}};
constexpr Field kV9Tail[] = {{22, 4}, {21, 4}, {48, 2}};
constexpr Field kIpfixTail[] = {{152, 8}, {153, 8}, {302, 2}};

constexpr std::size_t kV5Header = 24, kV5Record = 48, kV5MaxFlows = 30;
constexpr std::size_t kV9Header = 20, kIpfixHeader = 16;

constexpr std::size_t fields_len(const Field* f, std::size_t n) {
    std::size_t s = 0;
    for (std::size_t i = 0; i < n; ++i) s += f[i].len;
    return s;
}
constexpr std::size_t kV9TailLen = fields_len(kV9Tail, 3), kIpfixTailLen = fields_len(kIpfixTail, 3);
constexpr std::size_t kNf = sizeof kV4Fields / sizeof kV4Fields[0];
static_assert(sizeof kV6Fields / sizeof kV6Fields[0] == kNf, "both templates have the same shape");
constexpr std::size_t kNl = sizeof kV4LeanFields / sizeof kV4LeanFields[0];
static_assert(sizeof kV6LeanFields / sizeof kV6LeanFields[0] == kNl, "both lean templates have the same shape");

// The data templates, in the order they are announced: [lean * 2 + v6].
struct Shape {
    std::uint16_t id;
    const Field* fields;
    std::size_t n;
    std::size_t len; // bytes of the fields, without the version's tail
};
constexpr Shape kShapes[] = {{256, kV4Fields, kNf, fields_len(kV4Fields, kNf)},
                             {257, kV6Fields, kNf, fields_len(kV6Fields, kNf)},
                             {259, kV4LeanFields, kNl, fields_len(kV4LeanFields, kNl)},
                             {260, kV6LeanFields, kNl, fields_len(kV6LeanFields, kNl)}};

bool all_zero(const std::uint8_t* p, std::size_t n) {
    std::uint8_t any = 0;
    for (std::size_t i = 0; i < n; ++i) any |= p[i];
    return any == 0;
}

// Whether `f` fits a lean template (see kV4LeanFields).
bool fits_lean(const fa_record& f, bool v6) {
    return f.in_iface == 0 && f.out_iface == 0 && f.src_as == 0 && f.dst_as == 0 && f.src_mask == 0 && f.dst_mask == 0 &&
           f.packets <= 0xffffffffull && f.bytes <= 0xffffffffull &&
           (v6 ? all_zero(f.nexthop, 16) : all_zero(f.nexthop + 12, 4));
}

std::uint32_t clamp32(std::uint64_t v) { return v > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(v); }

} // namespace

NetflowEncoder::NetflowEncoder(const NetflowConfig& config, DatagramSink& sink)
    : cfg_(config), sink_(sink), w_(buf_, config.max_datagram < sizeof buf_ ? config.max_datagram : sizeof buf_) {
    if (cfg_.refresh_packets == 0) cfg_.refresh_packets = 1;
}

std::uint32_t NetflowEncoder::uptime_ms(std::uint64_t t_us) const {
    return static_cast<std::uint32_t>((t_us > boot_us_ ? t_us - boot_us_ : 0) / 1000);
}

std::uint16_t NetflowEncoder::sampler_for(std::uint32_t rate, bool& is_new) {
    if (rate == 0) rate = 1;
    is_new = false;
    for (std::size_t i = 0; i < rate_count_; ++i)
        if (rates_[i] == rate) return static_cast<std::uint16_t>(i + 1);
    if (rate_count_ == kMaxRates) return 0; // sampler 0: not announced, the collector keeps its default
    rates_[rate_count_++] = rate;
    is_new = true;
    return static_cast<std::uint16_t>(rate_count_);
}

void NetflowEncoder::begin(std::uint64_t now_us) {
    w_.reset();
    open_ = true;
    records_ = data_records_ = 0;
    set_id_ = 0;
    export_us_ = now_us;
    const std::size_t header = cfg_.version == 5 ? kV5Header : cfg_.version == 9 ? kV9Header : kIpfixHeader;
    w_.zeros(header); // filled by flush()
    if (cfg_.version == 5) return;
    if (!templates_due_ && (since_templates_ >= cfg_.refresh_packets || now_us >= templates_at_us_ + cfg_.refresh_us))
        templates_due_ = true;
    if (templates_due_) write_templates();
    ++since_templates_;
}

void NetflowEncoder::close_set() {
    if (set_id_ == 0) return;
    if (cfg_.version == 9)
        while ((w_.size() - set_start_) % 4) w_.u8(0); // RFC 3954: flowsets end on 32 bits
    w_.patch16(set_start_ + 2, static_cast<std::uint16_t>(w_.size() - set_start_));
    set_id_ = 0;
}

void NetflowEncoder::write_templates() {
    const bool v9 = cfg_.version == 9;
    const Field* tail = v9 ? kV9Tail : kIpfixTail;
    // Data templates.
    std::size_t at = w_.size();
    w_.u16(v9 ? 0 : 2);
    w_.u16(0);
    for (const Shape& t : kShapes) {
        w_.u16(t.id);
        w_.u16(static_cast<std::uint16_t>(t.n + 3));
        for (std::size_t i = 0; i < t.n; ++i) w_.u16(t.fields[i].id), w_.u16(t.fields[i].len);
        for (std::size_t i = 0; i < 3; ++i) w_.u16(tail[i].id), w_.u16(tail[i].len);
        ++records_;
    }
    w_.patch16(at + 2, static_cast<std::uint16_t>(w_.size() - at));
    // Options template: sampler id -> interval.
    at = w_.size();
    if (v9) {
        w_.u16(1);
        w_.u16(0);
        w_.u16(258);
        w_.u16(4);  // scope bytes: System
        w_.u16(12); // option field bytes
        w_.u16(1), w_.u16(4);   // scope System (the source id)
        w_.u16(48), w_.u16(2);  // FLOW_SAMPLER_ID
        w_.u16(49), w_.u16(1);  // FLOW_SAMPLER_MODE
        w_.u16(50), w_.u16(4);  // FLOW_SAMPLER_RANDOM_INTERVAL
        while ((w_.size() - at) % 4) w_.u8(0);
    } else {
        w_.u16(3);
        w_.u16(0);
        w_.u16(258);
        w_.u16(3); // fields
        w_.u16(1); // scope fields
        w_.u16(302), w_.u16(2); // selectorId (scope)
        w_.u16(305), w_.u16(4); // samplingPacketInterval: 1 packet taken...
        w_.u16(306), w_.u16(4); // samplingPacketSpace: ...then N-1 skipped
    }
    w_.patch16(at + 2, static_cast<std::uint16_t>(w_.size() - at));
    ++records_;
    // Options data: one record per known rate (at most kMaxRates, 11 or 10 bytes each).
    if (rate_count_) {
        at = w_.size();
        w_.u16(258);
        w_.u16(0);
        for (std::size_t i = 0; i < rate_count_; ++i) {
            if (v9) {
                w_.u32(cfg_.domain);
                w_.u16(static_cast<std::uint16_t>(i + 1));
                w_.u8(2); // random sampling
                w_.u32(rates_[i]);
            } else {
                w_.u16(static_cast<std::uint16_t>(i + 1));
                w_.u32(1);
                w_.u32(rates_[i] - 1);
            }
            ++records_;
            ++data_records_;
        }
        if (v9) while ((w_.size() - at) % 4) w_.u8(0);
        w_.patch16(at + 2, static_cast<std::uint16_t>(w_.size() - at));
    }
    templates_due_ = false;
    since_templates_ = 0;
    templates_at_us_ = export_us_;
    ++stats_.templates_sent;
}

bool NetflowEncoder::add(const fa_record& f, std::uint64_t now_us) {
    if (f.ip_version != 4 && f.ip_version != 6) {
        ++stats_.dropped_non_ip;
        return false;
    }
    const bool v6 = f.ip_version == 6;
    if (!booted_) {
        // sysUptime zero an hour before the first flow (or now), so that uptimes of the flows
        // replayed from a capture or re-exported from a collector stay positive.
        std::uint64_t first = f.time_start_us && f.time_start_us < now_us ? f.time_start_us : now_us;
        boot_us_ = first > 3600ull * 1000000 ? first - 3600ull * 1000000 : 0;
        booted_ = true;
    }
    if (cfg_.version == 5) {
        if (v6) {
            ++stats_.dropped_ipv6_v5;
            return false;
        }
        std::uint32_t rate = f.sampling_rate ? f.sampling_rate : 1;
        if (open_ && (records_ == kV5MaxFlows || rate != v5_rate_ || w_.room() < kV5Record)) flush(now_us);
        if (!open_) {
            begin(now_us);
            v5_rate_ = rate;
        }
        write_record_v5(f);
    } else {
        bool is_new = false;
        std::uint16_t sampler = sampler_for(f.sampling_rate, is_new);
        if (is_new) {
            // The collector must learn the new sampler before the record that names it.
            if (open_) flush(now_us);
            templates_due_ = true;
        }
        if (!open_) begin(now_us);
        const bool lean = fits_lean(f, v6);
        const Shape& shape = kShapes[(lean ? 2 : 0) + (v6 ? 1 : 0)];
        const std::uint16_t want = shape.id;
        const std::size_t rec = shape.len + (cfg_.version == 9 ? kV9TailLen : kIpfixTailLen);
        std::size_t need = rec + (set_id_ == want ? 0 : 4 + 3);
        if (cfg_.version == 9) need += 3; // padding when the set is closed
        if (w_.room() < need) {
            flush(now_us);
            begin(now_us);
        }
        if (set_id_ != want) {
            close_set();
            set_start_ = w_.size();
            w_.u16(want);
            w_.u16(0);
            set_id_ = want;
        }
        write_record(f, v6, lean, sampler, rec);
        ++data_records_;
    }
    ++records_;
    ++stats_.flows;
    if (f.time_end_us > export_us_) export_us_ = f.time_end_us;
    if (now_us > export_us_) export_us_ = now_us;
    return true;
}

void NetflowEncoder::write_record_v5(const fa_record& f) {
    std::uint8_t* const first = w_.claim(kV5Record);
    if (!first) return;
    Cursor c{first};
    c.bytes(f.src_ip + 12, 4);
    c.bytes(f.dst_ip + 12, 4);
    c.bytes(f.nexthop + 12, 4);
    c.u16(static_cast<std::uint16_t>(f.in_iface));
    c.u16(static_cast<std::uint16_t>(f.out_iface));
    c.u32(clamp32(f.packets));
    c.u32(clamp32(f.bytes));
    c.u32(uptime_ms(f.time_start_us ? f.time_start_us : f.time_end_us));
    c.u32(uptime_ms(f.time_end_us));
    c.u16(f.src_port);
    c.u16(f.dst_port);
    c.u8(0);
    c.u8(f.tcp_flags);
    c.u8(f.proto);
    c.u8(f.tos);
    c.u16(static_cast<std::uint16_t>(f.src_as));
    c.u16(static_cast<std::uint16_t>(f.dst_as));
    c.u8(f.src_mask);
    c.u8(f.dst_mask);
    c.u16(0);
    if (c.p != first + kV5Record) w_.fail();
}

void NetflowEncoder::write_record(const fa_record& f, bool v6, bool lean, std::uint16_t sampler, std::size_t rec) {
    std::uint8_t* const first = w_.claim(rec);
    if (!first) return;
    Cursor c{first};
    const std::size_t at = v6 ? 0 : 12, len = v6 ? 16 : 4;
    c.bytes(f.src_ip + at, len);
    c.bytes(f.dst_ip + at, len);
    if (!lean) c.bytes(f.nexthop + at, len);
    c.u16(f.src_port);
    c.u16(f.dst_port);
    c.u8(f.proto);
    c.u8(f.tos);
    c.u8(f.tcp_flags);
    if (!lean) {
        c.u8(f.src_mask);
        c.u8(f.dst_mask);
        c.u32(f.in_iface);
        c.u32(f.out_iface);
        c.u32(f.src_as);
        c.u32(f.dst_as);
    }
    c.u16(f.vlan);
    c.bytes(f.src_mac, 6);
    c.bytes(f.dst_mac, 6);
    if (lean) {
        c.u32(static_cast<std::uint32_t>(f.bytes));
        c.u32(static_cast<std::uint32_t>(f.packets));
    } else {
        c.u64(f.bytes);
        c.u64(f.packets);
    }
    const std::uint64_t start = f.time_start_us ? f.time_start_us : f.time_end_us;
    if (cfg_.version == 9) {
        c.u32(uptime_ms(start));
        c.u32(uptime_ms(f.time_end_us));
    } else {
        c.u64(start / 1000);
        c.u64(f.time_end_us / 1000);
    }
    c.u16(sampler);
    if (c.p != first + rec) w_.fail(); // the fields written are not the template's: never sent
}

void NetflowEncoder::flush(std::uint64_t now_us) {
    if (!open_) return;
    open_ = false;
    if (records_ == 0) return;
    close_set();
    if (now_us > export_us_) export_us_ = now_us;
    const std::uint32_t secs = static_cast<std::uint32_t>(export_us_ / 1000000);
    if (cfg_.version == 5) {
        w_.patch16(0, 5);
        w_.patch16(2, static_cast<std::uint16_t>(records_));
        w_.patch32(4, uptime_ms(export_us_));
        w_.patch32(8, secs);
        w_.patch32(12, static_cast<std::uint32_t>(export_us_ % 1000000) * 1000);
        w_.patch32(16, sequence_);
        buf_[20] = cfg_.engine_type;
        buf_[21] = cfg_.engine_id;
        const std::uint32_t interval = v5_rate_ > 1 ? (v5_rate_ < 0x3fff ? v5_rate_ : 0x3fff) : 0;
        w_.patch16(22, static_cast<std::uint16_t>(interval ? (0x4000 | interval) : 0));
        sequence_ += records_;
    } else if (cfg_.version == 9) {
        w_.patch16(0, 9);
        w_.patch16(2, static_cast<std::uint16_t>(records_));
        w_.patch32(4, uptime_ms(export_us_));
        w_.patch32(8, secs);
        w_.patch32(12, sequence_);
        w_.patch32(16, cfg_.domain);
        ++sequence_;
    } else {
        w_.patch16(0, 10);
        w_.patch16(2, static_cast<std::uint16_t>(w_.size()));
        w_.patch32(4, secs);
        w_.patch32(8, sequence_);
        w_.patch32(12, cfg_.domain);
        sequence_ += data_records_;
    }
    if (!w_.ok()) return; // cannot happen by construction; never send a torn datagram
    ++stats_.datagrams;
    sink_.datagram(buf_, w_.size());
}

} // namespace flowacct::exporter
