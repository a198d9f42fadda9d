#!/usr/bin/env bash
# The benchmark table of issue 18 (`make bench`): imgx's save, load, verify, SFTP, FTP,
# registry and ingest figures against their peers (skopeo, zstd, OpenSSH sftp, curl, Debian's
# docker-registry) and against a floor (internal/benchfloor: read + SHA-256 + write + fsync of
# the same bytes on every core), all in one run, medians of REPS runs, printed as one table.
# docs/benchmarks.md explains every row.
#
#   scripts/bench.sh                       the issue's image: 1570 MB in six layers
#   SIZE=300 scripts/bench.sh              a quick run on a smaller image of the same shape
#   ROWS=save,load,verify scripts/bench.sh only some rows (save load verify sftp ftp registry ingest)
#
# Knobs: SIZE (MB of layer content, default 1570), REPS (default 3), ROWS, BENCH_DIR (work
# directory, default a new one under /tmp, needs about 3x SIZE of free disk), BENCH_KEEP=1
# (keep it). Needs root for the FTP test account (scripts/vsftpd-test.sh), and go, skopeo,
# zstd, gzip, openssl, jq, curl, OpenSSH (sshd, sftp), vsftpd, docker-registry, GNU time.
# Every server it starts listens on 127.0.0.1 and is stopped on exit, as is the work
# directory removed, also when a step fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"

SIZE=${SIZE:-1570}
REPS=${REPS:-3}
ROWS=${ROWS:-save,load,verify,sftp,ftp,registry,ingest}
row() { [[ ",$ROWS," == *",$1,"* ]]; }
for t in go skopeo zstd gzip openssl jq curl sftp /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "bench: $t is required (scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$SIZE" -ge 20 ] || { echo "bench: SIZE must be at least 20 (MB)" >&2; exit 1; }

