// SPDX-License-Identifier: GPL-2.0-or-later
// Flow cache: chained hash table over a bounded entry pool, with an LRU list for forced expiry.
#include "flow_cache.hpp"

#include <charconv>  // std::from_chars
#include <cstring>   // std::memcpy

namespace flowacct::exporter {

namespace {
constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint64_t kSecond = 1'000'000;
constexpr std::uint64_t kCounterLimit = 0xffffffffull; // NetFlow v5 counters are 32-bit
} // namespace

bool parse_timeouts(std::string_view text, Timeouts& out, std::string& error) {
    Timeouts t = out;
    while (!text.empty()) {
        std::size_t colon = text.find(':');
        std::string_view item = text.substr(0, colon);
        text = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
        if (item.empty()) continue;
        std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
            error = "expected name=seconds, got '" + std::string(item) + "'";
            return false;
        }
        std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
        std::uint32_t v = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc{} || end != value.data() + value.size()) {
            error = "expected a number of seconds for '" + std::string(name) + "', got '" + std::string(value) + "'";
            return false;
        }
        if (name == "tcp") t.tcp = v;
        else if (name == "tcp.rst") t.tcp_rst = v;
        else if (name == "tcp.fin") t.tcp_fin = v;
        else if (name == "udp") t.udp = v;
        else if (name == "icmp") t.icmp = v;
        else if (name == "general") t.general = v;
        else if (name == "maxlife") t.maxlife = v;
        else if (name == "expint") t.expint = v;
        else {
            error = "unknown timeout '" + std::string(name) +
                    "' (tcp, tcp.rst, tcp.fin, udp, icmp, general, maxlife, expint)";
            return false;
        }
    }
    out = t;
    return true;
}

FlowCache::FlowCache(const Timeouts& timeouts, std::size_t max_flows)
    : timeouts_(timeouts), max_flows_(max_flows ? max_flows : 1) {
    std::size_t n = 16;
    while (n < 2 * max_flows_ && n < (std::size_t{1} << 26)) n <<= 1;
    buckets_.assign(n, kNil);
    mask_ = n - 1;
    entries_.reserve(max_flows_ < 65536 ? max_flows_ : 65536);
    links_.reserve(entries_.capacity());
}

void FlowCache::probe(const fa_record& r, Probe& out) {
    Key& k = out.key;
    std::memcpy(k.w, r.src_ip, 16);
    std::memcpy(k.w + 2, r.dst_ip, 16);
    k.w[4] = std::uint64_t{r.in_iface} | std::uint64_t{r.out_iface} << 32;
    k.w[5] = std::uint64_t{r.src_port} | std::uint64_t{r.dst_port} << 16 | std::uint64_t{r.vlan} << 32 |
             std::uint64_t{r.proto} << 48 | std::uint64_t{r.tos} << 56;
    k.w[6] = r.ip_version;
    std::uint64_t h = 0x9e3779b97f4a7c15ull;
    for (std::uint64_t x : k.w) {
        h ^= x * 0xff51afd7ed558ccdull;
        h = (h << 31 | h >> 33) * 0xc4ceb9fe1a85ec53ull;
    }
    out.hash = h ^ (h >> 29);
}

std::uint64_t FlowCache::idle_limit_us(const Entry& e) const {
    std::uint32_t s;
    switch (e.flow.proto) {
    case 6: s = e.tcp_end == 2 ? timeouts_.tcp_rst : e.tcp_end == 1 ? timeouts_.tcp_fin : timeouts_.tcp; break;
    case 17: s = timeouts_.udp; break;
    case 1: case 58: s = timeouts_.icmp; break;
    default: s = timeouts_.general; break;
    }
    return std::uint64_t{s} * kSecond;
}

void FlowCache::lru_unlink(std::uint32_t i) {
    Link& l = links_[i];
    if (l.older != kNil) links_[l.older].newer = l.newer; else head_ = l.newer;
    if (l.newer != kNil) links_[l.newer].older = l.older; else tail_ = l.older;
    l.older = l.newer = kNil;
}

void FlowCache::lru_push_newest(std::uint32_t i) {
    Link& l = links_[i];
    l.older = tail_;
    l.newer = kNil;
    if (tail_ != kNil) links_[tail_].newer = i; else head_ = i;
    tail_ = i;
}

void FlowCache::release(std::uint32_t i) {
    Link& l = links_[i];
    std::uint32_t* link = &buckets_[l.hash & mask_];
    while (*link != kNil && *link != i) link = &links_[*link].chain;
    if (*link == i) *link = l.chain;
    lru_unlink(i);
    l.chain = free_;
    free_ = i;
    --live_;
}

