// SPDX-License-Identifier: GPL-2.0-or-later
#include "pg_binary.hpp"

#include <algorithm>    // std::sort, std::clamp, std::upper_bound
#include <charconv>     // std::from_chars
#include <cstddef>      // offsetof
#include <cstring>      // std::memcmp, std::memcpy

#include <arpa/inet.h>  // inet_pton

#include <flowacct/sdk/primitives.hpp> // sdk::parse_mac_exact

namespace flowacct::pgbin {

namespace {

// pg_type oids (catalog/pg_type_d.h, fixed since the types exist).
constexpr std::uint32_t kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kMacaddr = 829, kInet = 869,
                        kBpchar = 1042, kVarchar = 1043, kTimestamp = 1114;

// PostgreSQL's own address family codes in an inet value (utils/inet.h), not the system's.
constexpr std::uint8_t kPgAfInet = 2, kPgAfInet6 = 3;

// The low `bytes` bytes of `v`, most significant first, at `at`.
void store_be(char* at, std::uint64_t v, int bytes) {
    const std::uint64_t big = __builtin_bswap64(v) >> (8 * (8 - bytes));
    std::memcpy(at, &big, static_cast<std::size_t>(bytes));
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
    char b[8];
    store_be(b, v, bytes);
    out.append(b, static_cast<std::size_t>(bytes));
}

bool parse_int(std::string_view s, std::int64_t lo, std::int64_t hi, std::int64_t& v) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size() && v >= lo && v <= hi;
}

// A dotted quad, as the renderer writes it (no leading zeros: "01" goes to inet_pton's rules).
bool parse_v4(std::string_view s, unsigned char* a) {
    std::size_t i = 0;
    for (int part = 0; part < 4; ++part) {
        if (part && (i >= s.size() || s[i++] != '.')) return false;
        const std::size_t start = i;
        unsigned v = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0')) return false;
        a[part] = static_cast<unsigned char>(v);
    }
    return i == s.size();
}

// Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS[.ffffff]" as microseconds since 2000-01-01 00:00:00 (timestamp without
// time zone: the wall-clock value as written, no time zone applied).
bool parse_timestamp(std::string_view s, std::int64_t& us) {
    const auto num = [&](std::size_t at, std::size_t n, std::int64_t& v) {
        return at + n <= s.size() && parse_int(s.substr(at, n), 0, 9999, v);
    };
    std::int64_t y, mo, d, h, mi, sec;
    if (s.size() < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') return false;
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) return false;
    std::int64_t frac = 0;
    if (s.size() > 19) {
        if (s[19] != '.' || s.size() > 26 || s.size() == 20) return false;
        std::string_view digits = s.substr(20);
        if (!parse_int(digits, 0, 999999, frac) || digits.front() == '+' || digits.front() == '-') return false;
        for (std::size_t i = digits.size(); i < 6; ++i) frac *= 10;
    }
    // A day beyond its month's end (02-30) goes as text, for the server to refuse as before.
    static const std::int64_t month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > month_days[mo - 1] + (mo == 2 && leap)) return false;
    const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    const std::int64_t since_2000 = days - 10957; // 1970-01-01 to 2000-01-01
    us = ((since_2000 * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + frac;
    return true;
}

// The first `n` bytes at `a` as a big-endian number.
std::uint64_t be_bytes(const std::uint8_t* a, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | a[i];
    return v;
}

// Where a column's order value comes from in a record.
struct OrderSource {
    enum Kind { None, Address, Mac, Integer } kind = None;
    std::size_t offset = 0; // of the field in fa_record
    unsigned width = 0;     // Integer: its bytes
};

#define FA_FIELD(kind, field) OrderSource{OrderSource::kind, offsetof(fa_record, field), sizeof(fa_record::field)}

OrderSource source_of(fa_primitive p, Wire w) {
    const bool integer = w == Wire::Int8 || w == Wire::Int4 || w == Wire::Int2;
    OrderSource s;
    switch (p) {
    case FA_P_SRC_HOST: case FA_P_SUM_HOST: s = FA_FIELD(Address, src_ip); break;
    case FA_P_DST_HOST: s = FA_FIELD(Address, dst_ip); break;
    case FA_P_SRC_NET: case FA_P_SUM_NET: s = FA_FIELD(Address, src_net); break;
    case FA_P_DST_NET: s = FA_FIELD(Address, dst_net); break;
    case FA_P_SRC_MAC: case FA_P_SUM_MAC: s = FA_FIELD(Mac, src_mac); break;
    case FA_P_DST_MAC: s = FA_FIELD(Mac, dst_mac); break;
    case FA_P_VLAN: s = FA_FIELD(Integer, vlan); break;
    case FA_P_SRC_AS: case FA_P_SUM_AS: s = FA_FIELD(Integer, src_as); break;
    case FA_P_DST_AS: s = FA_FIELD(Integer, dst_as); break;
    case FA_P_SRC_PORT: case FA_P_SUM_PORT: s = FA_FIELD(Integer, src_port); break;
    case FA_P_DST_PORT: s = FA_FIELD(Integer, dst_port); break;
    case FA_P_TOS: s = FA_FIELD(Integer, tos); break;
    case FA_P_TAG: s = FA_FIELD(Integer, tag); break;
    case FA_P_PROTO: s = FA_FIELD(Integer, proto); break;
    default: break;
    }
    const bool fits = (s.kind == OrderSource::Address && w == Wire::Inet) || (s.kind == OrderSource::Mac && w == Wire::Mac) ||
                      (s.kind == OrderSource::Integer && integer);
    return fits ? s : OrderSource{};
}

#undef FA_FIELD

// The renderer writes v4-mapped addresses, and the zero address of a record that is not IPv6,
// as IPv4.
bool shown_as_v4(const std::uint8_t* a, const fa_record& r) {
    return sdk::is_v4_mapped(a) || (r.ip_version != 6 && sdk::is_zero_addr(a));
}

// The record's unsigned integer of `width` bytes at `p`.
std::uint64_t native_uint(const std::uint8_t* p, unsigned width) {
    switch (width) {
    case 1: return *p;
    case 2: { std::uint16_t v; std::memcpy(&v, p, 2); return v; }
    case 4: { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
    default: { std::uint64_t v; std::memcpy(&v, p, 8); return v; }
    }
}

// The 8 bytes of a 16-byte address from `skip` on (zeros past its end) as a big-endian number.
std::uint64_t be_from(const std::uint8_t* a, unsigned skip) {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i) v = v << 8 | (skip + i < 16 ? a[skip + i] : 0);
    return v;
}

// Per row, a number that orders rows as PostgreSQL orders the column's values and is equal for
// equal values (values that differ may share it). inet orders by family, IPv4 first, then by
// address (host addresses have one mask length per family); IPv6 addresses are read from the
// first byte in which the batch's IPv6 values differ, so that a batch within one /64 spreads too.
void order_values(OrderSource s, const std::vector<sql::StoredRow>& rows, std::vector<std::uint64_t>& keys) {
    const std::size_t n = rows.size();
    const auto field = [&](std::size_t i) { return reinterpret_cast<const std::uint8_t*>(&rows[i].row.rec) + s.offset; };
    switch (s.kind) {
    case OrderSource::Integer:
        for (std::size_t i = 0; i < n; ++i) keys[i] = native_uint(field(i), s.width);
        return;
    case OrderSource::Mac:
        for (std::size_t i = 0; i < n; ++i) keys[i] = be_bytes(field(i), 6);
        return;
    case OrderSource::Address: {
        const std::uint8_t* first_v6 = nullptr;
        unsigned skip = 0; // bytes every IPv6 value of the batch shares
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint8_t* a = field(i);
            if (shown_as_v4(a, rows[i].row.rec)) continue;
            if (!first_v6) {
                first_v6 = a;
                skip = 16;
            }
            while (skip > 0 && std::memcmp(a, first_v6, skip) != 0) --skip;
        }
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint8_t* a = field(i);
            keys[i] = shown_as_v4(a, rows[i].row.rec) ? be_bytes(a + 12, 4) << 31 : (1ull << 63) | (be_from(a, skip) >> 1);
        }
        return;
    }
    case OrderSource::None: return;
    }
}

} // namespace

