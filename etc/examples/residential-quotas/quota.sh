#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reads each customer's total (flowacct -c tag -N) and flags those over their limit.
# quotas.txt: "<tag> <limit_bytes> <customer>" a line, '#' comments.
# Prints "<customer> <tag> <bytes> <limit> ok|OVER"; exits 1 when a customer is over.
# usage: quota.sh [quotas.txt] [imt_path] [flowacct client]
set -euo pipefail
QUOTAS=${1:-quotas.txt}
PIPE=${2:-quota.pipe}
CLIENT=${3:-flowacct}
over=0
while read -r tag limit name; do
  case "$tag" in ''|'#'*) continue ;; esac
  bytes=$("$CLIENT" -p "$PIPE" -c tag -N "$tag" -n bytes)
  bytes=${bytes:-0}
  if [ "$bytes" -gt "$limit" ]; then state=OVER; over=1; else state=ok; fi
  echo "$name $tag $bytes $limit $state"
done < "$QUOTAS"
exit $over
