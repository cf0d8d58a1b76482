// SPDX-License-Identifier: GPL-2.0-or-later
// Input module "pcap": live capture or savefile replay through libpcap, one record per packet,
// counted the way pmacctd counts (IP length bytes, flow starts, sampling and renormalization).
#include <pcap/pcap.h>               // pcap_create, pcap_dispatch, pcap_stats, pcap_breakloop

#include <algorithm>                 // std::min
#include <atomic>                    // std::atomic
#include <cstdint>                   // std::uint64_t
#include <memory>                    // std::unique_ptr
#include <string>                    // std::string

#include <flowacct/sdk/export.hpp>   // FLOWACCT_MODULE, sdk::Input, sdk::Context, sdk::BatchWriter

#include "flow_tracker.hpp"          // FlowTracker, FlowTrackerConfig
#include "packet_decode.hpp"         // decode_frame, DecodeResult, L4View, FragmentInfo
#include "savefile.hpp"              // SavefileReader, SavefileOptions, Frame

namespace {

using flowacct::sdk::Context;
using flowacct::sdk::Error;
namespace packet = flowacct::packet;

constexpr fa_config_key kKeys[] = {
    {"pcap_interface", FA_KEY_STRING, nullptr,
     "Interface to capture on (-i); exclusive with pcap_savefile. Unset: the first device libpcap lists."},
    {"pcap_savefile", FA_KEY_PATH, nullptr, "pcap/pcapng file to read instead of capturing (-I)."},
    {"pcap_filter", FA_KEY_STRING, nullptr, "tcpdump-syntax filter applied to every packet."},
    {"snaplen", FA_KEY_INT, "128", "Bytes captured per packet (-L)."},
    {"promisc", FA_KEY_BOOL, "true", "Put the interface in promiscuous mode (-N)."},
    {"pcap_direction", FA_KEY_STRING, nullptr, "Capture only 'in' or 'out' packets (pcap_setdirection)."},
    {"pcap_savefile_wait", FA_KEY_BOOL, "false", "After the savefile ends, stay up until stopped (-W)."},
    {"pcap_savefile_delay", FA_KEY_INT, "0", "Seconds to wait before (re)playing the savefile (-Z)."},
    {"pcap_savefile_replay", FA_KEY_INT, "1", "Times to play the savefile (-Y)."},
    {"sampling_rate", FA_KEY_INT, nullptr, "Account 1 out of N packets, picked at random."},
    {"pmacctd_ext_sampling_rate", FA_KEY_INT, nullptr,
     "The traffic was already sampled 1:N upstream; reported as sampling_rate, used to renormalize."},
    {"pmacctd_renormalize", FA_KEY_BOOL, "false",
     "Multiply packets and bytes by the sampling rate; the sampling_rate primitive then reads 1 (-R)."},
    {"pmacctd_flow_buffer_size", FA_KEY_INT, "16384000", "Bytes of the flow table used to count flows."},
    {"pmacctd_flow_lifetime", FA_KEY_INT, "60", "Seconds a non-TCP flow may be idle before a new one starts."},
    {"pmacctd_flow_tcp_lifetime", FA_KEY_INT, nullptr,
     "Seconds an established TCP flow may be idle; default pmacctd_flow_lifetime."},
    {"pmacctd_frag_buffer_size", FA_KEY_INT, "4194304", "Bytes of the table joining fragments to their ports."},
    {"classifiers", FA_KEY_STRING, nullptr,
     "When set (classification on), the first payload bytes of each packet are passed to classifiers."},
};

constexpr std::uint32_t kMaxPayloadBytes = 512;
constexpr int kLiveTimeoutMs = 50;           // pcap read timeout: bounds the reaction to stop
constexpr std::uint64_t kBatchAgeUs = 50'000; // live: submit a partial batch this old
constexpr std::uint64_t kStatsEveryUs = 1'000'000;

class PcapInput final : public flowacct::sdk::Input {
public:
    explicit PcapInput(const Context& ctx)
        : ctx_(ctx),
          // The flow table costs a cache miss a packet: keep it only when a pipeline counts flows.
          track_flows_(ctx.config().boolean("__flows_needed", true)),
          snaplen_(static_cast<std::uint32_t>(ctx.config().integer_in("snaplen", 14, 262144, 128))),
          tracker_(tracker_config(ctx)) {
        const auto& cfg = ctx.config();
        sampling_ = static_cast<std::uint32_t>(ctx.config().integer_in("sampling_rate", 1, 1u << 30, 1));
        std::uint32_t ext =
            static_cast<std::uint32_t>(ctx.config().integer_in("pmacctd_ext_sampling_rate", 0, 1u << 30, 0));
        // pmacct: an external rate takes precedence for reporting and renormalizing.
        rate_ = ext ? ext : sampling_;
        renormalize_ = cfg.boolean("pmacctd_renormalize", false);
        with_payload_ = cfg.has("classifiers") && !cfg.str("classifiers").empty();
        payload_cap_ = std::min(snaplen_, kMaxPayloadBytes);

        c_received_ = ctx.counter("packets_received");
        c_kernel_drop_ = ctx.counter("packets_dropped_kernel");
        c_not_ip_ = ctx.counter("packets_not_ip");
        c_truncated_ = ctx.counter("packets_truncated");
        c_malformed_ = ctx.counter("packets_malformed");
        c_sampled_out_ = ctx.counter("packets_sampled_out");
        c_flow_table_full_ = ctx.counter("flow_table_full");

        const bool has_file = cfg.has("pcap_savefile") && !cfg.str("pcap_savefile").empty();
        const bool has_iface = cfg.has("pcap_interface") && !cfg.str("pcap_interface").empty();
        if (has_file && has_iface)
            throw Error("pcap_interface and pcap_savefile are mutually exclusive: set one", "pcap_savefile");
        if (has_file) {
            packet::SavefileOptions o;
            o.path = cfg.str("pcap_savefile");
            o.filter = cfg.str("pcap_filter");
            o.delay_s = static_cast<std::uint32_t>(ctx.config().integer_in("pcap_savefile_delay", 0, 86400, 0));
            o.replay = static_cast<std::uint32_t>(ctx.config().integer_in("pcap_savefile_replay", 1, 1000000, 1));
            o.wait = cfg.boolean("pcap_savefile_wait", false);
            savefile_ = std::make_unique<packet::SavefileReader>(std::move(o));
        } else {
            open_live(has_iface ? cfg.str("pcap_interface") : default_device());
        }
    }