bool split_in_order(const sql::Schema& schema, const std::vector<Wire>& wires, const std::vector<std::size_t>& order,
                    const std::vector<sql::StoredRow>& rows, std::size_t part_rows, Parts& out) {
    out.rows.clear();
    out.ends.clear();
    const std::size_t n = rows.size();
    std::vector<std::uint64_t> keys(n);
    bool varies = false;
    for (std::size_t c : order) {
        const sql::Column& col = schema.columns[c];
        if (col.field == sql::Field::StampInserted) continue;
        const OrderSource src = col.field == sql::Field::Primitive ? source_of(col.primitive, wires[c]) : OrderSource{};
        if (src.kind == OrderSource::None) return false;
        order_values(src, rows, keys);
        for (std::size_t i = 1; i < n && !varies; ++i) varies = keys[i] != keys[0];
        if (varies) break;
    }
    if (!varies) return false;
    const std::size_t parts = std::clamp<std::size_t>(n / std::max<std::size_t>(part_rows, 1), 1, 64);
    // Bounds between parts from evenly spaced rows (rows come in hash order: a fair sample).
    std::vector<std::uint64_t> sample;
    const std::size_t step = std::max<std::size_t>(1, n / (parts * 32));
    for (std::size_t i = 0; i < n; i += step) sample.push_back(keys[i]);
    std::sort(sample.begin(), sample.end());
    std::vector<std::uint64_t> bounds; // a row's part: how many bounds are <= its key
    for (std::size_t k = 1; k < parts; ++k) {
        const std::uint64_t b = sample[k * sample.size() / parts];
        if (b > sample.front() && (bounds.empty() || b > bounds.back())) bounds.push_back(b);
    }
    std::vector<std::uint8_t> part_of(n);
    std::vector<std::size_t> at(bounds.size() + 2, 0);
    for (std::size_t i = 0; i < n; ++i) {
        part_of[i] = static_cast<std::uint8_t>(std::upper_bound(bounds.begin(), bounds.end(), keys[i]) - bounds.begin());
        ++at[part_of[i] + 1];
    }
    for (std::size_t p = 1; p < at.size(); ++p) at[p] += at[p - 1];
    for (std::size_t p = 1; p < at.size(); ++p)
        if (at[p] > at[p - 1]) out.ends.push_back(at[p]);
    out.rows.resize(n);
    for (std::size_t i = 0; i < n; ++i) out.rows[at[part_of[i]]++] = &rows[i];
    return true;
}

