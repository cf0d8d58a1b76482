// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output's unix-socket server: non-blocking reads on one poll thread, answers on
// workers, every client bounded in time and size.
#include "query_server.hpp"

#include <fcntl.h>       // fcntl, O_NONBLOCK
#include <poll.h>        // poll
#include <sys/socket.h>  // socket, bind, accept4, SO_PEERCRED
#include <sys/stat.h>    // lstat, chmod
#include <sys/un.h>      // sockaddr_un
#include <unistd.h>      // close, unlink, pipe2, geteuid

#include <cerrno>        // errno
#include <chrono>        // std::chrono::steady_clock
#include <cstring>       // std::strerror, std::memcpy
#include <stdexcept>     // std::runtime_error

namespace flowacct::memory {

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

bool send_all(int fd, const std::string& data, std::uint64_t deadline_ms) {
    std::size_t off = 0;
    while (off < data.size()) {
        if (now_ms() > deadline_ms) return false;
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false; // includes EAGAIN after SO_SNDTIMEO: a reader too slow
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

namespace {

sockaddr_un make_addr(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof a.sun_path)
        throw std::runtime_error("imt_path '" + path + "' must be 1 to " + std::to_string(sizeof a.sun_path - 1) +
                                 " bytes long for a unix socket");
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

// True if a server answers on `path` (so it must not be removed).
bool someone_listens(const sockaddr_un& addr) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return live;
}

} // namespace

QueryServer::QueryServer(std::string path, unsigned mode, Handler handler, ServerCounters counters, Log warn,
                         ServerLimits limits)
    : path_(std::move(path)), handler_(std::move(handler)), counters_(counters), warn_(std::move(warn)),
      limits_(limits) {
    const sockaddr_un addr = make_addr(path_);
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error("imt_path '" + path_ + "' exists and is not a socket; refusing to replace it");
        if (someone_listens(addr))
            throw std::runtime_error("imt_path '" + path_ + "' is in use by a running server");
        ::unlink(path_.c_str()); // a stale socket of a previous run
    }
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listen_fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    // Bind under a temporary name, set the mode, then rename: the socket never appears at
    // `path` with the umask's wider mode. Falls back to bind + chmod when the name won't fit.
    std::string tmp = path_ + ".~" + std::to_string(::getpid() % 100000);
    bool via_tmp = tmp.size() < sizeof addr.sun_path;
    const sockaddr_un bind_addr = via_tmp ? make_addr(tmp) : addr;
    if (via_tmp) ::unlink(tmp.c_str());
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&bind_addr), sizeof bind_addr) != 0) {
        int e = errno;
        ::close(listen_fd_);
        throw std::runtime_error("cannot bind imt_path '" + path_ + "': " + std::strerror(e));
    }
    const char* bound = via_tmp ? tmp.c_str() : path_.c_str();
    if (::chmod(bound, mode) != 0 || ::listen(listen_fd_, 128) != 0 ||
        (via_tmp && ::rename(tmp.c_str(), path_.c_str()) != 0)) {
        int e = errno;
        ::unlink(bound);
        ::close(listen_fd_);
        throw std::runtime_error("cannot set up imt_path '" + path_ + "': " + std::strerror(e));
    }
    if (::lstat(path_.c_str(), &st) == 0) {
        dev_ = st.st_dev;
        ino_ = st.st_ino;
    }
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
        int e = errno;
        ::unlink(path_.c_str());
        ::close(listen_fd_);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(e));
    }
    poller_ = std::thread([this] { poll_loop(); });
    for (unsigned i = 0; i < limits_.workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

QueryServer::~QueryServer() {
    stop_ = true;
    char b = 1;
    (void)!::write(wake_[1], &b, 1);
    jobs_cv_.notify_all();
    if (poller_.joinable()) poller_.join();
    for (auto& w : workers_)
        if (w.joinable()) w.join();
    for (auto& c : clients_) ::close(c.fd);
    for (auto& j : jobs_) ::close(j.fd);
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    // Remove the socket only if it is still the one we created.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev_ && st.st_ino == ino_)
        ::unlink(path_.c_str());
}

void QueryServer::bump(std::uint64_t* slot) {
    if (slot) __atomic_fetch_add(slot, 1, __ATOMIC_RELAXED);
}

void QueryServer::reply_error_and_close(int fd, const std::string& message) {
    bump(counters_.query_errors);
    std::string frame = proto::response_header(proto::Status::Error, message.size()) + message;
    // Best effort on a non-blocking socket: a client that does not read just misses it.
    (void)!::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    active_.fetch_sub(1);
}

void QueryServer::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            // Out of descriptors: the pending connection stays readable, so stop polling the
            // listener for a moment rather than spin on it.
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_paused_until_ms_ = now_ms() + 100;
            return;
        }
        if (active_.load() >= limits_.max_clients) {
            bump(counters_.query_rejected);
            ::close(fd);
            continue;
        }
        active_.fetch_add(1);
        clients_.push_back(Client{fd, {}, now_ms() + limits_.request_deadline_ms});
    }
}

