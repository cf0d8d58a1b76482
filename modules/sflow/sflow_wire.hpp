// SPDX-License-Identifier: GPL-2.0-or-later
// sFlow v5 wire constants (sFlow version 5 specification, sflow.org) and a bounds-checked
// big-endian reader used by the decoder.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t, std::uint32_t, std::uint64_t
#include <cstring>  // std::memcpy

namespace flowacct::sflow {

inline constexpr std::uint32_t kVersion5 = 5;

// Address types of the datagram header and of next hops.
inline constexpr std::uint32_t kAddrIPv4 = 1;
inline constexpr std::uint32_t kAddrIPv6 = 2;

// Sample formats, enterprise 0: data_format = enterprise << 12 | format.
inline constexpr std::uint32_t kFlowSample = 1;
inline constexpr std::uint32_t kCounterSample = 2;
inline constexpr std::uint32_t kFlowSampleExpanded = 3;
inline constexpr std::uint32_t kCounterSampleExpanded = 4;

// Flow record formats, enterprise 0.
inline constexpr std::uint32_t kRecRawHeader = 1;
inline constexpr std::uint32_t kRecEthernet = 2;
inline constexpr std::uint32_t kRecIPv4 = 3;
inline constexpr std::uint32_t kRecIPv6 = 4;
inline constexpr std::uint32_t kRecExtSwitch = 1001;
inline constexpr std::uint32_t kRecExtRouter = 1002;
inline constexpr std::uint32_t kRecExtGateway = 1003;

// Counter record formats, enterprise 0.
inline constexpr std::uint32_t kCntGenericInterface = 1;

// header_protocol values of the raw packet header record.
inline constexpr std::uint32_t kHeaderEthernet = 1;
inline constexpr std::uint32_t kHeaderIPv4 = 11;
inline constexpr std::uint32_t kHeaderIPv6 = 12;

// Fixed record sizes, in bytes.
inline constexpr std::size_t kSampledIPv4Bytes = 32;
inline constexpr std::size_t kSampledIPv6Bytes = 56;
inline constexpr std::size_t kSampledEthernetBytes = 24;
inline constexpr std::size_t kExtSwitchBytes = 16;
inline constexpr std::size_t kGenericInterfaceBytes = 88;

// Interface value of a flow sample whose interface is not known.
inline constexpr std::uint32_t kIfUnknown = 0x3FFFFFFF;

/// Big-endian 32-bit load; the caller has checked that 4 bytes are there.
[[gnu::always_inline]] inline std::uint32_t load_u32(const std::uint8_t* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

/// A read-only view of untrusted bytes. Every read checks the bounds first and fails without
/// moving when the bytes are not there, so a caller can never read past `end`.
/// Owns nothing: the bytes must outlive the cursor.
struct Cursor {
    const std::uint8_t* p;
    const std::uint8_t* end;

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end - p); }
    bool empty() const noexcept { return p == end; }

    [[gnu::always_inline]] bool u32(std::uint32_t& out) noexcept {
        if (remaining() < 4) return false;
        out = load_u32(p);
        p += 4;
        return true;
    }
    /// Reads n consecutive 32-bit words after one bounds check.
    template <std::size_t N> [[gnu::always_inline]] bool words(std::uint32_t (&out)[N]) noexcept {
        if (remaining() < 4 * N) return false;
        for (std::size_t i = 0; i < N; ++i) out[i] = load_u32(p + 4 * i);
        p += 4 * N;
        return true;
    }
    bool u64(std::uint64_t& out) noexcept {
        std::uint32_t hi = 0, lo = 0;
        if (remaining() < 8) return false;
        u32(hi);
        u32(lo);
        out = (std::uint64_t{hi} << 32) | lo;
        return true;
    }
    [[gnu::always_inline]] bool bytes(std::size_t n, const std::uint8_t*& out) noexcept {
        if (remaining() < n) return false;
        out = p;
        p += n;
        return true;
    }
    [[gnu::always_inline]] bool skip(std::size_t n) noexcept {
        if (remaining() < n) return false;
        p += n;
        return true;
    }
    /// Splits off the next `n` bytes as their own cursor.
    [[gnu::always_inline]] bool sub(std::size_t n, Cursor& out) noexcept {
        if (remaining() < n) return false;
        out = Cursor{p, p + n};
        p += n;
        return true;
    }
};

/// Reads an sFlow address (type, then 4 or 16 bytes) into the 16-byte form (IPv4-mapped for
/// IPv4). Returns 4 or 6, 0 for an unknown type (the cursor then stays after the type), -1
/// when the bytes are missing.
inline int read_address(Cursor& c, std::uint8_t out[16]) noexcept {
    std::uint32_t type = 0;
    if (!c.u32(type)) return -1;
    const std::uint8_t* a = nullptr;
    if (type == kAddrIPv4) {
        if (!c.bytes(4, a)) return -1;
        std::memset(out, 0, 10);
        out[10] = 0xff;
        out[11] = 0xff;
        std::memcpy(out + 12, a, 4);
        return 4;
    }
    if (type == kAddrIPv6) {
        if (!c.bytes(16, a)) return -1;
        std::memcpy(out, a, 16);
        return 6;
    }
    return 0;
}

} // namespace flowacct::sflow
