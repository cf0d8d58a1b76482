// SPDX-License-Identifier: GPL-2.0-or-later
// SQL table shapes, identifiers, table names and row rendering (see sql_schema.hpp).
#include "sql_schema.hpp"

#include <algorithm>   // std::stable_sort
#include <charconv>    // std::to_chars
#include <ctime>       // localtime_r, strftime
#include <cstring>     // std::strlen
#include <stdexcept>   // std::length_error
#include <utility>     // std::pair

#include <flowacct/sdk/module.hpp>     // sdk::Error
#include <flowacct/sdk/primitives.hpp> // sdk::format_primitive, sdk::format_stamp, sdk::append_addr, sdk::append_mac

namespace flowacct::sql {

namespace {

// Logical value kinds, mapped to a DDL type per dialect.
enum class Kind { U64, U32, U16, U8, Mac, Ip, Proto, Class, Label, Hex, Counter, Stamp };

const char* type_of(Dialect d, Kind k) {
    switch (d) {
    case Dialect::Pgsql:
        switch (k) {
        case Kind::U64: case Kind::U32: case Kind::Counter: return "BIGINT";
        case Kind::U16: return "INT";
        case Kind::U8: case Kind::Proto: return "SMALLINT";
        case Kind::Mac: return "macaddr";
        case Kind::Ip: return "inet";
        case Kind::Class: return "CHAR(16)";
        case Kind::Label: return "VARCHAR(255)";
        case Kind::Hex: return "VARCHAR(5)";
        case Kind::Stamp: return "timestamp without time zone";
        }
        break;
    case Dialect::Mysql:
        switch (k) {
        case Kind::U64: case Kind::Counter: return "BIGINT UNSIGNED";
        case Kind::U32: case Kind::U16: case Kind::U8: return "INT UNSIGNED";
        case Kind::Mac: return "CHAR(17)";
        case Kind::Ip: return "CHAR(45)";
        case Kind::Proto: return "CHAR(6)";
        case Kind::Class: return "CHAR(16)";
        case Kind::Label: return "VARCHAR(255)";
        case Kind::Hex: return "CHAR(5)";
        case Kind::Stamp: return "DATETIME";
        }
        break;
    case Dialect::Sqlite:
        switch (k) {
        case Kind::U64: case Kind::Counter: return "BIGINT";
        case Kind::U32: return "INT(8)";
        case Kind::U16: case Kind::U8: return "INT(4)";
        case Kind::Mac: return "CHAR(17)";
        case Kind::Ip: return "CHAR(45)";
        case Kind::Proto: return "CHAR(6)";
        case Kind::Class: return "CHAR(16)";
        case Kind::Label: return "VARCHAR(255)";
        case Kind::Hex: return "CHAR(5)";
        case Kind::Stamp: return "DATETIME";
        }
        break;
    }
    return "TEXT";
}

bool is_integer_kind(Dialect d, Kind k) {
    switch (k) {
    case Kind::U64: case Kind::U32: case Kind::U16: case Kind::U8: case Kind::Counter: return true;
    case Kind::Proto: return d == Dialect::Pgsql; // MySQL and SQLite tables hold the name
    default: return false;
    }
}

std::string default_of(Dialect d, Kind k) {
    switch (k) {
    case Kind::Mac: return d == Dialect::Pgsql ? "'0:0:0:0:0:0'" : "'00:00:00:00:00:00'";
    case Kind::Ip: return "'0.0.0.0'";
    case Kind::Class: return "' '";
    case Kind::Label: case Kind::Hex: return "''";
    case Kind::Proto: return d == Dialect::Pgsql ? "0" : "''";
    case Kind::Stamp: return "";
    default: return "0";
    }
}

Kind kind_of(fa_primitive p) {
    switch (p) {
    case FA_P_SRC_MAC: case FA_P_DST_MAC: case FA_P_SUM_MAC: return Kind::Mac;
    case FA_P_SRC_HOST: case FA_P_DST_HOST: case FA_P_SRC_NET: case FA_P_DST_NET: case FA_P_SUM_HOST:
    case FA_P_SUM_NET: case FA_P_PEER_SRC_IP: case FA_P_PEER_DST_IP: return Kind::Ip;
    case FA_P_VLAN: case FA_P_SRC_PORT: case FA_P_DST_PORT: case FA_P_SUM_PORT: return Kind::U16;
    case FA_P_SRC_MASK: case FA_P_DST_MASK: case FA_P_TOS: case FA_P_TCPFLAGS: return Kind::U8;
    case FA_P_PROTO: return Kind::Proto;
    case FA_P_TAG: case FA_P_TAG2: return Kind::U64;
    case FA_P_CLASS: return Kind::Class;
    case FA_P_LABEL: return Kind::Label;
    case FA_P_ETYPE: return Kind::Hex;
    default: return Kind::U32;
    }
}

Column make_col(Dialect d, std::string name, Field f, fa_primitive p, Kind k, bool key) {
    Column c;
    c.name = std::move(name);
    c.field = f;
    c.primitive = p;
    c.type = type_of(d, k);
    c.default_value = default_of(d, k);
    c.key = key;
    c.integer = is_integer_kind(d, k);
    c.variable_width = d == Dialect::Pgsql && (k == Kind::Ip || k == Kind::Class || k == Kind::Label || k == Kind::Hex);
    return c;
}

void add_counters(Dialect d, Schema& s, bool flows, bool tcp_flags) {
    if (tcp_flags) s.columns.push_back(make_col(d, "tcp_flags", Field::TcpFlags, FA_P_TCPFLAGS, Kind::U8, false));
    s.columns.push_back(make_col(d, "packets", Field::Packets, FA_P_COUNT, Kind::Counter, false));
    s.columns.push_back(make_col(d, "bytes", Field::Bytes, FA_P_COUNT, Kind::Counter, false));
    if (flows) s.columns.push_back(make_col(d, "flows", Field::Flows, FA_P_COUNT, Kind::Counter, false));
    s.columns.push_back(make_col(d, "stamp_inserted", Field::StampInserted, FA_P_COUNT, Kind::Stamp, true));
    s.columns.push_back(make_col(d, "stamp_updated", Field::StampUpdated, FA_P_COUNT, Kind::Stamp, false));
}

// Which fixed-version column a primitive lands in; nullptr if none.
const char* fixed_column_for(fa_primitive p) {
    switch (p) {
    case FA_P_TAG: return "tag";
    case FA_P_CLASS: return "class_id";
    case FA_P_SRC_MAC: case FA_P_SUM_MAC: return "mac_src";
    case FA_P_DST_MAC: return "mac_dst";
    case FA_P_VLAN: return "vlan";
    case FA_P_SRC_AS: case FA_P_SUM_AS: return "as_src";
    case FA_P_DST_AS: return "as_dst";
    case FA_P_SRC_HOST: case FA_P_SRC_NET: case FA_P_SUM_HOST: case FA_P_SUM_NET: return "ip_src";
    case FA_P_DST_HOST: case FA_P_DST_NET: return "ip_dst";
    case FA_P_SRC_PORT: case FA_P_SUM_PORT: return "port_src";
    case FA_P_DST_PORT: return "port_dst";
    case FA_P_TCPFLAGS: return "tcp_flags";
    case FA_P_PROTO: return "ip_proto";
    case FA_P_TOS: return "tos";
    case FA_P_FLOWS: return "flows";
    default: return nullptr;
    }
}

int min_version_for(fa_primitive p) {
    switch (p) {
    case FA_P_TAG: case FA_P_VLAN: return 2;
    case FA_P_TOS: return 3;
    case FA_P_FLOWS: return 4;
    case FA_P_CLASS: return 5;
    case FA_P_SRC_AS: case FA_P_SUM_AS: case FA_P_DST_AS: return 6;
    case FA_P_TCPFLAGS: return 7;
    default: return 1;
    }
}

Schema fixed_schema(Dialect d, int v, std::uint64_t prims) {
    using sdk::has_primitive;
    for (int p = 0; p < FA_P_COUNT; ++p) {
        auto id = static_cast<fa_primitive>(p);
        if (!has_primitive(prims, id)) continue;
        const char* col = fixed_column_for(id);
        if (!col)
            throw sdk::Error(std::string("primitive '") + sdk::primitive_info(id).name + "' has no column in " +
                                 default_table(v) + "; set sql_optimize_clauses: true for a table of the aggregated primitives",
                             "sql_table_version");
        if (v < min_version_for(id))
            throw sdk::Error(std::string("primitive '") + sdk::primitive_info(id).name + "' needs sql_table_version " +
                                 std::to_string(min_version_for(id)) + " or later, got " + std::to_string(v),
                             "sql_table_version");
    }
    auto both = [&](fa_primitive a, fa_primitive b) { return has_primitive(prims, a) && has_primitive(prims, b); };
    if (both(FA_P_SRC_HOST, FA_P_SRC_NET) || both(FA_P_DST_HOST, FA_P_DST_NET))
        throw sdk::Error("src_host and src_net (or dst_host and dst_net) share the ip_src/ip_dst column of " +
                             default_table(v) + "; set sql_optimize_clauses: true",
                         "sql_table_version");
    const bool src_net = has_primitive(prims, FA_P_SRC_NET) || has_primitive(prims, FA_P_SUM_NET);
    const bool dst_net = has_primitive(prims, FA_P_DST_NET);
    // pmacct names ports src_port/dst_port in MySQL and SQLite tables before v8.
    const bool old_ports = d != Dialect::Pgsql && v < 8;

    Schema s;
    if (v >= 2) s.columns.push_back(make_col(d, v >= 9 ? "tag" : "agent_id", Field::Primitive, FA_P_TAG, Kind::U64, true));
    if (v >= 5) s.columns.push_back(make_col(d, "class_id", Field::Primitive, FA_P_CLASS, Kind::Class, true));
    s.columns.push_back(make_col(d, "mac_src", Field::Primitive, FA_P_SRC_MAC, Kind::Mac, true));
    s.columns.push_back(make_col(d, "mac_dst", Field::Primitive, FA_P_DST_MAC, Kind::Mac, true));
    if (v >= 2) s.columns.push_back(make_col(d, "vlan", Field::Primitive, FA_P_VLAN, Kind::U16, true));
    if (v >= 6) {
        s.columns.push_back(make_col(d, "as_src", Field::Primitive, FA_P_SRC_AS, Kind::U32, true));
        s.columns.push_back(make_col(d, "as_dst", Field::Primitive, FA_P_DST_AS, Kind::U32, true));
    }
    s.columns.push_back(make_col(d, "ip_src", Field::Primitive, src_net ? FA_P_SRC_NET : FA_P_SRC_HOST, Kind::Ip, true));
    s.columns.push_back(make_col(d, "ip_dst", Field::Primitive, dst_net ? FA_P_DST_NET : FA_P_DST_HOST, Kind::Ip, true));
    s.columns.push_back(make_col(d, old_ports ? "src_port" : "port_src", Field::Primitive, FA_P_SRC_PORT, Kind::U16, true));
    s.columns.push_back(make_col(d, old_ports ? "dst_port" : "port_dst", Field::Primitive, FA_P_DST_PORT, Kind::U16, true));
    if (v >= 7) s.columns.push_back(make_col(d, "tcp_flags", Field::TcpFlags, FA_P_TCPFLAGS, Kind::U8, false));
    s.columns.push_back(make_col(d, "ip_proto", Field::Primitive, FA_P_PROTO, Kind::Proto, true));
    if (v >= 3) s.columns.push_back(make_col(d, "tos", Field::Primitive, FA_P_TOS, Kind::U8, true));
    add_counters(d, s, v >= 4, false);
    return s;
}

Schema optimized_schema(Dialect d, std::uint64_t prims) {
    Schema s;
    bool seen_any = false;
    for (const auto& info : sdk::kPrimitives) {
        if (!sdk::has_primitive(prims, info.id) || info.id == FA_P_TCPFLAGS) continue;
        std::string name = info.id == FA_P_CLASS ? "class_id" : info.column;
        bool dup = false;
        for (const auto& c : s.columns) dup |= c.name == name;
        if (dup) continue;
        s.columns.push_back(make_col(d, name, Field::Primitive, info.id, kind_of(info.id), true));
        seen_any = true;
    }
    (void)seen_any;
    add_counters(d, s, sdk::has_primitive(prims, FA_P_FLOWS), sdk::has_primitive(prims, FA_P_TCPFLAGS));
    return s;
}

} // namespace

std::size_t Schema::key_count() const {
    std::size_t n = 0;
    for (const auto& c : columns) n += c.key;
    return n;
}

std::size_t Schema::index_of(Field f) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
        if (columns[i].field == f) return i;
    return columns.size();
}

