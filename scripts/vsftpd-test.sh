#!/usr/bin/env bash
# Start a throwaway vsftpd on 127.0.0.1 for tests and benchmarks.
#
#   eval "$(scripts/vsftpd-test.sh [--tls] [DIR])"   # sets IMGX_FTPD_* variables
#   kill "$IMGX_FTPD_PID"
#
# Needs root: installs vsftpd when missing, creates the test account
# imgxftp (no login shell, its own PAM service that checks only the
# password), writes a config whose login directory is DIR/root, with
# --tls a self-signed certificate (AUTH TLS required), and starts vsftpd in
# the background. The Go tests start their own (IMGX_REAL_TESTS=1).
set -euo pipefail

tls=no
if [ "${1:-}" = --tls ]; then tls=yes; shift; fi
if ! command -v vsftpd >/dev/null && [ ! -x /usr/sbin/vsftpd ]; then
	echo "installing vsftpd" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q vsftpd >&2
fi
user=imgxftp password=imgx-test-only
[ -f /etc/pam.d/imgx-ftp-test ] || printf 'auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n' >/etc/pam.d/imgx-ftp-test
id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin "$user" >&2
usermod --home / "$user" >/dev/null 2>&1 || true
echo "$user:$password" | chpasswd >&2

dir=${1:-$(mktemp -d /tmp/imgx-vsftpd.XXXXXX)}
mkdir -p "$dir/root" /var/run/vsftpd/empty
chmod 755 "$dir"
chmod 777 "$dir/root"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
pasv=$((40000 + port % 20000))
cat >"$dir/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$dir/root
pam_service_name=imgx-ftp-test
userlist_enable=NO
check_shell=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$pasv
pasv_max_port=$((pasv + 50))
xferlog_enable=NO
vsftpd_log_file=$dir/vsftpd.log
use_localtime=NO
secure_chroot_dir=/var/run/vsftpd/empty
CONF
ca=
if [ $tls = yes ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	ca=$dir/cert.pem
	cat >>"$dir/vsftpd.conf" <<CONF
ssl_enable=YES
rsa_cert_file=$dir/cert.pem
rsa_private_key_file=$dir/key.pem
force_local_logins_ssl=YES
force_local_data_ssl=YES
ssl_tlsv1=NO
require_ssl_reuse=NO
ssl_ciphers=HIGH
CONF
fi

vsftpd_bin=$(command -v vsftpd || echo /usr/sbin/vsftpd)
"$vsftpd_bin" "$dir/vsftpd.conf" </dev/null >"$dir/vsftpd.out" 2>&1 &
pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/vsftpd.out" >&2; exit 1; }
	sleep 0.05
done

cat <<VARS
IMGX_FTPD_PID=$pid
IMGX_FTPD_PORT=$port
IMGX_FTPD_ROOT=$dir/root
IMGX_FTPD_USER=$user
IMGX_FTPD_PASSWORD=$password
IMGX_FTPD_CA=$ca
VARS
