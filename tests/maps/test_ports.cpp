// SPDX-License-Identifier: GPL-2.0-or-later
// The "ports" stage: listed ports stay, others become 0; a bad reload keeps the list.
#include <doctest/doctest.h>  // TEST_CASE, CHECK

#include "fake_host.hpp"      // test::FakeHost, test::Instance, test::load_module
#include "maps_test_util.hpp" // maps_test::TempFile, flow

using namespace flowacct;

TEST_CASE("ports stage keeps listed ports, zeroes the others and reloads safely") {
    maps_test::TempFile f("! ports\n22\n80\n\n443\n");
    test::FakeHost host({{"ports_file", f.path()}});
    const fa_module_descriptor* d = test::load_module("classifier_ports.so");
    REQUIRE(d);
    test::Instance inst(d, host);
    REQUIRE(inst);
    auto ops = inst.ops<fa_classifier_ops>();
    fa_record r[2] = {maps_test::flow("10.0.0.1", "10.0.0.2"), maps_test::flow("10.0.0.1", "10.0.0.2")};
    r[0].src_port = 51000;
    r[0].dst_port = 443;
    r[1].src_port = 22;
    r[1].dst_port = 8080;
    ops->process(inst.get(), r, 2, nullptr);
    CHECK(r[0].src_port == 0);
    CHECK(r[0].dst_port == 443);
    CHECK(r[1].src_port == 22);
    CHECK(r[1].dst_port == 0);
    CHECK(host.counter("ports_zeroed") == 2);

    f.write("22\n80\nhttp\n");
    CHECK(ops->reload(inst.get()) == FA_ERROR);
    r[0].dst_port = 443;
    ops->process(inst.get(), r, 1, nullptr);
    CHECK(r[0].dst_port == 443); // the old list stays

    f.write("8080\n");
    CHECK(ops->reload(inst.get()) == FA_OK);
    r[0].dst_port = 443;
    r[1].dst_port = 8080;
    ops->process(inst.get(), r, 2, nullptr);
    CHECK(r[0].dst_port == 0);
    CHECK(r[1].dst_port == 8080);
}

TEST_CASE("ports stage refuses a port out of range naming file and line") {
    maps_test::TempFile f("22\n70000\n");
    test::FakeHost host({{"ports_file", f.path()}});
    test::Instance inst(test::load_module("classifier_ports.so"), host);
    CHECK_FALSE(inst);
    CHECK(inst.error.find(f.path() + ":2: expected a port") != std::string::npos);
}
