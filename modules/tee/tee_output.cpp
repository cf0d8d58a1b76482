// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "tee" (pmacct's tee plugin, the replicator and balancer): forwards the NetFlow,
// IPFIX and sFlow datagrams the collector inputs receive, byte for byte, to the receiver pools
// of a tee_receivers map. A datagram-only output: its pipeline aggregates nothing.
//
// Keys:
//   tee_receivers           the pools map (see tee_map.hpp and etc/examples/tee_receivers.lst);
//                           reloaded on SIGUSR2 and every maps_refresh seconds
//   tee_transparent         keep the exporter's source address and port (raw sockets, needs
//                           CAP_NET_RAW: without it the daemon does not start)
//   tee_source_ip           local address the datagrams leave from (ignored when transparent)
//   tee_pipe_size           SO_SNDBUF of each socket, bytes
//   tee_max_receivers       receivers a pool may hold (default 32)
//   tee_max_receiver_pools  pools the map may hold (default 128)
//   pre_tag_map             tags datagrams by exporter (ip, set_tag, set_tag2 only) for the tag=
//                           filters and balance-alg=hash-tag of the pools
// Counters: datagrams_forwarded, bytes_forwarded and send_errors{pool,receiver};
// datagrams_unmatched (no pool took the datagram); map_reloads, map_reload_errors.
#include <cstdint>    // std::uint64_t
#include <cstring>    // std::memcpy
#include <memory>     // std::unique_ptr, std::shared_ptr
#include <stdexcept>  // std::runtime_error
#include <string>     // std::string
#include <vector>     // std::vector

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE
#include <flowacct/sdk/module.hpp> // sdk::Output, sdk::Context, sdk::Error

#include "map_text.hpp"   // maptext::read_file
#include "pretag_map.hpp" // pretag::PretagMap
#include "tee_map.hpp"    // tee::Pool, load_map, pick, accepts
#include "tee_sender.hpp" // tee::UdpForwarder, tee::RawForwarder

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"tee_receivers", FA_KEY_PATH, nullptr, "Map of receiver pools (id= ip= tag= balance-alg= src_port=)"},
    {"tee_transparent", FA_KEY_BOOL, "false", "Keep the exporter's source address and port (needs CAP_NET_RAW)"},
    {"tee_source_ip", FA_KEY_STRING, nullptr, "Local address datagrams are sent from (ignored when transparent)"},
    {"tee_pipe_size", FA_KEY_INT, nullptr, "Send buffer (SO_SNDBUF) of each socket, bytes"},
    {"tee_max_receivers", FA_KEY_INT, "32", "Receivers a pool of tee_receivers may hold"},
    {"tee_max_receiver_pools", FA_KEY_INT, "128", "Pools tee_receivers may hold"},
    {"pre_tag_map", FA_KEY_PATH, nullptr, "Tags datagrams by exporter (ip, set_tag, set_tag2) for tag= and hash-tag"},
};

// A pool with its sockets and counters.
struct LivePool {
    tee::Pool spec;
    std::vector<std::unique_ptr<tee::UdpForwarder>> sockets; // empty when transparent
    std::vector<std::uint64_t*> c_datagrams, c_bytes, c_errors;
    std::uint64_t rr = 0;
};

class TeeOutput final : public sdk::Output {
public:
    static constexpr bool kDatagramsOnly = true;

    explicit TeeOutput(const sdk::Context& ctx) : ctx_(ctx) {
        const sdk::Config& cfg = ctx.config();
        path_ = cfg.str("tee_receivers");
        if (path_.empty()) throw sdk::Error("the tee output needs a receivers map", "tee_receivers");
        transparent_ = cfg.boolean("tee_transparent", false);
        source_ip_ = cfg.str("tee_source_ip");
        const std::int64_t sndbuf = cfg.integer("tee_pipe_size", 0);
        if (sndbuf < 0 || sndbuf > (1ll << 30)) throw sdk::Error("expected a size in bytes up to 1 GiB", "tee_pipe_size");
        sndbuf_ = static_cast<int>(sndbuf);
        const std::int64_t max_r = cfg.integer("tee_max_receivers", 32);
        if (max_r < 1 || max_r > 65536) throw sdk::Error("expected 1 to 65536", "tee_max_receivers");
        const std::int64_t max_p = cfg.integer("tee_max_receiver_pools", 128);
        if (max_p < 1 || max_p > 65536) throw sdk::Error("expected 1 to 65536", "tee_max_receiver_pools");
        limits_.max_receivers = static_cast<std::size_t>(max_r);
        limits_.max_pools = static_cast<std::size_t>(max_p);
        pretag_path_ = cfg.str("pre_tag_map");
        if (transparent_) {
            try {
                raw_ = std::make_unique<tee::RawForwarder>(sndbuf_);
            } catch (const std::runtime_error& e) {
                throw sdk::Error(e.what(), "tee_transparent");
            }
            if (!source_ip_.empty()) ctx.warn("tee_source_ip is ignored: tee_transparent keeps the exporter's address");
        }
        c_unmatched_ = ctx.counter("datagrams_unmatched");
        c_reloads_ = ctx.counter("map_reloads");
        c_reload_errors_ = ctx.counter("map_reload_errors");
        try {
            load();
        } catch (const std::runtime_error& e) {
            // Map errors carry file and line; the key tells which setting named the file.
            const std::string what = e.what();
            throw sdk::Error(what, !pretag_path_.empty() && what.rfind(pretag_path_ + ":", 0) == 0 ? "pre_tag_map"
                                                                                                 : "tee_receivers");
        }
    }

