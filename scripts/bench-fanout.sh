#!/usr/bin/env bash
# Benchmark `imgx save` to several local directories at once (one bundle made once and
# fanned out, dial.WriteMany) against the same save to one directory: median wall time of
# 3 runs for 1 and 4 destinations, with and without --verify, and the ratios (the goal in
# issue 16: 4 destinations take at most 1.3x the time of one). The image is ~SIZE_MB MB:
# half random, half real files, so zstd has work to do as in a real save.
#
# The destinations are directories of one disk by default, so 4 destinations write 4x the
# bytes through one device: the ratio then measures that disk, not the fan-out. OUT=/dev/shm/x
# puts them in memory (like sticks on their own ports, each with its own bandwidth) and
# shows what the fan-out itself costs.
# Usage: [OUT=DIR] [SIZE_MB=300] scripts/bench-fanout.sh [WORKDIR]
set -euo pipefail
W=${1:-$(mktemp -d /tmp/imgx-bench-fanout.XXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-300}
OUT=${OUT:-$W/out}
mkdir -p "$W"
IMGX=$W/imgx
(cd "$ROOT" && go build -o "$IMGX" ./cmd/imgx)
unset IMGX_TRUST_DIR
export IMGX_STORE=$W/store XDG_CONFIG_HOME=$W/config

if [ ! -f "$W/image.tar" ]; then
  rm -rf "$W/gen" && mkdir -p "$W/gen"
  head -c $((SIZE_MB / 2 * 1000000)) /dev/urandom > "$W/gen/random.bin"
  tar -C /usr/lib -cf - . 2>/dev/null | head -c $((SIZE_MB / 2 * 1000000)) > "$W/gen/lib.tar" || true
  tar -C "$W/gen" -cf "$W/image.tar" .
  rm -rf "$W/gen"
fi
rm -rf "$IMGX_STORE" && "$IMGX" import -q "$W/image.tar" bench/app:1 >/dev/null 2>&1 || "$IMGX" import "$W/image.tar" bench/app:1 >/dev/null

median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
# one N [flags]: "WALL CPU", the medians of 3 saves to N fresh directories: wall seconds
# (save + sync) and CPU seconds (user + system) of imgx
one() {
  local n=$1; shift
  local ts=() cs=()
  for _ in 1 2 3; do
    rm -rf "$OUT" && mkdir -p "$OUT"
    local outs=()
    for i in $(seq 1 "$n"); do mkdir -p "$OUT/stick$i"; outs+=(-o "$OUT/stick$i/app.imgx"); done
    sync
    local s e u sy
    s=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$W/time" "$IMGX" save -q "$@" "${outs[@]}" bench/app:1 2>/dev/null
    sync # the bytes are on the disk, not only in the page cache
    e=$(date +%s.%N)
    read -r u sy < "$W/time"
    ts+=("$(echo "$e - $s" | bc)")
    cs+=("$(echo "$u + $sy" | bc)")
  done
  for i in $(seq 2 "$n"); do cmp "$OUT/stick1/app.imgx" "$OUT/stick$i/app.imgx"; done
  echo "$(median "${ts[@]}") $(median "${cs[@]}")"
}

mkdir -p "$OUT"
BYTES=$(du -sb "$IMGX_STORE/blobs" | cut -f1)
echo "image: $((BYTES / 1000000)) MB in the store; $(nproc) cores; destinations in $OUT ($(stat -f -c %T "$OUT")); medians of 3 (save + sync)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for flags in "" "--verify"; do
  read -r w1 c1 <<< "$(one 1 $flags)"
  read -r w4 c4 <<< "$(one 4 $flags)"
  printf '%-9s wall: 1 destination %6.2fs, 4 destinations %6.2fs, ratio %.2fx | CPU: %5.2fs, %5.2fs, ratio %.2fx\n' \
    "${flags:-plain}" "$w1" "$w4" "$(echo "$w4 / $w1" | bc -l)" "$c1" "$c4" "$(echo "$c4 / $c1" | bc -l)"
done
bundle=$(stat -c %s "$OUT/stick1/app.imgx")
echo "bundle: $((bundle / 1000000)) MB per destination"
rm -rf "$OUT"
