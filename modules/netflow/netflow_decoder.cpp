// SPDX-License-Identifier: GPL-2.0-or-later
// NetFlow v5 (Cisco), v9 (RFC 3954) and IPFIX (RFC 7011/7012) decoding into fa_records.
#include "netflow_decoder.hpp"

#include <arpa/inet.h> // inet_ntop, AF_INET, AF_INET6

#include <algorithm>   // std::find_if, std::remove
#include <cstring>     // std::memcpy, std::memcmp, std::memset
#include <deque>       // std::deque
#include <new>         // std::bad_alloc

namespace flowacct::netflow {

namespace {

constexpr std::uint64_t kUsPerSec = 1000000;
constexpr std::uint64_t kNtpToUnixS = 2208988800ull; // 1900-01-01 to 1970-01-01
constexpr std::uint64_t kFutureSlackUs = 86400 * kUsPerSec;
constexpr std::uint64_t kStaleSlackUs = 30 * 86400 * kUsPerSec;
constexpr std::int64_t kReorderWindow = 1 << 16; // in the stream's unit
constexpr std::int64_t kResetJump = 1 << 24;
constexpr std::uint32_t kUptimeBackSlackMs = 60000;

// sysUptime went back further than reordering explains, and not by its 49.7-day wrap.
inline bool rebooted(std::uint32_t now_ms, std::uint32_t last_ms) {
    constexpr std::uint32_t kWrapWindowMs = 3600 * 1000;
    if (now_ms >= last_ms || last_ms - now_ms <= kUptimeBackSlackMs) return false;
    const bool wrapped = last_ms > 0xFFFFFFFFu - kWrapWindowMs && now_ms < kWrapWindowMs;
    return !wrapped;
}

inline std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }
inline std::uint32_t be32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
inline std::uint64_t be64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
// Reduced-size unsigned integers (RFC 7011 §6.2): 1..8 bytes, big-endian.
inline std::uint64_t load(const std::uint8_t* p, unsigned n) {
    switch (n) {
    case 1: return p[0];
    case 2: return be16(p);
    case 4: return be32(p);
    case 8: return be64(p);
    default: {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < n; ++i) v = v << 8 | p[i];
        return v;
    }
    }
}

inline void set_v4(std::uint8_t dst[16], const std::uint8_t* p) {
    std::memset(dst, 0, 10);
    dst[10] = dst[11] = 0xFF;
    std::memcpy(dst + 12, p, 4);
}

inline std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b, bool& saturated) {
    std::uint64_t out;
    if (__builtin_mul_overflow(a, b, &out)) {
        saturated = true;
        return ~0ull;
    }
    return out;
}

// Values of a record that need the whole record before they can be interpreted.
struct Scratch {
    std::uint64_t start_raw = 0, end_raw = 0, sys_init_ms = 0;
    std::uint64_t interval = 0, space = 0, size = 0, population = 0;
    std::uint32_t sampler_id = 0;
    bool has_sys_init = false, has_rate_field = false;
};

inline std::uint32_t rate_of(const Scratch& s) {
    std::uint64_t rate = s.interval;
    if (s.interval && s.space) rate = (s.interval + s.space) / s.interval;
    else if (s.size && s.population) rate = s.population / s.size;
    return rate > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(rate);
}

