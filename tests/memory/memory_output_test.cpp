// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output and the flowacct client together: rows written through the module's ops on
// a FakeHost, read back through the socket as pmacct's client would print them.
#include <sys/stat.h>     // stat, chmod
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, setresuid, unlink

#include <fstream>        // std::ofstream
#include <thread>         // std::thread

#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include "memory_support.hpp" // MemoryUnderTest, flowacct_client, flowacct_binary

using namespace flowacct;
using namespace flowacct::test;

namespace {

const std::uint64_t kFiveTuple =
    mask({FA_P_SRC_HOST, FA_P_DST_HOST, FA_P_SRC_PORT, FA_P_DST_PORT, FA_P_PROTO, FA_P_TCPFLAGS});
const std::uint64_t kDstAs = mask({FA_P_DST_AS});

// The traffic of tests/memory/golden (captured from Debian's pmacctd + pmacct on the same
// packets), written as deltas over two refreshes so that sums and OR-ed flags are exercised.
void fill_five_tuple(MemoryUnderTest& m) {
    REQUIRE(m.write({flow_row("192.168.1.12", "10.0.2.7", 40001, 443, 6, 2, 1, 1040),
                     flow_row("192.168.1.10", "10.0.1.5", 40000, 80, 6, 2, 1, 140),
                     flow_row("192.168.1.11", "10.0.1.6", 5353, 53, 17, 0, 1, 58),
                     flow_row("192.168.1.10", "10.0.3.8", 0, 0, 1, 0, 1, 84)},
                    kFiveTuple) == FA_OK);
    REQUIRE(m.write({flow_row("192.168.1.12", "10.0.2.7", 40001, 443, 6, 16, 6, 6240),
                     flow_row("192.168.1.10", "10.0.1.5", 40000, 80, 6, 16, 4, 560),
                     flow_row("192.168.1.11", "10.0.1.6", 5353, 53, 17, 0, 2, 116),
                     flow_row("192.168.1.10", "10.0.3.8", 0, 0, 1, 0, 1, 84),
                     flow_row("10.0.1.5", "192.168.1.10", 80, 40000, 6, 18, 4, 5760)},
                    kFiveTuple) == FA_OK);
}

void fill_dst_as(MemoryUnderTest& m) {
    REQUIRE(m.write({as_row(5466, 5, 700), as_row(3320, 7, 7280)}, kDstAs) == FA_OK);
    REQUIRE(m.write({as_row(65000, 4, 5760), as_row(5466, 3, 174)}, kDstAs) == FA_OK);
}

} // namespace

TEST_CASE("flowacct prints the table exactly as the pmacct client does") {
    MemoryUnderTest a;
    REQUIRE(a.ok());
    fill_five_tuple(a);
    MemoryUnderTest b;
    REQUIRE(b.ok());
    fill_dst_as(b);
    struct Case {
        MemoryUnderTest* m;
        std::vector<std::string> args;
        const char* golden;
    };
    const std::vector<Case> cases = {
        {&a, {"-s", "-T", "bytes"}, "a_s_T_bytes.txt"},
        {&a, {"-s", "-T", "bytes", "-O", "csv"}, "a_csv.txt"},
        {&a, {"-s", "-T", "bytes", "-O", "json"}, "a_json.txt"},
        {&a, {"-s", "-T", "bytes", "-O", "event_formatted"}, "a_event_formatted.txt"},
        {&a, {"-s", "-T", "bytes", "-O", "event_csv"}, "a_event_csv.txt"},
        {&a, {"-s", "-T", "bytes", "-u"}, "a_u.txt"},
        {&a, {"-s", "-T", "bytes", "-O", "csv", "-E", ";"}, "a_csv_semicolon.txt"},
        {&a, {"-s", "-T", "bytes,2"}, "a_top2.txt"},
        {&a, {"-c", "src_host,dst_port", "-M", "192.168.1.10,*", "-T", "bytes"}, "a_M_wildcard.txt"},
        {&b, {"-s", "-T", "bytes"}, "b_s_T_bytes.txt"},
        {&b, {"-c", "dst_as", "-M", "5466"}, "b_M_5466.txt"},
        {&b, {"-c", "dst_as", "-M", "5466;3320", "-O", "json"}, "b_M_json.txt"},
        {&b, {"-c", "dst_as", "-M", "9999"}, "b_M_none.txt"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.golden);
        auto args = c.args;
        args.push_back("-p");
        args.push_back(c.m->path);
        ClientRun r = flowacct_client(args);
        CHECK(r.rc == 0);
        CHECK(r.err == "");
        CHECK(r.out == read_golden(c.golden));
    }
}

