#!/usr/bin/env bash
# Benchmark sub-layer deltas (issue 17, package layerdelta) on two rebuilt layers made from
# this host's files: (A) a ~SIZE_MB base layer from /usr/lib/x86_64-linux-gnu rebuilt with
# three "packages" upgraded, one added and the dpkg status edited; (B) an application layer
# with a new imgx binary (same source, other -ldflags) and two changed assets. For each it
# prints the bytes of today's layer delta (the whole new blob), of the sub-layer recipe,
# of `zstd --patch-from` and of only the changed files, and the times; then how many layers
# of a small corpus a known compressor reproduces (library compressors, GNU gzip, the zstd
# CLI, and layers written by umoci, skopeo and podman when installed).
#
#   scripts/bench-subdelta.sh [SIZE_MB]     (default 80)
#
# Needs: go, zstd, gzip, tar, GNU time (/usr/bin/time); optional umoci, skopeo. Work files
# go to $BENCH_DIR (default a temp dir, about 10x SIZE_MB), removed at the end unless
# BENCH_KEEP=1.
set -euo pipefail

SIZE_MB=${1:-80}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/imgx-subdelta.XXXXXX)}
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

for t in go zstd gzip tar /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench-subdelta: $t is required (scripts/install-deps.sh)" >&2; exit 1; }
done

echo "== building imgx twice (-X main.Version=nightly-1 / nightly-2) in $WORK"
(cd "$ROOT" && go build -ldflags "-X main.Version=nightly-1" -o "$WORK/imgx-1" ./cmd/imgx)
(cd "$ROOT" && go build -ldflags "-X main.Version=nightly-2" -o "$WORK/imgx-2" ./cmd/imgx)
(cd "$ROOT" && go build -o "$WORK/benchsubdelta" ./internal/benchsubdelta)

LAYOUTS=()
if command -v umoci >/dev/null; then
	echo "== umoci: an image of two layers (/etc subset, /usr/share/doc subset)"
	L="$WORK/umoci-layout"
	umoci init --layout "$L" >/dev/null
	umoci new --image "$L:t" >/dev/null
	umoci unpack --rootless --image "$L:t" "$WORK/bundle" >/dev/null
	cp -r /usr/share/doc/a* "$WORK/bundle/rootfs/" 2>/dev/null || true
	umoci repack --image "$L:t" "$WORK/bundle" >/dev/null
	cp -r /usr/include/linux "$WORK/bundle/rootfs/" 2>/dev/null || true
	umoci repack --image "$L:t" "$WORK/bundle" >/dev/null
	LAYOUTS+=("$L")
	if command -v skopeo >/dev/null; then
		echo "== skopeo: the same image recompressed to zstd by containers/image"
		skopeo copy -q --dest-compress-format zstd "oci:$L:t" "oci:$WORK/skopeo-zstd-layout:t"
		LAYOUTS+=("$WORK/skopeo-zstd-layout")
		echo "== skopeo: and back to gzip (pgzip through containers/image)"
		skopeo copy -q --dest-compress-format gzip --dest-compress "oci:$WORK/skopeo-zstd-layout:t" "oci:$WORK/skopeo-gzip-layout:t"
		LAYOUTS+=("$WORK/skopeo-gzip-layout")
	fi
fi
if command -v podman >/dev/null; then
	echo "== podman: an image imported from a tar of /usr/share/doc, pushed to an OCI layout"
	tar -C / -cf "$WORK/podman-src.tar" usr/share/doc 2>/dev/null || true
	if podman import -q "$WORK/podman-src.tar" localhost/imgx-bench-subdelta:t >/dev/null 2>&1 &&
		podman push -q --format oci localhost/imgx-bench-subdelta:t "oci:$WORK/podman-layout:t" >/dev/null 2>&1; then
		LAYOUTS+=("$WORK/podman-layout")
	else
		echo "   (podman could not import/push here; skipped)"
	fi
	podman rmi -f localhost/imgx-bench-subdelta:t >/dev/null 2>&1 || true
fi
mkdir -p "$WORK/fixture-layout"
tar -C "$WORK/fixture-layout" -xf "$ROOT/testdata/archives/skopeo-oci.tar"
LAYOUTS+=("$WORK/fixture-layout")

/usr/bin/time -f "   benchsubdelta: %e s wall, peak RSS %M KB" \
	"$WORK/benchsubdelta" "$WORK" "$WORK/imgx-1" "$WORK/imgx-2" "$SIZE_MB" "${LAYOUTS[@]}"
