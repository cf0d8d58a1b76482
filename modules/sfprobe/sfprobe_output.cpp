// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "sfprobe" (pmacct's sfprobe plugin): an sFlow v5 agent sending flow samples of
// the records it gets (packets sampled 1:N, flows as one sample each) and interface counters.
#include <arpa/inet.h>  // inet_pton
#include <netinet/in.h> // sockaddr_in, sockaddr_in6
#include <unistd.h>     // close

#include <algorithm> // std::min
#include <cstdint>   // std::uint64_t
#include <cstring>   // std::memcpy
#include <stdexcept> // std::runtime_error
#include <string>    // std::string

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp> // sdk::Output, sdk::Context, sdk::Error

#include "sflow_encoder.hpp" // SflowEncoder, SampleInfo
#include "udp_sender.hpp"    // UdpSender, parse_endpoint

namespace {

using namespace flowacct;
using namespace flowacct::exporter;

constexpr fa_config_key kKeys[] = {
    {"sfprobe_receiver", FA_KEY_STRING, "127.0.0.1:6343", "Collector address:port (IPv6 as [addr]:port)"},
    {"sfprobe_agentip", FA_KEY_STRING, nullptr, "Agent address in the datagrams; default: the local address towards the receiver"},
    {"sfprobe_agentsubid", FA_KEY_INT, "1402", "Sub-agent id"},
    {"sfprobe_sampling_rate", FA_KEY_INT, "1", "Sample 1 out of N packet records"},
    {"sfprobe_ifspeed", FA_KEY_INT, "100000000", "Interface speed announced in counter samples (bit/s)"},
    {"sfprobe_source_ip", FA_KEY_STRING, nullptr, "Local address the datagrams are sent from"},
    {"sfprobe_udp_gso", FA_KEY_BOOL, "false",
     "Send runs of equal-length datagrams as one message the kernel cuts up (UDP GSO); false: one each"},
};

constexpr std::uint64_t kCounterIntervalUs = 20ull * 1000000; // counter samples every 20 s

bool is_flow_record(const fa_record& r) { return r.time_start_us != 0 && r.time_start_us < r.time_end_us; }

class SfprobeOutput final : public sdk::Output, private DatagramSink {
public:
    static constexpr const char* kDefaultAggregator = "passthrough";

    explicit SfprobeOutput(const sdk::Context& ctx)
        : ctx_(ctx), to_(endpoint(ctx, to_len_)), encoder_(sflow_config(ctx), *this), sender_(make_sender(ctx)) {
        rate_ = static_cast<std::uint32_t>(ctx.config().integer_in("sfprobe_sampling_rate", 1, 1 << 24, 0));
        rng_ = ctx.wall_us() | 1;
        skip_ = next_skip();
        start_mono_us_ = ctx.monotonic_us();
        c_samples_ = ctx.counter("flow_samples");
        c_counters_ = ctx.counter("counter_samples");
        c_datagrams_ = ctx.counter("datagrams_sent");
        c_send_drops_ = ctx.counter("send_drops");
        c_non_ip_ = ctx.counter("dropped_non_ip");
        ctx.info("exporting sFlow v5 from " + sender_.local() + " to " + ctx.config().str("sfprobe_receiver"));
    }

    void write(const fa_row_batch& rows) override {
        const std::uint32_t up = uptime_ms(ctx_.monotonic_us());
        for (std::uint32_t i = 0; i < rows.count; ++i) {
            const fa_record& r = rows.rows[i].rec;
            const std::uint64_t upstream = r.sampling_rate > 1 ? r.sampling_rate : 1;
            const std::uint64_t pkts = r.packets ? r.packets : 1;
            totals_.in_packets += pkts * upstream;
            totals_.in_octets += r.bytes * upstream;
            if (pkts == 1 && !is_flow_record(r)) {
                // One packet: sampled 1:N here.
                pool_ += upstream;
                if (--skip_ > 0) continue;
                skip_ = next_skip();
                emit(r, upstream * rate_, r.bytes, up);
            } else {
                // A flow (or a renormalized sample): samples standing for all its packets. bytes is
                // rarely a multiple of packets: the remainder travels in a second sample whose
                // frames are one byte longer, so renormalized totals are exact.
                pool_ += pkts * upstream;
                const std::uint64_t q = r.bytes / pkts, rem = r.bytes % pkts;
                if (pkts - rem) emit(r, (pkts - rem) * upstream, q, up);
                if (rem) emit(r, rem * upstream, q + 1, up);
            }
        }
        sender_.send_queued().add_to(c_datagrams_, c_send_drops_);
    }

    void tick(std::uint64_t now_mono_us) override {
        if (now_mono_us >= next_counters_us_) {
            encoder_.add_counters(totals_, uptime_ms(now_mono_us));
            next_counters_us_ = now_mono_us + kCounterIntervalUs;
        }
        encoder_.flush();
        sender_.send_queued().add_to(c_datagrams_, c_send_drops_);
        publish();
    }