// Runs a compiled program over one record. kChecked: the template has variable-length
// fields, so every access is bounds-checked against `end`; otherwise the caller proved that
// `fixed_len` bytes are there. Returns the record's length, or 0 if it runs past `end`.
template <bool kChecked>
std::uint32_t run_program(const Program& prog, const std::uint8_t* rec, const std::uint8_t* end,
                          fa_record& r, Scratch& sc) {
    // Threaded dispatch (GCC/Clang labels as values): each handler jumps to the next one from
    // its own site, so for a fixed template every jump is predicted; one shared switch jump
    // was the decoder's main cost. Order matches dispatch_index().
    // Integer fields have a handler per load width (1, 2, 4, 8 bytes, other), picked when the
    // template is compiled (dispatch_index), so no handler switches on the length.
#define FA_NF_INT_LABELS(name) &&name##_1, &&name##_2, &&name##_4, &&name##_8, &&name##_n
    static const void* const kLabels[] = {
        &&l_skip, &&l_varlen, &&l_src4, &&l_dst4, &&l_src6, &&l_dst6, &&l_nh4, &&l_nh6, &&l_smac, &&l_dmac,
        FA_NF_INT_LABELS(l_sport), FA_NF_INT_LABELS(l_dport), FA_NF_INT_LABELS(l_proto), FA_NF_INT_LABELS(l_tos),
        FA_NF_INT_LABELS(l_flags), FA_NF_INT_LABELS(l_smask), FA_NF_INT_LABELS(l_dmask), FA_NF_INT_LABELS(l_in),
        FA_NF_INT_LABELS(l_out), FA_NF_INT_LABELS(l_sas), FA_NF_INT_LABELS(l_das), FA_NF_INT_LABELS(l_psas),
        FA_NF_INT_LABELS(l_pdas), FA_NF_INT_LABELS(l_vlan), FA_NF_INT_LABELS(l_etype), FA_NF_INT_LABELS(l_bytes),
        FA_NF_INT_LABELS(l_packets), FA_NF_INT_LABELS(l_start), FA_NF_INT_LABELS(l_end), FA_NF_INT_LABELS(l_sysinit),
        FA_NF_INT_LABELS(l_sampler), FA_NF_INT_LABELS(l_interval), FA_NF_INT_LABELS(l_space), FA_NF_INT_LABELS(l_size),
        FA_NF_INT_LABELS(l_population), &&done,
    };
#undef FA_NF_INT_LABELS
    static_assert(sizeof kLabels / sizeof kLabels[0] == dispatch_index(Op::End, 0) + 1);
    const std::uint8_t* base = rec;
    const FieldOp* op = prog.ops.data(); // the last one is Op::End
    const std::uint8_t* p;
#define FA_NF_DISPATCH()                                                                      \
    do {                                                                                      \
        p = base + op->offset;                                                                \
        if constexpr (kChecked) {                                                             \
            if (p > end || static_cast<std::size_t>(end - p) < op->len) return 0;            \
        }                                                                                     \
        goto* kLabels[op->handler];                                                           \
    } while (0)
#define FA_NF_NEXT() do { ++op; FA_NF_DISPATCH(); } while (0)
// The five handlers of an integer field: `v` is its value, `store` puts it in place.
#define FA_NF_INT(name, store)                                                                \
    name##_1: { const std::uint64_t v = p[0]; store; FA_NF_NEXT(); }                          \
    name##_2: { const std::uint64_t v = be16(p); store; FA_NF_NEXT(); }                       \
    name##_4: { const std::uint64_t v = be32(p); store; FA_NF_NEXT(); }                       \
    name##_8: { const std::uint64_t v = be64(p); store; FA_NF_NEXT(); }                       \
    name##_n: { const std::uint64_t v = load(p, op->len); store; FA_NF_NEXT(); }
    FA_NF_DISPATCH();
l_skip: FA_NF_NEXT();
l_varlen: {
        if (p >= end) return 0;
        std::uint32_t n = *p++;
        if (n == 255) {
            if (end - p < 2) return 0;
            n = be16(p);
            p += 2;
        }
        if (static_cast<std::size_t>(end - p) < n) return 0;
        base = p + n;
        FA_NF_NEXT();
    }
l_src4: set_v4(r.src_ip, p); r.ip_version = 4; r.ether_type = 0x0800; FA_NF_NEXT();
l_dst4: set_v4(r.dst_ip, p); r.ip_version = 4; r.ether_type = 0x0800; FA_NF_NEXT();
l_src6: std::memcpy(r.src_ip, p, 16); r.ip_version = 6; r.ether_type = 0x86DD; FA_NF_NEXT();
l_dst6: std::memcpy(r.dst_ip, p, 16); r.ip_version = 6; r.ether_type = 0x86DD; FA_NF_NEXT();
l_nh4: set_v4(r.nexthop, p); FA_NF_NEXT();
l_nh6: std::memcpy(r.nexthop, p, 16); FA_NF_NEXT();
l_smac: std::memcpy(r.src_mac, p, 6); FA_NF_NEXT();
l_dmac: std::memcpy(r.dst_mac, p, 6); FA_NF_NEXT();
    FA_NF_INT(l_sport, r.src_port = static_cast<std::uint16_t>(v))
    FA_NF_INT(l_dport, r.dst_port = static_cast<std::uint16_t>(v))
    FA_NF_INT(l_proto, r.proto = static_cast<std::uint8_t>(v))
    FA_NF_INT(l_tos, r.tos = static_cast<std::uint8_t>(v))
    FA_NF_INT(l_flags, r.tcp_flags = static_cast<std::uint8_t>(v))
    FA_NF_INT(l_smask, r.src_mask = static_cast<std::uint8_t>(v))
    FA_NF_INT(l_dmask, r.dst_mask = static_cast<std::uint8_t>(v))
    FA_NF_INT(l_in, r.in_iface = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_out, r.out_iface = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_sas, r.src_as = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_das, r.dst_as = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_psas, r.peer_src_as = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_pdas, r.peer_dst_as = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_vlan, r.vlan = static_cast<std::uint16_t>(v & 0x0FFF))
    FA_NF_INT(l_etype, r.ether_type = static_cast<std::uint16_t>(v))
    FA_NF_INT(l_bytes, r.bytes = v)
    FA_NF_INT(l_packets, r.packets = v)
    FA_NF_INT(l_start, sc.start_raw = v)
    FA_NF_INT(l_end, sc.end_raw = v)
    FA_NF_INT(l_sysinit, sc.sys_init_ms = v; sc.has_sys_init = true)
    FA_NF_INT(l_sampler, sc.sampler_id = static_cast<std::uint32_t>(v))
    FA_NF_INT(l_interval, sc.interval = v; sc.has_rate_field = true)
    FA_NF_INT(l_space, sc.space = v; sc.has_rate_field = true)
    FA_NF_INT(l_size, sc.size = v; sc.has_rate_field = true)
    FA_NF_INT(l_population, sc.population = v; sc.has_rate_field = true)
#undef FA_NF_INT
#undef FA_NF_NEXT
#undef FA_NF_DISPATCH
done:
    // Op::End's offset is the length of the last fixed segment (dispatching to it checked that
    // the record's end is within `end`).
    return static_cast<std::uint32_t>(p - rec);
}

} // namespace

