# SPDX-License-Identifier: GPL-2.0-or-later
# more.sh: sourced by bench/run after the savefile workloads: the memory output (queried with each
# tool's client), aggregation alone (flowacct-bench-agg) and UDP over loopback at rising rates.
# Uses bench/run's variables and functions (WORK, RUNS, MODS, DAEMON, MEASURE, record, conf, ...).
# Appends to $LOG (runs with a peer) and to $EXTRA (tables without one).
EXTRA=$WORK/runs/extra.md
: >"$EXTRA"

# memory_run TOOL DIR EXPECTED_PACKETS: one measured run of a memory table that keeps running after
# the savefile (pcap_savefile_wait); the table is queried every second until it holds every packet
# or stops growing (at most 120 s), then the daemon gets SIGINT (pmacct ignores SIGTERM here). Prints "rc cpu rss_kb" and leaves DIR/TOOL.p1.csv.
memory_run() {
  local tool=$1 dir=$2 exp=$3 tag=$4 client pid got=""
  rm -f "$dir/$tool.pid" "$dir/$tool.p1.csv" "$dir/$tool.pipe"
  if [ "$tool" = flowacct ]; then
    $MEASURE --timeout 300 --pidfile "$dir/$tool.pid" "$WORK/runs/$tag.m" -- \
      "$DAEMON" -f "$dir/flowacct.mem.conf" --module-path "$MODS" >"$WORK/runs/$tag.log" 2>&1 &
    client="$WORK/bin/flowacct"
  else
    $MEASURE --timeout 300 --pidfile "$dir/$tool.pid" "$WORK/runs/$tag.m" -- \
      pmacctd -f "$dir/pmacct.mem.conf" >"$WORK/runs/$tag.log" 2>&1 &
    client=pmacct
  fi
  local mpid=$!
  local prev="" stable=0
  # pmacct 1.7.7's memory plugin stops counting if it is queried while the savefile is being read
  # (31 packets, whatever the file): the first query comes after its 2 s sleep and the file
  sleep 5
  for _ in $(seq 1 120); do
    sleep 1
    [ -e "$dir/$tool.pipe" ] || continue
    timeout 20 "$client" -s -O csv -p "$dir/$tool.pipe" >"$dir/$tool.p1.csv" 2>/dev/null || continue
    got=$(csv_totals_n 1 <"$dir/$tool.p1.csv" | cut -d' ' -f2) || got=""
    [ "$got" = "$exp" ] && break
    # a table that stopped growing for 5 s will not grow (pmacct keeps its last, partly filled
    # plugin buffer until more traffic comes): the run ends, its totals decide
    if [ "$got" = "$prev" ] && [ "${got:-0}" -gt 0 ]; then stable=$((stable + 1)); else stable=0; fi
    prev=$got
    [ $stable -ge 5 ] && break
  done
  pid=$(cat "$dir/$tool.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill -INT "$pid" 2>/dev/null || true; fi
  wait "$mpid" || true
  awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } } END { print (v["rc"] == 0 || v["rc"] == -15 ? 0 : v["rc"]), v["cpu"], v["rss_kb"] }' "$WORK/runs/$tag.m"
}

if want memory; then
  say "memory"
  dir=$WORK/runs/memory
  mkdir -p "$dir"
  for t in flowacct pmacct; do
    { conf "$t" pcap "$WORK/wl/pcap.pcap" "$AGG5" 1 "$dir" $((FLOWS * 2)) | grep -v '^print_\|^plugins:'
      echo "plugins: memory[p1]"
      echo "pcap_savefile_wait: true"
      echo "imt_path: $dir/$t.pipe"
      echo "imt_mem_pools_number: 0"
    } >"$dir/$t.mem.conf"
  done
  expect=""
  for r in $(seq 1 "$RUNS"); do
    for t in flowacct pmacct; do
      res=$(memory_run "$t" "$dir" "$PC_P" "memory.$t.$r")
      got=$(csv_totals_n 1 <"$dir/$t.p1.csv" 2>/dev/null) || got="no table"
      [ -z "$expect" ] && expect="$(echo "$got" | cut -d' ' -f1) $PC_P $PC_B"
      # shellcheck disable=SC2086
      record memory "$t" "$r" "$PC_F" $res "$got" "$expect"
    done
  done
fi