    fa_status run() override {
        flowacct::sdk::BatchWriter writer(ctx_.api());
        writer_ = &writer;
        fa_status status = savefile_ ? run_savefile() : run_live();
        writer.flush();
        writer_ = nullptr;
        if (tracker_.table_full() > full_reported_) {
            flowacct::sdk::Context::add(c_flow_table_full_, tracker_.table_full() - full_reported_);
            full_reported_ = tracker_.table_full();
        }
        return status;
    }

    void request_stop() override {
        stop_.store(true, std::memory_order_relaxed);
        if (savefile_) savefile_->request_stop();
        if (live_) pcap_breakloop(live_.get());  // thread-safe since libpcap 1.10: wakes the poll
    }

private:
    static packet::FlowTrackerConfig tracker_config(const Context& ctx) {
        packet::FlowTrackerConfig c;
        const flowacct::sdk::Config& cfg = ctx.config();
        c.buffer_bytes = static_cast<std::uint64_t>(
            cfg.integer_in("pmacctd_flow_buffer_size", 65536, std::int64_t{1} << 32, 16384000));
        c.lifetime_s = static_cast<std::uint32_t>(cfg.integer_in("pmacctd_flow_lifetime", 1, 86400 * 30, 60));
        c.tcp_lifetime_s =
            static_cast<std::uint32_t>(cfg.integer_in("pmacctd_flow_tcp_lifetime", 1, 86400 * 30, c.lifetime_s));
        c.frag_buffer_bytes = static_cast<std::uint64_t>(
            cfg.integer_in("pmacctd_frag_buffer_size", 65536, std::int64_t{1} << 30, 4194304));
        return c;
    }

