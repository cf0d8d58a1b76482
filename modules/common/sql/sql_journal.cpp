// SPDX-License-Identifier: GPL-2.0-or-later
// The on-disk journal of an SQL output (see sql_journal.hpp).
#include "sql_journal.hpp"

#include <fcntl.h>     // open, O_*
#include <sys/file.h>  // flock
#include <unistd.h>    // write, fsync, close

#include <algorithm>   // std::sort
#include <cerrno>      // errno
#include <cstring>     // std::memcpy, std::strerror
#include <fstream>     // std::ifstream, std::ofstream
#include <random>      // std::random_device

#include <flowacct/sdk/module.hpp> // sdk::Error

namespace flowacct::sql {

namespace {

constexpr char kMagic[8] = {'F', 'A', 'S', 'Q', 'L', 'J', '0', '1'};
constexpr char kTrailer[8] = {'F', 'A', 'S', 'Q', 'L', 'E', 'N', 'D'};
constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8 + 8;
constexpr const char* kSuffix = ".journal";

std::uint64_t fnv1a(const char* p, std::size_t n) {
    std::uint64_t h = 1469598103934665603ull;
    for (std::size_t i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(p[i]);
        h *= 1099511628211ull;
    }
    return h;
}

template <class T> void put(std::string& out, T v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

template <class T> bool get(const std::string& in, std::size_t& pos, std::size_t end, T& v) {
    if (end - pos < sizeof v) return false;
    std::memcpy(&v, in.data() + pos, sizeof v);
    pos += sizeof v;
    return true;
}

void put_str(std::string& out, const std::string& s) {
    std::uint16_t n = static_cast<std::uint16_t>(std::min<std::size_t>(s.size(), 0xffff));
    put(out, n);
    out.append(s.data(), n);
}

bool get_str(const std::string& in, std::size_t& pos, std::size_t end, std::string& s) {
    std::uint16_t n = 0;
    if (!get(in, pos, end, n) || end - pos < n) return false;
    s.assign(in.data() + pos, n);
    pos += n;
    return true;
}

std::string seq_text(std::uint64_t seq) {
    char b[24];
    std::snprintf(b, sizeof b, "%020llu", static_cast<unsigned long long>(seq));
    return b;
}

} // namespace

std::string encode_batch(const RowBatch& batch) {
    std::string out;
    out.reserve(kHeaderBytes + batch.rows.size() * (sizeof(fa_row) + 8) + 16);
    out.append(kMagic, 8);
    put(out, static_cast<std::uint32_t>(sizeof(fa_row)));
    put(out, static_cast<std::uint32_t>(0));
    put(out, batch.seq);
    put(out, static_cast<std::uint64_t>(batch.rows.size()));
    for (const auto& r : batch.rows) {
        out.append(reinterpret_cast<const char*>(&r.row), sizeof r.row);
        put_str(out, r.class_name);
        put_str(out, r.label);
    }
    put(out, fnv1a(out.data(), out.size()));
    out.append(kTrailer, 8);
    return out;
}

bool decode_batch(const std::string& data, RowBatch& out) {
    if (data.size() < kHeaderBytes + 16) return false;
    if (std::memcmp(data.data(), kMagic, 8) != 0) return false;
    if (std::memcmp(data.data() + data.size() - 8, kTrailer, 8) != 0) return false;
    const std::size_t end = data.size() - 16;
    std::uint64_t sum = 0;
    std::memcpy(&sum, data.data() + end, 8);
    if (sum != fnv1a(data.data(), end)) return false;
    std::size_t pos = 8;
    std::uint32_t row_size = 0, reserved = 0;
    std::uint64_t count = 0;
    if (!get(data, pos, end, row_size) || !get(data, pos, end, reserved) || !get(data, pos, end, out.seq) ||
        !get(data, pos, end, count))
        return false;
    if (row_size != sizeof(fa_row)) return false;
    // Each row takes at least sizeof(fa_row) + 4 bytes: bounds the reservation by the file size.
    if (count > (end - pos) / (sizeof(fa_row) + 4)) return false;
    out.rows.clear();
    out.rows.resize(count);
    for (auto& r : out.rows) {
        if (end - pos < sizeof r.row) return false;
        std::memcpy(&r.row, data.data() + pos, sizeof r.row);
        pos += sizeof r.row;
        if (!get_str(data, pos, end, r.class_name) || !get_str(data, pos, end, r.label)) return false;
    }
    return pos == end;
}

Journal::Journal(std::filesystem::path dir, std::string name, std::uint64_t max_bytes)
    : dir_(std::move(dir)), name_(std::move(name)), max_bytes_(max_bytes) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw sdk::Error("cannot create journal directory " + dir_.string() + ": " + ec.message(), "sql_journal_dir");
    dir_ = std::filesystem::absolute(dir_, ec);
    auto lock = dir_ / (name_ + ".lock");
    lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd_ < 0)
        throw sdk::Error("cannot open " + lock.string() + ": " + std::strerror(errno), "sql_journal_dir");
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        ::close(lock_fd_);
        lock_fd_ = -1;
        throw sdk::Error("journal " + lock.string() +
                             " is locked by another process; give each daemon its own sql_journal_dir",
                         "sql_journal_dir");
    }
    auto id_path = dir_ / (name_ + ".id");
    std::ifstream in(id_path);
    std::getline(in, id_);
    if (id_.size() != 32 || id_.find_first_not_of("0123456789abcdef") != std::string::npos) {
        std::random_device rd;
        char b[33];
        std::snprintf(b, sizeof b, "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
        id_ = b;
        std::ofstream out(id_path, std::ios::trunc);
        out << id_ << "\n";
        if (!out) {
            ::close(lock_fd_);
            lock_fd_ = -1;
            throw sdk::Error("cannot write " + id_path.string(), "sql_journal_dir");
        }
    }
}

