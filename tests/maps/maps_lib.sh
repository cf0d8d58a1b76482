# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the map examples' end-to-end tests (sourced after tests/e2e/lib.sh).
CLIENT=$BUILD/bin/flowacct
SAMPLE=$SRC/etc/samples/sample.pcap

# Copies etc/examples/<name> to the scratch directory, pointing it at the sample capture.
copy_example() {
  local dir=$WORK/$1
  cp -r "$SRC/etc/examples/$1" "$dir"
  sed -i "s|^pcap_savefile: .*|pcap_savefile: $SAMPLE|" "$dir/flowacct.conf"
  echo "$dir"
}

# Waits (bounded by time, 60 s) until the memory table behind $1 holds $2 bytes in total.
table_bytes() {
  "$CLIENT" -p "$1" -s -O csv 2>/dev/null | awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "BYTES") c = i; next } { s += $c } END { print s + 0 }' || true
}
table_holds() { [ "$(table_bytes "$1")" == "$2" ]; }
wait_total() {
  poll 60 table_holds "$1" "$2" || fail "memory table $1 holds $(table_bytes "$1") bytes, expected $2"
}

# Runs the sample capture through a print pipeline aggregated on $2 into CSV file $1.
hosts_csv() {
  cat >"$WORK/hosts.conf" <<CONF
pcap_savefile: $SAMPLE
plugins: print[h]
aggregate[h]: $2
print_output[h]: csv
print_output_file[h]: $1
print_refresh_time: 3600
CONF
  "$DAEMON" -f "$WORK/hosts.conf" --module-path "$MODS" 2>"$WORK/hosts.log" || fail "reference run"
}
