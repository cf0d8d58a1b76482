#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Prints the peering matrix of a memory table aggregated on src_as, dst_as:
# one row per source AS, one column per destination AS, bytes in each cell.
# usage: matrix.sh [imt_path] [flowacct client]
set -euo pipefail
PIPE=${1:-ixp.pipe}
CLIENT=${2:-flowacct}
"$CLIENT" -p "$PIPE" -s -O csv | awk -F, '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  { s = $col["SRC_AS"]; d = $col["DST_AS"]; b[s, d] += $col["BYTES"]; src[s]; dst[d] }
  END {
    n = asorti(src, rows, "@ind_num_asc"); m = asorti(dst, cols, "@ind_num_asc")
    printf "%-8s", "SRC\\DST"; for (j = 1; j <= m; j++) printf " %10s", cols[j]; printf "\n"
    for (i = 1; i <= n; i++) {
      printf "%-8s", rows[i]
      for (j = 1; j <= m; j++) printf " %10d", b[rows[i], cols[j]]
      printf "\n"
    }
  }'
