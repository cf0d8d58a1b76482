// SPDX-License-Identifier: GPL-2.0-or-later
// What the UDP inputs (netflow, sflow) need of their sockets beyond Boost.Asio: the sender of a
// datagram as a 16-byte address, and the kernel's count of datagrams a socket dropped (its buffer
// was full), read two ways: with each datagram (SO_RXQ_OVFL) and at any time (SO_MEMINFO). Both
// read the same 32-bit running counter, sk_drops; a reader keeps the newest value it has seen.
#pragma once

#include <arpa/inet.h>        // ntohs
#include <linux/sock_diag.h>  // SK_MEMINFO_DROPS, SK_MEMINFO_VARS
#include <netinet/in.h>       // sockaddr_in, sockaddr_in6
#include <sys/socket.h>       // getsockopt, SOL_SOCKET, SO_MEMINFO, sockaddr_storage

#include <cstdint>            // std::uint32_t
#include <cstring>            // std::memcpy, std::memset

namespace flowacct::packet {

/// The sender in `from` as a 16-byte address (IPv4 mapped) and a port; false for a family that
/// is neither IPv4 nor IPv6 (then `addr` is zeroed and `port` 0).
inline bool source_address(const sockaddr_storage& from, std::uint8_t addr[16], std::uint16_t& port) {
    std::memset(addr, 0, 16);
    port = 0;
    if (from.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(from);
        addr[10] = addr[11] = 0xFF;
        std::memcpy(addr + 12, &a.sin_addr, 4);
        port = ntohs(a.sin_port);
        return true;
    }
    if (from.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(from);
        std::memcpy(addr, &a.sin6_addr, 16);
        port = ntohs(a.sin6_port);
        return true;
    }
    return false;
}

/// Folds a reading of the counter into `seen` and returns the drops it adds (0 for a reading
/// older than one already seen: a datagram's SO_RXQ_OVFL value may predate a SO_MEMINFO read).
/// The counter wraps at 2^32: readings compare by difference.
inline std::uint32_t fold_socket_drops(std::uint32_t& seen, std::uint32_t reading) {
    const auto ahead = static_cast<std::int32_t>(reading - seen);
    if (ahead <= 0) return 0;
    seen = reading;
    return static_cast<std::uint32_t>(ahead);
}

/// The socket's drop counter now, without waiting for a datagram to carry it; false where the
/// kernel has no SO_MEMINFO (before 4.12).
inline bool read_socket_drops(int fd, std::uint32_t& reading) {
    std::uint32_t info[SK_MEMINFO_VARS] = {};
    socklen_t len = sizeof info;
    if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info, &len) != 0 || len <= SK_MEMINFO_DROPS * sizeof info[0]) return false;
    reading = info[SK_MEMINFO_DROPS];
    return true;
}

} // namespace flowacct::packet
