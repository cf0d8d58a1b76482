// SPDX-License-Identifier: GPL-2.0-or-later
// Aggregation alone: records/s per core of the hash aggregator module for a key of N primitives at
// K distinct keys. Loads the real aggregator_hash.so through its descriptor, feeds generated records
// (fixed seed) in batches of 1024, and reports CPU time per record and peak RSS.
#include <sys/resource.h> // getrusage
#include <time.h>         // clock_gettime

#include <cstdio>         // std::printf
#include <cstdlib>        // std::strtoull
#include <cstring>        // std::memset
#include <random>         // std::mt19937_64
#include <string>         // std::string
#include <vector>         // std::vector

#include <algorithm>      // std::min

#include <flowacct/sdk/primitives.hpp> // sdk::set_v4

#include "fake_host.hpp"  // FakeHost, Instance, load_module

using namespace flowacct;

namespace {

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

long peak_rss_kb() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

const char* aggregate_for(int primitives) {
    switch (primitives) {
    case 2: return "src_host, dst_host";
    case 5: return "src_host, dst_host, src_port, dst_port, proto";
    case 9: return "src_host, dst_host, src_port, dst_port, proto, tos, vlan, src_mac, dst_mac";
    default: return nullptr;
    }
}

} // namespace

int main(int argc, char** argv) {
    std::uint64_t records = 20'000'000, keys = 100'000;
    int primitives = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--records") records = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--keys") keys = std::strtoull(argv[i + 1], nullptr, 10);
        else if (a == "--primitives") primitives = std::atoi(argv[i + 1]);
    }
    const char* aggregate = aggregate_for(primitives);
    if (!aggregate || keys == 0) {
        std::fprintf(stderr, "usage: %s [--records N] [--keys K] [--primitives 2|5|9]\n", argv[0]);
        return 2;
    }
    const fa_module_descriptor* d = test::load_module("aggregator_hash.so");
    if (!d) {
        std::fprintf(stderr, "cannot load aggregator_hash.so from %s\n", FLOWACCT_TEST_MODULE_DIR);
        return 1;
    }
    // The distinct keys, then a stream that visits them in a random order (fixed seed).
    std::mt19937_64 rng(42);
    std::vector<fa_record> distinct(keys);
    for (std::uint64_t k = 0; k < keys; ++k) {
        fa_record& r = distinct[k];
        std::memset(&r, 0, sizeof r);
        std::uint8_t s[4] = {10, static_cast<std::uint8_t>(k >> 16), static_cast<std::uint8_t>(k >> 8), static_cast<std::uint8_t>(k)};
        std::uint8_t t[4] = {172, 16, static_cast<std::uint8_t>(rng() % 4), static_cast<std::uint8_t>(rng() % 200)};
        sdk::set_v4(r.src_ip, s);
        sdk::set_v4(r.dst_ip, t);
        r.ip_version = 4;
        r.src_port = static_cast<std::uint16_t>(1024 + rng() % 60000);
        r.dst_port = static_cast<std::uint16_t>(rng() % 3 ? 443 : 80);
        r.proto = rng() % 4 ? 6 : 17;
        r.tos = static_cast<std::uint8_t>(rng() % 2 ? 0 : 0xb8);
        r.vlan = static_cast<std::uint16_t>(rng() % 4 + 1);
        r.src_mac[5] = static_cast<std::uint8_t>(k);
        r.dst_mac[5] = static_cast<std::uint8_t>(k >> 8);
        r.packets = 1;
        r.bytes = 64 + rng() % 1400;
    }
    // Indices of the keys in visiting order. Each batch is copied from them just before it is
    // ingested, as an input writes a batch just before the host hands it on: the timed part is the
    // ingest of a batch that is in cache, not a read of a stream that is not.
    const std::size_t order_len = 1 << 22;
    std::vector<std::uint32_t> order(order_len);
    for (auto& o : order) o = static_cast<std::uint32_t>(rng() % keys);
    std::vector<fa_record> batch(1024);

    test::FakeHost host(std::map<std::string, std::string>{{"aggregate", aggregate}, {"print_refresh_time", "3600"}});
    test::Instance inst(d, host);
    if (!inst) {
        std::fprintf(stderr, "create failed: %s\n", inst.error.c_str());
        return 1;
    }
    const auto* ops = inst.ops<fa_aggregator_ops>();
    // Warm up: every key once, so the timed part measures steady-state updates and inserts alike.
    for (std::uint64_t off = 0; off < keys; off += 1024)
        ops->ingest(inst.get(), distinct.data() + off, static_cast<std::uint32_t>(std::min<std::uint64_t>(1024, keys - off)));
    double secs = 0;
    std::uint64_t done = 0;
    while (done < records) {
        std::uint32_t n = static_cast<std::uint32_t>(std::min<std::uint64_t>(1024, records - done));
        for (std::uint32_t i = 0; i < n; ++i) batch[i] = distinct[order[(done + i) % order_len]];
        double t0 = thread_cpu_s();
        ops->ingest(inst.get(), batch.data(), n);
        secs += thread_cpu_s() - t0;
        done += n;
    }
    std::uint64_t rows = 0;
    fa_row_sink sink{&rows, [](void* c, const fa_row_batch* b) -> fa_status {
                         *static_cast<std::uint64_t*>(c) += b->count;
                         return FA_OK;
                     }};
    double p0 = thread_cpu_s();
    ops->purge(inst.get(), 0, 1, &sink);
    double p1 = thread_cpu_s();
    std::printf("aggregate primitives=%d keys=%llu records=%llu cpu_s=%.3f records_per_s=%.0f ns_per_record=%.1f "
                "purge_rows=%llu purge_ms=%.1f peak_rss_mb=%.1f\n",
                primitives, static_cast<unsigned long long>(keys), static_cast<unsigned long long>(records), secs,
                records / secs, secs * 1e9 / records, static_cast<unsigned long long>(rows), (p1 - p0) * 1e3,
                peak_rss_kb() / 1024.0);
    return rows == keys ? 0 : 1;
}
