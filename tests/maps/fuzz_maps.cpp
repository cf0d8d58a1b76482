// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target for the map parsers: the first byte picks networks_file or pre_tag_map, the
// rest is the file's text. A parse either succeeds or throws std::runtime_error; a parsed map
// is then looked up / evaluated once, so its tables are exercised too.
#include <cstddef>            // std::size_t
#include <cstdint>            // std::uint8_t
#include <cstring>            // std::memset
#include <stdexcept>          // std::runtime_error
#include <string_view>        // std::string_view

#include "networks_map.hpp"   // networks::NetworksMap
#include "pretag_map.hpp"     // pretag::PretagMap

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    fa_record r;
    std::memset(&r, 0, sizeof r);
    r.src_ip[10] = r.src_ip[11] = 0xff;
    r.src_ip[12] = 10;
    r.ip_version = 4;
    try {
        if (data[0] & 1) {
            auto map = flowacct::networks::NetworksMap::parse(text, "fuzz");
            (void)map.lookup(r.src_ip);
            (void)map.lookup(r.dst_ip);
        } else {
            auto map = flowacct::pretag::PretagMap::parse(text, "fuzz", [](std::string_view) { return 1u; });
            flowacct::pretag::Result res;
            map->evaluate(r, res);
        }
    } catch (const std::runtime_error&) {
    }
    return 0;
}
