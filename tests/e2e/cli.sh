#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon's command line: --dry-run, --print-config round trip, errors and exit codes.
source "$(dirname "$0")/lib.sh"
MODS=$(make_moddir)
cat > "$WORK/ok.conf" <<CONF
! pmacct style
inputs: testgen
plugins: print[a], print[b]
aggregate: src_host
aggregate[b]: dst_host, proto
print_output[b]: csv
CONF
"$DAEMON" -f "$WORK/ok.conf" --module-path "$MODS" --dry-run >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "dry run of a valid configuration"; }
expect_contains "$WORK/out" "configuration OK" "dry run of a valid configuration"

"$DAEMON" -f "$WORK/ok.conf" --print-config >"$WORK/n1.yaml"
"$DAEMON" -f "$WORK/n1.yaml" --print-config >"$WORK/n2.yaml"
cmp -s "$WORK/n1.yaml" "$WORK/n2.yaml" || { diff "$WORK/n1.yaml" "$WORK/n2.yaml"; fail "normalized YAML is stable"; }
pass "normalized YAML reads back to the same configuration"
"$DAEMON" -f "$WORK/n1.yaml" --module-path "$MODS" --dry-run >/dev/null || fail "normalized YAML is valid"
pass "normalized YAML is a valid configuration"

printf 'inputs: testgen\nplugins: print\naggregate: src_host\nprint_refesh_time: 10\n' >"$WORK/typo.conf"
if "$DAEMON" -f "$WORK/typo.conf" --module-path "$MODS" --dry-run 2>"$WORK/err"; then fail "a typo must fail"; fi
expect_contains "$WORK/err" "typo.conf:4: unknown key 'print_refesh_time' (did you mean 'print_refresh_time'?)" "a typo is an error naming file, line and the nearest key"

printf 'inputs: testgen\nplugins: print\naggregate: src_host\nsql_host: localhost\nkafka_topic: x\n' >"$WORK/pm.conf"
if "$DAEMON" -f "$WORK/pm.conf" --module-path "$MODS" --dry-run 2>"$WORK/err"; then fail "an unsupported pmacct key must fail"; fi
expect_contains "$WORK/err" "does not support yet" "a pmacct key not built yet is a clear error"

printf 'inputs: testgen\nplugins: nosuch[x]\n' >"$WORK/mod.conf"
if "$DAEMON" -f "$WORK/mod.conf" --module-path "$MODS" 2>"$WORK/err"; then fail "a missing module must fail"; fi
expect_contains "$WORK/err" "pipeline x: module nosuch is not installed" "a missing module is named"

if "$DAEMON" -f "$WORK/nonexistent.conf" 2>"$WORK/err"; then fail "a missing file must fail"; fi
expect_contains "$WORK/err" "cannot read the configuration file" "a missing configuration file is reported"

# Switches override the file: -c replaces every aggregate, -P the plugins.
"$DAEMON" -f "$WORK/ok.conf" -c proto -P 'print[z]' --print-config >"$WORK/ov.yaml"
expect_contains "$WORK/ov.yaml" "aggregate: proto" "-c overrides the file's aggregate"
expect_contains "$WORK/ov.yaml" 'plugins: "print[z]"' "-P overrides the file's plugins"
if grep -q "dst_host" "$WORK/ov.yaml"; then fail "-c must also replace per-pipeline aggregates"; fi
"$DAEMON" -V | grep -q "flowacctd" || fail "-V prints the version"
"$DAEMON" --list-modules --module-path "$MODS" >"$WORK/list"
expect_contains "$WORK/list" "aggregator  hash" "--list-modules lists the aggregator"
expect_contains "$WORK/list" "output      print" "--list-modules lists print"
