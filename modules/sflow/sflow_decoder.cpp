// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 datagram decoder: datagram header, flow and counter samples, their records.
#include "sflow_decoder.hpp"

#include <cstdio>   // std::snprintf
#include <cstring>  // std::memcmp, std::memcpy, std::memset
#include <string>   // std::string, std::to_string

#include <arpa/inet.h> // inet_ntop

#include "packet_decode.hpp" // packet::decode_frame, packet::decode_ip, packet::L4View

namespace flowacct::sflow {

namespace {

// Fields of the extended records of one flow sample, applied once every record decoded, so
// that their order within the sample does not matter.
struct Extended {
    bool has_switch = false;
    std::uint16_t in_vlan = 0;
    bool has_router = false;
    std::uint8_t nexthop[16]{};
    std::uint8_t src_mask = 0, dst_mask = 0;
    bool has_gateway = false;
    std::uint8_t bgp_nexthop[16]{};
    std::uint32_t src_as = 0, dst_as = 0, peer_src_as = 0, peer_dst_as = 0;
};

// Reason a flow sample is dropped; kAgCount when it is not.
using Outcome = AgentCounter;
constexpr Outcome kKeep = kAgCount;

std::string agent_label(const std::uint8_t* address, std::uint32_t sub_agent) {
    char text[64];
    static const std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(address, prefix, 12) == 0) inet_ntop(AF_INET, address + 12, text, sizeof text);
    else inet_ntop(AF_INET6, address, text, sizeof text);
    return "agent=" + std::string(text) + ",sub_agent=" + std::to_string(sub_agent);
}

// Sampled IPv4 (format 3) or IPv6 (format 4) record: exactly 32 or 56 bytes.
Outcome decode_sampled_ip(Cursor r, bool v6, fa_record& rec, std::uint32_t& ip_length) noexcept {
    if (r.remaining() != (v6 ? kSampledIPv6Bytes : kSampledIPv4Bytes)) return kAgDropRecordMismatch;
    std::uint32_t length = 0, proto = 0, sport = 0, dport = 0, flags = 0, tos = 0;
    const std::uint8_t* src = nullptr;
    const std::uint8_t* dst = nullptr;
    const std::size_t alen = v6 ? 16 : 4;
    r.u32(length);
    r.u32(proto);
    r.bytes(alen, src);
    r.bytes(alen, dst);
    r.u32(sport);
    r.u32(dport);
    r.u32(flags);
    r.u32(tos);
    if (v6) {
        std::memcpy(rec.src_ip, src, 16);
        std::memcpy(rec.dst_ip, dst, 16);
        rec.ip_version = 6;
        rec.ether_type = 0x86DD;
    } else {
        std::memset(rec.src_ip, 0, 10);
        rec.src_ip[10] = rec.src_ip[11] = 0xff;
        std::memcpy(rec.src_ip + 12, src, 4);
        std::memset(rec.dst_ip, 0, 10);
        rec.dst_ip[10] = rec.dst_ip[11] = 0xff;
        std::memcpy(rec.dst_ip + 12, dst, 4);
        rec.ip_version = 4;
        rec.ether_type = 0x0800;
    }
    rec.proto = static_cast<std::uint8_t>(proto);
    // pmacct keeps ports only for TCP and UDP.
    if (proto == 6 || proto == 17) {
        rec.src_port = static_cast<std::uint16_t>(sport);
        rec.dst_port = static_cast<std::uint16_t>(dport);
    }
    rec.tcp_flags = proto == 6 ? static_cast<std::uint8_t>(flags) : 0;
    rec.tos = static_cast<std::uint8_t>(tos);
    ip_length = length;
    return kKeep;
}

// Extended gateway (format 1003): next hop, three AS numbers, the destination AS path
// (segments of type and AS list), communities, local preference. Counts are checked against
// the bytes left before anything is read, and nothing is allocated.
Outcome decode_gateway(Cursor r, Extended& ext) noexcept {
    const int family = read_address(r, ext.bgp_nexthop);
    if (family < 0) return kAgDropRecordMismatch;
    if (family == 0) return kAgDropAddressType;
    std::uint32_t my_as = 0, segments = 0;
    if (!r.u32(my_as) || !r.u32(ext.src_as) || !r.u32(ext.peer_src_as) || !r.u32(segments))
        return kAgDropRecordMismatch;
    (void)my_as;
    if (segments > r.remaining() / 8) return kAgDropGatewayCounts;
    bool first = true;
    for (std::uint32_t s = 0; s < segments; ++s) {
        std::uint32_t type = 0, count = 0;
        if (!r.u32(type) || !r.u32(count)) return kAgDropRecordMismatch;
        if (count > r.remaining() / 4) return kAgDropGatewayCounts;
        for (std::uint32_t i = 0; i < count; ++i) {
            std::uint32_t as = 0;
            r.u32(as);
            // The first AS of the path is the peer, the last the destination (as sflowtool).
            if (first) {
                ext.peer_dst_as = as;
                first = false;
            }
            ext.dst_as = as;
        }
    }
    std::uint32_t communities = 0, local_pref = 0;
    if (!r.u32(communities)) return kAgDropRecordMismatch;
    if (communities > r.remaining() / 4) return kAgDropGatewayCounts;
    r.skip(std::size_t{communities} * 4);
    if (!r.u32(local_pref) || !r.empty()) return kAgDropRecordMismatch;
    ext.has_gateway = true;
    return kKeep;
}

} // namespace