Schema make_schema(Dialect dialect, int version, bool optimize, std::uint64_t primitives) {
    if (optimize) return optimized_schema(dialect, primitives);
    if (version < 1 || version > 9)
        throw sdk::Error("expected 1 to 9, got " + std::to_string(version), "sql_table_version");
    return fixed_schema(dialect, version, primitives);
}

std::string default_table(int version) { return version <= 1 ? "acct" : "acct_v" + std::to_string(version); }

std::vector<std::size_t> primary_key_order(Dialect d, const Schema& s) {
    std::vector<std::size_t> order;
    const std::size_t stamp = s.index_of(Field::StampInserted);
    if (stamp < s.columns.size() && s.columns[stamp].key) order.push_back(stamp);
    // Then the columns that most often tell rows apart: a key comparison stops at the first
    // column that differs, and those of primitives not aggregated hold one value in every row
    // (with the table order, SQLite compared the stamp, tag, class and both MACs, all equal, on
    // every step of every index search: 10 % of a 100 000-row write).
    const auto rank = [](const Column& c) {
        switch (c.primitive) {
        case FA_P_SRC_HOST: case FA_P_DST_HOST: case FA_P_SRC_NET: case FA_P_DST_NET: case FA_P_SUM_HOST:
        case FA_P_SUM_NET: return 0;
        case FA_P_SRC_PORT: case FA_P_DST_PORT: case FA_P_SUM_PORT: return 1;
        case FA_P_SRC_AS: case FA_P_DST_AS: case FA_P_SUM_AS: case FA_P_PEER_SRC_AS: case FA_P_PEER_DST_AS: return 2;
        case FA_P_SRC_MAC: case FA_P_DST_MAC: case FA_P_SUM_MAC: case FA_P_PEER_SRC_IP: case FA_P_PEER_DST_IP: return 3;
        default: return 4;
        }
    };
    // PostgreSQL reads an index tuple's columns by cached offsets only up to the first
    // variable-width one (inet, CHAR, VARCHAR): fixed-width columns go first.
    const auto variable = [d](const Column& c) { return d == Dialect::Pgsql && c.variable_width; };
    const std::size_t first = order.size();
    for (std::size_t i = 0; i < s.columns.size(); ++i)
        if (s.columns[i].key && i != stamp) order.push_back(i);
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(first), order.end(), [&](std::size_t a, std::size_t b) {
        const Column &x = s.columns[a], &y = s.columns[b];
        return std::pair(variable(x), rank(x)) < std::pair(variable(y), rank(y));
    });
    return order;
}

