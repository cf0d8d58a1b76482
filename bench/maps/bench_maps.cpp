// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-bench-maps: networks_file load time and LPM lookups/s on generated full-table-sized
// prefix sets (default 1M IPv4 + 200K IPv6), and ns/record of a 1,000-rule pre_tag_map.
// usage: flowacct-bench-maps [v4_prefixes] [v6_prefixes] [rules]
#include <chrono>            // std::chrono::steady_clock
#include <cstdio>            // std::printf
#include <cstdlib>           // std::strtoul
#include <cstring>           // std::memset
#include <random>            // std::mt19937_64
#include <string>            // std::string
#include <vector>            // std::vector

#include "networks_map.hpp"  // networks::NetworksMap
#include "pretag_map.hpp"    // pretag::PretagMap

using namespace flowacct;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Prefix lengths roughly as in a routing table: most IPv4 /24, most IPv6 /48.
std::string make_networks(std::size_t n4, std::size_t n6, std::mt19937_64& rng) {
    std::string text;
    text.reserve(n4 * 28 + n6 * 36);
    char line[96];
    for (std::size_t i = 0; i < n4; ++i) {
        unsigned r = static_cast<unsigned>(rng() % 100);
        unsigned len = r < 60 ? 24 : r < 75 ? 22 : r < 85 ? 23 : r < 92 ? 20 : r < 97 ? 16 : 28;
        std::uint32_t a = static_cast<std::uint32_t>(rng()) & (~0u << (32 - len));
        std::snprintf(line, sizeof line, "%u,%u.%u.%u.%u/%u\n", static_cast<unsigned>(1 + rng() % 400000), a >> 24,
                      (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
        text += line;
    }
    for (std::size_t i = 0; i < n6; ++i) {
        unsigned r = static_cast<unsigned>(rng() % 100);
        unsigned len = r < 50 ? 48 : r < 70 ? 32 : r < 85 ? 44 : r < 95 ? 40 : 64;
        std::uint64_t hi = (0x2000ull << 48) | (rng() & 0x1fffffffffffffffull);
        hi &= len >= 64 ? ~0ull : ~0ull << (64 - len);
        std::snprintf(line, sizeof line, "%u,%x:%x:%x:%x::/%u\n", static_cast<unsigned>(1 + rng() % 400000),
                      static_cast<unsigned>(hi >> 48), static_cast<unsigned>((hi >> 32) & 0xffff),
                      static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff), len);
        text += line;
    }
    return text;
}

} // namespace

int main(int argc, char** argv) {
    std::size_t n4 = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
    std::size_t n6 = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200000;
    std::size_t rules = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1000;
    std::mt19937_64 rng(1);

    std::string text = make_networks(n4, n6, rng);
    auto t0 = Clock::now();
    auto map = networks::NetworksMap::parse(text, "generated");
    double load_s = seconds_since(t0);
    std::printf("networks_file: %zu IPv4 + %zu IPv6 prefixes, %.1f MB of text: load %.3f s, tables %.1f MB\n",
                map.v4_networks(), map.v6_networks(), text.size() / 1e6, load_s, map.memory_bytes() / 1e6);

    constexpr std::size_t kAddrs = 1 << 20;
    std::vector<std::uint8_t> addrs(kAddrs * 16);
    for (std::size_t i = 0; i < kAddrs; ++i) {
        std::uint8_t* a = &addrs[i * 16];
        std::memset(a, 0, 16);
        a[10] = a[11] = 0xff;
        std::uint32_t v = static_cast<std::uint32_t>(rng());
        for (int b = 0; b < 4; ++b) a[12 + b] = static_cast<std::uint8_t>(v >> (24 - 8 * b));
    }
    for (int family = 4; family <= 6; family += 2) {
        if (family == 6)
            for (std::size_t i = 0; i < kAddrs; ++i) {
                std::uint8_t* a = &addrs[i * 16];
                std::uint64_t hi = (0x2000ull << 48) | (rng() & 0x1fffffffffffffffull), lo = rng();
                for (int b = 0; b < 8; ++b) a[b] = static_cast<std::uint8_t>(hi >> (56 - 8 * b));
                for (int b = 0; b < 8; ++b) a[8 + b] = static_cast<std::uint8_t>(lo >> (56 - 8 * b));
            }
        std::uint64_t found = 0;
        const int rounds = 8;
        t0 = Clock::now();
        for (int r = 0; r < rounds; ++r)
            for (std::size_t i = 0; i < kAddrs; ++i) found += map.lookup(&addrs[i * 16]) != nullptr;
        double s = seconds_since(t0);
        std::printf("IPv%d lookups: %.1f M/s on one core, one at a time (random addresses, %.0f%% covered)\n",
                    family, rounds * kAddrs / s / 1e6, 100.0 * found / (rounds * kAddrs));
        // As the networks stage does: 512 addresses per call.
        std::vector<const std::uint8_t*> ptrs(kAddrs);
        std::vector<const networks::NetInfo*> out(networks::NetworksMap::kBatch);
        for (std::size_t i = 0; i < kAddrs; ++i) ptrs[i] = &addrs[i * 16];
        found = 0;
        t0 = Clock::now();
        for (int r = 0; r < rounds; ++r)
            for (std::size_t i = 0; i < kAddrs; i += out.size()) {
                map.lookup_batch(&ptrs[i], out.data(), out.size());
                for (auto* m : out) found += m != nullptr;
            }
        s = seconds_since(t0);
        std::printf("IPv%d lookups: %.1f M/s on one core, in batches of %zu (%.0f%% covered)\n", family,
                    rounds * kAddrs / s / 1e6, out.size(), 100.0 * found / (rounds * kAddrs));
    }

    // pre_tag_map: per exporter/interface rules, as a large ISP map looks.
    std::string m;
    for (std::size_t i = 0; i < rules; ++i)
        m += "set_tag=" + std::to_string(i + 1) + " ip=10." + std::to_string(i / 64 / 256) + "." +
             std::to_string(i / 64 % 256) + ".1 in=" + std::to_string(i % 64) + "\n";
    m += "set_tag=999999 ip=0.0.0.0/0\n";
    auto pm = pretag::PretagMap::parse(m, "generated", [](std::string_view) { return 1u; });
    std::vector<fa_record> recs(4096);
    for (auto& r : recs) {
        std::memset(&r, 0, sizeof r);
        std::size_t i = rng() % (rules + rules / 10);
        r.peer_src_ip[10] = r.peer_src_ip[11] = 0xff;
        r.peer_src_ip[12] = 10;
        r.peer_src_ip[13] = static_cast<std::uint8_t>(i / 64 / 256);
        r.peer_src_ip[14] = static_cast<std::uint8_t>(i / 64 % 256);
        r.peer_src_ip[15] = 1;
        r.in_iface = static_cast<std::uint32_t>(i % 64);
    }
    pretag::Result res;
    std::uint64_t sum = 0;
    const int rounds = 500;
    t0 = Clock::now();
    for (int k = 0; k < rounds; ++k)
        for (const auto& r : recs) {
            pm->evaluate(r, res);
            sum += res.tag;
        }
    double s = seconds_since(t0);
    std::printf("pre_tag_map: %zu rules (%zu indexes, %zu scanned): %.1f ns per record (checksum %llu)\n", pm->rules(),
                pm->index_groups(), pm->scanned_rules(), s * 1e9 / (rounds * recs.size()),
                static_cast<unsigned long long>(sum % 1000));
    return 0;
}
