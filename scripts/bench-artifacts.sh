#!/usr/bin/env bash
# Cost of carrying signatures, attestations and SBOMs (issue 15): pull, save and load of
# one generated image with a cosign signature, an SPDX attestation (cosign attest) and an
# SBOM attached, side by side with the same image without them, against a real registry
# (Debian's docker-registry via scripts/registry-test.sh) on loopback.
#
#   scripts/bench-artifacts.sh [SIZE_MB]     (default 256; LAYERS=4 REPS=3)
#
# The two images share their blobs but live in two repositories (plain/app, signed/app);
# each timed step starts from an empty store (pull, load) or writes a new file (save).
# Runs alternate which variant goes first. Prints every run, the medians and the ratio
# signed/plain (the issue's bound: at most 1.05). Needs: go, jq, GNU time, cosign
# (bin/tools/cosign, built by scripts/install-cosign.sh), docker-registry.
set -euo pipefail

SIZE_MB=${1:-256}
LAYERS=${LAYERS:-4}
REPS=${REPS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-$(mktemp -d /tmp/imgx-bench-artifacts.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
REGCTL=$ROOT/scripts/registry-test.sh
COSIGN=${COSIGN:-$ROOT/bin/tools/cosign}
for t in go jq /usr/bin/time "$COSIGN"; do
	command -v "$t" >/dev/null || { echo "bench-artifacts: $t is required" >&2; exit 1; }
done
cleanup() {
	"$REGCTL" stop "$WORK/reg" >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building imgx, generating a ${SIZE_MB} MB image (${LAYERS} layers), starting a registry"
(cd "$ROOT" && go build -o "$WORK/imgx" ./cmd/imgx)
IMGX=$WORK/imgx
(cd "$ROOT" && go run ./internal/benchlayout "$WORK/layout" "$SIZE_MB" "$LAYERS")
IMGX_STORE=$WORK/src "$IMGX" load -q -i "$WORK/layout"
"$REGCTL" start "$WORK/reg" >/dev/null
ADDR=$(cat "$WORK/reg/registry.addr")
for repo in plain signed; do
	IMGX_STORE=$WORK/src "$IMGX" push -q --insecure bench/big:1 "$ADDR/$repo/app:1"
done
DIGEST=$(IMGX_STORE=$WORK/src "$IMGX" inspect --format '{{ .Digest }}' bench/big:1)

# Sign, attest an SPDX SBOM (about 200 KB: 1000 packages) and attach it as an SBOM, as a
# publisher's CI would, offline (no transparency log).
export COSIGN_PASSWORD=bench COSIGN_YES=true
(cd "$WORK" && "$COSIGN" generate-key-pair --output-key-prefix k >/dev/null 2>&1)
python3 - "$WORK/sbom.spdx.json" <<'PY'
import json, sys
pk = [{"SPDXID": f"SPDXRef-Package-{i}", "name": f"pkg-{i}", "versionInfo": f"1.{i}.0",
       "downloadLocation": "NOASSERTION", "licenseConcluded": "MIT",
       "checksums": [{"algorithm": "SHA256", "checksumValue": f"{i:064x}"}]} for i in range(1000)]
json.dump({"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
           "name": "app", "documentNamespace": "https://example.com/app",
           "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: bench"]},
           "packages": pk}, open(sys.argv[1], "w"))
PY
CO=(--allow-insecure-registry --allow-http-registry)
"$COSIGN" sign --key "$WORK/k.key" --tlog-upload=false "${CO[@]}" "$ADDR/signed/app@$DIGEST" >/dev/null 2>&1
"$COSIGN" attest --key "$WORK/k.key" --tlog-upload=false "${CO[@]}" --type spdxjson \
	--predicate "$WORK/sbom.spdx.json" "$ADDR/signed/app@$DIGEST" >/dev/null 2>&1
"$COSIGN" attach sbom --sbom "$WORK/sbom.spdx.json" --type spdx "${CO[@]}" "$ADDR/signed/app@$DIGEST" >/dev/null 2>&1 || \
	echo "   (cosign attach sbom failed; measuring signature + attestation only)"
echo "   image $DIGEST, cosign $("$COSIGN" version 2>/dev/null | awk '/GitVersion/{print $2}'), $REPS runs each"

# Wall time and CPU time (user + system): on a shared machine the wall time of a run
# varies by more than the difference measured, CPU time much less.
declare -A SECS CPU
timed() { # timed KEY CMD...
	local key=$1 s u k c
	shift
	sync
	/usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" >"$WORK/out.$key" 2>"$WORK/err.$key" || {
		echo "bench-artifacts: $key failed: $*" >&2; cat "$WORK/err.$key" >&2; exit 1; }
	read -r s u k < <(tail -n1 "$WORK/time")
	c=$(awk -v u="$u" -v k="$k" 'BEGIN{ printf "%.2f", u + k }')
	SECS[$key]="${SECS[$key]:-} $s"
	CPU[$key]="${CPU[$key]:-} $c"
	printf '   %-14s run %d  %6.2f s wall  %6.2f s cpu\n' "$key" "$run" "$s" "$c"
}
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
one() { # one VARIANT: pull, save, load
	local v=$1
	rm -rf "$WORK/st-$v" "$WORK/rx-$v" "$WORK/$v.imgx"
	timed "pull_$v" env IMGX_STORE="$WORK/st-$v" "$IMGX" pull -q --insecure --progress none "$ADDR/$v/app:1"
	timed "save_$v" env IMGX_STORE="$WORK/st-$v" "$IMGX" save -q -o "$WORK/$v.imgx" "$ADDR/$v/app:1"
	timed "load_$v" env IMGX_STORE="$WORK/rx-$v" "$IMGX" load -q -i "$WORK/$v.imgx"
}
for run in $(seq 1 "$REPS"); do
	if [ $((run % 2)) = 1 ]; then one plain; one signed; else one signed; one plain; fi
done
arts=$(IMGX_STORE=$WORK/rx-signed "$IMGX" images --json | jq '[.images[].artifacts[]] | length')
extra=$(( $(stat -c %s "$WORK/signed.imgx") - $(stat -c %s "$WORK/plain.imgx") ))
echo "== medians (signed: $arts artifacts carried; bundle +$extra bytes)"
ratio() { awk -v p="$1" -v s="$2" 'BEGIN{ if (p < 0.01) p = 0.01; printf "%.3f", s/p }'; }
printf '   %-6s %9s %9s %7s   %9s %9s %7s\n' step "wall:plain" signed ratio "cpu:plain" signed ratio
for step in pull save load; do
	p=$(median "${SECS[${step}_plain]}")
	s=$(median "${SECS[${step}_signed]}")
	pc=$(median "${CPU[${step}_plain]}")
	sc=$(median "${CPU[${step}_signed]}")
	printf '   %-6s %8.2fs %8.2fs %7s   %8.2fs %8.2fs %7s\n' "$step" "$p" "$s" "$(ratio "$p" "$s")" "$pc" "$sc" "$(ratio "$pc" "$sc")"
done
