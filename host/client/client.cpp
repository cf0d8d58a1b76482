// SPDX-License-Identifier: GPL-2.0-or-later
// The `flowacct` query client: option parsing, the socket exchange and pmacct's output formats.
#include "client.hpp"

#include <sys/socket.h>   // socket, connect, recv, send
#include <sys/un.h>       // sockaddr_un
#include <unistd.h>       // close

#include <cerrno>         // errno
#include <cstring>        // std::strerror, std::memcpy
#include <ctime>          // gmtime_r, localtime_r, strftime
#include <fstream>        // std::ifstream
#include <map>            // std::map
#include <string_view>    // std::string_view

#include <flowacct/sdk/primitives.hpp> // sdk::kPrimitives, sdk::find_primitive, sdk::format_primitive

#include "query_protocol.hpp" // proto::Request, proto::KeyLayout, proto::encode_request

namespace flowacct::client {

namespace {

namespace proto = flowacct::memory::proto;

constexpr const char* kDefaultPath = "/tmp/collect.pipe";
constexpr const char* kVersionText = "flowacct client 0.1.0 (memory query protocol 1, pmacct client flags)";

enum class Action { None, Dump, Match, Sum, Erase, SinceErase, Status, Stats, Version, Help };
enum class Output { Formatted, Csv, Json, EventFormatted, EventCsv };
enum class Counter { Bytes, Packets, Flows, All };

struct Options {
    Action action = Action::None;
    std::string path = kDefaultPath;
    std::vector<fa_primitive> primitives;
    std::string match_text;
    Counter counter = Counter::Bytes;
    bool sum_all = false;     // -S
    bool reset = false;       // -r
    bool all_fields = false;  // -a
    Output output = Output::Formatted;
    std::string separator = ",";
    bool epoch = false;       // -I
    bool utc = false;         // -0
    bool numeric_proto = false; // -u
    proto::SortBy sort = proto::SortBy::None;
    std::uint32_t top_n = 0;
};

struct Fail {
    std::string message;
};

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    out.push_back(cur);
    return out;
}

std::string trim(const std::string& s) {
    std::size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    std::size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

void set_action(Options& o, Action a, char flag) {
    if (o.action != Action::None && o.action != a)
        throw Fail{std::string("-") + flag + " cannot be combined with another query (-s, -M, -N, -e, -i, -t, -X)"};
    o.action = a;
}

proto::SortBy parse_counter_name(const std::string& s, char flag) {
    if (s == "bytes") return proto::SortBy::Bytes;
    if (s == "packets") return proto::SortBy::Packets;
    if (s == "flows") return proto::SortBy::Flows;
    throw Fail{std::string("-") + flag + " expects bytes, packets or flows, got '" + s + "'"};
}

Options parse_args(const std::vector<std::string>& args) {
    Options o;
    static const std::string with_value = "NMncTpOE";
    static const std::string without_value = "hsSaeirtIu0VX";
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() < 2 || a[0] != '-') throw Fail{"unexpected argument '" + a + "' (see -h)"};
        for (std::size_t k = 1; k < a.size(); ++k) {
            const char f = a[k];
            std::string value;
            if (with_value.find(f) != std::string::npos) {
                if (k + 1 < a.size()) value = a.substr(k + 1);
                else if (i + 1 < args.size()) value = args[++i];
                else throw Fail{std::string("-") + f + " needs a value (see -h)"};
                k = a.size();
            } else if (without_value.find(f) == std::string::npos) {
                throw Fail{std::string("unknown option -") + f + " (see -h)"};
            }
            switch (f) {
            case 'h': set_action(o, Action::Help, f); break;
            case 'V': set_action(o, Action::Version, f); break;
            case 's': set_action(o, Action::Dump, f); break;
            case 'e': set_action(o, Action::Erase, f); break;
            case 'i': set_action(o, Action::SinceErase, f); break;
            case 't': set_action(o, Action::Status, f); break;
            case 'X': set_action(o, Action::Stats, f); break;
            case 'M': set_action(o, Action::Match, f); o.match_text = value; break;
            case 'N': set_action(o, Action::Sum, f); o.match_text = value; break;
            case 'S': o.sum_all = true; break;
            case 'a': o.all_fields = true; break;
            case 'r': o.reset = true; break;
            case 'I': o.epoch = true; break;
            case 'u': o.numeric_proto = true; break;
            case '0': o.utc = true; break;
            case 'p': o.path = value; break;
            case 'E':
                if (value.empty()) throw Fail{"-E needs a non-empty separator"};
                o.separator = value;
                break;
            case 'n':
                if (value == "bytes") o.counter = Counter::Bytes;
                else if (value == "packets") o.counter = Counter::Packets;
                else if (value == "flows") o.counter = Counter::Flows;
                else if (value == "all") o.counter = Counter::All;
                else throw Fail{"-n expects bytes, packets, flows or all, got '" + value + "'"};
                break;
            case 'O':
                if (value == "formatted") o.output = Output::Formatted;
                else if (value == "csv") o.output = Output::Csv;
                else if (value == "json") o.output = Output::Json;
                else if (value == "event_formatted") o.output = Output::EventFormatted;
                else if (value == "event_csv") o.output = Output::EventCsv;
                else throw Fail{"-O expects formatted, csv, json, event_formatted or event_csv, got '" + value + "'"};
                break;
            case 'T': {
                auto parts = split(value, ',');
                if (parts.size() > 2) throw Fail{"-T expects bytes|packets|flows[,N], got '" + value + "'"};
                o.sort = parse_counter_name(trim(parts[0]), 'T');
                if (parts.size() == 2) {
                    const std::string n = trim(parts[1]);
                    char* end = nullptr;
                    errno = 0;
                    unsigned long v = std::strtoul(n.c_str(), &end, 10);
                    if (n.empty() || *end || errno || v == 0 || v > 0xffffffffUL)
                        throw Fail{"-T: bad count '" + n + "' (a number from 1)"};
                    o.top_n = static_cast<std::uint32_t>(v);
                }
                break;
            }
            case 'c':
                o.primitives.clear();
                for (const auto& raw : split(value, ',')) {
                    const std::string name = trim(raw);
                    const sdk::PrimitiveInfo* p = sdk::find_primitive(name);
                    if (!p) throw Fail{"unknown primitive '" + name + "'"};
                    for (fa_primitive q : o.primitives)
                        if (q == p->id) throw Fail{"primitive '" + name + "' given twice in -c"};
                    o.primitives.push_back(p->id);
                }
                break;
            }
        }
    }
    if ((o.action == Action::Match || o.action == Action::Sum) && o.primitives.empty())
        throw Fail{"-M and -N need -c with the primitives to match"};
    if (o.action == Action::None) throw Fail{"no query given: use -s, -M, -N, -e, -i, -t or -X (see -h)"};
    return o;
}

