// SPDX-License-Identifier: GPL-2.0-or-later
// Builds NetFlow v5 / v9 / IPFIX datagrams byte by byte: used by flowacct-gen-netflow and by
// the decoder's tests to write exact (and deliberately broken) inputs.
#pragma once

#include <cstddef>          // std::size_t
#include <cstdint>          // std::uint8_t .. std::uint64_t
#include <initializer_list> // std::initializer_list
#include <utility>          // std::pair
#include <vector>           // std::vector

namespace flowacct::gen {

/// A growing big-endian byte buffer with length patching. Single-threaded value type.
class Writer {
public:
    Writer& u8(std::uint64_t v) { buf_.push_back(static_cast<std::uint8_t>(v)); return *this; }
    Writer& u16(std::uint64_t v) { return u8(v >> 8).u8(v); }
    Writer& u32(std::uint64_t v) { return u16(v >> 16).u16(v); }
    Writer& u64(std::uint64_t v) { return u32(v >> 32).u32(v); }
    Writer& uint(std::uint64_t v, unsigned len) {
        for (unsigned i = len; i-- > 0;) u8(i >= 8 ? 0 : v >> (8 * i));
        return *this;
    }
    Writer& bytes(const void* p, std::size_t n) {
        auto* b = static_cast<const std::uint8_t*>(p);
        buf_.insert(buf_.end(), b, b + n);
        return *this;
    }
    Writer& zeros(std::size_t n) { buf_.insert(buf_.end(), n, 0); return *this; }
    Writer& ip4(std::uint32_t a) { return u32(a); }

    std::size_t size() const { return buf_.size(); }
    void patch16(std::size_t pos, std::uint64_t v) {
        buf_[pos] = static_cast<std::uint8_t>(v >> 8);
        buf_[pos + 1] = static_cast<std::uint8_t>(v);
    }
    std::vector<std::uint8_t>& data() { return buf_; }

    // ---- NetFlow v5 ----
    Writer& v5_header(std::uint16_t count, std::uint32_t uptime_ms, std::uint32_t secs, std::uint32_t nsecs,
                      std::uint32_t seq, std::uint8_t engine_type = 0, std::uint8_t engine_id = 0,
                      std::uint16_t sampling = 0) {
        return u16(5).u16(count).u32(uptime_ms).u32(secs).u32(nsecs).u32(seq).u8(engine_type).u8(engine_id).u16(sampling);
    }
    struct V5Record {
        std::uint32_t src = 0, dst = 0, nexthop = 0;
        std::uint16_t in = 0, out = 0;
        std::uint32_t packets = 0, bytes = 0, first = 0, last = 0;
        std::uint16_t sport = 0, dport = 0;
        std::uint8_t flags = 0, proto = 0, tos = 0;
        std::uint16_t src_as = 0, dst_as = 0;
        std::uint8_t src_mask = 0, dst_mask = 0;
    };
    Writer& v5_record(const V5Record& r) {
        return ip4(r.src).ip4(r.dst).ip4(r.nexthop).u16(r.in).u16(r.out).u32(r.packets).u32(r.bytes).u32(r.first)
            .u32(r.last).u16(r.sport).u16(r.dport).u8(0).u8(r.flags).u8(r.proto).u8(r.tos).u16(r.src_as)
            .u16(r.dst_as).u8(r.src_mask).u8(r.dst_mask).u16(0);
    }

    // ---- v9 / IPFIX framing ----
    Writer& v9_header(std::uint16_t count, std::uint32_t uptime_ms, std::uint32_t secs, std::uint32_t seq,
                      std::uint32_t source_id) {
        return u16(9).u16(count).u32(uptime_ms).u32(secs).u32(seq).u32(source_id);
    }
    /// The length is patched by ipfix_end().
    Writer& ipfix_header(std::uint32_t export_secs, std::uint32_t seq, std::uint32_t odid) {
        return u16(10).u16(0).u32(export_secs).u32(seq).u32(odid);
    }
    Writer& ipfix_end() { patch16(2, buf_.size()); return *this; }

    Writer& set_begin(std::uint16_t id) {
        set_pos_ = buf_.size();
        return u16(id).u16(0);
    }
    /// Pads the set to a multiple of `align` bytes with zeros, then patches its length.
    Writer& set_end(std::size_t align = 1) {
        while ((buf_.size() - set_pos_) % align) u8(0);
        patch16(set_pos_ + 2, buf_.size() - set_pos_);
        return *this;
    }

    /// A field: element id (with the enterprise bit when pen != 0), length, pen.
    struct Field {
        std::uint16_t id;
        std::uint16_t len;
        std::uint32_t pen = 0;
    };
    Writer& template_record(std::uint16_t id, std::initializer_list<Field> fields) {
        return template_record(id, std::vector<Field>(fields));
    }
    Writer& template_record(std::uint16_t id, const std::vector<Field>& fields) {
        u16(id).u16(fields.size());
        for (const Field& f : fields) field(f);
        return *this;
    }
    Writer& field(const Field& f) {
        u16(f.pen ? (f.id | 0x8000) : f.id).u16(f.len);
        if (f.pen) u32(f.pen);
        return *this;
    }
    /// v9 options template: scope fields (v9 scope types) then option fields.
    Writer& v9_options_template(std::uint16_t id, std::initializer_list<Field> scopes, std::initializer_list<Field> opts) {
        u16(id).u16(scopes.size() * 4).u16(opts.size() * 4);
        for (const Field& f : scopes) field(f);
        for (const Field& f : opts) field(f);
        return *this;
    }
    /// IPFIX options template: the first `scope_count` fields are scopes.
    Writer& ipfix_options_template(std::uint16_t id, std::uint16_t scope_count, std::initializer_list<Field> fields) {
        u16(id).u16(fields.size()).u16(scope_count);
        for (const Field& f : fields) field(f);
        return *this;
    }

private:
    std::vector<std::uint8_t> buf_;
    std::size_t set_pos_ = 0;
};

} // namespace flowacct::gen