TEST_CASE("seed example: flowacct -s -T bytes lists rows sorted by bytes") {
    MemoryUnderTest a;
    fill_five_tuple(a);
    ClientRun r = flowacct_binary("-s -T bytes -p " + a.path);
    CHECK(r.rc == 0);
    CHECK(r.out == read_golden("a_s_T_bytes.txt"));
}

TEST_CASE("seed example: flowacct -c dst_as -M 5466 prints one formatted row") {
    MemoryUnderTest b;
    fill_dst_as(b);
    ClientRun r = flowacct_binary("-c dst_as -M 5466 -p " + b.path);
    CHECK(r.rc == 0);
    CHECK(r.out ==
          "DST_AS      PACKETS               BYTES\n"
          "5466        8                     874\n"
          "\n"
          "For a total of: 1 entries\n");
}

TEST_CASE("seed example: flowacct -c dst_as -N 5466 -r prints the bytes, then 0 after the reset") {
    MemoryUnderTest b;
    fill_dst_as(b);
    ClientRun first = flowacct_binary("-c dst_as -N 5466 -r -p " + b.path);
    CHECK(first.rc == 0);
    CHECK(first.out == "874\n");
    ClientRun second = flowacct_binary("-c dst_as -N 5466 -r -p " + b.path);
    CHECK(second.out == "0\n");
    // The reset touched only the row that was read; new traffic counts again.
    CHECK(flowacct_client({"-c", "dst_as", "-N", "3320", "-p", b.path}).out == "7280\n");
    REQUIRE(b.write({as_row(5466, 1, 60)}, kDstAs) == FA_OK);
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-p", b.path}).out == "60\n");
}

TEST_CASE("-N sums the rows each query matches; -S sums all queries; -n picks the counter") {
    MemoryUnderTest a;
    fill_five_tuple(a);
    auto run = [&](std::vector<std::string> args) {
        args.push_back("-p");
        args.push_back(a.path);
        ClientRun r = flowacct_client(args);
        CHECK(r.rc == 0);
        return r.out;
    };
    CHECK(run({"-c", "src_host", "-N", "192.168.1.10"}) == "868\n");
    CHECK(run({"-c", "src_host", "-N", "192.168.1.10", "-n", "packets"}) == "7\n");
    CHECK(run({"-c", "src_host", "-N", "192.168.1.10", "-n", "flows"}) == "0\n");
    CHECK(run({"-c", "src_host", "-N", "192.168.1.10", "-n", "all"}) == "7 868 0\n");
    CHECK(run({"-c", "src_host,dst_host", "-N", "192.168.1.10,*;*,192.168.1.10"}) == "868\n5760\n");
    CHECK(run({"-c", "src_host,dst_host", "-N", "192.168.1.10,*;*,192.168.1.10", "-S"}) == "6628\n");
    CHECK(run({"-c", "proto", "-N", "udp;17;tcp"}) == "174\n174\n13740\n");
    CHECK(run({"-c", "src_host,dst_host,src_port,dst_port,proto", "-N", "192.168.1.11,10.0.1.6,5353,53,udp"}) ==
          "174\n");

    const std::string file = "/tmp/fa-mem-queries-" + std::to_string(::getpid()) + ".txt";
    std::ofstream(file) << "192.168.1.10\n\n192.168.1.12\n";
    CHECK(run({"-c", "src_host", "-N", "file:" + file}) == "868\n7280\n");
    std::ofstream(file) << "udp\n\nicmp\n";
    CHECK(run({"-c", "proto", "-M", "file:" + file, "-O", "csv"}) ==
          "SRC_IP,DST_IP,SRC_PORT,DST_PORT,TCP_FLAGS,PROTOCOL,PACKETS,BYTES\n"
          "192.168.1.11,10.0.1.6,5353,53,0,udp,3,174\n"
          "192.168.1.10,10.0.3.8,0,0,0,icmp,2,168\n");
    ::unlink(file.c_str());
}

