// SPDX-License-Identifier: GPL-2.0-or-later
// The tee output's sockets.
#include "tee_sender.hpp"

#include <arpa/inet.h>   // inet_pton, inet_ntop, htons
#include <netinet/in.h>  // sockaddr_in, sockaddr_in6, IPPROTO_RAW
#include <unistd.h>      // close

#include <cerrno>        // errno
#include <cstring>       // std::memcpy, std::strerror
#include <stdexcept>     // std::runtime_error

namespace flowacct::tee {

namespace {

std::string describe(const sockaddr_storage& a) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a.ss_family == AF_INET) {
        const auto* s = reinterpret_cast<const sockaddr_in*>(&a);
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
        port = ntohs(s->sin_port);
        return std::string(host) + ":" + std::to_string(port);
    }
    const auto* s = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
    port = ntohs(s->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
}

// One's complement sum of 16-bit words, folded later.
std::uint32_t sum16(const std::uint8_t* p, std::size_t n, std::uint32_t acc) {
    for (std::size_t i = 0; i + 1 < n; i += 2) acc += (std::uint32_t{p[i]} << 8) | p[i + 1];
    if (n & 1) acc += std::uint32_t{p[n - 1]} << 8;
    return acc;
}
std::uint16_t fold(std::uint32_t acc) {
    while (acc >> 16) acc = (acc & 0xFFFF) + (acc >> 16);
    return static_cast<std::uint16_t>(~acc & 0xFFFF);
}
void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v & 0xFF);
}

} // namespace

UdpForwarder::UdpForwarder(const sockaddr_storage& to, socklen_t to_len, const std::string& source_ip,
                           std::uint16_t src_port, int sndbuf) {
    fd_ = ::socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    auto fail = [&](const std::string& what) {
        const int e = errno;
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error(what + ": " + std::strerror(e));
    };
    if (sndbuf > 0 && ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0) fail("SO_SNDBUF");
    if (!source_ip.empty() || src_port) {
        sockaddr_storage src{};
        socklen_t slen = 0;
        bool ok = true;
        if (to.ss_family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&src);
            a->sin_family = AF_INET;
            a->sin_port = htons(src_port);
            if (!source_ip.empty()) ok = inet_pton(AF_INET, source_ip.c_str(), &a->sin_addr) == 1;
            slen = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&src);
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(src_port);
            if (!source_ip.empty()) ok = inet_pton(AF_INET6, source_ip.c_str(), &a->sin6_addr) == 1;
            slen = sizeof *a;
        }
        if (!ok) {
            ::close(fd_);
            fd_ = -1;
            throw std::runtime_error("source address '" + source_ip + "' is not an address of the receiver's family");
        }
        // Pools sharing a src_port each get their own socket.
        const int on = 1;
        if (src_port) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (::bind(fd_, reinterpret_cast<const sockaddr*>(&src), slen) != 0)
            fail("cannot bind " + (source_ip.empty() ? std::string("*") : source_ip) + " port " + std::to_string(src_port));
    }
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to), to_len) != 0) fail("connect " + describe(to));
}

UdpForwarder::~UdpForwarder() {
    if (fd_ >= 0) ::close(fd_);
}

bool UdpForwarder::send(const std::uint8_t* data, std::size_t len) {
    return ::send(fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(len);
}

std::string UdpForwarder::local() const {
    sockaddr_storage a{};
    socklen_t l = sizeof a;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l) != 0) return "?";
    return describe(a);
}

RawForwarder::RawForwarder(int sndbuf) {
    fd4_ = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
    if (fd4_ < 0) {
        const int e = errno;
        throw std::runtime_error(std::string("transparent replication needs a raw socket: ") + std::strerror(e) +
                                 (e == EPERM || e == EACCES ? " (run as root or grant CAP_NET_RAW)" : ""));
    }
    // IPPROTO_RAW on IPv6 also means the packet carries its own IP header.
    fd6_ = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
    if (sndbuf > 0) {
        ::setsockopt(fd4_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        if (fd6_ >= 0) ::setsockopt(fd6_, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
}

RawForwarder::~RawForwarder() {
    if (fd4_ >= 0) ::close(fd4_);
    if (fd6_ >= 0) ::close(fd6_);
}

namespace {
// The UDP header and payload at `udp`; `pseudo` is the sum of the IP pseudo-header's addresses.
void put_udp(std::uint8_t* udp, const fa_datagram& d, const void* dst_port_be, std::size_t udp_len, std::uint32_t pseudo) {
    put16(udp, d.src_port);
    std::memcpy(udp + 2, dst_port_be, 2);
    put16(udp + 4, static_cast<std::uint16_t>(udp_len));
    std::memcpy(udp + 8, d.data, d.length);
    pseudo += 17 + static_cast<std::uint32_t>(udp_len);
    const std::uint16_t c = fold(sum16(udp, udp_len, pseudo));
    put16(udp + 6, c == 0 ? 0xFFFF : c);
}
} // namespace

std::size_t build_packet(const fa_datagram& d, const sockaddr_storage& to, std::vector<std::uint8_t>& out) {
    const std::size_t udp_len = 8 + std::size_t{d.length};
    if (d.ip_version == 4 && to.ss_family == AF_INET) {
        if (20 + udp_len > 65535) return 0;
        const auto& dst = reinterpret_cast<const sockaddr_in&>(to);
        out.assign(20 + udp_len, 0);
        std::uint8_t* ip = out.data();
        ip[0] = 0x45;
        put16(ip + 2, static_cast<std::uint16_t>(20 + udp_len));
        ip[6] = 0x40; // don't fragment: the kernel fills the id and the header checksum
        ip[8] = 64;
        ip[9] = 17;
        std::memcpy(ip + 12, d.exporter + 12, 4);
        std::memcpy(ip + 16, &dst.sin_addr, 4);
        put16(ip + 10, fold(sum16(ip, 20, 0)));
        put_udp(ip + 20, d, &dst.sin_port, udp_len, sum16(ip + 12, 8, 0)); // pseudo-header: the addresses
        return out.size();
    }
    if (d.ip_version == 6 && to.ss_family == AF_INET6) {
        if (udp_len > 65535) return 0;
        const auto& dst = reinterpret_cast<const sockaddr_in6&>(to);
        out.assign(40 + udp_len, 0);
        std::uint8_t* ip = out.data();
        ip[0] = 0x60;
        put16(ip + 4, static_cast<std::uint16_t>(udp_len));
        ip[6] = 17;
        ip[7] = 64;
        std::memcpy(ip + 8, d.exporter, 16);
        std::memcpy(ip + 24, &dst.sin6_addr, 16);
        put_udp(ip + 40, d, &dst.sin6_port, udp_len, sum16(ip + 8, 32, 0));
        return out.size();
    }
    return 0;
}

bool RawForwarder::send(const fa_datagram& d, const sockaddr_storage& to) {
    const std::size_t n = build_packet(d, to, packet_);
    if (n == 0) return false;
    int fd = to.ss_family == AF_INET ? fd4_ : fd6_;
    if (fd < 0) return false;
    // The port of a raw socket's destination must be 0; the UDP header carries the real one.
    sockaddr_storage dst = to;
    socklen_t len = 0;
    if (to.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in&>(dst).sin_port = 0;
        len = sizeof(sockaddr_in);
    } else {
        reinterpret_cast<sockaddr_in6&>(dst).sin6_port = 0;
        len = sizeof(sockaddr_in6);
    }
    return ::sendto(fd, packet_.data(), n, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&dst), len) ==
           static_cast<ssize_t>(n);
}

} // namespace flowacct::tee
