// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-gen-sflow: writes a deterministic sFlow v5 workload as a pcap savefile of UDP
// datagrams to 127.0.0.1:6343, or sends it to a UDP address at a given rate.
#include <arpa/inet.h>   // inet_pton, htons
#include <netinet/in.h>  // sockaddr_in, sockaddr_in6
#include <sys/socket.h>  // socket, sendto
#include <unistd.h>      // close

#include <chrono>        // std::chrono::steady_clock
#include <cstdio>        // std::fopen, std::fwrite, std::fprintf
#include <cstdlib>       // std::strtoull
#include <cstring>       // std::strcmp
#include <string>        // std::string
#include <thread>        // std::this_thread::sleep_until

#include "workload.hpp"  // bench::Workload

namespace {

using flowacct::sflow::bench::Workload;
using flowacct::sflow::bench::WorkloadOptions;
namespace encode = flowacct::sflow::encode;

void usage() {
    std::fprintf(stderr,
                 "usage: flowacct-gen-sflow [options] (--pcap FILE | --send HOST:PORT)\n"
                 "  --samples N          flow samples in total (100000)\n"
                 "  --keys N             distinct flow keys (1000)\n"
                 "  --per-datagram N     flow samples per datagram (8)\n"
                 "  --rate N             sampling rate written in the samples (1)\n"
                 "  --agents N           agents, round robin (1)\n"
                 "  --ipv6-agents        agents have IPv6 addresses\n"
                 "  --ipv6-flows         sampled packets are IPv6\n"
                 "  --expanded           expanded flow samples\n"
                 "  --sampled-ip         sampled IPv4/IPv6 records instead of raw packet headers\n"
                 "  --counter-every N    a counter sample every N datagrams, 0 = none (16)\n"
                 "  --seed N             random seed (42)\n"
                 "  --pcap FILE          write a pcap savefile (Ethernet, UDP to 127.0.0.1:6343)\n"
                 "  --send HOST:PORT     send over UDP ([v6addr]:port for IPv6)\n"
                 "  --pps N              datagrams per second when sending, 0 = as fast as possible (0)\n");
}

// pcap savefile: global header, then per frame a record header and Ethernet/IPv4/UDP.
bool write_pcap(const std::string& path, Workload& w) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        return false;
    }
    const std::uint32_t global[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
    std::fwrite(global, 1, 4, f);
    const std::uint16_t ver[2] = {2, 4};
    std::fwrite(ver, 2, 2, f);
    std::fwrite(&global[2], 4, 4, f);
    encode::Bytes dgram, frame;
    std::uint64_t ts_us = 1700000000ull * 1000000;
    std::uint64_t n = 0;
    while (w.next(dgram)) {
        frame.clear();
        const std::uint8_t mac[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        encode::raw(frame, mac, 12);
        encode::u16(frame, 0x0800);
        const std::size_t ip_at = frame.size();
        const auto ip_len = static_cast<std::uint16_t>(20 + 8 + dgram.size());
        frame.push_back(0x45);
        frame.push_back(0);
        encode::u16(frame, ip_len);
        encode::u16(frame, static_cast<std::uint16_t>(n));
        encode::u16(frame, 0x4000);
        frame.push_back(64);
        frame.push_back(17);
        encode::u16(frame, 0);
        const std::uint8_t lo[4] = {127, 0, 0, 1};
        encode::raw(frame, lo, 4);
        encode::raw(frame, lo, 4);
        const std::uint16_t sum = encode::ip_checksum(frame.data() + ip_at, 20);
        frame[ip_at + 10] = static_cast<std::uint8_t>(sum >> 8);
        frame[ip_at + 11] = static_cast<std::uint8_t>(sum);
        encode::u16(frame, static_cast<std::uint16_t>(40000 + w.last_agent() % 20000));
        encode::u16(frame, 6343);
        encode::u16(frame, static_cast<std::uint16_t>(8 + dgram.size()));
        encode::u16(frame, 0); // no UDP checksum (allowed over IPv4)
        encode::raw(frame, dgram.data(), dgram.size());
        const std::uint32_t rec[4] = {static_cast<std::uint32_t>(ts_us / 1000000), static_cast<std::uint32_t>(ts_us % 1000000),
                                      static_cast<std::uint32_t>(frame.size()), static_cast<std::uint32_t>(frame.size())};
        std::fwrite(rec, 4, 4, f);
        std::fwrite(frame.data(), 1, frame.size(), f);
        ts_us += 1000;
        ++n;
    }
    std::fclose(f);
    std::fprintf(stderr, "wrote %llu datagrams to %s\n", static_cast<unsigned long long>(n), path.c_str());
    return true;
}

bool send_udp(const std::string& target, std::uint64_t pps, Workload& w) {
    std::string host, port;
    if (!target.empty() && target[0] == '[') {
        const auto close = target.find(']');
        if (close == std::string::npos || close + 1 >= target.size() || target[close + 1] != ':') return false;
        host = target.substr(1, close - 1);
        port = target.substr(close + 2);
    } else {
        const auto colon = target.rfind(':');
        if (colon == std::string::npos) return false;
        host = target.substr(0, colon);
        port = target.substr(colon + 1);
    }
    sockaddr_storage dst{};
    socklen_t dst_len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&dst);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&dst);
    const auto p = static_cast<std::uint16_t>(std::strtoul(port.c_str(), nullptr, 10));
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(p);
        dst_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(p);
        dst_len = sizeof *v6;
    } else {
        std::fprintf(stderr, "bad address '%s'\n", host.c_str());
        return false;
    }
    const int fd = ::socket(dst.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        std::perror("socket");
        return false;
    }
    encode::Bytes dgram;
    std::uint64_t n = 0;
    const auto start = std::chrono::steady_clock::now();
    while (w.next(dgram)) {
        if (pps) std::this_thread::sleep_until(start + std::chrono::nanoseconds(n * 1'000'000'000ull / pps));
        if (::sendto(fd, dgram.data(), dgram.size(), 0, reinterpret_cast<sockaddr*>(&dst), dst_len) < 0) std::perror("sendto");
        ++n;
    }
    ::close(fd);
    std::fprintf(stderr, "sent %llu datagrams to %s\n", static_cast<unsigned long long>(n), target.c_str());
    return true;
}

} // namespace

