#!/usr/bin/env bash
# Put and get a file (default 1 GB) over loopback with imgx's transport and
# with the usual tools, in one run: OpenSSH sftp and scp against a real
# sshd, curl against a real vsftpd (plain FTP and FTPS). Prints MB/s and
# imgx's ratio to the reference tool.
#
#   scripts/bench-transport.sh [SIZE_MB]
#
# Needs root (vsftpd test account), openssh-server, vsftpd, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1000}
work=$(mktemp -d /tmp/imgx-bench-transport.XXXXXX)
chmod 755 "$work" # the FTP test user must reach its root inside
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/benchcmd" ./transport/internal/benchcmd
src=$work/src.bin
head -c $((size_mb * 1000000)) /dev/urandom >"$src"
out=$work/out.bin

eval "$(scripts/sshd-test.sh "$work/sshd")"
pids+=("$IMGX_SSHD_PID")
eval "$(scripts/vsftpd-test.sh "$work/ftp")"
pids+=("$IMGX_FTPD_PID")
ftp_port=$IMGX_FTPD_PORT ftp_root=$IMGX_FTPD_ROOT
eval "$(scripts/vsftpd-test.sh --tls "$work/ftps")"
pids+=("$IMGX_FTPD_PID")
ftps_port=$IMGX_FTPD_PORT ftps_ca=$IMGX_FTPD_CA
export IMGX_FTP_USER=$IMGX_FTPD_USER IMGX_FTP_PASSWORD=$IMGX_FTPD_PASSWORD
remote=$work/remote
mkdir -p "$remote"

# mbps SECONDS: MB/s for the test file
mbps() { awk -v s="$1" -v b="$size_mb" 'BEGIN { printf "%.0f", b / s }'; }
# timed CMD...: run, print MB/s
timed() {
	local t0 t1
	sync
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
	t1=$(date +%s.%N)
	mbps "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
}
imgx() { timed "$work/benchcmd" -identity "$IMGX_SSHD_KEY" -known-hosts "$IMGX_SSHD_KNOWN_HOSTS" -cafile "$ftps_ca" "$@"; }
ssh_opts=(-i "$IMGX_SSHD_KEY" -o UserKnownHostsFile="$IMGX_SSHD_KNOWN_HOSTS" -o BatchMode=yes -c aes128-gcm@openssh.com)
sftp_batch() { echo "$1" | sftp -q -b - -P "$IMGX_SSHD_PORT" "${ssh_opts[@]}" "$IMGX_SSHD_USER@127.0.0.1"; }
sftp_url=sftp://$IMGX_SSHD_USER@127.0.0.1:$IMGX_SSHD_PORT
creds=$IMGX_FTP_USER:$IMGX_FTP_PASSWORD

declare -A r
r[imgx_sftp_put]=$(imgx put "$src" "$sftp_url$remote/a.bin")
r[imgx_sftp_get]=$(imgx get "$sftp_url$remote/a.bin" "$out")
r[openssh_sftp_put]=$(timed sftp_batch "put $src $remote/b.bin")
r[openssh_sftp_get]=$(timed sftp_batch "get $remote/b.bin $out")
r[scp_put]=$(timed scp -q -P "$IMGX_SSHD_PORT" "${ssh_opts[@]}" "$src" "$IMGX_SSHD_USER@127.0.0.1:$remote/c.bin")
r[scp_get]=$(timed scp -q -P "$IMGX_SSHD_PORT" "${ssh_opts[@]}" "$IMGX_SSHD_USER@127.0.0.1:$remote/c.bin" "$out")
rm -f "$remote"/*
r[imgx_ftp_put]=$(imgx put "$src" "ftp://127.0.0.1:$ftp_port/a.bin")
r[imgx_ftp_get]=$(imgx get "ftp://127.0.0.1:$ftp_port/a.bin" "$out")
r[curl_ftp_put]=$(timed curl -sS -u "$creds" -T "$src" "ftp://127.0.0.1:$ftp_port/b.bin")
r[curl_ftp_get]=$(timed curl -sS -u "$creds" -o "$out" "ftp://127.0.0.1:$ftp_port/b.bin")
rm -f "$ftp_root"/*
r[imgx_ftps_put]=$(imgx put "$src" "ftps://127.0.0.1:$ftps_port/a.bin")
r[imgx_ftps_get]=$(imgx get "ftps://127.0.0.1:$ftps_port/a.bin" "$out")
r[curl_ftps_put]=$(timed curl -sS --ssl-reqd --cacert "$ftps_ca" -u "$creds" -T "$src" "ftp://127.0.0.1:$ftps_port/b.bin")
r[curl_ftps_get]=$(timed curl -sS --ssl-reqd --cacert "$ftps_ca" -u "$creds" -o "$out" "ftp://127.0.0.1:$ftps_port/b.bin")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "transport benchmark: ${size_mb} MB file on loopback, $(nproc) cores (MB/s = 10^6 bytes/s)"
printf '%-6s %-4s %10s %14s %10s %8s\n' proto op imgx reference ref-MB/s ratio
for op in put get; do
	printf '%-6s %-4s %10s %14s %10s %8s\n' sftp "$op" "${r[imgx_sftp_$op]}" "openssh sftp" "${r[openssh_sftp_$op]}" "$(ratio "${r[imgx_sftp_$op]}" "${r[openssh_sftp_$op]}")"
	printf '%-6s %-4s %10s %14s %10s %8s\n' sftp "$op" "${r[imgx_sftp_$op]}" "scp" "${r[scp_$op]}" "$(ratio "${r[imgx_sftp_$op]}" "${r[scp_$op]}")"
	printf '%-6s %-4s %10s %14s %10s %8s\n' ftp "$op" "${r[imgx_ftp_$op]}" "curl" "${r[curl_ftp_$op]}" "$(ratio "${r[imgx_ftp_$op]}" "${r[curl_ftp_$op]}")"
	printf '%-6s %-4s %10s %14s %10s %8s\n' ftps "$op" "${r[imgx_ftps_$op]}" "curl" "${r[curl_ftps_$op]}" "$(ratio "${r[imgx_ftps_$op]}" "${r[curl_ftps_$op]}")"
done
