#!/usr/bin/env bash
# The main job, end to end, on one machine: build a tiny static program, import it as an
# image, and carry it to a second store the way an air-gapped site would. Each stage runs
# as soon as imgx has the feature; the output shows what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
IMGX="$PWD/bin/imgx"
OUT="$PWD/demo-out"
rm -rf "$OUT"; mkdir -p "$OUT/rootfs/etc"
has() { "$IMGX" "$1" --help >/dev/null 2>&1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. a tiny static program as a root filesystem"
CGO_ENABLED=0 go build -ldflags "-s -w -X 'main.message=hello from imgx demo, built $(date -u +%FT%TZ)'" -o "$OUT/rootfs/hello" ./internal/demo/hello
echo "demo:x:1000:1000::/:/hello" > "$OUT/rootfs/etc/passwd"
tar -C "$OUT/rootfs" -cf "$OUT/hello.tar" .
ls -l "$OUT/hello.tar"

export IMGX_STORE="$OUT/store-a"
step "2. import it as an image (sender's store: $IMGX_STORE)"
run "$IMGX" import --change 'ENTRYPOINT ["/hello"]' --change 'USER demo' \
  --change 'LABEL org.opencontainers.image.title=hello' -m "demo import" "$OUT/hello.tar" example/hello:1.0
run "$IMGX" tag example/hello:1.0 example/hello:latest
run "$IMGX" images
run "$IMGX" inspect --format '{{ json .Config }}' example/hello:1.0
run "$IMGX" history example/hello:1.0
run "$IMGX" check

if command -v skopeo >/dev/null; then
  step "3. the store is a plain OCI layout: skopeo reads it"
  run skopeo inspect --format '{{.Digest}} {{.Architecture}} {{.Labels}}' "oci:$IMGX_STORE:example/hello:1.0"
fi

if has keygen && has save && has verify; then
  step "4. sign and save a bundle, ship it, verify and load it elsewhere"
  export IMGX_PASSWORD=demo-password
  mkdir -p "$OUT/usb"   # the USB stick
  run "$IMGX" keygen --output-prefix "$OUT/release"
  run "$IMGX" save example/hello:1.0 example/hello:latest --sign-key "$OUT/release.key" -o "$OUT/usb/hello-1.0.imgx"
  run "$IMGX" verify --key "$OUT/release.pub" "$OUT/usb/hello-1.0.imgx"
  export IMGX_STORE="$OUT/store-b"
  run "$IMGX" load --key "$OUT/release.pub" -i "$OUT/usb/hello-1.0.imgx"
  run "$IMGX" images
  run "$IMGX" check
fi

step "5. run what arrived: unpack the image and execute its entrypoint"
if has export; then
  mkdir -p "$OUT/unpacked"
  run "$IMGX" export example/hello:1.0 -o "$OUT/rootfs-out.tar"
  tar -C "$OUT/unpacked" -xf "$OUT/rootfs-out.tar"
  run "$OUT/unpacked/hello"
else
  echo "(export not available yet)"
fi
printf '\ndemo finished: outputs in %s\n' "$OUT"
