// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-bench-netflow [tenths-of-seconds] [version]: decoder throughput (records per second on one core) for v5, v9 and
// IPFIX workloads decoded from memory, with no I/O.
#include <time.h>  // clock_gettime, CLOCK_THREAD_CPUTIME_ID

#include <chrono>  // std::chrono::steady_clock
#include <cstdio>  // std::printf
#include <cstdlib> // std::atoi
#include <deque>   // std::deque
#include <string>  // std::string

#include "netflow_decoder.hpp"  // netflow::Decoder
#include "netflow_workload.hpp" // make_workload

namespace {

struct Slots final : flowacct::netflow::CounterSource {
    std::deque<std::uint64_t> s;
    std::uint64_t* slot(const char*, const std::string&) override { return &s.emplace_back(0); }
};

// Reuses one buffer: measures decoding, not memory growth.
struct RingSink final : flowacct::netflow::RecordSink {
    std::vector<fa_record> buf = std::vector<fa_record>(1024);
    std::uint64_t total = 0;
    bool refill() override {
        total += count_;
        records_ = buf.data();
        capacity_ = static_cast<std::uint32_t>(buf.size());
        count_ = 0;
        return true;
    }
};

} // namespace

int main(int argc, char** argv) {
    const int seconds_x10 = argc > 1 ? std::atoi(argv[1]) : 10; // run each version ~1 s
    const int only = argc > 2 ? std::atoi(argv[2]) : 0;           // 5, 9 or 10; 0 = all
    for (int version : {5, 9, 10}) {
        if (only && version != only) continue;
        flowacct::gen::WorkloadOptions o;
        o.version = version;
        o.records = 300000;
        o.keys = 10000;
        o.per_datagram = version == 5 ? 30 : 40;
        o.template_every = 0;
        flowacct::gen::WorkloadTotals t;
        const auto dgrams = flowacct::gen::make_workload(o, t);
        Slots slots;
        flowacct::netflow::Decoder dec({}, slots);
        flowacct::netflow::Exporter ex;
        ex.addr[10] = ex.addr[11] = 0xFF;
        ex.addr[15] = 1;
        RingSink sink;
        std::uint64_t records = 0;
        // CPU time of this thread: other processes on a shared machine do not count.
        auto cpu_s = [] {
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
        };
        const double cpu0 = cpu_s();
        const auto t0 = std::chrono::steady_clock::now();
        auto now = t0;
        do {
            for (const auto& d : dgrams) records += dec.decode(d.data(), d.size(), ex, 1700000000000000ull, sink);
            now = std::chrono::steady_clock::now();
        } while (now - t0 < std::chrono::milliseconds(100 * seconds_x10));
        const double s = std::chrono::duration<double>(now - t0).count();
        const double cpu = cpu_s() - cpu0;
        std::printf("version %2d: %.1f M records/s of CPU time (%.1f M/s wall; %llu records, %.2f s CPU, "
                    "%u records/datagram)\n",
                    version, records / cpu / 1e6, records / s / 1e6, static_cast<unsigned long long>(records), cpu,
                    o.per_datagram);
    }
    return 0;
}
