// SPDX-License-Identifier: GPL-2.0-or-later
// Output module "pgsql" (pmacct's pgsql plugin): rows into PostgreSQL tables, one transaction
// per purge. Rows are loaded with COPY (or bound multi-row INSERTs) into a temporary table,
// then merged set-wise under a table lock, so two daemons writing one table serialize instead of
// racing: INSERT ... ON CONFLICT DO UPDATE when a unique index covers exactly the key columns (the
// etc/sql scripts' primary key), else UPDATE ... FROM adds counters to existing rows and INSERT
// ... WHERE NOT EXISTS adds the new ones, so any table works, with or without a primary key.
// The first write of a bin into a table whose key leads with stamp_inserted (the etc/sql
// scripts') skips the staging: its rows are all new. With sql_dont_try_update rows go straight
// into the table. COPY sends values in binary and rows in the key's order (pg_binary.hpp) when
// every column has a type written so; the first write of a bin goes a part at a time, each part
// rendered and encoded while the server stores the ones before (write_streamed()). The writer
// thread, backlog and journal come from SqlOutput.
#include <algorithm> // std::find
#include <cstring>  // std::strncmp
#include <map>      // std::map
#include <memory>   // std::unique_ptr
#include <set>      // std::set
#include <string>   // std::string
#include <string_view> // std::string_view
#include <vector>   // std::vector

#include <libpq-fe.h> // PQ*

#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE
#include <flowacct/sdk/primitives.hpp> // sdk::format_stamp

#include "pg_binary.hpp"  // pgbin::Encoder
#include "sql_output.hpp" // sql::SqlOutput, sql::Backend

namespace {

using namespace flowacct;
using sql::DbError;
using sql::Dialect;

constexpr fa_config_key kKeys[] = {
    FLOWACCT_SQL_COMMON_KEYS,
    FLOWACCT_SQL_SERVER_KEYS,
    {"sql_use_copy", FA_KEY_BOOL, "true",
     "Load rows with COPY (fast); false uses multi-row INSERT statements with bound values"},
};

// Owns a PGresult.
struct Result {
    PGresult* r = nullptr;
    explicit Result(PGresult* p) : r(p) {}
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    ~Result() {
        if (r) PQclear(r);
    }
};

// COPY text format: a backslash and control characters would change the row's structure.
void copy_escape(std::string_view v, std::string& out) {
    for (char c : v) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        default: out.push_back(c);
        }
    }
}

struct PgSettings {
    std::string host, port, db, user, password;
    bool use_copy = true;
};

class PgBackend final : public sql::Backend {
public:
    explicit PgBackend(PgSettings s) : s_(std::move(s)) {}
    ~PgBackend() override { close(); }

    std::string describe() const override {
        return "postgresql " + (s_.host.empty() ? std::string("(local socket)") : s_.host) +
               (s_.port.empty() ? "" : ":" + s_.port) + "/" + s_.db;
    }