bool QueryServer::read_client(Client& c) {
    char buf[16384];
    for (;;) {
        std::size_t want = std::min<std::size_t>(sizeof buf, c.need - c.buf.size());
        ssize_t n = ::recv(c.fd, buf, want, 0);
        if (n == 0) {
            // Hung up mid-request: nobody to answer.
            bump(counters_.query_errors);
            ::close(c.fd);
            active_.fetch_sub(1);
            return false;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            bump(counters_.query_errors);
            ::close(c.fd);
            active_.fetch_sub(1);
            return false;
        }
        c.buf.append(buf, static_cast<std::size_t>(n));
        if (c.buf.size() < c.need) continue;
        std::string error;
        const auto* data = reinterpret_cast<const std::uint8_t*>(c.buf.data());
        if (c.need == proto::kRequestHeaderBytes) {
            std::uint32_t body_len = 0;
            if (proto::check_request_header(data, c.buf.size(), body_len, error) != proto::Decode::Ok) {
                reply_error_and_close(c.fd, error);
                return false;
            }
            c.need = static_cast<std::uint32_t>(proto::kRequestHeaderBytes + body_len);
            if (c.buf.size() < c.need) continue;
        }
        proto::Request req;
        if (proto::decode_request(data, c.buf.size(), req, error) != proto::Decode::Ok) {
            reply_error_and_close(c.fd, error);
            return false;
        }
        Peer peer;
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(c.fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            peer.uid = cred.uid;
            peer.privileged = cred.uid == 0 || cred.uid == ::geteuid();
        }
        {
            std::lock_guard<std::mutex> g(jobs_mu_);
            jobs_.push_back(Job{c.fd, std::move(req), peer});
        }
        jobs_cv_.notify_one();
        return false;
    }
}

void QueryServer::poll_loop() {
    std::vector<pollfd> fds;
    while (!stop_) {
        fds.clear();
        fds.push_back({wake_[0], POLLIN, 0});
        const bool listening = now_ms() >= accept_paused_until_ms_;
        fds.push_back({listening ? listen_fd_ : -1, POLLIN, 0});
        std::uint64_t now = now_ms();
        std::uint64_t next_deadline = listening ? now + 1000 : accept_paused_until_ms_;
        for (auto& c : clients_) {
            fds.push_back({c.fd, POLLIN, 0});
            next_deadline = std::min(next_deadline, c.deadline_ms);
        }
        int timeout = next_deadline > now ? static_cast<int>(next_deadline - now) : 0;
        int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR) {
            warn_(std::string("query socket poll failed: ") + std::strerror(errno));
            return;
        }
        if (stop_) break;
        // Serve readable clients first, then drop the ones past their deadline.
        std::vector<Client> keep;
        keep.reserve(clients_.size());
        now = now_ms();
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            Client& c = clients_[i];
            const short rev = fds[i + 2].revents;
            if (rev & (POLLIN | POLLHUP | POLLERR)) {
                if (!read_client(c)) continue;
            }
            if (now >= c.deadline_ms) {
                reply_error_and_close(c.fd, "request not complete within " +
                                                std::to_string(limits_.request_deadline_ms) + " ms");
                continue;
            }
            keep.push_back(std::move(c));
        }
        clients_.swap(keep);
        if (fds[1].revents & POLLIN) accept_clients();
        if (fds[0].revents & POLLIN) {
            char b[64];
            while (::read(wake_[0], b, sizeof b) > 0) {
            }
        }
    }
}

void QueryServer::worker_loop() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> g(jobs_mu_);
            jobs_cv_.wait(g, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        std::string response;
        try {
            response = handler_(job.request, job.peer);
        } catch (const std::exception& e) {
            // Out of memory building a huge answer, for instance: this client gets an error,
            // the daemon goes on.
            std::string m = std::string("query failed: ") + e.what();
            response = proto::response_header(proto::Status::Error, m.size()) + m;
        }
        bump(counters_.queries);
        // Blocking sends, each bounded by SO_SNDTIMEO, the whole reply by a deadline.
        int flags = ::fcntl(job.fd, F_GETFL);
        ::fcntl(job.fd, F_SETFL, flags & ~O_NONBLOCK);
        timeval tv{static_cast<time_t>(limits_.send_timeout_ms / 1000),
                   static_cast<suseconds_t>((limits_.send_timeout_ms % 1000) * 1000)};
        ::setsockopt(job.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (!send_all(job.fd, response, now_ms() + limits_.response_deadline_ms)) bump(counters_.query_errors);
        ::close(job.fd);
        active_.fetch_sub(1);
    }
}

} // namespace flowacct::memory
