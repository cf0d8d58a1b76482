// SPDX-License-Identifier: GPL-2.0-or-later
// A networks_file (pmacct's format) parsed into IPv4 and IPv6 longest-prefix-match tables.
//
// Grammar, one entry a line: [<nexthop>,][[<peer_as>_]<origin_as>,]<network>[/<len>]
// Lines starting with '!' or '#' are comments; blank lines and surrounding blanks are ignored.
#pragma once

#include <cstdint>      // std::uint32_t
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include "lpm.hpp"      // lpm::Ipv4Table, lpm::Ipv6Table

namespace flowacct::networks {

/// What a networks_file line says about a prefix. 32 bytes, aligned: one cache line per lookup.
struct alignas(32) NetInfo {
    std::uint32_t asn = 0;      // origin AS, 0 if the line has none
    std::uint32_t peer_as = 0;  // peer AS (<peer>_<origin>), 0 if none
    std::uint8_t len = 0;       // prefix length within its family (0..32 or 0..128)
    bool has_nexthop = false;
    std::uint8_t nexthop[16] = {}; // IPv4-mapped for IPv4
};

/// Immutable once built; lookups from any thread.
class NetworksMap {
public:
    /// Parses `text`; `name` (the file path) prefixes error messages.
    /// Throws std::runtime_error "<name>:<line>: <what was expected>" on the first bad line.
    static NetworksMap parse(std::string_view text, const std::string& name);

    /// Reads and parses `path`. Throws std::runtime_error naming the path (and line).
    static NetworksMap load(const std::string& path);

    /// The entry of the longest prefix covering `addr16` (IPv4-mapped for IPv4), or nullptr.
    const NetInfo* lookup(const std::uint8_t* addr16) const {
        std::uint32_t id;
        if (is_v4(addr16)) {
            std::uint32_t a = (std::uint32_t{addr16[12]} << 24) | (std::uint32_t{addr16[13]} << 16) |
                              (std::uint32_t{addr16[14]} << 8) | addr16[15];
            id = v4_.lookup(a);
        } else {
            id = v6_.lookup(addr16);
        }
        return id ? &infos_[id - 1] : nullptr;
    }

    /// lookup() for `n` addresses at once (out[i] for addrs[i]); the lookups overlap their
    /// memory accesses, and the entries found are prefetched. `n` at most kBatch (the rest is
    /// left alone).
    static constexpr std::size_t kBatch = 512;
    void lookup_batch(const std::uint8_t* const* addrs, const NetInfo** out, std::size_t n) const;

    std::size_t v4_networks() const { return v4_count_; }
    std::size_t v6_networks() const { return v6_count_; }
    std::size_t memory_bytes() const {
        return v4_.memory_bytes() + v6_.memory_bytes() + infos_.size() * sizeof(NetInfo);
    }

    static bool is_v4(const std::uint8_t* a) {
        static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        for (int i = 0; i < 12; ++i)
            if (a[i] != kPrefix[i]) return false;
        return true;
    }

private:
    lpm::Ipv4Table v4_;
    lpm::Ipv6Table v6_;
    lpm::HugeVector<NetInfo> infos_;
    std::size_t v4_count_ = 0, v6_count_ = 0;
};

} // namespace flowacct::networks
