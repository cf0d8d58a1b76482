// SPDX-License-Identifier: GPL-2.0-or-later
// The `flowacct` query client as a library: pmacct's client flags in, the memory table's answer
// printed as pmacct prints it. main.cpp and the tests both call run_client().
#pragma once

#include <cstdint>   // std::uint32_t
#include <cstdio>    // std::FILE
#include <string>    // std::string
#include <vector>    // std::vector

namespace flowacct::client {

/// Runs one client invocation. `args` excludes the program name. Writes results to `out` and
/// messages to `err`; returns the process exit code (0 ok, 1 error). Any thread; no globals
/// (several may run at once in a test).
int run_client(const std::vector<std::string>& args, std::FILE* out, std::FILE* err);

/// The usage text printed by -h.
std::string usage();

} // namespace flowacct::client