TEST_CASE("-M with -r resets only the rows it printed") {
    MemoryUnderTest b;
    fill_dst_as(b);
    ClientRun r = flowacct_client({"-c", "dst_as", "-M", "3320", "-r", "-O", "csv", "-p", b.path});
    CHECK(r.out == "DST_AS,PACKETS,BYTES\n3320,7,7280\n");
    CHECK(flowacct_client({"-c", "dst_as", "-M", "3320", "-O", "csv", "-p", b.path}).out == "DST_AS,PACKETS,BYTES\n3320,0,0\n");
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466;65000", "-p", b.path}).out == "874\n5760\n");
}

TEST_CASE("-T sorts -M results and keeps the top N") {
    MemoryUnderTest a;
    fill_five_tuple(a);
    ClientRun r = flowacct_client({"-c", "proto", "-M", "tcp", "-T", "packets,2", "-O", "csv", "-p", a.path});
    CHECK(r.out ==
          "SRC_IP,DST_IP,SRC_PORT,DST_PORT,TCP_FLAGS,PROTOCOL,PACKETS,BYTES\n"
          "192.168.1.12,10.0.2.7,40001,443,18,tcp,7,7280\n"
          "192.168.1.10,10.0.1.5,40000,80,18,tcp,5,700\n");
}

TEST_CASE("the FLOWS column appears when the pipeline aggregates flows") {
    MemoryUnderTest c;
    REQUIRE(c.write({as_row(5466, 10, 1000, 3)}, kDstAs | mask({FA_P_FLOWS})) == FA_OK);
    ClientRun r = flowacct_client({"-s", "-p", c.path});
    CHECK(r.out ==
          "DST_AS      PACKETS               FLOWS                 BYTES\n"
          "5466        10                    3                     1000\n"
          "\n"
          "For a total of: 1 entries\n");
    CHECK(flowacct_client({"-s", "-O", "json", "-p", c.path}).out ==
          "{\"as_dst\": 5466, \"packets\": 10, \"flows\": 3, \"bytes\": 1000}\n");
    CHECK(flowacct_client({"-s", "-O", "csv", "-p", c.path}).out == "DST_AS,PACKETS,FLOWS,BYTES\n5466,10,3,1000\n");
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-n", "flows", "-p", c.path}).out == "3\n");
    MemoryUnderTest no_flows;
    REQUIRE(no_flows.write({as_row(5466, 10, 1000, 3)}, kDstAs) == FA_OK);
    CHECK(flowacct_client({"-s", "-O", "csv", "-p", no_flows.path}).out == "DST_AS,PACKETS,BYTES\n5466,10,1000\n");
}

