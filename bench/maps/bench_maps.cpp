// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-bench-maps: networks_file load time, memory and LPM lookups/s on generated
// full-table-sized prefix sets (default 1M IPv4 + 200K IPv6), the networks stage's cost per
// record, and ns/record of a 1,000-rule pre_tag_map.
// usage: flowacct-bench-maps [v4_prefixes] [v6_prefixes] [rules]
#include <unistd.h>          // getpid

#include <time.h>            // clock_gettime, CLOCK_THREAD_CPUTIME_ID

#include <chrono>            // std::chrono::steady_clock
#include <cstdio>            // std::printf
#include <cstdlib>           // std::strtoul
#include <cstring>           // std::memset
#include <filesystem>        // std::filesystem
#include <fstream>           // std::ifstream, std::ofstream
#include <random>            // std::mt19937_64
#include <string>            // std::string
#include <vector>            // std::vector

#include "networks_map.hpp"  // networks::NetworksMap
#include "pretag_map.hpp"    // pretag::PretagMap
#ifdef FLOWACCT_BENCH_STAGE
#include "fake_host.hpp"     // test::FakeHost, test::Instance, test::load_module
#endif

using namespace flowacct;
using Clock = std::chrono::steady_clock;

// The timings are this thread's CPU time, not wall time: the figures are per core even on a
// machine shared with other work (time slices lost to other processes do not count).
struct CpuClock {
    using time_point = double;
    static double now() {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec + ts.tv_nsec * 1e-9;
    }
};

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double cpu_seconds_since(double t0) { return CpuClock::now() - t0; }

// A line of /proc/self/status ("VmRSS", "VmHWM") in MB.
double status_mb(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field, 0) == 0) return std::strtod(line.c_str() + std::strlen(field) + 1, nullptr) / 1024.0;
    return 0;
}

struct Generated {
    std::string text;
    std::vector<std::pair<std::uint32_t, unsigned>> v4; // prefix, length
    std::vector<std::pair<std::uint64_t, unsigned>> v6; // top 64 bits, length
};