std::string create_table_sql(Dialect d, const Schema& s, const std::string& table) {
    std::string out = "CREATE TABLE IF NOT EXISTS " + quote_table(d, table) + " (\n";
    for (const auto& c : s.columns) {
        out += "    " + quote_ident(d, c.name) + " " + c.type;
        if (c.field != Field::StampUpdated) out += " NOT NULL";
        if (!c.default_value.empty()) out += " DEFAULT " + c.default_value;
        out += ",\n";
    }
    std::string pk;
    for (std::size_t i : primary_key_order(d, s)) pk += (pk.empty() ? "" : ", ") + quote_ident(d, s.columns[i].name);
    out += "    PRIMARY KEY (" + pk + ")\n)";
    // Rows of a bin are updated at every refresh: free room in each page lets PostgreSQL update
    // them in place (HOT) instead of adding an entry to the wide primary key per update. (For the
    // same reason SQLite tables are not WITHOUT ROWID: measured, a file two fifths smaller and new
    // rows 13 % faster, but an update of an existing row 24 % slower.)
    if (d == Dialect::Pgsql) out += " WITH (fillfactor = 70)";
    out += ";\n";
    return out;
}

bool valid_identifier(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
    if (!alpha(s[0])) return false;
    for (char c : s)
        if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
    return true;
}