TEST_CASE("-e erases the table and -i counts the seconds since") {
    MemoryUnderTest b;
    fill_dst_as(b);
    b.host.manual_clock_us = 1'700'000'000'000'000ull;
    CHECK(flowacct_client({"-i", "-p", b.path}).out == "never\n");
    ClientRun e = flowacct_client({"-e", "-p", b.path});
    CHECK(e.rc == 0);
    CHECK(e.out == "");
    CHECK(flowacct_client({"-s", "-p", b.path}).out == "DST_AS      PACKETS               BYTES\n\nFor a total of: 0 entries\n");
    b.host.manual_clock_us += 42'000'000;
    CHECK(flowacct_client({"-i", "-p", b.path}).out == "42\n");
    REQUIRE(b.write({as_row(1, 1, 1)}, kDstAs) == FA_OK);
    CHECK(flowacct_client({"-c", "dst_as", "-N", "1", "-p", b.path}).out == "1\n");
}

TEST_CASE("-t reports the table status and -X the statistics with the host's counters") {
    MemoryUnderTest b(Config{{"imt_max_entries", "2"}});
    fill_dst_as(b);
    ClientRun t = flowacct_client({"-t", "-p", b.path});
    CHECK(t.rc == 0);
    CHECK(t.out.find("primitives: dst_as\n") != std::string::npos);
    CHECK(t.out.find("entries: 2\n") != std::string::npos);
    CHECK(t.out.find("max entries: 2\n") != std::string::npos);
    CHECK(t.out.find("dropped (table full): 1\n") != std::string::npos);
    ClientRun x = flowacct_client({"-X", "-p", b.path});
    CHECK(x.rc == 0);
    CHECK(x.out.find("\"entries\": 2") != std::string::npos);
    CHECK(x.out.find("\"table_full\": 1") != std::string::npos);
    CHECK(x.out.find("\"memory_bytes\": ") != std::string::npos);
    CHECK(x.out.find("\"host\": {\"fake\":true}") != std::string::npos);
}

TEST_CASE("-a prints every column, zero-filled") {
    MemoryUnderTest b;
    fill_dst_as(b);
    ClientRun r = flowacct_client({"-c", "dst_as", "-M", "3320", "-a", "-O", "csv", "-p", b.path});
    CHECK(r.out ==
          "TAG,TAG2,LABEL,CLASS,SRC_MAC,DST_MAC,VLAN,ETYPE,SRC_AS,DST_AS,PEER_SRC_AS,PEER_DST_AS,PEER_SRC_IP,"
          "PEER_DST_IP,IN_IFACE,OUT_IFACE,SRC_IP,SRC_NET,DST_IP,DST_NET,SRC_MASK,DST_MASK,SRC_PORT,DST_PORT,TCP_FLAGS,"
          "PROTOCOL,TOS,SAMPLING_RATE,PACKETS,BYTES\n"
          "0,0,,unknown,00:00:00:00:00:00,00:00:00:00:00:00,0,0,0,3320,0,0,::,::,0,0,0.0.0.0,0.0.0.0,0.0.0.0,"
          "0.0.0.0,0,0,0,0,0,ip,0,0,7,7280\n");
    ClientRun f = flowacct_client({"-s", "-a", "-p", b.path});
    CHECK(f.out.rfind("TAG         TAG2        LABEL             CLASS             SRC_MAC", 0) == 0);
    CHECK(f.out.find("For a total of: 3 entries") != std::string::npos);
}

TEST_CASE("rows with history show their time bin, in UTC with -0 and as epoch with -I") {
    MemoryUnderTest h;
    fa_row r = as_row(5466, 2, 200);
    r.stamp_inserted_us = 1'700'000'400'000'000ull; // 2023-11-14 22:20:00 UTC
    r.stamp_updated_us = 1'700'000'460'000'000ull;
    fa_row later = r;
    later.stamp_inserted_us += 300'000'000ull; // the next 5-minute bin: a row of its own
    later.rec.bytes = 100;
    REQUIRE(h.write({r, later}, kDstAs, 300) == FA_OK);
    ClientRun utc = flowacct_client({"-s", "-O", "csv", "-0", "-T", "bytes", "-p", h.path});
    CHECK(utc.out ==
          "DST_AS,STAMP_INSERTED,STAMP_UPDATED,PACKETS,BYTES\n"
          "5466,2023-11-14 22:20:00,2023-11-14 22:21:00,2,200\n"
          "5466,2023-11-14 22:25:00,2023-11-14 22:21:00,2,100\n");
    ClientRun epoch = flowacct_client({"-c", "dst_as", "-N", "5466", "-p", h.path});
    CHECK(epoch.out == "300\n");
    ClientRun json = flowacct_client({"-s", "-O", "json", "-I", "-T", "bytes,1", "-p", h.path});
    CHECK(json.out ==
          "{\"as_dst\": 5466, \"stamp_inserted\": 1700000400, \"stamp_updated\": 1700000460, \"packets\": 2, "
          "\"bytes\": 200}\n");
}