WORK=${BENCH_DIR:-$(mktemp -d /tmp/imgx-bench.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
chmod 755 "$WORK" # the FTP test account must reach its root inside
export WORK BENCH_TMP=$WORK
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "== $(date -u +%T) $*" >&2; }

LOAD_START=$(bench_load)
log "building imgx, the floor and the image generator in $WORK"
(cd "$ROOT" && go build -o "$WORK/imgx" ./cmd/imgx && go build -o "$WORK/benchfloor" ./internal/benchfloor &&
	go build -o "$WORK/benchimage" ./internal/benchimage)
export IMGX=$WORK/imgx FLOOR=$WORK/benchfloor
# No trust directory or SSH config of the user's.
unset IMGX_TRUST_DIR
export IMGX_STORE=$WORK/store XDG_CONFIG_HOME=$WORK/config IMGX_PASSWORD=bench
"$IMGX" keygen --output-prefix "$WORK/k" >/dev/null

# --- the images ---------------------------------------------------------------------------
# Like the issue's (internal/benchimage): bench/app:1 has five gzip layers of real files (this
# machine's /usr/share, /usr/bin, /usr/lib as tar entries) and one gzip layer of
# incompressible random bytes (200 of every 1570 MB); the issue's image had 728 MB of blobs,
# /usr here gives about 820 MB (printed below). Ten small one-layer images
# (bench/small1:1 …, SIZE/40 MB each, more /usr files) are the ingest row's bundles.
RAND=$((SIZE * 200 / 1570))
log "generating the images: ${SIZE} MB in 6 gzip layers (5 of /usr files, 1 of ${RAND} MB random), 10 small ones"
G=$WORK/gen
"$WORK/benchimage" -o "$G/layout" -size "$SIZE" -blobs "$G/app-blobs"
"$IMGX" load -q -i "$G/layout"
# The image's blob files in the store (what save reads): the floor of save reads the same.
mapfile -t STORE_BLOBS < <(sed "s#^#$IMGX_STORE/blobs/sha256/#" "$G/app-blobs")
BLOB_BYTES=$(du -cb "${STORE_BLOBS[@]}" | tail -n1 | cut -f1)
rm -rf "$G"

log "making the bundles that load, verify and receive read"
"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" -o "$WORK/b.imgx"
mkdir -p "$WORK/ten"
for i in $(seq 10); do "$IMGX" save -q "bench/small$i:1" --sign-key "$WORK/k.key" -o "$WORK/ten/small$i.imgx"; done
BUNDLE_BYTES=$(stat -c %s "$WORK/b.imgx")
TEN_BYTES=$(du -cb "$WORK"/ten/*.imgx | tail -n1 | cut -f1)
if row load || row save; then
	skopeo copy -q "oci:$IMGX_STORE:bench/app:1" "oci-archive:$WORK/skopeo.tar"
fi
export BLOBS_LIST="${STORE_BLOBS[*]}"

# --- servers ------------------------------------------------------------------------------
if row sftp; then
	log "starting sshd on 127.0.0.1"
	eval "$("$ROOT/scripts/sshd-test.sh" "$WORK/sshd")"
	PIDS+=("$IMGX_SSHD_PID")
	export SFTP_URL=sftp://$IMGX_SSHD_USER@127.0.0.1:$IMGX_SSHD_PORT REMOTE=$WORK/remote
	export SSH_FLAGS="--identity $IMGX_SSHD_KEY --known-hosts $IMGX_SSHD_KNOWN_HOSTS --ssh-config none"
	export OPENSSH="sftp -q -b - -P $IMGX_SSHD_PORT -i $IMGX_SSHD_KEY -o UserKnownHostsFile=$IMGX_SSHD_KNOWN_HOSTS -o BatchMode=yes -F none -c aes128-gcm@openssh.com $IMGX_SSHD_USER@127.0.0.1"
	mkdir -p "$REMOTE/ship" "$REMOTE/recv"
	cp "$WORK/b.imgx" "$REMOTE/recv/b.imgx"
fi
if row ftp; then
	log "starting vsftpd on 127.0.0.1"
	eval "$("$ROOT/scripts/vsftpd-test.sh" "$WORK/ftp")"
	PIDS+=("$IMGX_FTPD_PID")
	export FTP_URL=ftp://127.0.0.1:$IMGX_FTPD_PORT FTP_ROOT=$IMGX_FTPD_ROOT
	export IMGX_FTP_USER=$IMGX_FTPD_USER IMGX_FTP_PASSWORD=$IMGX_FTPD_PASSWORD
	export CURL_CREDS=$IMGX_FTPD_USER:$IMGX_FTPD_PASSWORD
	mkdir -p "$FTP_ROOT/recv" "$FTP_ROOT/ship"
	cp "$WORK/b.imgx" "$FTP_ROOT/recv/b.imgx"
	chmod 755 "$FTP_ROOT/recv" && chmod 644 "$FTP_ROOT/recv/b.imgx" && chmod 777 "$FTP_ROOT/ship"
fi

# --- the runs, interleaved: every rep runs every step once --------------------------------
FRESH='rm -rf "$WORK/s2" "$WORK/got.imgx" "$WORK/p.imgx" "$WORK/fl" "$WORK/sk.tar" "$WORK/sk.tar.zst" "$WORK/skl" && mkdir "$WORK/fl"'
L2='IMGX_STORE="$WORK/s2" "$IMGX"'
for rep in $(seq "$REPS"); do
	log "run $rep of $REPS"
	bench_time floor_store "$FRESH" '"$FLOOR" -o "$WORK/fl" $BLOBS_LIST'
	bench_time floor_bundle "$FRESH" '"$FLOOR" -o "$WORK/fl" "$WORK/b.imgx"'
	bench_time floor_hash "$FRESH" '"$FLOOR" "$WORK/b.imgx"'
	if row save; then
		bench_time save "$FRESH" '"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" -o "$WORK/p.imgx"'
		bench_time skopeo_save "$FRESH" 'skopeo copy -q oci:"$IMGX_STORE":bench/app:1 oci-archive:"$WORK/sk.tar" && zstd -q -T0 -3 --rm "$WORK/sk.tar" -o "$WORK/sk.tar.zst"'
		SKOPEO_ZST=$(stat -c %s "$WORK/sk.tar.zst")
	fi
	if row load || row verify; then
		bench_time load "$FRESH" "$L2"' load -q --key "$WORK/k.pub" -i "$WORK/b.imgx"'
	fi
	if row load; then
		bench_time skopeo_load "$FRESH" 'skopeo copy -q oci-archive:"$WORK/skopeo.tar" oci:"$WORK/skl":app'
	fi
	if row verify; then
		bench_time verify "$FRESH" '"$IMGX" verify --key "$WORK/k.pub" "$WORK/b.imgx"'
	fi
	if row sftp; then
		bench_time sftp_ship "$FRESH"' && rm -rf "$REMOTE/ship"/* "$REMOTE/ship"/.??*' \
			'"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" $SSH_FLAGS -o "$SFTP_URL$REMOTE/ship/b.imgx"'
		bench_time openssh_ship "$FRESH"' && rm -rf "$REMOTE/ship"/* "$REMOTE/ship"/.??*' \
			'"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" -o "$WORK/p.imgx" && echo "put $WORK/p.imgx $REMOTE/ship/p.imgx" | $OPENSSH'
		# The same with `put -f`: OpenSSH then fsyncs the file on the server, as imgx's ship
		# does before it reports success (the row above's peer leaves that to writeback).
		bench_time openssh_ship_f "$FRESH"' && rm -rf "$REMOTE/ship"/* "$REMOTE/ship"/.??*' \
			'"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" -o "$WORK/p.imgx" && echo "put -f $WORK/p.imgx $REMOTE/ship/p.imgx" | $OPENSSH'
		bench_time sftp_recv "$FRESH" "$L2"' load -q --key "$WORK/k.pub" $SSH_FLAGS -i "$SFTP_URL$REMOTE/recv/b.imgx"'
		bench_time openssh_recv "$FRESH" \
			'echo "get $REMOTE/recv/b.imgx $WORK/got.imgx" | $OPENSSH && '"$L2"' load -q --key "$WORK/k.pub" -i "$WORK/got.imgx"'
	fi
	if row ftp; then
		bench_time ftp_ship "$FRESH"' && rm -rf "$FTP_ROOT/ship"/* "$FTP_ROOT/ship"/.??*' \
			'"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" -o "$FTP_URL/ship/b.imgx"'
		bench_time curl_ship "$FRESH"' && rm -rf "$FTP_ROOT/ship"/* "$FTP_ROOT/ship"/.??*' \
			'"$IMGX" save -q bench/app:1 --sign-key "$WORK/k.key" -o "$WORK/p.imgx" && curl -sS -u "$CURL_CREDS" -T "$WORK/p.imgx" "$FTP_URL/ship/p.imgx"'
		bench_time ftp_recv "$FRESH" "$L2"' load -q --key "$WORK/k.pub" -i "$FTP_URL/recv/b.imgx"'
		bench_time curl_recv "$FRESH" \
			'curl -sS -u "$CURL_CREDS" -o "$WORK/got.imgx" "$FTP_URL/recv/b.imgx" && '"$L2"' load -q --key "$WORK/k.pub" -i "$WORK/got.imgx"'
	fi
	if row ingest; then
		bench_time floor_ten "$FRESH" '"$FLOOR" -o "$WORK/fl" "$WORK"/ten/*.imgx'
		bench_time ingest "$FRESH"' && rm -rf "$WORK/in" "$WORK/done" && mkdir "$WORK/done" && cp -r "$WORK/ten" "$WORK/in"' \
			"$L2"' ingest --key "$WORK/k.pub" --done "$WORK/done" "$WORK/in"'
		bench_time ten_loads "$FRESH" \
			'for f in "$WORK"/ten/*.imgx; do '"$L2"' load -q --key "$WORK/k.pub" -i "$f"; done'
	fi
done

# --- registry: scripts/bench-registry.sh on the same store and image ------------------------
if row registry; then
	log "registry push/pull (scripts/bench-registry.sh, $REPS runs each)"
	BENCH_STORE=$IMGX_STORE BENCH_NAME=bench/app:1 BENCH_DIR=$WORK/registry REPS=$REPS \
		"$ROOT/scripts/bench-registry.sh" >"$WORK/registry.out" 2>&1 || {
		cat "$WORK/registry.out" >&2
		echo "bench: scripts/bench-registry.sh failed" >&2
		exit 1
	}
	# Its greppable lines: "result KEY SECONDS... rss_kb N".
	while read -r _ key rest; do
		SECS[$key]=${rest% rss_kb *}
		RSS[$key]=${rest##* rss_kb }
	done < <(grep '^result ' "$WORK/registry.out")
fi

# --- the table ------------------------------------------------------------------------------
declare -A MED
for k in "${!SECS[@]}"; do MED[$k]=$(bench_median "${SECS[$k]}"); done
mb() { echo "$((${RSS[$1]:-0} / 1024))"; }
echo
echo "imgx benchmark (issue 18), $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev)"
echo "machine: $(bench_machine); load average $LOAD_START at the start, $(bench_load) at the end"
echo "image bench/app:1: $SIZE MB of layer content in 6 gzip layers (5 of /usr files, 1 of $RAND MB random), $(bench_mb "$BLOB_BYTES") MB of blobs;" \
	"signed bundle $(bench_mb "$BUNDLE_BYTES") MB; ingest: 10 bundles of $((SIZE / 40)) MB images, $(bench_mb "$TEN_BYTES") MB"
echo "medians of $REPS runs; floor = internal/benchfloor on $(nproc) workers (read + SHA-256 + write + fsync of the same bytes; verify: read + SHA-256)"
echo
printf '| %-26s | %7s | %8s | %7s | %8s | %-44s | %7s | %-14s | %-24s | %-5s |\n' \
	operation "imgx s" "peak RSS" "floor s" "of floor" "peer" "peer s" ratio goal holds
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
	"$(printf -- '-%.0s' {1..26})" ------- -------- ------- -------- "$(printf -- '-%.0s' {1..44})" ------- -------------- ------------------------ -----
MISSED=()
# line LABEL KEY FLOORKEY PEERLABEL PEERKEY GOALTEXT MINRATIO MAXRSS_MB
# ratio = peer / imgx ("x faster"); MINRATIO the goal's lower bound, MAXRSS_MB the RSS goal (0: none).
line() {
	local label=$1 k=$2 fk=$3 plabel=$4 pk=$5 goal=$6 min=$7 maxrss=$8 r holds=PASS
	[ -n "${MED[$k]:-}" ] && [ -n "${MED[$pk]:-}" ] || return 0
	r=$(bench_ratio "${MED[$pk]}" "${MED[$k]}")
	bench_ge "$r" "$min" || holds=MISS
	[ "$maxrss" = 0 ] || [ "$(mb "$k")" -le "$maxrss" ] || holds=MISS
	[ $holds = PASS ] || MISSED+=("$label")
	printf '| %-26s | %7s | %5s MB | %7s | %8s | %-44s | %7s | %-14s | %-24s | %-5s |\n' "$label" "${MED[$k]}" "$(mb "$k")" \
		"${MED[$fk]}" "$(bench_ratio "${MED[$fk]}" "${MED[$k]}")" "$plabel" "${MED[$pk]}" "${r}x faster" "$goal" "$holds"
}
line "save, signed zstd bundle" save floor_store "skopeo oci->oci-archive + zstd -T0 -3" skopeo_save ">= 3x, RSS <= 100 MB" 3 100
line "load (verify + commit)" load floor_bundle "skopeo oci-archive->oci" skopeo_load ">= 4x, RSS <= 100 MB" 4 100
if [ -n "${MED[verify]:-}" ] && [ -n "${MED[load]:-}" ]; then
	r=$(bench_ratio "${MED[verify]}" "${MED[load]}") holds=PASS
	bench_le "$r" 2 || holds=MISS
	[ "$(mb verify)" -le 100 ] || holds=MISS
	[ $holds = PASS ] || MISSED+=("verify")
	printf '| %-26s | %7s | %5s MB | %7s | %8s | %-44s | %7s | %-14s | %-24s | %-5s |\n' "verify (full, diff IDs)" "${MED[verify]}" "$(mb verify)" \
		"${MED[floor_hash]}" "$(bench_ratio "${MED[floor_hash]}" "${MED[verify]}")" "imgx load of the same bundle" "${MED[load]}" \
		"${r}x load" "<= 2x load, RSS <= 100" "$holds"
fi
line "ship over SFTP" sftp_ship floor_store "save -o FILE + OpenSSH sftp put (aes128-gcm)" openssh_ship ">= 1.3x" 1.3 0
line "ship over SFTP, durable" sftp_ship floor_store "save -o FILE + OpenSSH sftp put -f (fsync)" openssh_ship_f ">= 1.3x" 1.3 0
line "receive over SFTP" sftp_recv floor_bundle "OpenSSH sftp get (aes128-gcm) + load -i FILE" openssh_recv ">= 1.3x" 1.3 0
line "ship over FTP" ftp_ship floor_store "save -o FILE + curl -T" curl_ship "keep (>= 1x)" 1 0
line "receive over FTP" ftp_recv floor_bundle "curl + load -i FILE" curl_recv "keep (>= 1x)" 1 0
line "push to docker-registry" imgx_push floor_store "skopeo copy oci->docker://" skopeo_push "keep (>= 1x)" 1 0
line "pull from docker-registry" imgx_pull floor_store "skopeo copy docker://->oci" skopeo_pull "keep (>= 1x)" 1 0
line "ingest of ten bundles" ingest floor_ten "ten imgx load -i FILE" ten_loads "keep (>= 1x), RSS <= 100" 1 100
echo
echo "of floor: floor seconds / imgx seconds (1.00 = as fast as the floor); ratio: peer seconds / imgx seconds."
if [ ${#MISSED[@]} = 0 ]; then echo "goals: all hold"; else echo "goals: ${#MISSED[@]} missed: $(printf '%s; ' "${MISSED[@]}" | sed 's/; $//')"; fi
echo
echo "raw seconds per run (in run order), median, peak RSS (highest run):"
for k in floor_store floor_bundle floor_hash floor_ten save skopeo_save load skopeo_load verify sftp_ship openssh_ship openssh_ship_f sftp_recv openssh_recv \
	ftp_ship curl_ship ftp_recv curl_recv imgx_push skopeo_push imgx_pull skopeo_pull ingest ten_loads; do
	[ -n "${SECS[$k]:-}" ] || continue
	printf '  %-13s %-30s median %7s  %5s MB\n' "$k" "${SECS[$k]# }" "${MED[$k]}" "$(mb "$k")"
done
mbs() { awk -v b="$1" -v s="${MED[$2]:-0}" 'BEGIN{ if (s > 0) printf "%.0f", b/1e6/s; else printf "-" }'; }
echo "floor throughput (MB/s): store $(mbs "$BLOB_BYTES" floor_store), bundle $(mbs "$BUNDLE_BYTES" floor_bundle)," \
	"hash only $(mbs "$BUNDLE_BYTES" floor_hash), ten bundles $(mbs "$TEN_BYTES" floor_ten)"
[ -z "${SKOPEO_ZST:-}" ] || echo "sizes: skopeo oci-archive + zstd $(bench_mb "$SKOPEO_ZST") MB, imgx bundle $(bench_mb "$BUNDLE_BYTES") MB"
