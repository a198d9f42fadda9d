#!/usr/bin/env bash
# Import, flatten and export a multi-layer image of SIZE bytes (default 1 GiB) and report
# throughput and peak RSS of each. Usage: scripts/bench-image.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${1:-1024}
IMGX=${IMGX:-$PWD/bin/imgx}
WORK=$(mktemp -d /tmp/imgx-bench-image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)"; exit 1; }
go build -o "$WORK/benchgen" ./internal/benchgen
export IMGX_STORE="$WORK/store"

measure() { # label bytes cmd...
  local label=$1 bytes=$2; shift 2
  sync
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >/dev/null
  read -r secs rss_kb <"$WORK/time"
  awk -v l="$label" -v b="$bytes" -v s="$secs" -v r="$rss_kb" \
    'BEGIN { printf "%-28s %8.1f MB/s  %6.2f s  peak RSS %6.1f MB\n", l, b/1e6/(s>0?s:0.001), s, r/1024 }'
}

echo "generating a ${SIZE_MB} MiB 5-layer image (half random, half text)…"
"$WORK/benchgen" -store "$IMGX_STORE" -name bench/big:1 -size $((SIZE_MB<<20)) -layers 5
BYTES=$((SIZE_MB<<20))
echo
measure "export (flatten to tar)" $BYTES "$IMGX" export bench/big:1 -o "$WORK/rootfs.tar"
TARBYTES=$(stat -c %s "$WORK/rootfs.tar")
measure "flatten (new 1-layer image)" $BYTES "$IMGX" flatten bench/big:1 bench/big:flat
measure "import (gzip layer)" $TARBYTES "$IMGX" import "$WORK/rootfs.tar" bench/imported:1
measure "import (zstd layer)" $TARBYTES "$IMGX" import --compress zstd "$WORK/rootfs.tar" bench/imported:zstd
measure "import (uncompressed)" $TARBYTES "$IMGX" import --compress none "$WORK/rootfs.tar" bench/imported:none
measure "check (re-hash store)" $(du -sb "$IMGX_STORE" | cut -f1) "$IMGX" check
measure "floor: sha256 of the tar" $TARBYTES openssl dgst -sha256 "$WORK/rootfs.tar"
measure "floor: gzip -1 of the tar" $TARBYTES gzip -1 -c "$WORK/rootfs.tar"