TEST_CASE("class and label print by name and match by name") {
    MemoryUnderTest m;
    const std::uint32_t http = m.host.api()->intern(m.host.api()->ctx, "http", 4);
    const std::uint32_t gold = m.host.api()->intern(m.host.api()->ctx, "gold", 4);
    fa_row a = as_row(1, 1, 100);
    a.rec.class_id = http;
    a.rec.label_id = gold;
    fa_row b = as_row(1, 1, 50);
    REQUIRE(m.write({a, b}, mask({FA_P_CLASS, FA_P_LABEL, FA_P_DST_AS})) == FA_OK);
    CHECK(flowacct_client({"-s", "-O", "csv", "-T", "bytes", "-p", m.path}).out ==
          "LABEL,CLASS,DST_AS,PACKETS,BYTES\ngold,http,1,1,100\n,unknown,1,1,50\n");
    CHECK(flowacct_client({"-c", "class", "-N", "http;unknown;ssh", "-p", m.path}).out == "100\n50\n0\n");
    CHECK(flowacct_client({"-c", "label,dst_as", "-N", "gold,1", "-p", m.path}).out == "100\n");
    CHECK(flowacct_client({"-s", "-O", "json", "-T", "bytes,1", "-p", m.path}).out ==
          "{\"label\": \"gold\", \"class\": \"http\", \"as_dst\": 1, \"packets\": 1, \"bytes\": 100}\n");
}

TEST_CASE("IPv6 rows print and match") {
    MemoryUnderTest m;
    REQUIRE(m.write({flow_row("2001:db8::1", "2001:db8::2", 1000, 443, 6, 2, 3, 300)}, kFiveTuple) == FA_OK);
    CHECK(flowacct_client({"-c", "dst_host", "-M", "2001:db8::2", "-O", "csv", "-p", m.path}).out ==
          "SRC_IP,DST_IP,SRC_PORT,DST_PORT,TCP_FLAGS,PROTOCOL,PACKETS,BYTES\n2001:db8::1,2001:db8::2,1000,443,2,tcp,3,300\n");
}

