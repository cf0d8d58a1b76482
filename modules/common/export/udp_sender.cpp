// SPDX-License-Identifier: GPL-2.0-or-later
// Non-blocking UDP sender and receiver-address parsing.
#include "udp_sender.hpp"

#include <arpa/inet.h>  // inet_ntop
#include <fcntl.h>      // fcntl, O_NONBLOCK
#include <netdb.h>      // getaddrinfo
#include <netinet/in.h> // sockaddr_in, sockaddr_in6
#include <netinet/udp.h> // UDP_SEGMENT
#include <sys/uio.h>    // iovec
#include <unistd.h>     // close

#include <algorithm>  // std::min
#include <cerrno>     // errno
#include <cstring>    // std::memcpy, std::strerror
#include <stdexcept>  // std::runtime_error

namespace flowacct::exporter {

bool parse_endpoint(const std::string& text, sockaddr_storage& out, socklen_t& len, std::string& error) {
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        std::size_t close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            error = "expected [IPv6]:port, got '" + text + "'";
            return false;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        std::size_t colon = text.rfind(':');
        if (colon == std::string::npos || text.find(':') != colon) {
            error = "expected address:port (IPv6 as [addr]:port), got '" + text + "'";
            return false;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
        port.size() > 5 || std::stoul(port) == 0 || std::stoul(port) > 65535) {
        error = "expected address:port with a port 1-65535, got '" + text + "'";
        return false;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res) {
        error = "cannot resolve '" + host + "': " + gai_strerror(rc);
        return false;
    }
    std::memcpy(&out, res->ai_addr, res->ai_addrlen);
    len = static_cast<socklen_t>(res->ai_addrlen);
    freeaddrinfo(res);
    return true;
}

UdpSender::UdpSender(const sockaddr_storage& to, socklen_t to_len, const std::string& source_ip, bool gso)
    : gso_(gso) {
    fd_ = ::socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (!source_ip.empty()) {
        sockaddr_storage src{};
        socklen_t slen = 0;
        if (to.ss_family == AF_INET) {
            auto* a = reinterpret_cast<sockaddr_in*>(&src);
            a->sin_family = AF_INET;
            if (inet_pton(AF_INET, source_ip.c_str(), &a->sin_addr) != 1) slen = 0;
            else slen = sizeof *a;
        } else {
            auto* a = reinterpret_cast<sockaddr_in6*>(&src);
            a->sin6_family = AF_INET6;
            if (inet_pton(AF_INET6, source_ip.c_str(), &a->sin6_addr) != 1) slen = 0;
            else slen = sizeof *a;
        }
        if (slen == 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&src), slen) != 0) {
            int e = errno;
            ::close(fd_);
            fd_ = -1;
            throw std::runtime_error("cannot use source address '" + source_ip + "'" +
                                     (slen ? std::string(": ") + std::strerror(e)
                                           : std::string(": not an address of the receiver's family")));
        }
    }
    // Connected: the kernel keeps the route instead of looking it up for every datagram. A
    // receiver that is not listening yet is no error here (UDP connect sends nothing).
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&to), to_len) != 0) {
        int e = errno;
        ::close(fd_);
        fd_ = -1;
        throw std::runtime_error(std::string("connect: ") + std::strerror(e));
    }
}

UdpSender::~UdpSender() {
    if (fd_ >= 0) ::close(fd_);
}

UdpSender::Sent UdpSender::queue(const void* data, std::size_t len) {
    const std::size_t at = queued_.size();
    queued_.resize(at + len);
    std::memcpy(queued_.data() + at, data, len);
    spans_.emplace_back(at, len);
    return spans_.size() >= kQueued ? send_queued() : Sent{};
}

UdpSender::Sent UdpSender::send_queued() {
    Sent out;
    Run runs[kQueued];
    mmsghdr msgs[kQueued];
    iovec iov[kQueued];
    alignas(cmsghdr) unsigned char control[kQueued][CMSG_SPACE(sizeof(std::uint16_t))];
    std::size_t done = 0;
    bool retried = false;
    while (done < spans_.size()) {
        std::size_t n = 0;
        for (std::size_t i = done; i < spans_.size() && n < kQueued; ++n) {
            const Run& r = runs[n] = run_from(i);
            i += r.count;
            iov[n].iov_base = queued_.data() + spans_[r.first].first;
            iov[n].iov_len = r.bytes;
            msgs[n] = mmsghdr{};
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            if (r.count > 1) {
                msgs[n].msg_hdr.msg_control = control[n];
                msgs[n].msg_hdr.msg_controllen = sizeof control[n];
                cmsghdr* c = CMSG_FIRSTHDR(&msgs[n].msg_hdr);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
                const auto segment = static_cast<std::uint16_t>(r.segment);
                std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
            }
        }
        const int rc = ::sendmmsg(fd_, msgs, static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (rc > 0) {
            for (int i = 0; i < rc; ++i) {
                (msgs[i].msg_len == runs[i].bytes ? out.datagrams : out.dropped) += runs[i].count;
                done += runs[i].count;
            }
            continue;
        }
        const int e = errno;
        // A kernel without UDP GSO, or a route whose device cannot offload the checksum: every
        // datagram goes as its own message from now on.
        if (runs[0].count > 1 && (e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP)) {
            gso_ = false;
            gso_refusal_ = e;
            continue;
        }
        // The first message was refused. A connected socket reports an earlier datagram's ICMP
        // error (the receiver was not listening) on the next send, which then sends nothing:
        // once reported, it is tried again; any other refusal drops the message's datagrams.
        if (!retried && (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH)) {
            retried = true;
            continue;
        }
        out.dropped += runs[0].count;
        done += runs[0].count;
    }
    queued_.clear();
    spans_.clear();
    return out;
}

UdpSender::Run UdpSender::run_from(std::size_t first) const {
    Run r{first, 1, spans_[first].second, spans_[first].second};
    if (!gso_) return r;
    for (std::size_t i = first + 1; i < spans_.size() && r.count < kMaxSegments; ++i) {
        const std::size_t len = spans_[i].second;
        if (len > r.segment || r.bytes + len > kMaxGsoBytes) break;
        r.bytes += len;
        ++r.count;
        if (len < r.segment) break; // a shorter datagram ends its run
    }
    return r;
}

std::string UdpSender::take_gso_refusal(std::string_view key) {
    if (gso_refusal_ == 0) return {};
    const int e = gso_refusal_;
    gso_refusal_ = 0;
    return std::string(key) + ": the kernel refuses UDP GSO on this route (" + std::strerror(e) +
           "): one message per datagram from now on";
}

std::string UdpSender::local() const {
    sockaddr_storage a{};
    socklen_t l = sizeof a;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &l) != 0) return "?";
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a.ss_family == AF_INET) {
        auto* s = reinterpret_cast<sockaddr_in*>(&a);
        inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
        port = ntohs(s->sin_port);
    } else {
        auto* s = reinterpret_cast<sockaddr_in6*>(&a);
        inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
        port = ntohs(s->sin6_port);
    }
    return std::string(host) + ":" + std::to_string(port);
}

} // namespace flowacct::exporter
