// SPDX-License-Identifier: GPL-2.0-or-later
// UdpReceiver: socket setup, recvmmsg batches, SO_RXQ_OVFL drop counts, eventfd wake-up.
#include "udp_receiver.hpp"

#include <arpa/inet.h>    // inet_pton, htons, ntohs
#include <netinet/in.h>   // sockaddr_in, sockaddr_in6
#include <poll.h>         // poll
#include <sys/eventfd.h>  // eventfd
#include <unistd.h>       // close, read, write

#include <cerrno>         // errno
#include <cstring>        // std::memset, std::memcpy, std::strerror

#include <flowacct/sdk/module.hpp> // sdk::Error

#include "udp_socket.hpp"    // packet::fold_socket_drops, packet::read_socket_drops

namespace flowacct::sflow {

namespace {

constexpr std::size_t kControlBytes = CMSG_SPACE(sizeof(std::uint32_t));

int open_bound(int family, const sockaddr* addr, socklen_t addr_len, bool dual_stack) {
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (family == AF_INET6) {
        int v6only = dual_stack ? 0 : 1;
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    }
    if (::bind(fd, addr, addr_len) != 0) {
        int saved = errno;
        ::close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

} // namespace

UdpReceiver::UdpReceiver(const std::string& ip, std::uint16_t port, int rcvbuf_bytes) {
    sockaddr_in v4{};
    sockaddr_in6 v6{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    if (ip.empty()) {
        v6.sin6_addr = in6addr_any;
        fd_ = open_bound(AF_INET6, reinterpret_cast<sockaddr*>(&v6), sizeof v6, true);
        if (fd_ < 0) {
            v4.sin_addr.s_addr = htonl(INADDR_ANY);
            fd_ = open_bound(AF_INET, reinterpret_cast<sockaddr*>(&v4), sizeof v4, false);
        }
    } else if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) == 1) {
        fd_ = open_bound(AF_INET, reinterpret_cast<sockaddr*>(&v4), sizeof v4, false);
    } else if (inet_pton(AF_INET6, ip.c_str(), &v6.sin6_addr) == 1) {
        fd_ = open_bound(AF_INET6, reinterpret_cast<sockaddr*>(&v6), sizeof v6, false);
    } else {
        throw sdk::Error("expected an IPv4 or IPv6 address, got '" + ip + "'", "sfacctd_ip");
    }
    if (fd_ < 0) {
        throw sdk::Error("cannot bind UDP " + (ip.empty() ? std::string("*") : ip) + " port " + std::to_string(port) +
                             ": " + std::strerror(errno),
                         "sfacctd_port");
    }
    if (rcvbuf_bytes > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes);
    socklen_t len = sizeof rcvbuf_obtained_;
    ::getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_obtained_, &len);
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);

    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len);
    port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        ::close(fd_);
        throw sdk::Error(std::string("eventfd failed: ") + std::strerror(errno));
    }

    buffers_.resize(kBatchDatagrams * kMaxDatagramBytes);
    control_.resize(kBatchDatagrams * kControlBytes);
    msgs_.resize(kBatchDatagrams);
    iovs_.resize(kBatchDatagrams);
    names_.resize(kBatchDatagrams);
}

UdpReceiver::~UdpReceiver() {
    if (fd_ >= 0) ::close(fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

void UdpReceiver::wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

int UdpReceiver::receive(int timeout_ms) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0) return errno == EINTR ? 0 : -1;
    if (ready == 0) {
        // Idle: drops are read from the socket, as no datagram comes to carry them.
        std::uint32_t reading = 0;
        if (packet::read_socket_drops(fd_, reading)) packet::fold_socket_drops(kernel_drops_, reading);
        return 0;
    }
    if (fds[1].revents & POLLIN) {
        std::uint64_t count = 0;
        [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
        return 0;
    }
    if (!(fds[0].revents & POLLIN)) return 0;
    for (std::size_t i = 0; i < kBatchDatagrams; ++i) {
        iovs_[i].iov_base = buffers_.data() + i * kMaxDatagramBytes;
        iovs_[i].iov_len = kMaxDatagramBytes;
        msghdr& h = msgs_[i].msg_hdr;
        std::memset(&h, 0, sizeof h);
        h.msg_name = &names_[i];
        h.msg_namelen = sizeof names_[i];
        h.msg_iov = &iovs_[i];
        h.msg_iovlen = 1;
        h.msg_control = control_.data() + i * kControlBytes;
        h.msg_controllen = kControlBytes;
        msgs_[i].msg_len = 0;
    }
    int n = ::recvmmsg(fd_, msgs_.data(), static_cast<unsigned>(kBatchDatagrams), MSG_DONTWAIT, nullptr);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    // The drop count rides on each datagram; the last one carries the newest value.
    for (int i = n - 1; i >= 0; --i) {
        msghdr& h = msgs_[static_cast<std::size_t>(i)].msg_hdr;
        bool found = false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                std::uint32_t drops = 0;
                std::memcpy(&drops, CMSG_DATA(c), sizeof drops);
                packet::fold_socket_drops(kernel_drops_, drops);
                found = true;
                break;
            }
        }
        if (found) break;
    }
    return n;
}

} // namespace flowacct::sflow
