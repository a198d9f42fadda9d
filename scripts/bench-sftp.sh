#!/usr/bin/env bash
# Ship and receive an image over SFTP in one run, against a real OpenSSH sshd on
# 127.0.0.1 (scripts/sshd-test.sh), aes128-gcm on both sides:
#
#   ship:    imgx save -o sftp://…          vs  imgx save -o FILE, then OpenSSH sftp put
#   receive: imgx load -i sftp://…          vs  OpenSSH sftp get, then imgx load -i FILE
#
# Streaming should cost about the slower of its two halves, not their sum (issue 18's
# goal: both ratios >= 1.3). Steps are interleaved, REPS rounds (default 3); medians.
#
#   scripts/bench-sftp.sh [WORKDIR]        SIZE_MB=700 REPS=3 IMGX=path/to/imgx
#
# The image (SIZE_MB of layer content: a third random bytes, the rest tars of /usr, all
# gzip layers) is made once in WORKDIR and kept there for the next run. The last two
# lines are for scripts to grep:
#
#   sftp ship: imgx X s, two-step Y s, ratio Z
#   sftp receive: imgx X s, two-step Y s, ratio Z
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$(mktemp -d /tmp/imgx-bench-sftp.XXXXXX)}
SIZE_MB=${SIZE_MB:-700}
REPS=${REPS:-3}
mkdir -p "$W"
W=$(cd "$W" && pwd)
if [ -z "${IMGX:-}" ]; then
	IMGX=$W/imgx
	(cd "$ROOT" && go build -o "$IMGX" ./cmd/imgx)
fi
unset IMGX_TRUST_DIR
export IMGX_STORE=$W/store XDG_CONFIG_HOME=$W/config IMGX_PASSWORD=bench
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$W/remote" "$W/store2" "$W/p.imgx" "$W/got.imgx"
}
trap cleanup EXIT

sha() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- the image, as an OCI layout, loaded into the store ---------------------------------
L=$W/layout
if [ ! -f "$L/index.json" ] || [ "$(cat "$W/size_mb" 2>/dev/null)" != "$SIZE_MB" ]; then
	echo "making a ${SIZE_MB} MB image in $L" >&2
	rm -rf "$L" "$IMGX_STORE" && mkdir -p "$L/blobs/sha256" "$W/gen"
	G=$W/gen
	rand=$((SIZE_MB / 3)) text=$(((SIZE_MB - SIZE_MB / 3) / 2))
	mkdir -p "$G/l1" "$G/l2" "$G/l3"
	head -c $((rand * 1000000)) /dev/urandom >"$G/l1/random.bin"
	tar -C /usr/lib -cf - . 2>/dev/null | head -c $((text * 1000000)) >"$G/l2/lib.tar" || true
	tar -C /usr/share -cf - . 2>/dev/null | head -c $((text * 1000000)) >"$G/l3/share.tar" || true
	layers=() diffs=()
	for i in 1 2 3; do
		tar -C "$G/l$i" -cf "$G/l$i.tar" .
		diffs+=("\"sha256:$(sha "$G/l$i.tar")\"")
		gzip -1 -c "$G/l$i.tar" >"$G/l$i.blob"
		d=$(sha "$G/l$i.blob")
		mv "$G/l$i.blob" "$L/blobs/sha256/$d"
		layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(size "$L/blobs/sha256/$d")}")
		rm -f "$G/l$i.tar"
	done
	rm -rf "$G"
	cfg="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(IFS=,; echo "${diffs[*]}")]}}"
	printf '%s' "$cfg" >"$W/cfg" && c=$(sha "$W/cfg") && mv "$W/cfg" "$L/blobs/sha256/$c"
	man="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$c\",\"size\":${#cfg}},\"layers\":[$(IFS=,; echo "${layers[*]}")]}"
	printf '%s' "$man" >"$W/man" && m=$(sha "$W/man") && ms=$(size "$W/man") && mv "$W/man" "$L/blobs/sha256/$m"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
	echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$m\",\"size\":$ms,\"annotations\":{\"org.opencontainers.image.ref.name\":\"bench/sftp:1\"}}]}" >"$L/index.json"
	echo "$SIZE_MB" >"$W/size_mb"