if want aggonly && [ -x "$WORK/bin/flowacct-bench-agg" ]; then
  say "aggregation alone"
  {
    echo "Aggregation alone (flowacct-bench-agg: the hash aggregator fed batches from memory, one thread;"
    echo "no pmacct equivalent), $AGG_RECORDS records, median (min-max) of $RUNS runs:"
    echo
    echo "| primitives | keys | records/CPU-s | ns/record | peak RSS MB |"
    echo "|---|---|---|---|---|"
  } >>"$EXTRA"
  for p in 2 5 9; do
    for k in $AGG_KEYS; do
      for r in $(seq 1 "$RUNS"); do
        (cd "$BUILD/bin" && ./flowacct-bench-agg --records "$AGG_RECORDS" --keys "$k" --primitives "$p") || echo "failed"
      done | awk -v p="$p" -v k="$k" '
        /failed/ { bad++ }
        { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        /records_per_s/ { n++; r[n] = v["records_per_s"]; ns[n] = v["ns_per_record"]; rss = v["peak_rss_mb"] }
        END { for (i = 2; i <= n; i++) { t = r[i]; u = ns[i]; for (j = i - 1; j >= 1 && r[j] > t; j--) { r[j + 1] = r[j]; ns[j + 1] = ns[j] } r[j + 1] = t; ns[j + 1] = u }
              if (!n) { printf "| %d | %d | FAIL | - | - |\n", p, k; exit }
              printf "| %d | %d | %.1f M (%.1f-%.1f M) | %.1f | %.0f |%s\n", p, k, r[int((n + 1) / 2)] / 1e6, r[1] / 1e6, r[n] / 1e6,
                     ns[int((n + 1) / 2)], rss, bad ? " " bad " run(s) FAILED" : "" }' >>"$EXTRA"
    done
  done
fi

# ---- UDP over loopback at rising rates ------------------------------------------------------------
# udp_run TOOL RATE: a NetFlow v9 collector on a free port, the generator sending 2 s of datagrams at
# RATE datagrams/s (40 records each), then SIGINT; prints "received_records expected_records cpu".
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    ss -Hlun "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  echo 0
}
udp_run() {
  local tool=$1 rate=$2 dir=$WORK/runs/udp port pid mpid n
  mkdir -p "$dir"
  port=$(free_port)
  n=$((rate * 2 * 40))
  rm -f "$dir/$tool.p1.csv" "$dir/$tool.pid"
  {
    # pmacct holds its last, partly filled plugin buffer until more traffic comes: a small buffer
    # keeps that remainder under 100 records
    if [ "$tool" = flowacct ]; then echo "inputs: netflow"; else printf 'daemonize: false\nplugin_pipe_zmq: true\nplugin_buffer_size: 10240\n'; fi
    echo "nfacctd_ip: 127.0.0.1"
    echo "nfacctd_port: $port"
    echo "nfacctd_pipe_size: 33554432"
    echo "plugins: print[p1]"
    echo "aggregate: $AGG5"
    echo "print_output: csv"
    echo "print_refresh_time: 3600"
    echo "print_output_file[p1]: $dir/$tool.p1.csv"
    [ "$tool" = pmacct ] && echo "print_output_file_append: true" && echo "print_cache_entries: $(next_prime $((KEYS * 3 / 2 + 1000)))"
  } >"$dir/$tool.conf"
  if [ "$tool" = flowacct ]; then
    $MEASURE --timeout 120 --pidfile "$dir/$tool.pid" "$dir/$tool.m" -- "$DAEMON" -f "$dir/$tool.conf" --module-path "$MODS" >"$dir/$tool.log" 2>&1 &
  else
    $MEASURE --timeout 120 --pidfile "$dir/$tool.pid" "$dir/$tool.m" -- nfacctd -f "$dir/$tool.conf" >"$dir/$tool.log" 2>&1 &
  fi
  mpid=$!
  for _ in $(seq 1 50); do ss -Hlun "sport = :$port" | grep -q . && break; sleep 0.1; done
  sleep 0.5
  "$WORK/bin/flowacct-gen-netflow" -v 9 -n "$n" -k "$KEYS" -p 40 -s "$SEED" -u "127.0.0.1:$port" -r "$rate" >"$dir/gen.out" 2>&1
  sleep 1
  pid=$(cat "$dir/$tool.pid")
  kill -INT "$pid" 2>/dev/null || true
  wait "$mpid" || true
  local got exp
  got=0
  if [ -s "$dir/$tool.p1.csv" ]; then got=$(csv_totals_n 1 <"$dir/$tool.p1.csv" | cut -d' ' -f2) || got=0; fi
  exp=$(tr ' ' '\n' <"$dir/gen.out" | awk -F= '$1 == "packets" { print $2 }')
  echo "${got:-0} ${exp:-0} $(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } } END { print v["cpu"] }' "$dir/$tool.m")"
}
if want udp; then
  say "udp at rising rates"
  {
    echo
    echo "NetFlow v9 over 127.0.0.1 (40 records a datagram, 2 s at each rate, one run; the sender shares"
    echo "the 2 cores): share of packets counted, collector CPU seconds."
    echo
    echo "| datagrams/s | records/s | flowacct counted | CPU s | nfacctd counted | CPU s |"
    echo "|---|---|---|---|---|---|"
  } >>"$EXTRA"
  for rate in $UDP_RATES; do
    line="| $rate | $((rate * 40))"
    for t in flowacct pmacct; do
      read -r got exp cpu < <(udp_run "$t" "$rate")
      line+=" | $(awk -v g="$got" -v e="$exp" 'BEGIN { printf "%.3f %%", e ? 100 * g / e : 0 }') | $cpu"
    done
    echo "$line |" >>"$EXTRA"
  done
