// SPDX-License-Identifier: GPL-2.0-or-later
// The Prometheus endpoint (`metrics_listen: 127.0.0.1:9101`): every counter the host keeps, as
// text exposition format at GET /metrics. HTTP is parsed by Boost.Beast; one thread of its own,
// so a slow scraper never touches ingestion.
#pragma once

#include <atomic>    // std::atomic
#include <memory>    // std::unique_ptr
#include <string>    // std::string
#include <thread>    // std::thread

#include "registry.hpp" // CounterRegistry

namespace flowacct::host {

class MetricsServer {
public:
    /// Binds `listen` ("ADDR:PORT", "[V6]:PORT"). Throws ConfigError on a bad address or a failed bind.
    MetricsServer(const std::string& listen, CounterRegistry& counters);
    ~MetricsServer();
    void start();
    void stop();
    /// The port bound (for tests that ask for port 0).
    unsigned short port() const { return port_; }

    /// The exposition text of every counter.
    static std::string render(const CounterRegistry& counters);

private:
    void serve();
    struct Impl;
    std::unique_ptr<Impl> impl_;
    CounterRegistry& counters_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    unsigned short port_ = 0;
};

} // namespace flowacct::host
