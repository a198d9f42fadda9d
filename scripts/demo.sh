#!/usr/bin/env bash
# The main job, end to end, on one machine: build a tiny static program, import it as an
# image, and carry it to a second store the way an air-gapped site would. Each stage runs
# as soon as imgx has the feature; the output shows what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
IMGX="$PWD/bin/imgx"
OUT="$PWD/demo-out"
rm -rf "$OUT"; mkdir -p "$OUT/rootfs/etc"
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

step "4. sign and save a bundle, ship it over SFTP, verify and load it on the other side"
export IMGX_PASSWORD=demo-password   # in real use: prompted on the terminal, never on argv
run "$IMGX" keygen --output-prefix "$OUT/release"
mkdir -p "$OUT/usb"
run "$IMGX" save example/hello:1.0 example/hello:latest --sign-key "$OUT/release.key" -o "$OUT/usb/hello-1.0.imgx"

# The carrier: a throwaway OpenSSH sshd on 127.0.0.1 (host key pinned in its own
# known_hosts), or the USB directory when sshd cannot run here.
LOC="$OUT/usb/hello-1.0.imgx"
SSH_FLAGS=()
if [ -x /usr/sbin/sshd ] && [ "$(id -u)" -eq 0 ]; then
  eval "$(./scripts/sshd-test.sh "$OUT/sshd")"
  trap 'kill "$IMGX_SSHD_PID" 2>/dev/null || true' EXIT
  mkdir -p "$OUT/gateway/incoming"
  LOC="sftp://$IMGX_SSHD_USER@127.0.0.1:$IMGX_SSHD_PORT$OUT/gateway/incoming/hello-1.0.imgx"
  SSH_FLAGS=(--identity "$IMGX_SSHD_KEY" --known-hosts "$IMGX_SSHD_KNOWN_HOSTS" --ssh-config none)
  run "$IMGX" save example/hello:1.0 example/hello:latest --sign-key "$OUT/release.key" --verify "${SSH_FLAGS[@]}" -o "$LOC"
  run "$IMGX" ls --long "${SSH_FLAGS[@]}" "${LOC%/*}/"
fi
run "$IMGX" verify --key "$OUT/release.pub" "${SSH_FLAGS[@]}" "$LOC"
export IMGX_STORE="$OUT/store-b"
echo "(receiver's store: $IMGX_STORE)"
run "$IMGX" load --key "$OUT/release.pub" "${SSH_FLAGS[@]}" -i "$LOC"
run "$IMGX" images
run "$IMGX" check

step "5. run what arrived: unpack the image and execute its entrypoint"
run "$IMGX" unpack example/hello:1.0 "$OUT/unpacked"
run "$OUT/unpacked/hello"

step "6. populate the site registry from the loaded store, and pull from it elsewhere"
# A throwaway distribution registry (Debian's docker-registry) with TLS and its own CA.
if [ -x /usr/bin/docker-registry ]; then
  eval "$(./scripts/registry-test.sh start "$OUT/registry" --tls)"
  trap 'kill "${IMGX_SSHD_PID:-}" 2>/dev/null || true; ./scripts/registry-test.sh stop "$OUT/registry" >/dev/null 2>&1 || true' EXIT
  run "$IMGX" push --all "$IMGX_REGISTRY_ADDR/site" --ca-cert "$IMGX_REGISTRY_CA" --progress none
  if command -v skopeo >/dev/null; then
    mkdir -p "$OUT/certs" && cp "$IMGX_REGISTRY_CA" "$OUT/certs/ca.crt"
    run skopeo inspect --cert-dir "$OUT/certs" --format '{{.Digest}}' "docker://$IMGX_REGISTRY_ADDR/site/example/hello:1.0"
  fi
  run "$IMGX" --store "$OUT/store-d" pull --ca-cert "$IMGX_REGISTRY_CA" --progress none "$IMGX_REGISTRY_ADDR/site/example/hello:1.0"
  run "$IMGX" --store "$OUT/store-d" images
else
  echo "(docker-registry not installed: scripts/install-deps.sh installs it)"
fi

step "7. a tampered bundle is refused, and the store is left as it was"
cp "$OUT/usb/hello-1.0.imgx" "$OUT/tampered.imgx"
printf 'X' | dd of="$OUT/tampered.imgx" bs=1 seek=$(( $(stat -c %s "$OUT/tampered.imgx") - 4000 )) conv=notrunc 2>/dev/null
if "$IMGX" --store "$OUT/store-c" load --key "$OUT/release.pub" -i "$OUT/tampered.imgx"; then
  echo "BUG: a tampered bundle loaded"; exit 1