fi

# ---- SQL outputs: pmacct's acct_v9 table, one time bin (sql_history 1h), flushed at the end ---------
# sql_reset BACKEND: an empty acct_v9 table. sql_totals BACKEND: "rows packets bytes" of the table
# (rows = distinct 5-tuples). SQLite files are per tool; the servers' table is dropped before each run.
sql_reset() {
  case $1 in
    sqlite3) rm -f "$SQLDIR"/*.db; for tool in flowacct pmacct; do sqlite3 "$SQLDIR/$tool.db" <"$SRC/etc/sql/sqlite3/acct_v9.sql"; done ;;
    pgsql) PGPASSWORD=$SQL_PASSWORD psql -q -h 127.0.0.1 -p "$PG_PORT" -U "$SQL_USER" "$SQL_DB" -c 'DROP TABLE IF EXISTS acct_v9' -f "$SRC/etc/sql/pgsql/acct_v9.sql" >/dev/null ;;
    # pmacct's MySQL schema has ip_proto CHAR(6), too short for "ipv6-icmp": pmacct then loses
    # those rows ("Data too long"); the column is widened for both tools
    mysql) { echo 'DROP TABLE IF EXISTS acct_v9;'; sed 's/`ip_proto` CHAR(6)/`ip_proto` CHAR(16)/' "$SRC/etc/sql/mysql/acct_v9.sql"; } |
             mysql -h 127.0.0.1 -P "$MY_PORT" -u "$SQL_USER" -p"$SQL_PASSWORD" "$SQL_DB" ;;
  esac
  rm -rf "$SQLDIR/journal"
}
SQL_Q="SELECT COUNT(*), SUM(packets), SUM(bytes) FROM (SELECT ip_src, ip_dst, port_src, port_dst, SUM(packets) AS packets, SUM(bytes) AS bytes FROM acct_v9 GROUP BY ip_src, ip_dst, port_src, port_dst, ip_proto) AS t"
sql_totals() {
  case $1 in
    sqlite3) sqlite3 -separator ' ' "$SQLDIR/$2.db" "$SQL_Q" ;;
    pgsql) PGPASSWORD=$SQL_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U "$SQL_USER" "$SQL_DB" -At -F ' ' -c "$SQL_Q" ;;
    mysql) mysql -h 127.0.0.1 -P "$MY_PORT" -u "$SQL_USER" -p"$SQL_PASSWORD" "$SQL_DB" -N -B -e "$SQL_Q" | tr '\t' ' ' ;;
  esac
}
sql_conf() { # sql_conf TOOL BACKEND
  local tool=$1 be=$2
  if [ "$tool" = pmacct ]; then echo "daemonize: false"; echo "$PM_TUNING"; echo "sql_cache_entries: $(next_prime $((FLOWS * 3 + 1000)))"
  else echo "sql_journal_dir: $SQLDIR/journal"; fi
  echo "pcap_savefile: $WORK/wl/pcap.pcap"
  echo "plugins: ${be}[s]"
  echo "aggregate: $AGG5"
  echo "sql_table: acct_v9"
  echo "sql_table_version: 9"
  echo "sql_history: 1h"
  echo "sql_refresh_time: 3600"
  case $be in
    sqlite3) echo "sql_db: $SQLDIR/$tool.db" ;;
    pgsql) printf 'sql_host: 127.0.0.1\nsql_port: %s\nsql_user: %s\nsql_passwd: %s\nsql_db: %s\n' "$PG_PORT" "$SQL_USER" "$SQL_PASSWORD" "$SQL_DB" ;;
    mysql) printf 'sql_host: 127.0.0.1\nsql_port: %s\nsql_user: %s\nsql_passwd: %s\nsql_db: %s\n' "$MY_PORT" "$SQL_USER" "$SQL_PASSWORD" "$SQL_DB" ;;
  esac
}
if want pgsql || want mysql; then
  say "starting the SQL servers (tests/sql/start_servers.sh)"
  if servers=$(bash "$SRC/tests/sql/start_servers.sh" 2>"$WORK/runs/servers.log"); then
    PG_PORT=$(echo "$servers" | awk -F= '$1 == "FLOWACCT_PG_PORT" { print $2 }')
    MY_PORT=$(echo "$servers" | awk -F= '$1 == "FLOWACCT_MYSQL_PORT" { print $2 }')
    SQL_USER=$(echo "$servers" | awk -F= '$1 == "FLOWACCT_SQL_USER" { print $2 }')
    SQL_PASSWORD=$(echo "$servers" | awk -F= '$1 == "FLOWACCT_SQL_PASSWORD" { print $2 }')
    SQL_DB=$(echo "$servers" | awk -F= '$1 == "FLOWACCT_SQL_DB" { print $2 }')
  else
    say "SQL servers did not start (see $WORK/runs/servers.log): pgsql and mysql skipped"
    SET=${SET//pgsql/}; SET=${SET//mysql/}
  fi
fi
for be in sqlite3 pgsql mysql; do
  want $be || continue
  say "$be"
  SQLDIR=$WORK/runs/$be
  mkdir -p "$SQLDIR"
  for t in flowacct pmacct; do sql_conf $t $be >"$SQLDIR/$t.conf"; done
  expect=""
  for r in $(seq 1 "$RUNS"); do
    for t in flowacct pmacct; do
      sql_reset $be 2>>"$WORK/runs/sql_errors.log" || say "$be: resetting the table failed (see runs/sql_errors.log)"
      if [ $t = flowacct ]; then
        res=$(measure_run "$be.$t.$r" "$DAEMON" -f "$SQLDIR/$t.conf" --module-path "$MODS")
      else
        res=$(measure_run "$be.$t.$r" pmacctd -f "$SQLDIR/$t.conf")
      fi
      got=$(sql_totals $be $t 2>>"$WORK/runs/sql_errors.log") || got="query failed"
      [ -z "$expect" ] && expect="$(echo "$got" | cut -d' ' -f1) $PC_P $PC_B"
      # shellcheck disable=SC2086
      record "$be" "$t" "$r" "$PC_F" $res "$got" "$expect"
    done
  done
done

# ---- benchmarks with scripts of their own: their output goes into the report as it is -------------
# own NAME TITLE COMMAND...: runs COMMAND, appends TITLE and its output (or its failure) to the report.
own() {
  local name=$1 title=$2; shift 2
  say "$name"
  {
    echo
    echo "$title"
    echo
    echo '```'
    "$@" 2>&1 || echo "(failed: exit $?)"
    echo '```'
  } >>"$EXTRA"
}
if want fanout; then
  own fanout "Fan-out, shared aggregation (bench/fanout.sh: testgen input, $FANOUT_RECORDS records, 100 000 keys, pipelines alike but for their outputs, 5-primitive hash aggregation done once, CPU s of the daemon):" \
    bash "$SRC/bench/fanout.sh" "$BUILD" "$FANOUT_RECORDS" 100000 3
  own fanout "Fan-out, each pipeline aggregating apart (the same with SHARE=false: share_aggregation: false, the cost of pipelines of different primitives):" \
    env SHARE=false bash "$SRC/bench/fanout.sh" "$BUILD" "$FANOUT_RECORDS" 100000 3
  if [ -s "$WORK/wl/pcap.pcap" ]; then
    own fanout "Fan-out behind a real decoder, shared aggregation (bench/fanout.sh with SAVEFILE: the pcap workload's capture through the pcap input, 1/3/8 pipelines of 5 primitives):" \
      env SAVEFILE="$WORK/wl/pcap.pcap" bash "$SRC/bench/fanout.sh" "$BUILD" 0 0 3
    own fanout "Fan-out behind a real decoder, each pipeline aggregating apart (SHARE=false):" \
      env SHARE=false SAVEFILE="$WORK/wl/pcap.pcap" bash "$SRC/bench/fanout.sh" "$BUILD" 0 0 3
  fi
  handoff_runs() {
    local f
    for f in pcap:pcap nf5:netflow nf9:netflow sflow:sflow; do
      if [ -s "$WORK/wl/${f%%:*}.pcap" ]; then bash "$SRC/bench/handoff.sh" "$BUILD" "$WORK/wl/${f%%:*}.pcap" "${f#*:}" 5; fi
    done
  }
  own fanout "Hand-off between cores (bench/handoff.sh: each savefile replayed with replay_inline true, the default, and false, the path of live inputs; one 5-primitive pipeline; CPU s, median of 5 alternating runs):" \
    handoff_runs
fi
if want maps; then
  own maps "Maps (flowacct-bench-maps: 1M IPv4 + 200K IPv6 generated prefixes, 1,000-rule pre_tag_map):" \
    "$BUILD/bin/flowacct-bench-maps"
fi
if want classify; then
  own classify "Classification (bench/classify/bench.sh: mixed capture of 13 application protocols, pcap input, CPU time, start-up subtracted; pmacct 1.7.7 has no classifier to compare with):" \
    bash "$SRC/bench/classify/bench.sh" "$BUILD"
fi
if want nfprobe; then
  own nfprobe "NetFlow export (bench/exporters/run.sh: one capture exported as IPFIX by flowacctd, softflowd and pmacctd):" \
    bash "$SRC/bench/exporters/run.sh" "$BUILD" "$EXPORT_PACKETS" "$EXPORT_FLOWS"
fi

# ---- per-stage profile: where flowacctd spends its CPU, by shared object (perf) --------------------
# input = input_*.so + libpcap, aggregate = aggregator_*.so, output = output_*.so and the database
# client libraries, host = flowacctd, plus libc/libstdc++, the kernel (reads, copies) and start-up
# (the dynamic loader). Skipped when perf is missing or not allowed to sample.
if want profile && command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  say "profile"
  PROFILE_RUNS=5
  {
    echo
    echo "Where flowacctd's CPU goes (perf, 499 Hz sampling of $PROFILE_RUNS runs, share of samples by shared object):"
    echo
    echo "| workload | input (module + libpcap) | aggregate | output | host | libc/libstdc++ | kernel | loader/other |"
    echo "|---|---|---|---|---|---|---|---|"
  } >>"$EXTRA"
  for w in pcap nf9 sflow sqlite3; do
    conf_file=$WORK/runs/$w/flowacct.conf
    [ -s "$conf_file" ] || continue
    # A low rate over several runs: in a virtual machine each sample is a timer interrupt and an
    # exit to the hypervisor, and at 5 kHz they cost more than the run itself and skew the shares
    # (seen here: one function's share 62 % at 5 kHz against 22-29 % at 499 Hz).
    for r in $(seq 1 "$PROFILE_RUNS"); do
      perf record -q -F 499 -o "$WORK/runs/$w.$r.perf" -- "$DAEMON" -f "$conf_file" --module-path "$MODS" >/dev/null 2>&1 || continue
      perf report -i "$WORK/runs/$w.$r.perf" --sort dso --stdio -n 2>/dev/null
    done | awk -v w="$w" '
      /^#/ || NF < 3 { next }
      { n = $2; d = $3; all += n
        if (d ~ /^input_/ || d ~ /libpcap/) c["in"] += n
        else if (d ~ /^aggregator_/) c["agg"] += n
        else if (d ~ /^output_/ || d ~ /libpq|libmariadb|libsqlite3/) c["out"] += n
        else if (d == "flowacctd") c["host"] += n
        else if (d ~ /^libc\.|^libstdc\+\+|^libm\./) c["libc"] += n
        else if (d ~ /kernel/) c["k"] += n
        else c["other"] += n }
      END { if (!all) exit
            printf "| %s | %.0f %% | %.0f %% | %.0f %% | %.0f %% | %.0f %% | %.0f %% | %.0f %% |\n", w, 100 * c["in"] / all, 100 * c["agg"] / all,
              100 * c["out"] / all, 100 * c["host"] / all, 100 * c["libc"] / all, 100 * c["k"] / all, 100 * c["other"] / all }' >>"$EXTRA"
  done
fi