    static std::string default_device() {
        char err[PCAP_ERRBUF_SIZE] = {};
        pcap_if_t* all = nullptr;
        if (pcap_findalldevs(&all, err) != 0 || !all) {
            if (all) pcap_freealldevs(all);
            throw Error(std::string("no capture device found, set pcap_interface: ") + err, "pcap_interface");
        }
        std::string name = all->name;
        pcap_freealldevs(all);
        return name;
    }

    void open_live(const std::string& iface) {
        char err[PCAP_ERRBUF_SIZE] = {};
        pcap_t* p = pcap_create(iface.c_str(), err);
        if (!p) throw Error("cannot open interface " + iface + ": " + err, "pcap_interface");
        live_.reset(p);  // closed with the instance, also when a later step of create() throws
        pcap_set_snaplen(p, static_cast<int>(snaplen_));
        pcap_set_promisc(p, ctx_.config().boolean("promisc", true) ? 1 : 0);
        pcap_set_timeout(p, kLiveTimeoutMs);
        int rc = pcap_activate(p);
        if (rc < 0)
            throw Error("cannot capture on " + iface + ": " + pcap_statustostr(rc) + " " + pcap_geterr(p),
                        "pcap_interface");
        if (rc > 0) ctx_.warn("capture on " + iface + " started with a warning: " + pcap_geterr(p));
        std::string dir = ctx_.config().str("pcap_direction");
        if (!dir.empty()) {
            pcap_direction_t d;
            if (dir == "in") d = PCAP_D_IN;
            else if (dir == "out") d = PCAP_D_OUT;
            else throw Error("expected 'in' or 'out', got '" + dir + "'", "pcap_direction");
            if (pcap_setdirection(p, d) != 0)
                throw Error("cannot set capture direction on " + iface + ": " + pcap_geterr(p), "pcap_direction");
        }
        std::string filter = ctx_.config().str("pcap_filter");
        if (!filter.empty()) {
            bpf_u_int32 net = 0, mask = PCAP_NETMASK_UNKNOWN;
            if (pcap_lookupnet(iface.c_str(), &net, &mask, err) != 0) mask = PCAP_NETMASK_UNKNOWN;
            bpf_program prog{};
            if (pcap_compile(p, &prog, filter.c_str(), 1, mask) != 0)
                throw Error("bad filter '" + filter + "': " + pcap_geterr(p), "pcap_filter");
            int set = pcap_setfilter(p, &prog);
            pcap_freecode(&prog);
            if (set != 0) throw Error(std::string("cannot set filter: ") + pcap_geterr(p), "pcap_filter");
        }
        dlt_ = pcap_datalink(p);
        iface_ = iface;
        ctx_.info("capturing on " + iface + ", link type " + std::to_string(dlt_) + ", snaplen " +
                  std::to_string(snaplen_));
    }

    fa_status run_savefile() {
        // Replay must be lossless: the host waits for queue room instead of dropping.
        ctx_.api()->set_backpressure(ctx_.api()->ctx, 1);
        auto end = savefile_->play([this](const packet::Frame& f) { handle(f); }, [this] { writer_->flush(); });
        if (savefile_->ended_truncated()) ctx_.warn("savefile ends with a truncated record; the rest was read");
        return end == packet::SavefileReader::End::Stopped ? FA_OK : FA_EOF;
    }

    fa_status run_live() {
        std::uint64_t last_stats = ctx_.monotonic_us();
        std::uint64_t batch_since = 0;
        while (!stop_.load(std::memory_order_relaxed) && !ctx_.api()->stop_requested(ctx_.api()->ctx)) {
            int rc = pcap_dispatch(live_.get(), -1, &PcapInput::on_packet, reinterpret_cast<u_char*>(this));
            if (rc == PCAP_ERROR_BREAK) break;
            if (rc < 0) throw Error("capture on " + iface_ + " failed: " + pcap_geterr(live_.get()));
            std::uint64_t now = ctx_.monotonic_us();
            if (writer_->pending() == 0) {
                batch_since = 0;
            } else if (batch_since == 0) {
                batch_since = now;
            } else if (now - batch_since >= kBatchAgeUs) {
                writer_->flush();
                batch_since = 0;
            }
            if (now - last_stats >= kStatsEveryUs) {
                poll_stats();
                last_stats = now;
            }
        }
        poll_stats();
        return FA_OK;
    }

