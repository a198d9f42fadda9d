#!/usr/bin/env bash
# Benchmark imgx push/pull against skopeo copy, in one run, on a real registry (Debian's
# docker-registry 2.8 via scripts/registry-test.sh) over loopback, with one generated
# multi-layer image.
#
#   scripts/bench-registry.sh [SIZE_MB]     (default 1024; LAYERS=6 REPS=3 JOBS=4)
#
# push: the imgx store (an OCI layout, which skopeo reads as oci:STORE:NAME) to a registry
#       started fresh for every run, so every push is cold.
# pull: from one populated registry into an empty imgx store / an empty oci: directory.
# Runs alternate which tool goes first. Each timed step is preceded by sync; the page cache
# cannot be dropped without privileges, so reads of the source are warm for both tools.
# Both tools fsync what they pull; each pull line shows the time of a sync right after it,
# to prove neither left dirty pages for later.
# Prints every run's MB/s, medians, imgx/skopeo ratios (>1: imgx faster), peak RSS (max over
# runs) and whether the digests agree. Needs: go, skopeo, jq, GNU time (/usr/bin/time),
# docker-registry. Work files go to $BENCH_DIR (default a temp dir; needs about 5x SIZE_MB
# of free disk), removed at the end unless BENCH_KEEP=1.
# BENCH_STORE=DIR BENCH_NAME=NAME: push and pull image NAME of the existing imgx store DIR
# instead of generating one (scripts/bench.sh does, with its image); DIR is only read.
# The last lines, "result KEY SECONDS... rss_kb KB" (KEY imgx_push, skopeo_push,
# imgx_pull, skopeo_pull), are for scripts/bench.sh.
set -euo pipefail