struct SeqState {
    bool valid = false;
    bool expected_known = false;
    std::uint32_t last_seq = 0;
    std::uint32_t last_units = 0;
    std::uint32_t expected = 0;
    std::uint32_t last_uptime_ms = 0;
};

struct Domain {
    std::uint32_t id = 0;
    SeqState seq;
    std::uint64_t sys_init_ms = 0; // IPFIX systemInitTimeMilliseconds from options data
    std::uint32_t default_rate = 0; // sampling rate from options data without a sampler id
    std::vector<std::pair<std::uint32_t, std::uint32_t>> samplers; // sampler id -> rate
    std::deque<std::uint16_t> template_order;                     // FIFO for the per-domain cap
};

struct Session {
    Exporter from;
    std::string key;
    std::uint64_t** slots = nullptr;
    std::unordered_map<std::uint64_t, std::unique_ptr<Program>> templates; // (domain << 16) | id
    std::vector<Domain> domains;
    std::size_t last_domain = 0;

    void inc(Cnt c, std::uint64_t n = 1) { __atomic_fetch_add(slots[static_cast<int>(c)], n, __ATOMIC_RELAXED); }

    Domain* domain(std::uint32_t id, std::size_t max_domains) {
        if (last_domain < domains.size() && domains[last_domain].id == id) return &domains[last_domain];
        for (std::size_t i = 0; i < domains.size(); ++i)
            if (domains[i].id == id) {
                last_domain = i;
                return &domains[i];
            }
        if (domains.size() >= max_domains) return nullptr;
        domains.push_back(Domain{});
        domains.back().id = id;
        last_domain = domains.size() - 1;
        return &domains.back();
    }
};

std::string address_text(const std::uint8_t addr[16]) {
    static const std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    char buf[INET6_ADDRSTRLEN] = "";
    if (std::memcmp(addr, kMapped, 12) == 0) inet_ntop(AF_INET, addr + 12, buf, sizeof buf);
    else inet_ntop(AF_INET6, addr, buf, sizeof buf);
    return buf;
}

namespace {

std::string session_key(const std::uint8_t addr[16], std::uint16_t port) {
    std::string k(18, '\0');
    std::memcpy(k.data(), addr, 16);
    k[16] = static_cast<char>(port >> 8);
    k[17] = static_cast<char>(port & 0xFF);
    return k;
}

} // namespace

Decoder::Decoder(const DecoderOptions& options, CounterSource& counters, DecodeLog* log)
    : opt_(options), counters_(counters), log_(log) {
    global_[static_cast<int>(Cnt::ExporterEvicted)] = counters_.slot("exporter_evicted", "");
}

Decoder::~Decoder() = default;

