// SPDX-License-Identifier: GPL-2.0-or-later
// Header-only C++ layer over abi.h: idiomatic base classes for the four module kinds, a
// Context wrapping the host's services, and typed configuration access. Nothing here crosses
// the boundary: export.hpp turns these classes into the C descriptor.
#pragma once

#include <cctype>        // std::tolower
#include <cstddef>       // offsetof
#include <cstdint>       // std::uint64_t
#include <cstring>       // std::memset, std::strlen
#include <stdexcept>     // std::runtime_error
#include <string>        // std::string
#include <string_view>   // std::string_view
#include <utility>       // std::index_sequence
#include <vector>        // std::vector

#if defined(__SSE2__)
#include <emmintrin.h>   // _mm_storeu_si128, _mm_storel_epi64, _mm_setzero_si128
#endif

#include <flowacct/abi.h> // fa_host_api, fa_record, fa_batch, fa_row_batch
#include <flowacct/sdk/primitives.hpp> // is_v4_mapped

namespace flowacct::sdk {

/// A failure a module reports to the host. `key` names the configuration key at fault, if any.
/// Thrown from create() or an operation; the export trampolines turn it into a status.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, std::string key = {})
        : std::runtime_error(message), key_(std::move(key)) {}
    const std::string& key() const noexcept { return key_; }

private:
    std::string key_;
};

enum class Level { Debug = FA_LOG_DEBUG, Info = FA_LOG_INFO, Warn = FA_LOG_WARN, Error = FA_LOG_ERROR };

/// Parses true/yes/1/on and false/no/0/off, any case. Returns false on anything else.
inline bool parse_bool(std::string_view text, bool& out) {
    std::string s(text);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "yes" || s == "1" || s == "on") out = true;
    else if (s == "false" || s == "no" || s == "0" || s == "off") out = false;
    else return false;
    return true;
}

/// Parses "10", "10s", "5m", "1h", "1d", "1w", "1M" into seconds. Returns false on bad input.
inline bool parse_duration_s(std::string_view text, std::uint64_t& out_s) {
    if (text.empty()) return false;
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
        value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
        if (value > (1ull << 40)) return false;
    }
    if (i == 0) return false;
    std::uint64_t unit = 1;
    if (i < text.size()) {
        if (i + 1 != text.size()) return false;
        switch (text[i]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        case 'M': unit = 30 * 86400; break; // pmacct: a month bin; alignment is done by roundoff
        default: return false;
        }
    }
    out_s = value * unit;
    return true;
}

/// Typed access to this instance's configuration. Values come from the host already resolved
/// (instance key over global key over the module's declared default).
class Config {
public:
    explicit Config(const fa_host_api* host) : host_(host) {}

    bool has(const char* key) const { return raw(key) != nullptr; }

    std::string str(const char* key, const std::string& fallback = {}) const {
        const char* v = raw(key);
        return v ? std::string(v) : fallback;
    }

    std::int64_t integer(const char* key, std::int64_t fallback = 0) const {
        const char* v = raw(key);
        if (!v) return fallback;
        std::string s(v);
        std::size_t pos = 0;
        long long out = 0;
        try {
            out = std::stoll(s, &pos, 0);
        } catch (...) {
            pos = 0;
        }
        if (pos == 0 || pos != s.size()) throw Error("expected an integer, got '" + s + "'", key);
        return out;
    }

    /// integer(), refused unless min <= value <= max: "expected a value from MIN to MAX, got V".
    std::int64_t integer_in(const char* key, std::int64_t min, std::int64_t max, std::int64_t fallback) const {
        const std::int64_t v = integer(key, fallback);
        if (v < min || v > max)
            throw Error("expected a value from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                            std::to_string(v),
                        key);
        return v;
    }

    bool boolean(const char* key, bool fallback = false) const {
        const char* v = raw(key);
        if (!v) return fallback;
        bool out = false;
        if (!parse_bool(v, out)) throw Error("expected true or false, got '" + std::string(v) + "'", key);
        return out;
    }

    std::uint64_t duration_s(const char* key, std::uint64_t fallback = 0) const {
        const char* v = raw(key);
        if (!v) return fallback;
        std::uint64_t out = 0;
        if (!parse_duration_s(v, out))
            throw Error("expected a duration such as 60, 10m, 1h or 1d, got '" + std::string(v) + "'",
                        key);
        return out;
    }

