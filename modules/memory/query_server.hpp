// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output's unix-socket server: accepts clients, reads one framed request each under
// a deadline and a size limit, and answers it on a small worker pool.
#pragma once

#include <sys/types.h>     // uid_t

#include <atomic>          // std::atomic
#include <condition_variable> // std::condition_variable
#include <cstdint>         // std::uint64_t
#include <deque>           // std::deque
#include <functional>      // std::function
#include <mutex>           // std::mutex
#include <string>          // std::string
#include <thread>          // std::thread
#include <vector>          // std::vector

#include "query_protocol.hpp" // proto::Request

namespace flowacct::memory {

struct ServerLimits {
    unsigned max_clients = 64;          // connections being read, queued or answered
    unsigned request_deadline_ms = 1000; // whole request, from accept (pmacct: 1 s)
    unsigned send_timeout_ms = 2000;     // per blocked send to a slow reader
    unsigned response_deadline_ms = 30000;
    unsigned workers = 2;
};

/// Counter slots the server bumps (owned by the host; may be null in unit tests).
struct ServerCounters {
    std::uint64_t* queries = nullptr;         // requests answered
    std::uint64_t* query_rejected = nullptr;  // connections refused: too many clients
    std::uint64_t* query_errors = nullptr;    // malformed, too large, too slow, or failed writes
};

/// The peer of a request, from SO_PEERCRED.
struct Peer {
    uid_t uid = static_cast<uid_t>(-1);
    bool privileged = false; // root or the daemon's own user
};

class QueryServer {
public:
    /// Builds the whole response frame for a decoded request. Called on a worker thread,
    /// possibly on several at once.
    using Handler = std::function<std::string(const proto::Request&, const Peer&)>;
    using Log = std::function<void(const std::string&)>;

    /// Binds `path` with `mode` and starts the threads. Called from the module's constructor on
    /// the host's main thread. Throws std::runtime_error naming the problem: a path too long for
    /// sun_path, a path that exists and is not a socket, a live server already on it, bind errors.
    QueryServer(std::string path, unsigned mode, Handler handler, ServerCounters counters, Log warn,
                ServerLimits limits = {});
    /// Stops and joins the threads, closes every connection and removes the socket if it is
    /// still ours.
    ~QueryServer();
    QueryServer(const QueryServer&) = delete;
    QueryServer& operator=(const QueryServer&) = delete;

    const std::string& path() const { return path_; }

private:
    struct Client {
        int fd;
        std::string buf;
        std::uint64_t deadline_ms;
        std::uint32_t need = proto::kRequestHeaderBytes;
    };
    struct Job {
        int fd;
        proto::Request request;
        Peer peer;
    };

    void poll_loop();
    void worker_loop();
    void accept_clients();
    bool read_client(Client& c); // false: the client is done (closed or handed off)
    void reply_error_and_close(int fd, const std::string& message);
    void bump(std::uint64_t* slot);

    std::string path_;
    Handler handler_;
    ServerCounters counters_;
    Log warn_;
    ServerLimits limits_;
    int listen_fd_ = -1;
    int wake_[2] = {-1, -1};
    dev_t dev_ = 0;
    ino_t ino_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<unsigned> active_{0};
    std::vector<Client> clients_; // poll thread only
    std::uint64_t accept_paused_until_ms_ = 0; // poll thread only
    std::mutex jobs_mu_;
    std::condition_variable jobs_cv_;
    std::deque<Job> jobs_;
    std::thread poller_;
    std::vector<std::thread> workers_;
};

/// Sends all of `data` on a blocking socket with SO_SNDTIMEO set; false on error or when
/// `deadline_ms` (monotonic) passes.
bool send_all(int fd, const std::string& data, std::uint64_t deadline_ms);
std::uint64_t now_ms();

} // namespace flowacct::memory
