// SPDX-License-Identifier: GPL-2.0-or-later
// Input module "sflow": sFlow v5 datagrams from UDP (sfacctd_ip/sfacctd_port) or from a pcap
// savefile, decoded into flow record batches.
#include <arpa/inet.h>  // ntohs
#include <netinet/in.h> // sockaddr_in, sockaddr_in6
#include <sys/socket.h> // sockaddr_storage

#include <atomic>     // std::atomic
#include <cerrno>     // errno
#include <cstdint>    // std::uint64_t
#include <cstring>    // std::strerror, std::memcpy, std::memcmp
#include <initializer_list> // std::initializer_list
#include <memory>     // std::unique_ptr
#include <string>     // std::string
#include <vector>     // std::vector

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE, sdk::Input, sdk::BatchWriter

#include "packet_decode.hpp"  // packet::decode_frame (UDP payload of savefile frames)
#include "savefile.hpp"       // packet::SavefileReader
#include "udp_socket.hpp"     // packet::source_address
#include "sflow_decoder.hpp"  // sflow::Decoder, sflow::RecordSink
#include "udp_receiver.hpp"   // sflow::UdpReceiver

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"sfacctd_ip", FA_KEY_STRING, nullptr, "Address to bind (IPv4 or IPv6); unset: every address."},
    {"sfacctd_port", FA_KEY_INT, "6343", "UDP port to receive sFlow datagrams on (0: any free port, logged)."},
    {"sfacctd_pipe_size", FA_KEY_INT, nullptr,
     "Socket receive buffer (SO_RCVBUF) in bytes; unset: the system default. The obtained size is logged."},
    {"sfacctd_renormalize", FA_KEY_BOOL, "false",
     "Multiply bytes and packets by the sampling rate (sampling_rate then reads 1)."},
    {"pcap_savefile", FA_KEY_PATH, nullptr, "Read sFlow datagrams from this pcap savefile instead of UDP."},
    {"pcap_savefile_delay", FA_KEY_INT, "0", "Seconds to wait before each play of the savefile."},
    {"pcap_savefile_replay", FA_KEY_INT, "1", "Times to play the savefile."},
    {"pcap_savefile_wait", FA_KEY_BOOL, "false", "After the savefile ends, keep running until stopped."},
    {"sfacctd_as", FA_KEY_LIST, nullptr,
     "Sources of AS numbers. Unset, 'sflow', 'netflow' or 'longest': the extended gateway record; "
     "other sources only (file, bgp, bmp): left 0 by this input."},
    {"sfacctd_net", FA_KEY_LIST, nullptr,
     "Sources of masks and next hop. Unset, 'sflow', 'netflow' or 'longest': the extended router "
     "and gateway records ('mask': masks only); other sources only: left 0 by this input."},
    {"classifiers", FA_KEY_STRING, nullptr,
     "Set when classifiers run: each record then carries the L4 payload of its sampled header."},
};

// Flush a partial batch this long after its first record, so that a trickle of datagrams
// still reaches the pipelines promptly.
constexpr std::uint64_t kFlushIntervalUs = 50'000;
// receive() wait: bounds how late a stop request or a partial batch flush can be.
constexpr int kPollTimeoutMs = 50;
// At most one log line about malformed input per interval; the counters have the detail.
constexpr std::uint64_t kDropLogIntervalUs = 60'000'000;

/// RecordSink over the host's batches. Input thread only.
class WriterSink final : public sflow::RecordSink {
public:
    explicit WriterSink(const fa_host_api* host) : writer_(host) {}
    fa_record& next() noexcept override { return writer_.next(); }
    void discard_last() noexcept override { writer_.discard_last(); }
    void attach_payload(fa_record& r, const std::uint8_t* data, std::uint32_t len) noexcept override {
        writer_.attach_payload(r, data, len);
    }
    sdk::BatchWriter& writer() { return writer_; }

private:
    sdk::BatchWriter writer_;
};