// Queries from -M/-N: ';'-separated, or one per line of file:PATH; values in -c order.
std::vector<std::vector<std::string>> parse_queries(const Options& o) {
    std::vector<std::string> lines;
    if (o.match_text.rfind("file:", 0) == 0) {
        const std::string file = o.match_text.substr(5);
        std::ifstream in(file);
        if (!in) throw Fail{"cannot read queries from '" + file + "': " + std::strerror(errno)};
        std::string line;
        while (std::getline(in, line)) {
            line = trim(line);
            if (!line.empty()) lines.push_back(line);
            if (lines.size() > proto::kMaxQueries) break;
        }
    } else {
        for (const auto& q : split(o.match_text, ';')) lines.push_back(trim(q));
    }
    if (lines.size() > proto::kMaxQueries)
        throw Fail{"too many queries (limit " + std::to_string(proto::kMaxQueries) + " per request)"};
    std::vector<std::vector<std::string>> out;
    for (const auto& line : lines) {
        auto values = split(line, ',');
        if (values.size() < o.primitives.size())
            throw Fail{"query '" + line + "' has " + std::to_string(values.size()) + " value(s) for " +
                       std::to_string(o.primitives.size()) + " primitive(s) in -c"};
        values.resize(o.primitives.size()); // pmacct ignores extra values
        for (auto& v : values) {
            v = trim(v);
            if (v.size() > proto::kMaxValueBytes) throw Fail{"value too long in query '" + line + "'"};
        }
        out.push_back(std::move(values));
    }
    return out;
}

