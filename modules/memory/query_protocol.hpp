// SPDX-License-Identifier: GPL-2.0-or-later
// The memory table's query protocol: request and response frames, and the packed key layout
// shared by the memory output (server) and the `flowacct` client. Header-only, no I/O.
//
// Every frame starts with a fixed header carrying a magic, a protocol version and the body
// length, so a reader knows how much to expect before reading it and can refuse a request that
// is too large, of another version or malformed without guessing. All integers little-endian.
//
//   request : magic u32 | version u16 | type u16 | flags u32 | body_len u32 | body
//             body = sort u8 | pad u8[3] | top_n u32 | n_prims u16 | prim u8 * n_prims |
//                    n_queries u32 | per query, per prim: len u16 | value bytes
//   response: magic u32 | version u16 | status u16 | body_len u64 | body
//             status 0: body per request type; status 1: body is an error message
//   rows body: primitives u64 | history_s u32 | reserved u8 | n_names u32 |
//              (id u32 | len u16 | name bytes) * n_names | n_rows u64 | rows
//   one row = packed key (KeyLayout) | packets u64 | bytes u64 | flows u64 |
//             stamp_updated_s u32 | tcp_flags u8      -- the table's own slot format
//   sums body (-N): n u32 | (packets u64 | bytes u64 | flows u64) * n
#pragma once

#include <cstddef>        // offsetof, std::size_t
#include <cstdint>        // std::uint8_t .. std::uint64_t
#include <cstring>        // std::memcpy
#include <string>         // std::string
#include <string_view>    // std::string_view
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_record, fa_row, fa_primitive