    void write(const fa_row_batch&) override {} // never called: datagram-only (write is NULL in the ABI)

    // Pipeline thread: each datagram to every pool that takes it, one receiver or all per pool.
    void datagrams(const fa_datagram* const* d, std::uint32_t n) override {
        for (std::uint32_t i = 0; i < n; ++i) {
            fa_datagram dg = *d[i];
            if (pretag_) {
                fa_record rec{};
                std::memcpy(rec.peer_src_ip, dg.exporter, 16);
                rec.ip_version = dg.ip_version;
                rec.tag = dg.tag;
                rec.tag2 = dg.tag2;
                pretag::Result res;
                pretag_->evaluate(rec, res);
                if (res.tag_set) dg.tag = res.tag;
                if (res.tag2_set) dg.tag2 = res.tag2;
            }
            bool matched = false;
            for (auto& p : pools_) {
                if (!tee::accepts(p.spec, dg.tag)) continue;
                matched = true;
                if (p.spec.balance == tee::Balance::All) {
                    for (std::size_t r = 0; r < p.spec.receivers.size(); ++r) send(p, r, dg);
                } else {
                    send(p, tee::pick(p.spec, dg, p.rr), dg);
                }
            }
            if (!matched) sdk::Context::add(c_unmatched_);
        }
    }

    // Pipeline thread: a new map takes over only once it parsed and its sockets opened.
    void reload() override {
        try {
            load();
            sdk::Context::add(c_reloads_);
        } catch (const std::exception& e) {
            sdk::Context::add(c_reload_errors_);
            throw sdk::Error(e.what());
        }
    }

private:
    void load() {
        std::shared_ptr<pretag::PretagMap> tagger;
        if (!pretag_path_.empty()) {
            const std::string text = maptext::read_file(pretag_path_);
            tee::check_datagram_pretag(text, pretag_path_);
            tagger = pretag::PretagMap::parse(text, pretag_path_, [this](std::string_view s) { return ctx_.intern(s); });
        }
        std::vector<tee::Pool> specs = tee::load_map(path_, limits_);
        std::vector<LivePool> pools;
        std::size_t receivers = 0;
        for (auto& spec : specs) {
            if (!tagger && (spec.tags || spec.balance == tee::Balance::HashTag))
                throw std::runtime_error(path_ + ":" + std::to_string(spec.line) +
                                         ": tag= and balance-alg=hash-tag need a pre_tag_map in this pipeline");
            LivePool p;
            p.spec = std::move(spec);
            for (const auto& r : p.spec.receivers) {
                if (!transparent_) {
                    try {
                        p.sockets.push_back(std::make_unique<tee::UdpForwarder>(r.addr, r.len, source_ip_,
                                                                                p.spec.src_port, sndbuf_));
                    } catch (const std::runtime_error& e) {
                        throw std::runtime_error(path_ + ":" + std::to_string(p.spec.line) + ": receiver " + r.text +
                                                 ": " + e.what());
                    }
                }
                const std::string labels = "pool=" + std::to_string(p.spec.id) + ",receiver=" + r.text;
                p.c_datagrams.push_back(ctx_.counter("datagrams_forwarded", labels.c_str()));
                p.c_bytes.push_back(ctx_.counter("bytes_forwarded", labels.c_str()));
                p.c_errors.push_back(ctx_.counter("send_errors", labels.c_str()));
                ++receivers;
            }
            pools.push_back(std::move(p));
        }
        pools_ = std::move(pools);
        pretag_ = std::move(tagger);
        ctx_.info(path_ + ": " + std::to_string(pools_.size()) + " pools, " + std::to_string(receivers) +
                  " receivers" + (transparent_ ? " (transparent)" : ""));
    }

    void send(LivePool& p, std::size_t r, const fa_datagram& d) {
        const bool ok = transparent_ ? raw_->send(d, p.spec.receivers[r].addr) : p.sockets[r]->send(d.data, d.length);
        if (ok) {
            sdk::Context::add(p.c_datagrams[r]);
            sdk::Context::add(p.c_bytes[r], d.length);
        } else {
            sdk::Context::add(p.c_errors[r]);
        }
    }

    sdk::Context ctx_;
    std::string path_, pretag_path_, source_ip_;
    bool transparent_ = false;
    int sndbuf_ = 0;
    tee::Limits limits_;
    std::unique_ptr<tee::RawForwarder> raw_;
    std::shared_ptr<pretag::PretagMap> pretag_;
    std::vector<LivePool> pools_;
    std::uint64_t* c_unmatched_ = nullptr;
    std::uint64_t* c_reloads_ = nullptr;
    std::uint64_t* c_reload_errors_ = nullptr;
};

} // namespace

FLOWACCT_MODULE(Output, TeeOutput, "tee", "1.0.0",
                "Replicates and balances NetFlow/IPFIX/sFlow datagrams to receiver pools", kKeys)
