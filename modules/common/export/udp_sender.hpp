// SPDX-License-Identifier: GPL-2.0-or-later
// Non-blocking UDP sender of an exporter: one socket, one receiver, drops counted, never waits.
#pragma once

#include <sys/socket.h> // sockaddr_storage, socklen_t

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint64_t
#include <string>   // std::string
#include <string_view> // std::string_view
#include <utility>  // std::pair
#include <vector>   // std::vector

namespace flowacct::exporter {

/// Parses "a.b.c.d:port", "[v6]:port" or "host:port" (resolved once, numeric first). Returns
/// false and fills `error` when it cannot.
bool parse_endpoint(const std::string& text, sockaddr_storage& out, socklen_t& len, std::string& error);

/// Owns the socket. Built on the host's main thread (create()), used on the pipeline thread.
class UdpSender {
public:
    /// Throws std::runtime_error when the socket cannot be made or `source_ip` cannot be bound.
    /// `gso`: runs of datagrams of one length go as one message (see queue()).
    UdpSender(const sockaddr_storage& to, socklen_t to_len, const std::string& source_ip, bool gso = true);
    ~UdpSender();
    UdpSender(const UdpSender&) = delete;
    UdpSender& operator=(const UdpSender&) = delete;

    struct Sent {
        std::uint64_t datagrams = 0;
        std::uint64_t dropped = 0;
        /// Adds the figures to an output's counter slots (datagrams_sent, send_drops).
        void add_to(std::uint64_t* sent_slot, std::uint64_t* dropped_slot) const {
            if (datagrams) __atomic_fetch_add(sent_slot, datagrams, __ATOMIC_RELAXED);
            if (dropped) __atomic_fetch_add(dropped_slot, dropped, __ATOMIC_RELAXED);
        }
    };
    /// Keeps a copy of one datagram to send with others in one system call (sendmmsg): on
    /// loopback the call itself cost a tenth of an exporter's time. With gso, consecutive
    /// datagrams of one length go as one message with UDP_SEGMENT (UDP GSO, Linux 4.18): the
    /// kernel's IP path runs once per message and cuts it into the datagrams after it (a capture
    /// on the sending host may show the message as one large packet; receivers get the
    /// datagrams). Sends the queue when it holds kQueued datagrams; what that sent is returned.
    Sent queue(const void* data, std::size_t len);
    /// Sends the queued datagrams now, without blocking. A datagram the kernel refuses (full
    /// socket buffer, unreachable receiver) is a drop: the caller counts it (Sent::add_to).
    Sent send_queued();
    /// The local address (for logs).
    std::string local() const;
    /// Once the kernel has refused UDP GSO, a log line saying so (naming the module's `key`),
    /// once; empty otherwise.
    std::string take_gso_refusal(std::string_view key);

private:
    static constexpr std::size_t kQueued = 32;
    // UDP GSO limits: segments per message (the kernel's UDP_MAX_SEGMENTS, 64 before Linux 6.9)
    // and bytes per message (an IP datagram's 65 535, less headers).
    static constexpr std::size_t kMaxSegments = 64, kMaxGsoBytes = 65000;

    // A run: datagrams end to end in queued_, all of `segment` bytes but the last (which may be
    // shorter). With UDP GSO a run is one message, cut into its datagrams by the kernel after the
    // IP path, which then runs once per run instead of once per datagram.
    struct Run {
        std::size_t first = 0, count = 0, bytes = 0, segment = 0;
    };
    // The run that starts at queued datagram `first`: it alone without GSO.
    Run run_from(std::size_t first) const;

    int fd_ = -1;
    bool gso_; // runs of equal datagrams go as one message (cleared when the kernel refuses)
    int gso_refusal_ = 0;
    std::vector<std::uint8_t> queued_;                        // the queued datagrams, end to end
    std::vector<std::pair<std::size_t, std::size_t>> spans_;  // each one's offset and length
};

} // namespace flowacct::exporter