namespace flowacct::memory::proto {

constexpr std::uint32_t kRequestMagic = 0x31514146;   // "FAQ1"
constexpr std::uint32_t kResponseMagic = 0x31524146;  // "FAR1"
constexpr std::uint16_t kVersion = 1;
constexpr std::size_t kRequestHeaderBytes = 16;
constexpr std::size_t kResponseHeaderBytes = 16;
constexpr std::uint32_t kMaxRequestBodyBytes = 1u << 20;  // 1 MiB: 4096 queries of long values
constexpr std::uint32_t kMaxQueries = 4096;               // pmacct's limit per request
constexpr std::uint16_t kMaxValueBytes = 255;
constexpr std::uint64_t kMaxResponseBodyBytes = 1ull << 34; // sanity bound for the client

enum class RequestType : std::uint16_t {
    Dump = 1,       // -s
    Match = 2,      // -M (rows) or -N (sums, flag kCountersOnly)
    Erase = 3,      // -e
    SinceErase = 4, // -i
    Status = 5,     // -t
    Stats = 6,      // -X: entries, memory, drops and the host's counters as JSON
};

enum RequestFlags : std::uint32_t {
    kFlagReset = 1u << 0,         // -r: zero the counters of the rows read
    kFlagCountersOnly = 1u << 1,  // -N: one sum per query instead of rows
    kFlagKnownFlags = kFlagReset | kFlagCountersOnly,
};

enum class SortBy : std::uint8_t { None = 0, Packets = 1, Bytes = 2, Flows = 3 };

enum class Status : std::uint16_t { Ok = 0, Error = 1 };

struct Request {
    RequestType type = RequestType::Dump;
    std::uint32_t flags = 0;
    SortBy sort = SortBy::None;
    std::uint32_t top_n = 0;                         // 0: all rows
    std::vector<fa_primitive> primitives;            // -c, in the user's order
    std::vector<std::vector<std::string>> queries;   // values per query, in -c order; "*" = any
};

// ---- little-endian helpers -------------------------------------------------------------

inline void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }
inline void put_u16(std::string& out, std::uint16_t v) {
    for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline std::uint64_t get_le(const std::uint8_t* p, int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

/// A bounds-checked reader over a byte range. Every get fails (returns false) instead of reading
/// past the end; after a failure the reader stays failed.
class Reader {
public:
    Reader(const std::uint8_t* data, std::size_t len) : p_(data), end_(data + len) {}
    bool u8(std::uint8_t& v) { return take(1) ? (v = static_cast<std::uint8_t>(get_le(last_, 1)), true) : false; }
    bool u16(std::uint16_t& v) { return take(2) ? (v = static_cast<std::uint16_t>(get_le(last_, 2)), true) : false; }
    bool u32(std::uint32_t& v) { return take(4) ? (v = static_cast<std::uint32_t>(get_le(last_, 4)), true) : false; }
    bool u64(std::uint64_t& v) { return take(8) ? (v = get_le(last_, 8), true) : false; }
    bool bytes(std::size_t n, const std::uint8_t*& out) { return take(n) ? (out = last_, true) : false; }
    std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
    bool ok() const { return ok_; }

private:
    bool take(std::size_t n) {
        if (!ok_ || remaining() < n) return ok_ = false;
        last_ = p_;
        p_ += n;
        return true;
    }
    const std::uint8_t* p_;
    const std::uint8_t* end_;
    const std::uint8_t* last_ = nullptr;
    bool ok_ = true;
};

// ---- requests ---------------------------------------------------------------------------

/// Serializes a request, header included. Called by the client.
inline std::string encode_request(const Request& r) {
    std::string body;
    put_u8(body, static_cast<std::uint8_t>(r.sort));
    put_u8(body, 0);
    put_u8(body, 0);
    put_u8(body, 0);
    put_u32(body, r.top_n);
    put_u16(body, static_cast<std::uint16_t>(r.primitives.size()));
    for (fa_primitive p : r.primitives) put_u8(body, static_cast<std::uint8_t>(p));
    put_u32(body, static_cast<std::uint32_t>(r.queries.size()));
    for (const auto& q : r.queries)
        for (const auto& v : q) {
            put_u16(body, static_cast<std::uint16_t>(v.size()));
            body += v;
        }
    std::string out;
    put_u32(out, kRequestMagic);
    put_u16(out, kVersion);
    put_u16(out, static_cast<std::uint16_t>(r.type));
    put_u32(out, r.flags);
    put_u32(out, static_cast<std::uint32_t>(body.size()));
    return out + body;
}

enum class Decode { Incomplete, Ok, Bad };

/// Checks a request header (the first kRequestHeaderBytes bytes). Sets `body_len`; returns Bad
/// with `error` for a wrong magic, version, type, flags or a body over kMaxRequestBodyBytes.
inline Decode check_request_header(const std::uint8_t* data, std::size_t len, std::uint32_t& body_len,
                                   std::string& error) {
    if (len < kRequestHeaderBytes) return Decode::Incomplete;
    Reader rd(data, len);
    std::uint32_t magic = 0, flags = 0;
    std::uint16_t version = 0, type = 0;
    rd.u32(magic);
    rd.u16(version);
    rd.u16(type);
    rd.u32(flags);
    rd.u32(body_len);
    if (magic != kRequestMagic) return error = "not a flowacct query (bad magic)", Decode::Bad;
    if (version != kVersion)
        return error = "query protocol version " + std::to_string(version) + " not supported (server speaks " +
                       std::to_string(kVersion) + ")",
               Decode::Bad;
    if (type < 1 || type > 6) return error = "unknown request type " + std::to_string(type), Decode::Bad;
    if (flags & ~static_cast<std::uint32_t>(kFlagKnownFlags)) return error = "unknown request flags", Decode::Bad;
    if (body_len > kMaxRequestBodyBytes)
        return error = "request of " + std::to_string(body_len) + " bytes exceeds the limit of " +
                       std::to_string(kMaxRequestBodyBytes),
               Decode::Bad;
    return Decode::Ok;
}

/// Decodes one whole request frame from `data`. Incomplete: more bytes are needed; Bad: `error`
/// says why. Never reads past `len`, never allocates more than the frame's own size implies.
/// Called by the server on its socket thread; also the fuzz target's entry point.
inline Decode decode_request(const std::uint8_t* data, std::size_t len, Request& out, std::string& error) {
    std::uint32_t body_len = 0;
    Decode h = check_request_header(data, len, body_len, error);
    if (h != Decode::Ok) return h;
    if (len < kRequestHeaderBytes + body_len) return Decode::Incomplete;
    if (len > kRequestHeaderBytes + body_len) return error = "trailing bytes after the request", Decode::Bad;
    out = Request{};
    out.type = static_cast<RequestType>(get_le(data + 6, 2));
    out.flags = static_cast<std::uint32_t>(get_le(data + 8, 4));
    Reader rd(data + kRequestHeaderBytes, body_len);
    std::uint8_t sort = 0, pad = 0;
    std::uint16_t n_prims = 0;
    std::uint32_t n_queries = 0;
    rd.u8(sort);
    rd.u8(pad);
    rd.u8(pad);
    rd.u8(pad);
    rd.u32(out.top_n);
    rd.u16(n_prims);
    if (!rd.ok()) return error = "truncated request", Decode::Bad;
    if (sort > 3) return error = "bad sort field", Decode::Bad;
    out.sort = static_cast<SortBy>(sort);
    if (n_prims > FA_P_COUNT) return error = "too many primitives", Decode::Bad;
    std::uint64_t seen = 0;
    for (std::uint16_t i = 0; i < n_prims; ++i) {
        std::uint8_t p = 0;
        if (!rd.u8(p)) return error = "truncated request", Decode::Bad;
        if (p >= FA_P_COUNT) return error = "unknown primitive id " + std::to_string(p), Decode::Bad;
        if (seen & (1ull << p)) return error = "primitive listed twice", Decode::Bad;
        seen |= 1ull << p;
        out.primitives.push_back(static_cast<fa_primitive>(p));
    }
    if (!rd.u32(n_queries)) return error = "truncated request", Decode::Bad;
    if (n_queries > kMaxQueries)
        return error = "too many queries: " + std::to_string(n_queries) + " (limit " + std::to_string(kMaxQueries) + ")",
               Decode::Bad;
    if (n_queries > 0 && n_prims == 0) return error = "queries without primitives", Decode::Bad;
    // Each value takes at least its 2-byte length: refuse counts the body cannot hold before
    // reserving anything.
    if (static_cast<std::uint64_t>(n_queries) * n_prims * 2 > rd.remaining())
        return error = "truncated request", Decode::Bad;
    out.queries.reserve(n_queries);
    for (std::uint32_t q = 0; q < n_queries; ++q) {
        std::vector<std::string> values;
        values.reserve(n_prims);
        for (std::uint16_t i = 0; i < n_prims; ++i) {
            std::uint16_t vlen = 0;
            const std::uint8_t* v = nullptr;
            if (!rd.u16(vlen) || vlen > kMaxValueBytes || !rd.bytes(vlen, v))
                return error = vlen > kMaxValueBytes ? "value too long" : "truncated request", Decode::Bad;
            values.emplace_back(reinterpret_cast<const char*>(v), vlen);
        }
        out.queries.push_back(std::move(values));
    }
    if (rd.remaining() != 0) return error = "trailing bytes in the request body", Decode::Bad;
    if (out.type == RequestType::Match && out.queries.empty())
        return error = "a match request needs at least one query", Decode::Bad;
    return Decode::Ok;
}

// ---- responses --------------------------------------------------------------------------

inline std::string response_header(Status status, std::uint64_t body_len) {
    std::string out;
    put_u32(out, kResponseMagic);
    put_u16(out, kVersion);
    put_u16(out, static_cast<std::uint16_t>(status));
    put_u64(out, body_len);
    return out;
}

// ---- the packed key ---------------------------------------------------------------------

/// Where one key primitive lives in fa_record and how many bytes it packs into.
struct Field {
    fa_primitive id;
    std::uint16_t offset; // into fa_record
    std::uint8_t size;    // bytes
};

/// The field of `id` in fa_record; size 0 for primitives that are not part of a key (tcpflags
/// is OR-ed into the row; flows only says the flows counter is shown).
inline Field field_of(fa_primitive id) {
#define FA_FIELD(member) Field{id, static_cast<std::uint16_t>(offsetof(fa_record, member)), sizeof(fa_record::member)}
    switch (id) {
    case FA_P_SRC_MAC: case FA_P_SUM_MAC: return FA_FIELD(src_mac);
    case FA_P_DST_MAC: return FA_FIELD(dst_mac);
    case FA_P_VLAN: return FA_FIELD(vlan);
    case FA_P_SRC_HOST: case FA_P_SUM_HOST: return FA_FIELD(src_ip);
    case FA_P_DST_HOST: return FA_FIELD(dst_ip);
    case FA_P_SRC_NET: case FA_P_SUM_NET: return FA_FIELD(src_net);
    case FA_P_DST_NET: return FA_FIELD(dst_net);
    case FA_P_SRC_MASK: return FA_FIELD(src_mask);
    case FA_P_DST_MASK: return FA_FIELD(dst_mask);
    case FA_P_SRC_AS: case FA_P_SUM_AS: return FA_FIELD(src_as);
    case FA_P_DST_AS: return FA_FIELD(dst_as);
    case FA_P_SRC_PORT: case FA_P_SUM_PORT: return FA_FIELD(src_port);
    case FA_P_DST_PORT: return FA_FIELD(dst_port);
    case FA_P_TOS: return FA_FIELD(tos);
    case FA_P_PROTO: return FA_FIELD(proto);
    case FA_P_TAG: return FA_FIELD(tag);
    case FA_P_TAG2: return FA_FIELD(tag2);
    case FA_P_LABEL: return FA_FIELD(label_id);
    case FA_P_CLASS: return FA_FIELD(class_id);
    case FA_P_IN_IFACE: return FA_FIELD(in_iface);
    case FA_P_OUT_IFACE: return FA_FIELD(out_iface);
    case FA_P_PEER_SRC_IP: return FA_FIELD(peer_src_ip);
    case FA_P_PEER_SRC_AS: return FA_FIELD(peer_src_as);
    case FA_P_PEER_DST_AS: return FA_FIELD(peer_dst_as);
    case FA_P_PEER_DST_IP: return FA_FIELD(nexthop);
    case FA_P_SAMPLING_RATE: return FA_FIELD(sampling_rate);
    case FA_P_ETYPE: return FA_FIELD(ether_type);
    case FA_P_TCPFLAGS: case FA_P_FLOWS: case FA_P_COUNT: break;
    }
#undef FA_FIELD
    return Field{id, 0, 0};
}

/// Row counters laid out after the key in a table slot and on the wire.
constexpr std::size_t kCounterBytes = 8 + 8 + 8 + 4 + 1; // packets, bytes, flows, stamp_updated_s, tcp_flags

/// The packed key of a table keyed on `primitives` (and on the time bin when `history`):
/// the fields in fa_primitive order, then stamp_inserted as u32 seconds. Shared by server
/// (packing rows and queries) and client (unpacking rows), so both agree byte for byte.
class KeyLayout {
public:
    KeyLayout() = default;
    KeyLayout(std::uint64_t primitives, bool history) : primitives_(primitives), history_(history) {
        for (int p = 0; p < FA_P_COUNT; ++p) {
            if (!((primitives >> p) & 1u)) continue;
            Field f = field_of(static_cast<fa_primitive>(p));
            if (f.size == 0) continue;
            // sum_* share the src_* fields: one copy per field is enough.
            bool dup = false;
            for (const auto& g : fields_) dup = dup || g.offset == f.offset;
            if (dup) continue;
            offsets_[p] = static_cast<std::uint16_t>(key_bytes_);
            fields_.push_back(f);
            key_bytes_ += f.size;
        }
        for (int p = 0; p < FA_P_COUNT; ++p) {
            if (!((primitives >> p) & 1u)) continue;
            Field f = field_of(static_cast<fa_primitive>(p));
            for (std::size_t i = 0, o = 0; i < fields_.size(); o += fields_[i].size, ++i)
                if (f.size && fields_[i].offset == f.offset) offsets_[p] = static_cast<std::uint16_t>(o);
        }
        if (history) key_bytes_ += 4;
    }

    std::uint64_t primitives() const { return primitives_; }
    bool history() const { return history_; }
    std::size_t key_bytes() const { return key_bytes_; }
    std::size_t row_bytes() const { return key_bytes_ + kCounterBytes; }
    bool keyed_on(fa_primitive p) const { return (primitives_ >> p) & 1u; }
    /// Offset of primitive `p`'s bytes inside the key; valid only for keyed primitives with a field.
    std::size_t offset_of(fa_primitive p) const { return offsets_[p]; }

    void pack(const fa_record& r, std::uint64_t stamp_inserted_s, std::uint8_t* key) const {
        const auto* base = reinterpret_cast<const std::uint8_t*>(&r);
        std::size_t o = 0;
        for (const auto& f : fields_) {
            std::memcpy(key + o, base + f.offset, f.size);
            o += f.size;
        }
        if (history_) {
            std::uint32_t s = static_cast<std::uint32_t>(stamp_inserted_s);
            std::memcpy(key + o, &s, 4);
        }
    }

    void unpack(const std::uint8_t* key, fa_record& r, std::uint64_t& stamp_inserted_s) const {
        std::memset(&r, 0, sizeof r);
        auto* base = reinterpret_cast<std::uint8_t*>(&r);
        std::size_t o = 0;
        for (const auto& f : fields_) {
            std::memcpy(base + f.offset, key + o, f.size);
            o += f.size;
        }
        stamp_inserted_s = 0;
        if (history_) {
            std::uint32_t s = 0;
            std::memcpy(&s, key + o, 4);
            stamp_inserted_s = s;
        }
        // Printing an all-zero address needs the family; v4 is stored mapped, so a non-mapped
        // non-zero address means IPv6.
        r.ip_version = 4;
    }

private:
    std::uint64_t primitives_ = 0;
    bool history_ = false;
    std::vector<Field> fields_;
    std::size_t key_bytes_ = 0;
    std::uint16_t offsets_[FA_P_COUNT] = {};
};

/// Counters of a packed row (key first, then counters). Unaligned access through memcpy.
struct RowCounters {
    std::uint64_t packets = 0, bytes = 0, flows = 0;
    std::uint32_t stamp_updated_s = 0;
    std::uint8_t tcp_flags = 0;
};

inline RowCounters read_counters(const std::uint8_t* counters) {
    RowCounters c;
    std::memcpy(&c.packets, counters, 8);
    std::memcpy(&c.bytes, counters + 8, 8);
    std::memcpy(&c.flows, counters + 16, 8);
    std::memcpy(&c.stamp_updated_s, counters + 24, 4);
    c.tcp_flags = counters[28];
    return c;
}

inline void write_counters(std::uint8_t* counters, const RowCounters& c) {
    std::memcpy(counters, &c.packets, 8);
    std::memcpy(counters + 8, &c.bytes, 8);
    std::memcpy(counters + 16, &c.flows, 8);
    std::memcpy(counters + 24, &c.stamp_updated_s, 4);
    counters[28] = c.tcp_flags;
}

} // namespace flowacct::memory::proto
