// SPDX-License-Identifier: GPL-2.0-or-later
// Text helpers shared by the map parsers.
#include "map_text.hpp"

#include <arpa/inet.h>  // inet_pton

#include <cerrno>       // errno
#include <cstring>      // std::memcpy, std::memset, std::strerror
#include <fstream>      // std::ifstream
#include <sstream>      // std::ostringstream
#include <stdexcept>    // std::runtime_error

namespace flowacct::maptext {

bool parse_uint(std::string_view text, std::uint64_t max, std::uint64_t& out) {
    if (text.empty() || text.size() > 20) return false;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        std::uint64_t d = static_cast<std::uint64_t>(c - '0');
        if (v > (max - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

bool parse_address(std::string_view text, std::uint8_t* addr16, bool& v4) {
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    std::uint8_t a4[4];
    if (inet_pton(AF_INET, buf, a4) == 1) {
        std::memset(addr16, 0, 10);
        addr16[10] = addr16[11] = 0xff;
        std::memcpy(addr16 + 12, a4, 4);
        v4 = true;
        return true;
    }
    if (inet_pton(AF_INET6, buf, addr16) == 1) {
        v4 = false;
        return true;
    }
    return false;
}

bool parse_prefix(std::string_view text, std::uint8_t* addr16, std::uint8_t& len, bool& v4) {
    std::size_t slash = text.find('/');
    if (!parse_address(text.substr(0, slash), addr16, v4)) return false;
    std::uint64_t max = v4 ? 32 : 128, l = max;
    if (slash != std::string_view::npos && !parse_uint(text.substr(slash + 1), max, l)) return false;
    len = static_cast<std::uint8_t>(l);
    unsigned keep = (v4 ? 96u : 0u) + len;
    for (unsigned i = 0; i < 16; ++i) {
        unsigned have = keep > i * 8 ? keep - i * 8 : 0;
        if (have < 8) addr16[i] = static_cast<std::uint8_t>(have == 0 ? 0 : addr16[i] & (0xff << (8 - have)));
    }
    return true;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw std::runtime_error(path + ": read error");
    return ss.str();
}

} // namespace flowacct::maptext