fi
run "$IMGX" --store "$OUT/store-c" images

step "8. a hostile carrier: a file that is not a signed bundle cannot slip past the trust policy"
# Someone with write access to the stick swaps the bundle for a plain docker save archive
# under the same name: under --key only a signed imgx bundle is accepted.
"$IMGX" save --format docker-archive example/hello:1.0 -o "$OUT/swapped.imgx"
if "$IMGX" --store "$OUT/store-c" load --key "$OUT/release.pub" -i "$OUT/swapped.imgx"; then
  echo "BUG: an unsigned archive loaded under --key"; exit 1
fi
# verify with no trusted key does not claim anything: NOT VERIFIED, exit 1.
if XDG_CONFIG_HOME="$OUT/empty-config" "$IMGX" verify "$OUT/usb/hello-1.0.imgx"; then
  echo "BUG: verify without a key exited 0"; exit 1
fi

step "9. a stick pulled out at half the bundle: the next save resumes instead of starting over"
# Simulated: the first half of the bundle is left as the partial file a pulled stick leaves.
size=$(stat -c %s "$OUT/usb/hello-1.0.imgx")
head -c $(( size / 2 )) "$OUT/usb/hello-1.0.imgx" > "$OUT/usb/.again.imgx.imgx-part"
run "$IMGX" save example/hello:1.0 example/hello:latest --sign-key "$OUT/release.key" -o "$OUT/usb/again.imgx"
cmp "$OUT/usb/hello-1.0.imgx" "$OUT/usb/again.imgx" && echo "resumed bundle is byte-identical"

step "10. at an event: imgx serve makes the store a read-only registry; skopeo pulls from it"
if command -v skopeo >/dev/null; then
  (
    "$IMGX" serve --addr 127.0.0.1:0 --log-format json >"$OUT/serve.out" 2>"$OUT/serve.log" &
    pid=$!
    trap 'kill "$pid" 2>/dev/null || true' EXIT
    for _ in $(seq 50); do grep -q '://' "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
    cat "$OUT/serve.out"
    addr=$(sed -n 's#.*://##p' "$OUT/serve.out")
    run skopeo copy -q --src-tls-verify=false "docker://$addr/example/hello:1.0" "dir:$OUT/served"
    want=$(skopeo inspect --format '{{.Digest}}' "oci:$IMGX_STORE:example/hello:1.0")
    got="sha256:$(sha256sum "$OUT/served/manifest.json" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || { echo "BUG: pulled $got, the store has $want"; exit 1; }
    echo "pulled manifest digest equals the store's: $got"
    run kill -TERM "$pid"
    wait "$pid" && echo "imgx serve (pid $pid) stopped on SIGTERM, exit 0; $(grep -c '"msg":"request"' "$OUT/serve.log") requests logged"
    trap - EXIT
  )
else
  echo "(skopeo not installed: scripts/install-deps.sh --demo installs it)"
fi

step "11. handing out sticks: one encrypted bundle written to two sticks at once, loaded with the site's key"
# The site's age key: the sender holds only its recipient (public). The bundle is made
# once and written to both sticks, each read back (--verify); without the key it is opaque.
mkdir -p "$OUT/stick1" "$OUT/stick2"
run "$IMGX" keygen --encryption --output-prefix "$OUT/site"
rcpt=$(cat "$OUT/site-encryption.pub")
run "$IMGX" save example/hello:1.0 --sign-key "$OUT/release.key" --encrypt-to "$rcpt" --verify \
  -o "$OUT/stick1/hello.imgx" -o "$OUT/stick2/hello.imgx"
cmp "$OUT/stick1/hello.imgx" "$OUT/stick2/hello.imgx" && echo "both sticks hold the same bytes"
run "$IMGX" ls --long "$OUT/stick1"
if "$IMGX" --store "$OUT/store-e" load --key "$OUT/release.pub" -i "$OUT/stick1/hello.imgx" 2>/dev/null; then
  echo "BUG: an encrypted bundle loaded without the identity"; exit 1
fi
run "$IMGX" --store "$OUT/store-e" load --key "$OUT/release.pub" --identity-file "$OUT/site-encryption.key" -i "$OUT/stick2/hello.imgx"

printf '\ndemo finished: outputs in %s\n' "$OUT"