fi
[ -d "$IMGX_STORE" ] || "$IMGX" load -q -i "$L"
[ -f "$W/k.key" ] || "$IMGX" keygen --output-prefix "$W/k" >/dev/null
"$IMGX" save -q bench/sftp:1 --sign-key "$W/k.key" -o "$W/b.imgx"

# --- the server -------------------------------------------------------------------------
eval "$("$ROOT/scripts/sshd-test.sh" "$W/sshd")"
pids+=("$IMGX_SSHD_PID")
R=$W/remote
mkdir -p "$R/ship" "$R/recv"
cp "$W/b.imgx" "$R/recv/b.imgx"
URL=sftp://$IMGX_SSHD_USER@127.0.0.1:$IMGX_SSHD_PORT
SSH=(--identity "$IMGX_SSHD_KEY" --known-hosts "$IMGX_SSHD_KNOWN_HOSTS" --ssh-config none)
openssh() {
	echo "$1" | sftp -q -b - -P "$IMGX_SSHD_PORT" -i "$IMGX_SSHD_KEY" -o UserKnownHostsFile="$IMGX_SSHD_KNOWN_HOSTS" \
		-o BatchMode=yes -F none -c aes128-gcm@openssh.com "$IMGX_SSHD_USER@127.0.0.1" >/dev/null
}

# --- the runs ---------------------------------------------------------------------------
declare -A T
# timed KEY CMD...: run CMD after a sync; append its wall seconds to T[KEY]
timed() {
	local key=$1 t0 t1
	shift
	sync
	t0=$(date +%s.%N)
	"$@" || { echo "bench-sftp: $key failed" >&2; exit 1; }
	t1=$(date +%s.%N)
	T[$key]="${T[$key]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
}
fresh() { rm -rf "$R/ship"/* "$R/ship"/.??* "$W/store2" "$W/p.imgx" "$W/got.imgx"; }
ship_imgx() { "$IMGX" save -q bench/sftp:1 --sign-key "$W/k.key" "${SSH[@]}" -o "$URL$R/ship/b.imgx"; }
ship_two() { "$IMGX" save -q bench/sftp:1 --sign-key "$W/k.key" -o "$W/p.imgx" && openssh "put $W/p.imgx $R/ship/p.imgx"; }
recv_imgx() { IMGX_STORE=$W/store2 "$IMGX" load -q --key "$W/k.pub" "${SSH[@]}" -i "$URL$R/recv/b.imgx"; }
recv_two() { openssh "get $R/recv/b.imgx $W/got.imgx" && IMGX_STORE=$W/store2 "$IMGX" load -q --key "$W/k.pub" -i "$W/got.imgx"; }
load0=$(cut -d' ' -f1 /proc/loadavg)
for rep in $(seq "$REPS"); do
	echo "run $rep of $REPS" >&2
	fresh && timed ship_imgx ship_imgx
	fresh && timed ship_two ship_two
	fresh && timed recv_imgx recv_imgx
	fresh && timed recv_two recv_two
done
fresh

median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END { m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.2f", m }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "SFTP streaming vs two steps with OpenSSH sftp: bundle $(awk -v b="$(size "$W/b.imgx")" 'BEGIN { printf "%.0f", b/1e6 }') MB, $(nproc) cores, load $load0 -> $(cut -d' ' -f1 /proc/loadavg), medians of $REPS"
for k in ship_imgx ship_two recv_imgx recv_two; do
	printf '%-10s %6s s   (runs:%s)\n' "$k" "$(median "${T[$k]}")" "${T[$k]}"
done
echo "sftp ship: imgx $(median "${T[ship_imgx]}") s, two-step $(median "${T[ship_two]}") s, ratio $(ratio "$(median "${T[ship_two]}")" "$(median "${T[ship_imgx]}")")"
echo "sftp receive: imgx $(median "${T[recv_imgx]}") s, two-step $(median "${T[recv_two]}") s, ratio $(ratio "$(median "${T[recv_two]}")" "$(median "${T[recv_imgx]}")")"
