// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 agent encoder: flow samples (a raw header synthesized from the record, plus extended
// switch/router/gateway records) and generic interface counter samples. No I/O, no clocks.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t .. std::uint64_t

#include <flowacct/abi.h> // fa_record

#include "netflow_encoder.hpp" // DatagramSink
#include "wire_writer.hpp"     // WireWriter

namespace flowacct::exporter {

struct SflowConfig {
    std::uint8_t agent[16] = {};   // IPv4-mapped or IPv6
    std::uint32_t sub_agent = 0;
    std::uint32_t if_index = 1;    // the data source of every sample
    std::uint64_t if_speed = 100000000;
    std::size_t max_datagram = 1400;
};

struct SflowStats {
    std::uint64_t datagrams = 0;
    std::uint64_t flow_samples = 0;
    std::uint64_t counter_samples = 0;
    std::uint64_t dropped_non_ip = 0;
};

/// What one flow sample stands for.
struct SampleInfo {
    std::uint32_t sampling_rate = 1;  // packets this sample represents
    std::uint32_t sample_pool = 0;    // packets seen by the data source so far
    std::uint32_t frame_length = 0;   // announced frame length (bytes per packet)
};

/// Totals of the data source for the counter sample.
struct IfTotals {
    std::uint64_t in_octets = 0;
    std::uint64_t in_packets = 0;
};

/// Synthesizes the first bytes of a packet carrying `r`: Ethernet (802.1Q when r.vlan) when
/// `ethernet`, then IPv4 or IPv6 with total length `ip_length`, and a TCP, UDP or ICMP header with
/// the record's ports and flags. Returns the length written (at most 78 bytes), 0 for a non-IP
/// record.
std::size_t synthesize_header(const fa_record& r, std::uint32_t ip_length, bool ethernet, std::uint8_t* out,
                              std::size_t cap);

/// Builds datagrams. One thread (the pipeline's). A flow sample carries a raw header record of
/// type IPv4 or IPv6 (the synthesized IP packet: frame_length is the IP length, so a collector
/// counts the bytes the record counted), a sampled Ethernet record with the MACs when known, and
/// extended switch (VLAN), router (masks, next hop) and gateway (ASes) records when set. Datagrams never exceed max_datagram bytes.
/// Sequence numbers: datagrams, flow samples and counter samples each count from 1.
class SflowEncoder {
public:
    SflowEncoder(const SflowConfig& config, DatagramSink& sink);

    /// Appends one flow sample for `r`. `uptime_ms` is the agent's uptime now.
    bool add_flow(const fa_record& r, const SampleInfo& info, std::uint32_t uptime_ms);
    /// Appends one generic interface counter sample.
    void add_counters(const IfTotals& totals, std::uint32_t uptime_ms);
    /// Sends the datagram being built, if any.
    void flush();
    const SflowStats& stats() const { return stats_; }

private:
    void ensure_room(std::size_t need, std::uint32_t uptime_ms);
    void begin(std::uint32_t uptime_ms);
    void address(const std::uint8_t* a);

    SflowConfig cfg_;
    DatagramSink& sink_;
    std::uint8_t buf_[1500];
    WireWriter w_;
    bool open_ = false;
    std::size_t count_at_ = 0;
    std::uint32_t samples_ = 0;
    std::uint32_t datagram_seq_ = 0;
    std::uint32_t flow_seq_ = 0;
    std::uint32_t counter_seq_ = 0;
    SflowStats stats_;
};

} // namespace flowacct::exporter
