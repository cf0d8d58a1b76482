// SPDX-License-Identifier: GPL-2.0-or-later
// Stage "networks": resolves src/dst masks, ASes, peer_dst_as and next hop from a networks_file.
//
// Keys (pmacct's): networks_file, networks_file_filter, networks_file_no_lpm, networks_mask,
// networks_no_mask_if_zero, and [nf|sf|pm|u]acctd_as / _net choosing, per primitive, between
// what the protocol gave and what the file says:
//   netflow|sflow|false  keep the protocol's value (pcap records have none: zero)
//   file|true            the file's value (0 when no network covers the address)
//   longest              the file's when its prefix is longer than the protocol's mask
//                        (networks_file_no_lpm: the file's whenever it matches)
//   mask (net only)      networks_mask alone
//   fallback             the file's where the protocol gave nothing (the default when unset;
//                        for pcap records, which carry no AS or mask, this is `file`)
//
// Memory and speed: a site file of a few hundred networks takes well under 1 MB. A full
// Internet table (~1M IPv4 + 200K IPv6 networks) takes ~170 MB per loaded copy (measured by
// bench/maps): 64 MB for the IPv4 DIR-24-8 first level, 1 KB per /24 holding longer prefixes
// (~30 MB), ~25 MB of IPv6 ranges and index, 38 MB of entries (32 bytes a network). A reload builds the new map before the old one is
// freed, so it needs that much again for a moment. Lookups go a batch at a time (src and dst
// of up to 256 records), with their memory accesses overlapped.
#include <sys/stat.h>               // stat

#include <algorithm>                // std::min
#include <cstring>                  // std::memset, std::memcpy
#include <memory>                   // std::unique_ptr
#include <string>                   // std::string

#include <flowacct/sdk/export.hpp>  // FLOWACCT_MODULE, sdk::Classifier, sdk::Context, sdk::Error

#include "networks_map.hpp"         // networks::NetworksMap, NetInfo

namespace {

using namespace flowacct;
using networks::NetInfo;
using networks::NetworksMap;

constexpr fa_config_key kKeys[] = {
    {"networks_file", FA_KEY_PATH, nullptr, "[nexthop,][[peer_as_]as,]network/len per line: resolves nets and ASes"},
    {"networks_file_filter", FA_KEY_BOOL, "false", "Zero hosts and networks not covered by networks_file"},
    {"networks_file_no_lpm", FA_KEY_BOOL, "false", "With *_as/*_net longest: a matching file network always wins"},
    {"networks_mask", FA_KEY_INT, nullptr, "Mask (bits) applied to addresses before the networks_file lookup"},
    {"networks_no_mask_if_zero", FA_KEY_BOOL, "false", "A zero mask (unknown or default route) becomes a host mask"},
    {"nfacctd_as", FA_KEY_STRING, nullptr, "Where src_as/dst_as come from: netflow, sflow, file, longest, fallback"},
    {"sfacctd_as", FA_KEY_STRING, nullptr, "As nfacctd_as"},
    {"pmacctd_as", FA_KEY_STRING, nullptr, "As nfacctd_as"},
    {"uacctd_as", FA_KEY_STRING, nullptr, "As nfacctd_as"},
    {"nfacctd_net", FA_KEY_STRING, nullptr, "Where masks/nets come from: netflow, sflow, mask, file, longest, fallback"},
    {"sfacctd_net", FA_KEY_STRING, nullptr, "As nfacctd_net"},
    {"pmacctd_net", FA_KEY_STRING, nullptr, "As nfacctd_net"},
    {"uacctd_net", FA_KEY_STRING, nullptr, "As nfacctd_net"},
};

enum class Mode { Keep, Mask, File, Longest, Fallback };

// The first of the daemon-specific spellings that is set (they are GLOBAL keys in pmacct).
Mode read_mode(const sdk::Config& cfg, const char* const* keys, bool net) {
    for (int i = 0; i < 4; ++i) {
        const char* v = cfg.raw(keys[i]);
        if (!v) continue;
        std::string s(v);
        if (s == "netflow" || s == "sflow" || s == "false") return Mode::Keep;
        if (s == "file" || s == "true") return Mode::File;
        if (s == "longest") return Mode::Longest;
        if (s == "fallback") return Mode::Fallback;
        if (net && s == "mask") return Mode::Mask;
        throw sdk::Error(std::string("expected netflow, sflow, ") + (net ? "mask, " : "") +
                             "file, longest or fallback (igp, bgp and bmp need a routing daemon), got '" + s + "'",
                         keys[i]);
    }
    return Mode::Fallback;
}

struct FileStamp {
    long long mtime_ns = -1, size = -1, inode = -1;
    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return FileStamp{static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
                     static_cast<long long>(st.st_size), static_cast<long long>(st.st_ino)};
}

class NetworksStage final : public sdk::Classifier {
public:
    explicit NetworksStage(const sdk::Context& ctx) : ctx_(ctx) {
        const sdk::Config& cfg = ctx.config();
        static const char* const kAs[] = {"nfacctd_as", "sfacctd_as", "pmacctd_as", "uacctd_as"};
        static const char* const kNet[] = {"nfacctd_net", "sfacctd_net", "pmacctd_net", "uacctd_net"};
        as_mode_ = read_mode(cfg, kAs, false);
        net_mode_ = read_mode(cfg, kNet, true);
        filter_ = cfg.boolean("networks_file_filter");
        no_lpm_ = cfg.boolean("networks_file_no_lpm");
        no_mask_if_zero_ = cfg.boolean("networks_no_mask_if_zero");
        if (cfg.has("networks_mask")) {
            std::int64_t m = cfg.integer("networks_mask");
            if (m < 1 || m > 128) throw sdk::Error("expected a mask of 1..128 bits", "networks_mask");
            user_mask_ = static_cast<std::uint8_t>(m);
        }
        path_ = cfg.str("networks_file");
        if (!path_.empty()) {
            stamp_ = stamp_of(path_);
            try {
                map_ = std::make_unique<NetworksMap>(NetworksMap::load(path_));
            } catch (const std::exception& e) {
                throw sdk::Error(e.what(), "networks_file");
            }
            log_loaded("loaded");
        } else if (as_mode_ == Mode::File || as_mode_ == Mode::Longest || net_mode_ == Mode::File ||
                   net_mode_ == Mode::Longest) {
            if (!user_mask_) throw sdk::Error("file and longest need a networks_file", "networks_file");
        }
        lookups_ = ctx.counter("networks_lookups");
        unmatched_ = ctx.counter("networks_unmatched");
        reloads_ = ctx.counter("networks_reloads");
        reload_errors_ = ctx.counter("networks_reload_errors");
    }