TEST_CASE("the client fails clearly on a missing socket, no permission and primitives the table lacks") {
    MemoryUnderTest b;
    fill_dst_as(b);
    SUBCASE("missing socket") {
        ClientRun r = flowacct_binary("-s -p /tmp/fa-mem-does-not-exist.pipe");
        CHECK(r.rc == 1);
        CHECK(r.out.find("cannot connect to '/tmp/fa-mem-does-not-exist.pipe': No such file or directory") !=
              std::string::npos);
    }
    SUBCASE("a primitive the table does not aggregate on") {
        ClientRun r = flowacct_binary("-c src_host -M 1.2.3.4 -p " + b.path);
        CHECK(r.rc == 1);
        CHECK(r.out == "flowacct: the table does not aggregate on 'src_host' (it aggregates on: dst_as)\n");
    }
    SUBCASE("an unknown primitive") {
        ClientRun r = flowacct_client({"-c", "foo", "-M", "1", "-p", b.path});
        CHECK(r.rc == 1);
        CHECK(r.err == "flowacct: unknown primitive 'foo'\n");
    }
    SUBCASE("a value that does not parse") {
        ClientRun r = flowacct_client({"-c", "dst_as", "-N", "AS5466", "-p", b.path});
        CHECK(r.rc == 1);
        CHECK(r.err == "flowacct: bad value 'AS5466' for dst_as\n");
    }
    SUBCASE("too few values") {
        ClientRun r = flowacct_client({"-c", "dst_as,src_as", "-M", "5466", "-p", b.path});
        CHECK(r.rc == 1);
        CHECK(r.err.find("has 1 value(s) for 2 primitive(s)") != std::string::npos);
    }
    SUBCASE("no query or a bad flag") {
        CHECK(flowacct_client({"-p", b.path}).rc == 1);
        CHECK(flowacct_client({"-s", "-q"}).err == "flowacct: unknown option -q (see -h)\n");
        CHECK(flowacct_client({"-s", "-T", "octets"}).rc == 1);
        CHECK(flowacct_client({"-M", "1"}).err == "flowacct: -M and -N need -c with the primitives to match\n");
    }
    SUBCASE("no permission") {
        // As another user than the daemon's: the socket is 0600.
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(3);
            std::FILE* devnull = std::fopen("/dev/null", "w");
            char* buf = nullptr;
            std::size_t len = 0;
            std::FILE* err = open_memstream(&buf, &len);
            int rc = client::run_client({"-s", "-p", b.path}, devnull, err);
            std::fclose(err);
            bool message = std::string(buf, len).find("Permission denied") != std::string::npos;
            _exit(rc == 1 && message ? 0 : 4);
        }
        int status = 0;
        ::waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    SUBCASE("-h and -V") {
        ClientRun h = flowacct_client({"-h"});
        CHECK(h.rc == 0);
        CHECK(h.out.find("-T\t<bytes | packets | flows>[,<# how many>]") != std::string::npos);
        CHECK(flowacct_client({"-V"}).out.rfind("flowacct client", 0) == 0);
    }
}

