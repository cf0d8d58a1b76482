// SPDX-License-Identifier: GPL-2.0-or-later
// `flowacct`: queries a memory output's table over its unix socket, with pmacct's client flags.
#include <cstdio>   // stdout, stderr
#include <string>   // std::string
#include <vector>   // std::vector

#include "client.hpp" // flowacct::client::run_client

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return flowacct::client::run_client(args, stdout, stderr);
}