bool Decoder::AgentKey::operator==(const AgentKey& o) const noexcept {
    return sub_agent == o.sub_agent && std::memcmp(address, o.address, 16) == 0;
}

std::size_t Decoder::AgentKeyHash::operator()(const AgentKey& k) const noexcept {
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, k.address, 8);
    std::memcpy(&b, k.address + 8, 8);
    std::uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ ((b + k.sub_agent) * 0x632BE59BD9B4E019ull);
    return static_cast<std::size_t>(h ^ (h >> 29));
}

std::size_t Decoder::IfKeyHash::operator()(const IfKey& k) const noexcept {
    auto p = reinterpret_cast<std::uintptr_t>(k.agent);
    std::uint64_t h = (static_cast<std::uint64_t>(p) ^ (std::uint64_t{k.if_index} << 32)) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(h ^ (h >> 31));
}

Decoder::Decoder(DecoderOptions options, CounterFactory counters)
    : options_(options), factory_(std::move(counters)) {
    for (std::size_t i = 0; i < kGlCount; ++i) global_[i] = slot(kGlobalCounterNames[i], nullptr);
    overflow_agent_ = std::make_unique<AgentState>();
    for (std::size_t i = 0; i < kAgCount; ++i)
        overflow_agent_->counters[i] = slot(kAgentCounterNames[i], "agent=overflow");
    agents_.reserve(64);
}

Decoder::~Decoder() = default;

void Decoder::drop(AgentState& agent, AgentCounter reason) noexcept {
    bump(agent.counters[reason]);
    ++drops_.total;
    drops_.last_agent = &agent;
    drops_.last_reason = kAgentCounterNames[reason];
}

void Decoder::drop_global(GlobalCounter reason) noexcept {
    bump(global_[reason]);
    ++drops_.total;
    drops_.last_agent = nullptr;
    drops_.last_reason = kGlobalCounterNames[reason];
}

std::string Decoder::describe(const AgentState& agent) {
    return agent_label(agent.address, agent.sub_agent);
}

std::uint64_t* Decoder::slot(const char* name, const char* labels) {
    if (factory_) {
        if (std::uint64_t* s = factory_(name, labels)) return s;
    }
    own_slots_.push_back(0);
    return &own_slots_.back();
}