    /// Comma-separated list, items trimmed, empty items dropped.
    std::vector<std::string> list(const char* key) const {
        std::vector<std::string> out;
        const char* v = raw(key);
        if (!v) return out;
        std::string cur;
        auto push = [&] {
            std::size_t b = cur.find_first_not_of(" \t");
            std::size_t e = cur.find_last_not_of(" \t");
            if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
            cur.clear();
        };
        for (const char* p = v; *p; ++p) {
            if (*p == ',') push();
            else cur.push_back(*p);
        }
        push();
        return out;
    }

    const char* raw(const char* key) const { return host_->config_get(host_->ctx, key); }

private:
    const fa_host_api* host_;
};

/// The host's services for one module instance. Cheap to copy; valid while the instance lives.
class Context {
public:
    explicit Context(const fa_host_api* host) : host_(host), config_(host) {}

    const Config& config() const { return config_; }
    const char* instance_name() const { return host_->instance_name; }
    const fa_host_api* api() const { return host_; }

    void log(Level level, const std::string& message) const {
        host_->log(host_->ctx, static_cast<fa_log_level>(level), message.c_str());
    }
    void info(const std::string& m) const { log(Level::Info, m); }
    void warn(const std::string& m) const { log(Level::Warn, m); }
    void error(const std::string& m) const { log(Level::Error, m); }
    void debug(const std::string& m) const { log(Level::Debug, m); }

    /// A counter slot kept by the host; bump it with add().
    std::uint64_t* counter(const char* name, const char* labels = nullptr) const {
        return host_->counter(host_->ctx, name, labels);
    }
    static void add(std::uint64_t* slot, std::uint64_t n = 1) {
        __atomic_fetch_add(slot, n, __ATOMIC_RELAXED);
    }

    std::uint32_t intern(std::string_view s) const { return host_->intern(host_->ctx, s.data(), s.size()); }
    const char* name_of(std::uint32_t id) const { return host_->name_of(host_->ctx, id); }
    std::uint64_t monotonic_us() const { return host_->monotonic_us(host_->ctx); }
    std::uint64_t wall_us() const { return host_->wall_us(host_->ctx); }
    std::string stats_json() const {
        const char* s = host_->stats_json ? host_->stats_json(host_->ctx) : nullptr;
        return s ? std::string(s) : std::string("{}");
    }

    /// Inputs: true when some pipeline takes raw datagrams (a host of ABI minor 0 never does).
    /// Ask once after construction; the answer does not change while inputs run.
    bool datagrams_wanted() const {
        if (host_->struct_size < offsetof(fa_host_api, datagram_submit) + sizeof host_->datagram_submit) return false;
        return host_->datagrams_wanted && host_->datagram_submit && host_->datagrams_wanted(host_->ctx) != 0;
    }
    /// Inputs, on their threads: hands one received datagram to the host, which copies it.
    /// Only call it when datagrams_wanted() said so.
    void submit_datagram(const fa_datagram& d) const { host_->datagram_submit(host_->ctx, &d); }
    /// The same from its parts: `exporter` is the sender's address as 16 bytes (IPv4 mapped).
    void submit_datagram(const std::uint8_t* data, std::size_t len, const std::uint8_t* exporter, std::uint16_t src_port,
                         std::uint64_t arrival_us) const {
        fa_datagram d{};
        d.data = data;
        d.length = static_cast<std::uint32_t>(len);
        std::memcpy(d.exporter, exporter, 16);
        d.ip_version = is_v4_mapped(exporter) ? 4 : 6;
        d.src_port = src_port;
        d.arrival_us = arrival_us;
        submit_datagram(d);
    }

private:
    const fa_host_api* host_;
    Config config_;
};

namespace detail {
#if defined(__SSE2__)
// One 16-byte store per index, written out (a loop of them the compiler turns back into memset).
template <std::size_t... I> inline void store_zero16(unsigned char* p, std::index_sequence<I...>) noexcept {
    const __m128i zero = _mm_setzero_si128();
    (_mm_storeu_si128(reinterpret_cast<__m128i*>(p + 16 * I), zero), ...);
}
#endif
} // namespace detail

/// Zeroes a record with plain vector stores. A 232-byte memset compiles to `rep stos`, whose
/// start-up costs several times the stores themselves: a tenth of an sFlow replay's CPU went there.
inline void zero_record(fa_record& r) noexcept {
#if defined(__SSE2__)
    static_assert(sizeof(fa_record) % 8 == 0, "records are whole 8-byte words");
    auto* p = reinterpret_cast<unsigned char*>(&r);
    detail::store_zero16(p, std::make_index_sequence<sizeof(fa_record) / 16>{});
    if constexpr (sizeof(fa_record) % 16 != 0)
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p + sizeof(fa_record) / 16 * 16), _mm_setzero_si128());
#else
    std::memset(&r, 0, sizeof r);