// Prefix lengths roughly as in a routing table: most IPv4 /24, most IPv6 /48.
Generated make_networks(std::size_t n4, std::size_t n6, std::mt19937_64& rng) {
    Generated g;
    std::string& text = g.text;
    text.reserve(n4 * 28 + n6 * 36);
    char line[96];
    for (std::size_t i = 0; i < n4; ++i) {
        unsigned r = static_cast<unsigned>(rng() % 100);
        unsigned len = r < 60 ? 24 : r < 75 ? 22 : r < 85 ? 23 : r < 92 ? 20 : r < 97 ? 16 : 28;
        std::uint32_t a = static_cast<std::uint32_t>(rng()) & (~0u << (32 - len));
        std::snprintf(line, sizeof line, "%u,%u.%u.%u.%u/%u\n", static_cast<unsigned>(1 + rng() % 400000), a >> 24,
                      (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
        text += line;
        g.v4.emplace_back(a, len);
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
        g.v6.emplace_back(hi, len);
    }
    return g;
}

void put_v4(std::uint8_t* a, std::uint32_t v) {
    std::memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    for (int b = 0; b < 4; ++b) a[12 + b] = static_cast<std::uint8_t>(v >> (24 - 8 * b));
}

void put_v6(std::uint8_t* a, std::uint64_t hi, std::uint64_t lo) {
    for (int b = 0; b < 8; ++b) a[b] = static_cast<std::uint8_t>(hi >> (56 - 8 * b));
    for (int b = 0; b < 8; ++b) a[8 + b] = static_cast<std::uint8_t>(lo >> (56 - 8 * b));
}

// `count` addresses (16 bytes each) of one family: random (IPv6: in 2000::/3), or inside a
// random prefix of the table (random host bits), which is what traffic hits.
std::vector<std::uint8_t> make_addrs(const Generated& g, int family, bool in_table, std::size_t count,
                                     std::mt19937_64& rng) {
    std::vector<std::uint8_t> out(count * 16);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint8_t* a = &out[i * 16];
        if (family == 4) {
            std::uint32_t v = static_cast<std::uint32_t>(rng());
            if (in_table) {
                auto [p, len] = g.v4[rng() % g.v4.size()];
                v = len == 0 ? v : p | (len == 32 ? 0 : v >> len);
            }
            put_v4(a, v);
        } else {
            std::uint64_t hi = (0x2000ull << 48) | (rng() & 0x1fffffffffffffffull), lo = rng();
            if (in_table) {
                auto [p, len] = g.v6[rng() % g.v6.size()];
                hi = len >= 64 ? p : p | (rng() >> len);
            }
            put_v6(a, hi, lo);
        }
    }
    return out;
}

// Lookups/s through NetworksMap, one at a time and in the stage's batches.
void bench_lookups(const networks::NetworksMap& map, const std::vector<std::uint8_t>& addrs, const char* what) {
    const std::size_t count = addrs.size() / 16;
    const int rounds = 8;
    std::uint64_t found = 0;
    double t0 = CpuClock::now();
    for (int r = 0; r < rounds; ++r)
        for (std::size_t i = 0; i < count; ++i) found += map.lookup(&addrs[i * 16]) != nullptr;
    double s = cpu_seconds_since(t0);
    std::printf("%-22s %6.1f M lookups/s one at a time, ", what, rounds * count / s / 1e6);
    std::vector<const std::uint8_t*> ptrs(count);
    std::vector<const networks::NetInfo*> out(networks::NetworksMap::kBatch);
    for (std::size_t i = 0; i < count; ++i) ptrs[i] = &addrs[i * 16];
    std::uint64_t found_batch = 0;
    t0 = CpuClock::now();
    for (int r = 0; r < rounds; ++r)
        for (std::size_t i = 0; i < count; i += out.size()) {
            map.lookup_batch(&ptrs[i], out.data(), out.size());
            for (auto* m : out) found_batch += m != nullptr;
        }
    s = cpu_seconds_since(t0);
    std::printf("%6.1f M/s in batches of %zu (%.0f%% covered%s)\n", rounds * count / s / 1e6, out.size(),
                100.0 * found / (rounds * count), found == found_batch ? "" : ", BATCH DIFFERS");
}

#ifdef FLOWACCT_BENCH_STAGE
// The networks stage's process() on batches of 1,024 records (the daemon's batch), src and dst
// each drawn from `addrs` (65,536 records in all); AS and net from the file, so every record
// reads both entries.
void bench_stage(const std::string& path, const std::vector<std::uint8_t>& addrs, int family, const char* what,
                 std::mt19937_64& rng) {
    test::FakeHost host({{"networks_file", path}, {"nfacctd_as", "file"}, {"nfacctd_net", "file"}});
    const fa_module_descriptor* d = test::load_module("classifier_networks.so");
    if (!d) {
        std::printf("networks stage: classifier_networks.so not found\n");
        return;
    }
    test::Instance inst(d, host);
    if (!inst) {
        std::printf("networks stage: %s\n", inst.error.c_str());
        return;
    }
    const std::size_t count = addrs.size() / 16;
    std::vector<fa_record> recs(1 << 16);
    for (auto& r : recs) {
        std::memset(&r, 0, sizeof r);
        std::memcpy(r.src_ip, &addrs[(rng() % count) * 16], 16);
        std::memcpy(r.dst_ip, &addrs[(rng() % count) * 16], 16);
        r.ip_version = static_cast<std::uint8_t>(family);
    }
    auto* ops = inst.ops<fa_classifier_ops>();
    // The host hands a stage its pipeline's private copy of a batch, just written: copy each
    // batch out of the pool first, and count only what process() adds to the copy.
    std::vector<fa_record> batch(1024);
    const int rounds = 20;
    auto run = [&](bool process) {
        double t0 = CpuClock::now();
        for (int k = 0; k < rounds; ++k)
            for (std::size_t i = 0; i < recs.size(); i += batch.size()) {
                std::memcpy(batch.data(), &recs[i], batch.size() * sizeof(fa_record));
                asm volatile("" : : "r"(batch.data()) : "memory"); // the copy happens in both runs
                if (process) ops->process(inst.get(), batch.data(), static_cast<std::uint32_t>(batch.size()), nullptr);
            }
        return cpu_seconds_since(t0);
    };
    const double copy_s = run(false), s = run(true) - copy_s;
    std::uint64_t as_sum = 0;
    for (const auto& r : batch) as_sum += r.src_as != 0;
    std::printf("%-22s %6.1f ns per record (src+dst lookups, %.0f%% src matched)\n", what,
                s * 1e9 / (rounds * recs.size()), 100.0 * as_sum / batch.size());
}
#endif

} // namespace

