#!/usr/bin/env bash
# Benchmark imgx load/save of an oci-archive against skopeo and against the floor (reading
# the archive and computing sha256 of it with openssl), on one generated multi-layer image.
#
#   scripts/bench-archive.sh [SIZE_MB]     (default 1536)
#
# Needs: go, skopeo, openssl, GNU time (/usr/bin/time; apt-get install -y time).
# Prints MB/s, ratios and peak RSS. Work files go to $BENCH_DIR (default a temp dir; needs
# about 6x SIZE_MB of free disk), removed at the end unless BENCH_KEEP=1.
set -euo pipefail

SIZE_MB=${1:-1536}
LAYERS=${LAYERS:-6}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/imgx-bench.XXXXXX)}
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

for t in go skopeo openssl /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench-archive: $t is required" >&2; exit 1; }
done

echo "== building imgx and generating a ${SIZE_MB} MB image with ${LAYERS} layers in $WORK"
(cd "$ROOT" && go build -o "$WORK/imgx" ./cmd/imgx)

# The generator writes an OCI layout: random file contents (incompressible, like most
# real layers) in gzip layers at level 0, so no tool spends time compressing.
(cd "$ROOT" && go run ./internal/benchlayout "$WORK/layout" "$SIZE_MB" "$LAYERS")
BYTES=$(du -sb "$WORK/layout" | cut -f1)
MB=$(awk -v b="$BYTES" 'BEGIN{printf "%.1f", b/1e6}')
echo "   image: $MB MB"

# timed NAME CMD...: runs CMD under GNU time, records seconds and peak RSS (KB).
declare -A SECS RSS
timed() {
	local name=$1
	shift
	sync
	/usr/bin/time -f '%e %M' -o "$WORK/time.$name" "$@" >/dev/null
	read -r SECS[$name] RSS[$name] <"$WORK/time.$name"
}
export IMGX_STORE="$WORK/store-src"
"$WORK/imgx" load -i "$WORK/layout" -q

echo "== save: oci layout -> oci-archive"
timed imgx_save "$WORK/imgx" save --format oci-archive -o "$WORK/imgx.oci.tar" bench/big:1
timed skopeo_save skopeo copy -q "oci:$WORK/layout:bench/big:1" "oci-archive:$WORK/skopeo.oci.tar:bench/big:1"
rm -f "$WORK/skopeo.oci.tar"

echo "== load: oci-archive -> store"
timed floor openssl dgst -sha256 "$WORK/imgx.oci.tar"
export IMGX_STORE="$WORK/store-dst"
timed imgx_load "$WORK/imgx" load -q -i "$WORK/imgx.oci.tar"
timed skopeo_load skopeo copy -q "oci-archive:$WORK/imgx.oci.tar:bench/big:1" "oci:$WORK/skopeo-out:bench/big:1"

mbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN{ if (s < 0.01) s = 0.01; printf "%7.0f", b/1e6/s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a < 0.01) a = 0.01; printf "%.2f", b/a }'; }
echo
printf '%-28s %8s %9s %10s\n' "" seconds "MB/s" "peak RSS"
for k in floor imgx_load skopeo_load imgx_save skopeo_save; do
	printf '%-28s %8s %9s %7d MB\n' "$k" "${SECS[$k]}" "$(mbps "${SECS[$k]}")" $((RSS[$k] / 1024))
done
echo
echo "imgx load is $(ratio "${SECS[imgx_load]}" "${SECS[skopeo_load]}")x skopeo (target >= 2)"
echo "imgx save is $(ratio "${SECS[imgx_save]}" "${SECS[skopeo_save]}")x skopeo (target >= 2)"
echo "imgx load runs at $(awk -v f="${SECS[floor]}" -v l="${SECS[imgx_load]}" 'BEGIN{ if (l < 0.01) l = 0.01; printf "%.0f", 100*f/l }')% of the floor's throughput (target >= 70%)"
echo "peak RSS: load $((RSS[imgx_load] / 1024)) MB, save $((RSS[imgx_save] / 1024)) MB (target < 100 MB)"
