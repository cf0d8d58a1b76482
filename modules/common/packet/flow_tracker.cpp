// SPDX-License-Identifier: GPL-2.0-or-later
// FlowTracker: bounded open-addressing tables for pmacctd-style flow starts and fragment joining.
#include "flow_tracker.hpp"

#include <cstring>   // std::memcmp, std::memcpy, std::memset
#include <utility>   // std::swap

namespace flowacct::packet {
namespace {

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint8_t kTcpAck = 0x10;
// pmacct's fixed TCP timeouts (ip_flow.h) for half-open and closing flows.
constexpr std::uint64_t kSynLifetimeUs = 60'000'000;
constexpr std::uint64_t kFinLifetimeUs = 30'000'000;
constexpr std::uint64_t kRstLifetimeUs = 10'000'000;
constexpr std::uint64_t kFragTimeoutUs = 60'000'000;
// A lookup inspects at most this many slots, so a full or adversarial table costs O(1).
constexpr std::uint32_t kProbe = 32;

std::uint32_t pow2_slots(std::uint64_t bytes, std::size_t slot_size) {
    std::uint64_t n = bytes / slot_size;
    std::uint32_t slots = 1024;
    while (slots < (1u << 24) && std::uint64_t{slots} * 2 <= n) slots *= 2;
    return slots;
}

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

inline std::uint64_t load64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

inline std::uint64_t finish(std::uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

} // namespace

FlowTracker::FlowTracker(const FlowTrackerConfig& config)
    : config_(config),
      flows_(pow2_slots(config.buffer_bytes, sizeof(Flow))),
      frags_(pow2_slots(config.frag_buffer_bytes, sizeof(Fragment))) {}

void FlowTracker::join_fragment(fa_record& rec, const FragmentInfo& frag, std::uint64_t now_us) {
    if (!frag.is_fragment || (rec.proto != 6 && rec.proto != 17)) return;
    std::uint64_t h = mix(mix(mix(0, load64(rec.src_ip)), load64(rec.src_ip + 8)), load64(rec.dst_ip + 8));
    h = finish(mix(mix(h, load64(rec.dst_ip)), (std::uint64_t{frag.id} << 8) | rec.proto));
    const std::uint32_t mask = static_cast<std::uint32_t>(frags_.size()) - 1;
    Fragment* reuse = nullptr;
    for (std::uint32_t i = 0; i < kProbe; ++i) {
        Fragment& f = frags_[(h + i) & mask];
        bool live = f.used && f.deadline_us > now_us;
        if (live && f.id == frag.id && f.proto == rec.proto && std::memcmp(f.src, rec.src_ip, 16) == 0 &&
            std::memcmp(f.dst, rec.dst_ip, 16) == 0) {
            if (frag.is_first) {
                f.src_port = rec.src_port;
                f.dst_port = rec.dst_port;
            } else {
                rec.src_port = f.src_port;
                rec.dst_port = f.dst_port;
                ++fragments_joined_;
            }
            return;
        }
        if (!live && !reuse) reuse = &f;
    }
    // Only a first fragment creates an entry; a later one whose first is unknown keeps ports 0
    // (pmacct holds such fragments back and may lose them; we count them as they come).
    if (!frag.is_first || !reuse) return;
    std::memcpy(reuse->src, rec.src_ip, 16);
    std::memcpy(reuse->dst, rec.dst_ip, 16);
    reuse->id = frag.id;
    reuse->proto = rec.proto;
    reuse->used = 1;
    reuse->src_port = rec.src_port;
    reuse->dst_port = rec.dst_port;
    reuse->deadline_us = now_us + kFragTimeoutUs;
}

bool FlowTracker::expired_dir(const Flow& f, int dir, std::uint64_t now_us) const {
    if (f.last_us[dir] == 0) return true;
    std::uint64_t idle = now_us > f.last_us[dir] ? now_us - f.last_us[dir] : 0;
    if (f.proto == kTcp) {
        std::uint8_t s = f.tcp_state[dir];
        if (s == 0) return idle > std::uint64_t{config_.tcp_lifetime_s} * 1'000'000;
        if ((s & kTcpSyn) && idle > kSynLifetimeUs) return true;
        if ((s & kTcpFin) && idle > kFinLifetimeUs) return true;
        if ((s & kTcpRst) && idle > kRstLifetimeUs) return true;
        return false;
    }
    return idle > std::uint64_t{config_.lifetime_s} * 1'000'000;
}

void FlowTracker::update_tcp(Flow& f, int dir, const fa_record& rec) {
    if (f.proto != kTcp) return;
    const int rev = dir ^ 1;
    if ((f.tcp_state[dir] & kTcpSyn) && (f.tcp_state[rev] & kTcpSyn) && (f.tcp_state[rev] & kTcpAck)) {
        f.tcp_state[0] = 0;  // handshake done: established
        f.tcp_state[1] = 0;
    }
    const std::uint8_t flags = rec.tcp_flags;
    if (flags & kTcpSyn) f.tcp_state[dir] = static_cast<std::uint8_t>(kTcpSyn | (flags & kTcpAck));
    if (flags & (kTcpFin | kTcpRst)) {
        const std::uint8_t s = flags & (kTcpFin | kTcpRst | kTcpSyn | kTcpAck);
        f.tcp_state[dir] = s;
        f.tcp_state[rev] = s;
    }
}

bool FlowTracker::observe(const fa_record& rec, std::uint64_t now_us) {
    // Normalise so both directions share one entry: `a` is the side with the higher port, or
    // the higher address when ports are equal; dir 1 means the packet goes b -> a.
    const std::uint8_t* a = rec.src_ip;
    const std::uint8_t* b = rec.dst_ip;
    std::uint16_t pa = rec.src_port, pb = rec.dst_port;
    int dir = 0;
    if (pa < pb || (pa == pb && std::memcmp(a, b, 16) < 0)) {
        std::swap(a, b);
        std::swap(pa, pb);
        dir = 1;
    }
    std::uint64_t h = mix(mix(mix(0, load64(a)), load64(a + 8)), load64(b));
    h = finish(mix(mix(h, load64(b + 8)), (std::uint64_t{pa} << 24) | (std::uint64_t{pb} << 8) | rec.proto));
    const std::uint32_t mask = static_cast<std::uint32_t>(flows_.size()) - 1;
    Flow* reuse = nullptr;
    for (std::uint32_t i = 0; i < kProbe; ++i) {
        Flow& f = flows_[(h + i) & mask];
        if (!f.used) {
            if (!reuse) reuse = &f;
            break;  // entries are never deleted, so the key is not further along
        }
        if (f.port_a == pa && f.port_b == pb && f.proto == rec.proto && std::memcmp(f.a, a, 16) == 0 &&
            std::memcmp(f.b, b, 16) == 0) {
            bool start = expired_dir(f, dir, now_us);
            if (start) {
                f.tcp_state[dir] = 0;
                f.last_us[dir] = 0;
            }
            update_tcp(f, dir, rec);
            f.last_us[dir] = now_us ? now_us : 1;
            return start;
        }
        if (!reuse && expired_dir(f, 0, now_us) && expired_dir(f, 1, now_us)) reuse = &f;
    }
    if (!reuse) {
        ++table_full_;
        return false;
    }
    std::memcpy(reuse->a, a, 16);
    std::memcpy(reuse->b, b, 16);
    reuse->port_a = pa;
    reuse->port_b = pb;
    reuse->proto = rec.proto;
    reuse->used = 1;
    reuse->tcp_state[0] = reuse->tcp_state[1] = 0;
    reuse->last_us[0] = reuse->last_us[1] = 0;
    update_tcp(*reuse, dir, rec);
    reuse->last_us[dir] = now_us ? now_us : 1;
    return true;
}

} // namespace flowacct::packet