Session* Decoder::session_for(const Exporter& from, std::uint64_t now_us) {
    (void)now_us;
    // Templates and sequence numbers follow the exporter's address (and source id / domain),
    // as nfacctd does: an exporter that restarts on a new source port keeps its state.
    if (last_ && std::memcmp(last_->from.addr, from.addr, 16) == 0) {
        last_->from.port = from.port;
        return last_;
    }
    const std::string key = session_key(from.addr, 0);
    auto it = sessions_.find(key);
    if (it != sessions_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        last_ = it->second->get();
        return last_;
    }
    if (sessions_.size() >= opt_.max_sessions && !lru_.empty()) {
        Session& old = *lru_.back();
        old.inc(Cnt::TmplEvicted, old.templates.size());
        total_templates_ -= old.templates.size();
        if (!old.templates.empty()) ++generation_;
        __atomic_fetch_add(global_[static_cast<int>(Cnt::ExporterEvicted)], 1, __ATOMIC_RELAXED);
        if (last_ == &old) last_ = nullptr;
        sessions_.erase(old.key);
        lru_.pop_back();
    }
    auto s = std::make_unique<Session>();
    s->from = from;
    s->key = key;
    // Counters are labelled by address only: one exporter's sessions (ports) share them.
    std::string label = address_text(from.addr);
    auto slots_it = label_slots_.find(label);
    if (slots_it == label_slots_.end()) {
        // Past the cap (spoofed sources) every new address shares one "other" label, so the
        // host's counter table stays bounded.
        if (label_slots_.size() >= opt_.max_labeled_exporters) label = "other";
        slots_it = label_slots_.find(label);
        if (slots_it == label_slots_.end()) {
            auto arr = std::make_unique<std::uint64_t*[]>(kCounterCount);
            for (std::size_t i = 0; i < kCounterCount; ++i)
                arr[i] = counters_.slot(kCounterNames[i], "exporter=" + label);
            slots_it = label_slots_.emplace(label, arr.get()).first;
            slot_arrays_.push_back(std::move(arr));
        }
    }
    s->slots = slots_it->second;
    lru_.push_front(std::move(s));
    sessions_.emplace(key, lru_.begin());
    last_ = lru_.front().get();
    return last_;
}

void Decoder::drop(Session& s, Cnt reason, std::uint64_t now_us, std::uint64_t n) {
    s.inc(reason, n);
    if (!log_) return;
    if (now_us >= last_log_us_ && now_us - last_log_us_ < kUsPerSec) {
        ++suppressed_logs_;
        return;
    }
    last_log_us_ = now_us;
    std::string line = "exporter " + address_text(s.from.addr) + ":" + std::to_string(s.from.port) +
                       ": dropped input: " + kCounterNames[static_cast<int>(reason)];
    if (suppressed_logs_) line += " (" + std::to_string(suppressed_logs_) + " similar lines suppressed)";
    suppressed_logs_ = 0;
    log_->warn(line);
}

/// The state of one decode() call: the datagram, its session and where records go.
struct DecodeRun {
    Decoder& dec;
    Session& s;
    RecordSink& sink;
    std::uint64_t arrival_us;
    std::uint32_t emitted = 0;
    bool sink_full = false;

    // Per-message context.
    std::uint8_t version = 0;
    Domain* dom = nullptr;
    std::uint64_t export_us = 0;
    std::uint32_t uptime_ms = 0;
    std::uint32_t header_rate = 0; // v5 header sampling
    std::uint32_t data_records = 0;
    std::uint32_t template_records = 0;
    bool all_sets_decoded = true;
    fa_record proto{};

    void drop(Cnt c, std::uint64_t n = 1) { dec.drop(s, c, arrival_us, n); }

    // ---- sequence numbers ---------------------------------------------------
    void check_seq(SeqState& st, std::uint32_t seq, std::uint32_t units, bool units_known, bool has_uptime) {
        auto resync = [&] {
            st.valid = true;
            st.last_seq = seq;
            st.last_units = units;
            st.expected = seq + units;
            st.expected_known = units_known;
            st.last_uptime_ms = uptime_ms;
        };
        if (!st.valid) return resync();
        // An exporter that rebooted restarts its uptime: not "4 billion lost".
        if (has_uptime && rebooted(uptime_ms, st.last_uptime_ms)) {
            s.inc(Cnt::SeqReset);
            return resync();
        }
        if (!st.expected_known) return resync();
        const auto d = static_cast<std::int32_t>(seq - st.expected);
        if (d == 0) return resync();
        if (seq == st.last_seq && st.last_units > 0) {
            s.inc(Cnt::SeqDup);
            return;
        }
        if (d > 0 && d < kResetJump) {
            s.inc(Cnt::SeqLost, static_cast<std::uint64_t>(d));
            return resync();
        }
        if (d < 0 && d > -kReorderWindow) {
            s.inc(Cnt::SeqReordered);
            return; // a late datagram: the stream's position stays where it is
        }
        s.inc(Cnt::SeqReset);
        resync();
    }

