// SPDX-License-Identifier: GPL-2.0-or-later
// Text helpers shared by the map parsers (networks_file, pre_tag_map, ports_file): lines,
// comments, numbers, addresses and prefixes. No allocation per line; nothing here throws.
#pragma once

#include <cstdint>      // std::uint64_t, std::uint8_t
#include <string>       // std::string
#include <string_view>  // std::string_view

namespace flowacct::maptext {

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

inline std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

/// Calls `fn(line_number, line)` for each line of `text` that is not blank or a comment
/// ('!' or '#' first after blanks), with surrounding blanks and a trailing '\r' removed.
template <class Fn> void for_each_line(std::string_view text, Fn&& fn) {
    std::size_t line_no = 0, pos = 0;
    while (pos <= text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        ++line_no;
        pos = end + 1;
        line = trim(line);
        if (line.empty() || line[0] == '!' || line[0] == '#') {
            if (end == text.size()) break;
            continue;
        }
        fn(line_no, line);
        if (end == text.size()) break;
    }
}

/// A decimal number in 0..max. Returns false on anything else (sign, blank, overflow).
bool parse_uint(std::string_view text, std::uint64_t max, std::uint64_t& out);

/// "a.b.c.d", "a.b.c.d/len", "x::y" or "x::y/len". `addr16` gets the IPv4-mapped or IPv6
/// address with the bits past `len` cleared, `len` the family-relative length (32 or 128 when
/// absent), `v4` the family. Returns false on bad input.
bool parse_prefix(std::string_view text, std::uint8_t* addr16, std::uint8_t& len, bool& v4);

/// An address alone (no length). Returns false on bad input.
bool parse_address(std::string_view text, std::uint8_t* addr16, bool& v4);

/// The whole file at `path`. Throws std::runtime_error "<path>: <reason>" if unreadable.
std::string read_file(const std::string& path);

} // namespace flowacct::maptext