#endif
}

/// Fills host batches record by record and submits them when full. Input thread only.
class BatchWriter {
public:
    explicit BatchWriter(const fa_host_api* host) : host_(host) {}
    BatchWriter(const BatchWriter&) = delete;
    BatchWriter& operator=(const BatchWriter&) = delete;
    ~BatchWriter() { flush(); }

    /// A zeroed record slot in the current batch. Valid until the next call.
    fa_record& next() {
        if (!batch_ || batch_->count == batch_->capacity) {
            flush();
            batch_ = host_->batch_acquire(host_->ctx);
        }
        fa_record& r = batch_->records[batch_->count++];
        zero_record(r);
        return r;
    }

    /// Drops the record last returned by next() (it failed to decode).
    void discard_last() {
        if (batch_ && batch_->count > 0) --batch_->count;
    }

    /// Copies up to `len` payload bytes for `r` (the last record) into the batch's arena.
    void attach_payload(fa_record& r, const std::uint8_t* data, std::uint32_t len) {
        if (!batch_ || len == 0) return;
        std::uint32_t room = batch_->payload_capacity - batch_->payload_used;
        if (len > room) len = room;
        if (len == 0) return;
        std::memcpy(batch_->payload + batch_->payload_used, data, len);
        r.payload_offset = batch_->payload_used;
        r.payload_len = len;
        r.flags |= FA_REC_HAS_PAYLOAD;
        batch_->payload_used += len;
    }

    /// Submits the partial batch. Returns the records the host accepted.
    std::uint32_t flush() {
        if (!batch_) return 0;
        fa_batch* b = batch_;
        batch_ = nullptr;
        return host_->batch_submit(host_->ctx, b);
    }

    std::uint32_t pending() const { return batch_ ? batch_->count : 0; }

private:
    const fa_host_api* host_;
    fa_batch* batch_ = nullptr;
};

/// An input module: reads a source and emits record batches. One thread per instance.
class Input {
public:
    virtual ~Input() = default;
    /// Input thread. Returns FA_EOF when the source ended, FA_OK after request_stop().
    /// Throw Error for a fatal failure.
    virtual fa_status run() = 0;
    /// Any thread: make run() return soon.
    virtual void request_stop() = 0;
    /// Signal thread: reload maps. Throw Error to keep the old ones.
    virtual void reload() {}
};

/// An output module: receives the aggregator's rows. Pipeline thread only.
/// Optional members: `static constexpr std::uint32_t kDefaultRefreshS` (the refresh interval when
/// no *_refresh_time key is set), `static constexpr const char* kDefaultAggregator` (e.g.
/// "passthrough" for an output that needs every record rather than sums) and
/// `static constexpr bool kDatagramsOnly = true` (the output takes the inputs' raw datagrams
/// through datagrams() instead of rows: its pipeline has no aggregator, and write() is never
/// called).
class Output {
public:
    virtual ~Output() = default;
    /// Rows are valid only during the call: copy what you keep. Throw Error on failure.
    virtual void write(const fa_row_batch& rows) = 0;
    /// After each purge and periodically.
    virtual void tick(std::uint64_t /*now_mono_us*/) {}
    /// At shutdown, after the last write: make everything durable.
    virtual void flush() {}
    /// Datagram-only outputs (kDatagramsOnly): `n` raw datagrams, valid during the call only.
    /// Throw Error on failure: the host counts a write error and goes on.
    virtual void datagrams(const fa_datagram* const* /*d*/, std::uint32_t /*n*/) {}
    /// On SIGUSR2 or every maps_refresh seconds: reload the output's maps. Throw Error to keep
    /// the old ones (the host logs it).
    virtual void reload() {}
};

/// An aggregator module. Pipeline thread only.
class Aggregator {
public:
    virtual ~Aggregator() = default;
    /// Returns true when full: the host then purges everything at once.
    virtual bool ingest(const fa_record* records, std::uint32_t count) = 0;
    virtual void purge(std::uint64_t now_mono_us, bool force, const fa_row_sink& sink) = 0;
    virtual std::uint64_t size() const = 0;
};

/// A pipeline stage (classifier kind) working on the pipeline's private copy of each batch:
/// classification, networks, pre-tagging, filters (set FA_REC_DROP). Pipeline thread only.
class Classifier {
public:
    virtual ~Classifier() = default;
    virtual void process(fa_record* records, std::uint32_t count, const std::uint8_t* payload) = 0;
    virtual void reload() {}
};

} // namespace flowacct::sdk