    // ---- records --------------------------------------------------------------
    void finish_times(fa_record& r, const Program& prog, const Scratch& sc) {
        auto convert = [&](TimeMode m, std::uint64_t raw, std::uint64_t& out) -> bool {
            switch (m) {
            case TimeMode::None: return false;
            case TimeMode::Uptime:
                if (version == 9) {
                    const std::uint32_t ago_ms = uptime_ms - static_cast<std::uint32_t>(raw); // mod 2^32
                    out = export_us - std::min<std::uint64_t>(export_us, std::uint64_t{ago_ms} * 1000);
                    return true;
                } else {
                    const std::uint64_t init = sc.has_sys_init ? sc.sys_init_ms : (dom ? dom->sys_init_ms : 0);
                    if (!init) return false;
                    out = (init + raw) * 1000;
                    return true;
                }
            case TimeMode::Seconds: out = raw * kUsPerSec; return true;
            case TimeMode::Millis: out = raw * 1000; return true;
            case TimeMode::Ntp: {
                const std::uint64_t secs = raw >> 32;
                if (secs < kNtpToUnixS) {
                    out = 0;
                    return true;
                }
                out = (secs - kNtpToUnixS) * kUsPerSec + (((raw & 0xFFFFFFFFull) * kUsPerSec) >> 32);
                return true;
            }
            case TimeMode::DeltaUs: out = export_us - std::min(export_us, raw); return true;
            }
            return false;
        };
        std::uint64_t start = 0, end = 0;
        const bool has_start = convert(prog.start_mode, sc.start_raw, start);
        const bool has_end = convert(prog.end_mode, sc.end_raw, end);
        if (!has_start && !has_end) start = end = export_us ? export_us : arrival_us;
        else if (!has_start) start = end;
        else if (!has_end) end = start;
        r.time_start_us = start;
        r.time_end_us = end;
        check_clock(r);
    }

    void check_clock(fa_record& r) {
        if (dec.opt_.time_new) {
            r.time_start_us = r.time_end_us = arrival_us;
            return;
        }
        if (arrival_us) {
            if (r.time_end_us > arrival_us + kFutureSlackUs) {
                s.inc(Cnt::TsFuture);
                r.time_start_us = r.time_end_us = arrival_us;
            } else if (r.time_end_us + kStaleSlackUs < arrival_us) {
                s.inc(Cnt::TsStale);
                r.time_start_us = r.time_end_us = arrival_us;
            }
        }
        if (r.time_start_us > r.time_end_us) r.time_start_us = r.time_end_us;
    }

    void finish_sampling(fa_record& r, std::uint32_t rate) {
        if (rate == 0) {
            r.sampling_rate = 0;
            return;
        }
        if (dec.opt_.renormalize) {
            bool saturated = false;
            r.packets = sat_mul(r.packets, rate, saturated);
            r.bytes = sat_mul(r.bytes, rate, saturated);
            if (saturated) s.inc(Cnt::CounterSanity);
            r.sampling_rate = 1;
        } else {
            r.sampling_rate = rate;
        }
    }

    void check_counters(const fa_record& r) {
        // No division on the hot path: more than 64 KiB a packet means bytes >> 16 > packets.
        if ((r.packets == 0 && r.bytes > 0) || (r.bytes >> 16) > r.packets) s.inc(Cnt::CounterSanity);
    }

    std::uint32_t rate_for(const Program& prog, const Scratch& sc) const {
        if (prog.has_sampler_id && dom) {
            for (const auto& [id, rate] : dom->samplers)
                if (id == sc.sampler_id) return rate;
        }
        if (sc.has_rate_field) {
            if (const std::uint32_t rate = rate_of(sc)) return rate;
        }
        if (dom) {
            if (dom->default_rate) return dom->default_rate;
            if (dom->samplers.size() == 1) return dom->samplers.front().second;
        }
        return header_rate;
    }

