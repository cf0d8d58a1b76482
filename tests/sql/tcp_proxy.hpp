// SPDX-License-Identifier: GPL-2.0-or-later
// A TCP proxy on 127.0.0.1 for outage tests: forwards to a database server until set_down(true)
// cuts every connection and refuses new ones, as a stopped server does; set_down(false) is the
// server starting again.
#pragma once

#include <arpa/inet.h>   // inet_pton, htons
#include <netinet/in.h>  // sockaddr_in
#include <poll.h>        // poll
#include <sys/socket.h>  // socket, accept
#include <unistd.h>      // close, read, write

#include <atomic>        // std::atomic
#include <mutex>         // std::mutex
#include <string>        // std::string
#include <thread>        // std::thread
#include <utility>       // std::pair
#include <vector>        // std::vector

namespace flowacct::sqltest {

class TcpProxy {
public:
    TcpProxy(std::string target_host, int target_port) : host_(std::move(target_host)), port_(target_port) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = 0;
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(listen_fd_, 64);
        socklen_t len = sizeof a;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        listen_port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { loop(); });
    }
    ~TcpProxy() {
        stop_ = true;
        thread_.join();
        for (auto& p : pairs_) close_pair(p);
        ::close(listen_fd_);
    }
    int port() const { return listen_port_; }
    void set_down(bool down) { down_ = down; }

private:
    void close_pair(std::pair<int, int>& p) {
        if (p.first >= 0) ::close(p.first);
        if (p.second >= 0) ::close(p.second);
        p = {-1, -1};
    }

    int connect_target() {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port_));
        inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    void loop() {
        char buf[65536];
        while (!stop_) {
            if (down_) {
                for (auto& p : pairs_) close_pair(p);
                pairs_.clear();
            }
            std::vector<pollfd> fds;
            fds.push_back({listen_fd_, POLLIN, 0});
            for (auto& p : pairs_) {
                fds.push_back({p.first, POLLIN, 0});
                fds.push_back({p.second, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
            const std::size_t polled = pairs_.size(); // pairs accepted below have no pollfd yet
            if (fds[0].revents & POLLIN) {
                int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0) {
                    int t = down_ ? -1 : connect_target();
                    if (t < 0) ::close(c);
                    else pairs_.push_back({c, t});
                }
            }
            for (std::size_t i = 0; i < polled; ++i) {
                for (int side = 0; side < 2; ++side) {
                    const pollfd& f = fds[1 + i * 2 + side];
                    if (!(f.revents & (POLLIN | POLLHUP | POLLERR))) continue;
                    int from = side == 0 ? pairs_[i].first : pairs_[i].second;
                    int to = side == 0 ? pairs_[i].second : pairs_[i].first;
                    if (from < 0) continue;
                    ssize_t n = ::read(from, buf, sizeof buf);
                    bool ok = n > 0;
                    for (ssize_t done = 0; ok && done < n;) {
                        ssize_t w = ::send(to, buf + done, static_cast<std::size_t>(n - done), MSG_NOSIGNAL);
                        if (w <= 0) ok = false;
                        else done += w;
                    }
                    if (!ok) close_pair(pairs_[i]);
                }
            }
            std::vector<std::pair<int, int>> live;
            for (auto& p : pairs_)
                if (p.first >= 0) live.push_back(p);
            pairs_.swap(live);
        }
    }

    std::string host_;
    int port_;
    int listen_fd_ = -1;
    int listen_port_ = 0;
    std::atomic<bool> stop_{false}, down_{false};
    std::vector<std::pair<int, int>> pairs_;
    std::thread thread_;
};

} // namespace flowacct::sqltest
