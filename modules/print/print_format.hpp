// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "print": turning rows into pmacct's formatted, CSV and JSON lines.
#pragma once

#include <string>      // std::string

#include <flowacct/sdk/module.hpp>     // sdk::Error
#include <flowacct/sdk/primitives.hpp> // sdk::kPrimitives, sdk::format_primitive, sdk::format_stamp

namespace flowacct::print {

enum class Format { Formatted, Csv, Json };

inline Format parse_format(const std::string& s) {
    if (s == "formatted") return Format::Formatted;
    if (s == "csv") return Format::Csv;
    if (s == "json") return Format::Json;
    if (s == "event_formatted" || s == "event_csv" || s == "avro" || s == "avro_json" || s == "custom")
        throw sdk::Error("print_output '" + s + "' is a pmacct format flowacct does not support yet", "print_output");
    throw sdk::Error("expected formatted, csv or json, got '" + s + "'", "print_output");
}

/// Writes header and rows in one format. Column order and widths follow pmacct's print plugin.
class RowFormatter {
public:
    RowFormatter(Format format, std::string separator, bool numeric_proto)
        : format_(format), sep_(std::move(separator)) {
        options_.numeric_proto = numeric_proto;
    }

    void header(const fa_row_batch& rows, std::string& out) const {
        if (format_ == Format::Json) return;
        bool first = true;
        for (const auto& p : sdk::kPrimitives) {
            if (!sdk::has_primitive(rows.primitives, p.id)) continue;
            if (format_ == Format::Csv) {
                if (!first) out += sep_;
                out += p.header;
            } else {
                pad(out, p.header, width(p), gap(p));
            }
            first = false;
        }
        const bool flows = sdk::has_primitive(rows.primitives, FA_P_FLOWS);
        if (format_ == Format::Csv) {
            out += first ? "" : sep_;
            out += "PACKETS";
            if (flows) out += sep_ + "FLOWS";
            out += sep_ + "BYTES\n";
        } else {
            pad(out, "PACKETS", 20, 2);
            if (flows) pad(out, "FLOWS", 20, 2);
            out += "BYTES\n";
        }
    }

    template <class NameOf>
    void row(const fa_row& row, const fa_row_batch& rows, NameOf&& names, std::string& out) const {
        const fa_record& r = row.rec;
        const bool flows = sdk::has_primitive(rows.primitives, FA_P_FLOWS);
        if (format_ == Format::Json) {
            out += "{\"event_type\": \"purge\"";
            for (const auto& p : sdk::kPrimitives) {
                if (!sdk::has_primitive(rows.primitives, p.id)) continue;
                out += ", \"";
                out += p.column;
                out += "\": ";
                if (sdk::primitive_is_numeric(p.id)) {
                    sdk::append_primitive(out, r, p.id, names, options_);
                } else {
                    out.push_back('"');
                    const std::size_t at = out.size();
                    sdk::append_primitive(out, r, p.id, names, options_);
                    escape_from(out, at);
                    out.push_back('"');
                }
            }
            if (rows.history_s) {
                out += ", \"stamp_inserted\": \"";
                out += stamps_[0].text(row.stamp_inserted_us);
                out += "\", \"stamp_updated\": \"";
                out += stamps_[1].text(row.stamp_updated_us);
                out += '"';
            }
            if (flows) {
                out += ", \"flows\": ";
                sdk::append_number(out, r.flows);
            }
            out += ", \"packets\": ";
            sdk::append_number(out, r.packets);
            out += ", \"bytes\": ";
            sdk::append_number(out, r.bytes);
            out += "}\n";
            return;
        }
        bool first = true;
        for (const auto& p : sdk::kPrimitives) {
            if (!sdk::has_primitive(rows.primitives, p.id)) continue;
            if (format_ == Format::Csv) {
                if (!first) out += sep_;
                sdk::append_primitive(out, r, p.id, names, options_);
            } else {
                const std::size_t at = out.size();
                sdk::append_primitive(out, r, p.id, names, options_);
                pad_from(out, at, width(p), gap(p));
            }
            first = false;
        }
        if (format_ == Format::Csv) {
            if (!first) out += sep_;
            sdk::append_number(out, r.packets);
            if (flows) {
                out += sep_;
                sdk::append_number(out, r.flows);
            }
            out += sep_;
            sdk::append_number(out, r.bytes);
            out += '\n';
        } else {
            std::size_t at = out.size();
            sdk::append_number(out, r.packets);
            pad_from(out, at, 20, 2);
            if (flows) {
                at = out.size();
                sdk::append_number(out, r.flows);
                pad_from(out, at, 20, 2);
            }
            sdk::append_number(out, r.bytes);
            out += '\n';
        }
    }

private:
    static std::size_t width(const sdk::PrimitiveInfo& p) {
        std::size_t h = std::char_traits<char>::length(p.header);
        return static_cast<std::size_t>(p.width) > h ? static_cast<std::size_t>(p.width) : h;
    }
    // pmacct leaves one blank after SAMPLING_RATE and two after every other column.
    static std::size_t gap(const sdk::PrimitiveInfo& p) { return p.id == FA_P_SAMPLING_RATE ? 1 : 2; }
    static void pad(std::string& out, const std::string& v, std::size_t w, std::size_t gap) {
        out += v;
        pad_from(out, out.size() - v.size(), w, gap);
    }
    // Pads the value written from `at` to the end of `out`.
    static void pad_from(std::string& out, std::size_t at, std::size_t w, std::size_t gap) {
        const std::size_t n = out.size() - at;
        if (n < w) out.append(w - n, ' ');
        out.append(gap, ' ');
    }
    // Escapes for JSON what was written from `at` on (names from maps and classifiers may hold
    // quotes or control characters; addresses and numbers never do).
    static void escape_from(std::string& out, std::size_t at) {
        for (std::size_t i = at; i < out.size(); ++i) {
            const unsigned char c = static_cast<unsigned char>(out[i]);
            if (c == '"' || c == '\\' || c < 0x20) {
                const std::string raw = out.substr(at);
                out.resize(at);
                out += sdk::json_escape(raw);
                return;
            }
        }
    }
    // The rows of a purge share their stamps: each is formatted once.
    struct StampCache {
        std::uint64_t us = ~0ull;
        std::string str;
        const std::string& text(std::uint64_t t) {
            if (t != us) {
                us = t;
                str = sdk::format_stamp(t / 1'000'000);
            }
            return str;
        }
    };

    Format format_;
    std::string sep_;
    sdk::FormatOptions options_;
    mutable StampCache stamps_[2]; // stamp_inserted, stamp_updated
};

} // namespace flowacct::print
