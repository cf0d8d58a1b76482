// SPDX-License-Identifier: GPL-2.0-or-later
// SavefileReader: pcap_open_offline + pcap_compile/pcap_setfilter, replayed as pmacct does.
#include "savefile.hpp"

#include <pcap/pcap.h>               // pcap_open_offline_with_tstamp_precision, pcap_next_ex

#include <cerrno>                    // errno
#include <chrono>                    // std::chrono::seconds
#include <cstdio>                    // std::fopen, std::setvbuf, std::fclose
#include <cstring>                   // std::strerror

#include <flowacct/sdk/module.hpp>   // sdk::Error

namespace flowacct::packet {

namespace {
constexpr std::size_t kReadBuffer = std::size_t{1} << 20;
} // namespace

SavefileReader::SavefileReader(SavefileOptions options) : options_(std::move(options)) {
    if (options_.replay == 0) options_.replay = 1;
    open();  // fail at setup, not on the input thread
}

SavefileReader::~SavefileReader() { close(); }

void SavefileReader::open() {
    char err[PCAP_ERRBUF_SIZE] = {};
    // libpcap reads a savefile through stdio, whose buffer is one file-system block (4 KB): one
    // read() system call per 4 KB, a large share of the CPU time of a replay. A FILE of our own
    // with a 1 MiB buffer cuts them 256-fold; libpcap owns it from here on (pcap_close closes it).
    std::FILE* file = std::fopen(options_.path.c_str(), "rb");
    if (!file) throw sdk::Error("cannot read savefile " + options_.path + ": " + std::strerror(errno), "pcap_savefile");
    if (std::setvbuf(file, nullptr, _IOFBF, kReadBuffer) != 0) {
        std::fclose(file);
        throw sdk::Error("cannot read savefile " + options_.path + ": no memory for its buffer", "pcap_savefile");
    }
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, err);
    if (!p) {
        std::fclose(file);
        throw sdk::Error("cannot read savefile " + options_.path + ": " + err, "pcap_savefile");
    }
    if (!options_.filter.empty()) {
        bpf_program prog{};
        // Savefile: the netmask only matters for broadcast tests; unknown here.
        if (pcap_compile(p, &prog, options_.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            std::string msg = std::string("bad filter '") + options_.filter + "': " + pcap_geterr(p);
            pcap_close(p);
            throw sdk::Error(msg, "pcap_filter");
        }
        int rc = pcap_setfilter(p, &prog);
        pcap_freecode(&prog);
        if (rc != 0) {
            std::string msg = std::string("cannot set filter: ") + pcap_geterr(p);
            pcap_close(p);
            throw sdk::Error(msg, "pcap_filter");
        }
    }
    dlt_ = pcap_datalink(p);
    handle_ = p;
}

void SavefileReader::close() {
    if (handle_) pcap_close(static_cast<pcap_t*>(handle_));
    handle_ = nullptr;
}

void SavefileReader::request_stop() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stop_.store(true, std::memory_order_relaxed);
    }
    cv_.notify_all();
}

bool SavefileReader::sleep_s(std::uint32_t seconds) {
    std::unique_lock<std::mutex> lk(mu_);
    if (seconds == 0) return !stop_.load(std::memory_order_relaxed);
    return !cv_.wait_for(lk, std::chrono::seconds(seconds), [&] { return stop_.load(std::memory_order_relaxed); });
}

SavefileReader::End SavefileReader::play(const std::function<void(const Frame&)>& on_frame,
                                         const std::function<void()>& on_played) {
    for (std::uint32_t round = 0; round < options_.replay; ++round) {
        if (!sleep_s(options_.delay_s)) return End::Stopped;
        if (!handle_) open();  // replays reopen the file: libpcap cannot rewind a savefile
        auto* p = static_cast<pcap_t*>(handle_);
        for (;;) {
            if (stop_.load(std::memory_order_relaxed)) return End::Stopped;
            pcap_pkthdr* hdr = nullptr;
            const u_char* data = nullptr;
            int rc = pcap_next_ex(p, &hdr, &data);
            if (rc == 1) {
                Frame f{dlt_, data, hdr->caplen, hdr->len,
                        static_cast<std::uint64_t>(hdr->ts.tv_sec) * 1'000'000u +
                            static_cast<std::uint64_t>(hdr->ts.tv_usec)};
                ++frames_;
                on_frame(f);
                continue;
            }
            if (rc == PCAP_ERROR_BREAK) break;  // end of file
            if (rc == 0) continue;              // not returned for savefiles; be safe
            std::string why = pcap_geterr(p);
            if (why.find("truncated") != std::string::npos) {
                truncated_ = true;  // a capture cut short (e.g. a killed tcpdump): keep what was read
                break;
            }
            throw sdk::Error("error reading savefile " + options_.path + ": " + why, "pcap_savefile");
        }
        close();
    }
    if (on_played) on_played();
    if (options_.wait) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_.load(std::memory_order_relaxed); });
    }
    return End::Finished;
}

} // namespace flowacct::packet