bool wire_of(std::uint32_t oid, Wire& out) {
    switch (oid) {
    case kInt8: out = Wire::Int8; return true;
    case kInt4: out = Wire::Int4; return true;
    case kInt2: out = Wire::Int2; return true;
    case kMacaddr: out = Wire::Mac; return true;
    case kInet: out = Wire::Inet; return true;
    case kTimestamp: out = Wire::Timestamp; return true;
    case kText: case kBpchar: case kVarchar: out = Wire::Text; return true;
    default: return false;
    }
}

bool put_field(Wire w, std::string_view cell, std::string& out) {
    // The field's length and value, composed here and appended once.
    char b[4 + 20];
    std::size_t n = 0;
    std::int64_t v = 0;
    const auto be = [&](std::uint64_t x, int bytes) {
        store_be(b + 4, x, bytes);
        n = static_cast<std::size_t>(bytes);
    };
    switch (w) {
    case Wire::Int8:
        if (!parse_int(cell, INT64_MIN, INT64_MAX, v)) return false;
        be(static_cast<std::uint64_t>(v), 8);
        break;
    case Wire::Int4:
        if (!parse_int(cell, INT32_MIN, INT32_MAX, v)) return false;
        be(static_cast<std::uint64_t>(v), 4);
        break;
    case Wire::Int2:
        if (!parse_int(cell, INT16_MIN, INT16_MAX, v)) return false;
        be(static_cast<std::uint64_t>(v), 2);
        break;
    case Wire::Mac:
        // xx:xx:xx:xx:xx:xx, as the renderer writes it.
        if (!sdk::parse_mac_exact(cell, reinterpret_cast<std::uint8_t*>(b + 4))) return false;
        n = 6;
        break;
    case Wire::Inet: {
        // A host address (the renderer writes no mask): family, mask length, is_cidr, size.
        unsigned char a[16];
        if (parse_v4(cell, a)) {
            const char head[4] = {static_cast<char>(kPgAfInet), 32, 0, 4};
            std::memcpy(b + 4, head, 4);
            std::memcpy(b + 8, a, 4);
            n = 8;
            break;
        }
        char text[64];
        if (cell.empty() || cell.size() >= sizeof text) return false;
        cell.copy(text, cell.size());
        text[cell.size()] = '\0';
        if (inet_pton(AF_INET6, text, a) != 1) return false;
        const char head[4] = {static_cast<char>(kPgAfInet6), static_cast<char>(128), 0, 16};
        std::memcpy(b + 4, head, 4);
        std::memcpy(b + 8, a, 16);
        n = 20;
        break;
    }
    case Wire::Timestamp:
        if (!parse_timestamp(cell, v)) return false;
        be(static_cast<std::uint64_t>(v), 8);
        break;
    case Wire::Text:
        // The server checks the text's encoding as it does for text COPY.
        put_be(out, cell.size(), 4);
        out.append(cell);
        return true;
    }
    store_be(b, n, 4);
    out.append(b, 4 + n);
    return true;
}