    // ---- NetFlow v5 -------------------------------------------------------------
    void v5(const std::uint8_t* d, std::size_t len) {
        if (len < 24) return drop(Cnt::ShortDatagram);
        const std::uint16_t count = be16(d + 2);
        if (count == 0 || count > 30 || len < 24 + std::size_t{count} * 48) return drop(Cnt::V5CountMismatch);
        uptime_ms = be32(d + 4);
        export_us = std::uint64_t{be32(d + 8)} * kUsPerSec + be32(d + 12) / 1000;
        const std::uint32_t seq = be32(d + 16);
        const std::uint32_t domain_id = std::uint32_t{d[20]} << 8 | d[21];
        const std::uint16_t sampling = be16(d + 22);
        header_rate = (sampling & 0x3FFF) ? (sampling & 0x3FFF) : 1;
        dom = s.domain(domain_id, dec.opt_.max_domains);
        if (!dom) return drop(Cnt::DomainRejected);
        check_seq(dom->seq, seq, count, true, true);
        proto.engine_id = d[21];
        for (std::uint16_t i = 0; i < count; ++i) {
            const std::uint8_t* p = d + 24 + std::size_t{i} * 48;
            fa_record* r = next();
            if (!r) return;
            set_v4(r->src_ip, p);
            set_v4(r->dst_ip, p + 4);
            set_v4(r->nexthop, p + 8);
            r->in_iface = be16(p + 12);
            r->out_iface = be16(p + 14);
            r->packets = be32(p + 16);
            r->bytes = be32(p + 20);
            const std::uint32_t first = be32(p + 24), last = be32(p + 28);
            r->src_port = be16(p + 32);
            r->dst_port = be16(p + 34);
            r->tcp_flags = p[37];
            r->proto = p[38];
            r->tos = p[39];
            r->src_as = be16(p + 40);
            r->dst_as = be16(p + 42);
            r->src_mask = p[44];
            r->dst_mask = p[45];
            r->ip_version = 4;
            r->ether_type = 0x0800;
            r->time_start_us = export_us - std::min<std::uint64_t>(export_us, std::uint64_t{uptime_ms - first} * 1000);
            r->time_end_us = export_us - std::min<std::uint64_t>(export_us, std::uint64_t{uptime_ms - last} * 1000);
            check_clock(*r);
            check_counters(*r);
            finish_sampling(*r, header_rate);
            ++emitted;
        }
        if (len > 24 + std::size_t{count} * 48) s.inc(Cnt::PadBytes, len - 24 - std::size_t{count} * 48);
    }

    fa_record* next() {
        if (sink_full) return nullptr;
        fa_record* r = sink.next();
        if (!r) {
            sink_full = true;
            s.inc(Cnt::SinkFull);
            return nullptr;
        }
        *r = proto;
        return r;
    }

    // ---- v9 / IPFIX ---------------------------------------------------------------
    void message(const std::uint8_t* d, std::size_t len) {
        std::uint32_t seq = 0, domain_id = 0;
        std::size_t off = 0;
        std::uint16_t v9_count = 0;
        if (version == 9) {
            if (len < 20) return drop(Cnt::ShortDatagram);
            v9_count = be16(d + 2);
            uptime_ms = be32(d + 4);
            export_us = std::uint64_t{be32(d + 8)} * kUsPerSec;
            seq = be32(d + 12);
            domain_id = be32(d + 16);
            off = 20;
        } else {
            if (len < 16) return drop(Cnt::ShortDatagram);
            if (be16(d + 2) != len) return drop(Cnt::BadMsgLen);
            export_us = std::uint64_t{be32(d + 4)} * kUsPerSec;
            seq = be32(d + 8);
            domain_id = be32(d + 12);
            off = 16;
        }
        dom = s.domain(domain_id, dec.opt_.max_domains);
        if (!dom) return drop(Cnt::DomainRejected);
        proto.engine_id = domain_id;

        while (len - off >= 4) {
            const std::uint16_t set_id = be16(d + off);
            const std::uint16_t set_len = be16(d + off + 2);
            if (set_len < 4) {
                // v9 exporters pad datagrams with zeros after the last flowset.
                bool zeros = version == 9;
                for (std::size_t i = off; zeros && i < len; ++i) zeros = d[i] == 0;
                if (zeros) s.inc(Cnt::PadBytes, len - off);
                else drop(Cnt::BadSetLen);
                off = len;
                break;
            }
            if (set_len > len - off) {
                drop(Cnt::BadSetLen);
                off = len;
                break;
            }
            const std::uint8_t* body = d + off + 4;
            const std::uint8_t* end = d + off + set_len;
            const std::uint16_t tmpl_set = version == 9 ? 0 : 2;
            const std::uint16_t opt_set = version == 9 ? 1 : 3;
            if (set_id == tmpl_set) templates(body, end, domain_id, false);
            else if (set_id == opt_set) templates(body, end, domain_id, true);
            else if (set_id < 256) drop(Cnt::ReservedSetId);
            else data_set(body, end, domain_id, set_id);
            off += set_len;
        }
        if (off < len) s.inc(Cnt::PadBytes, len - off);

        if (version == 9) {
            // Count is a statistic only: records are delimited by bytes.
            if (all_sets_decoded && v9_count != data_records + template_records) s.inc(Cnt::V9CountMismatch);
            check_seq(dom->seq, seq, 1, true, true);
        } else {
            check_seq(dom->seq, seq, data_records, all_sets_decoded, false);
        }
    }

