// SPDX-License-Identifier: GPL-2.0-or-later
// SavefileReader: pcap_open_offline + pcap_compile/pcap_setfilter, replayed as pmacct does.
#include "savefile.hpp"

#include <fcntl.h>                   // open, O_RDONLY
#include <pcap/pcap.h>               // pcap_open_offline_with_tstamp_precision, pcap_next_ex
#include <sys/mman.h>                // mmap, munmap, madvise
#include <sys/stat.h>                // fstat
#include <unistd.h>                  // close, sysconf

#include <algorithm>                 // std::min
#include <cerrno>                    // errno
#include <chrono>                    // std::chrono::seconds
#include <cstdio>                    // std::fopen, std::setvbuf, std::fclose
#include <cstring>                   // std::strerror, std::memcpy
#include <string>                    // std::string, std::to_string

#include <flowacct/sdk/module.hpp>   // sdk::Error

namespace flowacct::packet {

namespace {
constexpr std::size_t kReadBuffer = std::size_t{1} << 20;
constexpr std::size_t kWindow = std::size_t{4} << 20;    // bytes mapped at a time (resident: at most that)
constexpr std::uint32_t kMaxCaplen = 262144;              // libpcap's bound for a record
constexpr std::uint32_t kMagicUs = 0xa1b2c3d4, kMagicNs = 0xa1b23c4d;

std::uint32_t load32(const std::uint8_t* p, bool swap) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

// The classic pcap format (not pcapng): its magic, in either byte order.
bool classic_pcap(const std::string& path, bool& swap, bool& nanos, std::uint32_t& snaplen) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    std::uint8_t h[24];
    const bool whole = std::fread(h, 1, sizeof h, f) == sizeof h;
    std::fclose(f);
    if (!whole) return false;
    const std::uint32_t m = load32(h, false);
    if (m == kMagicUs || m == kMagicNs) swap = false;
    else if (__builtin_bswap32(m) == kMagicUs || __builtin_bswap32(m) == kMagicNs) swap = true;
    else return false;
    nanos = load32(h, swap) == kMagicNs;
    snaplen = load32(h + 16, swap);
    return true;
}
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
    // libpcap validated the file and named its link type; frames of a classic file without a
    // filter are then read from a mapping of the file instead (see play_mapped()).
    mapped_ = options_.filter.empty() && classic_pcap(options_.path, swapped_, nanos_, snaplen_);
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
        if (mapped_) {
            close();
            if (!play_mapped(on_frame)) return End::Stopped;
            continue;
        }
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

bool SavefileReader::play_mapped(const std::function<void(const Frame&)>& on_frame) {
    const std::string& path = options_.path;
    const bool swap = swapped_, nanos = nanos_;
    const std::uint32_t snaplen = snaplen_;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw sdk::Error("cannot read savefile " + path + ": " + std::strerror(errno), "pcap_savefile");
    struct stat st{};
    if (::fstat(fd, &st) != 0) {
        ::close(fd);
        throw sdk::Error("cannot read savefile " + path + ": " + std::strerror(errno), "pcap_savefile");
    }
    const std::size_t size = static_cast<std::size_t>(st.st_size);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t off = 24;  // the first record, after the file header
    // A window of the file at a time, so that resident memory stays bounded whatever the file's
    // size; a record that does not fit in what is left of a window starts the next one.
    while (off < size) {
        const std::size_t map_off = off & ~(page - 1);
        const std::size_t len = std::min(kWindow, size - map_off);
        void* m = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, static_cast<off_t>(map_off));
        if (m == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            throw sdk::Error("cannot map savefile " + path + ": " + std::strerror(e), "pcap_savefile");
        }
        ::madvise(m, len, MADV_SEQUENTIAL);
        const auto* base = static_cast<const std::uint8_t*>(m) - map_off;  // base[x] = file byte x
        const std::size_t map_end = map_off + len;
        const bool last_window = map_end == size;
        bool stopped = false, bogus = false;
        std::uint32_t bad_len = 0;
        while (off < map_end) {
            if (stop_.load(std::memory_order_relaxed)) {
                stopped = true;
                break;
            }
            if (map_end - off < 16) break;
            const std::uint8_t* h = base + off;
            const std::uint32_t caplen = load32(h + 8, swap);
            if (caplen > kMaxCaplen) {
                bogus = true;
                bad_len = caplen;
                break;
            }
            if (map_end - off - 16 < caplen) break;
            const std::uint32_t sec = load32(h, swap), frac = load32(h + 4, swap);
            // As libpcap: a record longer than the file's snapshot length is cut to it.
            const std::uint32_t shown = snaplen && caplen > snaplen ? snaplen : caplen;
            Frame f{dlt_, h + 16, shown, load32(h + 12, swap),
                    static_cast<std::uint64_t>(sec) * 1'000'000u + (nanos ? frac / 1000u : frac)};
            ++frames_;
            on_frame(f);
            off += 16 + static_cast<std::size_t>(caplen);
        }
        ::munmap(m, len);
        if (stopped) {
            ::close(fd);
            return false;
        }
        if (bogus) {
            ::close(fd);
            throw sdk::Error("error reading savefile " + path + ": invalid packet capture length " +
                                 std::to_string(bad_len) + ", bigger than the maximum of " + std::to_string(kMaxCaplen),
                             "pcap_savefile");
        }
        if (off < size && last_window) {
            truncated_ = true;  // a capture cut short (e.g. a killed tcpdump): keep what was read
            break;
        }
    }
    ::close(fd);
    return true;
}

} // namespace flowacct::packet