SIZE_MB=${1:-1024}
LAYERS=${LAYERS:-6}
REPS=${REPS:-3}
JOBS=${JOBS:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/imgx-bench-registry.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
REGCTL=$ROOT/scripts/registry-test.sh
NAME=${BENCH_NAME:-bench/big:1}

for t in go skopeo jq /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench-registry: $t is required" >&2; exit 1; }
done

# Registries still running (their DIRs) are stopped on exit, whatever happens.
declare -A RUNNING
cleanup() {
	local d
	for d in "${!RUNNING[@]}"; do "$REGCTL" stop "$d" || true; done
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
# reg_start DIR: a fresh registry with storage under DIR/storage; sets ADDR.
reg_start() {
	rm -rf "$1"
	"$REGCTL" start "$1" >/dev/null
	RUNNING[$1]=1
	ADDR=$(cat "$1/registry.addr")
}
reg_stop() {
	"$REGCTL" stop "$1"
	unset 'RUNNING[$1]'
	rm -rf "$1"
}

(cd "$ROOT" && go build -o "$WORK/imgx" ./cmd/imgx)
IMGX=$WORK/imgx
if [ -n "${BENCH_STORE:-}" ]; then
	STORE=$BENCH_STORE
	echo "== image $NAME of the store $STORE"
else
	echo "== generating a ${SIZE_MB} MB image with ${LAYERS} layers in $WORK"
	# The generator (as in bench-archive.sh) writes an OCI layout: random file contents
	# (incompressible, like most real layers) in gzip layers at level 0, so no tool spends
	# time compressing.
	(cd "$ROOT" && go run ./internal/benchlayout "$WORK/layout" "$SIZE_MB" "$LAYERS")
	STORE=$WORK/store-src
	IMGX_STORE=$STORE "$IMGX" load -q -i "$WORK/layout"
	rm -rf "$WORK/layout"
fi
# The digest every copy must keep; skopeo reads the store by the name imgx recorded.
SRC_DIGEST=$(skopeo inspect "oci:$STORE:$NAME" | jq -r .Digest)
# MB/s counts the bytes a copy moves: manifest, config and layers.
BYTES=$(jq '.config.size + ([.layers[].size] | add)' "$STORE/blobs/sha256/${SRC_DIGEST#sha256:}")
BYTES=$((BYTES + $(stat -c %s "$STORE/blobs/sha256/${SRC_DIGEST#sha256:}")))
echo "   image: $(awk -v b="$BYTES" 'BEGIN{printf "%.1f", b/1e6}') MB (manifest, config, layers)"
echo "   store: $STORE, $NAME = $SRC_DIGEST"
skopeo_ver=$(skopeo --version | awk '{print $3}')
echo "   skopeo $skopeo_ver, imgx --jobs $JOBS, $REPS runs each"

# timed KEY CMD...: runs CMD under GNU time after a sync; stdout to $WORK/out.KEY, records
# seconds and peak RSS (KB), prints the run's line, appends MB/s to MBPS[KEY] and keeps the
# highest RSS in RSS[KEY].
declare -A MBPS RSS SECS
timed() {
	local key=$1 s kb m
	shift
	sync
	if ! /usr/bin/time -f '%e %M' -o "$WORK/time.$key" "$@" >"$WORK/out.$key" 2>"$WORK/err.$key"; then
		echo "bench-registry: $key failed: $*" >&2
		cat "$WORK/err.$key" >&2
		exit 1
	fi
	read -r s kb < <(tail -n1 "$WORK/time.$key")
	m=$(rate "$s")
	MBPS[$key]="${MBPS[$key]:-} $m"
	SECS[$key]="${SECS[$key]:-} $s"
	[ "${RSS[$key]:-0}" -ge "$kb" ] || RSS[$key]=$kb
	printf '   %-12s run %d  %7.2f s  %6s MB/s  %5d MB RSS' "$key" "$run" "$s" "$m" $((kb / 1024))
}
rate() { awk -v b="$BYTES" -v s="$1" 'BEGIN{ if (s < 0.01) s = 0.01; printf "%.0f", b/1e6/s }'; }
# synced: times a sync right after a pull; near 0 means the tool had fsynced its output
# itself (both do), so neither is credited for leaving dirty pages behind.
synced() {
	local t0 t1
	t0=$(date +%s.%N)
	sync
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN{ printf "  (sync after: %.2f s)", b - a }'
}
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
check() { # check WHAT WANT GOT
	if [ "$2" = "$3" ]; then echo "   digest $1: OK ($3)"; else echo "   digest $1: MISMATCH (want $2, got $3)"; DIGESTS_OK=no; fi
}
DIGESTS_OK=yes

push_imgx() {
	reg_start "$WORK/reg-push"
	timed imgx_push "$IMGX" push --store "$STORE" --insecure --progress none --jobs "$JOBS" --json \
		"$NAME" "$ADDR/bench/a:1"
	echo
	local j=$WORK/out.imgx_push
	if [ "$(jq -r '.uploaded == .blobs and .existing + .mounted == 0' "$j")" != true ]; then
		echo "   warning: imgx push was not cold: $(jq -c . "$j")"
	fi
	if [ "$run" = 1 ]; then
		check "imgx push (reported)" "$SRC_DIGEST" "$(jq -r .digest "$j")"
		check "imgx push (skopeo inspect)" "$SRC_DIGEST" \
			"$(skopeo inspect --tls-verify=false "docker://$ADDR/bench/a:1" | jq -r .Digest)"
	fi
	reg_stop "$WORK/reg-push"
}
push_skopeo() {
	reg_start "$WORK/reg-push"
	timed skopeo_push skopeo copy -q --preserve-digests --dest-tls-verify=false \
		--digestfile "$WORK/skopeo.digest" "oci:$STORE:$NAME" "docker://$ADDR/bench/a:1"
	echo
	if [ "$run" = 1 ]; then
		check "skopeo push (reported)" "$SRC_DIGEST" "$(cat "$WORK/skopeo.digest")"
		check "skopeo push (skopeo inspect)" "$SRC_DIGEST" \
			"$(skopeo inspect --tls-verify=false "docker://$ADDR/bench/a:1" | jq -r .Digest)"
	fi
	reg_stop "$WORK/reg-push"
}
pull_imgx() {
	rm -rf "$WORK/pull-imgx"
	timed imgx_pull "$IMGX" pull --store "$WORK/pull-imgx" --insecure --progress none --jobs "$JOBS" --json \
		"$PULL_ADDR/bench/a:1"
	synced
	echo
	if [ "$run" = 1 ]; then
		check "imgx pull (reported)" "$SRC_DIGEST" "$(jq -r .digest "$WORK/out.imgx_pull")"
		check "imgx pull (skopeo inspect of the store)" "$SRC_DIGEST" \
			"$(skopeo inspect "oci:$WORK/pull-imgx:$PULL_ADDR/bench/a:1" | jq -r .Digest)"
	fi
	rm -rf "$WORK/pull-imgx"
}
pull_skopeo() {
	rm -rf "$WORK/pull-skopeo"
	timed skopeo_pull skopeo copy -q --preserve-digests --src-tls-verify=false \
		"docker://$PULL_ADDR/bench/a:1" "oci:$WORK/pull-skopeo:a"
	synced
	echo
	if [ "$run" = 1 ]; then
		check "skopeo pull" "$SRC_DIGEST" "$(skopeo inspect "oci:$WORK/pull-skopeo:a" | jq -r .Digest)"
	fi
	rm -rf "$WORK/pull-skopeo"
}

echo "== push: store -> fresh registry (cold), odd runs imgx first"
for run in $(seq "$REPS"); do
	if [ $((run % 2)) = 1 ]; then push_imgx; push_skopeo; else push_skopeo; push_imgx; fi
done

echo "== pull: registry -> empty store / empty oci dir, odd runs skopeo first"
reg_start "$WORK/reg-pull"
PULL_ADDR=$ADDR
"$IMGX" push --store "$STORE" --insecure --progress none -q "$NAME" "$PULL_ADDR/bench/a:1"
for run in $(seq "$REPS"); do
	if [ $((run % 2)) = 1 ]; then pull_skopeo; pull_imgx; else pull_imgx; pull_skopeo; fi
done
reg_stop "$WORK/reg-pull"

echo
printf '%-12s %-24s %8s %10s\n' "" "MB/s per run" median "peak RSS"
for k in imgx_push skopeo_push imgx_pull skopeo_pull; do
	printf '%-12s %-24s %8s %7d MB\n' "$k" "${MBPS[$k]# }" "$(median "${MBPS[$k]}")" $((RSS[$k] / 1024))
done
echo
ratio() { awk -v a="$(median "${MBPS[$1]}")" -v b="$(median "${MBPS[$2]}")" 'BEGIN{ if (b < 1) b = 1; printf "%.2f", a/b }'; }
echo "imgx push is $(ratio imgx_push skopeo_push)x skopeo (median MB/s; >1: imgx faster)"
echo "imgx pull is $(ratio imgx_pull skopeo_pull)x skopeo (median MB/s; >1: imgx faster)"
echo "peak RSS: imgx push $((RSS[imgx_push] / 1024)) MB, pull $((RSS[imgx_pull] / 1024)) MB; skopeo push $((RSS[skopeo_push] / 1024)) MB, pull $((RSS[skopeo_pull] / 1024)) MB"
echo "digests: $([ $DIGESTS_OK = yes ] && echo OK || echo MISMATCH)"
for k in imgx_push skopeo_push imgx_pull skopeo_pull; do
	echo "result $k${SECS[$k]} rss_kb ${RSS[$k]}"
done
[ $DIGESTS_OK = yes ]
