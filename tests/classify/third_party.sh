#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A classifier outside the tree builds against the installed SDK alone, with find_package
# (CMake) and with pkg-config (plain cc), and the installed daemon loads both and classifies with them.
source "$(dirname "$0")/../e2e/lib.sh"
P=$WORK/prefix
cmake --install "$BUILD" --prefix "$P" >/dev/null
[ -f "$P/include/flowacct/classifier.h" ] || fail "classifier.h is installed with the SDK"
pass "classifier.h is installed with the SDK"

# Copy the sources away from the tree so nothing but the prefix can be found.
cp -r "$(dirname "$0")/third_party" "$WORK/src"
cmake -S "$WORK/src" -B "$WORK/tp" -DCMAKE_PREFIX_PATH="$P" >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; fail "configure with find_package(FlowacctSDK)"; }
cmake --build "$WORK/tp" >>"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; fail "build with find_package(FlowacctSDK)"; }
pass "builds with find_package(FlowacctSDK)"
# --define-prefix: the .pc file names the configured prefix, not the one installed to.
CFLAGS=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --define-prefix --cflags flowacct-sdk) || fail "pkg-config flowacct-sdk"
cc $CFLAGS -DDEADBEEF_CLASS='"beef2"' -fPIC -shared -Wl,--no-undefined -o "$WORK/beef2.so" "$WORK/src/deadbeef.c" ||
  fail "build with pkg-config flowacct-sdk"
pass "builds with pkg-config flowacct-sdk"

"$BUILD/bin/flowacct-gen-classify" --streams 4 -o "$WORK/cls.pcap" >/dev/null
for variant in cmake pkgconfig; do
  d=$WORK/classifiers-$variant
  mkdir -m 755 "$d"
  if [ $variant = cmake ]; then cp "$WORK/tp/deadbeef.so" "$d/"; want=deadbeef; else cp "$WORK/beef2.so" "$d/"; want=beef2; fi
  cat > "$WORK/$variant.conf" <<CONF
pcap_savefile: $WORK/cls.pcap
snaplen: 600
classifiers: $d
plugins: print[c]
aggregate[c]: class, dst_port
print_output[c]: csv
print_output_file[c]: $WORK/$variant.csv
CONF
  "$P/sbin/flowacctd" -f "$WORK/$variant.conf" 2>"$WORK/$variant.log" || { cat "$WORK/$variant.log"; fail "installed daemon runs ($variant)"; }
  # The generator's first unknown stream (TCP to 5555) starts with 00 07 de ad be ef.
  expect_contains "$WORK/$variant.csv" "$want,5555" "installed daemon classifies with the $variant-built classifier"
  if grep -q "^$want,80," "$WORK/$variant.csv"; then fail "$want claims http streams"; fi
done
