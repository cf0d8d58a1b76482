// SPDX-License-Identifier: GPL-2.0-or-later
// The classify stage through the fake host: streams, both directions, tentatives, the table
// bound, timeouts, regex safety, shared-object classifiers that fail, labels and reloads.
#include <doctest/doctest.h> // TEST_CASE, CHECK

#include <dlfcn.h>     // dlopen, dlsym
#include <sys/stat.h>  // chmod
#include <stdlib.h>    // mkdtemp

#include <chrono>      // std::chrono::steady_clock
#include <cstring>     // std::memcpy
#include <filesystem>  // std::filesystem
#include <fstream>     // std::ofstream
#include <string>      // std::string
#include <vector>      // std::vector

#include <flowacct/abi.h> // fa_record, fa_classifier_ops

#include "fake_host.hpp"  // FakeHost, Instance, load_module

namespace fs = std::filesystem;
using flowacct::test::FakeHost;
using flowacct::test::Instance;

namespace {

const fa_module_descriptor* stage_module() {
    static const fa_module_descriptor* d = flowacct::test::load_module("classifier_classify.so");
    REQUIRE(d != nullptr);
    return d;
}

/// A scratch classifiers directory (mode 0755) removed at scope exit.
struct Dir {
    fs::path path;
    Dir() {
        char tmpl[] = "/tmp/flowacct-classify-XXXXXX";
        path = ::mkdtemp(tmpl);
        ::chmod(path.c_str(), 0755);
    }
    ~Dir() { fs::remove_all(path); }
    void copy_shipped(const std::string& name) const {
        fs::copy_file(fs::path(SHIPPED_CLASSIFIER_DIR) / name, path / name, fs::copy_options::overwrite_existing);
    }
    void copy_test_so(const std::string& name) const {
        fs::copy_file(fs::path(CLASSIFY_TEST_SO_DIR) / name, path / name, fs::copy_options::overwrite_existing);
    }
    void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
};

/// Records with payload, as the pcap input hands them over.
struct Batch {
    std::vector<fa_record> records;
    std::vector<std::uint8_t> arena;
    std::uint64_t time_us = 1'700'000'000'000'000ull;

    fa_record& add(std::uint8_t a, std::uint16_t sport, std::uint8_t b, std::uint16_t dport, std::uint8_t proto,
                   std::uint8_t tcp_flags, const std::string& payload = {}) {
        fa_record r{};
        r.ip_version = 4;
        r.src_ip[10] = r.src_ip[11] = r.dst_ip[10] = r.dst_ip[11] = 0xff;
        r.src_ip[12] = 10;
        r.src_ip[15] = a;
        r.dst_ip[12] = 10;
        r.dst_ip[15] = b;
        r.src_port = sport;
        r.dst_port = dport;
        r.proto = proto;
        r.tcp_flags = tcp_flags;
        r.packets = 1;
        r.bytes = 40 + payload.size();
        r.time_start_us = r.time_end_us = time_us;
        if (!payload.empty()) {
            r.flags |= FA_REC_HAS_PAYLOAD;
            r.payload_offset = static_cast<std::uint32_t>(arena.size());
            r.payload_len = static_cast<std::uint32_t>(payload.size());
            arena.insert(arena.end(), payload.begin(), payload.end());
        }
        records.push_back(r);
        return records.back();
    }
    void clear() {
        records.clear();
        arena.clear();
    }
};

struct Stage {
    FakeHost host;
    Instance inst;
    explicit Stage(std::map<std::string, std::string> cfg) : host(std::move(cfg)), inst(stage_module(), host) {}
    void run(Batch& b) {
        inst.ops<fa_classifier_ops>()->process(inst.get(), b.records.data(), static_cast<std::uint32_t>(b.records.size()),
                                               b.arena.data());
    }
    bool reload() { return inst.ops<fa_classifier_ops>()->reload(inst.get()) == FA_OK; }
    std::string cls(const fa_record& r) { return r.class_id ? host.api()->name_of(host.api()->ctx, r.class_id) : "unknown"; }
    std::string label(const fa_record& r) { return r.label_id ? host.api()->name_of(host.api()->ctx, r.label_id) : ""; }
    bool logged(const std::string& text) const {
        for (const auto& l : host.logs)
            if (l.find(text) != std::string::npos) return true;
        return false;
    }
};

constexpr std::uint8_t kSyn = 0x02, kAck = 0x10, kPsh = 0x08, kSynAck = 0x12;

std::string client_hello_with_sni(const std::string& sni) {
    std::string body;
    body += std::string("\x03\x03", 2) + std::string(32, '\x01') + std::string("\x00", 1);  // version, random, sid
    body += std::string("\x00\x02\x13\x01", 4) + std::string("\x01\x00", 2);               // suites, compression
    std::string ext = std::string("\x00\x00", 2);
    auto be16 = [](std::size_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; };
    ext += be16(sni.size() + 5) + be16(sni.size() + 3) + std::string("\x00", 1) + be16(sni.size()) + sni;
    body += be16(ext.size()) + ext;
    std::string hs = std::string("\x01\x00", 2) + be16(body.size()) + body;
    return std::string("\x16\x03\x01", 3) + be16(hs.size()) + hs;
}

} // namespace

