// SPDX-License-Identifier: GPL-2.0-or-later
// The tee output's sockets: one connected UDP socket per receiver, or one raw socket per address
// family that keeps the exporter's source address and port (tee_transparent).
#pragma once

#include <sys/socket.h>   // sockaddr_storage

#include <cstddef>        // std::size_t
#include <cstdint>        // std::uint8_t
#include <string>         // std::string
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_datagram

namespace flowacct::tee {

/// A UDP socket connected to one receiver (so that an unreachable receiver's ICMP errors come
/// back as send errors). Made on the host's main thread or the pipeline thread (reload), used on
/// the pipeline thread.
class UdpForwarder {
public:
    /// `source_ip` "" = any; `src_port` 0 = any; `sndbuf` 0 = system default. Throws
    /// std::runtime_error when the socket cannot be made, bound or connected.
    UdpForwarder(const sockaddr_storage& to, socklen_t to_len, const std::string& source_ip, std::uint16_t src_port,
                 int sndbuf);
    ~UdpForwarder();
    UdpForwarder(const UdpForwarder&) = delete;
    UdpForwarder& operator=(const UdpForwarder&) = delete;

    /// Sends without blocking; false when the kernel refused it (full buffer, the receiver's
    /// port was unreachable for an earlier datagram).
    bool send(const std::uint8_t* data, std::size_t len);
    /// The local address:port (for logs).
    std::string local() const;

private:
    int fd_ = -1;
};

/// Raw IPv4 and IPv6 sockets writing whole IP/UDP packets with the exporter's address and port as
/// source. Needs CAP_NET_RAW.
class RawForwarder {
public:
    /// Throws std::runtime_error saying CAP_NET_RAW is needed when the sockets cannot be made.
    explicit RawForwarder(int sndbuf);
    ~RawForwarder();
    RawForwarder(const RawForwarder&) = delete;
    RawForwarder& operator=(const RawForwarder&) = delete;

    /// Sends `d` to `to` as if from the exporter. False when the kernel refused it or the
    /// exporter's family differs from the receiver's (a source address cannot be kept then).
    bool send(const fa_datagram& d, const sockaddr_storage& to);

private:
    int fd4_ = -1, fd6_ = -1;
    std::vector<std::uint8_t> packet_;
};

/// Builds the IPv4 or IPv6 packet RawForwarder sends into `out`; returns its length, 0 when the
/// families differ or the datagram is too large. Exposed for tests.
std::size_t build_packet(const fa_datagram& d, const sockaddr_storage& to, std::vector<std::uint8_t>& out);

} // namespace flowacct::tee
