// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 datagram decoder: bytes plus arrival time in, flow records out, no I/O. Keeps the
// per-agent state (sequence numbers, interface counters) and counts every drop by agent and
// reason.
#pragma once

#include <array>          // std::array
#include <cstddef>        // std::size_t
#include <cstdint>        // std::uint8_t .. std::uint64_t
#include <deque>          // std::deque (stable counter storage)
#include <functional>     // std::function
#include <memory>         // std::unique_ptr
#include <string>         // std::string
#include <unordered_map>  // std::unordered_map

#include <flowacct/abi.h> // fa_record

#include "sequence_tracker.hpp" // SequenceTracker
#include "sflow_wire.hpp"       // Cursor

namespace flowacct::sflow {

/// Counters kept per agent and sub-agent. Names are the counter names the host shows, with
/// the label "agent=<address>,sub_agent=<id>".
enum AgentCounter : std::uint8_t {
    kAgDatagrams,          // datagrams whose header decoded
    kAgBytes,              // their bytes
    kAgFlowSamples,        // flow samples seen (plain and expanded)
    kAgCounterSamples,     // counter samples seen
    kAgRecords,            // flow records emitted
    kAgSeqLost,            // datagrams missing by sequence number
    kAgSeqReordered,       // datagrams that arrived after a later one
    kAgSeqDup,             // datagrams seen twice
    kAgSeqReset,           // agent restarts (sequence and uptime went back, or jumped far)
    kAgDropSampleCount,    // num_samples cannot fit in the bytes left (datagram dropped), or
                           // more samples announced than present (those present kept)
    kAgDropSampleLength,   // sample length beyond the datagram, or out of step with its records
    kAgDropRecordCount,    // sample dropped: its record count disagrees with its bytes
    kAgDropRecordLength,   // sample dropped: a record length beyond the sample
    kAgDropRecordMismatch, // sample dropped: a record's fields disagree with its length
    kAgDropHeaderLength,   // sample dropped: header_length beyond its record
    kAgDropSamplingRate,   // sample dropped: sampling_rate 0
    kAgDropAddressType,    // sample dropped: a next hop with an unknown address type
    kAgDropGatewayCounts,  // sample dropped: AS path or community counts beyond the record
    kAgDropL2L4,           // sample dropped: the sampled header did not decode (l2l4_truncated)
    kAgUnknownSample,      // samples of an unknown format, skipped by length
    kAgUnknownRecord,      // flow records of an unknown format, skipped by length
    kAgUnknownHeaderProto, // raw header records of an unknown header_protocol, skipped
    kAgHeaderClamped,      // header_length above frame_length - stripped: clamped
    kAgTrailingBytes,      // datagrams with bytes after their last sample
    kAgSamplesLost,        // flow samples missing by their per-source sequence number
    kAgSourceReset,        // a source's sample sequence jumped far back or ahead: it restarted
    kAgSourceDrops,        // increments of the samples' drops field (agent out of resources)
    kAgIfCounterRecords,   // generic interface counter records decoded
    kAgIfCounterReset,     // an interface counter went backwards: new baseline
    kAgIfInOctets,         // sums of the increments of the generic interface counters
    kAgIfInPackets,
    kAgIfInDiscards,
    kAgIfInErrors,
    kAgIfOutOctets,
    kAgIfOutPackets,
    kAgIfOutDiscards,
    kAgIfOutErrors,
    kAgCount
};

inline constexpr std::array<const char*, kAgCount> kAgentCounterNames = {
    "rx_datagrams", "rx_bytes", "flow_samples", "counter_samples", "records",
    "seq_lost", "seq_reordered", "seq_dup", "seq_reset",
    "drop_sample_count", "drop_sample_length", "drop_record_count", "drop_record_length",
    "drop_record_mismatch", "drop_header_length", "drop_sampling_rate", "drop_address_type",
    "drop_gateway_counts", "l2l4_truncated",
    "unknown_sample_format", "unknown_record_format", "unknown_header_protocol",
    "header_clamped", "trailing_bytes",
    "samples_lost", "source_reset", "source_drops",
    "if_counter_records", "if_counter_reset",
    "if_in_octets", "if_in_packets", "if_in_discards", "if_in_errors",
    "if_out_octets", "if_out_packets", "if_out_discards", "if_out_errors"};

/// Counters for datagrams whose agent is not known (no label).
enum GlobalCounter : std::uint8_t {
    kGlDatagrams,      // every datagram given to decode()
    kGlBytes,
    kGlShortDatagram,  // too short for an sFlow header
    kGlBadVersion,     // version other than 5
    kGlBadAgentType,   // agent address type neither 1 (IPv4) nor 2 (IPv6)
    kGlAgentTableFull, // datagrams of agents beyond kMaxAgents, counted under one shared agent
    kGlCount
};

inline constexpr std::array<const char*, kGlCount> kGlobalCounterNames = {
    "rx_datagrams", "rx_bytes", "short_datagram", "bad_version", "bad_agent_address",
    "agent_table_full"};

/// Where decoded records go. Implemented by the module over sdk::BatchWriter and by tests
/// over a vector. Called on the decoding thread only.
class RecordSink {
public:
    virtual ~RecordSink() = default;
    /// A zeroed record slot, valid until the next call.
    virtual fa_record& next() noexcept = 0;
    /// Takes back the slot last returned by next() (the sample failed to decode).
    virtual void discard_last() noexcept = 0;
    /// Copies up to `len` payload bytes for `r` (the last record); may copy fewer.
    virtual void attach_payload(fa_record& r, const std::uint8_t* data, std::uint32_t len) noexcept = 0;
};

/// Returns a counter slot for `name` with `labels` (nullptr for none). Called on the decoding
/// thread when an agent is first seen, and by the constructor; the slot must live as long as
/// the decoder. The decoder bumps slots with relaxed atomics (one writer).
using CounterFactory = std::function<std::uint64_t*(const char* name, const char* labels)>;

struct DecoderOptions {
    bool renormalize = false;  // sfacctd_renormalize: bytes and packets times the sampling rate
    bool want_payload = false; // attach the sampled header's L4 payload (classifiers)
    // Routing fields from the extended router and gateway records. sfacctd takes them unless
    // sfacctd_as / sfacctd_net name other sources only (file, bgp, ...).
    bool as_from_sflow = true;      // src_as, dst_as, peer_src_as, peer_dst_as
    bool masks_from_sflow = true;   // src_mask, dst_mask
    bool nexthop_from_sflow = true; // nexthop (peer_dst_ip)
};

/// The last generic interface counters of one interface of one agent.
struct InterfaceCounters {
    std::uint64_t in_octets = 0, out_octets = 0;
    std::uint32_t in_packets = 0, out_packets = 0; // unicast + multicast + broadcast
    std::uint32_t in_discards = 0, in_errors = 0, out_discards = 0, out_errors = 0;
    std::uint64_t speed_bps = 0;
    std::uint32_t status = 0;
};

/// Flow-sample state of one data source (ifIndex or VLAN) of an agent.
struct SourceState {
    std::uint64_t source = ~0ull; // type << 32 | index; ~0 = unused
    std::uint32_t next_seq = 0;
    std::uint32_t pool = 0;
    std::uint32_t drops = 0;
};

/// State of one agent and sub-agent.
struct AgentState {
    /// Sources tracked per agent, direct-mapped: two sources on one slot take turns, and each
    /// turn only restarts that slot's accounting (no loss is counted for it).
    static constexpr std::size_t kSourceSlots = 256;

