#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A module built with clang and libc++ (tests/modules/cxxsink_output.cpp) is loaded and run by the
# GCC/libstdc++-built daemon: nothing of C++ crosses the module boundary.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
SINK=$BUILD/tests/modules/output_cxxsink.so
[ -f "$SINK" ] || fail "output_cxxsink.so was not built (clang++ and libc++ are required)"
cp "$SINK" "$MODS/"
objdump -p "$MODS/output_cxxsink.so" | grep -c 'NEEDED.*libc++' >/dev/null || fail "the test module links libc++"
pass "the test module is linked against libc++"
objdump -p "$DAEMON" | grep -c 'NEEDED.*libstdc++' >/dev/null || fail "the daemon links libstdc++"
pass "the daemon is linked against libstdc++"
cat > "$WORK/x.conf" <<CONF
inputs: testgen
testgen_records: 20000
testgen_keys: 300
plugins: cxxsink[c], print[p]
aggregate: src_host
cxxsink_file[c]: $WORK/c.txt
print_output_file[p]: $WORK/p.txt
CONF
"$DAEMON" -f "$WORK/x.conf" --module-path "$MODS" 2>"$WORK/log" || { cat "$WORK/log"; fail "run"; }
expect_contains "$WORK/c.txt" "keys 300 packets 20000 bytes 2090000" "the clang/libc++ module received every row"
expect_contains "$WORK/c.txt" "libc++" "the module ran its libc++ code"
expect_eq "$(sum_col "$WORK/p.txt" PACKETS)" 20000 "the GCC-built print module beside it got the same totals"
