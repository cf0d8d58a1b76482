// SPDX-License-Identifier: GPL-2.0-or-later
// touch_savefile: the hardware bound for a savefile workload: reads a pcap savefile and touches each record.
//
// Usage: touch_savefile FILE [passes [KEYS RECORDS]]
// bench/run compiles it (c++ -O2) and runs it beside every savefile workload. Each pass reads the
// whole file with read() in 1 MiB blocks (the page cache is warm after the first pass, as it is for
// the daemons) and, for every record, folds its header and every 8-byte word of the captured frame
// into a checksum (a decoder reads at least that much: headers for packets, every field of every
// flow record for NetFlow/sFlow datagrams), so nothing is optimized away. Prints `records=N cpu=S per_cpu_s=R checksum=X` for the best pass. A record whose length
// runs past the end of the file stops the pass (the file is truncated); exit status 1 if the file
// cannot be read or is not a pcap savefile.
//
// With KEYS and RECORDS (the flow records the file holds), each pass also adds to one 64-byte
// entry of a table of KEYS entries per flow record, the entry picked by the frame's checksum:
// the least an aggregation over KEYS distinct keys must do besides reading (one random
// read-modify-write of a table that size per record; no hashing of keys, no key comparison).
#include <fcntl.h>        // open
#include <sys/resource.h> // getrusage
#include <unistd.h>       // read, close, lseek

#include <cstdint>  // std::uint8_t, std::uint32_t, std::uint64_t
#include <cstdio>   // std::printf, std::fprintf
#include <cstdlib>  // std::atoi, std::strtoull
#include <cstring>  // std::memcpy
#include <vector>   // std::vector

namespace {

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::uint32_t rd32(const std::uint8_t* p, bool swap) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

struct Pass {
    std::uint64_t records = 0, checksum = 0;
    bool ok = false;
};

struct Entry {
    std::uint64_t packets, bytes, flows, pad[5];
};
static_assert(sizeof(Entry) == 64, "an entry is a cache line");

// The table of the KEYS bound; records / frames updates per frame on average. Each update is
// prefetched kAhead updates before it is made, as a good aggregator does: the bound is what the
// memory allows with misses overlapped, not one miss at a time.
struct Table {
    static constexpr std::size_t kAhead = 16;
    std::vector<Entry> entries;
    std::uint64_t records = 0, frames = 1, carry = 0;
    std::uint64_t pending[kAhead] = {};
    std::uint32_t lens[kAhead] = {};
    std::size_t n = 0;
    void add(std::uint64_t h, std::uint32_t len) {
        if (entries.empty()) return;
        carry += records;
        const std::uint64_t count = carry / frames;
        carry %= frames;
        for (std::uint64_t j = 0; j < count; ++j) {
            const std::uint64_t x = (h + j) * 0xff51afd7ed558ccdull;
            const std::uint64_t idx = (x ^ (x >> 29)) % entries.size();
            __builtin_prefetch(&entries[idx], 1);
            const std::size_t slot = n++ % kAhead;
            if (n > kAhead) update(pending[slot], lens[slot]);
            pending[slot] = idx;
            lens[slot] = len;
        }
    }
    void finish() {
        for (std::size_t i = n > kAhead ? n - kAhead : 0; i < n; ++i) update(pending[i % kAhead], lens[i % kAhead]);
        n = 0;
    }
    void update(std::uint64_t idx, std::uint32_t len) {
        Entry& e = entries[idx];
        ++e.packets;
        e.bytes += len;
        ++e.flows;
    }
};

// One pass over the file: a sliding buffer so that a record is always contiguous in memory.
Pass one_pass(int fd, Table& table) {
    Pass r;
    if (lseek(fd, 0, SEEK_SET) != 0) return r;
    std::vector<std::uint8_t> buf(2u << 20);
    std::size_t have = 0, at = 0;
    auto fill = [&]() -> bool {  // moves the unread tail to the front, then reads up to 1 MiB
        std::memmove(buf.data(), buf.data() + at, have - at);
        have -= at;
        at = 0;
        const ssize_t n = read(fd, buf.data() + have, buf.size() - have);
        if (n <= 0) return false;
        have += static_cast<std::size_t>(n);
        return true;
    };
    while (have < 24 && fill()) {}
    if (have < 24) return r;
    const std::uint32_t magic = rd32(buf.data(), false);
    bool swap;
    if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du) swap = false;
    else if (magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u) swap = true;
    else return r;
    at = 24;
    for (;;) {
        if (have - at < 16 && !fill() && have - at < 16) break;
        if (have - at < 16) continue;
        const std::uint32_t caplen = rd32(buf.data() + at + 8, swap);
        const std::uint32_t len = rd32(buf.data() + at + 12, swap);
        if (caplen > buf.size() / 2) return r;  // not a frame: corrupt file
        if (have - at < 16 + caplen) {
            if (!fill() && have - at < 16 + caplen) break;
            continue;
        }
        const std::uint8_t* frame = buf.data() + at + 16;
        std::uint64_t h = len;
        for (std::uint32_t i = 0; i + 8 <= caplen; i += 8) {
            std::uint64_t w;
            std::memcpy(&w, frame + i, 8);
            h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        }
        r.checksum += h;
        table.add(h, len);
        ++r.records;
        at += 16 + caplen;
    }
    table.finish();
    r.ok = true;
    return r;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc == 4) {
        std::fprintf(stderr, "usage: touch_savefile FILE [passes [KEYS RECORDS]]\n");
        return 2;
    }
    const int passes = argc > 2 ? std::atoi(argv[2]) : 3;
    const int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        std::perror(argv[1]);
        return 1;
    }
    Table table;
    if (argc > 4) {
        Table none;
        const Pass count = one_pass(fd, none);  // frames in the file, to spread the records over
        const std::uint64_t keys = std::strtoull(argv[3], nullptr, 10);
        table.entries.assign(keys ? keys : 1, Entry{});
        table.records = std::strtoull(argv[4], nullptr, 10);
        table.frames = count.records ? count.records : 1;
    }
    double best = 1e300;
    Pass last;
    for (int i = 0; i < (passes > 0 ? passes : 1); ++i) {
        const double t0 = cpu_seconds();
        last = one_pass(fd, table);
        const double t = cpu_seconds() - t0;
        if (!last.ok) {
            std::fprintf(stderr, "%s: not a readable pcap savefile\n", argv[1]);
            return 1;
        }
        if (t < best) best = t;
    }
    close(fd);
    if (best <= 0) best = 1e-6;
    std::printf("records=%llu cpu=%.4f per_cpu_s=%.0f checksum=%llx\n", static_cast<unsigned long long>(last.records),
                best, static_cast<double>(last.records) / best, static_cast<unsigned long long>(last.checksum));
    return 0;
}