    // Parses a template or options template set and installs each template in it.
    void templates(const std::uint8_t* p, const std::uint8_t* end, std::uint32_t domain_id, bool options) {
        const bool ipfix = version == 10;
        while (end - p >= 4) {
            TemplateDef def;
            std::memcpy(def.exporter, s.from.addr, 16);
            def.port = s.from.port;
            def.domain = domain_id;
            def.version = version;
            def.options = options;
            def.id = be16(p);
            std::size_t field_count = 0;
            if (!options || ipfix) {
                field_count = be16(p + 2);
                if (field_count == 0) {
                    if (def.id == 0) { // zero padding at the end of the set
                        s.inc(Cnt::PadBytes, static_cast<std::size_t>(end - p));
                        return;
                    }
                    if (ipfix) s.inc(Cnt::UdpWithdrawalIgnored); // RFC 7011 §8.4: ignored over UDP
                    else drop(Cnt::TmplRejected);
                    ++template_records;
                    p += 4;
                    continue;
                }
                p += 4;
                if (options) {
                    if (end - p < 2) return drop(Cnt::BadSetLen);
                    def.scope_count = be16(p);
                    p += 2;
                }
            } else {
                if (end - p < 6) break;
                const std::uint16_t scope_len = be16(p + 2), opt_len = be16(p + 4);
                if (def.id == 0 && scope_len == 0 && opt_len == 0) {
                    s.inc(Cnt::PadBytes, static_cast<std::size_t>(end - p));
                    return;
                }
                if (scope_len % 4 || opt_len % 4 || std::size_t{scope_len} + opt_len > static_cast<std::size_t>(end - p - 6))
                    return drop(Cnt::TmplRejected); // the rest of the set cannot be delimited
                def.scope_count = static_cast<std::uint16_t>(scope_len / 4);
                field_count = (std::size_t{scope_len} + opt_len) / 4;
                p += 6;
            }
            // The field list is bounded by the set's bytes, never by the announced count alone.
            for (std::size_t i = 0; i < field_count; ++i) {
                if (end - p < 4) return drop(Cnt::BadSetLen);
                FieldSpec f;
                f.id = be16(p);
                f.length = be16(p + 2);
                p += 4;
                if (ipfix && (f.id & 0x8000)) {
                    if (end - p < 4) return drop(Cnt::BadSetLen);
                    f.id &= 0x7FFF;
                    f.pen = be32(p);
                    p += 4;
                }
                if (def.fields.size() <= dec.opt_.max_fields) def.fields.push_back(f);
            }
            ++template_records;
            if (def.id < 256) {
                drop(Cnt::TmplRejected);
                continue;
            }
            install(def);
        }
        if (p < end) s.inc(Cnt::PadBytes, static_cast<std::size_t>(end - p));
    }

    bool install(const TemplateDef& def) {
        auto prog = std::make_unique<Program>();
        const CompileResult res = compile(def, dec.opt_.max_fields, *prog);
        prog->refreshed_us = arrival_us;
        // v9 has no variable-length encoding: a 65535 length would be a 64 KiB record.
        if (res != CompileResult::Ok || (def.version == 9 && prog->has_varlen)) {
            drop(Cnt::TmplRejected);
            return false;
        }
        if (prog->bad_field_lengths) s.inc(Cnt::BadFieldLen, prog->bad_field_lengths);
        Domain* d = s.domain(def.domain, dec.opt_.max_domains);
        if (!d) {
            drop(Cnt::DomainRejected);
            return false;
        }
        const std::uint64_t key = std::uint64_t{def.domain} << 16 | def.id;
        auto it = s.templates.find(key);
        if (it != s.templates.end()) {
            if (it->second->def.fields == def.fields && it->second->def.options == def.options &&
                it->second->def.scope_count == def.scope_count) {
                it->second->refreshed_us = arrival_us;
                s.inc(Cnt::TmplRefreshed);
                return true;
            }
            it->second = std::move(prog);
            s.inc(Cnt::TmplReplaced);
            ++dec.generation_;
            return true;
        }
        if (d->template_order.size() >= dec.opt_.max_templates) {
            s.templates.erase(std::uint64_t{def.domain} << 16 | d->template_order.front());
            d->template_order.pop_front();
            --dec.total_templates_;
            s.inc(Cnt::TmplEvicted);
        }
        if (dec.total_templates_ >= dec.opt_.max_total_templates) {
            drop(Cnt::TmplRejected);
            return false;
        }
        s.templates.emplace(key, std::move(prog));
        d->template_order.push_back(def.id);
        ++dec.total_templates_;
        ++dec.generation_;
        s.inc(Cnt::TmplAdded);
        return true;
    }