int main(int argc, char** argv) {
    std::size_t n4 = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1000000;
    std::size_t n6 = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 200000;
    std::size_t rules = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1000;
    std::mt19937_64 rng(1);

    Generated gen = make_networks(n4, n6, rng);
    const double rss_text = status_mb("VmRSS");
    auto wall0 = Clock::now();
    double t0 = CpuClock::now();
    auto map = networks::NetworksMap::parse(gen.text, "generated");
    double load_s = cpu_seconds_since(t0), load_wall_s = seconds_since(wall0);
    std::printf("networks_file: %zu IPv4 + %zu IPv6 prefixes, %.1f MB of text: load (parse + build) %.3f s "
                "(wall %.3f s), tables %.1f MB, RSS +%.1f MB (process %.1f MB, peak %.1f MB)\n",
                map.v4_networks(), map.v6_networks(), gen.text.size() / 1e6, load_s, load_wall_s,
                map.memory_bytes() / 1e6, status_mb("VmRSS") - rss_text, status_mb("VmRSS"), status_mb("VmHWM"));

    constexpr std::size_t kAddrs = 1 << 20;
    std::vector<std::uint8_t> addrs[2][2]; // [v4, v6][random, in table]
    for (int f = 0; f < 2; ++f)
        for (int t = 0; t < 2; ++t) addrs[f][t] = make_addrs(gen, f ? 6 : 4, t != 0, kAddrs, rng);
    bench_lookups(map, addrs[0][0], "IPv4 random:");
    bench_lookups(map, addrs[0][1], "IPv4 in table:");
    bench_lookups(map, addrs[1][0], "IPv6 random:");
    bench_lookups(map, addrs[1][1], "IPv6 in table:");

#ifdef FLOWACCT_BENCH_STAGE
    {
        auto path = (std::filesystem::temp_directory_path() /
                     ("flowacct-bench-networks-" + std::to_string(getpid()) + ".lst")).string();
        std::ofstream(path, std::ios::binary) << gen.text;
        bench_stage(path, addrs[0][1], 4, "networks stage IPv4:", rng);
        bench_stage(path, addrs[1][1], 6, "networks stage IPv6:", rng);
        std::filesystem::remove(path);
    }
#endif

    if (rules == 0) return 0;
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
    std::uint64_t sum = 0, specific = 0;
    const int rounds = 500;
    t0 = CpuClock::now();
    for (int k = 0; k < rounds; ++k)
        for (const auto& r : recs) {
            pm->evaluate(r, res);
            sum += res.tag;
            specific += res.tag < 999999;
        }
    double s = cpu_seconds_since(t0);
    std::printf("pre_tag_map: %zu rules (%zu indexes, %zu scanned): %.1f ns per record (%.0f%% tagged by an "
                "exporter/interface rule, checksum %llu)\n",
                pm->rules(), pm->index_groups(), pm->scanned_rules(), s * 1e9 / (rounds * recs.size()),
                100.0 * specific / (rounds * recs.size()), static_cast<unsigned long long>(sum % 1000));
    return 0;
}