TEST_CASE("a stream is classified from its payload and every packet of it, both directions, carries the class") {
    Dir dir;
    dir.copy_shipped("ssh.pat");
    dir.copy_shipped("http.pat");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    b.add(1, 40000, 2, 22, 6, kSyn);
    b.add(2, 22, 1, 40000, 6, kSynAck);
    b.add(1, 40000, 2, 22, 6, kAck);
    b.add(2, 22, 1, 40000, 6, kAck | kPsh, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    st.run(b);
    for (const auto& r : b.records) CHECK(st.cls(r) == "ssh");
    CHECK((b.records[0].flags & FA_REC_DIR_REPLY) == 0);
    CHECK((b.records[1].flags & FA_REC_DIR_REPLY) != 0);
    CHECK((b.records[3].flags & FA_REC_DIR_REPLY) != 0);

    SUBCASE("later batches of the stream keep the class in both directions") {
        b.clear();
        b.add(1, 40000, 2, 22, 6, kAck | kPsh, std::string(100, 'x'));
        b.add(2, 22, 1, 40000, 6, kAck | kPsh, std::string(100, 'y'));
        b.add(1, 40001, 2, 22, 6, kSyn);  // another stream between the same hosts: not classified
        st.run(b);
        CHECK(st.cls(b.records[0]) == "ssh");
        CHECK(st.cls(b.records[1]) == "ssh");
        CHECK(st.cls(b.records[2]) == "unknown");
        CHECK(st.host.counter("streams_classified") == 1);
        CHECK(st.host.counter("streams_new") == 2);
    }
}

TEST_CASE("an unknown stream stays unknown and is given up after classifier_tentatives payload packets") {
    Dir dir;
    dir.copy_shipped("http.pat");
    Stage st({{"classifiers", dir.path}, {"classifier_tentatives", "3"}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    b.add(1, 5000, 2, 80, 17, 0, "junk one");
    b.add(2, 80, 1, 5000, 17, 0, "junk two");
    st.run(b);
    CHECK(st.host.counter("streams_unclassified") == 0);
    b.clear();
    b.add(1, 5000, 2, 80, 17, 0, "junk three");
    st.run(b);
    CHECK(st.host.counter("streams_unclassified") == 1);
    // Too late: a matching payload after the stream was given up does not classify it.
    b.clear();
    b.add(1, 5000, 2, 80, 17, 0, "GET / HTTP/1.1\r\n\r\n");
    st.run(b);
    CHECK(st.cls(b.records[0]) == "unknown");
    CHECK(b.records[0].class_id == 0);
}

TEST_CASE("the stream table is bounded by classifier_table_num and counts the packets it cannot track") {
    Dir dir;
    dir.copy_shipped("http.pat");
    Stage st({{"classifiers", dir.path}, {"classifier_table_num", "4"}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    for (std::uint16_t i = 0; i < 6; ++i) b.add(1, static_cast<std::uint16_t>(1000 + i), 2, 80, 6, kAck | kPsh, "GET / HTTP/1.0\r\n");
    st.run(b);
    int classified = 0;
    for (const auto& r : b.records) classified += st.cls(r) == "http";
    CHECK(classified == 4);
    CHECK(st.host.counter("stream_table_full") == 2);
    CHECK(st.host.counter("streams_new") == 4);
    CHECK(st.logged("stream table full (4 streams"));

    SUBCASE("idle streams expire and make room") {
        b.clear();
        b.time_us += 61'000'000;  // past the 60 s default idle timeout
        b.add(9, 9, 8, 80, 6, kAck);
        st.run(b);  // this batch's sweep expires the four old streams first
        CHECK(st.host.counter("streams_expired") == 4);
        CHECK(st.host.counter("stream_table_full") == 2);
        CHECK(st.host.counter("streams_new") == 5);
    }
}

TEST_CASE("a pattern that would backtrack catastrophically cannot stall the stage") {
    Dir dir;
    // Exponential for a backtracking engine on a run of 'a' without the final 'b'.
    dir.write("evil.pat", "evil\n^(a|aa|a+)*(a|aa)*b\n");
    dir.write("nested.pat", "nested\n^((a+)+)+$x\n");
    Stage st({{"classifiers", dir.path}, {"classifier_tentatives", "1000"}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    const std::string payload(500, 'a');
    for (std::uint16_t i = 0; i < 1000; ++i) b.add(1, static_cast<std::uint16_t>(2000 + i % 50), 2, 80, 6, kAck, payload);
    auto t0 = std::chrono::steady_clock::now();
    st.run(b);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    CHECK(ms < 10000);  // 1000 payloads of 500 bytes (ms unsanitized); a backtracking engine needs years
    for (const auto& r : b.records) CHECK(r.class_id == 0);
}

TEST_CASE("a pattern RE2 cannot compile is refused with its file and line while the others work") {
    Dir dir;
    dir.write("backref.pat", "# a back-reference: not a regular language\nbackref\n(a)\\1\n");
    dir.write("noregex.pat", "lonely\n");
    dir.copy_shipped("ssh.pat");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    CHECK(st.logged("backref.pat:3: backref:"));
    CHECK(st.logged("noregex.pat:1: no regular expression after the protocol name"));
    CHECK(st.host.counter("classifiers_rejected") == 2);
    Batch b;
    b.add(1, 1, 2, 2, 6, kAck, "SSH-2.0-x\r\n");
    st.run(b);
    CHECK(st.cls(b.records[0]) == "ssh");
}

TEST_CASE("shared-object classifiers with a wrong ABI, a missing symbol or a failing init are refused, the rest work") {
    Dir dir;
    dir.copy_test_so("bad_abi.so");
    dir.copy_test_so("no_symbol.so");
    dir.copy_test_so("fail_init.so");
    dir.copy_shipped("dns.so");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    CHECK(st.logged("bad_abi.so: classifier ABI version 2, this host supports 1"));
    CHECK(st.logged("no_symbol.so: missing symbol flowacct_classifier_v1"));
    CHECK(st.logged("fail_init.so: init failed (7): licence file missing"));
    CHECK(st.host.counter("classifiers_rejected") == 3);
    Batch b;
    const std::string query("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07""example\x03""com\x00\x00\x01\x00\x01", 33);
    b.add(1, 5353, 2, 53, 17, 0, query);
    b.add(1, 7000, 2, 7001, 17, 0, "not dns at all, long enough");
    st.run(b);
    CHECK(st.cls(b.records[0]) == "dns");
    CHECK(st.cls(b.records[1]) == "unknown");
}

TEST_CASE("a group- or world-writable classifier is refused") {
    Dir dir;
    dir.copy_shipped("dns.so");
    dir.copy_shipped("ssh.pat");
    ::chmod((dir.path / "dns.so").c_str(), 0777);
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    CHECK(st.logged("dns.so is group- or world-writable"));
}

TEST_CASE("a directory without any usable classifier is a configuration error naming the key") {
    Dir dir;
    dir.write("README", "nothing here");
    Stage st({{"classifiers", dir.path}});
    CHECK_FALSE(st.inst);
    CHECK(st.inst.error.find("classifiers: no usable .pat or .so classifier") == 0);
    Stage missing(std::map<std::string, std::string>{{"classifiers", "/nonexistent/classifiers"}});
    CHECK(missing.inst.error.find("not a directory") != std::string::npos);
    Stage bad({{"classifiers", dir.path}, {"classifier_tentatives", "0"}});
    CHECK(bad.inst.error.find("classifier_tentatives: expected a value from 1") == 0);
}

TEST_CASE("the TLS classifier puts the server name into the label of every packet of the stream") {
    Dir dir;
    dir.copy_shipped("tls.so");
    dir.copy_shipped("ssl.pat");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    b.add(1, 50000, 2, 443, 6, kSyn);
    b.add(1, 50000, 2, 443, 6, kAck | kPsh, client_hello_with_sni("www.example.com"));
    b.add(2, 443, 1, 50000, 6, kAck | kPsh, std::string(200, 'z'));
    st.run(b);
    for (const auto& r : b.records) {
        CHECK(st.cls(r) == "ssl");
        CHECK(st.label(r) == "www.example.com");
    }
    SUBCASE("a ClientHello cut before the extension is still ssl, without a label") {
        b.clear();
        b.add(1, 50001, 2, 443, 6, kAck | kPsh, client_hello_with_sni("cut.example.com").substr(0, 60));
        st.run(b);
        CHECK(st.cls(b.records[0]) == "ssl");
        CHECK(b.records[0].label_id == 0);
    }
}

TEST_CASE("a stateful classifier gets zeroed per-stream state kept across packets of both directions") {
    Dir dir;
    dir.copy_test_so("stateful.so");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    b.add(1, 1111, 2, 7777, 6, kAck | kPsh, "ping");
    b.add(3, 1111, 2, 7777, 6, kAck | kPsh, "ping");  // another stream, its own state
    st.run(b);
    CHECK(b.records[0].class_id == 0);
    b.clear();
    b.add(2, 7777, 1, 1111, 6, kAck | kPsh, "pong");
    st.run(b);
    CHECK(st.cls(b.records[0]) == "pingpong");
    CHECK(st.label(b.records[0]) == "port-7777");
    b.clear();
    b.add(3, 1111, 2, 7777, 6, kAck | kPsh, "pang");  // the second packet is no pong: give up
    st.run(b);
    CHECK(b.records[0].class_id == 0);
    CHECK(st.host.counter("streams_unclassified") == 1);

    // The stage calls stream_end for each state it drops: the two decided streams so far.
    void* so = ::dlopen((dir.path / "stateful.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
    REQUIRE(so != nullptr);
    auto ends = reinterpret_cast<std::uint32_t (*)()>(::dlsym(so, "stateful_stream_ends"));
    REQUIRE(reinterpret_cast<void*>(ends) != nullptr);
    CHECK(ends() == 2);
    b.clear();
    b.add(5, 1111, 2, 7777, 6, kAck | kPsh, "ping");  // left pending
    st.run(b);
    CHECK(st.reload());  // drops the pending stream's state, made for the old classifiers
    CHECK(ends() == 3);
    ::dlclose(so);
}

TEST_CASE("reload picks up new patterns and keeps the previous ones when the directory has none left") {
    Dir dir;
    dir.copy_shipped("ssh.pat");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    dir.copy_shipped("smtp.pat");
    REQUIRE(st.reload());
    Batch b;
    b.add(2, 25, 1, 3000, 6, kAck | kPsh, "220 mx.example.com ESMTP ready\r\n");
    st.run(b);
    CHECK(st.cls(b.records[0]) == "smtp");
    fs::remove(dir.path / "ssh.pat");
    fs::remove(dir.path / "smtp.pat");
    CHECK_FALSE(st.reload());
    b.clear();
    b.add(2, 22, 1, 3001, 6, kAck | kPsh, "SSH-2.0-dropbear\r\n");
    st.run(b);
    CHECK(st.cls(b.records[0]) == "ssh");
}

TEST_CASE("non-IP records and later fragments are left alone") {
    Dir dir;
    dir.copy_shipped("http.pat");
    Stage st({{"classifiers", dir.path}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    Batch b;
    b.add(1, 0, 2, 0, 17, 0, "GET / HTTP/1.1\r\n").flags |= FA_REC_FRAGMENT;
    b.add(1, 0, 2, 0, 0, 0).ip_version = 0;
    st.run(b);
    CHECK(b.records[0].class_id == 0);
    CHECK(st.host.counter("streams_new") == 0);
}

TEST_CASE("the shipped classifiers survive every truncation of their payloads and random bytes") {
    Dir dir;
    for (const char* f : {"tls.so", "dns.so", "bittorrent.so", "ssl.pat", "http.pat", "edonkey.pat"}) dir.copy_shipped(f);
    Stage st({{"classifiers", dir.path}, {"classifier_table_num", "100000"}});
    REQUIRE_MESSAGE(st.inst, st.inst.error);
    const std::string hello = client_hello_with_sni("a-rather-long-server-name.example.com");
    const std::string query("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07""example\x03""com\x00\x00\x01\x00\x01", 33);
    const std::string bt = std::string("\x13", 1) + "BitTorrent protocol" + std::string(48, '\x01');
    std::uint16_t port = 1;
    Batch b;
    auto flush = [&] {
        st.run(b);
        b.clear();
    };
    for (const std::string* whole : {&hello, &query, &bt})
        for (std::size_t n = 1; n <= whole->size(); ++n) {
            b.add(1, port++, 2, 443, 6, kAck | kPsh, whole->substr(0, n));
            b.add(1, port++, 2, 53, 17, 0, whole->substr(0, n));
            if (b.records.size() >= 512) flush();
        }
    flush();
    // Lengths in a hello that point past the end: the parser must stop at the captured bytes.
    std::string lying = hello;
    for (std::size_t at = 5; at + 1 < lying.size(); at += 3) {
        std::string x = lying;
        x[at] = '\xff';
        x[at + 1] = '\xff';
        b.add(3, port++, 2, 443, 6, kAck | kPsh, x);
        if (b.records.size() >= 512) flush();
    }
    flush();
    std::uint64_t seed = 99;
    auto next = [&] {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<std::uint32_t>(seed >> 33);
    };
    for (int i = 0; i < 4000; ++i) {
        std::string payload(next() % 600 + 1, '\0');
        for (auto& c : payload) c = static_cast<char>(next());
        if (i % 3 == 0) payload[0] = '\x16';  // look like TLS now and then
        if (i % 3 == 1) payload.replace(0, std::min<std::size_t>(3, payload.size()), "\x16\x03\x01", std::min<std::size_t>(3, payload.size()));
        b.add(4, static_cast<std::uint16_t>(i), 5, static_cast<std::uint16_t>(i % 7 + 1), i % 2 ? 6 : 17, kAck, payload);
        if (b.records.size() >= 512) flush();
    }
    flush();
    CHECK(st.host.counter("streams_new") > 4000);
    CHECK(st.host.counter("streams_classified") > 0);
}
