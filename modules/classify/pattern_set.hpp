// SPDX-License-Identifier: GPL-2.0-or-later
// PatternSet: l7-filter `.pat` regular expressions compiled into one RE2 set.
#pragma once

#include <cstdint>      // std::uint8_t, std::uint32_t
#include <filesystem>   // std::filesystem::path
#include <memory>       // std::unique_ptr
#include <string>       // std::string
#include <vector>       // std::vector

#include <re2/set.h>    // re2::RE2::Set


namespace flowacct::classify {

/// One pattern file as read from disk.
struct PatternFile {
    std::string protocol; // the class name (first line that is not a comment)
    std::string regex;    // the expression (the next such line), \xHH escapes kept for RE2
    std::string origin;   // "file:line" of the expression, for messages
};

/// Parses a `.pat` file in the l7-filter format: '#' lines and blank lines are skipped, the
/// first remaining line is the protocol name, the next one the expression. Any later lines
/// (l7-filter's optional userspace pattern) are ignored. Throws std::runtime_error naming the
/// file and line when the name is invalid or the expression is missing.
PatternFile parse_pattern_file(const std::filesystem::path& file);

/// Why RE2 (Debian's libre2): its automata run in time linear in the payload whatever the
/// expression, so a hostile or careless pattern such as `(a|aa)*b` cannot stall the pipeline
/// (PCRE2 backtracks: it would need match limits tuned per pattern and would still burn them on
/// every packet; Hyperscan is as fast but Debian ships it for amd64 only and it needs SSSE3,
/// while flowacct also runs on arm64 routers). RE2::Set runs every pattern in one pass over the payload, so the
/// cost does not grow with the number of patterns. Memory is bounded by `max_mem_bytes`; a set
/// whose automaton would need more reports a miss (counted by the caller).
///
/// Matching follows l7-filter: case-insensitive, bytes (Latin-1), `.` matches newlines too,
/// `^` anchors at the start of the packet's payload. When several patterns match, the one from
/// the alphabetically first file wins (pmacct loads them in that order).
///
/// Built on the main or pipeline thread; match() is const but keeps a scratch vector, so one
/// instance serves one thread.
class PatternSet {
public:
    /// Compiles `patterns`; a pattern RE2 rejects (for instance a back-reference) is skipped
    /// and described in `rejected` ("file:line: reason"). Throws std::runtime_error only if the
    /// set as a whole cannot be built.
    PatternSet(const std::vector<PatternFile>& patterns, std::vector<std::string>& rejected,
               std::int64_t max_mem_bytes = 32ll << 20);
    ~PatternSet();
    PatternSet(const PatternSet&) = delete;
    PatternSet& operator=(const PatternSet&) = delete;

    /// Index of the winning pattern (into protocols()), -1 for no match. `out_of_memory` is
    /// set when the automaton hit its memory bound and the answer is a miss.
    int match(const std::uint8_t* data, std::uint32_t len, bool& out_of_memory);

    const std::vector<std::string>& protocols() const { return protocols_; }
    bool empty() const { return protocols_.empty(); }

private:
    std::unique_ptr<re2::RE2::Set> set_;
    std::vector<std::string> protocols_;
    std::vector<int> hits_;
};

} // namespace flowacct::classify