    std::uint8_t address[16]{};
    std::uint32_t sub_agent = 0;
    SequenceTracker datagram_seq;
    std::array<std::uint64_t*, kAgCount> counters{};
    std::array<SourceState, kSourceSlots> sources{};
};

class Decoder {
public:
    /// Agents tracked individually; later ones share one overflow state.
    static constexpr std::size_t kMaxAgents = 4096;
    /// Interfaces whose counters are tracked, over all agents.
    static constexpr std::size_t kMaxInterfaces = 65536;
    /// A flow sample this many behind its source's newest is a restart, not a late arrival.
    static constexpr std::uint32_t kSourceReorderWindow = 1000;

    /// `counters` may be empty: the decoder then keeps its own slots (tests, fuzzing, bench).
    /// Setup time, any thread; the decoder is then used by one thread.
    Decoder(DecoderOptions options, CounterFactory counters = {});
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    /// Decodes one datagram. `data` is untrusted and only read during the call; records go to
    /// `sink` stamped with `arrival_us`. Never throws, never reads outside [data, data+len),
    /// never allocates except when a new agent or interface appears (bounded by the caps).
    /// Returns the records emitted; every sample not emitted is counted under a reason.
    std::uint32_t decode(const std::uint8_t* data, std::size_t len, std::uint64_t arrival_us,
                         RecordSink& sink) noexcept;

