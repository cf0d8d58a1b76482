// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers for the memory output tests: a module instance on a FakeHost with its own socket,
// row builders, and the flowacct client run in-process or as the real binary.
#pragma once

#include <sys/socket.h>   // socket, connect
#include <sys/un.h>       // sockaddr_un
#include <unistd.h>       // getpid, close

#include <atomic>         // std::atomic
#include <cstdio>         // open_memstream, popen
#include <cstdlib>        // std::free
#include <cstring>        // std::memcpy
#include <map>            // std::map
#include <string>         // std::string
#include <vector>         // std::vector

#include <doctest/doctest.h>           // REQUIRE
#include <fake_host.hpp>               // test::FakeHost, test::Instance, test::load_module
#include <flowacct/sdk/primitives.hpp> // sdk::parse_addr

#include "client.hpp"         // client::run_client

namespace flowacct::test {

inline std::string unique_socket_path() {
    static std::atomic<int> n{0};
    return "/tmp/fa-mem-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".pipe";
}

using Config = std::map<std::string, std::string>;

/// One memory output instance with its socket; rows go in through the output ops.
struct MemoryUnderTest {
    explicit MemoryUnderTest(std::map<std::string, std::string> config = {})
        : path(config.count("imt_path") ? config["imt_path"] : unique_socket_path()),
          host(with_path(std::move(config), path), "a"),
          desc(load_module("output_memory.so")) {
        REQUIRE(desc != nullptr);
        instance = std::make_unique<Instance>(desc, host);
        ops = static_cast<const fa_output_ops*>(desc->ops);
    }
    bool ok() const { return instance && *instance; }

    fa_status write(std::vector<fa_row> rows, std::uint64_t primitives, std::uint32_t history_s = 0) {
        fa_row_batch b{rows.data(), static_cast<std::uint32_t>(rows.size()), history_s, primitives};
        return ops->write(instance->get(), &b);
    }

    static std::map<std::string, std::string> with_path(std::map<std::string, std::string> c, const std::string& p) {
        c["imt_path"] = p;
        return c;
    }

    std::string path;
    FakeHost host;
    const fa_module_descriptor* desc;
    std::unique_ptr<Instance> instance;
    const fa_output_ops* ops = nullptr;
};

inline std::uint64_t mask(std::initializer_list<fa_primitive> ps) {
    std::uint64_t m = 0;
    for (auto p : ps) m |= 1ull << p;
    return m;
}

inline fa_row as_row(std::uint32_t dst_as, std::uint64_t packets, std::uint64_t bytes, std::uint64_t flows = 0) {
    fa_row r{};
    r.rec.dst_as = dst_as;
    r.rec.packets = packets;
    r.rec.bytes = bytes;
    r.rec.flows = flows;
    return r;
}

inline fa_row flow_row(const char* src, const char* dst, std::uint16_t sp, std::uint16_t dp, std::uint8_t proto,
                       std::uint8_t flags, std::uint64_t packets, std::uint64_t bytes) {
    fa_row r{};
    REQUIRE(sdk::parse_addr(src, r.rec.src_ip));
    REQUIRE(sdk::parse_addr(dst, r.rec.dst_ip));
    r.rec.ip_version = 4;
    r.rec.src_port = sp;
    r.rec.dst_port = dp;
    r.rec.proto = proto;
    r.rec.tcp_flags = flags;
    r.rec.packets = packets;
    r.rec.bytes = bytes;
    return r;
}

struct ClientRun {
    int rc = -1;
    std::string out;
    std::string err;
};

/// Runs the client library in-process, capturing stdout and stderr.
inline ClientRun flowacct_client(std::vector<std::string> args) {
    char* out_buf = nullptr;
    char* err_buf = nullptr;
    std::size_t out_len = 0, err_len = 0;
    std::FILE* out = open_memstream(&out_buf, &out_len);
    std::FILE* err = open_memstream(&err_buf, &err_len);
    ClientRun r;
    r.rc = client::run_client(args, out, err);
    std::fclose(out);
    std::fclose(err);
    r.out.assign(out_buf, out_len);
    r.err.assign(err_buf, err_len);
    std::free(out_buf);
    std::free(err_buf);
    return r;
}

/// Runs the built `flowacct` binary through the shell; `args` are shell words.
inline ClientRun flowacct_binary(const std::string& args) {
    const std::string cmd = std::string(FLOWACCT_TEST_BINARY_DIR) + "/bin/flowacct " + args + " 2>&1";
    ClientRun r;
    std::FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

inline std::string read_golden(const std::string& name) {
    const std::string path = std::string(FLOWACCT_TEST_SOURCE_DIR) + "/tests/memory/golden/" + name;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE_MESSAGE(f != nullptr, path);
    std::string s;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
}

/// A raw client connection for hostile-client tests.
inline int raw_connect(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace flowacct::test
