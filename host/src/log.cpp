// SPDX-License-Identifier: GPL-2.0-or-later
// The host's log.
#include "log.hpp"

#include <syslog.h>  // openlog, syslog
#include <sys/stat.h> // umask
#include <ctime>     // gmtime_r, strftime

#include <map>       // std::map

namespace flowacct::host {

Log& Log::instance() {
    static Log log;
    return log;
}

void Log::configure(const std::string& file, const std::string& syslog_facility, bool debug) {
    std::lock_guard<std::mutex> g(mu_);
    debug_ = debug;
    if (file_) {
        std::fclose(file_);
        file_ = nullptr;
    }
    path_ = file;
    syslog_ = false;
    if (!syslog_facility.empty()) {
        static const std::map<std::string, int> facilities = {
            {"daemon", LOG_DAEMON}, {"user", LOG_USER}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
            {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
            {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};
        auto it = facilities.find(syslog_facility);
        openlog("flowacctd", LOG_PID | LOG_NDELAY, it == facilities.end() ? LOG_DAEMON : it->second);
        syslog_ = true;
    }
    if (!path_.empty()) {
        mode_t old = umask(077);
        file_ = std::fopen(path_.c_str(), "a");
        umask(old);
        if (file_) setvbuf(file_, nullptr, _IOLBF, 0);
    }
}

void Log::reopen() {
    std::lock_guard<std::mutex> g(mu_);
    if (path_.empty()) return;
    if (file_) std::fclose(file_);
    mode_t old = umask(077);
    file_ = std::fopen(path_.c_str(), "a");
    umask(old);
    if (file_) setvbuf(file_, nullptr, _IOLBF, 0);
}

void Log::write(fa_log_level level, const std::string& source, const std::string& message) {
    if (level == FA_LOG_DEBUG && !debug_) return;
    static const char* names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const char* lvl = names[level >= 0 && level <= 3 ? level : 1];
    std::string src = source.empty() ? std::string() : " [" + source + "]";
    std::lock_guard<std::mutex> g(mu_);
    if (syslog_) {
        static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
        syslog(prio[level >= 0 && level <= 3 ? level : 1], "%s%s %s", lvl, src.c_str(), message.c_str());
        if (!file_) return;
    }
    char stamp[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    FILE* out = file_ ? file_ : stderr;
    std::fprintf(out, "%s %s%s %s\n", stamp, lvl, src.c_str(), message.c_str());
}

bool RateLimit::allow(std::uint64_t& suppressed) {
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto next = next_ns_.load(std::memory_order_relaxed);
    if (now >= next &&
        next_ns_.compare_exchange_strong(next, now + std::chrono::nanoseconds(interval_).count())) {
        suppressed = held_.exchange(0);
        return true;
    }
    held_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

} // namespace flowacct::host
