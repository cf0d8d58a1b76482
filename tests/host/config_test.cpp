// SPDX-License-Identifier: GPL-2.0-or-later
// Configuration: both spellings, precedence, errors with file and line.
#include <doctest/doctest.h>

#include "config.hpp" // ConfigModel, load_pmacct_text, load_yaml_text

using namespace flowacct::host;

namespace {
std::string value(const ConfigModel& m, const std::string& key, const std::string& instance = {}) {
    const Setting* s = m.find(key, instance);
    return s ? s->value : std::string("<unset>");
}
} // namespace

TEST_CASE("pmacct syntax: keys are case-insensitive, comments skipped, instances kept apart") {
    ConfigModel m;
    load_pmacct_text(m,
                     "! a comment\n"
                     "# another\n"
                     "  NFACCTD_PORT : 2100  \n"
                     "plugins: memory[a], memory[b], pgsql[c]\n"
                     "aggregate[a]: flows, dst_as\n"
                     "Imt_Path[a]: /tmp/a.pipe\n"
                     "aggregate[c]: sum_as\n",
                     "site.conf");
    CHECK(value(m, "nfacctd_port") == "2100");
    CHECK(value(m, "imt_path", "a") == "/tmp/a.pipe");
    CHECK(value(m, "imt_path", "b") == "<unset>");
    CHECK(value(m, "aggregate", "c") == "sum_as");
    auto p = m.plugins();
    REQUIRE(p.size() == 3);
    CHECK(p[0].module == "memory");
    CHECK(p[0].instance == "a");
    CHECK(p[2].module == "pgsql");
    CHECK(p[2].instance == "c");
}

TEST_CASE("a plugin without a name gets pmacct's default name") {
    ConfigModel m;
    load_pmacct_text(m, "plugins: print, memory[x]\n", "f");
    auto p = m.plugins();
    REQUIRE(p.size() == 2);
    CHECK(p[0].instance == "default_print");
    CHECK(p[1].instance == "x");
}

TEST_CASE("the instance key wins over the global key whatever the order of the lines") {
    for (const char* text : {"aggregate[a]: dst_host\naggregate: src_host\n", "aggregate: src_host\naggregate[a]: dst_host\n"}) {
        ConfigModel m;
        load_pmacct_text(m, text, "f");
        CHECK(value(m, "aggregate", "a") == "dst_host");
        CHECK(value(m, "aggregate", "b") == "src_host");
    }
}

TEST_CASE("the command line overrides the file, global and per-instance settings alike") {
    ConfigModel m;
    load_pmacct_text(m, "aggregate: src_host\naggregate[a]: dst_host\n", "f");
    m.override_all("aggregate", "proto");
    CHECK(value(m, "aggregate", "a") == "proto");
    CHECK(m.find("aggregate")->origin.file == "<command line>");
}

TEST_CASE("pmacct syntax errors name the file, the line and the expected form") {
    ConfigModel m;
    CHECK_THROWS_WITH_AS(load_pmacct_text(m, "plugins: print\n\nthis line has no colon\n", "x.conf"),
                         doctest::Contains("x.conf:3: expected 'key: value'"), ConfigError);
    CHECK_THROWS_WITH_AS(load_pmacct_text(m, "aggregate[a: src_host\n", "x.conf"),
                         doctest::Contains("x.conf:1: malformed key"), ConfigError);
    CHECK_THROWS_WITH_AS(load_pmacct_text(m, "aggregate:\n", "x.conf"),
                         doctest::Contains("x.conf:1: key 'aggregate' has no value"), ConfigError);
    CHECK_THROWS_WITH_AS(load_pmacct_text(m, "agg regate: x\n", "x.conf"), doctest::Contains("x.conf:1: bad key"),
                         ConfigError);
}

TEST_CASE("duplicate or malformed plugin names are errors") {
    ConfigModel m;
    load_pmacct_text(m, "plugins: memory[a], print[a]\n", "p.conf");
    CHECK_THROWS_WITH_AS(m.plugins(), doctest::Contains("p.conf:1: the name 'a' is used twice"), ConfigError);
    ConfigModel m2;
    load_pmacct_text(m2, "plugins: memory[a\n", "p.conf");
    CHECK_THROWS_AS(m2.plugins(), ConfigError);
}

TEST_CASE("YAML spelling loads into the same model") {
    ConfigModel a, b;
    load_pmacct_text(a,
                     "nfacctd_port: 2100\nplugins: memory[a], print[b]\naggregate: src_host, dst_host\n"
                     "aggregate[b]: proto\nimt_path[a]: /tmp/a.pipe\n",
                     "a.conf");
    load_yaml_text(b,
                   "nfacctd_port: 2100\n"
                   "plugins: [\"memory[a]\", \"print[b]\"]\n"
                   "aggregate: [src_host, dst_host]\n"
                   "aggregate[b]: proto\n"
                   "instances:\n"
                   "  a:\n"
                   "    imt_path: /tmp/a.pipe\n",
                   "b.yaml");
    for (const auto& [key, per] : a.all())
        for (const auto& [instance, setting] : per) CHECK(value(b, key, instance) == setting.value);
    CHECK(b.all().size() == a.all().size());
}

TEST_CASE("YAML errors carry the line number") {
    ConfigModel m;
    CHECK_THROWS_WITH_AS(load_yaml_text(m, "a: 1\nb: [unclosed\n", "y.yaml"), doctest::Contains("y.yaml:"), ConfigError);
    CHECK_THROWS_WITH_AS(load_yaml_text(m, "a: 1\nb:\n  c: {d: 1}\n", "y.yaml"),
                         doctest::Contains("y.yaml:2: key 'b'"), ConfigError);
    CHECK_THROWS_WITH_AS(load_yaml_text(m, "a: 1\nplugins:\n", "y.yaml"),
                         doctest::Contains("y.yaml:2: key 'plugins' has no value"), ConfigError);
}

TEST_CASE("normalized YAML reads back to the same model") {
    ConfigModel a;
    load_pmacct_text(a,
                     "plugins: memory[a], print[b]\naggregate: src_host, dst_host\naggregate[b]: proto\n"
                     "print_output_file[b]: /tmp/out-%Y%m%d.txt\nlabel_value: x\"y\n",
                     "a.conf");
    ConfigModel b;
    load_yaml_text(b, a.to_yaml(), "normalized.yaml");
    for (const auto& [key, per] : a.all())
        for (const auto& [instance, setting] : per) CHECK(value(b, key, instance) == setting.value);
}

TEST_CASE("nearest_key suggests a likely typo and nothing for a wild key") {
    std::vector<std::string> known = {"aggregate", "imt_path", "sql_refresh_time", "print_refresh_time"};
    CHECK(nearest_key("agregate", known).value_or("") == "aggregate");
    CHECK(nearest_key("sql_refresh_tme", known).value_or("") == "sql_refresh_time");
    CHECK_FALSE(nearest_key("zzzzzzzz", known).has_value());
}