TEST_CASE("the socket is created 0600 unless imt_path_mode widens it") {
    struct stat st {};
    {
        MemoryUnderTest m;
        REQUIRE(m.ok());
        REQUIRE(::stat(m.path.c_str(), &st) == 0);
        CHECK(S_ISSOCK(st.st_mode));
        CHECK((st.st_mode & 07777) == 0600);
    }
    MemoryUnderTest g(Config{{"imt_path_mode", "0660"}});
    REQUIRE(g.ok());
    REQUIRE(::stat(g.path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0660);
    MemoryUnderTest bad(Config{{"imt_path_mode", "rw-------"}});
    CHECK_FALSE(bad.ok());
    CHECK(bad.instance->error.rfind("imt_path_mode: expected an octal mode", 0) == 0);
}

TEST_CASE("imt_path problems are configuration errors and a stale socket is replaced") {
    SUBCASE("too long for sun_path") {
        MemoryUnderTest m(Config{{"imt_path", "/tmp/" + std::string(120, 'x')}});
        CHECK_FALSE(m.ok());
        CHECK(m.instance->error.find("imt_path: imt_path '/tmp/xxx") == 0);
        CHECK(m.instance->error.find("must be 1 to 107 bytes long") != std::string::npos);
    }
    SUBCASE("an existing regular file is left alone") {
        const std::string path = unique_socket_path();
        std::ofstream(path) << "precious";
        MemoryUnderTest m(Config{{"imt_path", path}});
        CHECK_FALSE(m.ok());
        CHECK(m.instance->error.find("exists and is not a socket") != std::string::npos);
        std::ifstream in(path);
        std::string content;
        in >> content;
        CHECK(content == "precious");
        ::unlink(path.c_str());
    }
    SUBCASE("a live server keeps its socket") {
        MemoryUnderTest first;
        REQUIRE(first.ok());
        MemoryUnderTest second(Config{{"imt_path", first.path}});
        CHECK_FALSE(second.ok());
        CHECK(second.instance->error.find("is in use by a running server") != std::string::npos);
        fill_dst_as(first);
        CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-p", first.path}).out == "874\n");
    }
    SUBCASE("a stale socket of a previous run is replaced") {
        const std::string path = unique_socket_path();
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        ::close(fd); // bound, never listened: what a crashed daemon leaves behind
        MemoryUnderTest m(Config{{"imt_path", path}});
        CHECK(m.ok());
        fill_dst_as(m);
        CHECK(flowacct_client({"-c", "dst_as", "-N", "3320", "-p", path}).out == "7280\n");
    }
    SUBCASE("the socket is removed when the module is destroyed") {
        std::string path;
        {
            MemoryUnderTest m;
            path = m.path;
        }
        struct stat st {};
        CHECK(::lstat(path.c_str(), &st) != 0);
    }
}

TEST_CASE("a full table drops new keys, counts them, logs once and still updates existing rows") {
    MemoryUnderTest m(Config{{"imt_max_entries", "100"}});
    std::vector<fa_row> rows;
    for (std::uint32_t i = 0; i < 150; ++i) rows.push_back(as_row(i, 1, 10));
    REQUIRE(m.write(rows, kDstAs) == FA_OK);
    REQUIRE(m.write(rows, kDstAs) == FA_OK);
    CHECK(m.host.counter("entries") == 100);
    CHECK(m.host.counter("table_full") == 100);
    CHECK(m.host.counter("rows_written") == 200);
    int full_logs = 0;
    for (const auto& l : m.host.logs) full_logs += l.find("memory table full at 100 entries") != std::string::npos;
    CHECK(full_logs == 1);
    // Every kept key got both deltas.
    std::string queries;
    ClientRun all = flowacct_client({"-s", "-O", "csv", "-p", m.path});
    CHECK(all.out.find(",1,10\n") == std::string::npos);
    CHECK(flowacct_client({"-s", "-p", m.path}).out.find("For a total of: 100 entries") != std::string::npos);
}

TEST_CASE("imt_mem_pools_number x imt_mem_pools_size bounds the table's memory") {
    MemoryUnderTest m(Config{{"imt_mem_pools_number", "4"}, {"imt_mem_pools_size", "8192"}});
    std::vector<fa_row> rows;
    for (std::uint32_t i = 0; i < 5000; ++i) rows.push_back(as_row(i, 1, 10));
    REQUIRE(m.write(rows, kDstAs) == FA_OK);
    // A dst_as row is 4 key bytes + 29 counter bytes, plus up to 8 of index: 32768 / 41 entries.
    CHECK(m.host.counter("entries") == 32768 / 41);
    CHECK(m.host.counter("table_full") == 5000 - 32768 / 41);
    MemoryUnderTest bad(Config{{"imt_mem_pools_number", "-1"}});
    CHECK_FALSE(bad.ok());
}

TEST_CASE("rows keyed on other primitives start the table over") {
    MemoryUnderTest m;
    fill_dst_as(m);
    REQUIRE(m.write({flow_row("10.0.0.1", "10.0.0.2", 1, 2, 17, 0, 1, 100)}, kFiveTuple) == FA_OK);
    CHECK(m.host.counter("entries") == 1);
    bool warned = false;
    for (const auto& l : m.host.logs) warned = warned || l.find("table was cleared") != std::string::npos;
    CHECK(warned);
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-p", m.path}).rc == 1);
}

TEST_CASE("an empty table answers every query") {
    MemoryUnderTest m;
    CHECK(flowacct_client({"-s", "-p", m.path}).out == "PACKETS               BYTES\n\nFor a total of: 0 entries\n");
    CHECK(flowacct_client({"-c", "dst_as", "-N", "1;2", "-p", m.path}).out == "0\n0\n");
    CHECK(flowacct_client({"-t", "-p", m.path}).out.find("entries: 0") != std::string::npos);
}
