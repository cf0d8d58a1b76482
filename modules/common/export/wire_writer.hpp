// SPDX-License-Identifier: GPL-2.0-or-later
// Bounded big-endian writer over a caller's fixed buffer: the encoders never write past it.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t .. std::uint64_t
#include <cstring>  // std::memcpy, std::memset

namespace flowacct::exporter {

/// Writes network-order integers and bytes into [buf, buf + cap). Callers check room() before a
/// unit they must not split; a write past the end is refused (nothing written, ok() turns false),
/// so a logic error shows up as a short datagram the caller drops, never as memory corruption.
class WireWriter {
public:
    WireWriter(std::uint8_t* buf, std::size_t cap) : buf_(buf), cap_(cap) {}

    std::size_t size() const { return len_; }
    std::size_t room() const { return cap_ - len_; }
    bool ok() const { return ok_; }
    std::uint8_t* data() { return buf_; }
    void reset() { len_ = 0; ok_ = true; }

    void u8(std::uint8_t v) { if (need(1)) buf_[len_++] = v; }
    void u16(std::uint16_t v) {
        if (!need(2)) return;
        buf_[len_] = static_cast<std::uint8_t>(v >> 8);
        buf_[len_ + 1] = static_cast<std::uint8_t>(v);
        len_ += 2;
    }
    void u32(std::uint32_t v) {
        if (!need(4)) return;
        for (std::size_t i = 0; i < 4; ++i) buf_[len_ + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
        len_ += 4;
    }
    void u64(std::uint64_t v) {
        u32(static_cast<std::uint32_t>(v >> 32));
        u32(static_cast<std::uint32_t>(v));
    }
    void bytes(const void* p, std::size_t n) {
        if (!need(n)) return;
        std::memcpy(buf_ + len_, p, n);
        len_ += n;
    }
    void zeros(std::size_t n) {
        if (!need(n)) return;
        std::memset(buf_ + len_, 0, n);
        len_ += n;
    }
    /// Claims the next `n` bytes for a Cursor to fill: one bounds check for a whole record.
    /// Returns nullptr (ok() turns false) when they are not there.
    std::uint8_t* claim(std::size_t n) {
        if (!need(n)) return nullptr;
        std::uint8_t* p = buf_ + len_;
        len_ += n;
        return p;
    }
    /// Marks the datagram torn (a claimed unit was not filled as it should have been).
    void fail() { ok_ = false; }
    /// Overwrites an already written 16/32-bit field (lengths and counts known at the end).
    void patch16(std::size_t at, std::uint16_t v) {
        if (at + 2 > len_) { ok_ = false; return; }
        buf_[at] = static_cast<std::uint8_t>(v >> 8);
        buf_[at + 1] = static_cast<std::uint8_t>(v);
    }
    void patch32(std::size_t at, std::uint32_t v) {
        if (at + 4 > len_) { ok_ = false; return; }
        for (std::size_t i = 0; i < 4; ++i) buf_[at + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
    }

private:
    bool need(std::size_t n) {
        if (n > cap_ - len_) { ok_ = false; return false; }
        return true;
    }
    std::uint8_t* buf_;
    std::size_t cap_;
    std::size_t len_ = 0;
    bool ok_ = true;
};

/// Network-order stores into bytes WireWriter::claim() handed out; no checks of its own.
struct Cursor {
    std::uint8_t* p;
    void u8(std::uint8_t v) { *p++ = v; }
    void u16(std::uint16_t v) { store(__builtin_bswap16(v)); }
    void u32(std::uint32_t v) { store(__builtin_bswap32(v)); }
    void u64(std::uint64_t v) { store(__builtin_bswap64(v)); }
    void bytes(const void* src, std::size_t n) {
        std::memcpy(p, src, n);
        p += n;
    }

private:
    template <class T> void store(T v) {
        std::memcpy(p, &v, sizeof v);
        p += sizeof v;
    }
};

/// True when a 16-byte address is IPv4-mapped (::ffff:a.b.c.d).
inline bool is_v4_mapped(const std::uint8_t* a) {
    static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(a, kPrefix, 12) == 0;
}

} // namespace flowacct::exporter
