// SPDX-License-Identifier: GPL-2.0-or-later
// Datagram-only pipelines in the host: the inputs' datagrams reach them in order beside record
// pipelines; a full datagram queue counts drops per pipeline, or waits under backpressure.
#include <doctest/doctest.h>

#include <filesystem>   // std::filesystem
#include <fstream>      // std::ofstream
#include <chrono>       // std::chrono
#include <thread>       // std::this_thread::yield, sleep_for

#include "config.hpp"   // ConfigModel, load_pmacct_text
#include "host_test_support.hpp" // ModuleDir, model_of, kModules, kTestModules
#include "runtime.hpp"  // Host

using namespace flowacct::host;
using namespace flowacct::host::test;
namespace fs = std::filesystem;

namespace {

// The modules the datagram tests run.
struct Dir : ModuleDir {
    Dir() : ModuleDir({kTestModules / "output_dgcount.so", kTestModules / "input_testgen.so",
                       kModules / "aggregator_hash.so", kModules / "output_print.so"}) {}
};

std::uint64_t run_to_end(Host& host) {
    host.create_instances();
    host.start();
    while (!host.inputs_done()) std::this_thread::yield();
    return host.stop() ? 1 : 0;
}

} // namespace

TEST_CASE("a datagram-only pipeline gets every datagram in order, beside a record pipeline") {
    Dir d;
    Host host(model_of("inputs: testgen\ntestgen_records: 5000\nplugins: dgcount[d], print[p]\n"
                       "print_output_file[p]: " + (d.dir / "p.txt").string() + "\naggregate[p]: proto\n"),
              HostOptions{d.dir.string(), "flowacctd"});
    host.load();
    CHECK(run_to_end(host) == 1);
    auto& c = host.counters();
    CHECK(c.value("default_testgen/testgen", "datagrams_out") == 5000);
    CHECK(c.value("pipeline/d", "datagrams_in") == 5000);
    CHECK(c.value("d/dgcount", "datagrams_seen") == 5000);
    CHECK(c.value("d/dgcount", "datagrams_out_of_order") == 0);
    CHECK(c.value("pipeline/d", "records_in") == 0);   // no records, no aggregator
    CHECK(c.value("pipeline/p", "records_in") == 5000); // the record pipeline as before
    CHECK(c.value("pipeline/d", "datagrams_queue_dropped") == 0);
}

TEST_CASE("a stalled datagram pipeline drops what its queue cannot hold, and counts it") {
    Dir d;
    const fs::path hold = d.dir / "hold";
    std::ofstream(hold) << "x";
    // plugin_pipe_size 131072: a queue of 64 datagrams.
    Host host(model_of("inputs: testgen\ntestgen_records: 3000\ntestgen_backpressure: false\n"
                       "plugin_pipe_size: 131072\nplugins: dgcount[d]\ndgcount_hold: " + hold.string() + "\n"),
              HostOptions{d.dir.string(), "flowacctd"});
    host.load();
    host.create_instances();
    host.start();
    while (!host.inputs_done()) std::this_thread::yield();
    fs::remove(hold);
    CHECK(host.stop());
    auto& c = host.counters();
    const auto in = c.value("pipeline/d", "datagrams_in");
    const auto dropped = c.value("pipeline/d", "datagrams_queue_dropped");
    CHECK(dropped > 0);
    CHECK(in <= 64 + 256); // the queue, plus one burst the pipeline took before it stalled
    CHECK(in + dropped == 3000);
    CHECK(c.value("d/dgcount", "datagrams_seen") == in);
}

TEST_CASE("under backpressure a stalled datagram pipeline makes the input wait: nothing is lost") {
    Dir d;
    const fs::path hold = d.dir / "hold";
    std::ofstream(hold) << "x";
    Host host(model_of("inputs: testgen\ntestgen_records: 3000\ntestgen_backpressure: true\n"
                       "plugin_pipe_size: 131072\nplugins: dgcount[d]\ndgcount_hold: " + hold.string() + "\n"),
              HostOptions{d.dir.string(), "flowacctd"});
    host.load();
    host.create_instances();
    host.start();
    // The input cannot finish while the pipeline holds: it waits for queue room.
    for (int i = 0; i < 20; ++i) {
        CHECK_FALSE(host.inputs_done());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fs::remove(hold);
    while (!host.inputs_done()) std::this_thread::yield();
    CHECK(host.stop());
    auto& c = host.counters();
    CHECK(c.value("pipeline/d", "datagrams_in") == 3000);
    CHECK(c.value("pipeline/d", "datagrams_queue_dropped") == 0);
    CHECK(c.value("d/dgcount", "datagrams_out_of_order") == 0);
}

namespace {

// Reloads the dgcount output counted within 30 s (ample on a loaded machine), once `want` is reached.
std::uint64_t reloads_within(Host& host, std::uint64_t want) {
    const std::uint64_t* reloads = host.counters().slot("d/dgcount", "reloads", "");
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (__atomic_load_n(reloads, __ATOMIC_RELAXED) < want && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return __atomic_load_n(reloads, __ATOMIC_RELAXED);
}

} // namespace

TEST_CASE("a datagram pipeline's output reloads on SIGUSR2, and every maps_refresh seconds") {
    Dir d;
    for (bool periodic : {false, true}) {
        CAPTURE(periodic);
        Host host(model_of(std::string("inputs: testgen\ntestgen_records: 10\ntestgen_stay: true\nplugins: dgcount[d]\n") +
                           (periodic ? "maps_refresh: 1\n" : "")),
                  HostOptions{d.dir.string(), "flowacctd"});
        host.load();
        host.create_instances();
        host.start();
        if (periodic) {
            CHECK(reloads_within(host, 2) >= 2); // at 1 s and 2 s, with no signal
        } else {
            host.reload_maps(); // what SIGUSR2 does
            CHECK(reloads_within(host, 1) == 1);
        }
        CHECK(host.stop());
    }
}
