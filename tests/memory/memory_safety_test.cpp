// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output under hostile input: malformed requests, hostile clients, floods, and
// clients querying while rows are written.
#include <poll.h>         // poll
#include <sys/socket.h>   // send, recv
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, setresuid, close

#include <atomic>         // std::atomic
#include <chrono>         // std::chrono
#include <thread>         // std::thread

#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include "memory_support.hpp" // MemoryUnderTest, flowacct_client, raw_connect
#include "query_protocol.hpp" // proto::encode_request, proto::decode_request

using namespace flowacct;
using namespace flowacct::test;
namespace proto = flowacct::memory::proto;

namespace {

const std::uint64_t kDstAs = mask({FA_P_DST_AS});

// Reads until the server closes; returns what it sent. Bounded by a 5 s poll per read.
std::string read_to_close(int fd) {
    std::string got;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

std::string error_of(const std::string& frame) {
    if (frame.size() < proto::kResponseHeaderBytes) return "<no frame>";
    return frame.substr(proto::kResponseHeaderBytes);
}

proto::Request sample_request() {
    proto::Request r;
    r.type = proto::RequestType::Match;
    r.flags = proto::kFlagCountersOnly;
    r.primitives = {FA_P_SRC_HOST, FA_P_DST_PORT};
    r.queries = {{"10.0.0.1", "*"}, {"*", "443"}};
    return r;
}

} // namespace

TEST_CASE("a request survives encoding and decoding") {
    const proto::Request in = sample_request();
    const std::string wire = proto::encode_request(in);
    proto::Request out;
    std::string err;
    REQUIRE(proto::decode_request(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size(), out, err) ==
            proto::Decode::Ok);
    CHECK(out.type == in.type);
    CHECK(out.flags == in.flags);
    CHECK(out.primitives == in.primitives);
    CHECK(out.queries == in.queries);
}

TEST_CASE("every truncation of a request is incomplete, never a crash or a success") {
    const std::string wire = proto::encode_request(sample_request());
    for (std::size_t len = 0; len < wire.size(); ++len) {
        proto::Request out;
        std::string err;
        CHECK(proto::decode_request(reinterpret_cast<const std::uint8_t*>(wire.data()), len, out, err) ==
              proto::Decode::Incomplete);
    }
}

TEST_CASE("the decoder refuses bad magic, versions, sizes and counts the body cannot hold") {
    std::string wire = proto::encode_request(sample_request());
    auto decode = [](const std::string& w, std::string& err) {
        proto::Request out;
        return proto::decode_request(reinterpret_cast<const std::uint8_t*>(w.data()), w.size(), out, err);
    };
    std::string err;
    SUBCASE("magic") {
        std::string w = wire;
        w[0] = 'X';
        CHECK(decode(w, err) == proto::Decode::Bad);
        CHECK(err == "not a flowacct query (bad magic)");
    }
    SUBCASE("version") {
        std::string w = wire;
        w[4] = 2;
        CHECK(decode(w, err) == proto::Decode::Bad);
        CHECK(err == "query protocol version 2 not supported (server speaks 1)");
    }
    SUBCASE("body larger than the limit") {
        std::string w = wire;
        w[12] = w[13] = w[14] = '\x7f';
        CHECK(decode(w, err) == proto::Decode::Bad);
        CHECK(err.find("exceeds the limit") != std::string::npos);
    }
    SUBCASE("a query count the body cannot hold") {
        proto::Request r = sample_request();
        r.queries.clear();
        std::string w = proto::encode_request(r);
        // Patch n_queries (the last 4 bytes) to 4096 with no values behind it.
        w[w.size() - 4] = 0;
        w[w.size() - 3] = 0x10;
        CHECK(decode(w, err) == proto::Decode::Bad);
        CHECK(err == "truncated request");
    }
    SUBCASE("too many queries") {
        proto::Request r = sample_request();
        r.queries.assign(proto::kMaxQueries + 1, {"1", "2"});
        CHECK(decode(proto::encode_request(r), err) == proto::Decode::Bad);
        CHECK(err.find("too many queries") == 0);
    }
    SUBCASE("unknown primitive id and unknown flags") {
        std::string w = wire;
        w[proto::kRequestHeaderBytes + 10] = static_cast<char>(FA_P_COUNT);
        CHECK(decode(w, err) == proto::Decode::Bad);
        std::string f = wire;
        f[11] = 0x40;
        CHECK(decode(f, err) == proto::Decode::Bad);
    }
}

TEST_CASE("garbage, bad versions and oversized requests get an error and the server goes on") {
    MemoryUnderTest m;
    REQUIRE(m.write({as_row(5466, 1, 100)}, kDstAs) == FA_OK);
    SUBCASE("garbage") {
        int fd = raw_connect(m.path);
        REQUIRE(fd >= 0);
        const std::string junk = "GET / HTTP/1.0\r\n\r\n";
        ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
        CHECK(error_of(read_to_close(fd)) == "not a flowacct query (bad magic)");
        ::close(fd);
    }
    SUBCASE("another protocol version") {
        std::string w = proto::encode_request(sample_request());
        w[4] = 9;
        int fd = raw_connect(m.path);
        ::send(fd, w.data(), w.size(), MSG_NOSIGNAL);
        CHECK(error_of(read_to_close(fd)) == "query protocol version 9 not supported (server speaks 1)");
        ::close(fd);
    }
    SUBCASE("1 MB with no valid header") {
        int fd = raw_connect(m.path);
        std::string big(1 << 20, 'A');
        ::send(fd, big.data(), big.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        CHECK(error_of(read_to_close(fd)) == "not a flowacct query (bad magic)");
        ::close(fd);
    }
    SUBCASE("a client that hangs up mid-request") {
        std::string w = proto::encode_request(sample_request());
        int fd = raw_connect(m.path);
        ::send(fd, w.data(), w.size() / 2, MSG_NOSIGNAL);
        ::close(fd);
    }
    SUBCASE("a client that connects and closes at once") {
        ::close(raw_connect(m.path));
    }
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-p", m.path}).out == "100\n");
}

TEST_CASE("a silent client is cut off at its deadline while others are served") {
    MemoryUnderTest m;
    REQUIRE(m.write({as_row(5466, 1, 100)}, kDstAs) == FA_OK);
    int silent = raw_connect(m.path);
    REQUIRE(silent >= 0);
    std::string w = proto::encode_request(sample_request());
    ::send(silent, w.data(), 3, MSG_NOSIGNAL); // a few bytes, then nothing
    // Served while the silent client waits.
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-p", m.path}).out == "100\n");
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(error_of(read_to_close(silent)) == "request not complete within 1000 ms");
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(waited < std::chrono::seconds(5)); // the 1 s deadline, with room for a loaded machine
    ::close(silent);
    CHECK(m.host.counter("query_errors") >= 1);
}

TEST_CASE("a flood of connections is capped and the server recovers") {
    MemoryUnderTest m;
    REQUIRE(m.write({as_row(5466, 1, 100)}, kDstAs) == FA_OK);
    std::vector<int> fds;
    for (int i = 0; i < 300; ++i) {
        int fd = raw_connect(m.path);
        if (fd >= 0) fds.push_back(fd);
    }
    // The server holds at most 64 connections; it closes the others as soon as it accepts them,
    // so the last one sees the hang-up.
    REQUIRE(fds.size() == 300);
    pollfd p{fds.back(), POLLIN, 0};
    CHECK(::poll(&p, 1, 5000) == 1);
    CHECK(m.host.counter("query_rejected") > 0);
    for (int fd : fds) ::close(fd);
    // Once the server has seen the hang-ups, it serves again.
    ClientRun r;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    do {
        r = flowacct_client({"-c", "dst_as", "-N", "5466", "-p", m.path});
    } while (r.rc != 0 && std::chrono::steady_clock::now() < until);
    CHECK(r.out == "100\n");
}

TEST_CASE("10 clients query in a loop while rows are written; totals are exact at the end") {
    MemoryUnderTest m;
    std::atomic<bool> done{false};
    std::atomic<int> failures{0};
    std::atomic<int> answers{0};
    std::vector<std::thread> clients;
    for (int c = 0; c < 10; ++c) {
        clients.emplace_back([&, c] {
            while (!done) {
                ClientRun r = c % 2 ? flowacct_client({"-c", "dst_as", "-N", "1;2;3", "-S", "-p", m.path})
                                    : flowacct_client({"-s", "-O", "csv", "-T", "bytes,5", "-p", m.path});
                if (r.rc != 0) ++failures;
                ++answers;
            }
        });
    }
    std::uint64_t bytes = 0;
    std::uint64_t max_write_us = 0;
    for (int batch = 0; batch < 400; ++batch) {
        std::vector<fa_row> rows;
        for (std::uint32_t i = 0; i < 1000; ++i) {
            rows.push_back(as_row(i % 500, 1, 1 + i % 7));
            bytes += 1 + i % 7;
        }
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(m.write(rows, kDstAs) == FA_OK);
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
        max_write_us = std::max<std::uint64_t>(max_write_us, static_cast<std::uint64_t>(us));
    }
    // Let the clients see the final table a few times before stopping them.
    const int seen = answers.load();
    while (answers.load() < seen + 20) std::this_thread::yield();
    done = true;
    for (auto& t : clients) t.join();
    CHECK(failures == 0);
    MESSAGE("slowest write of 1000 rows while 10 clients query: " << max_write_us << " us");
    CHECK(max_write_us < 200000);
    std::string all;
    for (int i = 0; i < 500; ++i) all += (i ? ";" : "") + std::to_string(i);
    ClientRun total = flowacct_client({"-c", "dst_as", "-N", all, "-S", "-n", "all", "-p", m.path});
    CHECK(total.out == "400000 " + std::to_string(bytes) + " 0\n");
    CHECK(m.host.counter("entries") == 500);
}

TEST_CASE("reset and erase are refused to other users") {
    MemoryUnderTest m(Config{{"imt_path_mode", "0666"}});
    REQUIRE(m.write({as_row(5466, 1, 100)}, kDstAs) == FA_OK);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(3);
        std::FILE* null = std::fopen("/dev/null", "w");
        int read_ok = client::run_client({"-c", "dst_as", "-N", "5466", "-p", m.path}, null, null);
        int reset = client::run_client({"-c", "dst_as", "-N", "5466", "-r", "-p", m.path}, null, null);
        int erase = client::run_client({"-e", "-p", m.path}, null, null);
        _exit(read_ok == 0 && reset == 1 && erase == 1 ? 0 : 4);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(m.host.counter("ctl_rejected") == 2);
    CHECK(flowacct_client({"-c", "dst_as", "-N", "5466", "-p", m.path}).out == "100\n");
}