void put_order_key(Wire w, std::string_view value, std::string& out) {
    switch (w) {
    case Wire::Int8: case Wire::Int4: case Wire::Int2: case Wire::Timestamp:
        // Big-endian two's complement with the sign bit flipped orders as the signed value.
        out.push_back(static_cast<char>(value.front() ^ 0x80));
        out.append(value.substr(1));
        return;
    case Wire::Mac: case Wire::Inet:
        // macaddr compares byte-wise; inet by family, then address (host addresses: one mask
        // length per family, which the bytes after the family repeat).
        out.append(value);
        return;
    case Wire::Text:
        out.append(value);
        out.push_back('\0');
        return;
    }
}

bool Encoder::encode(const sql::RenderedGroup& g, const std::vector<Wire>& wires, const std::vector<std::size_t>& order) {
    const std::size_t rows = g.rows();
    tuples_.clear();
    keys_.clear();
    at_.assign(1, 0);
    key_at_.assign(1, 0);
    at_.reserve(rows + 1);
    key_at_.reserve(rows + 1);
    sorted_.resize(rows);
    if (wires.size() != g.columns) return false;
    // Where the current row's value of each column starts, for its order key.
    std::vector<std::size_t> value_at(g.columns + 1);
    // A bin's rows share their stamps' text (RenderedGroup): each is parsed once.
    struct Stamp {
        const char* text = nullptr;
        char field[12];
    };
    std::vector<Stamp> stamps(g.columns);
    for (std::size_t row = 0; row < rows; ++row) {
        if (row == 1) tuples_.reserve(tuples_.size() * rows * 5 / 4);
        put_be(tuples_, g.columns, 2);
        for (std::size_t c = 0; c < g.columns; ++c) {
            value_at[c] = tuples_.size() + 4;
            const std::string_view cell = g.cell(row, c);
            if (wires[c] != Wire::Timestamp) {
                if (!put_field(wires[c], cell, tuples_)) return false;
                continue;
            }
            Stamp& st = stamps[c];
            if (cell.data() == st.text) {
                tuples_.append(st.field, sizeof st.field);
                continue;
            }
            if (!put_field(Wire::Timestamp, cell, tuples_)) return false;
            std::memcpy(st.field, tuples_.data() + tuples_.size() - sizeof st.field, sizeof st.field);
            st.text = cell.data();
        }
        value_at[g.columns] = tuples_.size() + 4;
        at_.push_back(tuples_.size());
        if (order.empty()) continue;
        for (std::size_t c : order) {
            // A value ends where the next field's 4-byte length begins.
            const std::size_t end = value_at[c + 1] - 4;
            put_order_key(wires[c], std::string_view(tuples_).substr(value_at[c], end - value_at[c]), keys_);
        }
        key_at_.push_back(keys_.size());
    }
    for (std::uint32_t i = 0; i < rows; ++i) sorted_[i] = i;
    if (!order.empty()) {
        const char* k = keys_.data();
        std::sort(sorted_.begin(), sorted_.end(), [&](std::uint32_t a, std::uint32_t b) {
            const std::size_t la = key_at_[a + 1] - key_at_[a], lb = key_at_[b + 1] - key_at_[b];
            const int c = std::memcmp(k + key_at_[a], k + key_at_[b], std::min(la, lb));
            return c < 0 || (c == 0 && la < lb);
        });
    }
    return true;
}

std::string_view header() {
    static const char h[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\xff', '\r', '\n', '\0', 0, 0, 0, 0, 0, 0, 0, 0};
    return {h, sizeof h};
}

std::string_view trailer() { return {"\xff\xff", 2}; }

} // namespace flowacct::pgbin