    void open() override {
        close();
        std::vector<std::string> owned_k, owned_v;
        auto add = [&](const char* key, const std::string& value) {
            if (value.empty()) return;
            owned_k.push_back(key);
            owned_v.push_back(value);
        };
        add("host", s_.host);
        add("port", s_.port);
        add("dbname", s_.db);
        add("user", s_.user);
        add("password", s_.password);
        // A dead server or network must fail a call within seconds, not hang the writer.
        add("connect_timeout", "5");
        add("keepalives", "1");
        add("keepalives_idle", "10");
        add("keepalives_interval", "5");
        add("keepalives_count", "3");
        add("tcp_user_timeout", "30000");
        add("application_name", "flowacct");
        std::vector<const char*> k, v;
        for (std::size_t i = 0; i < owned_k.size(); ++i) {
            k.push_back(owned_k[i].c_str());
            v.push_back(owned_v[i].c_str());
        }
        k.push_back(nullptr);
        v.push_back(nullptr);
        conn_ = PQconnectdbParams(k.data(), v.data(), 0);
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
            std::string msg = conn_ ? PQerrorMessage(conn_) : "out of memory";
            close();
            throw DbError("cannot connect: " + trim(msg), true);
        }
        // CREATE TABLE IF NOT EXISTS notices and the like are not for stderr.
        PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
        key_index_.clear();
        binary_ = true;
        // Before PostgreSQL 10 a server could keep timestamps as floating point.
        const char* int_times = PQparameterStatus(conn_, "integer_datetimes");
        integer_datetimes_ = int_times && std::string(int_times) == "on";
        Result mem(PQexec(conn_, "SELECT pg_size_bytes(current_setting('work_mem')) < 67108864"));
        check(mem, "settings");
        raise_work_mem_ = PQntuples(mem.r) == 1 && std::string(PQgetvalue(mem.r, 0, 0)) == "t";
    }

    void close() noexcept override {
        if (conn_) PQfinish(conn_);
        conn_ = nullptr;
    }

    bool is_open() const override { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

    bool table_exists(const std::string& table) override {
        std::string quoted = sql::quote_table(Dialect::Pgsql, table);
        const char* p[] = {quoted.c_str()};
        Result r(PQexecParams(conn_, "SELECT to_regclass($1) IS NOT NULL", 1, nullptr, p, nullptr, nullptr, 0));
        check(r, "table lookup");
        return PQntuples(r.r) == 1 && std::string(PQgetvalue(r.r, 0, 0)) == "t";
    }

    void exec(const std::string& text) override {
        Result r(PQexec(conn_, text.c_str()));
        check(r, "statement");
    }

    void ensure_marker(const std::string& table) override {
        exec("CREATE TABLE IF NOT EXISTS " + sql::quote_table(Dialect::Pgsql, table) +
             " (writer VARCHAR(255) NOT NULL PRIMARY KEY, seq BIGINT NOT NULL, stamp_updated timestamp without time zone)");
    }

    std::uint64_t read_marker(const std::string& table, const std::string& writer) override {
        const char* p[] = {writer.c_str()};
        Result r(PQexecParams(conn_, ("SELECT seq FROM " + sql::quote_table(Dialect::Pgsql, table) + " WHERE writer = $1").c_str(),
                              1, nullptr, p, nullptr, nullptr, 0));
        check(r, "marker lookup");
        return PQntuples(r.r) ? std::strtoull(PQgetvalue(r.r, 0, 0), nullptr, 10) : 0;
    }

    void commit(const sql::CommitRequest& req) override {
        try {
            transaction(req, true);
        } catch (const Unstreamable&) {
            // A value did not fit its column's binary form halfway through a streamed COPY, and
            // the transaction is rolled back: the batch is written again whole (as text then).
            transaction(req, false);
        }
    }

private:
    // write_streamed() met a value it cannot send in binary after its COPY had begun.
    struct Unstreamable {};

    void transaction(const sql::CommitRequest& req, bool stream) {
        if (!req.continues_purge) new_bins_.clear();
        // Column types are looked up again in each transaction, under a lock (see load()).
        wires_.clear();
        stage_made_ = false;
        exec("BEGIN");
        try {
            if (req.refused) {
                // Made before any savepoint, so that a part rolled back keeps it: isolating
                // many refused rows creates no table per part.
                make_stage(req.schema);
                sql::write_isolating(*this, req.groups(), [&](const sql::RenderedGroup& g) { write_group(req, g); },
                                     *req.refused);
            } else if (!stream || !write_streamed(req)) {
                for (const auto& g : req.groups()) write_group(req, g);
            }
            if (!req.marker_table.empty()) {
                std::string seq = std::to_string(req.seq);
                const char* p[] = {req.writer_id.c_str(), seq.c_str()};
                Result r(PQexecParams(conn_,
                                      ("INSERT INTO " + sql::quote_table(Dialect::Pgsql, req.marker_table) +
                                       " (writer, seq, stamp_updated) VALUES ($1, $2, localtimestamp) ON CONFLICT (writer) "
                                       "DO UPDATE SET seq = EXCLUDED.seq, stamp_updated = EXCLUDED.stamp_updated")
                                          .c_str(),
                                      2, nullptr, p, nullptr, nullptr, 0));
                check(r, "marker update");
            }
            exec("COMMIT");
        } catch (...) {
            new_bins_.clear();
            if (is_open()) Result(PQexec(conn_, "ROLLBACK"));
            throw;
        }
    }

    // The transaction's staging table, made on first use (the first write of a bin needs none).
    void make_stage(const sql::Schema& schema) {
        if (stage_made_) return;
        const auto q = [](const std::string& n) { return sql::quote_ident(Dialect::Pgsql, n); };
        std::string ddl = "CREATE TEMP TABLE " + std::string(kStage) + " (";
        for (std::size_t i = 0; i < schema.columns.size(); ++i)
            ddl += (i ? ", " : "") + q(schema.columns[i].name) + " " + schema.columns[i].type;
        exec(ddl + ") ON COMMIT DROP");
        stage_made_ = true;
    }

    static std::string column_list(const sql::Schema& schema) {
        std::string names;
        for (std::size_t i = 0; i < schema.columns.size(); ++i)
            names += (i ? ", " : "") + sql::quote_ident(Dialect::Pgsql, schema.columns[i].name);
        return names;
    }

    // The first write of a bin into a table whose key leads with stamp_inserted, as write_group()
    // makes it, but a part at a time: the rows are cut into parts in the order of the first key
    // column whose value varies (pgbin::split_in_order), and each part is rendered and encoded
    // while the server stores the parts sent before it, where otherwise the server waits for the
    // whole batch to be rendered and sorted. The rows still arrive in the key's order. False,
    // having written nothing, when the batch does not qualify (rows of several bins, a bin the
    // table holds, a column not written in binary, a key column of another type to look at):
    // write_group() then writes it.
    bool write_streamed(const sql::CommitRequest& req) {
        const auto& rows = req.batch.rows();
        if (req.dont_try_update || !s_.use_copy || !binary_ || req.batch.bins().size() != 1) return false;
        const std::uint64_t bin_s = req.batch.bins().front();
        const std::string name = req.batch.table_of(bin_s);
        const std::string table = sql::quote_table(Dialect::Pgsql, name);
        exec("LOCK TABLE " + table + " IN SHARE ROW EXCLUSIVE MODE");
        const KeyIndex index = key_index(req.schema, name);
        if (!index.time_first) return false;
        const std::string bin = sdk::format_stamp(bin_s); // as the renderer writes it
        if (!bins_are_new(req, table, name, {bin})) return false;
        const std::vector<pgbin::Wire>& w = wires(table, req.schema);
        if (w.empty()) return false;
        if (!pgbin::split_in_order(req.schema, w, index.order, rows, kPartRows, parts_)) return false;
        Result start(PQexec(conn_, ("COPY " + table + " (" + column_list(req.schema) + ") FROM STDIN (FORMAT binary)").c_str()));
        check(start, "copy into " + name);
        const auto send = [&](std::string_view chunk) {
            return PQputCopyData(conn_, chunk.data(), static_cast<int>(chunk.size())) == 1;
        };
        stream_.assign(pgbin::header());
        bool ok = true;
        std::size_t begin = 0;
        for (std::size_t end : parts_.ends) {
            const auto& part = req.batch.render(parts_.rows.data() + begin, end - begin);
            begin = end;
            if (part.size() != 1 || !encoder_.encode(part.front(), w, index.order)) {
                // A value outside its column's binary form (an integer beyond a narrower
                // column's range): write_group() sends the batch as text, for the server to judge.
                if (PQputCopyEnd(conn_, "flowacct: a value is not in its column's binary form") == 1)
                    while (PGresult* r = PQgetResult(conn_)) {
                        PQclear(r);
                        if (PQstatus(conn_) != CONNECTION_OK) break;
                    }
                throw Unstreamable{};
            }
            ok = encoder_.append_rows(stream_, kStreamChunk, send);
            if (!ok) break;
        }
        if (ok) {
            stream_.append(pgbin::trailer());
            ok = send(stream_);
        }
        end_copy(ok, name, true);
        new_bins_.insert(name + '\n' + bin);
        return true;
    }

    static std::string trim(std::string s) {
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
        for (char& c : s)
            if (c == '\n') c = ' ';
        return s;
    }

    // SQLSTATE classes 22 (data exception: out of range, too long, invalid text) and 23
    // (integrity constraint: NOT NULL, CHECK, UNIQUE) mean these rows, not the session, are at fault.
    static bool data_error(const PGresult* r) {
        const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
        return state && (std::strncmp(state, "22", 2) == 0 || std::strncmp(state, "23", 2) == 0);
    }

    void check(const Result& r, const std::string& what) {
        ExecStatusType st = r.r ? PQresultStatus(r.r) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) return;
        const bool connection = PQstatus(conn_) != CONNECTION_OK;
        throw DbError(what + ": " + trim(r.r ? PQresultErrorMessage(r.r) : PQerrorMessage(conn_)), connection,
                      !connection && data_error(r.r));
    }

    void write_group(const sql::CommitRequest& req, const sql::RenderedGroup& g) {
        using sql::Field;
        const auto& cols = req.schema.columns;
        const auto q = [](const std::string& n) { return sql::quote_ident(Dialect::Pgsql, n); };
        const std::string table = sql::quote_table(Dialect::Pgsql, g.table);
        const std::string names = column_list(req.schema);
        if (req.dont_try_update) {
            // The column types load() reads must hold until commit (see load()): this lock, which
            // COPY takes anyway, keeps ALTER TABLE out. The merge below holds a stronger one.
            if (s_.use_copy && binary_) exec("LOCK TABLE " + table + " IN ROW EXCLUSIVE MODE");
            load(table, names, req, g, {});
            return;
        }
        // Serializes writers of this table (two daemons): the merge below is then exact.
        exec("LOCK TABLE " + table + " IN SHARE ROW EXCLUSIVE MODE");
        const KeyIndex index = key_index(req.schema, g.table);
        if (index.time_first) {
            // The first write of a bin: every row is new, and the lock keeps other flowacct
            // writers out until commit. The rows go straight in, through the key's index once,
            // where the merge stages them and then probes the index before each insert. A bin is
            // new when the table holds none of its rows (the etc/sql scripts' key leads with
            // stamp_inserted: one index probe), or when the previous batch of the same purge
            // brought it in (a purge's keys are distinct). Should a row of the bin be there all
            // the same (a writer that takes no lock, a purge that repeats a key), the key's
            // violation is a data error: the batch is written again, and then merged.
            const std::vector<std::string> bins = bins_of(req.schema, g);
            if (bins_are_new(req, table, g.table, bins)) {
                load(table, names, req, g, index.order);
                for (const auto& b : bins) new_bins_.insert(g.table + '\n' + b);
                return;
            }
        }
        const std::string stage = kStage;
        // Emptied for each group (a table per day) and each part.
        make_stage(req.schema);
        exec("TRUNCATE " + stage);
        // In the key's order too: the merge then meets the index's pages one after another.
        load(stage, names, req, g, index.order);
        std::string sets, match;
        for (const auto& c : cols) {
            const std::string n = q(c.name);
            switch (c.field) {
            case Field::Packets: case Field::Bytes: case Field::Flows:
                sets += (sets.empty() ? "" : ", ") + n + " = t." + n + " + s." + n;
                break;
            case Field::TcpFlags: sets += (sets.empty() ? "" : ", ") + n + " = t." + n + " | s." + n; break;
            case Field::StampUpdated: sets += (sets.empty() ? "" : ", ") + n + " = s." + n; break;
            default: break;
            }
            if (c.key) match += (match.empty() ? "" : " AND ") + std::string("t.") + n + " = s." + n;
        }
        if (index.kind == KeyKind::Exact) {
            // One pass through the key's own index: its cost does not grow with the table, where
            // the joins below scan the whole table (a day's table holds millions of rows), and it
            // does not depend on the planner's statistics of a table just created.
            std::string conflict, excluded;
            for (const auto& c : cols) {
                const std::string n = q(c.name);
                if (c.key) conflict += (conflict.empty() ? "" : ", ") + n;
                switch (c.field) {
                case Field::Packets: case Field::Bytes: case Field::Flows:
                    excluded += (excluded.empty() ? "" : ", ") + n + " = t." + n + " + EXCLUDED." + n;
                    break;
                case Field::TcpFlags: excluded += (excluded.empty() ? "" : ", ") + n + " = t." + n + " | EXCLUDED." + n; break;
                case Field::StampUpdated: excluded += (excluded.empty() ? "" : ", ") + n + " = EXCLUDED." + n; break;
                default: break;
                }
            }
            exec("INSERT INTO " + table + " AS t (" + names + ") SELECT " + names + " FROM " + stage + " ON CONFLICT (" +
                 conflict + ") DO UPDATE SET " + excluded);
            return;
        }
        // The joins below hash 100K-row sides: with PostgreSQL's default 4 MB they spill to disk
        // in batches (a third of the merge's time). Only this transaction gets more.
        if (raise_work_mem_) exec("SET LOCAL work_mem = '64MB'");
        Result updated(PQexec(conn_, ("UPDATE " + table + " AS t SET " + sets + " FROM " + stage + " AS s WHERE " + match).c_str()));
        check(updated, "update " + g.table);
        // Stage rows have distinct keys (the renderer merges them): when a unique index on key
        // columns lets each match at most one row, as many rows updated as staged means none is new.
        if (index.kind == KeyKind::Subset && std::strtoull(PQcmdTuples(updated.r), nullptr, 10) == g.rows()) return;
        exec("INSERT INTO " + table + " (" + names + ") SELECT " + names + " FROM " + stage +
             " AS s WHERE NOT EXISTS (SELECT 1 FROM " + table + " AS t WHERE " + match + ")");
    }

    // The distinct stamp_inserted values of the group (a purge holds one bin or a few).
    static std::vector<std::string> bins_of(const sql::Schema& schema, const sql::RenderedGroup& g) {
        const std::size_t col = schema.index_of(sql::Field::StampInserted);
        std::vector<std::string> bins;
        for (std::size_t row = 0; row < g.rows(); ++row) {
            const std::string_view s = g.cell(row, col);
            if (std::find(bins.begin(), bins.end(), s) == bins.end()) bins.emplace_back(s);
        }
        return bins;
    }

    // Whether `name` (`table` quoted) holds no row of `bins` (stamp_inserted texts): brought in
    // by the previous batch of this purge (whose keys are distinct), or not found by holds_bins().
    bool bins_are_new(const sql::CommitRequest& req, const std::string& table, const std::string& name,
                      const std::vector<std::string>& bins) {
        bool fresh = req.continues_purge;
        for (const auto& b : bins) fresh = fresh && new_bins_.count(name + '\n' + b) > 0;
        return fresh || !holds_bins(table, req.schema, bins, name);
    }

    // Whether `table` (quoted) holds a row of any of `bins`: an index probe when time_first.
    bool holds_bins(const std::string& table, const sql::Schema& schema, const std::vector<std::string>& bins,
                    const std::string& name) {
        std::string array = "{";
        for (const auto& b : bins) array += (array.size() > 1 ? ",\"" : "\"") + b + "\"";
        array += "}";
        const char* p[] = {array.c_str()};
        const std::string n = sql::quote_ident(Dialect::Pgsql, schema.columns[schema.index_of(sql::Field::StampInserted)].name);
        Result r(PQexecParams(conn_, ("SELECT 1 FROM " + table + " WHERE " + n + " = ANY($1::timestamp[]) LIMIT 1").c_str(),
                              1, nullptr, p, nullptr, nullptr, 0));
        check(r, "bin lookup in " + name);
        return PQntuples(r.r) > 0;
    }

    // Exact: a unique index (or primary key) on exactly the key columns; Subset: one on some key
    // columns only (each staged row then matches one table row at most); None otherwise.
    enum class KeyKind { None, Subset, Exact };
    struct KeyIndex {
        KeyKind kind = KeyKind::None;
        bool time_first = false; // Exact, and its first column is stamp_inserted
        std::vector<std::size_t> order; // Exact: its columns (indices into the schema) in its order
    };

    KeyIndex key_index(const sql::Schema& schema, const std::string& table) {
        auto it = key_index_.find(table);
        if (it != key_index_.end()) return it->second;
        std::set<std::string> keys;
        for (const auto& c : schema.columns)
            if (c.key) keys.insert(c.name);
        std::string quoted = sql::quote_table(Dialect::Pgsql, table);
        const std::size_t stamp = schema.index_of(sql::Field::StampInserted);
        const std::string stamp_name = stamp < schema.columns.size() ? schema.columns[stamp].name : "";
        const char* p[] = {quoted.c_str(), stamp_name.c_str()};
        Result r(PQexecParams(conn_,
                              "SELECT string_agg(a.attname::text, ',' ORDER BY array_position(i.indkey::int2[], a.attnum)), "
                              "bool_or(a.attnum = i.indkey[0] AND a.attname = $2) "
                              "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                              "WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL "
                              "AND i.indexprs IS NULL GROUP BY i.indexrelid",
                              2, nullptr, p, nullptr, nullptr, 0));
        check(r, "index lookup");
        KeyIndex found;
        for (int row = 0; row < PQntuples(r.r) && found.kind != KeyKind::Exact; ++row) {
            std::string list = PQgetvalue(r.r, row, 0);
            std::set<std::string> cols;
            std::vector<std::string> in_order;
            for (std::size_t at = 0; at <= list.size();) {
                std::size_t comma = list.find(',', at);
                if (comma == std::string::npos) comma = list.size();
                in_order.push_back(list.substr(at, comma - at));
                cols.insert(in_order.back());
                at = comma + 1;
            }
            bool subset = !list.empty();
            for (const auto& c : cols) subset = subset && keys.count(c) > 0;
            if (subset) found.kind = cols == keys ? KeyKind::Exact : KeyKind::Subset;
            found.time_first = found.kind == KeyKind::Exact && !stamp_name.empty() && PQgetvalue(r.r, row, 1)[0] == 't';
            found.order.clear();
            if (found.kind == KeyKind::Exact)
                for (const auto& name : in_order)
                    for (std::size_t i = 0; i < schema.columns.size(); ++i)
                        if (schema.columns[i].name == name) found.order.push_back(i);
        }
        key_index_.emplace(table, found);
        return found;
    }

    // The binary form of each schema column in `target` (quoted), by the table's own column
    // types; empty when a column has a type not written in binary (it then goes as text).
    // Valid for the transaction: the caller holds a lock that keeps ALTER TABLE out.
    const std::vector<pgbin::Wire>& wires(const std::string& target, const sql::Schema& schema) {
        auto it = wires_.find(target);
        if (it != wires_.end()) return it->second;
        const char* p[] = {target.c_str()};
        Result r(PQexecParams(conn_,
                              "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = to_regclass($1) "
                              "AND attnum > 0 AND NOT attisdropped",
                              1, nullptr, p, nullptr, nullptr, 0));
        check(r, "column types");
        std::map<std::string, std::uint32_t> types;
        for (int row = 0; row < PQntuples(r.r); ++row)
            types[PQgetvalue(r.r, row, 0)] = static_cast<std::uint32_t>(std::strtoul(PQgetvalue(r.r, row, 1), nullptr, 10));
        std::vector<pgbin::Wire> w;
        for (const auto& c : schema.columns) {
            auto t = types.find(c.name);
            pgbin::Wire form{};
            if (t == types.end() || !pgbin::wire_of(t->second, form) ||
                (form == pgbin::Wire::Timestamp && !integer_datetimes_)) {
                w.clear();
                break;
            }
            w.push_back(form);
        }
        return wires_.emplace(target, std::move(w)).first->second;
    }

    // Loads the group's rows into `target` (a quoted or temporary table name); with COPY in
    // binary, in the order of the columns `order` lists (the table's unique index).
    void load(const std::string& target, const std::string& names, const sql::CommitRequest& req,
              const sql::RenderedGroup& g, const std::vector<std::size_t>& order) {
        if (s_.use_copy && binary_) {
            // The server reads a binary value by the column's type as it is at COPY time: a type
            // changed after the lookup could read the bytes as another value (an int8 as a
            // numeric zero), not as an error. write_group() holds a table lock that keeps ALTER
            // TABLE out from the lookup to commit; the staging table is this transaction's own.
            const std::vector<pgbin::Wire>& w = wires(target, req.schema);
            if (!w.empty() && encoder_.encode(g, w, order)) {
                Result start(PQexec(conn_, ("COPY " + target + " (" + names + ") FROM STDIN (FORMAT binary)").c_str()));
                check(start, "copy into " + g.table);
                const bool ok = encoder_.send(1 << 20, [&](std::string_view chunk) {
                    return PQputCopyData(conn_, chunk.data(), static_cast<int>(chunk.size())) == 1;
                });
                end_copy(ok, g.table, true);
                return;
            }
        }
        if (s_.use_copy) {
            Result start(PQexec(conn_, ("COPY " + target + " (" + names + ") FROM STDIN").c_str()));
            check(start, "copy into " + g.table);
            std::string buf;
            buf.reserve(1 << 20);
            bool ok = true;
            for (std::size_t row = 0; row < g.rows() && ok; ++row) {
                for (std::size_t c = 0; c < g.columns; ++c) {
                    if (c) buf.push_back('\t');
                    copy_escape(g.cell(row, c), buf);
                }
                buf.push_back('\n');
                if (buf.size() >= (1 << 20)) {
                    ok = PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) == 1;
                    buf.clear();
                }
            }
            if (ok && !buf.empty()) ok = PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) == 1;
            end_copy(ok, g.table, false);
            return;
        }
        // Bound multi-row INSERTs: at most 65535 parameters per statement.
        const std::size_t ncols = g.columns;
        const std::size_t per_stmt = std::max<std::size_t>(1, std::min<std::size_t>(1000, 65535 / ncols));
        std::vector<const char*> params;
        for (std::size_t first = 0; first < g.rows(); first += per_stmt) {
            std::size_t n = std::min(per_stmt, g.rows() - first);
            std::string text = "INSERT INTO " + target + " (" + names + ") VALUES ";
            params.clear();
            for (std::size_t r = 0; r < n; ++r) {
                text += r ? ",(" : "(";
                for (std::size_t c = 0; c < ncols; ++c) {
                    text += (c ? ",$" : "$") + std::to_string(r * ncols + c + 1);
                    params.push_back(g.c_str(first + r, c));
                }
                text += ")";
            }
            Result res(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr, params.data(),
                                    nullptr, nullptr, 0));
            check(res, "insert into " + g.table);
        }
        (void)req;
    }

    // Ends a COPY whose data went (ok) or not.
    void end_copy(bool ok, const std::string& table, bool binary) {
        if (PQputCopyEnd(conn_, ok ? nullptr : "flowacct: copy aborted") != 1)
            throw DbError("copy end: " + trim(PQerrorMessage(conn_)), PQstatus(conn_) != CONNECTION_OK);
        // Every result is read before an error is raised: the session is then ready for the
        // ROLLBACK (TO SAVEPOINT) that follows.
        std::unique_ptr<Result> failed;
        for (;;) {
            PGresult* r = PQgetResult(conn_);
            if (!r) break;
            auto owned = std::make_unique<Result>(r);
            ExecStatusType st = PQresultStatus(r);
            if (!failed && st != PGRES_COMMAND_OK) failed = std::move(owned);
            if (PQstatus(conn_) != CONNECTION_OK) break;
        }
        if (!failed) return;
        const char* state = PQresultErrorField(failed->r, PG_DIAG_SQLSTATE);
        if (binary && state && std::string(state) == "22P03") {
            // The server could not read a binary value: the table's column types are not those
            // looked up (changed since?). Not the rows' fault: the batch is written again, as text
            // (which the server converts) until the next connection.
            binary_ = false;
            wires_.clear();
            throw DbError("copy into " + table + ": " + trim(PQresultErrorMessage(failed->r)) +
                              " (writing as text from now on)",
                          false);
        }
        check(*failed, "copy into " + table);
    }

    PgSettings s_;
    PGconn* conn_ = nullptr;
    static constexpr const char* kStage = "flowacct_stage"; // the transaction's staging table
    bool raise_work_mem_ = false;   // the session's work_mem is under 64 MB
    std::set<std::string> new_bins_; // "table\nstamp" brought in by this purge's earlier batches
    std::map<std::string, KeyIndex> key_index_; // per table, since open(): see key_index()
    std::map<std::string, std::vector<pgbin::Wire>> wires_; // per quoted target, this transaction: see wires()
    bool binary_ = true;            // COPY in binary when the types allow (until a binary COPY is refused)
    bool integer_datetimes_ = true; // the server keeps timestamps as integers (always since PostgreSQL 10)
    pgbin::Encoder encoder_;
    bool stage_made_ = false;       // this transaction has made kStage
    // write_streamed(): rows per part (a part is rendered and encoded while the server stores the
    // one before), bytes handed to libpq at a time.
    static constexpr std::size_t kPartRows = 4096, kStreamChunk = 256 << 10;
    pgbin::Parts parts_;
    std::string stream_;
};

PgSettings settings(const sdk::Context& ctx) {
    const auto& c = ctx.config();
    PgSettings s;
    s.host = c.str("sql_host");
    if (c.has("sql_port")) {
        std::int64_t port = c.integer("sql_port");
        if (port <= 0 || port > 65535) throw sdk::Error("expected a port 1 to 65535", "sql_port");
        s.port = std::to_string(port);
    }
    s.db = c.str("sql_db", "pmacct");
    s.user = c.str("sql_user", "pmacct");
    s.password = sql::read_password(c);
    s.use_copy = c.boolean("sql_use_copy", true);
    return s;
}

class PgsqlOutput final : public sql::SqlOutput {
public:
    explicit PgsqlOutput(const sdk::Context& ctx)
        : SqlOutput(ctx, Dialect::Pgsql, std::make_unique<PgBackend>(settings(ctx))) {}
};

} // namespace

FLOWACCT_MODULE(Output, PgsqlOutput, "pgsql", "0.1.0", "Aggregated rows into PostgreSQL tables (pmacct's pgsql plugin)",
                kKeys)
