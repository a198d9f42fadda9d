#!/usr/bin/env bash
# Benchmark sub-layer deltas (issue 17, package layerdelta) on two rebuilt layers made from
# real builds: (A) a Debian base layer made by debootstrap and rebuilt with apt-get upgrade
# and one package added (scripts/debian-layers.sh; where that cannot run, a ~SIZE_MB layer
# modelled from /usr/lib with three "packages" upgraded); (B) an application layer with a
# new imgx binary (built from an earlier commit) and two changed assets. For each it
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

# Scenario B's two nights: imgx built from an earlier commit (BENCH_OLD_REV, default ten
# commits back) and from this tree, as a nightly build of an app would differ. Without
# the history (a tarball), the same source with another -ldflags, which is the best case.
OLD_REV=${BENCH_OLD_REV:-HEAD~10}
(cd "$ROOT" && go build -o "$WORK/imgx-2" ./cmd/imgx)
if mkdir -p "$WORK/old-src" && git -C "$ROOT" archive "$OLD_REV" 2>/dev/null | tar -x -C "$WORK/old-src" &&
	(cd "$WORK/old-src" && go build -o "$WORK/imgx-1" ./cmd/imgx) 2>/dev/null; then
	echo "== scenario B's binaries: imgx at $OLD_REV ($(git -C "$ROOT" rev-parse --short "$OLD_REV")) and at this tree"
else
	echo "== scenario B's binaries: no $OLD_REV to build (no git history): the same source with -X main.Version=nightly-1 (best case)"
	(cd "$ROOT" && go build -ldflags "-X main.Version=nightly-1" -o "$WORK/imgx-1" ./cmd/imgx)
fi
rm -rf "$WORK/old-src"

# Scenario A from real Debian layers (scripts/debian-layers.sh: debootstrap, then apt-get
# upgrade in a chroot), cached in BENCH_DEBIAN; modelled from host files when that cannot
# run here (no root, no debootstrap, no mirror), which the output then says.
export BENCH_DEBIAN=${BENCH_DEBIAN:-${XDG_CACHE_HOME:-$HOME/.cache}/imgx-bench/debian}
if ! "$ROOT/scripts/debian-layers.sh" "$BENCH_DEBIAN"; then
	echo "bench-subdelta: no Debian layers (scripts/debian-layers.sh failed): scenario A is modelled" >&2
	unset BENCH_DEBIAN
fi
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
