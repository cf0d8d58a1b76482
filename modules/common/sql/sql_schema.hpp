// SPDX-License-Identifier: GPL-2.0-or-later
// SQL table shapes: pmacct's acct_v1..v9 column sets or, with sql_optimize_clauses, a table of
// exactly the aggregated primitives; identifier validation and quoting; table-name expansion;
// rendering of rows into column values. Shared by the pgsql, mysql and sqlite3 modules.
#pragma once

#include <cstdint>        // std::uint64_t
#include <string>         // std::string
#include <string_view>    // std::string_view
#include <unordered_map>  // std::unordered_map
#include <vector>         // std::vector

#include <flowacct/abi.h> // fa_row, fa_primitive

namespace flowacct::sql {

enum class Dialect { Pgsql, Mysql, Sqlite };

/// What a column holds.
enum class Field : std::uint8_t { Primitive, Packets, Bytes, Flows, TcpFlags, StampInserted, StampUpdated };

struct Column {
    std::string name;
    Field field = Field::Primitive;
    fa_primitive primitive = FA_P_COUNT; // Field::Primitive only
    std::string type;                    // DDL type in the dialect
    std::string default_value;           // DDL default literal ("" = none)
    bool key = false;                    // identifies the row: matched on update, in the primary key
    bool integer = false;                // the value is a decimal integer
    bool variable_width = false;         // PostgreSQL stores it in a variable number of bytes
};

/// The columns rows are written to, in table order.
struct Schema {
    std::vector<Column> columns;
    std::size_t key_count() const;
    std::size_t index_of(Field f) const; // columns.size() when absent
};

/// pmacct's acct_v`version` columns for `dialect` (1..9), or with `optimize` exactly the
/// primitives of `primitives` (a bitset of fa_primitive). Throws sdk::Error naming the key at
/// fault when a primitive has no column in the chosen version.
Schema make_schema(Dialect dialect, int version, bool optimize, std::uint64_t primitives);

/// pmacct's default table name for a version: acct (v1) or acct_vN.
std::string default_table(int version);

/// The key columns (indices into schema.columns) in the order the primary key lists them:
/// stamp_inserted first, so that the rows of a new bin go into one end of the index instead of
/// being spread over every page of a table holding earlier bins (and a time range is one index
/// range); then addresses, ports, ASes, MACs and next hops, the rest in table order (comparisons
/// stop early); for PostgreSQL fixed-width columns before variable-width ones.
std::vector<std::size_t> primary_key_order(Dialect dialect, const Schema& schema);

/// CREATE TABLE IF NOT EXISTS for `schema`, with a primary key on the key columns.
std::string create_table_sql(Dialect dialect, const Schema& schema, const std::string& table);

/// ^[A-Za-z_][A-Za-z0-9_]{0,62}$
bool valid_identifier(std::string_view s);
/// A table name: an identifier, or schema.identifier.
bool valid_table_name(std::string_view s);
/// Quotes a validated table name (each dotted part) for `dialect`.
std::string quote_table(Dialect dialect, std::string_view table);
/// Quotes a validated column name.
std::string quote_ident(Dialect dialect, std::string_view name);

/// `sql_table` with strftime variables, expanded for each bin in local time like pmacct.
class TableName {
public:
    /// Throws sdk::Error (key sql_table) when the pattern cannot expand to a valid name.
    explicit TableName(std::string pattern);
    /// The table for rows of the bin starting at `bin_s`; throws sdk::Error when the expansion
    /// is not a valid table name.
    std::string expand(std::uint64_t bin_s) const;
    bool dynamic() const { return dynamic_; }
    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    bool dynamic_ = false;
};

/// Expands strftime variables of `text` at `t_s` (local time). Used for sql_table_schema.
std::string expand_time(const std::string& text, std::uint64_t t_s);

/// A row as the output keeps it: the aggregator's row plus its class and label names, resolved
/// on the pipeline thread (interned ids mean nothing in a journal read by another run).
struct StoredRow {
    fa_row row{};
    std::string class_name;
    std::string label;
};

struct Counters {
    std::uint64_t packets = 0, bytes = 0, flows = 0;
    std::uint8_t tcp_flags = 0;
};

/// The rows of one batch bound for one table, rendered to text, one row per key (rows with the
/// same key are merged, so a set-based update sees each key once).
struct RenderedGroup {
    /// Where a cell's text is in `text`.
    struct Span {
        std::uint32_t at = 0;
        std::uint32_t len = 0;
    };
    std::string table;
    std::uint64_t bin_s = 0;          // bin start of the group's first row (for sql_table_schema)
    std::size_t columns = 0;
    /// Every cell's text, each followed by a NUL; starts with one, the text of an empty cell.
    /// Cells of equal text may share it (the stamps of a bin). One buffer instead of a string per
    /// cell: a 65 536-row batch took 40 MB of string objects, and a heap block per stamp.
    std::string text;
    std::vector<Span> cells;          // rows * columns, row-major
    std::vector<Counters> counters;   // per row
    std::size_t rows() const { return counters.size(); }
    std::string_view cell(std::size_t row, std::size_t col) const {
        const Span s = cells[row * columns + col];
        return {text.data() + s.at, s.len};
    }
    /// The cell as a NUL-terminated string, valid as long as the group.
    const char* c_str(std::size_t row, std::size_t col) const { return text.data() + cells[row * columns + col].at; }
};

/// Renders rows into per-table groups. One per writer; not thread-safe.
class Renderer {
public:
    Renderer(Dialect dialect, const Schema& schema, const TableName& table);
    /// Groups and renders `rows`; `updated_s` is the stamp_updated of this write. The groups
    /// stay valid until the next call, which reuses their memory (a batch of 65 536 rows
    /// renders into tens of MB: taking fresh pages for each batch cost more than filling them).
    const std::vector<RenderedGroup>& render(const std::vector<StoredRow>& rows, std::uint64_t updated_s);
    /// The same for the `n` rows `rows` points to (part of a batch, in any order).
    const std::vector<RenderedGroup>& render(const StoredRow* const* rows, std::size_t n, std::uint64_t updated_s);

private:
    // Appends the text of `c` for row `r` to `out`.
    void render_cell(const Column& c, const StoredRow& r, std::string& out) const;

    // Per group, an open-addressing table of its rows by key hash (row + 1; 0 is empty), at most
    // half full; a hash collision between different keys is resolved by comparing the key cells,
    // so it can only cost time, never merge two keys.
    struct Index {
        std::vector<std::uint32_t> slots;
        std::vector<std::uint64_t> hashes; // per row
        std::vector<std::uint64_t> bins;   // per row: bin start (seconds)
    };

    Dialect dialect_;
    const Schema& schema_;
    const TableName& table_;
    std::vector<RenderedGroup> groups_; // the last call's result; [0, used) are valid
    std::vector<Index> index_;          // parallel to groups_
    std::vector<const StoredRow*> all_; // render(vector)'s rows, as render(pointers) takes them
};

/// Replaces bytes outside printable ASCII with '?' and cuts at `max_len`: a class or label name
/// is bound as a value, and this keeps it valid for any column charset and width.
std::string sanitize_text(std::string_view s, std::size_t max_len);

} // namespace flowacct::sql
