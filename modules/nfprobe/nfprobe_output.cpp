// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "nfprobe" (pmacct's nfprobe plugin): a flow cache over packet records and a
// NetFlow v5 / v9 / IPFIX exporter; flow records from a collector input are re-exported as they are.
#include <cstdint>  // std::uint64_t
#include <stdexcept> // std::runtime_error
#include <string>   // std::string
#include <vector>   // std::vector

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp> // sdk::Output, sdk::Context, sdk::Error

#include "flow_cache.hpp"      // FlowCache, Timeouts, parse_timeouts
#include "netflow_encoder.hpp" // NetflowEncoder, DatagramSink
#include "udp_sender.hpp"      // UdpSender, parse_endpoint

namespace {

using namespace flowacct;
using namespace flowacct::exporter;

constexpr fa_config_key kKeys[] = {
    {"nfprobe_receiver", FA_KEY_STRING, "127.0.0.1:2100", "Collector address:port (IPv6 as [addr]:port)"},
    {"nfprobe_version", FA_KEY_INT, "10", "5, 9 or 10 (IPFIX)"},
    {"nfprobe_timeouts", FA_KEY_STRING, "tcp=3600:tcp.rst=120:tcp.fin=300:udp=300:icmp=300:general=3600:maxlife=604800:expint=60",
     "Flow cache timeouts in seconds, name=value separated by ':'"},
    {"nfprobe_maxflows", FA_KEY_INT, "8192", "Flows the cache holds; beyond, the least recently seen is exported"},
    {"nfprobe_engine", FA_KEY_STRING, "0:0", "engine_type:engine_id (v5/v9), or one number: the source id / observation domain"},
    {"nfprobe_source_ip", FA_KEY_STRING, nullptr, "Local address the datagrams are sent from"},
    {"nfprobe_udp_gso", FA_KEY_BOOL, "false",
     "Send runs of equal-length datagrams as one message the kernel cuts up (UDP GSO); false: one each"},
};

// A record is already a flow (re-exported as is) when it spans time, as collector inputs give;
// packet records (pcap, sFlow samples) start and end at the same instant and go through the cache.
bool is_flow_record(const fa_record& r) { return r.time_start_us != 0 && r.time_start_us < r.time_end_us; }

class NfprobeOutput final : public sdk::Output, private DatagramSink, private FlowSink {
public:
    static constexpr const char* kDefaultAggregator = "passthrough";

    explicit NfprobeOutput(const sdk::Context& ctx)
        : ctx_(ctx), cache_(timeouts(ctx), maxflows(ctx)), encoder_(netflow_config(ctx), *this),
          sender_(make_sender(ctx)) {
        c_flows_ = ctx.counter("flows_exported");
        c_datagrams_ = ctx.counter("datagrams_sent");
        c_send_drops_ = ctx.counter("send_drops");
        c_forced_ = ctx.counter("flows_forced");
        c_v6_v5_ = ctx.counter("dropped_ipv6_in_v5");
        c_non_ip_ = ctx.counter("dropped_non_ip");
        c_cached_ = ctx.counter("cache_flows");
        c_reexported_ = ctx.counter("flows_reexported");
        ctx.info("exporting NetFlow v" + std::to_string(version_) + " from " + sender_.local() + " to " +
                 ctx.config().str("nfprobe_receiver"));
    }

    // Pipeline thread: packets into the cache, flows straight to the encoder.
    void write(const fa_row_batch& rows) override {
        const std::uint64_t mono = ctx_.monotonic_us();
        for (std::uint32_t i = 0; i < rows.count; ++i) {
            const fa_record& r = rows.rows[i].rec;
            if (r.time_end_us > clock_us_) {
                clock_us_ = r.time_end_us;
                clock_mono_us_ = mono;
            }
            if (r.ip_version != 4 && r.ip_version != 6) {
                ++non_ip_; // NetFlow carries IP flows only: never cached
                continue;
            }
            if (is_flow_record(r)) {
                encoder_.add(r, clock_us_);
                ++reexported_;
            } else {
                packets_.push_back(&r);
            }
        }
        cache_.add(packets_.data(), packets_.size(), *this);
        packets_.clear();
        sender_.send_queued().add_to(c_datagrams_, c_send_drops_);
    }

    // Pipeline thread, every purge: expire due flows and send what is pending (latency ~ refresh).
    void tick(std::uint64_t now_mono_us) override {
        // Without new records the cache clock follows the monotonic clock, so idle flows expire.
        if (clock_mono_us_ && now_mono_us > clock_mono_us_) {
            clock_us_ += now_mono_us - clock_mono_us_;
            clock_mono_us_ = now_mono_us;
        }
        if (clock_us_) cache_.expire(clock_us_, false, *this);
        encoder_.flush(clock_us_ ? clock_us_ : ctx_.wall_us());
        sender_.send_queued().add_to(c_datagrams_, c_send_drops_);
        publish();
    }

