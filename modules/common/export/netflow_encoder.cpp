// SPDX-License-Identifier: GPL-2.0-or-later
// NetFlow v5 (Cisco), v9 (RFC 3954) and IPFIX (RFC 7011) datagram building.
#include "netflow_encoder.hpp"

#include <algorithm> // std::stable_sort
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

NetflowEncoder::NetflowEncoder(const NetflowConfig& config, DatagramSink& sink) : cfg_(config), sink_(sink) {
    if (cfg_.refresh_packets == 0) cfg_.refresh_packets = 1;
    for (Datagram& d : slots_)
        d.w = WireWriter(d.buf, cfg_.max_datagram < sizeof d.buf ? cfg_.max_datagram : sizeof d.buf);
    pending_bytes_.reserve(kPending * sizeof slots_[0].buf);
    pending_.reserve(kPending);
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

void NetflowEncoder::begin(Datagram& d, std::uint64_t now_us) {
    d.w.reset();
    d.open = true;
    d.templates = d.announces = false;
    d.records = d.data_records = 0;
    d.set_id = 0;
    d.export_us = now_us;
    const std::size_t header = cfg_.version == 5 ? kV5Header : cfg_.version == 9 ? kV9Header : kIpfixHeader;
    d.w.zeros(header); // filled by finish() and emit()
    if (cfg_.version == 5) return;
    if (!templates_due_ && (since_templates_ >= cfg_.refresh_packets || now_us >= templates_at_us_ + cfg_.refresh_us))
        templates_due_ = true;
    if (templates_due_) write_templates(d);
    ++since_templates_;
}

void NetflowEncoder::close_set(Datagram& d) {
    if (d.set_id == 0) return;
    if (cfg_.version == 9)
        while ((d.w.size() - d.set_start) % 4) d.w.u8(0); // RFC 3954: flowsets end on 32 bits
    d.w.patch16(d.set_start + 2, static_cast<std::uint16_t>(d.w.size() - d.set_start));
    d.set_id = 0;
}

void NetflowEncoder::write_templates(Datagram& d) {
    WireWriter& w = d.w;
    d.templates = true;
    d.announces = announce_;
    announce_ = false;
    const bool v9 = cfg_.version == 9;
    const Field* tail = v9 ? kV9Tail : kIpfixTail;
    // Data templates.
    std::size_t at = w.size();
    w.u16(v9 ? 0 : 2);
    w.u16(0);
    for (const Shape& t : kShapes) {
        w.u16(t.id);
        w.u16(static_cast<std::uint16_t>(t.n + 3));
        for (std::size_t i = 0; i < t.n; ++i) w.u16(t.fields[i].id), w.u16(t.fields[i].len);
        for (std::size_t i = 0; i < 3; ++i) w.u16(tail[i].id), w.u16(tail[i].len);
        ++d.records;
    }
    w.patch16(at + 2, static_cast<std::uint16_t>(w.size() - at));
    // Options template: sampler id -> interval.
    at = w.size();
    if (v9) {
        w.u16(1);
        w.u16(0);
        w.u16(258);
        w.u16(4);  // scope bytes: System
        w.u16(12); // option field bytes
        w.u16(1), w.u16(4);   // scope System (the source id)
        w.u16(48), w.u16(2);  // FLOW_SAMPLER_ID
        w.u16(49), w.u16(1);  // FLOW_SAMPLER_MODE
        w.u16(50), w.u16(4);  // FLOW_SAMPLER_RANDOM_INTERVAL
        while ((w.size() - at) % 4) w.u8(0);
    } else {
        w.u16(3);
        w.u16(0);
        w.u16(258);
        w.u16(3); // fields
        w.u16(1); // scope fields
        w.u16(302), w.u16(2); // selectorId (scope)
        w.u16(305), w.u16(4); // samplingPacketInterval: 1 packet taken...
        w.u16(306), w.u16(4); // samplingPacketSpace: ...then N-1 skipped
    }
    w.patch16(at + 2, static_cast<std::uint16_t>(w.size() - at));
    ++d.records;
    // Options data: one record per known rate (at most kMaxRates, 11 or 10 bytes each).
    if (rate_count_) {
        at = w.size();
        w.u16(258);
        w.u16(0);
        for (std::size_t i = 0; i < rate_count_; ++i) {
            if (v9) {
                w.u32(cfg_.domain);
                w.u16(static_cast<std::uint16_t>(i + 1));
                w.u8(2); // random sampling
                w.u32(rates_[i]);
            } else {
                w.u16(static_cast<std::uint16_t>(i + 1));
                w.u32(1);
                w.u32(rates_[i] - 1);
            }
            ++d.records;
            ++d.data_records;
        }
        if (v9) while ((w.size() - at) % 4) w.u8(0);
        w.patch16(at + 2, static_cast<std::uint16_t>(w.size() - at));
    }
    templates_due_ = false;
    since_templates_ = 0;
    templates_at_us_ = d.export_us;
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
    Datagram* d = nullptr;
    if (cfg_.version == 5) {
        if (v6) {
            ++stats_.dropped_ipv6_v5;
            return false;
        }
        d = &slots_[0];
        std::uint32_t rate = f.sampling_rate ? f.sampling_rate : 1;
        if (d->open && (d->records == kV5MaxFlows || rate != v5_rate_ || d->w.room() < kV5Record)) finish(*d, now_us);
        if (!d->open) {
            begin(*d, now_us);
            v5_rate_ = rate;
        }
        write_record_v5(*d, f);
    } else {
        bool is_new = false;
        std::uint16_t sampler = sampler_for(f.sampling_rate, is_new);
        if (is_new) {
            // The collector must learn the new sampler before the record that names it.
            flush(now_us);
            templates_due_ = announce_ = true;
        }
        const bool lean = fits_lean(f, v6);
        const std::size_t slot = (lean ? 2 : 0) + (v6 ? 1 : 0);
        const Shape& shape = kShapes[slot];
        d = &slots_[slot];
        if (!d->open) begin(*d, now_us);
        const std::size_t rec = shape.len + (cfg_.version == 9 ? kV9TailLen : kIpfixTailLen);
        std::size_t need = rec + (d->set_id == shape.id ? 0 : 4 + 3);
        if (cfg_.version == 9) need += 3; // padding when the set is closed
        if (d->w.room() < need) {
            finish(*d, now_us);
            begin(*d, now_us);
        }
        if (d->set_id != shape.id) {
            // The datagram's one data set (its flows are all of this template) opens.
            d->set_start = d->w.size();
            d->w.u16(shape.id);
            d->w.u16(0);
            d->set_id = shape.id;
        }
        write_record(*d, f, v6, lean, sampler, rec);
        ++d->data_records;
    }
    ++d->records;
    if (f.time_end_us > d->export_us) d->export_us = f.time_end_us;
    if (now_us > d->export_us) d->export_us = now_us;
    ++stats_.flows;
    return true;
}

void NetflowEncoder::write_record_v5(Datagram& d, const fa_record& f) {
    std::uint8_t* const first = d.w.claim(kV5Record);
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
    if (c.p != first + kV5Record) d.w.fail();
}

void NetflowEncoder::write_record(Datagram& d, const fa_record& f, bool v6, bool lean, std::uint16_t sampler,
                                  std::size_t rec) {
    std::uint8_t* const first = d.w.claim(rec);
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
    if (c.p != first + rec) d.w.fail(); // the fields written are not the template's: never sent
}

void NetflowEncoder::flush(std::uint64_t now_us) {
    for (Datagram& d : slots_)
        if (d.open) finish(d, now_us);
    emit();
}

void NetflowEncoder::finish(Datagram& d, std::uint64_t now_us) {
    if (!d.open) return;
    // A datagram announcing templates or a sampler goes before any datagram begun after it
    // (whose flows use them): it is finished first, and emit() keeps it ahead. (A refresh of
    // templates the collector has had may go out after data that uses them.)
    if (!d.announces)
        for (Datagram& other : slots_)
            if (&other != &d && other.open && other.announces) finish(other, now_us);
    d.open = false;
    if (d.records == 0) return;
    close_set(d);
    if (now_us > d.export_us) d.export_us = now_us;
    WireWriter& w = d.w;
    const std::uint32_t secs = static_cast<std::uint32_t>(d.export_us / 1000000);
    Pending p;
    // The sequence number is written by emit(), in the order the datagrams are sent.
    if (cfg_.version == 5) {
        w.patch16(0, 5);
        w.patch16(2, static_cast<std::uint16_t>(d.records));
        w.patch32(4, uptime_ms(d.export_us));
        w.patch32(8, secs);
        w.patch32(12, static_cast<std::uint32_t>(d.export_us % 1000000) * 1000);
        d.buf[20] = cfg_.engine_type;
        d.buf[21] = cfg_.engine_id;
        const std::uint32_t interval = v5_rate_ > 1 ? (v5_rate_ < 0x3fff ? v5_rate_ : 0x3fff) : 0;
        w.patch16(22, static_cast<std::uint16_t>(interval ? (0x4000 | interval) : 0));
        p.sequence_step = d.records;
    } else if (cfg_.version == 9) {
        w.patch16(0, 9);
        w.patch16(2, static_cast<std::uint16_t>(d.records));
        w.patch32(4, uptime_ms(d.export_us));
        w.patch32(8, secs);
        w.patch32(16, cfg_.domain);
        p.sequence_step = 1;
    } else {
        w.patch16(0, 10);
        w.patch16(2, static_cast<std::uint16_t>(w.size()));
        w.patch32(4, secs);
        w.patch32(12, cfg_.domain);
        p.sequence_step = d.data_records;
    }
    if (!w.ok()) return; // cannot happen by construction; never send a torn datagram
    p.at = pending_bytes_.size();
    p.len = w.size();
    p.order = d.templates ? 0 : 1 + static_cast<std::size_t>(&d - slots_);
    pending_bytes_.insert(pending_bytes_.end(), d.buf, d.buf + w.size());
    pending_.push_back(p);
    if (pending_.size() >= kPending) emit();
}

void NetflowEncoder::emit() {
    emit_order_.resize(pending_.size());
    for (std::size_t i = 0; i < pending_.size(); ++i) emit_order_[i] = i;
    std::stable_sort(emit_order_.begin(), emit_order_.end(),
                     [&](std::size_t a, std::size_t b) { return pending_[a].order < pending_[b].order; });
    // Where each version keeps its sequence number.
    const std::size_t at = cfg_.version == 5 ? 16 : cfg_.version == 9 ? 12 : 8;
    for (std::size_t i : emit_order_) {
        const Pending& p = pending_[i];
        std::uint8_t* g = pending_bytes_.data() + p.at;
        for (int b = 0; b < 4; ++b) g[at + b] = static_cast<std::uint8_t>(sequence_ >> (24 - 8 * b));
        sequence_ += p.sequence_step;
        ++stats_.datagrams;
        sink_.datagram(g, p.len);
    }
    pending_.clear();
    pending_bytes_.clear();
}

} // namespace flowacct::exporter
