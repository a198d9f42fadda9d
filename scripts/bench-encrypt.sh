#!/usr/bin/env bash
# Benchmark encrypted (age, one X25519 recipient) against unencrypted bundles on the same
# image: save to a file and load into an empty store, alternating plain and encrypted
# runs, 3 of each; prints the median wall time, throughput, peak RSS and the ratio
# encrypted/plain (issue 19 target: encrypted >= 85% of plain throughput, memory unchanged).
# CPU s is user+system time, a steadier figure than wall time on a shared machine.
# Usage: scripts/bench-encrypt.sh [WORKDIR] (SIZE_MB=300 by default).
set -euo pipefail
W=${1:-$(mktemp -d /tmp/imgx-bench-enc.XXXX)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-300}
mkdir -p "$W"
IMGX=$W/imgx
(cd "$ROOT" && go build -o "$IMGX" ./cmd/imgx)
unset IMGX_TRUST_DIR
export IMGX_STORE=$W/store XDG_CONFIG_HOME=$W/config XDG_STATE_HOME=$W/state IMGX_PASSWORD=bench

if [ ! -f "$W/r.tar" ]; then
  mkdir -p "$W/rootfs"
  head -c $((SIZE_MB / 2 * 1000000)) /dev/urandom > "$W/rootfs/random.bin"             # incompressible
  tar -C /usr/lib -cf - . 2>/dev/null | head -c $((SIZE_MB / 2 * 1000000)) > "$W/rootfs/lib.tar" || true # compressible
  tar -C "$W/rootfs" -cf "$W/r.tar" . && rm -rf "$W/rootfs"
fi
rm -rf "$IMGX_STORE" && "$IMGX" import "$W/r.tar" bench/app:1 >/dev/null
TOTAL=$(du -sb "$IMGX_STORE/blobs" | cut -f1)
[ -f "$W/k.key" ] || "$IMGX" keygen --output-prefix "$W/k" >/dev/null
[ -f "$W/e-encryption.key" ] || "$IMGX" keygen --encryption --output-prefix "$W/e" >/dev/null

declare -A T R C
run() { # name cmd...
  local name=$1; shift
  sync
  /usr/bin/time -f '%e %M %U %S' -o "$W/time" bash -c "$*" > /dev/null
  local t r u s; read -r t r u s < "$W/time"
  T[$name]="${T[$name]:-} $t"; R[$name]="${R[$name]:-} $r"
  C[$name]="${C[$name]:-} $(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')"
}
for i in 1 2 3; do
  rm -f "$W/p.imgx" "$W/e.imgx"
  run save     "'$IMGX' save -q bench/app:1 --sign-key '$W/k.key' -o '$W/p.imgx'"
  run save-enc "'$IMGX' save -q bench/app:1 --sign-key '$W/k.key' --encrypt-to-file '$W/e-encryption.pub' -o '$W/e.imgx'"
  run load     "rm -rf '$W/s2' && IMGX_STORE='$W/s2' '$IMGX' load -q --key '$W/k.pub' -i '$W/p.imgx'"
  run load-enc "rm -rf '$W/s2' && IMGX_STORE='$W/s2' '$IMGX' load -q --key '$W/k.pub' --identity-file '$W/e-encryption.key' -i '$W/e.imgx'"
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | sed -n 2p; }
printf 'image: %.0f MB (half random, half /usr/lib); bundle %.0f MB, encrypted %.0f MB\n' \
  "$(awk -v b="$TOTAL" 'BEGIN{print b/1e6}')" "$(awk -v b="$(stat -c %s "$W/p.imgx")" 'BEGIN{print b/1e6}')" \
  "$(awk -v b="$(stat -c %s "$W/e.imgx")" 'BEGIN{print b/1e6}')"
printf '%-10s %8s %10s %9s %9s   %s\n' step "median s" "MB/s" "CPU s" "peak RSS" "runs (s)"
declare -A M
for k in save save-enc load load-enc; do
  M[$k]=$(echo "${T[$k]}" | median)
  printf '%-10s %8.2f %10.0f %9.2f %6d MB   %s\n' "$k" "${M[$k]}" "$(awk -v b="$TOTAL" -v t="${M[$k]}" 'BEGIN{print b/1e6/t}')" \
    "$(echo "${C[$k]}" | median)" $(( $(echo "${R[$k]}" | median) / 1024 )) "${T[$k]}"
done
for k in save load; do
  printf 'encrypted %s throughput: %.0f%% of plain (target >= 85%%)\n' "$k" "$(awk -v a="${M[$k]}" -v b="${M[$k-enc]}" 'BEGIN{print 100*a/b}')"
done
