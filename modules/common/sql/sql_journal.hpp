// SPDX-License-Identifier: GPL-2.0-or-later
// The on-disk journal of an SQL output: one file per batch of rows that could not be committed
// yet (database down or slow, backlog full, shutdown). A file is written to a temporary name,
// synced and renamed, and removed only after its rows are committed, so a crash leaves either
// the whole batch or nothing.
#pragma once

#include <atomic>      // std::atomic
#include <cstdint>     // std::uint64_t
#include <filesystem>  // std::filesystem::path
#include <string>      // std::string
#include <vector>      // std::vector

#include "sql_schema.hpp" // StoredRow

namespace flowacct::sql {

/// Rows sealed together: one transaction. `seq` orders batches and identifies them in the
/// commit marker (see SqlOutput).
struct RowBatch {
    std::uint64_t seq = 0;
    std::vector<StoredRow> rows;
};

/// Encodes a batch (header, rows, checksum). Pure; any thread.
std::string encode_batch(const RowBatch& batch);
/// Decodes what encode_batch wrote. Returns false on any inconsistency (size, checksum, counts)
/// without reading out of bounds or allocating more than the input's size suggests.
bool decode_batch(const std::string& data, RowBatch& out);

struct JournalFile {
    std::filesystem::path path;
    std::uint64_t seq = 0;
    std::uint64_t rows = 0;
};

/// A journal directory owned by one output instance (`name`): it holds an exclusive lock on
/// `<dir>/<name>.lock` while it lives, so a second process configured the same way fails at
/// start instead of replaying the same files. write() and remove() may run on two threads at
/// once (the size on disk is kept atomically); the other methods on one thread at a time.
class Journal {
public:
    /// Creates the directory if needed and takes the lock. Throws sdk::Error (key
    /// sql_journal_dir) when it cannot. `max_bytes` caps the size of the batch files (0: no cap).
    Journal(std::filesystem::path dir, std::string name, std::uint64_t max_bytes = 0);
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    /// Batches left by a previous run, by sequence. Removes leftover temporary files.
    std::vector<JournalFile> scan() const;
    /// Writes `batch` durably and returns its path. Throws sdk::Error on an I/O failure (the disk
    /// full included) or when the file would take the journal past `max_bytes`; nothing is left
    /// on disk then.
    std::filesystem::path write(const RowBatch& batch);
    /// Reads a batch; false if the file is unreadable or corrupt.
    bool read(const std::filesystem::path& path, RowBatch& out) const;
    /// Moves a corrupt file aside (suffix .bad) so it is kept for inspection but not replayed.
    void quarantine(const std::filesystem::path& path) const;
    void remove(const std::filesystem::path& path);
    /// Bytes of batch files on disk (those found by scan() and written since).
    std::uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
    std::uint64_t max_bytes() const { return max_bytes_; }

    /// `<dir>/<name>.refused.jsonl`: rows the database refused, one JSON object a line.
    std::filesystem::path refused_path() const { return dir_ / (name_ + ".refused.jsonl"); }
    /// Appends `lines` (each ending in a newline) to refused_path(), created with mode 0600.
    /// Throws sdk::Error on an I/O failure.
    void append_refused(const std::string& lines) const;

    const std::filesystem::path& dir() const { return dir_; }
    /// A random id made once per journal directory and instance (kept in `<name>.id`): tells
    /// writers apart even when hosts share a name and a path (containers).
    const std::string& id() const { return id_; }

private:
    std::filesystem::path write_file(std::uint64_t seq, const std::string& data) const;
    void release_bytes(std::uint64_t n) const;

    std::filesystem::path dir_;
    std::string name_;
    std::string id_;
    int lock_fd_ = -1;
    std::uint64_t max_bytes_ = 0;
    mutable std::atomic<std::uint64_t> bytes_{0};
};

} // namespace flowacct::sql