AgentState* Decoder::find_or_add_agent(const AgentKey& key) noexcept {
    if (last_agent_ && last_key_ == key) return last_agent_;
    AgentState* found = nullptr;
    auto it = agents_.find(key);
    if (it != agents_.end()) {
        found = it->second.get();
    } else if (agents_.size() >= kMaxAgents) {
        bump(global_[kGlAgentTableFull]);
        return overflow_agent_.get(); // not cached: a known agent must not be shadowed
    } else {
        try {
            auto state = std::make_unique<AgentState>();
            std::memcpy(state->address, key.address, 16);
            state->sub_agent = key.sub_agent;
            const std::string label = agent_label(key.address, key.sub_agent);
            for (std::size_t i = 0; i < kAgCount; ++i) state->counters[i] = slot(kAgentCounterNames[i], label.c_str());
            found = state.get();
            agents_.emplace(key, std::move(state));
        } catch (...) {
            // Out of memory: account this datagram to the shared state rather than fail.
            bump(global_[kGlAgentTableFull]);
            return overflow_agent_.get();
        }
    }
    last_agent_ = found;
    last_key_ = key;
    return found;
}

const AgentState* Decoder::agent(const std::uint8_t address[16], std::uint32_t sub_agent) const {
    AgentKey key{};
    std::memcpy(key.address, address, 16);
    key.sub_agent = sub_agent;
    auto it = agents_.find(key);
    return it == agents_.end() ? nullptr : it->second.get();
}

const InterfaceCounters* Decoder::interface(const std::uint8_t address[16], std::uint32_t sub_agent,
                                            std::uint32_t if_index) const {
    const AgentState* a = agent(address, sub_agent);
    if (!a) return nullptr;
    auto it = interfaces_.find(IfKey{a, if_index});
    return it == interfaces_.end() ? nullptr : &it->second;
}

std::uint32_t Decoder::decode(const std::uint8_t* data, std::size_t len, std::uint64_t arrival_us,
                              RecordSink& sink) noexcept {
    bump(global_[kGlDatagrams]);
    bump(global_[kGlBytes], len);
    Cursor c{data, data + len};
    std::uint32_t version = 0;
    if (!c.u32(version)) {
        drop_global(kGlShortDatagram);
        return 0;
    }
    if (version != kVersion5) {
        drop_global(kGlBadVersion);
        return 0;
    }
    AgentKey key{};
    const int family = read_address(c, key.address);
    if (family == 0) {
        drop_global(kGlBadAgentType);
        return 0;
    }
    std::uint32_t seq = 0, uptime_ms = 0, num_samples = 0;
    if (family < 0 || !c.u32(key.sub_agent) || !c.u32(seq) || !c.u32(uptime_ms) || !c.u32(num_samples)) {
        drop_global(kGlShortDatagram);
        return 0;
    }
    AgentState& agent = *find_or_add_agent(key);
    auto& ctr = agent.counters;
    bump(ctr[kAgDatagrams]);
    bump(ctr[kAgBytes], len);

    std::uint32_t gap = 0;
    switch (agent.datagram_seq.observe(seq, uptime_ms, gap)) {
    case SeqEvent::Gap: bump(ctr[kAgSeqLost], gap); break;
    case SeqEvent::Reordered: bump(ctr[kAgSeqReordered]); break;
    case SeqEvent::Duplicate: bump(ctr[kAgSeqDup]); break;
    case SeqEvent::Reset: bump(ctr[kAgSeqReset]); break;
    default: break;
    }

    // Every sample takes at least its 8-byte format and length: a count that cannot fit is a
    // lie (CVE-2022-2529 style), so the datagram goes before anything is decoded.
    if (num_samples > c.remaining() / 8) {
        drop(agent, kAgDropSampleCount);
        return 0;
    }
    std::uint32_t emitted = 0, flow_samples = 0;
    bool short_count = false;
    for (std::uint32_t i = 0; i < num_samples; ++i) {
        std::uint32_t format = 0, length = 0;
        if (!c.u32(format) || !c.u32(length)) {
            // Fewer samples than announced: keep those decoded, count the lie.
            drop(agent, kAgDropSampleCount);
            short_count = true;
            break;
        }
        Cursor sample{};
        if (!c.sub(length, sample)) {
            // The length runs past the datagram: the rest cannot be framed.
            drop(agent, kAgDropSampleLength);
            bump(ctr[kAgRecords], emitted);
            bump(ctr[kAgFlowSamples], flow_samples);
            return emitted;
        }
        switch (format) {
        case kFlowSample:
        case kFlowSampleExpanded:
            ++flow_samples;
            if (decode_flow_sample(agent, sample, format == kFlowSampleExpanded, arrival_us, sink)) ++emitted;
            break;
        case kCounterSample:
        case kCounterSampleExpanded:
            bump(ctr[kAgCounterSamples]);
            decode_counter_sample(agent, sample, format == kCounterSampleExpanded);
            break;
        default:
            bump(ctr[kAgUnknownSample]);
            break;
        }
    }
    if (!c.empty() && !short_count) bump(ctr[kAgTrailingBytes]);
    bump(ctr[kAgRecords], emitted);
    bump(ctr[kAgFlowSamples], flow_samples);
    return emitted;
}

