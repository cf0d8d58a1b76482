// SPDX-License-Identifier: GPL-2.0-or-later
// A deterministic NetFlow v5 / v9 / IPFIX workload: datagrams with known totals, written as a
// pcap savefile or sent over UDP. Shared by flowacct-gen-netflow, its benchmark and the tests.
#pragma once

#include <cstdint> // std::uint64_t
#include <cstdio>  // std::FILE
#include <string>  // std::string
#include <vector>  // std::vector

namespace flowacct::gen {

struct WorkloadOptions {
    int version = 9;                    // 5, 9 or 10
    std::uint64_t records = 1000;       // flow records in total
    std::uint64_t keys = 100;           // distinct (src, dst, ports, proto) keys, cycled
    std::uint32_t per_datagram = 30;    // records per datagram (v5: at most 30)
    std::uint64_t seed = 1;             // fixed seed: same options, same bytes
    std::uint32_t template_every = 20;  // v9/IPFIX: templates in the first and every Nth datagram
    std::uint32_t export_secs = 1700000000;
    std::uint32_t source_id = 0;
    std::uint16_t sampling_rate = 0;    // v5 header / v9+IPFIX options data (sampler 1); 0 = none
};

struct WorkloadTotals {
    std::uint64_t datagrams = 0;
    std::uint64_t records = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

/// Every datagram of the workload (UDP payloads), in order. Totals are what a collector must
/// count. Deterministic for a given options value; any thread.
std::vector<std::vector<std::uint8_t>> make_workload(const WorkloadOptions& o, WorkloadTotals& totals);

/// Writes the datagrams as Ethernet/IPv4/UDP frames from 127.0.0.1:`src_port` to
/// 127.0.0.1:`dst_port` in a pcap savefile (microsecond timestamps from `start_secs`, one
/// millisecond apart). Returns "" on success, else what failed.
std::string write_pcap(const std::string& path, const std::vector<std::vector<std::uint8_t>>& datagrams,
                       std::uint16_t src_port, std::uint16_t dst_port, std::uint32_t start_secs);

/// The Internet checksum of `n` bytes (IPv4 header checksum).
std::uint16_t ip_checksum(const std::uint8_t* p, std::size_t n);

/// Writes whole Ethernet frames to a pcap savefile, one millisecond apart from `start_secs`.
std::string write_pcap_frames(const std::string& path, const std::vector<std::vector<std::uint8_t>>& frames,
                              std::uint32_t start_secs);

} // namespace flowacct::gen
