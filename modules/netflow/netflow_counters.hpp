// SPDX-License-Identifier: GPL-2.0-or-later
// The counters the NetFlow decoder keeps per exporter: one per outcome and drop reason.
#pragma once

#include <cstddef> // std::size_t

namespace flowacct::netflow {

/// Counter identifiers. Names (kCounterNames) are what SIGUSR1, logs and stats show, labelled
/// `exporter=<address>`.
enum class Cnt : int {
    RxDatagrams,       // datagrams seen
    RxBytes,           // their bytes
    Records,           // flow records emitted
    OptionsRecords,    // options data records applied (sampling, system init time)
    ShortDatagram,     // shorter than the version field or the header
    BadVersion,        // not 5, 9 or 10
    BadMsgLen,         // IPFIX length not equal to the datagram
    V5CountMismatch,   // v5 count 0, > 30, or more records than bytes
    V9CountMismatch,   // v9 header count differs from the records found (kept)
    BadSetLen,         // set length < 4 or past the datagram: rest of the datagram dropped
    ReservedSetId,     // set id 2..255 (v9) or 0, 1, 4..255 (IPFIX): skipped
    PadBytes,          // trailing padding bytes accepted
    NoTemplate,        // data set whose template is unknown: skipped
    TmplAdded,
    TmplReplaced,      // same id, new layout
    TmplRefreshed,     // same id, same layout
    TmplRejected,      // id < 256, no fields, too many fields, record too long, bad scope
    TmplEvicted,       // evicted by the per-domain cap or with their exporter
    TmplExpired,       // not refreshed within the template lifetime: dropped on next use
    UdpWithdrawalIgnored,
    BadFieldLen,       // known element with a wrong size: decoded as opaque
    BadVarlen,         // variable-length field runs past its set: rest of the set dropped
    SamplingInvalid,   // sampling interval 0
    SeqLost,           // v5 flows, v9 packets, IPFIX records
    SeqReordered,
    SeqDup,
    SeqReset,
    TsFuture,          // flow end more than one day after arrival: clamped to arrival
    TsStale,           // flow end more than 30 days before arrival: clamped to arrival
    CounterSanity,     // packets 0 with bytes, > 64 KiB per packet, saturated renormalization
    SinkFull,          // the sink refused records
    ExporterEvicted,   // global: exporter sessions evicted by max_sessions
    DomainRejected,    // more source ids / domains than max_domains
    SamplerRejected,   // more sampler ids than max_samplers
    kCount
};

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Cnt::kCount);

inline constexpr const char* kCounterNames[kCounterCount] = {
    "rx_datagrams", "rx_bytes", "records", "options_records", "short_datagram", "bad_version",
    "bad_msg_len", "v5_count_mismatch", "v9_count_mismatch", "bad_set_len", "reserved_set_id",
    "pad_bytes", "no_template", "tmpl_added", "tmpl_replaced", "tmpl_refreshed", "tmpl_rejected",
    "tmpl_evicted", "tmpl_expired", "udp_withdrawal_ignored", "bad_field_len", "bad_varlen", "sampling_invalid",
    "seq_lost", "seq_reordered", "seq_dup", "seq_reset", "ts_future", "ts_stale", "counter_sanity",
    "sink_full", "exporter_evicted", "domain_rejected", "sampler_rejected",
};

} // namespace flowacct::netflow
