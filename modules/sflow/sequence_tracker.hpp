// SPDX-License-Identifier: GPL-2.0-or-later
// Sequence number accounting for one sFlow agent and sub-agent: lost, reordered, duplicate
// and reset datagrams, wrap-aware over 2^32.
#pragma once

#include <cstdint> // std::uint32_t, std::uint64_t

namespace flowacct::sflow {

/// What one observed sequence number meant.
enum class SeqEvent : std::uint8_t { First, InOrder, Gap, Reordered, Duplicate, Reset };

/// Tracks the datagram sequence numbers of one agent. Plain value type, no allocation; used by
/// the decoding thread only.
class SequenceTracker {
public:
    /// Jumps larger than this, either way, are an agent restart rather than loss.
    static constexpr std::uint32_t kResetGap = 1u << 20;
    /// An uptime this much lower than the last one (ms), with the sequence going back too,
    /// means the agent restarted.
    static constexpr std::uint32_t kUptimeSlackMs = 10000;

    /// Records sequence number `seq` seen with agent uptime `uptime_ms`. `gap` receives the
    /// number of datagrams skipped when the result is Gap.
    SeqEvent observe(std::uint32_t seq, std::uint32_t uptime_ms, std::uint32_t& gap) noexcept {
        gap = 0;
        if (!seen_) {
            restart(seq, uptime_ms);
            return SeqEvent::First;
        }
        const auto delta = static_cast<std::int32_t>(seq - expected_);
        const bool uptime_back = static_cast<std::int32_t>(last_uptime_ms_ - uptime_ms) > static_cast<std::int32_t>(kUptimeSlackMs);
        if ((delta < 0 && uptime_back) || delta > static_cast<std::int32_t>(kResetGap) ||
            delta < -static_cast<std::int32_t>(kResetGap)) {
            restart(seq, uptime_ms);
            return SeqEvent::Reset;
        }
        if (delta >= 0) {
            const std::uint32_t shift = static_cast<std::uint32_t>(delta) + 1;
            window_ = (shift >= 64 ? 0 : window_ << shift) | 1u;
            expected_ = seq + 1;
            last_uptime_ms_ = uptime_ms;
            if (delta == 0) return SeqEvent::InOrder;
            gap = static_cast<std::uint32_t>(delta);
            return SeqEvent::Gap;
        }
        // Behind what we expect: bit i of the window is expected_-1-i.
        const std::uint32_t back = static_cast<std::uint32_t>(-delta) - 1;
        if (back < 64) {
            const std::uint64_t bit = std::uint64_t{1} << back;
            if (window_ & bit) return SeqEvent::Duplicate;
            window_ |= bit;
        }
        return SeqEvent::Reordered;
    }

    std::uint32_t expected() const noexcept { return expected_; }

private:
    void restart(std::uint32_t seq, std::uint32_t uptime_ms) noexcept {
        seen_ = true;
        expected_ = seq + 1;
        window_ = 1;
        last_uptime_ms_ = uptime_ms;
    }

    std::uint64_t window_ = 0;
    std::uint32_t expected_ = 0;
    std::uint32_t last_uptime_ms_ = 0;
    bool seen_ = false;
};

} // namespace flowacct::sflow
