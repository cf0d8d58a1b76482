// SPDX-License-Identifier: GPL-2.0-or-later
// flowacct-gen-netflow: writes a deterministic NetFlow v5/v9/IPFIX workload to a pcap savefile
// or sends it over UDP at a given rate; prints the totals a collector must count.
#include <arpa/inet.h>  // inet_pton, htons
#include <netdb.h>      // getaddrinfo
#include <sys/socket.h> // socket, sendto
#include <unistd.h>     // close

#include <chrono>       // std::chrono
#include <cstdio>       // std::printf, std::fprintf
#include <cstdlib>      // std::strtoull
#include <cstring>      // std::strcmp
#include <string>       // std::string
#include <thread>       // std::this_thread::sleep_until

#include "netflow_workload.hpp" // make_workload, write_pcap

namespace {

void usage() {
    std::fprintf(stderr,
                 "usage: flowacct-gen-netflow [-v 5|9|10] [-n records] [-k keys] [-p records-per-datagram]\n"
                 "                            [-s seed] [-t template-every] [-i source-id] [-S sampling-rate]\n"
                 "                            (-w out.pcap [-P dst-port] | -u host:port [-r datagrams/s])\n"
                 "  -w writes Ethernet/IPv4/UDP frames 127.0.0.1 -> 127.0.0.1:dst-port (default 2100)\n"
                 "  -u sends the datagrams; -r 0 (default) sends as fast as possible\n"
                 "  -S 1-in-N sampling: v5 header; v9 options data for sampler 1, named in each data record;\n"
                 "     IPFIX options data (selector 1, packet interval/space) for the domain\n"
                 "  prints: datagrams=N records=N packets=N bytes=N\n");
}

bool num(const char* s, std::uint64_t& out) {
    char* end = nullptr;
    out = std::strtoull(s, &end, 10);
    return end && *end == '\0' && end != s;
}

int send_udp(const std::string& target, const std::vector<std::vector<std::uint8_t>>& dgrams, std::uint64_t rate) {
    const auto colon = target.rfind(':');
    if (colon == std::string::npos) return std::fprintf(stderr, "-u wants host:port\n"), 2;
    std::string host = target.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port = target.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* ai = nullptr;
    if (getaddrinfo(host.c_str(), port.c_str(), &hints, &ai) != 0 || !ai)
        return std::fprintf(stderr, "cannot resolve %s\n", target.c_str()), 2;
    const int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    if (fd < 0) return std::perror("socket"), 2;
    auto next = std::chrono::steady_clock::now();
    const auto gap = rate ? std::chrono::nanoseconds(1000000000ull / rate) : std::chrono::nanoseconds(0);
    std::uint64_t failed = 0;
    for (const auto& d : dgrams) {
        if (rate) {
            std::this_thread::sleep_until(next);
            next += gap;
        }
        if (sendto(fd, d.data(), d.size(), 0, ai->ai_addr, ai->ai_addrlen) < 0) ++failed;
    }
    close(fd);
    freeaddrinfo(ai);
    if (failed) std::fprintf(stderr, "%llu datagrams not sent\n", static_cast<unsigned long long>(failed));
    return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    flowacct::gen::WorkloadOptions o;
    std::string pcap, udp;
    std::uint64_t rate = 0, dst_port = 2100, v = 0;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") return usage(), 0;
        if (i + 1 >= argc) return usage(), 2;
        const char* val = argv[++i];
        if (a == "-w") pcap = val;
        else if (a == "-u") udp = val;
        else if (!num(val, v)) return usage(), 2;
        else if (a == "-v") o.version = static_cast<int>(v);
        else if (a == "-n") o.records = v;
        else if (a == "-k") o.keys = v;
        else if (a == "-p") o.per_datagram = static_cast<std::uint32_t>(v);
        else if (a == "-s") o.seed = v;
        else if (a == "-t") o.template_every = static_cast<std::uint32_t>(v);
        else if (a == "-i") o.source_id = static_cast<std::uint32_t>(v);
        else if (a == "-S") o.sampling_rate = static_cast<std::uint16_t>(v);
        else if (a == "-r") rate = v;
        else if (a == "-P") dst_port = v;
        else return usage(), 2;
    }
    if ((o.version != 5 && o.version != 9 && o.version != 10) || pcap.empty() == udp.empty() || dst_port > 65535)
        return usage(), 2;
    flowacct::gen::WorkloadTotals t;
    const auto dgrams = flowacct::gen::make_workload(o, t);
    int rc = 0;
    if (!pcap.empty()) {
        const std::string err = flowacct::gen::write_pcap(pcap, dgrams, 40000, static_cast<std::uint16_t>(dst_port), o.export_secs);
        if (!err.empty()) return std::fprintf(stderr, "%s\n", err.c_str()), 1;
    } else {
        rc = send_udp(udp, dgrams, rate);
    }
    std::printf("datagrams=%llu records=%llu packets=%llu bytes=%llu\n", static_cast<unsigned long long>(t.datagrams),
                static_cast<unsigned long long>(t.records), static_cast<unsigned long long>(t.packets),
                static_cast<unsigned long long>(t.bytes));
    return rc;
}