// ---- transport ---------------------------------------------------------------------------

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string exchange(const std::string& path, const std::string& request) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw Fail{"socket path '" + path + "' is too long for a unix socket (" + std::to_string(sizeof addr.sun_path - 1) +
                   " bytes at most)"};
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    Fd s;
    s.fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s.fd < 0) throw Fail{std::string("socket: ") + std::strerror(errno)};
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        std::string hint;
        if (e == ENOENT) hint = " (is a memory output running with imt_path: " + path + "?)";
        else if (e == EACCES || e == EPERM) hint = " (the socket's mode is set by imt_path_mode)";
        else if (e == ECONNREFUSED) hint = " (no server is listening on it)";
        throw Fail{"cannot connect to '" + path + "': " + std::strerror(e) + hint};
    }
    timeval tv{120, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::size_t off = 0;
    while (off < request.size()) {
        ssize_t n = ::send(s.fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Fail{std::string("cannot send the query: ") + std::strerror(errno)};
        off += static_cast<std::size_t>(n);
    }
    auto read_exact = [&](char* dst, std::size_t len) {
        std::size_t got = 0;
        while (got < len) {
            ssize_t n = ::recv(s.fd, dst + got, len - got, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw Fail{std::string("cannot read the answer: ") + std::strerror(errno)};
            if (n == 0) throw Fail{"the server closed the connection before answering in full"};
            got += static_cast<std::size_t>(n);
        }
    };
    char head[proto::kResponseHeaderBytes];
    read_exact(head, sizeof head);
    const auto* h = reinterpret_cast<const std::uint8_t*>(head);
    if (proto::get_le(h, 4) != proto::kResponseMagic) throw Fail{"'" + path + "' is not a flowacct memory table"};
    if (proto::get_le(h + 4, 2) != proto::kVersion)
        throw Fail{"the server speaks query protocol version " + std::to_string(proto::get_le(h + 4, 2)) +
                   ", this client " + std::to_string(proto::kVersion)};
    const std::uint64_t status = proto::get_le(h + 6, 2);
    const std::uint64_t len = proto::get_le(h + 8, 8);
    if (len > proto::kMaxResponseBodyBytes) throw Fail{"answer too large"};
    std::string body(len, '\0');
    read_exact(body.data(), body.size());
    if (status != static_cast<std::uint16_t>(proto::Status::Ok)) throw Fail{body};
    return body;
}

// ---- output -------------------------------------------------------------------------------

struct RowsAnswer {
    proto::KeyLayout layout;
    std::uint32_t history_s = 0;
    bool show_flows = false;
    std::map<std::uint32_t, std::string> names;
    std::uint64_t n_rows = 0;
    const std::uint8_t* rows = nullptr;
};

RowsAnswer decode_rows(const std::string& body) {
    RowsAnswer a;
    proto::Reader rd(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
    std::uint64_t prims = 0;
    std::uint8_t reserved = 0;
    std::uint32_t n_names = 0;
    rd.u64(prims);
    rd.u32(a.history_s);
    rd.u8(reserved);
    rd.u32(n_names);
    if (!rd.ok()) throw Fail{"malformed answer"};
    for (std::uint32_t i = 0; i < n_names; ++i) {
        std::uint32_t id = 0;
        std::uint16_t len = 0;
        const std::uint8_t* p = nullptr;
        if (!rd.u32(id) || !rd.u16(len) || !rd.bytes(len, p)) throw Fail{"malformed answer"};
        a.names[id] = std::string(reinterpret_cast<const char*>(p), len);
    }
    if (!rd.u64(a.n_rows)) throw Fail{"malformed answer"};
    a.layout = proto::KeyLayout(prims, a.history_s != 0);
    // pmacct shows FLOWS only when `flows` is aggregated: the aggregator marks that in the mask.
    a.show_flows = a.layout.keyed_on(FA_P_FLOWS);
    const std::size_t rb = a.layout.row_bytes();
    if (rd.remaining() / rb < a.n_rows || rd.remaining() != a.n_rows * rb) throw Fail{"malformed answer"};
    if (!rd.bytes(rd.remaining(), a.rows) && a.n_rows) throw Fail{"malformed answer"};
    return a;
}

struct Column {
    fa_primitive id; // FA_P_COUNT for the time stamps
    std::string header;
    std::string json;
    int width;
    bool stamp_updated = false;
};

std::string format_time(std::uint64_t s, const Options& o) {
    if (o.epoch) return std::to_string(s);
    std::time_t t = static_cast<std::time_t>(s);
    std::tm tm{};
    if (o.utc) gmtime_r(&t, &tm);
    else localtime_r(&t, &tm);
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
    return b;
}

std::string json_string(const std::string& s) { return "\"" + flowacct::sdk::json_escape(s) + "\""; }

void pad_to(std::string& line, const std::string& v, int width) {
    line += v;
    if (static_cast<int>(v.size()) < width) line.append(static_cast<std::size_t>(width) - v.size(), ' ');
    line += "  ";
}

void print_rows(const RowsAnswer& a, const Options& o, std::FILE* out) {
    std::vector<Column> cols;
    for (const auto& info : sdk::kPrimitives) {
        const bool is_sum = info.id == FA_P_SUM_HOST || info.id == FA_P_SUM_NET || info.id == FA_P_SUM_AS ||
                            info.id == FA_P_SUM_PORT || info.id == FA_P_SUM_MAC;
        const bool keyed = a.layout.keyed_on(info.id);
        // -a prints every column zero-filled (JSON stays with the table's own fields, as pmacct).
        if (keyed || (o.all_fields && !is_sum && o.output != Output::Json)) {
            if (!keyed && is_sum) continue;
            cols.push_back({info.id, info.header, info.column, info.width});
        }
    }
    if (a.layout.history()) {
        const int w = o.epoch ? 10 : 19;
        cols.push_back({FA_P_COUNT, "STAMP_INSERTED", "stamp_inserted", w});
        cols.push_back({FA_P_COUNT, "STAMP_UPDATED", "stamp_updated", w, true});
    }
    const bool event = o.output == Output::EventFormatted || o.output == Output::EventCsv;
    const bool csv = o.output == Output::Csv || o.output == Output::EventCsv;
    const bool formatted = o.output == Output::Formatted || o.output == Output::EventFormatted;
    const bool json = o.output == Output::Json;
    sdk::FormatOptions fo;
    fo.numeric_proto = o.numeric_proto;
    auto names = [&](std::uint32_t id) -> std::string {
        auto it = a.names.find(id);
        return it == a.names.end() ? std::string() : it->second;
    };

    std::string line;
    if (!json) {
        for (std::size_t i = 0; i < cols.size(); ++i) {
            if (formatted) pad_to(line, cols[i].header, cols[i].width);
            else line += (i ? o.separator : "") + cols[i].header;
        }
        if (!event) {
            if (formatted) {
                pad_to(line, "PACKETS", 20);
                if (a.show_flows) pad_to(line, "FLOWS", 20);
                line += "BYTES";
            } else {
                line += (cols.empty() ? "" : o.separator) + std::string("PACKETS");
                if (a.show_flows) line += o.separator + "FLOWS";
                line += o.separator + "BYTES";
            }
        }
        line += '\n';
        std::fputs(line.c_str(), out);
    }

    const std::size_t rb = a.layout.row_bytes();
    std::string buf;
    buf.reserve(1 << 20);
    fa_record r;
    for (std::uint64_t i = 0; i < a.n_rows; ++i) {
        const std::uint8_t* row = a.rows + i * rb;
        std::uint64_t inserted_s = 0;
        a.layout.unpack(row, r, inserted_s);
        const proto::RowCounters c = proto::read_counters(row + a.layout.key_bytes());
        r.tcp_flags = c.tcp_flags;
        line.clear();
        if (json) line += '{';
        for (std::size_t k = 0; k < cols.size(); ++k) {
            const Column& col = cols[k];
            std::string v;
            bool numeric = false;
            if (col.id == FA_P_COUNT) {
                const std::uint64_t s = col.stamp_updated ? c.stamp_updated_s : inserted_s;
                v = format_time(s, o);
                numeric = o.epoch;
            } else {
                v = sdk::format_primitive(r, col.id, names, fo);
                // pmacct prints tcp_flags as a JSON string.
                numeric = sdk::primitive_is_numeric(col.id) && col.id != FA_P_TCPFLAGS;
            }
            if (formatted) pad_to(line, v, col.width);
            else if (csv) line += (k ? o.separator : "") + v;
            else line += (k ? ", " : "") + json_string(col.json) + ": " + (numeric ? v : json_string(v));
        }
        if (!event) {
            const std::string p = std::to_string(c.packets), f = std::to_string(c.flows), b = std::to_string(c.bytes);
            if (formatted) {
                pad_to(line, p, 20);
                if (a.show_flows) pad_to(line, f, 20);
                line += b;
            } else if (csv) {
                line += (cols.empty() ? "" : o.separator) + p;
                if (a.show_flows) line += o.separator + f;
                line += o.separator + b;
            } else {
                line += std::string(cols.empty() ? "" : ", ") + "\"packets\": " + p;
                if (a.show_flows) line += ", \"flows\": " + f;
                line += ", \"bytes\": " + b;
            }
        } else if (json) {
            // event formats have no counters; JSON always carries them.
        }
        if (json) line += '}';
        line += '\n';
        buf += line;
        if (buf.size() > (1 << 20) - 4096) {
            std::fwrite(buf.data(), 1, buf.size(), out);
            buf.clear();
        }
    }
    std::fwrite(buf.data(), 1, buf.size(), out);
    if (formatted) std::fprintf(out, "\nFor a total of: %llu entries\n", static_cast<unsigned long long>(a.n_rows));
}

void print_sums(const std::string& body, const Options& o, std::FILE* out) {
    proto::Reader rd(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
    std::uint32_t n = 0;
    if (!rd.u32(n) || rd.remaining() != static_cast<std::uint64_t>(n) * 24) throw Fail{"malformed answer"};
    std::vector<proto::RowCounters> sums(n);
    for (auto& s : sums) {
        rd.u64(s.packets);
        rd.u64(s.bytes);
        rd.u64(s.flows);
    }
    if (o.sum_all) {
        proto::RowCounters total;
        for (const auto& s : sums) {
            total.packets += s.packets;
            total.bytes += s.bytes;
            total.flows += s.flows;
        }
        sums.assign(1, total);
    }
    for (const auto& s : sums) {
        switch (o.counter) {
        case Counter::Bytes: std::fprintf(out, "%llu\n", static_cast<unsigned long long>(s.bytes)); break;
        case Counter::Packets: std::fprintf(out, "%llu\n", static_cast<unsigned long long>(s.packets)); break;
        case Counter::Flows: std::fprintf(out, "%llu\n", static_cast<unsigned long long>(s.flows)); break;
        case Counter::All:
            std::fprintf(out, "%llu %llu %llu\n", static_cast<unsigned long long>(s.packets),
                         static_cast<unsigned long long>(s.bytes), static_cast<unsigned long long>(s.flows));
            break;
        }
    }
}

} // namespace

std::string usage() {
    return std::string(kVersionText) +
           "\nUsage: flowacct [query]\n\n"
           "Queries:\n"
           "  -h\tShow this page\n"
           "  -s\tShow the whole table\n"
           "  -N\t<matching data>[';'<matching data>] | 'file:'<filename>\n"
           "\tMatch primitives; print counters only (requires -c); matching rows are summed\n"
           "  -M\t<matching data>[';'<matching data>] | 'file:'<filename>\n"
           "\tMatch primitives; print the matching rows (requires -c)\n"
           "  -n\t<bytes | packets | flows | all>\n"
           "\tSelect the counters to print (applies to -N; all = packets bytes flows)\n"
           "  -S\tSum the counters of all queries into one (applies to -N)\n"
           "  -a\tDisplay all table fields (even those currently unused)\n"
           "  -c\t<primitive>[,<primitive>...] as in `aggregate` (src_host, dst_port, dst_as, ...)\n"
           "\tSelect primitives to match (required by -N and -M); values follow -c order, '*' matches any\n"
           "  -T\t<bytes | packets | flows>[,<# how many>]\n"
           "\tSort by a counter, largest first, and keep the top N (applies to -M and -s)\n"
           "  -e\tErase the table\n"
           "  -i\tShow time (in seconds) since the table was last erased (ie. flowacct -e)\n"
           "  -r\tReset the counters of the rows read (applies to -N, -M and -s)\n"
           "  -t\tShow memory table status\n"
           "  -X\tShow statistics as JSON: entries, memory, drops and the daemon's counters\n"
           "  -p\t<file>\n"
           "\tSocket of the memory table (DEFAULT: /tmp/collect.pipe)\n"
           "  -O\tSet output < formatted | csv | json | event_formatted | event_csv > (applies to -M and -s)\n"
           "  -E\tSet separator for CSV format\n"
           "  -I\tSet timestamps in 'since Epoch' format\n"
           "  -u\tLeave IP protocols in numerical format\n"
           "  -0\tAlways set timestamps to UTC\n"
           "  -V\tPrint version and exit\n";
}

int run_client(const std::vector<std::string>& args, std::FILE* out, std::FILE* err) {
    try {
        const Options o = parse_args(args);
        if (o.action == Action::Help) {
            std::fputs(usage().c_str(), out);
            return 0;
        }
        if (o.action == Action::Version) {
            std::fprintf(out, "%s\n", kVersionText);
            return 0;
        }
        proto::Request req;
        req.flags = o.reset ? static_cast<std::uint32_t>(proto::kFlagReset) : 0u;
        req.sort = o.sort;
        req.top_n = o.top_n;
        switch (o.action) {
        case Action::Dump: req.type = proto::RequestType::Dump; break;
        case Action::Match:
        case Action::Sum:
            req.type = proto::RequestType::Match;
            req.primitives = o.primitives;
            req.queries = parse_queries(o);
            if (o.action == Action::Sum) req.flags |= proto::kFlagCountersOnly;
            break;
        case Action::Erase: req.type = proto::RequestType::Erase; break;
        case Action::SinceErase: req.type = proto::RequestType::SinceErase; break;
        case Action::Status: req.type = proto::RequestType::Status; break;
        case Action::Stats: req.type = proto::RequestType::Stats; break;
        default: break;
        }
        const std::string body = exchange(o.path, proto::encode_request(req));
        switch (o.action) {
        case Action::Dump:
        case Action::Match: print_rows(decode_rows(body), o, out); break;
        case Action::Sum: print_sums(body, o, out); break;
        case Action::SinceErase: {
            if (body.size() != 8) throw Fail{"malformed answer"};
            const std::uint64_t s = proto::get_le(reinterpret_cast<const std::uint8_t*>(body.data()), 8);
            if (s == ~0ull) std::fputs("never\n", out);
            else std::fprintf(out, "%llu\n", static_cast<unsigned long long>(s));
            break;
        }
        case Action::Status:
        case Action::Stats: std::fwrite(body.data(), 1, body.size(), out); break;
        default: break;
        }
        std::fflush(out);
        return 0;
    } catch (const Fail& f) {
        std::fprintf(err, "flowacct: %s\n", f.message.c_str());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(err, "flowacct: %s\n", e.what());
        return 1;
    }
}

} // namespace flowacct::client
