// SPDX-License-Identifier: GPL-2.0-or-later
// Input module "netflow": receives NetFlow v5/v9/IPFIX over UDP (or replays a pcap savefile)
// and emits flow records, like pmacct's nfacctd.
#include <arpa/inet.h>    // inet_pton, ntohs
#include <netinet/in.h>   // sockaddr_in6, IPPROTO_IPV6
#include <poll.h>         // poll
#include <sys/eventfd.h>  // eventfd
#include <sys/socket.h>   // socket, bind, recvmmsg, setsockopt
#include <unistd.h>       // close, write

#include <atomic>         // std::atomic
#include <cerrno>         // errno
#include <cstring>        // std::memcpy, std::strerror
#include <deque>          // std::deque
#include <exception>      // std::exception
#include <map>            // std::map
#include <memory>         // std::unique_ptr
#include <mutex>          // std::mutex
#include <string>         // std::string
#include <thread>         // std::thread
#include <vector>         // std::vector

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE, sdk::Input

#include "netflow_decoder.hpp" // Decoder, RecordSink
#include "templates_file.hpp"  // load_templates, save_templates
#include "packet_decode.hpp"   // packet::decode_frame
#include "savefile.hpp"        // packet::SavefileReader
#include "udp_socket.hpp"      // packet::source_address, fold_socket_drops, read_socket_drops

