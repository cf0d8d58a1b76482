// SPDX-License-Identifier: GPL-2.0-or-later
// Micro benchmark of the exporter path without I/O: packet records through the flow cache into the
// NetFlow/IPFIX encoder (datagrams counted, not sent), and records into the sFlow encoder.
// usage: flowacct-bench-export [packets] [flows]
#include <algorithm> // std::min
#include <chrono>   // std::chrono::steady_clock
#include <cstdio>   // std::printf
#include <cstdlib>  // std::strtoull
#include <vector>   // std::vector

#include "flow_cache.hpp"      // FlowCache
#include "netflow_encoder.hpp" // NetflowEncoder
#include "sflow_encoder.hpp"   // SflowEncoder

using namespace flowacct::exporter;

namespace {
struct CountSink final : DatagramSink {
    std::uint64_t n = 0, bytes = 0;
    void datagram(const std::uint8_t*, std::size_t len) override { ++n, bytes += len; }
};
struct ToEncoder final : FlowSink {
    NetflowEncoder* enc;
    std::uint64_t now = 0;
    void flow(const fa_record& f) override { enc->add(f, now); }
};
double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
} // namespace

int main(int argc, char** argv) {
    const std::uint64_t packets = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000000;
    const std::uint64_t flows = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000;
    std::vector<fa_record> recs(4096);
    auto fill = [&](std::uint64_t i, fa_record& r) {
        const std::uint64_t f = (i * 2654435761u) % flows;
        r = fa_record{};
        r.src_ip[10] = r.src_ip[11] = r.dst_ip[10] = r.dst_ip[11] = 0xff;
        r.src_ip[12] = 10, r.src_ip[13] = static_cast<std::uint8_t>(f >> 16), r.src_ip[14] = static_cast<std::uint8_t>(f >> 8),
        r.src_ip[15] = static_cast<std::uint8_t>(f);
        r.dst_ip[12] = 192, r.dst_ip[15] = 1;
        r.ip_version = 4;
        r.proto = (f & 1) ? 6 : 17;
        r.src_port = static_cast<std::uint16_t>(1024 + (f >> 24));
        r.dst_port = 443;
        r.packets = 1;
        r.bytes = 64 + (i & 1023);
        r.time_start_us = r.time_end_us = 1700000000000000ull + i;
    };
    for (int version : {5, 9, 10}) {
        NetflowConfig cfg;
        cfg.version = version;
        CountSink sink;
        NetflowEncoder enc(cfg, sink);
        Timeouts t;
        FlowCache cache(t, flows);
        ToEncoder to;
        to.enc = &enc;
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < packets; i += recs.size()) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(recs.size(), packets - i));
            for (std::size_t k = 0; k < n; ++k) fill(i + k, recs[k]);
            for (std::size_t k = 0; k < n; ++k) cache.add(recs[k], to);
        }
        cache.expire(0, true, to);
        enc.flush(0);
        const double s = seconds_since(t0);
        std::printf("nfprobe v%-2d cache+encode: %llu packets, %llu flows, %llu datagrams in %.3f s: %.2f Mpackets/s, %.2f Mflows/s\n",
                    version, static_cast<unsigned long long>(packets), static_cast<unsigned long long>(enc.stats().flows),
                    static_cast<unsigned long long>(sink.n), s, packets / s / 1e6, enc.stats().flows / s / 1e6);
    }
    {
        CountSink sink;
        SflowConfig cfg;
        SflowEncoder enc(cfg, sink);
        const auto t0 = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < packets; i += recs.size()) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(recs.size(), packets - i));
            for (std::size_t k = 0; k < n; ++k) fill(i + k, recs[k]);
            SampleInfo info;
            for (std::size_t k = 0; k < n; ++k) {
                info.frame_length = static_cast<std::uint32_t>(recs[k].bytes);
                enc.add_flow(recs[k], info, 0);
            }
        }
        enc.flush();
        const double s = seconds_since(t0);
        std::printf("sfprobe encode: %llu samples, %llu datagrams in %.3f s: %.2f Msamples/s\n",
                    static_cast<unsigned long long>(enc.stats().flow_samples), static_cast<unsigned long long>(sink.n), s,
                    enc.stats().flow_samples / s / 1e6);
    }
    return 0;
}
