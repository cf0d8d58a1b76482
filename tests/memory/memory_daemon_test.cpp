// SPDX-License-Identifier: GPL-2.0-or-later
// The memory output inside the real daemon: flowacctd with the testgen input and the hash
// aggregator fills two tables, and the flowacct client reads exact totals back.
#include <signal.h>       // kill, SIGTERM
#include <sys/wait.h>     // waitpid
#include <unistd.h>       // fork, execv

#include <chrono>         // std::chrono
#include <filesystem>     // std::filesystem
#include <fstream>        // std::ofstream
#include <thread>         // std::this_thread

#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include "memory_support.hpp" // flowacct_client, unique_socket_path

namespace fs = std::filesystem;
using namespace flowacct::test;

namespace {

struct Daemon {
    fs::path dir;
    pid_t pid = -1;

    explicit Daemon(const std::string& config_text) {
        char tmpl[] = "/tmp/fa-mem-daemon-XXXXXX";
        dir = ::mkdtemp(tmpl);
        const fs::path modules = dir / "modules";
        fs::create_directory(modules);
        fs::copy_file(fs::path(FLOWACCT_TEST_BINARY_DIR) / "tests/modules/input_testgen.so", modules / "input_testgen.so");
        fs::copy_file(fs::path(FLOWACCT_TEST_MODULE_DIR) / "aggregator_hash.so", modules / "aggregator_hash.so");
        fs::copy_file(fs::path(FLOWACCT_TEST_MODULE_DIR) / "output_memory.so", modules / "output_memory.so");
        std::ofstream(dir / "flowacct.conf") << config_text;
        const std::string daemon = std::string(FLOWACCT_TEST_BINARY_DIR) + "/sbin/flowacctd";
        const std::string conf = (dir / "flowacct.conf").string();
        const std::string mods = modules.string();
        const std::string log = (dir / "log").string();
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::FILE* f = std::freopen(log.c_str(), "w", stderr);
            (void)f;
            ::execl(daemon.c_str(), daemon.c_str(), "-f", conf.c_str(), "--module-path", mods.c_str(), nullptr);
            _exit(127);
        }
    }
    ~Daemon() {
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            int status = 0;
            ::waitpid(pid, &status, 0);
        }
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

// Polls `args` until it prints `want` or 60 s pass (a sanitized daemon on a loaded machine starts
// slowly); returns the last output.
std::string wait_for(const std::vector<std::string>& args, const std::string& want) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string last;
    while (std::chrono::steady_clock::now() < until) {
        last = flowacct_client(args).out;
        if (last == want) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return last;
}

} // namespace

TEST_CASE("flowacctd fills memory tables that flowacct reads back exactly") {
    const std::string a = unique_socket_path(), b = unique_socket_path();
    Daemon d("inputs: testgen\n"
             "testgen_records: 10000\n"
             "testgen_keys: 50\n"
             "testgen_stay: true\n"
             "plugins: memory[a], memory[b]\n"
             "aggregate[a]: src_host, dst_port, proto, flows\n"
             "aggregate[b]: dst_host\n"
             "imt_path[a]: " + a + "\n"
             "imt_path[b]: " + b + "\n");
    // Record i: dst 192.168.0.(i%7), 1 packet, 100 + i%10 bytes, a flow every 4th record.
    std::string all_dst;
    for (int i = 0; i < 7; ++i) all_dst += (i ? ";" : "") + std::string("192.168.0.") + std::to_string(i);
    CHECK(wait_for({"-c", "dst_host", "-N", all_dst, "-S", "-n", "all", "-p", b}, "10000 1045000 2500\n") ==
          "10000 1045000 2500\n");
    // Pipeline a is independent of b (its own queue and table): wait for its total as well.
    CHECK(wait_for({"-c", "src_host", "-N", "*", "-n", "packets", "-p", a}, "10000\n") == "10000\n");
    // src 10.0.0.(i%50), dst_port 1000 + i%5, proto by i%2: 50 rows of 200 records each.
    ClientRun rows = flowacct_client({"-s", "-T", "packets,3", "-O", "csv", "-p", a});
    CHECK(rows.out.rfind("SRC_IP,DST_PORT,PROTOCOL,PACKETS,FLOWS,BYTES\n", 0) == 0);
    CHECK(rows.out.find(",200,") != std::string::npos);
    CHECK(flowacct_client({"-t", "-p", a}).out.find("entries: 50\n") != std::string::npos);
    const std::string one = flowacct_client({"-c", "dst_host", "-N", "192.168.0.3", "-p", b}).out;
    CHECK(flowacct_client({"-c", "dst_host", "-N", "192.168.0.3", "-r", "-p", b}).out == one);
    CHECK(flowacct_client({"-c", "dst_host", "-N", "192.168.0.3", "-p", b}).out == "0\n");
    ClientRun stats = flowacct_client({"-X", "-p", b});
    CHECK(stats.out.find("\"records_in\"") != std::string::npos);
}