    void poll_stats() {
        pcap_stat st{};
        if (pcap_stats(live_.get(), &st) != 0) return;
        std::uint64_t drops = std::uint64_t{st.ps_drop} + st.ps_ifdrop;
        if (drops > kernel_drops_) flowacct::sdk::Context::add(c_kernel_drop_, drops - kernel_drops_);
        kernel_drops_ = drops;
        if (tracker_.table_full() > full_reported_) {
            flowacct::sdk::Context::add(c_flow_table_full_, tracker_.table_full() - full_reported_);
            full_reported_ = tracker_.table_full();
        }
    }

    static void on_packet(u_char* user, const pcap_pkthdr* h, const u_char* data) {
        auto* self = reinterpret_cast<PcapInput*>(user);
        packet::Frame f{self->dlt_, data, h->caplen, h->len,
                        static_cast<std::uint64_t>(h->ts.tv_sec) * 1'000'000u +
                            static_cast<std::uint64_t>(h->ts.tv_usec)};
        self->handle(f);
    }

    // Hot path: no logs, no exceptions, every discarded packet counted.
    void handle(const packet::Frame& f) {
        Context::add(c_received_);
        if (sampling_ > 1 && next_random() % sampling_ != 0) {
            Context::add(c_sampled_out_);
            return;
        }
        fa_record& rec = writer_->next();
        packet::L4View l4;
        packet::FragmentInfo frag;
        packet::DecodeResult r = packet::decode_frame(f.dlt, f.data, f.caplen, f.wirelen, rec, l4, frag);
        if (r != packet::DecodeResult::Ok) {
            writer_->discard_last();
            switch (r) {
            case packet::DecodeResult::NotIp: Context::add(c_not_ip_); break;
            case packet::DecodeResult::Truncated: Context::add(c_truncated_); break;
            default: Context::add(c_malformed_); break;
            }
            return;
        }
        rec.time_start_us = rec.time_end_us = f.ts_us;
        tracker_.join_fragment(rec, frag, f.ts_us);
        if (track_flows_ && tracker_.observe(rec, f.ts_us)) {
            rec.flows = 1;
            rec.flags |= FA_REC_FLOW_START;
        }
        if (renormalize_ && rate_ > 1) {
            rec.packets *= rate_;
            rec.bytes *= rate_;
            rec.sampling_rate = 1;
        } else {
            rec.sampling_rate = rate_;
        }
        if (with_payload_ && l4.payload_len > 0)
            writer_->attach_payload(rec, l4.payload, std::min(l4.payload_len, payload_cap_));
    }

    // xorshift64*: a cheap, fixed-seed generator, so a replay samples the same packets each run.
    std::uint64_t next_random() {
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return (rng_ * 0x2545F4914F6CDD1Dull) >> 32;
    }

    Context ctx_;
    bool track_flows_;
    std::uint32_t snaplen_;
    packet::FlowTracker tracker_;
    std::uint32_t sampling_ = 1;
    std::uint32_t rate_ = 1;
    bool renormalize_ = false;
    bool with_payload_ = false;
    std::uint32_t payload_cap_ = 0;
    std::unique_ptr<packet::SavefileReader> savefile_;
    std::unique_ptr<pcap_t, void (*)(pcap_t*)> live_{nullptr, &pcap_close};
    int dlt_ = 0;
    std::string iface_;
    flowacct::sdk::BatchWriter* writer_ = nullptr;
    std::atomic<bool> stop_{false};
    std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
    std::uint64_t kernel_drops_ = 0;
    std::uint64_t full_reported_ = 0;
    std::uint64_t* c_received_;
    std::uint64_t* c_kernel_drop_;
    std::uint64_t* c_not_ip_;
    std::uint64_t* c_truncated_;
    std::uint64_t* c_malformed_;
    std::uint64_t* c_sampled_out_;
    std::uint64_t* c_flow_table_full_;
};

} // namespace

FLOWACCT_MODULE(Input, PcapInput, "pcap", "1.0.0", "libpcap capture and savefile replay, pmacctd-compatible",
                kKeys)