/// One sFlow input instance. Created on the host's main thread: it binds the socket or opens
/// the savefile there, so that a bad key fails start-up with the key's name. run() runs on the
/// input's own thread and owns the decoder; request_stop() may come from any thread.
class SflowInput final : public sdk::Input {
public:
    explicit SflowInput(const sdk::Context& ctx) : ctx_(ctx) {
        const sdk::Config& cfg = ctx.config();
        sflow::DecoderOptions options;
        options.renormalize = cfg.boolean("sfacctd_renormalize");
        options.want_payload = cfg.has("classifiers") && !cfg.str("classifiers").empty();
        if (cfg.has("sfacctd_as"))
            options.as_from_sflow = names_any(cfg.list("sfacctd_as"), {"sflow", "netflow", "longest"});
        if (cfg.has("sfacctd_net")) {
            const auto net = cfg.list("sfacctd_net");
            options.masks_from_sflow = names_any(net, {"sflow", "netflow", "longest", "mask"});
            options.nexthop_from_sflow = names_any(net, {"sflow", "netflow", "longest"});
        }
        const fa_host_api* api = ctx.api();
        decoder_ = std::make_unique<sflow::Decoder>(options, [api](const char* name, const char* labels) {
            return api->counter(api->ctx, name, labels);
        });
        sock_drops_ = ctx.counter("sock_drops");
        savefile_skipped_ = ctx.counter("savefile_non_sflow_frames");
        // Raw datagrams only when a pipeline forwards them (tee): otherwise nobody pays for copies.
        forward_datagrams_ = ctx.datagrams_wanted();

        if (cfg.has("pcap_savefile")) {
            packet::SavefileOptions so;
            so.path = cfg.str("pcap_savefile");
            so.delay_s = static_cast<std::uint32_t>(cfg.integer_in("pcap_savefile_delay", 0, 86400, 0));
            so.replay = static_cast<std::uint32_t>(cfg.integer_in("pcap_savefile_replay", 0, 1'000'000, 0));
            so.wait = cfg.boolean("pcap_savefile_wait");
            savefile_ = std::make_unique<packet::SavefileReader>(so);
            return;
        }
        const auto port = static_cast<std::uint16_t>(cfg.integer_in("sfacctd_port", 0, 65535, 0));
        int rcvbuf = 0;
        if (cfg.has("sfacctd_pipe_size"))
            rcvbuf = static_cast<int>(cfg.integer_in("sfacctd_pipe_size", 1, 1ll << 30, 0));
        receiver_ = std::make_unique<sflow::UdpReceiver>(cfg.str("sfacctd_ip"), port, rcvbuf);
        std::uint64_t* obtained = ctx.counter("so_rcvbuf_obtained");
        *obtained = static_cast<std::uint64_t>(receiver_->rcvbuf_obtained());
        std::string line = "listening on UDP port " + std::to_string(receiver_->local_port());
        if (rcvbuf > 0)
            line += ", receive buffer obtained " + std::to_string(receiver_->rcvbuf_obtained()) + " bytes, requested " +
                    std::to_string(rcvbuf);
        else
            line += ", receive buffer " + std::to_string(receiver_->rcvbuf_obtained()) + " bytes (system default)";
        ctx.info(line);
        if (rcvbuf > 0 && receiver_->rcvbuf_obtained() < rcvbuf)
            ctx.warn("sfacctd_pipe_size: obtained " + std::to_string(receiver_->rcvbuf_obtained()) +
                     " bytes, less than the " + std::to_string(rcvbuf) +
                     " requested; raise net.core.rmem_max");
    }

    fa_status run() override {
        WriterSink sink(ctx_.api());
        if (savefile_) return run_savefile(sink);
        return run_udp(sink);
    }

    void request_stop() override {
        stop_ = true;
        if (savefile_) savefile_->request_stop();
        if (receiver_) receiver_->wake();
    }

private:
    // pmacct's values for [ns]facctd_as/_net: the exporter's own data is 'sflow' (or its alias
    // 'netflow'), and 'longest' takes it among others.
    static bool names_any(const std::vector<std::string>& values, std::initializer_list<const char*> wanted) {
        for (const auto& v : values)
            for (const char* w : wanted)
                if (v == w) return true;
        return false;
    }

    bool stopping() const {
        const fa_host_api* api = ctx_.api();
        return stop_.load(std::memory_order_relaxed) || (api->stop_requested && api->stop_requested(api->ctx));
    }

    // Logs the drops since the last call, if any, naming the last one.
    void log_drops(const char* period) {
        const auto& d = decoder_->drops();
        if (d.total == drops_logged_) return;
        std::string line = "dropped " + std::to_string(d.total - drops_logged_) + " malformed datagrams or samples " +
                           period + ", the last " + d.last_reason;
        if (d.last_agent) line += " from " + sflow::Decoder::describe(*d.last_agent);
        ctx_.warn(line);
        drops_logged_ = d.total;
    }

