// SPDX-License-Identifier: GPL-2.0-or-later
// COPY ... FROM STDIN (FORMAT binary) for the pgsql output: each value in PostgreSQL's own
// binary form, so the server stores it without parsing text (inet, macaddr and timestamp input
// functions were a fifth of the server's work on a COPY), and a batch's rows in the order of the
// table's unique index, so that the rows of a new bin, all beyond the index's last key, go into
// its rightmost leaf page (PostgreSQL then skips the descent from the root) instead of across
// the whole tree.
#pragma once

#include <cstddef>     // std::size_t
#include <cstdint>     // std::uint32_t
#include <string>      // std::string
#include <string_view> // std::string_view
#include <vector>      // std::vector

#include "sql_schema.hpp" // sql::RenderedGroup

namespace flowacct::pgbin {

/// The binary forms written; a column of any other type makes the batch go as text.
enum class Wire : std::uint8_t { Int8, Int4, Int2, Mac, Inet, Timestamp, Text };

/// The form of a column of type `oid` (pg_type's oid); false for a type not written in binary.
bool wire_of(std::uint32_t oid, Wire& out);

/// Appends the field (its length, then its value) for the text `cell` of a column of form `w`;
/// false when the text is not a value of that form (the batch then goes as text, and the server
/// judges it as before). Integers out of the column's range count as such.
bool put_field(Wire w, std::string_view cell, std::string& out);

/// Appends `value` (a field's bytes, without its length) so that byte-wise order of the results
/// is PostgreSQL's order of the values (for text, under the C collation).
void put_order_key(Wire w, std::string_view value, std::string& out);

/// A batch as the body of a binary COPY.
class Encoder {
public:
    /// Encodes rows of `g`: column i in form wires[i]. `order` lists columns (indices into the
    /// group's columns) by which rows are sorted, as the table's unique index lists them; empty
    /// keeps the group's order. False when a cell does not fit its form (see put_field).
    bool encode(const sql::RenderedGroup& g, const std::vector<Wire>& wires, const std::vector<std::size_t>& order);

    /// The COPY body, header to trailer, in chunks of about `chunk` bytes; valid after encode().
    template <class Send> bool send(std::size_t chunk, Send&& send_chunk) const;

    /// Appends the encoded rows' tuples, in their order, to `out`, handing `out` to send_chunk
    /// (and emptying it) whenever it holds `chunk` bytes or more: the body of a COPY whose rows
    /// are encoded a part at a time. False when send_chunk fails.
    template <class Send> bool append_rows(std::string& out, std::size_t chunk, Send&& send_chunk) const;

private:
    std::string tuples_;               // every row's tuple
    std::vector<std::size_t> at_;      // row i's tuple is [at_[i], at_[i + 1])
    std::string keys_;                 // every row's order key
    std::vector<std::size_t> key_at_;  // like at_, for keys_
    std::vector<std::uint32_t> sorted_; // rows in the order they are sent
    mutable std::string out_;
};

/// The 19-byte signature, flags and header extension length that open a binary COPY.
std::string_view header();
/// The field count -1 that closes one.
std::string_view trailer();

template <class Send> bool Encoder::append_rows(std::string& out, std::size_t chunk, Send&& send_chunk) const {
    for (std::uint32_t row : sorted_) {
        out.append(tuples_, at_[row], at_[row + 1] - at_[row]);
        if (out.size() >= chunk) {
            if (!send_chunk(std::string_view(out))) return false;
            out.clear();
        }
    }
    return true;
}

template <class Send> bool Encoder::send(std::size_t chunk, Send&& send_chunk) const {
    out_.assign(header());
    if (!append_rows(out_, chunk, send_chunk)) return false;
    out_.append(trailer());
    return send_chunk(std::string_view(out_));
}

/// Rows cut into parts that follow each other in a column's order, so that a COPY can send the
/// first part while the next is rendered and encoded and still deliver the rows in the order of
/// an index that column leads (after columns all the rows share, as stamp_inserted).
struct Parts {
    std::vector<const sql::StoredRow*> rows; // part after part
    std::vector<std::size_t> ends;           // part i is rows [ends[i - 1], ends[i])
};

/// Cuts `rows` into parts of about `part_rows` rows in the order of an index on the columns
/// `order` lists (indices into `schema`, columns of form `wires[i]`): the first of them whose
/// value is not the same in every row decides, and each value it takes in a part sorts, in
/// PostgreSQL's order, before every value it takes in a later part; rows of equal values (so rows
/// the renderer merges) are in one part. stamp_inserted columns are skipped (the caller's rows
/// are of one bin). False, with `out` empty, when a column to look at holds values this order is
/// not known for (text, a primitive the renderer formats otherwise) or every column is the same
/// in every row: the rows then go whole.
bool split_in_order(const sql::Schema& schema, const std::vector<Wire>& wires, const std::vector<std::size_t>& order,
                    const std::vector<sql::StoredRow>& rows, std::size_t part_rows, Parts& out);

} // namespace flowacct::pgbin
