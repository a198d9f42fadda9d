#!/usr/bin/env bash
# Builds cosign for verify's interop tests (IMGX_REAL_TESTS=1) with `go install` through the
# Go module proxy into bin/tools/cosign. Does nothing when cosign is already on PATH or built.
# Cost measured on a shared 2-vCPU machine: about 150 s cold (module download + compile),
# a 138 MB binary; about 30 s (mostly linking) once the Go caches are warm.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${COSIGN_VERSION:-v2.6.5}"
DEST="$PWD/bin/tools"

if command -v cosign >/dev/null 2>&1; then
  echo "install-cosign: using $(command -v cosign)" >&2
  exit 0
fi
if [ -x "$DEST/cosign" ]; then
  exit 0
fi
mkdir -p "$DEST"
echo "install-cosign: building cosign $VERSION into $DEST (minutes the first time)" >&2
start=$(date +%s)
# Outside the repository so imgx's go.mod is neither read nor changed.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && GOBIN="$DEST" GOFLAGS=-mod=mod go install "github.com/sigstore/cosign/v2/cmd/cosign@$VERSION")
echo "install-cosign: built $DEST/cosign in $(( $(date +%s) - start ))s" >&2
