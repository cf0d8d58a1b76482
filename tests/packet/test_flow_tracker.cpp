// SPDX-License-Identifier: GPL-2.0-or-later
// FlowTracker tests: pmacctd's flow starts per direction, lifetimes, TCP states, bounds, fragments.
#include <doctest/doctest.h>   // TEST_CASE, CHECK

#include <cstring>             // std::memcpy

#include "flow_tracker.hpp"    // FlowTracker

using namespace flowacct::packet;

namespace {

constexpr std::uint64_t kSec = 1'000'000;
constexpr std::uint64_t kT0 = 1'700'000'000 * kSec;

fa_record rec(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport, std::uint8_t proto = 17,
              std::uint8_t flags = 0) {
    fa_record r{};
    r.src_ip[10] = r.src_ip[11] = r.dst_ip[10] = r.dst_ip[11] = 0xff;
    for (int i = 0; i < 4; ++i) {
        r.src_ip[12 + i] = static_cast<std::uint8_t>(src >> (24 - 8 * i));
        r.dst_ip[12 + i] = static_cast<std::uint8_t>(dst >> (24 - 8 * i));
    }
    r.src_port = sport;
    r.dst_port = dport;
    r.proto = proto;
    r.tcp_flags = flags;
    r.ip_version = 4;
    return r;
}

} // namespace

TEST_CASE("a flow starts once per direction while it stays active") {
    FlowTracker t{FlowTrackerConfig{}};
    fa_record fwd = rec(0x0a000001, 0xc0000207, 40000, 53);
    fa_record back = rec(0xc0000207, 0x0a000001, 53, 40000);
    CHECK(t.observe(fwd, kT0));
    CHECK_FALSE(t.observe(fwd, kT0 + 1 * kSec));
    CHECK(t.observe(back, kT0 + 2 * kSec));  // pmacct counts the reverse direction as a flow too
    CHECK_FALSE(t.observe(back, kT0 + 3 * kSec));
    CHECK_FALSE(t.observe(fwd, kT0 + 50 * kSec));
    CHECK(t.observe(rec(0x0a000001, 0xc0000207, 40001, 53), kT0 + 50 * kSec));
}

TEST_CASE("an idle flow starts again after pmacctd_flow_lifetime") {
    FlowTrackerConfig c;
    c.lifetime_s = 10;
    FlowTracker t{c};
    fa_record r = rec(1, 2, 1000, 2000);
    CHECK(t.observe(r, kT0));
    CHECK_FALSE(t.observe(r, kT0 + 10 * kSec));  // idle exactly the lifetime: still the same flow
    CHECK(t.observe(r, kT0 + 21 * kSec));
}

TEST_CASE("TCP flows follow pmacct's state timeouts") {
    FlowTrackerConfig c;
    c.lifetime_s = 60;
    c.tcp_lifetime_s = 3600;
    FlowTracker t{c};
    fa_record syn = rec(1, 2, 40000, 80, 6, 0x02);
    fa_record synack = rec(2, 1, 80, 40000, 6, 0x12);
    fa_record ack = rec(1, 2, 40000, 80, 6, 0x10);
    fa_record rst = rec(1, 2, 40000, 80, 6, 0x04);
    CHECK(t.observe(syn, kT0));
    CHECK(t.observe(synack, kT0 + 1));
    CHECK_FALSE(t.observe(ack, kT0 + 2));  // handshake complete: established

    SUBCASE("established flows live for pmacctd_flow_tcp_lifetime") {
        CHECK_FALSE(t.observe(ack, kT0 + 3000 * kSec));
        CHECK(t.observe(ack, kT0 + 7000 * kSec));
    }
    SUBCASE("after a reset the flow ends 10 s later") {
        CHECK_FALSE(t.observe(rst, kT0 + 3));
        CHECK_FALSE(t.observe(ack, kT0 + 5 * kSec));
        CHECK(t.observe(ack, kT0 + 16 * kSec));
    }
}

TEST_CASE("a full flow table stops counting new flows and says so, without growing") {
    FlowTrackerConfig c;
    c.buffer_bytes = 1;  // the minimum table
    FlowTracker t{c};
    const std::uint32_t cap = t.capacity();
    REQUIRE(cap >= 1024);
    std::uint32_t starts = 0;
    for (std::uint32_t i = 0; i < cap * 2; ++i)
        if (t.observe(rec(i, 0x0a0a0a0a, 1, 2), kT0)) ++starts;
    CHECK(starts <= cap);
    CHECK(starts > cap / 2);
    CHECK(t.table_full() == cap * 2 - starts);
    CHECK(t.capacity() == cap);
    // Once the old flows expired their slots are reused.
    std::uint32_t later = 0;
    for (std::uint32_t i = 0; i < cap / 2; ++i)
        if (t.observe(rec(i + 10 * cap, 0x0a0a0a0a, 1, 2), kT0 + 3600 * kSec)) ++later;
    CHECK(later == cap / 2);
}

TEST_CASE("later fragments take the ports of their first fragment") {
    FlowTracker t{FlowTrackerConfig{}};
    fa_record first = rec(1, 2, 5000, 6000);
    FragmentInfo f1{true, true, 99};
    t.join_fragment(first, f1, kT0);
    CHECK(first.src_port == 5000);

    fa_record later = rec(1, 2, 0, 0);
    later.flags = FA_REC_FRAGMENT;
    FragmentInfo f2{true, false, 99};
    t.join_fragment(later, f2, kT0 + 1);
    CHECK(later.src_port == 5000);
    CHECK(later.dst_port == 6000);
    CHECK(t.fragments_joined() == 1);
    CHECK(t.observe(first, kT0));
    CHECK_FALSE(t.observe(later, kT0 + 1));  // joined: part of the same flow

    SUBCASE("an orphan keeps ports 0") {
        fa_record orphan = rec(1, 2, 0, 0);
        FragmentInfo f3{true, false, 100};
        t.join_fragment(orphan, f3, kT0 + 2);
        CHECK(orphan.src_port == 0);
    }
    SUBCASE("a first fragment older than 60 s is forgotten") {
        fa_record late = rec(1, 2, 0, 0);
        t.join_fragment(late, f2, kT0 + 61 * kSec);
        CHECK(late.src_port == 0);
    }
}
