// SPDX-License-Identifier: GPL-2.0-or-later
// tee_receivers: pmacct's map of receiver pools for the tee output, and the choice of a
// receiver within a pool.
//
// One pool a line, key=value tokens separated by blanks ('!' and '#' start comments):
//   id=N           pool id, 1 and up, unique (mandatory)
//   ip=H:P[,H:P]   receivers, host:port or [IPv6]:port; hosts are resolved once, at load (mandatory)
//   tag=LIST       only datagrams whose pre_tag_map tag this list keeps (pre_tag_filter syntax:
//                  100,150  105,110-120  -150); absent: every datagram
//   balance-alg=A  rr (round robin), hash-agent (exporter address), hash-crc32 (CRC-32 of the
//                  exporter address), hash-tag (the tag); absent: every receiver of the pool
//                  gets every datagram
//   src_port=N     UDP source port of this pool's sockets (not in transparent mode)
// kafka_broker, kafka_topic and zmq_address are pmacct keys this build does not support: an error.
#pragma once

#include <sys/socket.h>   // sockaddr_storage, socklen_t

#include <cstddef>        // std::size_t
#include <cstdint>        // std::uint64_t
#include <memory>         // std::shared_ptr
#include <string>         // std::string
#include <string_view>    // std::string_view
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_datagram

#include "pretag_map.hpp" // pretag::TagFilter

namespace flowacct::tee {

enum class Balance { All, RoundRobin, HashAgent, HashCrc32, HashTag };

struct Endpoint {
    std::string text;        // as written, for logs and counter labels
    sockaddr_storage addr{};
    socklen_t len = 0;
};

struct Pool {
    std::uint64_t id = 0;
    std::vector<Endpoint> receivers;
    std::shared_ptr<const pretag::TagFilter> tags; // null: every datagram
    Balance balance = Balance::All;
    std::uint16_t src_port = 0;                    // 0: any
    std::size_t line = 0;
};

struct Limits {
    std::size_t max_pools = 128;     // tee_max_receiver_pools
    std::size_t max_receivers = 32;  // tee_max_receivers (per pool)
};

/// Parses a map. `name` (the path) prefixes errors. Throws std::runtime_error
/// "<name>:<line>: <what was expected>".
std::vector<Pool> parse_map(std::string_view text, const std::string& name, const Limits& limits);
/// Reads and parses the file at `path`; same errors, and "<path>: <reason>" if unreadable.
std::vector<Pool> load_map(const std::string& path, const Limits& limits);

/// True when the pool takes a datagram tagged `tag`.
inline bool accepts(const Pool& p, std::uint64_t tag) { return !p.tags || p.tags->keeps(tag); }

/// The receiver (index into p.receivers) that gets `d` in a balanced pool; `rr` is the pool's
/// round-robin state, advanced for rr. Not for Balance::All (every receiver gets it).
std::size_t pick(const Pool& p, const fa_datagram& d, std::uint64_t& rr);

/// CRC-32 (IEEE, reflected) of `len` bytes; exposed for tests.
std::uint32_t crc32(const std::uint8_t* data, std::size_t len);

/// A pre_tag_map for datagrams may only match on the exporter: checks that `text` uses no key
/// but ip, set_tag/id, set_tag2/id2, label, jeq and stack. Throws std::runtime_error
/// "<name>:<line>: ..." naming the first other key.
void check_datagram_pretag(std::string_view text, const std::string& name);

} // namespace flowacct::tee
