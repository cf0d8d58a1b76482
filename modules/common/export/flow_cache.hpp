// SPDX-License-Identifier: GPL-2.0-or-later
// Flow cache of an exporter (pmacct's nfprobe, softflowd): packets in, finished flows out, with
// idle, active (maxlife) and TCP FIN/RST timeouts and a bounded number of flows.
#pragma once

#include <cstddef>      // std::size_t
#include <cstdint>      // std::uint8_t .. std::uint64_t
#include <string>       // std::string
#include <string_view>  // std::string_view
#include <vector>       // std::vector

#include <flowacct/abi.h> // fa_record

namespace flowacct::exporter {

/// pmacct's nfprobe_timeouts, in seconds, with its defaults.
struct Timeouts {
    std::uint32_t tcp = 3600;      // idle TCP flow
    std::uint32_t tcp_rst = 120;   // idle after a RST was seen
    std::uint32_t tcp_fin = 300;   // idle after a FIN was seen
    std::uint32_t udp = 300;
    std::uint32_t icmp = 300;
    std::uint32_t general = 3600;  // other protocols
    std::uint32_t maxlife = 604800; // active timeout: a flow older than this is exported
    std::uint32_t expint = 60;     // how often expiry runs
};

/// Parses "tcp=30:udp=10:maxlife=60" (pmacct's syntax; unnamed timeouts keep their defaults).
/// Returns false and fills `error` on an unknown name or a bad number.
bool parse_timeouts(std::string_view text, Timeouts& out, std::string& error);

/// Receives the flows the cache lets go. Called on the cache's thread.
class FlowSink {
public:
    virtual ~FlowSink() = default;
    /// `flow` is valid during the call only: packets, bytes, time_start_us/time_end_us and the
    /// OR of TCP flags are the flow's; the other fields are those of its first packet.
    virtual void flow(const fa_record& flow) = 0;
};

/// Counters a caller may show; plain numbers, read on the cache's thread.
struct CacheStats {
    std::uint64_t created = 0;
    std::uint64_t expired_idle = 0;
    std::uint64_t expired_active = 0;  // maxlife, or a 32-bit counter about to wrap
    std::uint64_t expired_tcp_end = 0; // idle after FIN/RST (the shorter timeouts)
    std::uint64_t forced = 0;          // evicted because the cache held max_flows flows
    std::uint64_t flushed = 0;         // exported by expire(force)
};

/// The cache. One thread (the pipeline's); no locks. Memory: at most `max_flows` entries
/// (grown on demand) plus a bucket array of the power of two at or above twice that (chains
/// stay short). Time is whatever base the caller feeds (packet timestamps, µs); it never reads
/// a clock.
///
/// Flow key: IP version, addresses, ports, protocol, ToS, VLAN, input and output interface.
class FlowCache {
public:
    FlowCache(const Timeouts& timeouts, std::size_t max_flows);

    /// Accounts one packet record (its packets/bytes are added). When the cache is full the least
    /// recently seen flow is handed to `sink` first (counted as forced). Recency is kept the CLOCK
    /// way: a hit only marks its own entry; eviction gives marked entries a second chance, so the
    /// flow evicted is one not seen since it last went round the queue.
    void add(const fa_record& packet, FlowSink& sink) {
        const fa_record* one = &packet;
        add(&one, 1, sink);
    }

    /// The same for `n` packets in order. Each packet's bucket is fetched from memory a few
    /// packets ahead of its turn: with more flows than the caches hold, a lookup is a wait for
    /// memory, and several waits overlap this way.
    void add(const fa_record* const* packets, std::size_t n, FlowSink& sink);

    /// Hands to `sink` the flows due at `now_us`. Scans at most once per expint unless `force`,
    /// which exports every flow (shutdown). Returns the number of flows exported.
    std::size_t expire(std::uint64_t now_us, bool force, FlowSink& sink);

    std::size_t size() const { return live_; }
    const CacheStats& stats() const { return stats_; }
    const Timeouts& timeouts() const { return timeouts_; }

private:
    // Seven words: the addresses, then the interfaces, then ports, VLAN, protocol and ToS,
    // then the IP version. Built in registers word by word: a key stored field by field and read
    // back as words made every read wait for the stores to retire.
    struct Key {
        std::uint64_t w[7];
        bool operator==(const Key& o) const {
            return ((w[0] ^ o.w[0]) | (w[1] ^ o.w[1]) | (w[2] ^ o.w[2]) | (w[3] ^ o.w[3]) | (w[4] ^ o.w[4]) |
                    (w[5] ^ o.w[5]) | (w[6] ^ o.w[6])) == 0;
        }
    };
    struct Probe {
        Key key;
        std::uint64_t hash;
    };
    static constexpr std::uint32_t kNil = 0xffffffffu;
    struct Entry {
        Key key;
        fa_record flow;
        std::uint8_t tcp_end; // 1 FIN seen, 2 RST seen
    };
    // An entry's hash and links, apart from the entry (24 bytes against 300): walking a bucket,
    // unlinking an evicted flow and requeueing touch this dense array only, and the entry itself
    // when its key matches.
    struct Link {
        std::uint64_t hash;
        std::uint32_t chain; // next entry in the bucket, or the next free entry
        std::uint32_t older; // queue neighbours (oldest queued at head_)
        std::uint32_t newer;
        bool seen;           // a packet arrived since the entry was (re)queued: second chance
    };

    static void probe(const fa_record& r, Probe& out);
    void add_one(const fa_record& packet, const Probe& pr, FlowSink& sink);
    std::uint64_t idle_limit_us(const Entry& e) const;
    void release(std::uint32_t idx);  // unlink from bucket and LRU, put on the free list
    void lru_unlink(std::uint32_t idx);
    void lru_push_newest(std::uint32_t idx);

    Timeouts timeouts_;
    std::size_t max_flows_;
    std::vector<Entry> entries_;
    std::vector<Link> links_; // parallel to entries_
    std::vector<std::uint32_t> buckets_;
    std::uint64_t mask_ = 0;
    std::uint32_t free_ = kNil;
    std::uint32_t head_ = kNil; // least recently seen
    std::uint32_t tail_ = kNil; // most recently seen
    std::size_t live_ = 0;
    std::uint64_t next_scan_us_ = 0;
    CacheStats stats_;
};

} // namespace flowacct::exporter