namespace {

namespace sdk = flowacct::sdk;
namespace nf = flowacct::netflow;

constexpr fa_config_key kKeys[] = {
    {"nfacctd_ip", FA_KEY_STRING, nullptr, "Address to listen on; unset: every IPv4 and IPv6 address."},
    {"nfacctd_port", FA_KEY_INT, "2100", "UDP port to listen on (0: any free port, logged)."},
    {"nfacctd_pipe_size", FA_KEY_INT, nullptr, "Socket receive buffer (SO_RCVBUF) in bytes; the size obtained is logged."},
    {"nfacctd_renormalize", FA_KEY_BOOL, "false", "Multiply packets and bytes by the sampling rate, then report a rate of 1."},
    {"nfacctd_templates_file", FA_KEY_PATH, nullptr, "File keeping v9/IPFIX templates across restarts."},
    {"nfacctd_time_new", FA_KEY_BOOL, "false", "Time records by their arrival, not by the exporter's timestamps."},
    {"nfacctd_threads", FA_KEY_INT, "1", "Receive threads, each with its own SO_REUSEPORT socket (1-64)."},
    {"pcap_savefile", FA_KEY_PATH, nullptr, "Replay NetFlow/IPFIX datagrams from this pcap file instead of listening."},
    {"pcap_savefile_delay", FA_KEY_INT, "0", "Seconds to wait before playing the savefile."},
    {"pcap_savefile_replay", FA_KEY_INT, "1", "Times to play the savefile."},
    {"pcap_savefile_wait", FA_KEY_BOOL, "false", "After the savefile ends, stay until stopped."},
};

constexpr std::size_t kBurst = 32;              // datagrams per recvmmsg
constexpr std::size_t kDatagramBytes = 65536;   // any UDP payload fits (RFC 7011 §10)
constexpr std::uint64_t kFlushUs = 50000;       // a partial batch waits at most this long
constexpr std::uint64_t kDropsReadUs = 500000;   // the socket's drop counter is read at least this often
constexpr std::uint64_t kSaveEveryUs = 1000000; // templates file: at most one write a second

// Counter slots from the host; a private slot if the host gives none.
class HostCounters final : public nf::CounterSource {
public:
    explicit HostCounters(const sdk::Context& ctx) : ctx_(ctx) {}
    std::uint64_t* slot(const char* name, const std::string& labels) override {
        std::lock_guard<std::mutex> g(mu_);
        std::uint64_t* s = ctx_.counter(name, labels.empty() ? nullptr : labels.c_str());
        if (s) return s;
        own_.push_back(0);
        return &own_.back();
    }

private:
    sdk::Context ctx_;
    std::mutex mu_;
    std::deque<std::uint64_t> own_;
};

class HostLog final : public nf::DecodeLog {
public:
    explicit HostLog(const sdk::Context& ctx) : ctx_(ctx) {}
    void warn(const std::string& line) override { ctx_.warn(line); }

private:
    sdk::Context ctx_;
};

// Fills host batches. With several receive threads the host's batch calls are serialized.
class HostSink final : public nf::RecordSink {
public:
    HostSink(const fa_host_api* host, std::mutex& mu) : host_(host), mu_(mu) {}
    ~HostSink() override { flush(); }
    void flush() {
        if (!batch_) return;
        batch_->count = count_;
        std::lock_guard<std::mutex> g(mu_);
        host_->batch_submit(host_->ctx, batch_);
        batch_ = nullptr;
        records_ = nullptr;
        count_ = capacity_ = 0;
    }
    std::uint32_t pending() const { return count_; }

private:
    bool refill() override {
        flush();
        {
            std::lock_guard<std::mutex> g(mu_);
            batch_ = host_->batch_acquire(host_->ctx);
        }
        if (!batch_ || batch_->capacity == 0) return false;
        records_ = batch_->records;
        count_ = 0;
        batch_->count = 0;
        capacity_ = batch_->capacity;
        return true;
    }
    const fa_host_api* host_;
    std::mutex& mu_;
    fa_batch* batch_ = nullptr;
};

struct Receiver {
    int fd = -1;
    std::unique_ptr<nf::Decoder> decoder;
    std::uint64_t saved_generation = 0;
    std::uint64_t* sock_drops = nullptr;
    std::uint64_t* truncated = nullptr;
    std::uint32_t last_ovfl = 0;
    std::uint64_t next_drops_read_us = 0;
};

class NetflowInput final : public sdk::Input {
public:
    explicit NetflowInput(const sdk::Context& ctx) : ctx_(ctx), counters_(ctx), log_(ctx) {
        const sdk::Config& cfg = ctx.config();
        nf::DecoderOptions opt;
        opt.renormalize = cfg.boolean("nfacctd_renormalize", false);
        opt.time_new = cfg.boolean("nfacctd_time_new", false);
        templates_path_ = cfg.str("nfacctd_templates_file");
        const std::int64_t threads = cfg.integer_in("nfacctd_threads", 1, 64, 1);
        savefile_ = cfg.str("pcap_savefile");
        wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd_ < 0) throw sdk::Error(std::string("eventfd: ") + std::strerror(errno));
        const std::size_t n = savefile_.empty() ? static_cast<std::size_t>(threads) : 1;
        for (std::size_t i = 0; i < n; ++i) {
            auto r = std::make_unique<Receiver>();
            r->decoder = std::make_unique<nf::Decoder>(opt, counters_, &log_);
            r->sock_drops = counters_.slot("sock_drops", "");
            r->truncated = counters_.slot("truncated", "");
            receivers_.push_back(std::move(r));
        }
        load_templates_file();
        if (!savefile_.empty()) open_savefile(cfg);
        else open_sockets(cfg);
        // Raw datagrams only when a pipeline forwards them (tee): otherwise nobody pays for copies.
        forward_datagrams_ = ctx.datagrams_wanted();
    }

    ~NetflowInput() override {
        for (auto& r : receivers_)
            if (r->fd >= 0) ::close(r->fd);
        if (wake_fd_ >= 0) ::close(wake_fd_);
    }

    fa_status run() override {
        fa_status status = FA_OK;
        if (!savefile_.empty()) {
            status = replay();
        } else {
            std::vector<std::thread> extra;
            for (std::size_t i = 1; i < receivers_.size(); ++i)
                extra.emplace_back([this, i] {
                    // Nothing may escape a thread: an error here stops this receiver only.
                    try {
                        receive_loop(*receivers_[i]);
                    } catch (const std::exception& e) {
                        ctx_.error(std::string("receive thread stopped: ") + e.what());
                    }
                });
            receive_loop(*receivers_[0]);
            for (auto& t : extra) t.join();
        }
        for (auto& r : receivers_) maybe_save(*r, true);
        return status;
    }

    void request_stop() override {
        stop_.store(true, std::memory_order_relaxed);
        const std::uint64_t one = 1;
        [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof one);
        if (reader_) reader_->request_stop();
    }

private:
    bool stopping() const {
        return stop_.load(std::memory_order_relaxed) || ctx_.api()->stop_requested(ctx_.api()->ctx);
    }

