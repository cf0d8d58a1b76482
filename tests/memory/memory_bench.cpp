// SPDX-License-Identifier: GPL-2.0-or-later
// Benchmark of the memory output: ingest rate, -M lookup, full dump, top-100, bytes per entry,
// and ingest while 10 clients query. Run: memory_bench [entries] (default 1000000).
#include <time.h>          // clock_gettime

#include <atomic>          // std::atomic
#include <chrono>          // std::chrono
#include <cstdio>          // std::printf
#include <cstdlib>         // std::strtoull
#include <fstream>         // std::ifstream
#include <thread>          // std::thread

#include <fake_host.hpp>   // test::FakeHost, test::Instance, test::load_module
#include <flowacct/sdk/primitives.hpp> // sdk::set_v4

#include "client.hpp"      // client::run_client

using namespace flowacct;
using Clock = std::chrono::steady_clock;

namespace {

double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double since_ms(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

long rss_kb() {
    std::ifstream in("/proc/self/status");
    std::string k;
    long v = 0;
    while (in >> k) {
        if (k == "VmRSS:") {
            in >> v;
            return v;
        }
    }
    return 0;
}

fa_row row_for(std::uint64_t i) {
    fa_row r{};
    std::uint8_t v4[4] = {10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                          static_cast<std::uint8_t>(i)};
    std::uint8_t d4[4] = {192, 168, static_cast<std::uint8_t>(i % 7), 1};
    sdk::set_v4(r.rec.src_ip, v4);
    sdk::set_v4(r.rec.dst_ip, d4);
    r.rec.src_port = static_cast<std::uint16_t>(1024 + i % 50000);
    r.rec.dst_port = 443;
    r.rec.proto = 6;
    r.rec.packets = 1 + i % 13;
    r.rec.bytes = 64 * r.rec.packets;
    return r;
}

int quiet(const std::vector<std::string>& args) {
    std::FILE* null = std::fopen("/dev/null", "w");
    int rc = client::run_client(args, null, null);
    std::fclose(null);
    return rc;
}

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
    const std::string path = "/tmp/fa-mem-bench-" + std::to_string(::getpid()) + ".pipe";
    test::FakeHost host({{"imt_path", path}, {"imt_max_entries", std::to_string(n + 1)}}, "bench");
    const fa_module_descriptor* d = test::load_module("output_memory.so");
    if (!d) return 2;
    test::Instance inst(d, host);
    if (!inst) return 3;
    auto* ops = static_cast<const fa_output_ops*>(d->ops);
    const std::uint64_t prims = (1ull << FA_P_SRC_HOST) | (1ull << FA_P_DST_HOST) | (1ull << FA_P_SRC_PORT) |
                                (1ull << FA_P_DST_PORT) | (1ull << FA_P_PROTO);
    std::vector<fa_row> batch(1024);
    const long rss0 = rss_kb();
    auto ingest = [&](std::uint64_t from, std::uint64_t count) {
        for (std::uint64_t i = from; i < from + count; i += batch.size()) {
            const std::uint64_t k = std::min<std::uint64_t>(batch.size(), from + count - i);
            for (std::uint64_t j = 0; j < k; ++j) batch[j] = row_for(i + j);
            fa_row_batch b{batch.data(), static_cast<std::uint32_t>(k), 0, prims};
            ops->write(inst.get(), &b);
        }
    };
    auto t0 = Clock::now();
    ingest(0, n);
    const double insert_ms = since_ms(t0);
    t0 = Clock::now();
    ingest(0, n); // updates of existing rows
    const double update_ms = since_ms(t0);
    const long rss1 = rss_kb();
    std::printf("entries: %llu\n", static_cast<unsigned long long>(host.counter("entries")));
    std::printf("insert: %.0f ms (%.2f M rows/s); update: %.0f ms (%.2f M rows/s)\n", insert_ms, n / insert_ms / 1e3,
                update_ms, n / update_ms / 1e3);
    std::printf("memory: table %llu bytes = %.1f bytes/entry; RSS delta %.1f bytes/entry\n",
                static_cast<unsigned long long>(host.counter("memory_bytes")),
                static_cast<double>(host.counter("memory_bytes")) / n, (rss1 - rss0) * 1024.0 / n);

    const fa_row probe = row_for(n / 2);
    char q[128];
    std::snprintf(q, sizeof q, "10.%u.%u.%u,192.168.%u.1,%u,443,tcp", (unsigned)((n / 2) >> 16) & 255,
                  (unsigned)((n / 2) >> 8) & 255, (unsigned)(n / 2) & 255, (unsigned)((n / 2) % 7), probe.rec.src_port);
    double best = 1e9;
    for (int i = 0; i < 50; ++i) {
        t0 = Clock::now();
        quiet({"-c", "src_host,dst_host,src_port,dst_port,proto", "-M", q, "-p", path});
        best = std::min(best, since_ms(t0));
    }
    std::printf("-M exact lookup (connect + query + print): best %.3f ms\n", best);
    t0 = Clock::now();
    quiet({"-c", "dst_host", "-N", "192.168.3.1", "-p", path});
    std::printf("-N scan of the whole table on one primitive: %.0f ms\n", since_ms(t0));
    t0 = Clock::now();
    quiet({"-s", "-p", path});
    std::printf("-s full dump, formatted: %.0f ms\n", since_ms(t0));
    t0 = Clock::now();
    quiet({"-s", "-O", "csv", "-p", path});
    std::printf("-s full dump, csv: %.0f ms\n", since_ms(t0));
    t0 = Clock::now();
    quiet({"-s", "-T", "bytes,100", "-p", path});
    std::printf("-s -T bytes,100: %.0f ms\n", since_ms(t0));

    // Ingest (updates) with and without 10 clients querying in a loop.
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> queries{0};
    t0 = Clock::now();
    double c0 = thread_cpu_ms();
    ingest(0, n);
    const double alone_ms = since_ms(t0);
    const double alone_cpu_ms = thread_cpu_ms() - c0;
    std::vector<std::thread> clients;
    for (int c = 0; c < 10; ++c)
        clients.emplace_back([&, c] {
            while (!stop) {
                if (c == 0) quiet({"-s", "-T", "bytes,100", "-p", path});
                else quiet({"-c", "src_host,dst_host,src_port,dst_port,proto", "-N", q, "-p", path});
                ++queries;
            }
        });
    t0 = Clock::now();
    c0 = thread_cpu_ms();
    ingest(0, n);
    const double busy_ms = since_ms(t0);
    const double busy_cpu_ms = thread_cpu_ms() - c0;
    stop = true;
    for (auto& t : clients) t.join();
    std::printf("ingest of %llu rows: %.0f ms (%.0f ms CPU) alone, %.0f ms (%.0f ms CPU) with 10 clients "
                "(%llu queries answered meanwhile)\n",
                static_cast<unsigned long long>(n), alone_ms, alone_cpu_ms, busy_ms, busy_cpu_ms,
                static_cast<unsigned long long>(queries.load()));
    return 0;
}
