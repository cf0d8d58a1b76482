// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers for the map tests: temporary files and records.
#pragma once

#include <unistd.h>                    // getpid

#include <atomic>                      // std::atomic
#include <cstring>                     // std::memset
#include <filesystem>                  // std::filesystem
#include <fstream>                     // std::ofstream
#include <string>                      // std::string

#include <flowacct/abi.h>              // fa_record
#include <flowacct/sdk/primitives.hpp> // sdk::parse_addr

namespace maps_test {

/// A file under the temp directory holding `text`, removed at scope exit.
class TempFile {
public:
    explicit TempFile(const std::string& text) {
        static std::atomic<int> n{0};
        path_ = (std::filesystem::temp_directory_path() /
                 ("flowacct-maps-" + std::to_string(getpid()) + "-" + std::to_string(n++))).string();
        write(text);
    }
    ~TempFile() { std::filesystem::remove(path_); }
    /// Rewrites the file; the new name makes sure a reload sees a change even within a tick.
    void write(const std::string& text) {
        std::string tmp = path_ + ".new";
        std::ofstream(tmp, std::ios::binary) << text;
        std::filesystem::rename(tmp, path_);
    }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline fa_record flow(const std::string& src, const std::string& dst) {
    fa_record r;
    std::memset(&r, 0, sizeof r);
    flowacct::sdk::parse_addr(src, r.src_ip);
    flowacct::sdk::parse_addr(dst, r.dst_ip);
    r.ip_version = flowacct::sdk::is_v4_mapped(r.src_ip) ? 4 : 6;
    r.packets = 1;
    r.bytes = 100;
    return r;
}

inline std::string addr(const std::uint8_t* a) { return flowacct::sdk::addr_to_string(a); }

} // namespace maps_test
