#!/usr/bin/env bash
# Benchmark imgx save / load / verify of a bundle on a ~1.5 GB four-layer image (random
# and real-file content, gzip and uncompressed layers) against the floors: skopeo copy to
# oci-archive + zstd -T0 for save; zstd -dc | sha256 of the stream for load and verify.
# Prints wall time, throughput, peak RSS and ratios. Usage: scripts/bench-bundle.sh [WORKDIR]
set -euo pipefail
W=${1:-$(mktemp -d /tmp/imgx-bench.XXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W"
IMGX=$W/imgx
(cd "$ROOT" && go build -o "$IMGX" ./cmd/imgx)
# No trust directory of the user's (a missing default one means no key; an explicit
# IMGX_TRUST_DIR that is missing is an error).
unset IMGX_TRUST_DIR
export IMGX_STORE=$W/store XDG_CONFIG_HOME=$W/config IMGX_PASSWORD=bench

sha() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- the image, as an OCI layout, loaded into the store -------------------------------
L=$W/layout
if [ ! -f "$L/index.json" ]; then
  rm -rf "$L" && mkdir -p "$L/blobs/sha256" "$W/gen"
  G=$W/gen
  mkdir -p "$G/l1" "$G/l2" "$G/l3" "$G/l4"
  head -c 400000000 /dev/urandom > "$G/l1/random.bin"                      # gzip, incompressible
  tar -C /usr/lib -cf - . 2>/dev/null | head -c 400000000 > "$G/l2/lib.tar" || true # raw, compressible
  head -c 300000000 /dev/urandom > "$G/l3/random.bin"                      # raw, incompressible
  tar -C /usr/share -cf - . 2>/dev/null | head -c 400000000 > "$G/l4/share.tar" || true # gzip, compressible
  layers=() diffs=()
  for i in 1 2 3 4; do
    tar -C "$G/l$i" -cf "$G/l$i.tar" .
    diffs+=("sha256:$(sha "$G/l$i.tar")")
    if [ $i = 1 ] || [ $i = 4 ]; then
      gzip -1 -c "$G/l$i.tar" > "$G/l$i.blob"; mt=application/vnd.oci.image.layer.v1.tar+gzip
    else
      mv "$G/l$i.tar" "$G/l$i.blob"; mt=application/vnd.oci.image.layer.v1.tar
    fi
    d=$(sha "$G/l$i.blob"); mv "$G/l$i.blob" "$L/blobs/sha256/$d"
    layers+=("{\"mediaType\":\"$mt\",\"digest\":\"sha256:$d\",\"size\":$(size "$L/blobs/sha256/$d")}")
  done
  rm -rf "$G"
  cfg="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"${diffs[0]}\",\"${diffs[1]}\",\"${diffs[2]}\",\"${diffs[3]}\"]}}"
  printf '%s' "$cfg" > "$W/cfg"; c=$(sha "$W/cfg"); mv "$W/cfg" "$L/blobs/sha256/$c"
  man="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$c\",\"size\":${#cfg}},\"layers\":[$(IFS=,; echo "${layers[*]}")]}"
  printf '%s' "$man" > "$W/man"; m=$(sha "$W/man"); ms=$(size "$W/man"); mv "$W/man" "$L/blobs/sha256/$m"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
  echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$m\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"bench/app:1\"}}]}" > "$L/index.json"
fi
rm -rf "$IMGX_STORE" && "$IMGX" load -q -i "$L"
TOTAL=$(du -sb "$IMGX_STORE/blobs" | cut -f1)
[ -f "$W/k.key" ] || "$IMGX" keygen --output-prefix "$W/k" >/dev/null

# --- measurements ----------------------------------------------------------------------
declare -A T R
run() { # name cmd...
  local name=$1; shift
  sync
  /usr/bin/time -f '%e %M' -o "$W/time" bash -c "$*" > /dev/null
  read -r T[$name] R[$name] < "$W/time"
}
rm -f "$W/b.imgx" "$W/sk.tar" "$W/sk.tar.zst"
run save      "'$IMGX' save bench/app:1 --sign-key '$W/k.key' -o '$W/b.imgx' 2>/dev/null"
run skopeo    "skopeo copy -q oci:'$IMGX_STORE':bench/app:1 oci-archive:'$W/sk.tar' && zstd -q -T0 --rm '$W/sk.tar' -o '$W/sk.tar.zst'"
run floor     "zstd -dc '$W/b.imgx' | openssl dgst -sha256"
run load      "rm -rf '$W/store2' && IMGX_STORE='$W/store2' '$IMGX' load -q --key '$W/k.pub' -i '$W/b.imgx'"
run verify    "'$IMGX' verify --key '$W/k.pub' '$W/b.imgx'"
run vfast     "'$IMGX' verify --fast --key '$W/k.pub' '$W/b.imgx'"
run savenone  "'$IMGX' save bench/app:1 --compress none -o '$W/b.tar' 2>/dev/null"

mb() { awk -v b="$TOTAL" -v t="$1" 'BEGIN{printf "%7.0f MB/s", b/1e6/t}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
printf 'image: %.2f GB in 4 layers; bundle %.2f GB (zstd), skopeo+zstd %.2f GB\n' \
  "$(awk -v b="$TOTAL" 'BEGIN{print b/1e9}')" "$(awk -v b="$(size "$W/b.imgx")" 'BEGIN{print b/1e9}')" \
  "$(awk -v b="$(size "$W/sk.tar.zst")" 'BEGIN{print b/1e9}')"
printf '%-28s %7s %12s %9s\n' step seconds throughput "peak RSS"
for k in save skopeo savenone load floor verify vfast; do
  printf '%-28s %7.2f %12s %6d MB\n' "$k" "${T[$k]}" "$(mb "${T[$k]}")" $(( ${R[$k]} / 1024 ))
done
echo "save speedup vs skopeo+zstd:   $(ratio "${T[skopeo]}" "${T[save]}")x   (target >= 2)"
echo "load throughput vs floor:      $(ratio "${T[floor]}" "${T[load]}")   (target >= 0.70)"
echo "verify --fast vs floor:        $(ratio "${T[floor]}" "${T[vfast]}")   (target >= 0.70)"
echo "verify (diff IDs) vs floor:    $(ratio "${T[floor]}" "${T[verify]}")"
