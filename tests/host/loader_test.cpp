// SPDX-License-Identifier: GPL-2.0-or-later
// Module loading: every way a module can be refused, with one line naming the file and the reason.
#include <sys/stat.h>   // chmod

#include <doctest/doctest.h>

#include <filesystem>   // std::filesystem
#include <fstream>      // std::ofstream
#include <thread>       // std::this_thread::yield

#include "config.hpp"        // ConfigModel
#include "module_loader.hpp" // ModuleCatalog, ModuleLibrary, LoadError
#include "host_test_support.hpp" // ModuleDir, model_of, kModules, kTestModules
#include "runtime.hpp"       // Host

using namespace flowacct::host;
using namespace flowacct::host::test;
namespace fs = std::filesystem;

TEST_CASE("loader rejects a module built for another ABI major") {
    CHECK_THROWS_WITH_AS(ModuleLibrary::open(kTestModules / "output_badabi.so"),
                         doctest::Contains("output_badabi.so: ABI major 2, host supports 1"), LoadError);
}

TEST_CASE("loader rejects a shared object without the module symbol") {
    CHECK_THROWS_WITH_AS(ModuleLibrary::open(kTestModules / "output_badsym.so"),
                         doctest::Contains("not a flowacct module (no symbol flowacct_module_v1)"), LoadError);
}

TEST_CASE("loader rejects a corrupt file without crashing") {
    CHECK_THROWS_WITH_AS(ModuleLibrary::open(kTestModules / "output_corrupt.so"),
                         doctest::Contains("output_corrupt.so: cannot load"), LoadError);
}

TEST_CASE("loader rejects a module of the wrong kind for its place") {
    ModuleDir d({kTestModules / "output_badkind.so", kModules / "output_print.so"});
    ModuleCatalog c(d.dir);
    CHECK_THROWS_WITH_AS(c.load("badkind", FA_KIND_OUTPUT), doctest::Contains("is an input module, expected output"),
                         LoadError);
    CHECK_THROWS_WITH_AS(c.load("print", FA_KIND_INPUT), doctest::Contains("module print is an output module, not an input"),
                         LoadError);
}

TEST_CASE("a missing module names its package") {
    ModuleDir d({kModules / "output_print.so"});
    ModuleCatalog c(d.dir);
    CHECK_THROWS_WITH_AS(c.load("pgsql", FA_KIND_OUTPUT), doctest::Contains("module pgsql is not installed"), LoadError);
    CHECK_THROWS_WITH_AS(c.load("pgsql", FA_KIND_OUTPUT), doctest::Contains("(package flowacct-pgsql)"), LoadError);
}

TEST_CASE("a world-writable module directory is refused") {
    ModuleDir d({kModules / "output_print.so"});
    chmod(d.dir.c_str(), 0777);
    ModuleCatalog c(d.dir);
    CHECK_THROWS_WITH_AS(c.load("print", FA_KIND_OUTPUT), doctest::Contains("world-writable"), LoadError);
}

TEST_CASE("a symlink that leaves the module directory is refused") {
    ModuleDir outside({kModules / "output_print.so"});
    ModuleDir d({});
    fs::create_symlink(outside.dir / "output_print.so", d.dir / "output_print.so");
    ModuleCatalog c(d.dir);
    CHECK_THROWS_WITH_AS(c.load("print", FA_KIND_OUTPUT), doctest::Contains("outside the module directory"), LoadError);
}

TEST_CASE("scan lists good modules and the reason for each bad one") {
    ModuleDir d({kModules / "output_print.so", kTestModules / "output_badabi.so", kTestModules / "output_corrupt.so"});
    ModuleCatalog c(d.dir);
    auto listing = c.scan();
    REQUIRE(listing.size() == 3);
    int good = 0, bad = 0;
    for (const auto& l : listing) (l.library ? good : bad)++;
    CHECK(good == 1);
    CHECK(bad == 2);
}

TEST_CASE("a module whose init fails is refused with its message and the daemon does not start") {
    ModuleDir d({kTestModules / "output_badinit.so", kTestModules / "input_testgen.so", kModules / "aggregator_hash.so"});
    Host host(model_of("inputs: testgen\nplugins: badinit[x]\n"), HostOptions{d.dir.string(), "flowacctd"});
    host.load();
    CHECK_THROWS_WITH(host.create_instances(), doctest::Contains("[x/badinit] cannot open the frobnicator"));
}