    fa_status run_udp(WriterSink& sink) {
        std::uint64_t next_drop_log_us = ctx_.monotonic_us() + kDropLogIntervalUs;
        std::uint64_t first_pending_us = 0;
        std::uint32_t drops_seen = receiver_->kernel_drops();
        while (!stopping()) {
            const int n = receiver_->receive(kPollTimeoutMs);
            if (n < 0) throw sdk::Error(std::string("UDP receive failed: ") + std::strerror(errno));
            const std::uint64_t now_us = ctx_.wall_us();
            for (int i = 0; i < n; ++i) {
                if (forward_datagrams_) forward(receiver_->datagram(i), receiver_->datagram_length(i), receiver_->source(i), now_us);
                decoder_->decode(receiver_->datagram(i), receiver_->datagram_length(i), now_us, sink);
            }
            const std::uint32_t drops = receiver_->kernel_drops();
            if (drops != drops_seen) {
                sflow::bump(sock_drops_, static_cast<std::uint32_t>(drops - drops_seen));
                drops_seen = drops;
            }
            if (sink.writer().pending() == 0) {
                first_pending_us = 0;
            } else if (first_pending_us == 0 && n > 0) {
                first_pending_us = now_us;
            }
            if (first_pending_us && (n == 0 || now_us - first_pending_us >= kFlushIntervalUs)) {
                sink.writer().flush();
                first_pending_us = 0;
            }
            const std::uint64_t mono_us = ctx_.monotonic_us();
            if (mono_us >= next_drop_log_us) {
                log_drops("in the last minute");
                next_drop_log_us = mono_us + kDropLogIntervalUs;
            }
        }
        sink.writer().flush();
        return FA_OK;
    }

    // Input thread: a received datagram as it is, for pipelines that forward datagrams.
    void forward(const std::uint8_t* data, std::size_t len, const sockaddr_storage& from, std::uint64_t now_us) const {
        std::uint8_t addr[16];
        std::uint16_t port = 0;
        if (packet::source_address(from, addr, port)) ctx_.submit_datagram(data, len, addr, port, now_us);
    }

    fa_status run_savefile(WriterSink& sink) {
        const fa_host_api* api = ctx_.api();
        if (api->set_backpressure) api->set_backpressure(api->ctx, 1);
        auto on_frame = [&](const packet::Frame& frame) {
            fa_record outer{};
            packet::L4View l4;
            const auto r = packet::decode_frame(frame.dlt, frame.data, frame.caplen, frame.wirelen, outer, l4);
            if (r != packet::DecodeResult::Ok || outer.proto != 17 || (outer.flags & FA_REC_FRAGMENT) || !l4.payload) {
                sflow::bump(savefile_skipped_);
                return;
            }
            // Ethernet pads short frames: the UDP length, just before the payload, says where the
            // datagram ends.
            std::uint32_t len = l4.payload_len;
            const std::uint32_t udp_len = (std::uint32_t{l4.payload[-4]} << 8) | l4.payload[-3];
            if (udp_len >= 8 && udp_len - 8 < len) len = udp_len - 8;
            if (forward_datagrams_) ctx_.submit_datagram(l4.payload, len, outer.src_ip, outer.src_port, frame.ts_us);
            decoder_->decode(l4.payload, len, frame.ts_us, sink);
        };
        // After the last play and before any pcap_savefile_wait: every record reaches the
        // pipelines while the daemon waits.
        auto on_played = [&] {
            sink.writer().flush();
            log_drops("from the savefile");
        };
        const auto end = savefile_->play(on_frame, on_played);
        sink.writer().flush();
        return end == packet::SavefileReader::End::Finished ? FA_EOF : FA_OK;
    }

    sdk::Context ctx_;
    std::unique_ptr<sflow::Decoder> decoder_;
    bool forward_datagrams_ = false;
    std::unique_ptr<sflow::UdpReceiver> receiver_;
    std::unique_ptr<packet::SavefileReader> savefile_;
    std::uint64_t* sock_drops_ = nullptr;
    std::uint64_t* savefile_skipped_ = nullptr;
    std::uint64_t drops_logged_ = 0;
    std::atomic<bool> stop_{false};
};

} // namespace

FLOWACCT_MODULE(Input, SflowInput, "sflow", "1.0.0", "sFlow v5 datagrams from UDP or a pcap savefile", kKeys)
