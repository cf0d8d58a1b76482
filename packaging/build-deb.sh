#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds the Debian packages: copies the source tree to a temporary directory, puts packaging/debian
# at its root and runs dpkg-buildpackage -us -uc -b there; the .deb files land in OUTDIR.
# Usage: packaging/build-deb.sh [OUTDIR]   (default: ./debs)
# Environment: DEB_FLOWACCT_ONLY="pcap;aggregator;..." builds only these module folders (quick check);
# DEB_BUILD_OPTIONS is passed on (default parallel=2); KEEP_TREE=1 keeps the temporary tree.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-debs}" && cd "${1:-debs}" && pwd)
tmp=$(mktemp -d /tmp/flowacct-deb.XXXXXX)
[ "${KEEP_TREE:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
tree=$tmp/flowacct-0.1.0
mkdir -p "$tree"
# The tree as it is (committed or not), without VCS data nor build directories.
tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' --exclude=./debs -cf - . |
  tar -C "$tree" -xf -
rm -rf "$tree/debian"
cp -a "$src/packaging/debian" "$tree/debian"
export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2}
(cd "$tree" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 || {
  tail -n 60 "$tmp/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed (log above; KEEP_TREE=1 keeps $tmp)" >&2
  exit 1
}
cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$out"/
cp "$tmp"/*.ddeb "$out"/ 2>/dev/null || true
cp "$tmp/build.log" "$out/build.log"
ls "$out"/*.deb
