# SPDX-License-Identifier: GPL-2.0-or-later
# report.sh: sourced by bench/run; report() prints the markdown results table from $LOG, $BOUNDS
# and $EXTRA (lines already formatted by more.sh). Only runs whose status is ok make figures; a
# workload with a failed run says so in its totals column.
report() {
  echo "# flowacct vs pmacct ($MODE mode, $RUNS runs each, alternating; $(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Machine: $(lscpu | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2 }'), $(nproc) CPUs;" \
       "load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg). pmacct $(pmacctd -V 2>&1 | head -1 | awk '{ print $NF, $(NF-1) }' | cut -d' ' -f2)"
  echo
  echo "Figures: records per CPU-second (user+sys of every process), median (min-max) over good runs;"
  echo "CPU s and peak RSS are medians. ratio = flowacct / pmacct. bound = touch_savefile (reads the file,"
  echo "folds every 8-byte word of every frame), in the same records; table bound = the same plus one"
  echo "prefetched update per record of a 64-byte entry in a table of the workload's key count."
  echo
  echo "| workload | records | flowacct rec/CPU-s | CPU s | RSS MB | pmacct rec/CPU-s | CPU s | RSS MB | ratio | totals (good runs) | bound rec/CPU-s | flowacct / bound | table bound rec/CPU-s | flowacct / table bound |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' -v bounds="$BOUNDS" '
    BEGIN { while ((getline l < bounds) > 0) { split(l, b, "\t"); bound[b[1]] = b[2]; if (b[3] != "") tbound[b[1]] = b[3] } }
    function med(arr, n,   i, j, t) {  # sorts arr[1..n] and returns the median
      for (i = 2; i <= n; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] > t; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
      return n ? (n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2) : 0
    }
    function h(x) { return x >= 1e6 ? sprintf("%.2f M", x / 1e6) : x >= 1e3 ? sprintf("%.0f K", x / 1e3) : sprintf("%.0f", x) }
    {
      w = $1; t = $2; if (!(w in order)) { order[w] = ++nw; names[nw] = w }
      recs[w] = $4; total[w, t]++
      if ($8 == "ok" && $5 > 0) { n = ++good[w, t]; rate[w, t, n] = $4 / $5; cpu[w, t, n] = $5; rss[w, t, n] = $6 / 1024; totals[w] = $7 }
      else if ($8 != "ok" && index(fails[w], t ":" $8) == 0) fails[w] = fails[w] " " t ":" $8
    }
    END {
      for (k = 1; k <= nw; k++) {
        w = names[k]; line = "| " w " | " h(recs[w])
        for (ti = 1; ti <= 2; ti++) {
          t = ti == 1 ? "flowacct" : "pmacct"; n = good[w, t] + 0
          if (!n) { line = line " | - | - | -"; m[t] = 0; continue }
          lo = hi = rate[w, t, 1]
          for (i = 1; i <= n; i++) { r[i] = rate[w, t, i]; c[i] = cpu[w, t, i]; s[i] = rss[w, t, i]; if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
          m[t] = med(r, n)
          line = line sprintf(" | %s (%s-%s) | %.2f | %.0f", h(m[t]), h(lo), h(hi), med(c, n), med(s, n))
        }
        line = line " | " (m["flowacct"] && m["pmacct"] ? sprintf("%.1fx", m["flowacct"] / m["pmacct"]) : "-")
        ok = (good[w, "flowacct"] + 0) "/" (total[w, "flowacct"] + 0) " + " (good[w, "pmacct"] + 0) "/" (total[w, "pmacct"] + 0)
        line = line " | " (fails[w] == "" ? "equal " ok " (rows packets bytes: " totals[w] ")" : "FAIL " ok ":" fails[w])
        line = line " | " (w in bound ? h(bound[w]) : "-") " | " (w in bound && m["flowacct"] ? sprintf("%.2f", m["flowacct"] / bound[w]) : "-")
        line = line " | " (w in tbound ? h(tbound[w]) : "-") " | " (w in tbound && m["flowacct"] ? sprintf("%.2f", m["flowacct"] / tbound[w]) : "-") " |"
        print line
      }
    }' "$LOG"
  if [ -s "${EXTRA:-/dev/null}" ]; then echo; cat "$EXTRA"; fi
}