void FlowCache::add(const fa_record* const* packets, std::size_t n, FlowSink& sink) {
    // A ring of the next packets' probes; each bucket is prefetched kAhead packets early.
    constexpr std::size_t kAhead = 8;
    Probe ring[kAhead];
    const std::size_t primed = n < kAhead ? n : kAhead;
    for (std::size_t j = 0; j < primed; ++j) {
        probe(*packets[j], ring[j]);
        __builtin_prefetch(&buckets_[ring[j].hash & mask_]);
    }
    for (std::size_t j = 0; j < n; ++j) {
        Probe& pr = ring[j % kAhead];
        add_one(*packets[j], pr, sink);
        if (j + kAhead < n) {
            probe(*packets[j + kAhead], pr);
            __builtin_prefetch(&buckets_[pr.hash & mask_]);
        }
    }
}

void FlowCache::add_one(const fa_record& p, const Probe& pr, FlowSink& sink) {
    const Key& k = pr.key;
    const std::uint64_t h = pr.hash;
    std::uint32_t i = buckets_[h & mask_];
    while (i != kNil) {
        if (links_[i].hash == h && entries_[i].key == k) break;
        i = links_[i].chain;
    }
    if (i != kNil) {
        Entry& e = entries_[i];
        // Keep every exported counter within 32 bits (NetFlow v5): close the flow first.
        if (e.flow.bytes + p.bytes > kCounterLimit || e.flow.packets + p.packets > kCounterLimit) {
            sink.flow(e.flow);
            ++stats_.expired_active;
            release(i);
            i = kNil;
        } else {
            e.flow.packets += p.packets;
            e.flow.bytes += p.bytes;
            e.flow.tcp_flags |= p.tcp_flags;
            if (p.time_end_us > e.flow.time_end_us) e.flow.time_end_us = p.time_end_us;
            if (p.time_end_us && p.time_end_us < e.flow.time_start_us) e.flow.time_start_us = p.time_end_us;
            if (p.proto == 6) {
                if (p.tcp_flags & kTcpRst) e.tcp_end = 2;
                else if ((p.tcp_flags & kTcpFin) && e.tcp_end == 0) e.tcp_end = 1;
            }
            links_[i].seen = true;
            return;
        }
    }
    if (live_ >= max_flows_ && head_ != kNil) {
        // Second chance: entries seen since they were queued go round again (at most one lap).
        for (std::size_t lap = 0; lap < live_ && links_[head_].seen; ++lap) {
            const std::uint32_t h2 = head_;
            links_[h2].seen = false;
            lru_unlink(h2);
            lru_push_newest(h2);
        }
        sink.flow(entries_[head_].flow);
        ++stats_.forced;
        release(head_);
    }
    if (free_ != kNil) {
        i = free_;
        free_ = links_[i].chain;
    } else {
        i = static_cast<std::uint32_t>(entries_.size());
        entries_.emplace_back();
        links_.emplace_back();
    }
    Entry& e = entries_[i];
    e.key = k;
    e.flow = p;
    e.flow.flags &= static_cast<std::uint8_t>(~(FA_REC_HAS_PAYLOAD | FA_REC_DROP));
    e.flow.payload_offset = e.flow.payload_len = 0;
    e.flow.flows = 1;
    if (e.flow.time_start_us == 0 || e.flow.time_start_us > e.flow.time_end_us) e.flow.time_start_us = e.flow.time_end_us;
    e.tcp_end = 0;
    if (p.proto == 6) e.tcp_end = (p.tcp_flags & kTcpRst) ? 2 : (p.tcp_flags & kTcpFin) ? 1 : 0;
    Link& l = links_[i];
    l.hash = h;
    l.seen = false;
    l.chain = buckets_[h & mask_];
    buckets_[h & mask_] = i;
    lru_push_newest(i);
    ++live_;
    ++stats_.created;
}

std::size_t FlowCache::expire(std::uint64_t now_us, bool force, FlowSink& sink) {
    std::size_t n = 0;
    if (force) {
        while (head_ != kNil) {
            sink.flow(entries_[head_].flow);
            ++stats_.flushed;
            release(head_);
            ++n;
        }
        return n;
    }
    if (now_us < next_scan_us_) return 0;
    next_scan_us_ = now_us + std::uint64_t{timeouts_.expint ? timeouts_.expint : 1} * kSecond;
    const std::uint64_t maxlife_us = std::uint64_t{timeouts_.maxlife} * kSecond;
    for (std::uint32_t i = head_; i != kNil;) {
        Entry& e = entries_[i];
        const std::uint32_t next = links_[i].newer;
        const std::uint64_t idle = now_us > e.flow.time_end_us ? now_us - e.flow.time_end_us : 0;
        const std::uint64_t age = now_us > e.flow.time_start_us ? now_us - e.flow.time_start_us : 0;
        bool due = false;
        if (idle >= idle_limit_us(e)) {
            due = true;
            ++(e.tcp_end ? stats_.expired_tcp_end : stats_.expired_idle);
        } else if (age >= maxlife_us) {
            due = true;
            ++stats_.expired_active;
        }
        if (due) {
            sink.flow(e.flow);
            release(i);
            ++n;
        }
        i = next;
    }
    return n;
}

} // namespace flowacct::exporter
