// SPDX-License-Identifier: GPL-2.0-or-later
// The host's log: one line per event, `2026-05-01T10:00:00Z WARN [c/pgsql] message`, to stderr,
// a file (reopened on SIGHUP) or syslog. Thread-safe.
#pragma once

#include <atomic>       // std::atomic
#include <chrono>       // std::chrono::steady_clock
#include <cstdint>      // std::uint64_t
#include <cstdio>       // FILE
#include <mutex>        // std::mutex
#include <string>       // std::string

#include <flowacct/abi.h> // fa_log_level

namespace flowacct::host {

class Log {
public:
    static Log& instance();

    /// Where lines go. `file` empty and `syslog_facility` empty: stderr.
    void configure(const std::string& file, const std::string& syslog_facility, bool debug);
    /// Reopens the log file (SIGHUP, after logrotate). Thread-safe.
    void reopen();
    void write(fa_log_level level, const std::string& source, const std::string& message);
    bool debug_enabled() const { return debug_; }

private:
    Log() = default;
    std::mutex mu_;
    std::string path_;
    FILE* file_ = nullptr;
    bool syslog_ = false;
    bool debug_ = false;
};

inline void log_info(const std::string& m) { Log::instance().write(FA_LOG_INFO, "", m); }
inline void log_warn(const std::string& m) { Log::instance().write(FA_LOG_WARN, "", m); }
inline void log_error(const std::string& m) { Log::instance().write(FA_LOG_ERROR, "", m); }
inline void log_debug(const std::string& m) { Log::instance().write(FA_LOG_DEBUG, "", m); }

/// Lets one line through per interval and counts the others, for hot-path warnings.
class RateLimit {
public:
    explicit RateLimit(std::chrono::seconds interval = std::chrono::seconds(10)) : interval_(interval) {}
    /// True when a line may be written now; `suppressed` is how many were held back since the last.
    bool allow(std::uint64_t& suppressed);

private:
    std::chrono::seconds interval_;
    std::atomic<std::int64_t> next_ns_{0};
    std::atomic<std::uint64_t> held_{0};
};

} // namespace flowacct::host