    void load_templates_file() {
        if (templates_path_.empty()) return;
        nf::TemplatesLoad got = nf::load_templates(templates_path_);
        if (got.missing) {
            ctx_.info("templates file " + templates_path_ + " does not exist yet: starting without templates");
            return;
        }
        if (!got.error.empty()) {
            ctx_.warn("templates file " + templates_path_ + " unreadable: " + got.error);
            return;
        }
        std::size_t rejected = 0;
        const std::uint64_t now = ctx_.wall_us();
        for (const nf::TemplateDef& def : got.templates)
            for (auto& r : receivers_)
                if (!r->decoder->install(def, now)) ++rejected;
        if (got.bad_lines || rejected)
            ctx_.warn("templates file " + templates_path_ + ": " + std::to_string(got.bad_lines) +
                      " malformed lines and " + std::to_string(rejected / receivers_.size()) +
                      " invalid templates ignored");
        ctx_.info("templates file " + templates_path_ + ": loaded " + std::to_string(got.templates.size()) +
                  " templates");
        for (auto& r : receivers_) r->saved_generation = r->decoder->template_generation();
    }

    // Keeps the file in step with the decoders: every receiver publishes its templates, one
    // writer writes the union. `force` at shutdown.
    void maybe_save(Receiver& r, bool force) {
        if (templates_path_.empty()) return;
        const std::uint64_t gen = r.decoder->template_generation();
        if (gen == r.saved_generation && !force) return;
        const std::uint64_t now = ctx_.monotonic_us();
        std::lock_guard<std::mutex> g(save_mu_);
        if (!force && now - last_save_us_ < kSaveEveryUs) return;
        published_[&r] = r.decoder->templates();
        r.saved_generation = gen;
        std::vector<nf::TemplateDef> all;
        for (const auto& [who, defs] : published_) all.insert(all.end(), defs.begin(), defs.end());
        last_save_us_ = now;
        const std::string err = nf::save_templates(templates_path_, all);
        if (!err.empty()) {
            if (!save_failing_) ctx_.warn("templates file not saved: " + err);
            save_failing_ = true;
        } else {
            save_failing_ = false;
        }
    }