bool Decoder::decode_flow_sample(AgentState& agent, Cursor s, bool expanded, std::uint64_t arrival_us,
                                 RecordSink& sink) noexcept {
    auto& ctr = agent.counters;
    std::uint32_t seq = 0, rate = 0, pool = 0, drops = 0, num_records = 0;
    std::uint32_t in_format = 0, in_value = 0, out_format = 0, out_value = 0;
    std::uint64_t source_key = 0;
    bool ok = true;
    if (expanded) {
        // seq, source type, source index, rate, pool, drops, input format, value, output format,
        // value, record count
        std::uint32_t w[11];
        ok = s.words(w);
        if (ok) {
            seq = w[0], rate = w[3], pool = w[4], drops = w[5], num_records = w[10];
            in_format = w[6], in_value = w[7], out_format = w[8], out_value = w[9];
            source_key = (std::uint64_t{w[1]} << 32) | w[2];
        }
    } else {
        // seq, source id, rate, pool, drops, input, output, record count
        std::uint32_t w[8];
        ok = s.words(w);
        if (ok) {
            seq = w[0], rate = w[2], pool = w[3], drops = w[4], num_records = w[7];
            source_key = (std::uint64_t{w[1] >> 24} << 32) | (w[1] & 0xFFFFFF);
            in_format = w[5] >> 30;
            in_value = w[5] & 0x3FFFFFFF;
            out_format = w[6] >> 30;
            out_value = w[6] & 0x3FFFFFFF;
        }
    }
    if (!ok) {
        drop(agent, kAgDropSampleLength);
        return false;
    }
    // The sample's own counters are sound even when a record later proves malformed.
    observe_source(agent, source_key, seq, pool, drops);
    if (rate == 0) {
        drop(agent, kAgDropSamplingRate);
        return false;
    }
    if (num_records > s.remaining() / 8) {
        drop(agent, kAgDropRecordCount);
        return false;
    }

    fa_record& rec = sink.next();
    Extended ext;
    packet::L4View l4;
    std::uint32_t frame_length = 0; // from a raw header or sampled ethernet record
    std::uint32_t ip_length = 0;    // from a sampled IPv4/IPv6 record
    bool have_frame = false;
    Outcome outcome = kKeep;

    for (std::uint32_t i = 0; i < num_records && outcome == kKeep; ++i) {
        std::uint32_t format = 0, length = 0;
        if (!s.u32(format) || !s.u32(length)) {
            outcome = kAgDropRecordCount; // fewer records than announced
            break;
        }
        Cursor r{};
        if (!s.sub(length, r)) {
            outcome = kAgDropRecordLength;
            break;
        }
        switch (format) {
        case kRecRawHeader: {
            std::uint32_t h[4]; // header_protocol, frame_length, stripped, header_length
            if (!r.words(h)) {
                outcome = kAgDropRecordMismatch;
                break;
            }
            const std::uint32_t proto = h[0], stripped = h[2], header_length = h[3];
            const std::uint32_t frame = h[1];
            const std::uint8_t* header = nullptr;
            if (!r.bytes(header_length, header)) {
                outcome = kAgDropHeaderLength;
                break;
            }
            if (r.remaining() > 3) { // at most the XDR padding may follow
                outcome = kAgDropRecordMismatch;
                break;
            }
            std::uint32_t wire = frame >= stripped ? frame - stripped : 0;
            if (wire < header_length) {
                // Impossible lengths: decode what is present, count the frame as sfacctd does.
                bump(ctr[kAgHeaderClamped]);
                wire = header_length;
            }
            packet::DecodeResult result;
            if (proto == kHeaderEthernet) {
                result = packet::decode_frame(packet::kDltEthernet, header, header_length, wire, rec, l4);
            } else if (proto == kHeaderIPv4 || proto == kHeaderIPv6) {
                result = packet::decode_ip(header, header_length, rec, l4);
            } else {
                bump(ctr[kAgUnknownHeaderProto]);
                break; // skipped by length; the sample still counts its bytes
            }
            if (result == packet::DecodeResult::Truncated || result == packet::DecodeResult::Malformed) {
                outcome = kAgDropL2L4;
                break;
            }
            frame_length = frame;
            have_frame = true;
            break;
        }
        case kRecEthernet: {
            if (r.remaining() != kSampledEthernetBytes) {
                outcome = kAgDropRecordMismatch;
                break;
            }
            std::uint32_t length_bytes = 0, type = 0;
            const std::uint8_t* src = nullptr;
            const std::uint8_t* dst = nullptr;
            r.u32(length_bytes);
            r.bytes(8, src);
            r.bytes(8, dst);
            r.u32(type);
            std::memcpy(rec.src_mac, src, 6);
            std::memcpy(rec.dst_mac, dst, 6);
            if (!rec.ether_type) rec.ether_type = static_cast<std::uint16_t>(type);
            if (!have_frame) {
                frame_length = length_bytes;
                have_frame = true;
            }
            break;
        }
        case kRecIPv4:
        case kRecIPv6:
            outcome = decode_sampled_ip(r, format == kRecIPv6, rec, ip_length);
            break;
        case kRecExtSwitch: {
            if (r.remaining() != kExtSwitchBytes) {
                outcome = kAgDropRecordMismatch;
                break;
            }
            std::uint32_t src_vlan = 0;
            r.u32(src_vlan);
            ext.in_vlan = static_cast<std::uint16_t>(src_vlan & 0xFFF);
            ext.has_switch = true;
            break;
        }
        case kRecExtRouter: {
            const int fam = read_address(r, ext.nexthop);
            std::uint32_t src_mask = 0, dst_mask = 0;
            if (fam == 0) {
                outcome = kAgDropAddressType;
                break;
            }
            if (fam < 0 || !r.u32(src_mask) || !r.u32(dst_mask) || !r.empty()) {
                outcome = kAgDropRecordMismatch;
                break;
            }
            const std::uint32_t max_mask = fam == 4 ? 32 : 128;
            ext.src_mask = static_cast<std::uint8_t>(src_mask > max_mask ? 0 : src_mask);
            ext.dst_mask = static_cast<std::uint8_t>(dst_mask > max_mask ? 0 : dst_mask);
            ext.has_router = true;
            break;
        }
        case kRecExtGateway:
            outcome = decode_gateway(r, ext);
            break;
        default:
            bump(ctr[kAgUnknownRecord]);
            break;
        }
    }
    if (outcome == kKeep && !s.empty()) outcome = kAgDropSampleLength; // length out of step
    if (outcome != kKeep) {
        sink.discard_last();
        drop(agent, outcome);
        return false;
    }

    if (ext.has_switch) rec.vlan = ext.in_vlan;
    // As sfacctd: the BGP next hop of the gateway record wins over the router record's.
    if (options_.nexthop_from_sflow) {
        if (ext.has_gateway) std::memcpy(rec.nexthop, ext.bgp_nexthop, 16);
        else if (ext.has_router) std::memcpy(rec.nexthop, ext.nexthop, 16);
    }
    if (options_.masks_from_sflow && ext.has_router) {
        rec.src_mask = ext.src_mask;
        rec.dst_mask = ext.dst_mask;
    }
    if (options_.as_from_sflow && ext.has_gateway) {
        rec.src_as = ext.src_as;
        rec.dst_as = ext.dst_as;
        rec.peer_src_as = ext.peer_src_as;
        rec.peer_dst_as = ext.peer_dst_as;
    }
    std::memcpy(rec.peer_src_ip, agent.address, 16);
    rec.engine_id = agent.sub_agent;
    rec.in_iface = (in_format == 0 && in_value != kIfUnknown) ? in_value : 0;
    rec.out_iface = (out_format == 0 && out_value != kIfUnknown) ? out_value : 0;
    // pmacct's sfacctd counts the sampled frame length (FCS included) and one packet.
    const std::uint64_t bytes = have_frame ? frame_length : ip_length;
    if (options_.renormalize) {
        rec.bytes = bytes * rate;
        rec.packets = rate;
        rec.sampling_rate = 1;
    } else {
        rec.bytes = bytes;
        rec.packets = 1;
        rec.sampling_rate = rate;
    }
    // sfacctd counts every flow sample as one flow, whatever the rate.
    rec.flows = 1;
    rec.flags |= FA_REC_FLOW_START;
    rec.time_start_us = arrival_us;
    rec.time_end_us = arrival_us;
    if (options_.want_payload && l4.payload && l4.payload_len) sink.attach_payload(rec, l4.payload, l4.payload_len);
    return true;
}

