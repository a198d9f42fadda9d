#!/usr/bin/env bash
# Benchmark `imgx ingest` of ten signed bundles in one directory against ten separate
# `imgx load` runs of the same bundles, each into a fresh store (issue 18: ingest keeps its
# lead). Each bundle is one image of two gzip layers made of MB megabytes of content (70%
# real files, 30% random bytes). Runs are interleaved, medians of RUNS. The last line is parsed by
# scripts/bench.sh: "ingest 10 bundles: X s; 10 loads: Y s; ratio Z" (Z = Y / X: above 1,
# ingest is faster).
# Usage: scripts/bench-ingest.sh [WORKDIR]   (env: MB=40 RUNS=3)
set -euo pipefail
W=${1:-$(mktemp -d /tmp/imgx-bench-ingest.XXXX)}
MB=${MB:-40}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W"
IMGX=$W/imgx
(cd "$ROOT" && go build -o "$IMGX" ./cmd/imgx)
unset IMGX_TRUST_DIR
export XDG_CONFIG_HOME=$W/config IMGX_PASSWORD=bench IMGX_STORE=$W/src

sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- ten images, each an OCI layout loaded into the source store, saved as a bundle ----
[ -f "$W/k.key" ] || "$IMGX" keygen --output-prefix "$W/k" >/dev/null
mkdir -p "$W/in"
for i in $(seq 0 9); do
  [ -f "$W/in/b$i.imgx" ] && continue
  L=$W/layout$i G=$W/gen$i
  rm -rf "$L" "$G" && mkdir -p "$L/blobs/sha256" "$G/t" "$G/r"
  # Text: a slice of /usr/share, different for each image; random: incompressible.
  { tar -C /usr/share -cf - . 2>/dev/null | tail -c +$((i * MB * 300000 + 1)) | head -c $((MB * 700000)) > "$G/t/share.tar"; } || true
  head -c $((MB * 300000)) /dev/urandom > "$G/r/random.bin"
  layers=() diffs=()
  for d in t r; do
    tar -C "$G/$d" -cf "$G/$d.tar" .
    diffs+=("\"sha256:$(sha "$G/$d.tar")\"")
    gzip -6 -c "$G/$d.tar" > "$G/$d.gz"
    h=$(sha "$G/$d.gz"); mv "$G/$d.gz" "$L/blobs/sha256/$h"
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$h\",\"size\":$(stat -c %s "$L/blobs/sha256/$h")}")
  done
  cfg="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(IFS=,; echo "${diffs[*]}")]}}"
  printf '%s' "$cfg" > "$G/cfg"; c=$(sha "$G/cfg"); mv "$G/cfg" "$L/blobs/sha256/$c"
  man="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$c\",\"size\":${#cfg}},\"layers\":[$(IFS=,; echo "${layers[*]}")]}"
  printf '%s' "$man" > "$G/man"; m=$(sha "$G/man"); ms=$(stat -c %s "$G/man"); mv "$G/man" "$L/blobs/sha256/$m"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
  echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$m\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"bench/ingest$i:1\"}}]}" > "$L/index.json"
  "$IMGX" load -q -i "$L"
  "$IMGX" save -q "bench/ingest$i:1" --sign-key "$W/k.key" -o "$W/in/b$i.imgx"
  rm -rf "$L" "$G"
done
rm -rf "$W/src"

# --- measurements, interleaved ---------------------------------------------------------
: > "$W/times"
for _ in $(seq "$RUNS"); do
  rm -rf "$W/st" && sync
  s=$(date +%s.%N)
  IMGX_STORE=$W/st "$IMGX" ingest --progress none --key "$W/k.pub" "$W/in" >/dev/null
  e=$(date +%s.%N)
  [ "$(ls "$W/st/blobs/sha256" | wc -l)" -ge 40 ] || { echo "ingest loaded too few blobs" >&2; exit 1; }
  echo "ingest $(echo "$e - $s" | bc)" >> "$W/times"
  rm -rf "$W/st" && sync
  s=$(date +%s.%N)
  for i in $(seq 0 9); do IMGX_STORE=$W/st "$IMGX" load -q --key "$W/k.pub" -i "$W/in/b$i.imgx"; done
  e=$(date +%s.%N)
  echo "loads $(echo "$e - $s" | bc)" >> "$W/times"
done
rm -rf "$W/st"
med() { grep "^$1 " "$W/times" | cut -d' ' -f2 | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
all() { grep "^$1 " "$W/times" | cut -d' ' -f2 | xargs printf '%.2f '; }
I=$(med ingest) L=$(med loads)
echo "bundles: 10 x $(du -cb "$W"/in/*.imgx | tail -1 | awk '{printf "%.0f", $1/10e6}') MB; runs: ingest [$(all ingest)] loads [$(all loads)] s"
printf 'ingest 10 bundles: %.2f s; 10 loads: %.2f s; ratio %.2f\n' "$I" "$L" "$(echo "$L / $I" | bc -l)"