bool valid_table_name(std::string_view s) {
    auto dot = s.find('.');
    if (dot == std::string_view::npos) return valid_identifier(s);
    return valid_identifier(s.substr(0, dot)) && valid_identifier(s.substr(dot + 1));
}

std::string quote_ident(Dialect d, std::string_view name) {
    const char q = d == Dialect::Mysql ? '`' : '"';
    return std::string(1, q) + std::string(name) + std::string(1, q);
}

std::string quote_table(Dialect d, std::string_view table) {
    auto dot = table.find('.');
    if (dot == std::string_view::npos) return quote_ident(d, table);
    return quote_ident(d, table.substr(0, dot)) + "." + quote_ident(d, table.substr(dot + 1));
}

std::string expand_time(const std::string& text, std::uint64_t t_s) {
    if (text.find('%') == std::string::npos) return text;
    std::time_t t = static_cast<std::time_t>(t_s);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::vector<char> buf(text.size() * 4 + 256);
    std::size_t n = std::strftime(buf.data(), buf.size(), text.c_str(), &tm);
    return std::string(buf.data(), n);
}

TableName::TableName(std::string pattern) : pattern_(std::move(pattern)) {
    if (pattern_.find('$') != std::string::npos)
        throw sdk::Error("$ variables in sql_table are not supported; strftime variables (%Y%m%d ...) are", "sql_table");
    dynamic_ = pattern_.find('%') != std::string::npos;
    // A fixed sample time: any valid pattern expands to a valid name at every time.
    std::string sample = expand_time(pattern_, 1'700'000'000);
    if (!valid_table_name(sample))
        throw sdk::Error("'" + pattern_ + "' expands to '" + sample +
                             "', not a table name ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters, optionally schema.table)",
                         "sql_table");
}

std::string TableName::expand(std::uint64_t bin_s) const {
    if (!dynamic_) return pattern_;
    std::string name = expand_time(pattern_, bin_s);
    if (!valid_table_name(name)) throw sdk::Error("sql_table expands to '" + name + "', not a table name", "sql_table");
    return name;
}

std::string sanitize_text(std::string_view s, std::size_t max_len) {
    std::string out;
    out.reserve(std::min(s.size(), max_len));
    for (char c : s) {
        if (out.size() >= max_len) break;
        unsigned char u = static_cast<unsigned char>(c);
        out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    return out;
}

Renderer::Renderer(Dialect dialect, const Schema& schema, const TableName& table)
    : dialect_(dialect), schema_(schema), table_(table) {}

namespace {

void put_u64(std::string& out, std::uint64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    out.append(b, r.ptr);
}

std::uint64_t hash_bytes(std::uint64_t h, std::string_view s) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    h ^= 0x1f;
    return h * 1099511628211ull;
}

} // namespace

void Renderer::render_cell(const Column& c, const StoredRow& r, std::string& out) const {
    const fa_record& rec = r.row.rec;
    const bool v6 = rec.ip_version == 6;
    switch (c.field) {
    case Field::Primitive:
        switch (c.primitive) {
        case FA_P_CLASS:
            out += sanitize_text(r.class_name.empty() ? std::string_view("unknown") : std::string_view(r.class_name), 16);
            return;
        case FA_P_LABEL: out += sanitize_text(r.label, 255); return;
        case FA_P_SRC_MAC: case FA_P_SUM_MAC: sdk::append_mac(out, rec.src_mac); return;
        case FA_P_DST_MAC: sdk::append_mac(out, rec.dst_mac); return;
        case FA_P_SRC_HOST: case FA_P_SUM_HOST: sdk::append_addr(out, rec.src_ip, v6); return;
        case FA_P_DST_HOST: sdk::append_addr(out, rec.dst_ip, v6); return;
        case FA_P_SRC_NET: case FA_P_SUM_NET: sdk::append_addr(out, rec.src_net, v6); return;
        case FA_P_DST_NET: sdk::append_addr(out, rec.dst_net, v6); return;
        case FA_P_VLAN: put_u64(out, rec.vlan); return;
        case FA_P_SRC_AS: case FA_P_SUM_AS: put_u64(out, rec.src_as); return;
        case FA_P_DST_AS: put_u64(out, rec.dst_as); return;
        case FA_P_SRC_PORT: case FA_P_SUM_PORT: put_u64(out, rec.src_port); return;
        case FA_P_DST_PORT: put_u64(out, rec.dst_port); return;
        case FA_P_TOS: put_u64(out, rec.tos); return;
        case FA_P_TAG: put_u64(out, rec.tag); return;
        case FA_P_PROTO: {
            // MySQL and SQLite tables hold the name in CHAR(6) (strict servers refuse longer
            // values): a longer name, like an unnamed protocol, is written as its number.
            const char* name = dialect_ == Dialect::Pgsql ? nullptr : sdk::proto_name(rec.proto);
            if (name && std::strlen(name) <= 6) out.append(name);
            else put_u64(out, rec.proto);
            return;
        }
        default: break;
        }
        {
            sdk::FormatOptions o;
            o.numeric_proto = dialect_ == Dialect::Pgsql;
            out += sdk::format_primitive(rec, c.primitive, [](std::uint32_t) { return std::string(); }, o);
        }
        return;
    default: return; // stamps and counters are filled after merging
    }
}

const std::vector<RenderedGroup>& Renderer::render(const std::vector<StoredRow>& rows, std::uint64_t updated_s) {
    all_.resize(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) all_[i] = &rows[i];
    return render(all_.data(), all_.size(), updated_s);
}

const std::vector<RenderedGroup>& Renderer::render(const StoredRow* const* rows, std::size_t n, std::uint64_t updated_s) {
    using Span = RenderedGroup::Span;
    std::unordered_map<std::string, std::size_t> group_of;
    std::size_t used = 0; // groups of this call
    std::size_t slot_count = 16;
    while (slot_count < 2 * n) slot_count <<= 1;
    const std::size_t ncols = schema_.columns.size();
    std::vector<std::size_t> key_cols;
    for (std::size_t i = 0; i < ncols; ++i)
        if (schema_.columns[i].key && schema_.columns[i].field == Field::Primitive) key_cols.push_back(i);
    // Ends the cell whose text was appended from `at` on: its NUL, and where it is.
    const auto end_cell = [](RenderedGroup& g, std::size_t at) {
        const Span s{static_cast<std::uint32_t>(at), static_cast<std::uint32_t>(g.text.size() - at)};
        g.text.push_back('\0');
        return s;
    };
    std::uint64_t last_bin = ~0ull;
    std::string last_table;
    std::size_t last_group = 0;
    for (std::size_t ri = 0; ri < n; ++ri) {
        const StoredRow& r = *rows[ri];
        std::uint64_t bin_s = r.row.stamp_inserted_us / 1'000'000;
        if (bin_s != last_bin) {
            last_table = table_.expand(bin_s);
            last_bin = bin_s;
            auto [git, fresh] = group_of.try_emplace(last_table, used);
            if (fresh) {
                if (used == groups_.size()) {
                    groups_.emplace_back();
                    index_.emplace_back();
                }
                RenderedGroup& g = groups_[used];
                g.table = last_table;
                g.bin_s = bin_s;
                g.columns = ncols;
                g.text.assign(1, '\0');
                g.text.reserve(n * ncols * 8); // only the pages written take memory
                g.cells.clear();
                g.cells.reserve(n * ncols);
                g.counters.clear();
                g.counters.reserve(n);
                Index& x = index_[used];
                x.slots.assign(slot_count, 0);
                x.hashes.clear();
                x.hashes.reserve(n);
                x.bins.clear();
                ++used;
            }
            last_group = git->second;
        }
        RenderedGroup& g = groups_[last_group];
        Index& idx = index_[last_group];
        const std::size_t base = g.cells.size();
        const std::size_t text_base = g.text.size();
        // Offsets are 32 bits: a batch (at most 131 072 rows) renders to tens of MB.
        if (text_base > 0xF0000000u) throw std::length_error("a batch of rows rendered to more than 4 GB of text");
        const std::size_t me = g.rows(); // this row's index if it is not merged
        g.cells.resize(base + ncols);
        std::uint64_t h = 1469598103934665603ull ^ bin_s;
        for (std::size_t i : key_cols) {
            const std::size_t at = g.text.size();
            render_cell(schema_.columns[i], r, g.text);
            g.cells[base + i] = end_cell(g, at);
            h = hash_bytes(h, g.cell(me, i));
        }
        bool merged = false;
        std::size_t slot = h & (slot_count - 1);
        for (; idx.slots[slot] != 0 && !merged; slot = (slot + 1) & (slot_count - 1)) {
            const std::size_t other = idx.slots[slot] - 1;
            if (idx.hashes[other] != h || idx.bins[other] != bin_s) continue;
            bool same = true;
            for (std::size_t i : key_cols) same = same && g.cell(other, i) == g.cell(me, i);
            if (!same) continue;
            Counters& c = g.counters[other];
            c.packets += r.row.rec.packets;
            c.bytes += r.row.rec.bytes;
            c.flows += r.row.rec.flows;
            c.tcp_flags |= r.row.rec.tcp_flags;
            merged = true;
        }
        if (merged) {
            g.cells.resize(base);
            g.text.resize(text_base);
            continue;
        }
        idx.slots[slot] = static_cast<std::uint32_t>(g.counters.size() + 1);
        idx.hashes.push_back(h);
        idx.bins.push_back(bin_s);
        g.counters.push_back(Counters{r.row.rec.packets, r.row.rec.bytes, r.row.rec.flows, r.row.rec.tcp_flags});
    }
    groups_.resize(used);
    index_.resize(used);
    const std::string updated_text = sdk::format_stamp(updated_s);
    for (std::size_t gi = 0; gi < used; ++gi) {
        auto& g = groups_[gi];
        // One copy of each stamp per group, shared by its rows.
        std::size_t at = g.text.size();
        g.text += updated_text;
        const Span updated = end_cell(g, at);
        std::uint64_t stamp_bin = ~0ull;
        Span stamp;
        for (std::size_t row = 0; row < g.rows(); ++row) {
            const Counters& c = g.counters[row];
            if (index_[gi].bins[row] != stamp_bin) {
                stamp_bin = index_[gi].bins[row];
                at = g.text.size();
                g.text += sdk::format_stamp(stamp_bin);
                stamp = end_cell(g, at);
            }
            for (std::size_t i = 0; i < ncols; ++i) {
                Span& out = g.cells[row * ncols + i];
                std::uint64_t v;
                switch (schema_.columns[i].field) {
                case Field::Packets: v = c.packets; break;
                case Field::Bytes: v = c.bytes; break;
                case Field::Flows: v = c.flows; break;
                case Field::TcpFlags: v = c.tcp_flags; break;
                case Field::StampInserted: out = stamp; continue;
                case Field::StampUpdated: out = updated; continue;
                default: continue;
                }
                at = g.text.size();
                put_u64(g.text, v);
                out = end_cell(g, at);
            }
        }
    }
    return groups_;
}

} // namespace flowacct::sql
