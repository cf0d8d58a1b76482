// SPDX-License-Identifier: GPL-2.0-or-later
// NetFlow v5 / v9 / IPFIX datagram decoder: bytes in, fa_records out. No I/O, no clocks.
#pragma once

#include <cstddef>        // std::size_t
#include <cstdint>        // std::uint8_t .. std::uint64_t
#include <list>           // std::list (session LRU)
#include <memory>         // std::unique_ptr
#include <string>         // std::string
#include <unordered_map>  // std::unordered_map
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_record

#include "netflow_counters.hpp" // Cnt, kCounterNames
#include "netflow_template.hpp" // TemplateDef, Program

namespace flowacct::netflow {

/// Where a datagram came from. `addr` is IPv6 or IPv4-mapped IPv6 (::ffff:a.b.c.d).
struct Exporter {
    std::uint8_t addr[16] = {};
    std::uint16_t port = 0;
};

/// Receives decoded records without a virtual call per record: the decoder writes into
/// records_[count_] and calls refill() only when the current buffer is full.
/// Used on one thread at a time (the decoder's).
class RecordSink {
public:
    virtual ~RecordSink() = default;
    /// A slot for one more record, or nullptr when the sink cannot take more (the record is
    /// then counted as `sink_full` by the decoder). The content is undefined: overwrite it all.
    fa_record* next() {
        if (count_ == capacity_ && !refill()) return nullptr;
        return &records_[count_++];
    }
    /// Takes back the slot last returned by next().
    void discard_last() { --count_; }

protected:
    /// Called when records_[0..capacity_) is full; must leave count_ < capacity_ and return
    /// true, or return false to refuse the record.
    virtual bool refill() = 0;
    fa_record* records_ = nullptr;
    std::uint32_t count_ = 0;
    std::uint32_t capacity_ = 0;
};

/// A sink that keeps every record in a vector (tests, tools).
class VectorSink final : public RecordSink {
public:
    std::vector<fa_record> take() {
        buf_.resize(count_);
        count_ = capacity_ = 0;
        records_ = nullptr;
        return std::move(buf_);
    }
    std::uint32_t size() const { return count_; }
    const fa_record& operator[](std::size_t i) const { return records_[i]; }

private:
    bool refill() override {
        buf_.resize(buf_.size() * 2 + 256);
        records_ = buf_.data();
        capacity_ = static_cast<std::uint32_t>(buf_.size());
        return true;
    }
    std::vector<fa_record> buf_;
};

/// Gives the decoder counter slots. The module maps this to host->counter(); tests to a map.
/// Called on the decoder's thread when an exporter is first seen; must return a valid slot
/// (never nullptr) that outlives the decoder.
class CounterSource {
public:
    virtual ~CounterSource() = default;
    virtual std::uint64_t* slot(const char* name, const std::string& labels) = 0;
};

/// Receives rate-limited log lines about dropped input (at most one per second).
class DecodeLog {
public:
    virtual ~DecodeLog() = default;
    virtual void warn(const std::string& line) = 0;
};

struct DecoderOptions {
    bool renormalize = false;          // nfacctd_renormalize: packets/bytes x rate, rate 1
    bool time_new = false;             // nfacctd_time_new: start = end = arrival time
    std::size_t max_sessions = 4096;   // exporter (address, port) sessions; LRU evicted
    std::size_t max_domains = 64;      // source ids / observation domains per session
    std::size_t max_templates = 1024;  // templates per domain
    std::size_t max_samplers = 64;     // sampler ids per domain
    std::size_t max_fields = 512;      // fields per template
    std::size_t max_total_templates = 65536; // over every exporter; beyond, new ones are rejected
    std::size_t max_labeled_exporters = 1024; // exporter addresses with their own counters
    // A template not refreshed for this long (by arrival time) is dropped when next used.
    // RFC 7011 §8.4: at least 3x the exporter's refresh; Cisco refreshes every 30 min.
    std::uint64_t template_lifetime_us = 7200ull * 1000000;
};

struct Session;

/// The decoder and its per-exporter state (templates, samplers, sequence numbers).
///
/// One instance per receive thread; not thread-safe. decode() is noexcept and never throws on
/// bad input: everything malformed is dropped and counted per exporter (see Cnt). Memory is
/// bounded by DecoderOptions; evictions are counted.
class Decoder {
public:
    Decoder(const DecoderOptions& options, CounterSource& counters, DecodeLog* log = nullptr);
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    /// Decodes one UDP payload received from `from` at `arrival_us` (µs since the epoch) and
    /// appends its flow records to `sink`. Returns the number of records appended.
    std::uint32_t decode(const std::uint8_t* data, std::size_t len, const Exporter& from,
                         std::uint64_t arrival_us, RecordSink& sink) noexcept;

    /// Every template held now (for nfacctd_templates_file).
    std::vector<TemplateDef> templates() const;
    /// Installs a template read back from a file. Returns false if it is invalid.
    bool install(const TemplateDef& def, std::uint64_t now_us);
    /// Bumped whenever a template is added, replaced or evicted.
    std::uint64_t template_generation() const { return generation_; }

    /// A global (unlabeled) counter of this decoder, e.g. exporter evictions.
    std::uint64_t* global(Cnt c) const { return global_[static_cast<int>(c)]; }

private:
    Session* session_for(const Exporter& from, std::uint64_t now_us);
    void drop(Session& s, Cnt reason, std::uint64_t now_us, std::uint64_t n = 1);

    DecoderOptions opt_;
    CounterSource& counters_;
    DecodeLog* log_;
    std::list<std::unique_ptr<Session>> lru_;  // front = most recently used
    std::unordered_map<std::string, std::list<std::unique_ptr<Session>>::iterator> sessions_;
    std::unordered_map<std::string, std::uint64_t**> label_slots_;  // exporter address -> slots
    std::vector<std::unique_ptr<std::uint64_t*[]>> slot_arrays_;
    Session* last_ = nullptr;                  // cache: consecutive datagrams of one exporter
    std::uint64_t* global_[kCounterCount] = {};
    std::uint64_t generation_ = 0;
    std::size_t total_templates_ = 0;
    std::uint64_t last_log_us_ = 0;
    std::uint64_t suppressed_logs_ = 0;

    friend struct DecodeRun;
};

/// Formats an IPv4-mapped or IPv6 address the way logs and labels show it.
std::string address_text(const std::uint8_t addr[16]);

} // namespace flowacct::netflow
