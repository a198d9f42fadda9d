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
mkdir -p "$WORK/gen"
cat >"$WORK/gen/main.go" <<'GO'
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

type hw struct {
	h hash.Hash
	w io.Writer
	n int64
}

func (x *hw) Write(p []byte) (int, error) { x.h.Write(p); x.n += int64(len(p)); return x.w.Write(p) }

func main() {
	dir := os.Args[1]
	sizeMB, _ := strconv.Atoi(os.Args[2])
	layers, _ := strconv.Atoi(os.Args[3])
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	put := func(b []byte) (string, int) {
		s := sha256.Sum256(b)
		d := hex.EncodeToString(s[:])
		os.WriteFile(filepath.Join(blobs, d), b, 0o644)
		return d, len(b)
	}
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	var descs, diffs []map[string]any
	var diffIDs []string
	for l := 0; l < layers; l++ {
		tmp := filepath.Join(blobs, "tmp")
		f, _ := os.Create(tmp)
		comp := &hw{h: sha256.New(), w: f}
		zw, _ := gzip.NewWriterLevel(comp, gzip.NoCompression)
		un := &hw{h: sha256.New(), w: zw}
		tw := tar.NewWriter(un)
		for i := 0; i < sizeMB/layers; i++ {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d/file%04d", l, i), Mode: 0o644, Size: int64(len(buf)), Typeflag: tar.TypeReg})
			rng.Read(buf)
			tw.Write(buf)
		}
		tw.Close()
		zw.Close()
		f.Close()
		d := hex.EncodeToString(comp.h.Sum(nil))
		os.Rename(tmp, filepath.Join(blobs, d))
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + d, "size": comp.n})
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(un.h.Sum(nil)))
	}
	_ = diffs
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{"Cmd": []string{"/bin/sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cd, cn := put(cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": cn}, "layers": descs})
	md, mn := put(man)
	ix, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []map[string]any{{"mediaType": "application/vnd.oci.image.manifest.v1+json",
		"digest": "sha256:" + md, "size": mn, "annotations": map[string]string{"org.opencontainers.image.ref.name": "bench/big:1"}}}})
	os.WriteFile(filepath.Join(dir, "index.json"), ix, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}
GO
(cd "$WORK/gen" && GOFLAGS= GO111MODULE=off go run main.go "$WORK/layout" "$SIZE_MB" "$LAYERS")
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
