// SPDX-License-Identifier: GPL-2.0-or-later
// FlowTracker: pmacctd's notion of a "new flow", kept in a fixed-size table; also joins IP
// fragments so later fragments get the ports of their first fragment.
#pragma once

#include <cstdint>        // std::uint64_t
#include <cstdlib>        // std::calloc, std::free
#include <memory>         // std::unique_ptr
#include <new>            // std::bad_alloc
#include <type_traits>    // std::is_trivially_copyable_v

#include <flowacct/abi.h> // fa_record

#include "packet_decode.hpp" // FragmentInfo

namespace flowacct::packet {

/// Settings, named after pmacct's keys.
struct FlowTrackerConfig {
    std::uint64_t buffer_bytes = 16384000;  // pmacctd_flow_buffer_size: caps the table's memory
    std::uint32_t lifetime_s = 60;          // pmacctd_flow_lifetime: idle timeout of non-TCP flows
    std::uint32_t tcp_lifetime_s = 60;      // pmacctd_flow_tcp_lifetime: idle timeout of established TCP
    std::uint64_t frag_buffer_bytes = 4194304; // pmacctd_frag_buffer_size: caps the fragment table
};

/// Marks the packets that start a flow, the way pmacctd does: a flow is bidirectional and keyed
/// on (addresses, ports, protocol); each direction starts a flow when it has been idle longer
/// than its lifetime (TCP: 60 s while opening, 30 s after FIN, 10 s after RST, tcp_lifetime
/// once established; a handshake counts as established once both sides sent SYN, without
/// pmacct's sequence-number check, since records do not carry it). Time is the packet timestamp, so a replayed savefile counts the same
/// flows however fast it is read.
///
/// One instance per input thread; not thread-safe. Memory is reserved once, in the
/// constructor, from the configured sizes, as zero pages the kernel maps in only where flows and
/// fragments land (an input that tracks no flows costs no memory for the table). When the table is full and no idle slot is near,
/// the packet is not counted as a new flow and table_full() grows (pmacct: "Flow buffer full.
/// Skipping flows").
class FlowTracker {
public:
    explicit FlowTracker(const FlowTrackerConfig& config);

    /// Gives a non-first fragment the ports of its first fragment if that one was seen and
    /// remembers first fragments. Call before observe(), with the FragmentInfo of the decode.
    void join_fragment(fa_record& rec, const FragmentInfo& frag, std::uint64_t now_us);

    /// Returns true if `rec` (an IP record: addresses, ports, proto, tcp_flags) starts a flow.
    bool observe(const fa_record& rec, std::uint64_t now_us);

    std::uint64_t table_full() const { return table_full_; }
    std::uint64_t fragments_joined() const { return fragments_joined_; }
    std::uint32_t capacity() const { return static_cast<std::uint32_t>(flows_.size()); }

private:
    struct Flow {
        std::uint8_t a[16];      // normalised: the endpoint with the higher port (or address)
        std::uint8_t b[16];
        std::uint16_t port_a;
        std::uint16_t port_b;
        std::uint8_t proto;
        std::uint8_t used;
        std::uint8_t tcp_state[2];  // per direction: 0 established/none, else SYN/ACK/FIN/RST bits
        std::uint64_t last_us[2];   // per direction, 0 = never seen
    };
    struct Fragment {
        std::uint8_t src[16];
        std::uint8_t dst[16];
        std::uint32_t id;
        std::uint8_t proto;
        std::uint8_t used;
        std::uint16_t src_port;
        std::uint16_t dst_port;
        std::uint64_t deadline_us;
    };

    /// A fixed array of all-zero T from calloc, which for large sizes takes fresh pages from
    /// the kernel without writing them.
    template <class T> class ZeroTable {
        static_assert(std::is_trivially_copyable_v<T>);

    public:
        explicit ZeroTable(std::size_t n) : data_(static_cast<T*>(std::calloc(n, sizeof(T)))), size_(n) {
            if (!data_) throw std::bad_alloc();
        }
        T& operator[](std::size_t i) { return data_.get()[i]; }
        std::size_t size() const { return size_; }

    private:
        struct Free {
            void operator()(T* p) const { std::free(p); }
        };
        std::unique_ptr<T, Free> data_;
        std::size_t size_;
    };

    bool expired_dir(const Flow& f, int dir, std::uint64_t now_us) const;
    void update_tcp(Flow& f, int dir, const fa_record& rec);

    FlowTrackerConfig config_;
    ZeroTable<Flow> flows_;
    ZeroTable<Fragment> frags_;
    std::uint64_t table_full_ = 0;
    std::uint64_t fragments_joined_ = 0;
};

} // namespace flowacct::packet
