// SPDX-License-Identifier: GPL-2.0-or-later
// UdpReceiver: a bound UDP socket (IPv4 or IPv6) read with recvmmsg, with kernel drop counting
// (SO_RXQ_OVFL) and a wake-up for a prompt stop.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t, std::uint16_t, std::uint32_t, std::uint64_t
#include <string>   // std::string
#include <vector>   // std::vector

#include <sys/socket.h> // struct mmsghdr

namespace flowacct::sflow {

class UdpReceiver {
public:
    /// Datagrams read per recvmmsg call, and the largest datagram kept whole.
    static constexpr std::size_t kBatchDatagrams = 32;
    static constexpr std::size_t kMaxDatagramBytes = 65536;

    /// Binds `ip` ("" = every address, IPv6 dual-stack when the host has IPv6) and `port`
    /// (0 = any free port). `rcvbuf_bytes` > 0 asks for that SO_RCVBUF. Setup time, main
    /// thread. Throws sdk::Error naming the key at fault ("sfacctd_ip", "sfacctd_port") when
    /// the address does not parse or the bind fails.
    UdpReceiver(const std::string& ip, std::uint16_t port, int rcvbuf_bytes);
    ~UdpReceiver();
    UdpReceiver(const UdpReceiver&) = delete;
    UdpReceiver& operator=(const UdpReceiver&) = delete;

    /// The port actually bound, the receive buffer the kernel granted (Linux reports twice the
    /// usable size; this is the value getsockopt returns).
    std::uint16_t local_port() const { return port_; }
    int rcvbuf_obtained() const { return rcvbuf_obtained_; }

    /// Waits up to `timeout_ms` for datagrams, then reads up to kBatchDatagrams without
    /// blocking. Input thread only. On return, datagram(i) for i < the result are valid until
    /// the next call. Returns 0 on timeout or wake(), -1 on a socket error (errno set).
    int receive(int timeout_ms);
    const std::uint8_t* datagram(int i) const { return buffers_.data() + static_cast<std::size_t>(i) * kMaxDatagramBytes; }
    std::size_t datagram_length(int i) const { return msgs_[static_cast<std::size_t>(i)].msg_len; }
    /// The sender's address of datagram(i) (AF_INET or AF_INET6), valid as datagram(i).
    const struct sockaddr_storage& source(int i) const { return names_[static_cast<std::size_t>(i)]; }

    /// Datagrams the kernel dropped for want of buffer space since the socket opened
    /// (SO_RXQ_OVFL; 0 where unsupported). Wraps at 2^32: callers take differences.
    std::uint32_t kernel_drops() const { return kernel_drops_; }

    /// Any thread: makes a pending or the next receive() return at once.
    void wake();

private:
    int fd_ = -1;
    int wake_fd_ = -1;
    std::uint16_t port_ = 0;
    int rcvbuf_obtained_ = 0;
    std::uint32_t kernel_drops_ = 0; // the kernel's own 32-bit running count
    std::vector<std::uint8_t> buffers_;
    std::vector<std::uint8_t> control_;
    std::vector<struct mmsghdr> msgs_;
    std::vector<struct iovec> iovs_;
    std::vector<struct sockaddr_storage> names_;
};

} // namespace flowacct::sflow
