// SPDX-License-Identifier: GPL-2.0-or-later
// Non-blocking UDP sender of an exporter: one socket, one receiver, drops counted, never waits.
#pragma once

#include <sys/socket.h> // sockaddr_storage, socklen_t

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string

namespace flowacct::exporter {

/// Parses "a.b.c.d:port", "[v6]:port" or "host:port" (resolved once, numeric first). Returns
/// false and fills `error` when it cannot.
bool parse_endpoint(const std::string& text, sockaddr_storage& out, socklen_t& len, std::string& error);

/// Owns the socket. Built on the host's main thread (create()), used on the pipeline thread.
class UdpSender {
public:
    /// Throws std::runtime_error when the socket cannot be made or `source_ip` cannot be bound.
    UdpSender(const sockaddr_storage& to, socklen_t to_len, const std::string& source_ip);
    ~UdpSender();
    UdpSender(const UdpSender&) = delete;
    UdpSender& operator=(const UdpSender&) = delete;

    /// Sends one datagram without blocking. Returns false when the kernel refused it (full
    /// socket buffer, unreachable receiver): the caller counts the drop.
    bool send(const void* data, std::size_t len);
    /// The local address (for logs).
    std::string local() const;

private:
    int fd_ = -1;
    sockaddr_storage to_{};
    socklen_t to_len_ = 0;
};

} // namespace flowacct::exporter