int main(int argc, char** argv) {
    WorkloadOptions o;
    std::string pcap, send;
    std::uint64_t pps = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::uint64_t {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return std::strtoull(argv[++i], nullptr, 10);
        };
        if (a == "--samples") o.samples = value();
        else if (a == "--keys") o.keys = static_cast<std::uint32_t>(value());
        else if (a == "--per-datagram") o.samples_per_datagram = static_cast<std::uint32_t>(value());
        else if (a == "--rate") o.sampling_rate = static_cast<std::uint32_t>(value());
        else if (a == "--agents") o.agents = static_cast<std::uint32_t>(value());
        else if (a == "--ipv6-agents") o.ipv6_agents = true;
        else if (a == "--ipv6-flows") o.ipv6_flows = true;
        else if (a == "--expanded") o.expanded = true;
        else if (a == "--sampled-ip") o.sampled_ip = true;
        else if (a == "--counter-every") o.counter_every = static_cast<std::uint32_t>(value());
        else if (a == "--seed") o.seed = value();
        else if (a == "--pps") pps = value();
        else if (a == "--pcap" && i + 1 < argc) pcap = argv[++i];
        else if (a == "--send" && i + 1 < argc) send = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (pcap.empty() == send.empty()) {
        usage();
        return 2;
    }
    Workload w(o);
    const bool ok = pcap.empty() ? send_udp(send, pps, w) : write_pcap(pcap, w);
    return ok ? 0 : 1;
}
