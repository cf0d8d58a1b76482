#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian packages as an administrator and a third party meet them: builds them
# (packaging/build-deb.sh), checks lintian, installs them with dpkg -i, runs the daemon from the
# packaged configuration on the packaged capture (dropping to user flowacct), removes
# flowacct-pgsql and sees a pgsql pipeline refused with the package to install, checks the pmacct
# names, builds an out-of-tree module against the installed flowacct-dev (find_package and
# pkg-config) and runs it, then purges everything.
# Usage: debian_packages.sh [DEB_DIR]  With DEB_DIR holding already built packages, skips the build.
# Needs root (it installs packages on this machine) and debhelper, lintian, cmake, g++.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "SKIP: installs packages, needs root"; exit 77; }
for tool in dpkg-buildpackage dh lintian cmake g++ pkg-config; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (apt-get install debhelper lintian cmake g++ pkgconf)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/flowacct-pkgtest-XXXXXX)
PACKAGES="flowacct-pmacct-compat flowacct-dev flowacct-classifiers flowacct-sqlite3 flowacct-mysql flowacct-pgsql flowacct"
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  # Leave the machine as found: no flowacct package, whatever failed.
  dpkg -P $PACKAGES >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"; pass "$3"; }
expect_contains() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$3: '$2' not found in $1"; }; pass "$3"; }
expect_lacks() { ! grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$3: '$2' found in $1"; }; pass "$3"; }
# Sums a column, by header name, of a CSV file (separator $3, default ',').
sum_csv() { awk -F"${3:-,}" -v col="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } c { s += $c } END { print s + 0 }' "$1"; }
# Sums a column, by header name, of a formatted report.
sum_formatted() { awk -v col="$2" 'NR==1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next } c && NF { s += $c } END { print s + 0 }' "$1"; }
# Totals of the sample capture (etc/samples/README.md).
PACKETS=2548 BYTES=1138079 FLOWS=490
SAMPLE=/usr/share/flowacct/samples/sample.pcap

dpkg-query -W -f='${Status}\n' flowacct 2>/dev/null | grep -q "install ok installed" &&
  fail "flowacct is already installed here: this test installs and purges it; remove it first"

# ---- build --------------------------------------------------------------------------------------
DEBS=${1:-}
if [ -z "$DEBS" ]; then
  DEBS=$WORK/debs
  start=$(date +%s)
  bash "$SRC/packaging/build-deb.sh" "$DEBS" >/dev/null || fail "dpkg-buildpackage -us -uc -b"
  pass "packages built in $(( $(date +%s) - start )) s"
fi
deb() { ls "$DEBS"/"$1"_*.deb 2>/dev/null | head -1; }
for p in $PACKAGES; do [ -f "$(deb "$p")" ] || fail "package $p built"; done
pass "all seven packages built"

lintian --no-tag-display-limit "$DEBS"/*.changes >"$WORK/lintian" 2>&1 || true
if grep -q '^E:' "$WORK/lintian"; then cat "$WORK/lintian" >&2; fail "lintian shows no errors"; fi
pass "lintian: no errors ($(grep -c '^W:' "$WORK/lintian" || true) warnings)"

# Each SQL package depends on its own client library only, through ${shlibs:Depends}.
check_sql_deps() { # package, module, library it needs, libraries it must not need
  local pkg=$1 so=$2 want=$3; shift 3
  local deps
  deps=$(dpkg-deb -f "$(deb "$pkg")" Depends)
  if [[ $(dpkg-deb -c "$(deb "$pkg")") == *"modules/$so"* ]]; then
    [[ $deps == *"$want"* ]] || fail "$pkg depends on $want (Depends: $deps)"
    for other in "$@"; do [[ $deps != *"$other"* ]] || fail "$pkg does not depend on $other (Depends: $deps)"; done
    pass "$pkg holds $so and depends on $want only"
  else
    echo "note: $so not built, $pkg holds only the schemas"
  fi
}
check_sql_deps flowacct-pgsql output_pgsql.so libpq5 libmariadb libsqlite3
check_sql_deps flowacct-mysql output_mysql.so libmariadb libpq5 libsqlite3
check_sql_deps flowacct-sqlite3 output_sqlite3.so libsqlite3 libpq5 libmariadb
flowacct_deps=$(dpkg-deb -f "$(deb flowacct)" Depends)
for lib in libpq5 libmariadb libsqlite3 libre2; do
  [[ $flowacct_deps != *"$lib"* ]] || fail "flowacct does not depend on $lib (Depends: $flowacct_deps)"
done
pass "flowacct needs no database or regex library"
expect_eq "$(dpkg-deb -f "$(deb flowacct-pmacct-compat)" Conflicts)" "pmacct" "flowacct-pmacct-compat conflicts with pmacct"

# ---- install ------------------------------------------------------------------------------------
install_list=()
for p in flowacct flowacct-pgsql flowacct-mysql flowacct-sqlite3 flowacct-classifiers flowacct-dev; do
  install_list+=("$(deb "$p")")
done
dpkg -i "${install_list[@]}" >"$WORK/dpkg-i" 2>&1 || { cat "$WORK/dpkg-i" >&2; fail "dpkg -i"; }
pass "dpkg -i of six packages"
[ -x /usr/sbin/flowacctd ] && [ -x /usr/bin/flowacct ] || fail "daemon and client installed"
getent passwd flowacct >/dev/null || fail "system user flowacct created"
for d in /var/lib/flowacct /var/lib/flowacct/sql /var/log/flowacct; do
  expect_eq "$(stat -c '%U:%G %a' "$d")" "root:flowacct 2770" "$d writable by root and group flowacct"
done
expect_eq "$(stat -c '%U:%G %a' /etc/flowacct/flowacct.conf)" "root:flowacct 640" "configuration readable by root and group flowacct only"
[ -d /run/flowacct ] || fail "/run/flowacct created (tmpfiles)"
for m in flowacctd.8 flowacct.1 flowacct.conf.5; do
  man -w "${m%.*}" >/dev/null 2>&1 || man -w "${m##*.}" "${m%.*}" >/dev/null 2>&1 || fail "manual $m installed"
done
pass "manuals flowacctd(8), flowacct(1), flowacct.conf(5) installed"
systemd-analyze verify /lib/systemd/system/flowacctd@.service >"$WORK/verify" 2>&1 ||
  { cat "$WORK/verify" >&2; fail "systemd-analyze verify flowacctd@.service"; }
grep -E '^(CapabilityBoundingSet|NoNewPrivileges|ProtectSystem|ExecStart)=' /lib/systemd/system/flowacctd@.service >"$WORK/unit"
expect_contains "$WORK/unit" "ExecStart=/usr/sbin/flowacctd -f /etc/flowacct/%i.conf" "unit runs one instance per /etc/flowacct/NAME.conf"
expect_contains "$WORK/unit" "ProtectSystem=strict" "unit protects the system"
/usr/sbin/flowacctd --list-modules >"$WORK/list" 2>&1 || { cat "$WORK/list" >&2; fail "--list-modules"; }
for m in "input       pcap" "aggregator  hash" "output      memory" "output      print"; do
  expect_contains "$WORK/list" "$m" "installed daemon finds '$m'"
done

# ---- the packaged configuration on the packaged capture ---------------------------------------
rm -f /var/lib/flowacct/flowacct-protos.txt
/usr/sbin/flowacctd -f /etc/flowacct/flowacct.conf -I "$SAMPLE" -W 2>"$WORK/daemon.log" &
daemon_pid=$!
sock=/run/flowacct/flowacct.pipe
got=0
for _ in $(seq 1 200); do
  if [ -S "$sock" ] && /usr/bin/flowacct -s -O csv -p "$sock" >"$WORK/table.csv" 2>/dev/null; then
    got=$(sum_csv "$WORK/table.csv" PACKETS)
    [ "$got" = "$PACKETS" ] && break
  fi
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$WORK/daemon.log" >&2; fail "daemon runs from /etc/flowacct/flowacct.conf"; }
  sleep 0.1
done
expect_eq "$got" "$PACKETS" "memory table at /run/flowacct/flowacct.pipe holds the capture's packets"
expect_eq "$(sum_csv "$WORK/table.csv" BYTES)" "$BYTES" "memory table holds the capture's bytes"
uid=$(awk '/^Uid:/ { print $3 }' "/proc/$daemon_pid/status")
expect_eq "$uid" "$(id -u flowacct)" "daemon runs as user flowacct after opening the capture"
expect_eq "$(awk '/^CapEff:/ { print $2 }' "/proc/$daemon_pid/status")" "0000000000000000" "daemon keeps no capability"
kill -TERM "$daemon_pid"
rc=0; wait "$daemon_pid" || rc=$?
daemon_pid=
expect_eq "$rc" 0 "daemon stops cleanly on SIGTERM"
report=/var/lib/flowacct/flowacct-protos.txt
[ -s "$report" ] || { cat "$WORK/daemon.log" >&2; fail "report $report written at exit"; }
expect_eq "$(sum_formatted "$report" PACKETS) $(sum_formatted "$report" FLOWS) $(sum_formatted "$report" BYTES)" \
  "$PACKETS $FLOWS $BYTES" "report per protocol flushed at SIGTERM: packets, flows, bytes"

# ---- SQLite under the unit's umask: files made before the drop (journal lock), and after ------
if [ -f /usr/lib/flowacct/modules/output_sqlite3.so ]; then
  db=/var/lib/flowacct/acct.db
  (umask 0007 && python3 -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).executescript(open(sys.argv[2]).read())' \
    "$db" /usr/share/flowacct/sql/sqlite3/acct_v9.sql) || fail "schema from flowacct-sqlite3 loads"
  # SQLite creates files 0644 whatever the umask: an administrator hands the database to the daemon.
  chown flowacct:flowacct "$db"
  printf 'user: flowacct\npcap_savefile: %s\nplugins: sqlite3\naggregate: src_host, dst_host, proto\nsql_db: %s\nsql_table_version: 9\n' \
    "$SAMPLE" "$db" >"$WORK/lite.conf"
  (umask 0007 && exec /usr/sbin/flowacctd -f "$WORK/lite.conf") 2>"$WORK/lite.log" ||
    { cat "$WORK/lite.log" >&2; fail "sqlite3 pipeline running as flowacct, default journal directory"; }
  totals=$(python3 -c 'import sqlite3,sys; print(*sqlite3.connect(sys.argv[1]).execute("SELECT SUM(packets), SUM(bytes) FROM acct_v9").fetchone())' "$db")
  [ "$totals" = "$PACKETS $BYTES" ] || { cat "$WORK/lite.log" >&2; ls -la /var/lib/flowacct /var/lib/flowacct/sql >&2; }
  expect_eq "$totals" \
    "$PACKETS $BYTES" "sqlite3 output writes the capture's totals after dropping to flowacct"
fi

# ---- a pgsql pipeline without flowacct-pgsql --------------------------------------------------
printf 'pcap_savefile: %s\nplugins: pgsql\naggregate: proto\n' "$SAMPLE" >"$WORK/pgsql.conf"
if [ -f /usr/lib/flowacct/modules/output_pgsql.so ]; then
  /usr/sbin/flowacctd -f "$WORK/pgsql.conf" --dry-run >"$WORK/with.log" 2>&1 || true
  expect_lacks "$WORK/with.log" "is not installed" "with flowacct-pgsql the pgsql module loads"
fi
dpkg -r flowacct-pgsql >/dev/null || fail "dpkg -r flowacct-pgsql"
[ ! -e /usr/lib/flowacct/modules/output_pgsql.so ] || fail "output_pgsql.so removed with its package"
rc=0; /usr/sbin/flowacctd -f "$WORK/pgsql.conf" >"$WORK/without.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a pgsql pipeline fails at start without flowacct-pgsql"
expect_contains "$WORK/without.log" "module pgsql is not installed" "the error names the missing module"
expect_contains "$WORK/without.log" "(package flowacct-pgsql)" "the error names the package to install"
echo "   -> $(head -1 "$WORK/without.log")"

# ---- pmacct's names (extracted: Debian's pmacct, which it conflicts with, may be installed) -----
X=$WORK/compat
dpkg-deb -x "$(deb flowacct)" "$X"
dpkg-deb -x "$(deb flowacct-pmacct-compat)" "$X"
for n in usr/sbin/pmacctd usr/sbin/nfacctd usr/sbin/sfacctd; do
  expect_eq "$(readlink "$X/$n")" flowacctd "$n -> flowacctd"
done
expect_eq "$(readlink "$X/usr/bin/pmacct")" flowacct "usr/bin/pmacct -> flowacct"
[ -e "$X/usr/share/man/man8/pmacctd.8.gz" ] || fail "pmacctd(8) links to flowacctd(8)"
# pmacctd reads packets with no input named: the name picks pcap, as pmacct's pmacctd.
"$X/usr/sbin/pmacctd" -P print -c proto -O csv -o "$WORK/pmacctd.csv" -I "$X$SAMPLE" 2>"$WORK/pmacctd.log" ||
  { cat "$WORK/pmacctd.log" >&2; fail "pmacctd runs"; }
expect_eq "$(sum_csv "$WORK/pmacctd.csv" PACKETS)" "$PACKETS" "pmacctd (link) accounts the capture with the pcap input"
"$X/usr/bin/pmacct" -h >"$WORK/pmacct.help"
expect_contains "$WORK/pmacct.help" "-N" "pmacct (link) answers pmacct's client flags"

# ---- out-of-tree modules against the installed flowacct-dev -----------------------------------
cmake -S "$SRC/tests/packaging/oot_module" -B "$WORK/oot" >"$WORK/oot.log" 2>&1 &&
  cmake --build "$WORK/oot" >>"$WORK/oot.log" 2>&1 || { cat "$WORK/oot.log" >&2; fail "find_package(FlowacctSDK) build"; }
expect_contains "$WORK/oot.log" "modules install into /usr/lib/flowacct/modules" "FlowacctSDK gives the module install directory"
[ -f "$WORK/oot/classifier_ootcmake.so" ] || fail "flowacct_add_module built classifier_ootcmake.so"
pass "out-of-tree build with find_package(FlowacctSDK) and flowacct_add_module"
expect_eq "$(pkg-config --variable=moduledir flowacct-sdk)" /usr/lib/flowacct/modules "pkg-config moduledir"
# shellcheck disable=SC2046
g++ -std=c++17 -O2 -fPIC -shared -Wl,--no-undefined $(pkg-config --cflags flowacct-sdk) $(pkg-config --variable=module_cflags flowacct-sdk) -DOOT_NAME='"ootpc"' -DOOT_TAG2 \
  "$SRC/tests/packaging/oot_module/proto_tag.cpp" -o "$WORK/classifier_ootpc.so" || fail "pkg-config build"
pass "out-of-tree build with pkg-config --cflags flowacct-sdk"
nm -D --defined-only "$WORK/classifier_ootpc.so" | grep -v ' flowacct_module_v1$' | grep -c ' [TDBW] ' >/dev/null &&
  fail "the pkg-config build exports only flowacct_module_v1"
pass "the pkg-config build exports only flowacct_module_v1"
mods=$WORK/mods
mkdir -p "$mods"
cp /usr/lib/flowacct/modules/*.so "$WORK/oot/classifier_ootcmake.so" "$WORK/classifier_ootpc.so" "$mods"/
chmod 755 "$mods"
cat >"$WORK/oot.conf" <<CONF
pcap_savefile: $SAMPLE
module_path: $mods
plugins: print
stages: ootcmake, ootpc
aggregate: proto, tag, tag2
print_output: csv
print_output_file: $WORK/oot.csv
CONF
/usr/sbin/flowacctd -f "$WORK/oot.conf" 2>"$WORK/oot-run.log" || { cat "$WORK/oot-run.log" >&2; fail "daemon with the out-of-tree stages"; }
expect_eq "$(sum_csv "$WORK/oot.csv" PACKETS)" "$PACKETS" "out-of-tree stages see every packet"
awk -F, 'NR==1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
  { p = $h["PROTOCOL"]; want = p == "tcp" ? 1 : p == "udp" ? 2 : 3
    if ($h["TAG"] != want || $h["TAG2"] != want) { print "row " NR ": " $0; bad = 1 } }
  END { exit bad }' "$WORK/oot.csv" || { cat "$WORK/oot.csv" >&2; fail "tags set by the out-of-tree stages"; }
pass "both out-of-tree stages tag every row by protocol"

# ---- purge --------------------------------------------------------------------------------------
dpkg -P $PACKAGES >"$WORK/purge" 2>&1 || { cat "$WORK/purge" >&2; fail "dpkg -P"; }
for p in $PACKAGES; do
  ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q installed || fail "$p purged"
done
for f in /usr/sbin/flowacctd /etc/flowacct /var/lib/flowacct /usr/lib/flowacct /usr/include/flowacct; do
  [ ! -e "$f" ] || fail "$f removed by the purge"
done
pass "purge removes every package, the configuration and the daemon's data"