    // Pipeline thread: the pipeline's private copy of the batch. Looks the addresses up in
    // slices (both sides of kSlice records), so the table's memory accesses overlap.
    void process(fa_record* records, std::uint32_t count, const std::uint8_t*) override {
        constexpr std::uint32_t kSlice = NetworksMap::kBatch / 2;
        constexpr std::size_t kAhead = 16;
        std::uint64_t lookups = 0, unmatched = 0;
        const std::uint8_t* addrs[NetworksMap::kBatch];
        const NetInfo* found[NetworksMap::kBatch] = {};
        std::uint8_t masked[NetworksMap::kBatch][16];
        for (std::uint32_t base = 0; base < count; base += kSlice) {
            const std::uint32_t n = std::min(kSlice, count - base);
            std::size_t k = 0;
            if (map_) {
                for (std::uint32_t i = 0; i < n; ++i) {
                    fa_record& r = records[base + i];
                    if (!wanted(r)) continue;
                    addrs[k] = lookup_addr(r.src_ip, masked[k]);
                    ++k;
                    addrs[k] = lookup_addr(r.dst_ip, masked[k]);
                    ++k;
                }
                map_->lookup_batch(addrs, found, k);
                lookups += k;
            }
            const std::size_t found_count = map_ ? k : 0;
            k = 0;
            for (std::uint32_t i = 0; i < n; ++i) {
                fa_record& r = records[base + i];
                if (!wanted(r)) continue;
                // The entries are spread over the whole list: ask for them a few records ahead.
                if (k + kAhead < found_count && found[k + kAhead]) __builtin_prefetch(found[k + kAhead]);
                if (k + kAhead + 1 < found_count && found[k + kAhead + 1]) __builtin_prefetch(found[k + kAhead + 1]);
                const NetInfo* src = map_ ? found[k++] : nullptr;
                const NetInfo* dst = map_ ? found[k++] : nullptr;
                unmatched += (map_ && !src) + (map_ && !dst);
                resolve(src, r.src_ip, r.src_mask, r.src_as, nullptr, nullptr);
                resolve(dst, r.dst_ip, r.dst_mask, r.dst_as, &r.peer_dst_as, r.nexthop);
            }
        }
        if (lookups) sdk::Context::add(lookups_, lookups);
        if (unmatched) sdk::Context::add(unmatched_, unmatched);
    }

    // Pipeline thread. Re-reads the file when it changed; a bad file keeps the current map.
    void reload() override {
        if (path_.empty()) return;
        FileStamp now = stamp_of(path_);
        if (now == stamp_ && map_) return;
        try {
            auto fresh = std::make_unique<NetworksMap>(NetworksMap::load(path_));
            map_ = std::move(fresh);
            stamp_ = now;
        } catch (const std::exception& e) {
            sdk::Context::add(reload_errors_);
            stamp_ = now; // report a broken file once, not at every maps_refresh
            throw sdk::Error(std::string(e.what()) + " (the previous networks stay in force)", "networks_file");
        }
        sdk::Context::add(reloads_);
        log_loaded("reloaded");
    }

private:
    void log_loaded(const char* what) {
        ctx_.info(std::string("networks_file ") + what + ": " + path_ + ": " + std::to_string(map_->v4_networks()) +
                  " IPv4 and " + std::to_string(map_->v6_networks()) + " IPv6 networks");
    }