void Decoder::observe_source(AgentState& agent, std::uint64_t source, std::uint32_t seq, std::uint32_t pool,
                             std::uint32_t drops) noexcept {
    const std::uint64_t h = source * 0x9E3779B97F4A7C15ull;
    SourceState& st = agent.sources[(h >> 56) & (AgentState::kSourceSlots - 1)];
    if (st.source != source) {
        st = SourceState{source, seq + 1, pool, drops};
        return;
    }
    auto& ctr = agent.counters;
    const auto delta = static_cast<std::int32_t>(seq - st.next_seq);
    // A late sample is at most a few datagrams old; a sequence much further back, or far
    // ahead, is a restarted source (as pmacct's reset boundary).
    if (delta < -static_cast<std::int32_t>(kSourceReorderWindow) ||
        delta > static_cast<std::int32_t>(SequenceTracker::kResetGap)) {
        bump(ctr[kAgSourceReset]);
        st = SourceState{source, seq + 1, pool, drops};
        return;
    }
    if (delta < 0) return; // reordered: the loss it seemed to be was counted already
    if (delta > 0) bump(ctr[kAgSamplesLost], static_cast<std::uint32_t>(delta));
    // drops only grows while the source runs (mod 2^32).
    if (static_cast<std::int32_t>(drops - st.drops) > 0) bump(ctr[kAgSourceDrops], drops - st.drops);
    st.next_seq = seq + 1;
    st.pool = pool;
    st.drops = drops;
}

