// SPDX-License-Identifier: GPL-2.0-or-later
// NetFlow v5 / v9 / IPFIX encoder: flows in, datagrams out through a sink. No I/O, no clocks.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t .. std::uint64_t

#include <flowacct/abi.h> // fa_record

#include <vector>   // std::vector

#include "wire_writer.hpp" // WireWriter

namespace flowacct::exporter {

/// Receives finished datagrams. Called on the encoder's thread; the bytes are valid during the
/// call only.
class DatagramSink {
public:
    virtual ~DatagramSink() = default;
    virtual void datagram(const std::uint8_t* data, std::size_t len) = 0;
};

struct NetflowConfig {
    int version = 10;                 // 5, 9 or 10 (IPFIX)
    std::uint8_t engine_type = 0;     // v5 header
    std::uint8_t engine_id = 0;       // v5 header
    std::uint32_t domain = 0;         // v9 source id / IPFIX observation domain
    std::size_t max_datagram = 1400;  // UDP payload bound (fits a 1500-byte MTU over IPv6)
    std::uint32_t refresh_packets = 20;          // templates resent every N datagrams...
    std::uint64_t refresh_us = 60ull * 1000000;  // ...or after this long, whichever first
};

struct NetflowStats {
    std::uint64_t datagrams = 0;
    std::uint64_t flows = 0;
    std::uint64_t templates_sent = 0;   // template refreshes (each sends every template)
    std::uint64_t dropped_ipv6_v5 = 0;  // IPv6 flows cannot travel in v5
    std::uint64_t dropped_non_ip = 0;
};

/// Builds datagrams of one version. One thread (the pipeline's). Datagrams never exceed
/// max_datagram bytes (v5: 30 flows). v9 and IPFIX: a datagram holds flows of one data template,
/// one datagram open per template, so that full datagrams of a template are all of one length;
/// finished datagrams go to the sink in groups of one template, kPending at a time (and at
/// flush()): runs of equal datagrams, which a sender can pass to the kernel as one (UDP GSO).
/// Sequence numbers: v5 flows, v9 datagrams, IPFIX data records (options records included) sent
/// before the datagram, numbered in the order the sink gets them. Templates (IPv4 id 256, IPv6
/// 257, sampling options 258, and the lean IPv4 259 and IPv6 260 for flows with no interface,
/// AS, mask or next hop and 32-bit counters) open the first datagram and are refreshed; the
/// options data map sampler id -> sampling interval for every rate the flows carried (rate 0 is
/// announced as 1).
class NetflowEncoder {
public:
    NetflowEncoder(const NetflowConfig& config, DatagramSink& sink);

    /// Appends one flow (times and counters from the record). `now_us` is the export time on
    /// the same base as the flow times. Returns false when the flow cannot be encoded (counted).
    bool add(const fa_record& flow, std::uint64_t now_us);
    /// Finishes the datagrams being built and sends every finished one.
    void flush(std::uint64_t now_us);
    const NetflowStats& stats() const { return stats_; }

private:
    static constexpr std::size_t kMaxRates = 64;
    static constexpr std::size_t kSlots = 4;    // open datagrams: one per data template (v5: the first)
    static constexpr std::size_t kPending = 32; // finished datagrams sent together

    // A datagram being built.
    struct Datagram {
        std::uint8_t buf[1500];
        WireWriter w{buf, 0};
        bool open = false;
        bool templates = false;        // opens with the templates (sent before the others)
        bool announces = false;        // ...which the collector has not had yet (first, new sampler)
        std::size_t set_start = 0;
        std::uint16_t set_id = 0;      // template id of the open data set, 0 when none is open
        std::uint32_t records = 0;     // records in this datagram (v9: templates included)
        std::uint32_t data_records = 0; // data records in this datagram (IPFIX sequence)
        std::uint64_t export_us = 0;   // latest of now and the flows' ends in this datagram
    };
    // A finished datagram waiting in pending_bytes_ for its sequence number.
    struct Pending {
        std::size_t at = 0, len = 0;
        std::size_t order = 0;         // 0 for one with templates, else 1 + its slot
        std::uint32_t sequence_step = 0;
    };

    std::uint16_t sampler_for(std::uint32_t rate, bool& is_new);
    void begin(Datagram& d, std::uint64_t now_us);
    void close_set(Datagram& d);
    void write_templates(Datagram& d);
    void write_record_v5(Datagram& d, const fa_record& f);
    void write_record(Datagram& d, const fa_record& f, bool v6, bool lean, std::uint16_t sampler, std::size_t rec);
    // Closes `d` into the pending datagrams (a datagram with templates still open goes first).
    void finish(Datagram& d, std::uint64_t now_us);
    // Numbers and sends the pending datagrams, those with templates first, then by template.
    void emit();
    std::uint32_t uptime_ms(std::uint64_t t_us) const;

    NetflowConfig cfg_;
    DatagramSink& sink_;
    Datagram slots_[kSlots];
    std::vector<std::uint8_t> pending_bytes_;
    std::vector<Pending> pending_;
    std::vector<std::size_t> emit_order_;
    std::uint32_t v5_rate_ = 0;
    std::uint64_t boot_us_ = 0;       // sysUptime zero (v5/v9)
    bool booted_ = false;
    std::uint32_t sequence_ = 0;
    bool templates_due_ = true;
    bool announce_ = true; // the next templates are the first, or announce a new sampler
    std::uint32_t since_templates_ = 0;
    std::uint64_t templates_at_us_ = 0;
    std::uint32_t rates_[kMaxRates] = {};
    std::size_t rate_count_ = 0;
    NetflowStats stats_;
};

} // namespace flowacct::exporter
