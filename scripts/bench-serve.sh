#!/usr/bin/env bash
# Benchmark `imgx serve` against Debian's docker-registry (distribution 2.8) serving the
# same image from its own storage, on the same machine, over loopback.
#
#   scripts/bench-serve.sh [SIZE_MB]     (default 1024; LAYERS=6 CLIENTS="1 10 50" REPS=1)
#
# One generated image (random, incompressible gzip level-0 layers) is loaded into an imgx
# store and pushed to the registry. For each client count, internal/benchpull pulls it
# with that many concurrent clients (3 blobs at a time each, as docker does; client 0
# verifies every digest) from each server in turn, alternating which goes first. Before
# each run the server's peak RSS counter is reset (/proc/PID/clear_refs), so the peak
# printed is that run's. Prints seconds per run, the ratio (registry time / imgx time;
# >1: imgx faster) and both servers' peak RSS. Needs: go, jq, docker-registry. Work files
# go to $BENCH_DIR (default a temp dir; about 3x SIZE_MB of disk), removed at the end
# unless BENCH_KEEP=1.
set -euo pipefail

SIZE_MB=${1:-1024}
LAYERS=${LAYERS:-6}
CLIENTS=${CLIENTS:-1 10 50}
REPS=${REPS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/imgx-bench-serve.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
REGCTL=$ROOT/scripts/registry-test.sh
NAME=bench/big:1

for t in go jq; do
	command -v "$t" >/dev/null || { echo "bench-serve: $t is required" >&2; exit 1; }
done

SERVE_PID=
REG_DIR=
cleanup() {
	[ -z "$SERVE_PID" ] || kill "$SERVE_PID" 2>/dev/null || true
	[ -z "$REG_DIR" ] || "$REGCTL" stop "$REG_DIR" >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building imgx and benchpull, generating a ${SIZE_MB} MB image with ${LAYERS} layers in $WORK"
(cd "$ROOT" && go build -o "$WORK/imgx" ./cmd/imgx && go build -o "$WORK/benchpull" ./internal/benchpull)
IMGX=$WORK/imgx
(cd "$ROOT" && go run ./internal/benchlayout "$WORK/layout" "$SIZE_MB" "$LAYERS")
STORE=$WORK/store
IMGX_STORE=$STORE "$IMGX" load -q -i "$WORK/layout"
rm -rf "$WORK/layout"

# imgx serve on a free port: it prints "serving STORE read-only at http://ADDR".
"$IMGX" --store "$STORE" serve --addr 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE_PID=$!
for _ in $(seq 50); do grep -q '://' "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
IMGX_ADDR=$(sed -n 's#.*://##p' "$WORK/serve.out")
[ -n "$IMGX_ADDR" ] || { echo "bench-serve: imgx serve did not start" >&2; cat "$WORK/serve.log" >&2; exit 1; }

REG_DIR=$WORK/registry
"$REGCTL" start "$REG_DIR" >/dev/null
REG_ADDR=$(cat "$REG_DIR/registry.addr")
REG_PID=$(cat "$REG_DIR/registry.pid")
"$IMGX" push --store "$STORE" --insecure --progress none -q "$NAME" "$REG_ADDR/bench/big:1"
rm -rf "$REG_DIR/storage/docker/registry/v2/repositories/_uploads" 2>/dev/null || true
echo "   imgx serve at $IMGX_ADDR (pid $SERVE_PID), docker-registry at $REG_ADDR (pid $REG_PID)"

# The digests both serve must agree (one pull each, verified by benchpull's client 0).
"$WORK/benchpull" "$IMGX_ADDR/bench/big:1" >/dev/null
"$WORK/benchpull" "$REG_ADDR/bench/big:1" >/dev/null

# run KEY PID ADDR N: resets PID's peak RSS, pulls with N clients, records seconds and
# the peak RSS in MB.
declare -A SECS RSS
run() {
	local key=$1 pid=$2 addr=$3 n=$4 out kb
	echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true
	sync
	out=$("$WORK/benchpull" -clients "$n" "$addr/bench/big:1")
	kb=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
	SECS[$key.$n]="${SECS[$key.$n]:-} ${out%% *}"
	local mb=$((kb / 1024))
	[ "${RSS[$key.$n]:-0}" -ge "$mb" ] || RSS[$key.$n]=$mb
	printf '   %-9s %3d clients  %8.2f s  %8.0f MB/s total  peak RSS %5d MB\n' "$key" "$n" "${out%% *}" \
		"$(awk -v s="${out%% *}" -v b="${out##* }" 'BEGIN{printf "%.0f", b/1e6/s}')" "$mb"
}
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

for n in $CLIENTS; do
	echo "== $n concurrent clients"
	for r in $(seq "$REPS"); do
		if [ $((r % 2)) = 1 ]; then
			run imgx "$SERVE_PID" "$IMGX_ADDR" "$n"
			run registry "$REG_PID" "$REG_ADDR" "$n"
		else
			run registry "$REG_PID" "$REG_ADDR" "$n"
			run imgx "$SERVE_PID" "$IMGX_ADDR" "$n"
		fi
	done
done

echo
printf '%8s %12s %12s %8s %14s %14s\n' clients "imgx s" "registry s" ratio "imgx RSS MB" "registry RSS MB"
for n in $CLIENTS; do
	a=$(median "${SECS[imgx.$n]}")
	b=$(median "${SECS[registry.$n]}")
	printf '%8d %12.2f %12.2f %8s %14d %14d\n' "$n" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')" "${RSS[imgx.$n]}" "${RSS[registry.$n]}"
done
echo "ratio: registry time / imgx time (median of $REPS; >1: imgx serve faster)"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID" && echo "imgx serve stopped on SIGTERM with exit 0"
SERVE_PID=