    void data_set(const std::uint8_t* p, const std::uint8_t* end, std::uint32_t domain_id, std::uint16_t id) {
        auto it = s.templates.find(std::uint64_t{domain_id} << 16 | id);
        if (it != s.templates.end() && dec.opt_.template_lifetime_us &&
            arrival_us > it->second->refreshed_us + dec.opt_.template_lifetime_us) {
            // Its exporter stopped refreshing it: the layout may have changed since.
            auto& order = dom->template_order;
            order.erase(std::remove(order.begin(), order.end(), id), order.end());
            s.templates.erase(it);
            --dec.total_templates_;
            ++dec.generation_;
            s.inc(Cnt::TmplExpired);
            it = s.templates.end();
        }
        if (it == s.templates.end()) {
            s.inc(Cnt::NoTemplate); // no per-datagram log: normal right after a start
            all_sets_decoded = false;
            return;
        }
        // The program is used only within this set: a later set may replace it.
        const Program& prog = *it->second;
        if (prog.def.options) return options_set(prog, p, end);
        while (static_cast<std::size_t>(end - p) >= prog.min_len) {
            fa_record* r = next();
            if (!r) return;
            Scratch sc;
            std::uint32_t used;
            if (prog.has_varlen) {
                used = run_program<true>(prog, p, end, *r, sc);
                if (used == 0) {
                    sink.discard_last();
                    drop(Cnt::BadVarlen);
                    return;
                }
            } else {
                used = run_program<false>(prog, p, end, *r, sc);
            }
            p += used;
            ++data_records;
            finish_times(*r, prog, sc);
            check_counters(*r);
            finish_sampling(*r, rate_for(prog, sc));
            ++emitted;
        }
    }

    void options_set(const Program& prog, const std::uint8_t* p, const std::uint8_t* end) {
        while (static_cast<std::size_t>(end - p) >= prog.min_len) {
            fa_record scratch_rec{};
            Scratch sc;
            const std::uint32_t used = prog.has_varlen ? run_program<true>(prog, p, end, scratch_rec, sc)
                                                       : run_program<false>(prog, p, end, scratch_rec, sc);
            if (used == 0) return drop(Cnt::BadVarlen);
            p += used;
            ++data_records;
            s.inc(Cnt::OptionsRecords);
            if (sc.has_sys_init) dom->sys_init_ms = sc.sys_init_ms;
            if (!sc.has_rate_field) continue;
            const std::uint32_t rate = rate_of(sc);
            if (rate == 0) {
                drop(Cnt::SamplingInvalid);
                continue;
            }
            if (!prog.has_sampler_id) {
                dom->default_rate = rate;
                continue;
            }
            auto found = std::find_if(dom->samplers.begin(), dom->samplers.end(),
                                      [&](const auto& e) { return e.first == sc.sampler_id; });
            if (found != dom->samplers.end()) found->second = rate;
            else if (dom->samplers.size() < dec.opt_.max_samplers) dom->samplers.emplace_back(sc.sampler_id, rate);
            else drop(Cnt::SamplerRejected);
        }
    }
};

std::uint32_t Decoder::decode(const std::uint8_t* data, std::size_t len, const Exporter& from,
                              std::uint64_t arrival_us, RecordSink& sink) noexcept {
    try {
        Session* s = session_for(from, arrival_us);
        s->inc(Cnt::RxDatagrams);
        s->inc(Cnt::RxBytes, len);
        DecodeRun run{*this, *s, sink, arrival_us};
        std::memcpy(run.proto.peer_src_ip, from.addr, 16);
        run.proto.flows = 1;
        run.proto.flags = FA_REC_FLOW_START;
        if (len < 2) {
            drop(*s, Cnt::ShortDatagram, arrival_us);
            return 0;
        }
        const std::uint16_t version = be16(data);
        run.version = static_cast<std::uint8_t>(version & 0xFF);
        switch (version) {
        case 5: run.v5(data, len); break;
        case 9:
        case 10: run.message(data, len); break;
        default: drop(*s, Cnt::BadVersion, arrival_us); break;
        }
        if (run.emitted) s->inc(Cnt::Records, run.emitted);
        return run.emitted;
    } catch (const std::bad_alloc&) {
        return 0; // state for this datagram is incomplete; the next template refresh repairs it
    }
}

std::vector<TemplateDef> Decoder::templates() const {
    std::vector<TemplateDef> out;
    for (const auto& s : lru_)
        for (const auto& [key, prog] : s->templates) out.push_back(prog->def);
    return out;
}

bool Decoder::install(const TemplateDef& def, std::uint64_t now_us) {
    if (def.version != 9 && def.version != 10) return false;
    Exporter from;
    std::memcpy(from.addr, def.exporter, 16);
    from.port = def.port;
    Session* s = session_for(from, now_us);
    VectorSink unused;
    DecodeRun run{*this, *s, unused, now_us};
    run.version = def.version;
    return run.install(def);
}

} // namespace flowacct::netflow
