// SPDX-License-Identifier: GPL-2.0-or-later
// PatternSet: reading l7-filter pattern files and matching them with RE2.
#include "pattern_set.hpp"

#include <algorithm>  // std::min_element
#include <fstream>    // std::ifstream
#include <stdexcept>  // std::runtime_error

#include <re2/re2.h>  // re2::RE2, RE2::Options
#include <re2/set.h>  // re2::RE2::Set

namespace flowacct::classify {

namespace {

bool valid_protocol(const std::string& s) {
    if (s.empty() || s.size() >= 32) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return false;
    return true;
}

RE2::Options l7_options(std::int64_t max_mem_bytes) {
    RE2::Options o;
    o.set_encoding(RE2::Options::EncodingLatin1); // payloads are bytes, not UTF-8
    o.set_case_sensitive(false);
    o.set_dot_nl(true);
    o.set_never_capture(true);
    o.set_log_errors(false);
    o.set_max_mem(max_mem_bytes);
    return o;
}

} // namespace

PatternFile parse_pattern_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error(file.string() + ": cannot read");
    PatternFile out;
    std::string line;
    unsigned lineno = 0;
    constexpr std::size_t kMaxLine = 64 * 1024;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.size() > kMaxLine)
            throw std::runtime_error(file.string() + ":" + std::to_string(lineno) + ": line longer than 64 KiB");
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        if (out.protocol.empty()) {
            std::size_t last = line.find_last_not_of(" \t");
            out.protocol = line.substr(first, last - first + 1);
            if (!valid_protocol(out.protocol))
                throw std::runtime_error(file.string() + ":" + std::to_string(lineno) + ": '" + out.protocol +
                                         "' is not a protocol name (letters, digits, _ - ., under 32 bytes)");
            continue;
        }
        out.regex = line.substr(first);
        out.origin = file.string() + ":" + std::to_string(lineno);
        return out;
    }
    throw std::runtime_error(file.string() + ":" + std::to_string(lineno) +
                             (out.protocol.empty() ? ": no protocol name line" : ": no regular expression after the protocol name"));
}

PatternSet::PatternSet(const std::vector<PatternFile>& patterns, std::vector<std::string>& rejected,
                       std::int64_t max_mem_bytes) {
    const RE2::Options opts = l7_options(max_mem_bytes);
    set_ = std::make_unique<RE2::Set>(opts, RE2::UNANCHORED);
    for (const auto& p : patterns) {
        // Compile alone first: RE2::Set::Add reports syntax errors, but a lone RE2 also catches
        // a pattern too large for the memory bound, with a message that names it.
        RE2 alone(p.regex, opts);
        if (!alone.ok()) {
            rejected.push_back(p.origin + ": " + p.protocol + ": " + alone.error());
            continue;
        }
        std::string error;
        if (set_->Add(p.regex, &error) < 0) {
            rejected.push_back(p.origin + ": " + p.protocol + ": " + error);
            continue;
        }
        protocols_.push_back(p.protocol);
    }
    if (!set_->Compile()) throw std::runtime_error("the pattern set does not fit in its memory bound");
    hits_.reserve(protocols_.size());
}

PatternSet::~PatternSet() = default;

int PatternSet::match(const std::uint8_t* data, std::uint32_t len, bool& out_of_memory) {
    out_of_memory = false;
    if (protocols_.empty()) return -1;
    hits_.clear();
    RE2::Set::ErrorInfo info{};
    bool any = set_->Match(re2::StringPiece(reinterpret_cast<const char*>(data), len), &hits_, &info);
    if (!any) {
        out_of_memory = info.kind == RE2::Set::kOutOfMemory;
        return -1;
    }
    return *std::min_element(hits_.begin(), hits_.end());
}

} // namespace flowacct::classify