    void flush() override {
        cache_.expire(clock_us_, true, *this);
        encoder_.flush(clock_us_ ? clock_us_ : ctx_.wall_us());
        sender_.send_queued().add_to(c_datagrams_, c_send_drops_);
        publish();
    }

private:
    static Timeouts timeouts(const sdk::Context& ctx) {
        Timeouts t;
        std::string err;
        if (!parse_timeouts(ctx.config().str("nfprobe_timeouts"), t, err)) throw sdk::Error(err, "nfprobe_timeouts");
        return t;
    }
    static std::size_t maxflows(const sdk::Context& ctx) {
        std::int64_t n = ctx.config().integer("nfprobe_maxflows", 8192);
        if (n < 1 || n > (1 << 24)) throw sdk::Error("expected 1 to 16777216 flows", "nfprobe_maxflows");
        return static_cast<std::size_t>(n);
    }
    NetflowConfig netflow_config(const sdk::Context& ctx) {
        NetflowConfig c;
        std::int64_t v = ctx.config().integer("nfprobe_version", 10);
        if (v != 5 && v != 9 && v != 10) throw sdk::Error("expected 5, 9 or 10", "nfprobe_version");
        c.version = version_ = static_cast<int>(v);
        std::string e = ctx.config().str("nfprobe_engine", "0:0");
        auto num = [&](const std::string& s, std::uint64_t max) {
            if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos ||
                std::stoull(s) > max)
                throw sdk::Error("expected engine_type:engine_id (0-255 each) or a source id, got '" + e + "'",
                                 "nfprobe_engine");
            return std::stoull(s);
        };
        std::size_t colon = e.find(':');
        if (colon == std::string::npos) {
            c.domain = static_cast<std::uint32_t>(num(e, 0xffffffffull));
            c.engine_id = static_cast<std::uint8_t>(c.domain & 0xff);
            c.engine_type = static_cast<std::uint8_t>((c.domain >> 8) & 0xff);
        } else {
            c.engine_type = static_cast<std::uint8_t>(num(e.substr(0, colon), 255));
            c.engine_id = static_cast<std::uint8_t>(num(e.substr(colon + 1), 255));
            c.domain = (std::uint32_t{c.engine_type} << 8) | c.engine_id;
        }
        return c;
    }
    static sockaddr_storage endpoint(const sdk::Context& ctx, socklen_t& len) {
        sockaddr_storage to{};
        std::string err;
        if (!parse_endpoint(ctx.config().str("nfprobe_receiver"), to, len, err)) throw sdk::Error(err, "nfprobe_receiver");
        return to;
    }
    static UdpSender make_sender(const sdk::Context& ctx) {
        socklen_t len = 0;
        sockaddr_storage to = endpoint(ctx, len);
        try {
            return UdpSender(to, len, ctx.config().str("nfprobe_source_ip"), ctx.config().boolean("nfprobe_udp_gso", false));
        } catch (const std::runtime_error& e) {
            throw sdk::Error(e.what(), "nfprobe_source_ip");
        }
    }

    void datagram(const std::uint8_t* data, std::size_t len) override {
        sender_.queue(data, len).add_to(c_datagrams_, c_send_drops_);
    }
    void flow(const fa_record& f) override { encoder_.add(f, clock_us_); }

    void publish() {
        if (const std::string gso = sender_.take_gso_refusal("nfprobe_udp_gso"); !gso.empty()) ctx_.warn(gso);
        const NetflowStats& s = encoder_.stats();
        __atomic_store_n(c_flows_, s.flows, __ATOMIC_RELAXED);
        __atomic_store_n(c_v6_v5_, s.dropped_ipv6_v5, __ATOMIC_RELAXED);
        __atomic_store_n(c_non_ip_, s.dropped_non_ip + non_ip_, __ATOMIC_RELAXED);
        __atomic_store_n(c_forced_, cache_.stats().forced, __ATOMIC_RELAXED);
        __atomic_store_n(c_cached_, static_cast<std::uint64_t>(cache_.size()), __ATOMIC_RELAXED);
        __atomic_store_n(c_reexported_, reexported_, __ATOMIC_RELAXED);
    }

    sdk::Context ctx_;
    int version_ = 10;
    FlowCache cache_;
    std::vector<const fa_record*> packets_; // this write's packet records, for the cache
    NetflowEncoder encoder_;
    UdpSender sender_;
    std::uint64_t clock_us_ = 0;      // cache time: the latest record time, then monotonic progress
    std::uint64_t clock_mono_us_ = 0;
    std::uint64_t reexported_ = 0;
    std::uint64_t non_ip_ = 0;
    std::uint64_t* c_flows_;
    std::uint64_t* c_datagrams_;
    std::uint64_t* c_send_drops_;
    std::uint64_t* c_forced_;
    std::uint64_t* c_v6_v5_;
    std::uint64_t* c_non_ip_;
    std::uint64_t* c_cached_;
    std::uint64_t* c_reexported_;
};

} // namespace

FLOWACCT_MODULE(Output, NfprobeOutput, "nfprobe", "0.1.0",
                "NetFlow v5/v9/IPFIX exporter with a flow cache (pmacct's nfprobe plugin)", kKeys)