TEST_CASE("an output built against ABI minor 0 runs as a row output; its struct ends where it says") {
    ModuleDir d({kTestModules / "output_minor0.so", kTestModules / "input_testgen.so", kModules / "aggregator_hash.so"});
    Host host(model_of("inputs: testgen\nplugins: minor0[x]\n"), HostOptions{d.dir.string(), "flowacctd"});
    host.load();
    host.create_instances();
    host.start();
    while (!host.inputs_done()) std::this_thread::yield();
    CHECK(host.stop());
    CHECK(host.counters().value("pipeline/x", "rows_out", "") > 0);
    CHECK(host.stats_json().find("datagrams_in") == std::string::npos);
}

TEST_CASE("an output taking both rows and datagrams is refused by name") {
    ModuleDir d({kTestModules / "output_badboth.so", kTestModules / "input_testgen.so", kModules / "aggregator_hash.so"});
    Host host(model_of("inputs: testgen\nplugins: badboth[x]\n"), HostOptions{d.dir.string(), "flowacctd"});
    CHECK_THROWS_WITH(host.load(), doctest::Contains("pipeline x: output module badboth takes both rows and datagrams"));
}

TEST_CASE("a module that throws in its constructor is refused, not a crash") {
    ModuleDir d({kTestModules / "output_throws.so", kTestModules / "input_testgen.so", kModules / "aggregator_hash.so"});
    Host host(model_of("inputs: testgen\nplugins: throws[x]\n"), HostOptions{d.dir.string(), "flowacctd"});
    host.load();
    CHECK_THROWS_WITH(host.create_instances(), doctest::Contains("database on fire"));
}

TEST_CASE("unknown keys are errors with a suggestion; pmacct keys not built yet say so") {
    ModuleDir d({kTestModules / "input_testgen.so", kModules / "aggregator_hash.so", kModules / "output_print.so"});
    {
        Host host(model_of("inputs: testgen\nplugins: print\naggregat: src_host\n"), HostOptions{d.dir.string(), "x"});
        CHECK_THROWS_WITH(host.load(), doctest::Contains("test.conf:3: unknown key 'aggregat' (did you mean 'aggregate'?)"));
    }
    {
        Host host(model_of("inputs: testgen\nplugins: print\nbgp_daemon: true\n"), HostOptions{d.dir.string(), "x"});
        CHECK_THROWS_WITH(host.load(), doctest::Contains("test.conf:3: key 'bgp_daemon' is a pmacct key that flowacct does not support yet"));
    }
    {
        Host host(model_of("inputs: testgen\nplugins: print[a]\naggregate[b]: src_host\n"), HostOptions{d.dir.string(), "x"});
        CHECK_THROWS_WITH(host.load(), doctest::Contains("test.conf:3: key 'aggregate[b]' names no pipeline or input"));
    }
    {
        Host host(model_of("inputs: testgen\nplugins: print[a]\naggregate[a]: src_host, bogus\n"), HostOptions{d.dir.string(), "x"});
        host.load();
        CHECK_THROWS_WITH(host.create_instances(), doctest::Contains("test.conf:3: [a/hash] key 'aggregate': unknown primitive 'bogus'"));
    }
}

TEST_CASE("keys of installed modules no pipeline uses are accepted; suggestions come from every module") {
    ModuleDir d({kTestModules / "input_testgen.so", kModules / "aggregator_hash.so", kModules / "output_print.so",
                 kModules / "output_sqlite3.so"});
    {
        // sql_db belongs to the sqlite3 output, which is installed but not in `plugins`.
        Host host(model_of("inputs: testgen\nplugins: print\nsql_db: /tmp/x.db\n"), HostOptions{d.dir.string(), "x"});
        CHECK_NOTHROW(host.load());
    }
    {
        Host host(model_of("inputs: testgen\nplugins: print\nsql_dbb: /tmp/x.db\n"), HostOptions{d.dir.string(), "x"});
        CHECK_THROWS_WITH(host.load(), doctest::Contains("test.conf:3: unknown key 'sql_dbb' (did you mean 'sql_db'?)"));
    }
}

TEST_CASE("the input is chosen by the daemon name or by pmacct's keys") {
    ModuleDir d({kModules / "aggregator_hash.so", kModules / "output_print.so"});
    // No netflow module in this directory: the error names the module the keys chose.
    Host a(model_of("nfacctd_port: 2100\nplugins: print\n"), HostOptions{d.dir.string(), "flowacctd"});
    CHECK_THROWS_WITH(a.load(), doctest::Contains("module netflow is not installed"));
    Host b(model_of("plugins: print\n"), HostOptions{d.dir.string(), "sfacctd"});
    CHECK_THROWS_WITH(b.load(), doctest::Contains("module sflow is not installed"));
    Host c(model_of("plugins: print\n"), HostOptions{d.dir.string(), "flowacctd"});
    CHECK_THROWS_WITH(c.load(), doctest::Contains("module pcap is not installed"));
}