void Decoder::decode_counter_sample(AgentState& agent, Cursor s, bool expanded) noexcept {
    auto& ctr = agent.counters;
    std::uint32_t seq = 0, num_records = 0;
    bool ok = expanded ? (s.u32(seq) && s.skip(8) && s.u32(num_records)) : (s.u32(seq) && s.skip(4) && s.u32(num_records));
    if (!ok) {
        drop(agent, kAgDropSampleLength);
        return;
    }
    if (num_records > s.remaining() / 8) {
        drop(agent, kAgDropRecordCount);
        return;
    }
    // Records are validated before any is applied, so a bad sample changes no state.
    Cursor scan = s;
    for (std::uint32_t i = 0; i < num_records; ++i) {
        std::uint32_t format = 0, length = 0;
        Cursor r{};
        if (!scan.u32(format) || !scan.u32(length)) {
            drop(agent, kAgDropRecordCount);
            return;
        }
        if (!scan.sub(length, r)) {
            drop(agent, kAgDropRecordLength);
            return;
        }
        if (format == kCntGenericInterface && r.remaining() != kGenericInterfaceBytes) {
            drop(agent, kAgDropRecordMismatch);
            return;
        }
    }
    if (!scan.empty()) {
        drop(agent, kAgDropSampleLength);
        return;
    }
    for (std::uint32_t i = 0; i < num_records; ++i) {
        std::uint32_t format = 0, length = 0;
        Cursor r{};
        s.u32(format);
        s.u32(length);
        s.sub(length, r);
        if (format == kCntGenericInterface) decode_generic_interface(agent, r);
        // Other counter structures (ethernet, vlan, processor...) are skipped by length.
    }
}

