// SPDX-License-Identifier: GPL-2.0-or-later
// Deterministic NetFlow workload and its pcap savefile form.
#include "netflow_workload.hpp"

#include <algorithm> // std::min
#include <cerrno>    // errno
#include <cstring>   // std::strerror

#include "netflow_writer.hpp" // Writer

namespace flowacct::gen {

namespace {

// splitmix64: a tiny, well-mixed, seedable generator.
struct Rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

struct Flow {
    std::uint32_t src, dst;
    std::uint16_t sport, dport;
    std::uint8_t proto;
    std::uint32_t packets, bytes;
};

Flow flow_for(std::uint64_t key, Rng& rng) {
    Flow f;
    f.src = 0x0A000000u | static_cast<std::uint32_t>(key & 0xFFFFFF);               // 10.x.y.z
    f.dst = 0xC0A80000u | static_cast<std::uint32_t>((key * 7) & 0xFFFF);           // 192.168.y.z
    f.sport = static_cast<std::uint16_t>(1024 + key % 60000);
    f.dport = static_cast<std::uint16_t>(key % 3 == 0 ? 443 : key % 3 == 1 ? 80 : 53);
    f.proto = static_cast<std::uint8_t>(f.dport == 53 ? 17 : 6);
    f.packets = static_cast<std::uint32_t>(1 + rng.next() % 20);
    f.bytes = f.packets * static_cast<std::uint32_t>(40 + rng.next() % 1400);
    return f;
}

const std::vector<Writer::Field> kV9Fields = {{8, 4},  {12, 4}, {7, 2},  {11, 2}, {4, 1},  {5, 1},
                                              {6, 1},  {10, 4}, {14, 4}, {1, 8},  {2, 8},  {22, 4},
                                              {21, 4}, {16, 4}, {17, 4}};
const std::vector<Writer::Field> kIpfixFields = {{8, 4},  {12, 4}, {7, 2},  {11, 2}, {4, 1},  {5, 1},
                                                 {6, 1},  {10, 4}, {14, 4}, {1, 8},  {2, 8},  {152, 8},
                                                 {153, 8}, {16, 4}, {17, 4}};

} // namespace

std::vector<std::vector<std::uint8_t>> make_workload(const WorkloadOptions& o, WorkloadTotals& totals) {
    std::vector<std::vector<std::uint8_t>> out;
    Rng rng{o.seed};
    totals = {};
    const std::uint32_t per = std::max<std::uint32_t>(1, o.version == 5 ? std::min<std::uint32_t>(o.per_datagram, 30)
                                                                         : std::min<std::uint32_t>(o.per_datagram, 1000));
    const std::uint64_t keys = std::max<std::uint64_t>(1, o.keys);
    std::uint64_t done = 0;
    std::uint32_t seq = 0;
    const std::uint32_t uptime_base = 3600000;
    while (done < o.records) {
        const std::uint32_t n = static_cast<std::uint32_t>(std::min<std::uint64_t>(per, o.records - done));
        const std::uint64_t index = out.size();
        const std::uint32_t uptime = uptime_base + static_cast<std::uint32_t>(index);
        const std::uint32_t secs = o.export_secs + static_cast<std::uint32_t>(index / 1000);
        Writer w;
        const bool with_template = o.version != 5 && (o.template_every == 0 ? index == 0 : index % o.template_every == 0);
        const std::uint16_t sampling = o.sampling_rate ? static_cast<std::uint16_t>(0x4000 | (o.sampling_rate & 0x3FFF)) : 0;
        if (o.version == 5) w.v5_header(static_cast<std::uint16_t>(n), uptime, secs, 0, seq, 0, 0, sampling);
        else if (o.version == 9) w.v9_header(static_cast<std::uint16_t>(n + (with_template ? (o.sampling_rate ? 3 : 1) : 0)), uptime, secs, seq, o.source_id);
        else w.ipfix_header(secs, seq, o.source_id);
        if (with_template) {
            std::vector<Writer::Field> fields = o.version == 9 ? kV9Fields : kIpfixFields;
            if (o.version == 9 && o.sampling_rate) fields.push_back({48, 1}); // FLOW_SAMPLER_ID
            w.set_begin(o.version == 9 ? 0 : 2).template_record(256, fields).set_end();
        }
        if (with_template && o.sampling_rate) {
            // Options: sampler 1 samples 1 packet in sampling_rate (v9 fields 48/49/50;
            // IPFIX selectorId 302 + samplingPacketInterval 305 / samplingPacketSpace 306).
            if (o.version == 9) {
                w.set_begin(1).v9_options_template(257, {{1, 4}}, {{48, 1}, {49, 1}, {50, 4}}).set_end(4);
                w.set_begin(257).u32(0).u8(1).u8(2).u32(o.sampling_rate).set_end(4);
            } else {
                w.set_begin(3).ipfix_options_template(257, 1, {{302, 4}, {305, 4}, {306, 4}}).set_end();
                w.set_begin(257).u32(1).u32(1).u32(o.sampling_rate - 1u).set_end();
            }
        }
        if (o.version != 5) w.set_begin(256);
        for (std::uint32_t i = 0; i < n; ++i) {
            const Flow f = flow_for((done + i) % keys, rng);
            totals.packets += f.packets;
            totals.bytes += f.bytes;
            if (o.version == 5) {
                Writer::V5Record r;
                r.src = f.src; r.dst = f.dst; r.sport = f.sport; r.dport = f.dport; r.proto = f.proto;
                r.packets = f.packets; r.bytes = f.bytes; r.first = uptime - 1000; r.last = uptime - 10;
                r.in = 1; r.out = 2; r.flags = f.proto == 6 ? 0x1B : 0;
                w.v5_record(r);
            } else {
                w.ip4(f.src).ip4(f.dst).u16(f.sport).u16(f.dport).u8(f.proto).u8(0).u8(f.proto == 6 ? 0x1B : 0)
                    .u32(1).u32(2).u64(f.bytes).u64(f.packets);
                if (o.version == 9) w.u32(uptime - 1000).u32(uptime - 10);
                else w.u64(std::uint64_t{secs} * 1000 - 1000).u64(std::uint64_t{secs} * 1000 - 10);
                w.u32(64512).u32(64513);
                if (o.version == 9 && o.sampling_rate) w.u8(1);
            }
        }
        if (o.version != 5) w.set_end(4);
        if (o.version == 10) w.ipfix_end();
        done += n;
        totals.records += n;
        // v9 counts packets; v5 flows; IPFIX data records (options records included).
        seq += o.version == 9 ? 1 : n + (o.version == 10 && with_template && o.sampling_rate ? 1 : 0);
        out.push_back(std::move(w.data()));
    }
    totals.datagrams = out.size();
    return out;
}

std::uint16_t ip_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

namespace {

void le32(std::FILE* f, std::uint32_t v) { std::fwrite(&v, 4, 1, f); } // x86: host order is little-endian

} // namespace

std::string write_pcap_frames(const std::string& path, const std::vector<std::vector<std::uint8_t>>& frames,
                              std::uint32_t start_secs) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return "cannot write " + path + ": " + std::strerror(errno);
    le32(f, 0xA1B2C3D4u);
    const std::uint16_t ver[2] = {2, 4};
    std::fwrite(ver, 2, 2, f);
    le32(f, 0);
    le32(f, 0);
    le32(f, 65535 + 64);
    le32(f, 1); // DLT_EN10MB
    std::uint64_t ts_us = std::uint64_t{start_secs} * 1000000;
    for (const auto& frame : frames) {
        le32(f, static_cast<std::uint32_t>(ts_us / 1000000));
        le32(f, static_cast<std::uint32_t>(ts_us % 1000000));
        le32(f, static_cast<std::uint32_t>(frame.size()));
        le32(f, static_cast<std::uint32_t>(frame.size()));
        std::fwrite(frame.data(), 1, frame.size(), f);
        ts_us += 1000;
    }
    if (std::fclose(f) != 0) return "cannot write " + path + ": " + std::strerror(errno);
    return {};
}

std::string write_pcap(const std::string& path, const std::vector<std::vector<std::uint8_t>>& datagrams,
                       std::uint16_t src_port, std::uint16_t dst_port, std::uint32_t start_secs) {
    std::vector<std::vector<std::uint8_t>> frames;
    std::uint16_t ip_id = 1;
    for (const auto& d : datagrams) {
        if (d.size() > 65507) continue;
        Writer frame;
        frame.bytes("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12).u16(0x0800);
        const std::size_t ip_at = frame.size();
        frame.u8(0x45).u8(0).u16(20 + 8 + d.size()).u16(ip_id++).u16(0x4000).u8(64).u8(17).u16(0)
            .u32(0x7F000001).u32(0x7F000001);
        frame.patch16(ip_at + 10, ip_checksum(frame.data().data() + ip_at, 20));
        frame.u16(src_port).u16(dst_port).u16(8 + d.size()).u16(0); // UDP checksum 0: none (IPv4)
        frame.bytes(d.data(), d.size());
        frames.push_back(std::move(frame.data()));
    }
    return write_pcap_frames(path, frames, start_secs);
}

} // namespace flowacct::gen
