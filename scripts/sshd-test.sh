#!/usr/bin/env bash
# Start a throwaway OpenSSH sshd on 127.0.0.1 for tests and benchmarks.
#
#   eval "$(scripts/sshd-test.sh [DIR])"   # sets IMGX_SSHD_* variables
#   ... sftp -i "$IMGX_SSHD_KEY" -P "$IMGX_SSHD_PORT" ...
#   kill "$IMGX_SSHD_PID"
#
# Installs openssh-server when missing (root, apt-get). Generates a host
# key, a client key, authorized_keys and known_hosts in DIR (default: a new
# temp dir), starts `sshd -D` on a free port in the background and prints
# the variables. The Go tests start their own sshd (IMGX_REAL_TESTS=1).
set -euo pipefail

if [ ! -x /usr/sbin/sshd ]; then
	echo "installing openssh-server" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server >&2
fi
sftp_server=
for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do
	[ -x "$p" ] && sftp_server=$p && break
done
[ -n "$sftp_server" ] || { echo "sshd-test.sh: no sftp-server binary" >&2; exit 1; }

dir=${1:-$(mktemp -d /tmp/imgx-sshd.XXXXXX)}
mkdir -p "$dir" /run/sshd
rm -f "$dir"/host_ed25519* "$dir"/id_ed25519*
ssh-keygen -q -t ed25519 -N '' -C imgx-test-host -f "$dir/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C imgx-test-client -f "$dir/id_ed25519"
cp "$dir/id_ed25519.pub" "$dir/authorized_keys"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
LogLevel ERROR
Subsystem sftp $sftp_server
CONF
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"

/usr/sbin/sshd -D -e -f "$dir/sshd_config" </dev/null >/dev/null 2>"$dir/sshd.log" &
pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/sshd.log" >&2; exit 1; }
	sleep 0.05
done

cat <<VARS
IMGX_SSHD_PID=$pid
IMGX_SSHD_PORT=$port
IMGX_SSHD_USER=$(id -un)
IMGX_SSHD_DIR=$dir
IMGX_SSHD_KEY=$dir/id_ed25519
IMGX_SSHD_KNOWN_HOSTS=$dir/known_hosts
VARS