void Decoder::decode_generic_interface(AgentState& agent, Cursor r) noexcept {
    auto& ctr = agent.counters;
    InterfaceCounters now;
    std::uint32_t if_index = 0, if_type = 0, direction = 0, in_ucast = 0, in_mcast = 0, in_bcast = 0,
                  unknown = 0, out_ucast = 0, out_mcast = 0, out_bcast = 0, promisc = 0;
    r.u32(if_index);
    r.u32(if_type);
    r.u64(now.speed_bps);
    r.u32(direction);
    r.u32(now.status);
    r.u64(now.in_octets);
    r.u32(in_ucast);
    r.u32(in_mcast);
    r.u32(in_bcast);
    r.u32(now.in_discards);
    r.u32(now.in_errors);
    r.u32(unknown);
    r.u64(now.out_octets);
    r.u32(out_ucast);
    r.u32(out_mcast);
    r.u32(out_bcast);
    r.u32(now.out_discards);
    r.u32(now.out_errors);
    r.u32(promisc);
    now.in_packets = in_ucast + in_mcast + in_bcast;
    now.out_packets = out_ucast + out_mcast + out_bcast;
    bump(ctr[kAgIfCounterRecords]);

    IfKey key{&agent, if_index};
    auto it = interfaces_.find(key);
    if (it == interfaces_.end()) {
        if (interfaces_.size() >= kMaxInterfaces) return; // counted as a record, not tracked
        try {
            interfaces_.emplace(key, now);
        } catch (...) {
        }
        return; // the first report is the baseline
    }
    InterfaceCounters& last = it->second;
    // A counter going backwards means the agent or interface restarted: take a new baseline.
    if (now.in_octets < last.in_octets || now.out_octets < last.out_octets) {
        bump(ctr[kAgIfCounterReset]);
        last = now;
        return;
    }
    // 32-bit counters wrap: unsigned differences are right across one wrap.
    bump(ctr[kAgIfInOctets], now.in_octets - last.in_octets);
    bump(ctr[kAgIfOutOctets], now.out_octets - last.out_octets);
    bump(ctr[kAgIfInPackets], static_cast<std::uint32_t>(now.in_packets - last.in_packets));
    bump(ctr[kAgIfOutPackets], static_cast<std::uint32_t>(now.out_packets - last.out_packets));
    bump(ctr[kAgIfInDiscards], static_cast<std::uint32_t>(now.in_discards - last.in_discards));
    bump(ctr[kAgIfInErrors], static_cast<std::uint32_t>(now.in_errors - last.in_errors));
    bump(ctr[kAgIfOutDiscards], static_cast<std::uint32_t>(now.out_discards - last.out_discards));
    bump(ctr[kAgIfOutErrors], static_cast<std::uint32_t>(now.out_errors - last.out_errors));
    last = now;
}

} // namespace flowacct::sflow