Journal::~Journal() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::vector<JournalFile> Journal::scan() const {
    std::vector<JournalFile> out;
    std::uint64_t total = 0;
    std::error_code ec;
    const std::string prefix = name_ + ".";
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
        std::string f = e.path().filename().string();
        if (f.rfind(prefix, 0) != 0) continue;
        if (f.size() > 4 && f.compare(f.size() - 4, 4, ".tmp") == 0) {
            std::filesystem::remove(e.path(), ec); // a write cut short: its rows were never removed from memory
            continue;
        }
        if (f.size() <= prefix.size() + std::strlen(kSuffix) || f.compare(f.size() - std::strlen(kSuffix), std::strlen(kSuffix), kSuffix) != 0)
            continue;
        std::string digits = f.substr(prefix.size(), f.size() - prefix.size() - std::strlen(kSuffix));
        if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
        JournalFile jf;
        jf.path = e.path();
        jf.seq = std::strtoull(digits.c_str(), nullptr, 10);
        std::ifstream in(jf.path, std::ios::binary);
        char head[kHeaderBytes];
        if (in.read(head, sizeof head)) std::memcpy(&jf.rows, head + 24, 8);
        std::error_code size_ec;
        auto size = std::filesystem::file_size(jf.path, size_ec);
        if (!size_ec) total += size;
        out.push_back(jf);
    }
    // What a previous run left counts against the cap: the journal never grows past it.
    bytes_.store(total, std::memory_order_relaxed);
    std::sort(out.begin(), out.end(), [](const JournalFile& a, const JournalFile& b) { return a.seq < b.seq; });
    return out;
}

std::filesystem::path Journal::write(const RowBatch& batch) {
    const std::string data = encode_batch(batch);
    // Reserve the room first, so two threads writing at once cannot both pass the cap.
    const std::uint64_t before = bytes_.fetch_add(data.size(), std::memory_order_relaxed);
    if (max_bytes_ && before + data.size() > max_bytes_) {
        bytes_.fetch_sub(data.size(), std::memory_order_relaxed);
        throw sdk::Error("journal " + dir_.string() + " full: " + std::to_string(before) + " bytes, " +
                         std::to_string(data.size()) + " more would pass sql_journal_max_size " +
                         std::to_string(max_bytes_));
    }
    try {
        return write_file(batch.seq, data);
    } catch (...) {
        bytes_.fetch_sub(data.size(), std::memory_order_relaxed);
        throw;
    }
}

std::filesystem::path Journal::write_file(std::uint64_t seq, const std::string& data) const {
    auto final_path = dir_ / (name_ + "." + seq_text(seq) + kSuffix);
    auto tmp = final_path;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw sdk::Error("cannot create " + tmp.string() + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            throw sdk::Error("cannot write " + tmp.string() + ": " + std::strerror(e));
        }
        done += static_cast<std::size_t>(n);
    }
    // ENOSPC may surface only here (delayed allocation): the file is then removed, never kept short.
    if (::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        throw sdk::Error("cannot sync " + tmp.string() + ": " + std::strerror(e));
    }
    if (::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        throw sdk::Error("cannot close " + tmp.string() + ": " + std::strerror(e));
    }
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw sdk::Error("cannot rename " + tmp.string() + ": " + std::strerror(errno));
    }
    int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return final_path;
}

bool Journal::read(const std::filesystem::path& path, RowBatch& out) const {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (ec || size > (1ull << 32)) return false;
    std::string data(size, '\0');
    std::ifstream in(path, std::ios::binary);
    if (!in.read(data.data(), static_cast<std::streamsize>(size))) return false;
    return decode_batch(data, out);
}

void Journal::quarantine(const std::filesystem::path& path) const {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (!ec) release_bytes(size);
    ec.clear();
    auto bad = path;
    bad += ".bad";
    std::filesystem::rename(path, bad, ec);
}

void Journal::remove(const std::filesystem::path& path) {
    std::error_code ec;
    auto size = std::filesystem::file_size(path, ec);
    if (std::filesystem::remove(path, ec) && size != static_cast<std::uintmax_t>(-1)) release_bytes(size);
}

void Journal::release_bytes(std::uint64_t n) const {
    std::uint64_t cur = bytes_.load(std::memory_order_relaxed);
    while (!bytes_.compare_exchange_weak(cur, cur - std::min(cur, n), std::memory_order_relaxed)) {
    }
}

void Journal::append_refused(const std::string& lines) const {
    auto path = refused_path();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) throw sdk::Error("cannot open " + path.string() + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < lines.size()) {
        ssize_t n = ::write(fd, lines.data() + done, lines.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = errno;
            ::close(fd);
            throw sdk::Error("cannot write " + path.string() + ": " + std::strerror(e));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        int e = errno;
        ::close(fd);
        throw sdk::Error("cannot sync " + path.string() + ": " + std::strerror(e));
    }
    ::close(fd);
}

} // namespace flowacct::sql