    /// The state of an agent (address in 16-byte form), or nullptr. Decoding thread.
    const AgentState* agent(const std::uint8_t address[16], std::uint32_t sub_agent) const;
    /// The last counters of an interface, or nullptr. Decoding thread.
    const InterfaceCounters* interface(const std::uint8_t address[16], std::uint32_t sub_agent,
                                       std::uint32_t if_index) const;
    std::uint64_t global(GlobalCounter c) const { return __atomic_load_n(global_[c], __ATOMIC_RELAXED); }

    /// Datagrams and samples dropped so far, and the last drop, for rate-limited logs.
    /// Decoding thread; `last_agent` is valid while the decoder lives (nullptr: no agent known).
    struct DropSummary {
        std::uint64_t total = 0;
        const AgentState* last_agent = nullptr;
        const char* last_reason = "";
    };
    const DropSummary& drops() const { return drops_; }
    /// "agent=<address>,sub_agent=<id>", the label of the agent's counters.
    static std::string describe(const AgentState& agent);
    std::size_t agent_count() const { return agents_.size(); }

private:
    struct AgentKey {
        std::uint8_t address[16];
        std::uint32_t sub_agent;
        bool operator==(const AgentKey& o) const noexcept;
    };
    struct AgentKeyHash {
        std::size_t operator()(const AgentKey& k) const noexcept;
    };
    struct IfKey {
        const AgentState* agent;
        std::uint32_t if_index;
        bool operator==(const IfKey& o) const noexcept { return agent == o.agent && if_index == o.if_index; }
    };
    struct IfKeyHash {
        std::size_t operator()(const IfKey& k) const noexcept;
    };

    AgentState* find_or_add_agent(const AgentKey& key) noexcept;
    void drop(AgentState& agent, AgentCounter reason) noexcept;
    void drop_global(GlobalCounter reason) noexcept;
    std::uint64_t* slot(const char* name, const char* labels);
    bool decode_flow_sample(AgentState& agent, Cursor sample, bool expanded, std::uint64_t arrival_us,
                            RecordSink& sink) noexcept;
    void decode_counter_sample(AgentState& agent, Cursor sample, bool expanded) noexcept;
    void observe_source(AgentState& agent, std::uint64_t source, std::uint32_t seq, std::uint32_t pool,
                        std::uint32_t drops) noexcept;
    void decode_generic_interface(AgentState& agent, Cursor rec) noexcept;

    DecoderOptions options_;
    CounterFactory factory_;
    std::deque<std::uint64_t> own_slots_; // used when no factory was given
    std::array<std::uint64_t*, kGlCount> global_{};
    std::unordered_map<AgentKey, std::unique_ptr<AgentState>, AgentKeyHash> agents_;
    std::unique_ptr<AgentState> overflow_agent_;
    AgentState* last_agent_ = nullptr; // most datagrams come from the agent of the previous one
    AgentKey last_key_{};
    std::unordered_map<IfKey, InterfaceCounters, IfKeyHash> interfaces_;
    DropSummary drops_;
};

/// Bumps a counter slot that only one thread writes: a relaxed load and store, no locked
/// instruction, while readers on other threads still see whole values.
inline void bump(std::uint64_t* slot, std::uint64_t n = 1) noexcept {
    __atomic_store_n(slot, __atomic_load_n(slot, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

} // namespace flowacct::sflow