    void open_sockets(const sdk::Config& cfg) {
        const std::int64_t port = cfg.integer_in("nfacctd_port", 0, 65535, 2100);
        const std::string ip = cfg.str("nfacctd_ip");
        sockaddr_storage ss{};
        socklen_t sl = 0;
        int family = AF_INET6;
        if (ip.empty()) {
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_any;
            a->sin6_port = htons(static_cast<std::uint16_t>(port));
            sl = sizeof *a;
        } else if (auto* a4 = reinterpret_cast<sockaddr_in*>(&ss); inet_pton(AF_INET, ip.c_str(), &a4->sin_addr) == 1) {
            family = AF_INET;
            a4->sin_family = AF_INET;
            a4->sin_port = htons(static_cast<std::uint16_t>(port));
            sl = sizeof *a4;
        } else {
            ss = {};
            auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
            if (inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr) != 1)
                throw sdk::Error("expected an IPv4 or IPv6 address, got '" + ip + "'", "nfacctd_ip");
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(static_cast<std::uint16_t>(port));
            sl = sizeof *a;
        }
        const bool reuse = receivers_.size() > 1;
        const std::int64_t pipe = cfg.has("nfacctd_pipe_size") ? cfg.integer("nfacctd_pipe_size") : 0;
        if (pipe < 0 || pipe > (1ll << 31) - 1) throw sdk::Error("expected a size in bytes", "nfacctd_pipe_size");
        std::uint16_t bound_port = static_cast<std::uint16_t>(port);
        for (auto& r : receivers_) {
            r->fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (r->fd < 0) throw sdk::Error(std::string("socket: ") + std::strerror(errno), "nfacctd_ip");
            const int on = 1, off = 0;
            if (family == AF_INET6 && ip.empty()) setsockopt(r->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
            if (reuse) setsockopt(r->fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
            setsockopt(r->fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
            if (pipe > 0) {
                const int want = static_cast<int>(pipe);
                setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
            }
            // The second and later sockets of SO_REUSEPORT must bind the port the first got.
            if (family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(bound_port);
            else reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(bound_port);
            if (::bind(r->fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0)
                throw sdk::Error("cannot bind " + (ip.empty() ? std::string("[::]") : ip) + " port " +
                                     std::to_string(bound_port) + ": " + std::strerror(errno),
                                 "nfacctd_port");
            sockaddr_storage got{};
            socklen_t gl = sizeof got;
            getsockname(r->fd, reinterpret_cast<sockaddr*>(&got), &gl);
            bound_port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
        }
        int obtained = 0;
        socklen_t ol = sizeof obtained;
        getsockopt(receivers_[0]->fd, SOL_SOCKET, SO_RCVBUF, &obtained, &ol);
        *counters_.slot("so_rcvbuf_obtained", "") = static_cast<std::uint64_t>(obtained);
        if (pipe > 0) {
            // Linux doubles the request for bookkeeping and silently caps it at rmem_max.
            const std::string msg = "nfacctd_pipe_size: requested " + std::to_string(pipe) + " bytes, obtained " +
                                    std::to_string(obtained);
            if (obtained < pipe) ctx_.warn(msg + " (raise net.core.rmem_max)");
            else ctx_.info(msg);
        }
        ctx_.info("listening on " + (ip.empty() ? std::string("[::]") : ip) + " port " + std::to_string(bound_port) +
                  " with " + std::to_string(receivers_.size()) + " receive thread(s)");
    }

    void receive_loop(Receiver& r) {
        std::vector<std::uint8_t> buffers(kBurst * kDatagramBytes);
        mmsghdr msgs[kBurst];
        iovec iov[kBurst];
        sockaddr_storage from[kBurst];
        alignas(cmsghdr) char control[kBurst][CMSG_SPACE(sizeof(std::uint32_t))];
        HostSink sink(ctx_.api(), host_mu_);
        std::uint64_t first_pending_us = 0;
        // One recvmmsg burst, decoded. Returns the datagrams read.
        auto burst = [&]() -> int {
            for (std::size_t i = 0; i < kBurst; ++i) {
                iov[i] = {buffers.data() + i * kDatagramBytes, kDatagramBytes};
                msgs[i].msg_hdr = {};
                msgs[i].msg_hdr.msg_name = &from[i];
                msgs[i].msg_hdr.msg_namelen = sizeof from[i];
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_control = control[i];
                msgs[i].msg_hdr.msg_controllen = sizeof control[i];
                msgs[i].msg_len = 0;
            }
            const int got = ::recvmmsg(r.fd, msgs, kBurst, MSG_DONTWAIT, nullptr);
            if (got <= 0) return 0;
            const std::uint64_t now = ctx_.wall_us();
            for (int i = 0; i < got; ++i) {
                note_overflow(r, msgs[i].msg_hdr);
                if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) sdk::Context::add(r.truncated);
                if (sink.pending() == 0) first_pending_us = ctx_.monotonic_us();
                const std::uint8_t* data = buffers.data() + static_cast<std::size_t>(i) * kDatagramBytes;
                const nf::Exporter ex = exporter_of(from[i]);
                if (forward_datagrams_) forward(data, msgs[i].msg_len, ex, now);
                r.decoder->decode(data, msgs[i].msg_len, ex, now, sink);
            }
            return got;
        };
        pollfd fds[2] = {{r.fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        while (!stopping()) {
            const int ready = ::poll(fds, 2, 20);
            if (ready < 0 && errno != EINTR) break;
            if (ready > 0 && (fds[0].revents & POLLIN)) {
                // Bounded, so that a flood cannot delay a stop or a flush.
                for (int round = 0; round < 64 && !stopping(); ++round)
                    if (burst() < static_cast<int>(kBurst)) break;
            }
            if (sink.pending() && (ready == 0 || ctx_.monotonic_us() - first_pending_us >= kFlushUs)) sink.flush();
            maybe_save(r, false);
            // Drops also ride on the next datagram; when none comes (the flood is over), they are
            // read from the socket at least every half second, so the counter is never stale.
            const std::uint64_t mono = ctx_.monotonic_us();
            if (mono >= r.next_drops_read_us) {
                r.next_drops_read_us = mono + kDropsReadUs;
                std::uint32_t reading = 0;
                if (flowacct::packet::read_socket_drops(r.fd, reading))
                    if (const std::uint32_t more = flowacct::packet::fold_socket_drops(r.last_ovfl, reading))
                        sdk::Context::add(r.sock_drops, more);
            }
        }
        // What the kernel already queued is decoded before returning (a stop flushes everything),
        // within the same bound.
        for (int round = 0; round < 64; ++round)
            if (burst() < static_cast<int>(kBurst)) break;
        sink.flush();
    }

    void note_overflow(Receiver& r, const msghdr& h) {
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t total = 0;
                std::memcpy(&total, CMSG_DATA(c), sizeof total);
                // The kernel reports the socket's running total of drops.
                if (const std::uint32_t more = flowacct::packet::fold_socket_drops(r.last_ovfl, total)) sdk::Context::add(r.sock_drops, more);
            }
        }
    }

    // Any receive thread: the datagram as received, for pipelines that forward datagrams.
    void forward(const std::uint8_t* data, std::size_t len, const nf::Exporter& ex, std::uint64_t now_us) const {
        ctx_.submit_datagram(data, len, ex.addr, ex.port, now_us);
    }

    static nf::Exporter exporter_of(const sockaddr_storage& ss) {
        nf::Exporter ex;
        flowacct::packet::source_address(ss, ex.addr, ex.port);
        return ex;
    }

    void open_savefile(const sdk::Config& cfg) {
        flowacct::packet::SavefileOptions o;
        o.path = savefile_;
        const std::int64_t delay = cfg.integer_in("pcap_savefile_delay", 0, 86400, 0);
        const std::int64_t replay = cfg.integer_in("pcap_savefile_replay", 0, 1000000, 1);
        o.delay_s = static_cast<std::uint32_t>(delay);
        o.replay = static_cast<std::uint32_t>(replay);
        o.wait = cfg.boolean("pcap_savefile_wait", false);
        reader_ = std::make_unique<flowacct::packet::SavefileReader>(o);
        not_udp_ = counters_.slot("savefile_not_udp", "");
    }

    fa_status replay() {
        ctx_.api()->set_backpressure(ctx_.api()->ctx, 1);
        Receiver& r = *receivers_[0];
        HostSink sink(ctx_.api(), host_mu_);
        const auto end = reader_->play([&](const flowacct::packet::Frame& f) {
            fa_record pkt{};
            flowacct::packet::L4View l4;
            const auto res = flowacct::packet::decode_frame(f.dlt, f.data, f.caplen, f.wirelen, pkt, l4);
            // A later IP fragment carries no UDP header: it cannot be a whole datagram.
            if (res != flowacct::packet::DecodeResult::Ok || pkt.proto != 17 || (pkt.flags & FA_REC_FRAGMENT) ||
                !l4.payload) {
                sdk::Context::add(not_udp_);
                return;
            }
            nf::Exporter ex;
            std::memcpy(ex.addr, pkt.src_ip, 16);
            ex.port = pkt.src_port;
            if (forward_datagrams_) forward(l4.payload, l4.payload_len, ex, f.ts_us);
            r.decoder->decode(l4.payload, l4.payload_len, ex, f.ts_us, sink);
            maybe_save(r, false);
        }, [&] { sink.flush(); }); // before pcap_savefile_wait holds the input
        sink.flush();
        if (reader_->ended_truncated()) ctx_.warn("savefile " + savefile_ + " ends with a truncated record");
        return end == flowacct::packet::SavefileReader::End::Finished ? FA_EOF : FA_OK;
    }
    std::unique_ptr<flowacct::packet::SavefileReader> reader_;
    std::uint64_t* not_udp_ = nullptr;

    sdk::Context ctx_;
    HostCounters counters_;
    HostLog log_;
    std::string templates_path_;
    std::string savefile_;
    bool forward_datagrams_ = false;
    std::vector<std::unique_ptr<Receiver>> receivers_;
    int wake_fd_ = -1;
    std::atomic<bool> stop_{false};
    std::mutex host_mu_;
    std::mutex save_mu_;
    std::map<const Receiver*, std::vector<nf::TemplateDef>> published_;
    std::uint64_t last_save_us_ = 0;
    bool save_failing_ = false;
};

} // namespace

FLOWACCT_MODULE(Input, NetflowInput, "netflow", "1.0.0", "NetFlow v5/v9 and IPFIX collector (nfacctd)", kKeys)