    static bool wanted(const fa_record& r) {
        return (r.ip_version == 4 || r.ip_version == 6) && !(r.flags & FA_REC_DROP);
    }

    // The address the file is searched for: the record's, or a copy cut to networks_mask.
    const std::uint8_t* lookup_addr(const std::uint8_t* ip, std::uint8_t* scratch) const {
        if (!user_mask_) return ip;
        const bool v4 = NetworksMap::is_v4(ip);
        apply_mask(ip, scratch, std::min<std::uint8_t>(user_mask_, v4 ? 32 : 128), v4);
        return scratch;
    }

    // One side of a record, given the file's entry `m` for it (null: none or no file).
    // `peer_as`/`nexthop` are the destination side's extras (else null).
    void resolve(const NetInfo* m, std::uint8_t* ip, std::uint8_t& mask, std::uint32_t& as, std::uint32_t* peer_as,
                 std::uint8_t* nexthop) const {
        const bool v4 = NetworksMap::is_v4(ip);
        const std::uint8_t family_bits = v4 ? 32 : 128;
        const std::uint8_t user_mask = user_mask_ ? std::min(user_mask_, family_bits) : 0;
        const std::uint8_t proto_mask = mask;
        const std::uint32_t proto_as = as;
        // The file's answer for the net: its prefix, narrowed by networks_mask when both are set.
        auto file_mask = [&]() -> std::uint8_t {
            if (!map_) return user_mask;
            if (!m) return 0;
            return user_mask ? std::min(m->len, user_mask) : m->len;
        };
        const bool file_longer = m && (no_lpm_ || m->len > proto_mask);
        bool net_from_file = false;
        switch (net_mode_) {
        case Mode::Keep: break;
        case Mode::Mask:
            if (user_mask) mask = user_mask;
            break;
        case Mode::File: mask = file_mask(); net_from_file = true; break;
        case Mode::Longest:
            if (file_longer) {
                mask = file_mask();
                net_from_file = true;
            }
            break;
        case Mode::Fallback:
            if (proto_mask == 0) {
                mask = file_mask();
                net_from_file = true;
            }
            break;
        }
        bool as_from_file = false;
        switch (as_mode_) {
        case Mode::Keep:
        case Mode::Mask: break;
        case Mode::File: as_from_file = map_ != nullptr; break;
        case Mode::Longest: as_from_file = file_longer; break;
        case Mode::Fallback: as_from_file = map_ && proto_as == 0; break;
        }
        if (as_from_file) {
            as = m ? m->asn : 0;
            if (peer_as && (as_mode_ != Mode::Fallback || *peer_as == 0)) *peer_as = m ? m->peer_as : 0;
        }
        if (nexthop && net_from_file && m && m->has_nexthop) std::memcpy(nexthop, m->nexthop, 16);
        if (filter_ && map_ && !m) {
            // networks_file_filter: what the file does not cover is zeroed out.
            std::memset(ip, 0, 16);
            if (v4) ip[10] = ip[11] = 0xff;
            mask = 0;
            as = 0;
        }
        if (no_mask_if_zero_ && mask == 0) mask = family_bits;
    }

    static void apply_mask(const std::uint8_t* ip, std::uint8_t* out, std::uint8_t len, bool v4) {
        unsigned keep = (v4 ? 96u : 0u) + len;
        for (unsigned i = 0; i < 16; ++i) {
            unsigned have = keep > i * 8 ? keep - i * 8 : 0;
            out[i] = have >= 8 ? ip[i] : have == 0 ? 0 : static_cast<std::uint8_t>(ip[i] & (0xff << (8 - have)));
        }
    }

    sdk::Context ctx_;
    std::string path_;
    FileStamp stamp_;
    std::unique_ptr<NetworksMap> map_;
    Mode as_mode_ = Mode::Fallback, net_mode_ = Mode::Fallback;
    bool filter_ = false, no_lpm_ = false, no_mask_if_zero_ = false;
    std::uint8_t user_mask_ = 0;
    std::uint64_t* lookups_;
    std::uint64_t* unmatched_;
    std::uint64_t* reloads_;
    std::uint64_t* reload_errors_;
};

} // namespace

FLOWACCT_MODULE(Classifier, NetworksStage, "networks", "1.0.0",
                "networks_file: nets, masks and ASes by longest-prefix match", kKeys)
