// SPDX-License-Identifier: GPL-2.0-or-later
// networks_file parsing into longest-prefix-match tables.
#include "networks_map.hpp"

#include <algorithm>    // std::count
#include <stdexcept>    // std::runtime_error

#include "map_text.hpp" // maptext::for_each_line, parse_prefix, parse_uint, read_file

namespace flowacct::networks {

namespace {

[[noreturn]] void bad_line(const std::string& name, std::size_t line, const std::string& what) {
    throw std::runtime_error(name + ":" + std::to_string(line) + ": " + what);
}

// "<origin>" or "<peer>_<origin>".
bool parse_as_field(std::string_view text, NetInfo& info) {
    std::uint64_t v = 0;
    std::size_t us = text.find('_');
    if (us != std::string_view::npos) {
        if (!maptext::parse_uint(text.substr(0, us), 0xffffffffull, v)) return false;
        info.peer_as = static_cast<std::uint32_t>(v);
        text = text.substr(us + 1);
    }
    if (!maptext::parse_uint(text, 0xffffffffull, v)) return false;
    info.asn = static_cast<std::uint32_t>(v);
    return true;
}

} // namespace

NetworksMap NetworksMap::parse(std::string_view text, const std::string& name) {
    NetworksMap map;
    std::vector<lpm::Prefix4> v4;
    std::vector<lpm::Prefix6> v6;
    // One entry a line at most: reserving spares the copies (and fresh pages) of regrowth.
    const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    map.infos_.reserve(lines);
    v4.reserve(lines);
    maptext::for_each_line(text, [&](std::size_t line_no, std::string_view line) {
        std::string_view fields[4];
        std::size_t n = 0;
        while (true) {
            std::size_t comma = line.find(',');
            if (n == 3) bad_line(name, line_no, "expected [nexthop,][[peer_as_]as,]network/len, got more than 3 fields");
            fields[n++] = maptext::trim(line.substr(0, comma));
            if (comma == std::string_view::npos) break;
            line = line.substr(comma + 1);
        }
        NetInfo info;
        std::uint8_t addr[16];
        bool is_v4 = false;
        if (!maptext::parse_prefix(fields[n - 1], addr, info.len, is_v4))
            bad_line(name, line_no, "expected a network such as 192.0.2.0/24 or 2001:db8::/32, got '" +
                                        std::string(fields[n - 1]) + "'");
        if (n >= 2 && !parse_as_field(fields[n - 2], info))
            bad_line(name, line_no, "expected an AS number or <peer_as>_<origin_as>, got '" +
                                        std::string(fields[n - 2]) + "'");
        if (n == 3) {
            bool nh_v4 = false;
            if (!maptext::parse_address(fields[0], info.nexthop, nh_v4))
                bad_line(name, line_no, "expected a next-hop address, got '" + std::string(fields[0]) + "'");
            info.has_nexthop = true;
        }
        if (map.infos_.size() >= 0x7ffffffe) bad_line(name, line_no, "too many networks");
        map.infos_.push_back(info);
        auto value = static_cast<std::uint32_t>(map.infos_.size());
        if (is_v4) {
            std::uint32_t a = (std::uint32_t{addr[12]} << 24) | (std::uint32_t{addr[13]} << 16) |
                              (std::uint32_t{addr[14]} << 8) | addr[15];
            v4.push_back(lpm::Prefix4{a, info.len, value});
        } else {
            v6.push_back(lpm::Prefix6{lpm::Ipv6Table::load(addr), info.len, value});
        }
    });
    map.v4_count_ = v4.size();
    map.v6_count_ = v6.size();
    map.v4_.build(std::move(v4));
    map.v6_.build(std::move(v6));
    map.infos_.shrink_to_fit();
    return map;
}

void NetworksMap::lookup_batch(const std::uint8_t* const* addrs, const NetInfo** out, std::size_t n) const {
    if (n > kBatch) n = kBatch;
    std::uint32_t v4[kBatch] = {}, ids4[kBatch], ids6[kBatch]; // = {}: quiets -Wmaybe-uninitialized
    lpm::u128 v6[kBatch];
    std::uint16_t where4[kBatch], where6[kBatch];
    std::size_t n4 = 0, n6 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* a = addrs[i];
        if (is_v4(a)) {
            v4[n4] = (std::uint32_t{a[12]} << 24) | (std::uint32_t{a[13]} << 16) | (std::uint32_t{a[14]} << 8) | a[15];
            where4[n4++] = static_cast<std::uint16_t>(i);
        } else {
            v6[n6] = lpm::Ipv6Table::load(a);
            where6[n6++] = static_cast<std::uint16_t>(i);
        }
    }
    v4_.lookup_batch(v4, ids4, n4);
    v6_.lookup_batch(v6, ids6, n6);
    auto resolve = [&](const std::uint32_t* ids, const std::uint16_t* where, std::size_t count) {
        for (std::size_t k = 0; k < count; ++k) out[where[k]] = ids[k] ? &infos_[ids[k] - 1] : nullptr;
    };
    resolve(ids4, where4, n4);
    resolve(ids6, where6, n6);
}

NetworksMap NetworksMap::load(const std::string& path) {
    return parse(maptext::read_file(path), path);
}

} // namespace flowacct::networks