    void flush() override {
        encoder_.flush();
        sender_.send_queued().add_to(c_datagrams_, c_send_drops_);
        publish();
    }

private:
    static sockaddr_storage endpoint(const sdk::Context& ctx, socklen_t& len) {
        sockaddr_storage to{};
        std::string err;
        if (!parse_endpoint(ctx.config().str("sfprobe_receiver"), to, len, err)) throw sdk::Error(err, "sfprobe_receiver");
        return to;
    }
    SflowConfig sflow_config(const sdk::Context& ctx) const {
        SflowConfig c;
        c.sub_agent = static_cast<std::uint32_t>(ctx.config().integer_in("sfprobe_agentsubid", 0, 0xffffffffll, 0));
        c.if_speed = static_cast<std::uint64_t>(ctx.config().integer_in("sfprobe_ifspeed", 0, INT64_MAX, 0));
        std::string agent = ctx.config().str("sfprobe_agentip");
        if (agent.empty()) agent = ctx.config().str("sfprobe_source_ip");
        if (agent.empty()) agent = local_towards();
        in_addr a4{};
        in6_addr a6{};
        if (inet_pton(AF_INET, agent.c_str(), &a4) == 1) {
            c.agent[10] = c.agent[11] = 0xff;
            std::memcpy(c.agent + 12, &a4, 4);
        } else if (inet_pton(AF_INET6, agent.c_str(), &a6) == 1) {
            std::memcpy(c.agent, &a6, 16);
        } else {
            throw sdk::Error("expected an IPv4 or IPv6 address, got '" + agent + "'", "sfprobe_agentip");
        }
        return c;
    }
    // The address the kernel would send from towards the receiver (no packet is sent).
    std::string local_towards() const {
        int fd = ::socket(to_.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        std::string out = to_.ss_family == AF_INET ? "127.0.0.1" : "::1";
        if (fd < 0) return out;
        sockaddr_storage me{};
        socklen_t len = sizeof me;
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&to_), to_len_) == 0 &&
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len) == 0) {
            char buf[64];
            const void* a = me.ss_family == AF_INET
                                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&me)->sin_addr)
                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&me)->sin6_addr);
            if (inet_ntop(me.ss_family, a, buf, sizeof buf)) out = buf;
        }
        ::close(fd);
        return out;
    }
    UdpSender make_sender(const sdk::Context& ctx) const {
        try {
            return UdpSender(to_, to_len_, ctx.config().str("sfprobe_source_ip"), ctx.config().boolean("sfprobe_udp_gso", false));
        } catch (const std::runtime_error& e) {
            throw sdk::Error(e.what(), "sfprobe_source_ip");
        }
    }
    void emit(const fa_record& r, std::uint64_t rate, std::uint64_t frame, std::uint32_t up) {
        SampleInfo info;
        info.sampling_rate = static_cast<std::uint32_t>(std::min<std::uint64_t>(rate, 0xffffffffu));
        info.sample_pool = static_cast<std::uint32_t>(pool_);
        info.frame_length = static_cast<std::uint32_t>(std::min<std::uint64_t>(frame, 65535));
        encoder_.add_flow(r, info, up);
    }
    // Packets to let go before the next sample: uniform in [1, 2N-1], mean N.
    std::uint32_t next_skip() {
        if (rate_ <= 1) return 1;
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        return 1 + static_cast<std::uint32_t>(rng_ % (2ull * rate_ - 1));
    }
    std::uint32_t uptime_ms(std::uint64_t mono) const {
        return static_cast<std::uint32_t>((mono > start_mono_us_ ? mono - start_mono_us_ : 0) / 1000);
    }
    void datagram(const std::uint8_t* data, std::size_t len) override {
        sender_.queue(data, len).add_to(c_datagrams_, c_send_drops_);
    }
    void publish() {
        if (const std::string gso = sender_.take_gso_refusal("sfprobe_udp_gso"); !gso.empty()) ctx_.warn(gso);
        const SflowStats& s = encoder_.stats();
        __atomic_store_n(c_samples_, s.flow_samples, __ATOMIC_RELAXED);
        __atomic_store_n(c_counters_, s.counter_samples, __ATOMIC_RELAXED);
        __atomic_store_n(c_non_ip_, s.dropped_non_ip, __ATOMIC_RELAXED);
    }

    sdk::Context ctx_;
    socklen_t to_len_ = 0;
    sockaddr_storage to_;
    SflowEncoder encoder_;
    UdpSender sender_;
    std::uint32_t rate_ = 1;
    std::uint64_t rng_ = 1;
    std::uint32_t skip_ = 1;
    std::uint64_t pool_ = 0;
    IfTotals totals_;
    std::uint64_t start_mono_us_ = 0;
    std::uint64_t next_counters_us_ = 0;
    std::uint64_t* c_samples_;
    std::uint64_t* c_counters_;
    std::uint64_t* c_datagrams_;
    std::uint64_t* c_send_drops_;
    std::uint64_t* c_non_ip_;
};

} // namespace

FLOWACCT_MODULE(Output, SfprobeOutput, "sfprobe", "0.1.0",
                "sFlow v5 agent: flow samples with raw headers and interface counters (pmacct's sfprobe plugin)", kKeys)
