// SPDX-License-Identifier: GPL-2.0-or-later
// SavefileReader: plays a pcap/pcapng savefile frame by frame, with pmacct's delay/replay/wait.
#pragma once

#include <atomic>              // std::atomic
#include <condition_variable>  // std::condition_variable
#include <cstdint>             // std::uint8_t, std::uint32_t, std::uint64_t
#include <functional>          // std::function
#include <mutex>               // std::mutex
#include <string>              // std::string

namespace flowacct::packet {

/// One captured frame. `data` is valid only during the callback.
struct Frame {
    int dlt;                   // libpcap link type of the file
    const std::uint8_t* data;
    std::uint32_t caplen;      // bytes present in `data`
    std::uint32_t wirelen;     // length on the wire
    std::uint64_t ts_us;       // capture time, microseconds since the Unix epoch
};

/// What to play, named after pmacct's keys.
struct SavefileOptions {
    std::string path;          // pcap_savefile
    std::string filter;        // pcap_filter: tcpdump syntax compiled with pcap_compile, "" = none
    std::uint32_t delay_s = 0; // pcap_savefile_delay: seconds to wait before each play
    std::uint32_t replay = 1;  // pcap_savefile_replay: times to play the file (0 counts as 1)
    bool wait = false;         // pcap_savefile_wait: after the last play, stay until stopped
};

/// Plays a savefile. The constructor opens the file and compiles the filter (setup time, main
/// thread) and throws flowacct::sdk::Error naming the key at fault ("pcap_savefile",
/// "pcap_filter") when the file is missing or not a capture, or the filter does not compile.
/// play() runs on one thread (the input's); request_stop() may be called from any thread and
/// makes play() return within one frame or at once from a delay or wait.
class SavefileReader {
public:
    enum class End { Finished, Stopped };

    explicit SavefileReader(SavefileOptions options);
    ~SavefileReader();
    SavefileReader(const SavefileReader&) = delete;
    SavefileReader& operator=(const SavefileReader&) = delete;

    /// Link type of the file (the same for every replay).
    int dlt() const { return dlt_; }

    /// Plays the file `replay` times, calling `on_frame` for each frame that passes the filter.
    /// Finished = every replay done (and, with `wait`, stopped afterwards counts as Finished);
    /// Stopped = request_stop() cut it short. Throws sdk::Error if the file becomes unreadable
    /// midway; a truncated last record is not an error: the play ends there and
    /// ended_truncated() turns true.
    /// `on_played`, if given, runs after the last play and before the wait: the input submits its
    /// partial batch there, so a waiting daemon shows every record of the file.
    End play(const std::function<void(const Frame&)>& on_frame, const std::function<void()>& on_played = {});

    void request_stop();
    bool stop_requested() const { return stop_.load(std::memory_order_relaxed); }

    /// Frames handed to on_frame so far, over all replays.
    std::uint64_t frames() const { return frames_; }
    /// True once a play ended on a truncated last record (the frames before it were played).
    bool ended_truncated() const { return truncated_; }

private:
    void open();
    void close();
    bool sleep_s(std::uint32_t seconds);  // false if stopped while sleeping
    /// One play of a classic pcap file without a filter, straight from a mapping of the file:
    /// no copy out of the page cache and none into libpcap's buffer. false = stopped.
    bool play_mapped(const std::function<void(const Frame&)>& on_frame);

    SavefileOptions options_;
    void* handle_ = nullptr;   // pcap_t*, kept opaque so users need not include pcap.h
    int dlt_ = 0;
    bool mapped_ = false;      // a classic pcap file read by play_mapped(), whose header says:
    bool swapped_ = false;     //   the other byte order than this machine's
    bool nanos_ = false;       //   nanosecond timestamps
    std::uint32_t snaplen_ = 0;
    std::uint64_t frames_ = 0;
    bool truncated_ = false;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::condition_variable cv_;
};

} // namespace flowacct::packet
