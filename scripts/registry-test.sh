#!/usr/bin/env bash
# Start or stop a throwaway container registry (Debian's docker-registry,
# CNCF distribution 2.8) on 127.0.0.1 for the demo and benchmarks.
#
#   scripts/registry-test.sh start DIR [--tls] [--user U --password-file F]
#   ... imgx push --insecure IMG "$(cat DIR/registry.addr)/repo:tag" ...
#   scripts/registry-test.sh stop DIR
#
# start writes DIR/config.yml (storage under DIR/storage, deletes enabled,
# log level warn to DIR/registry.log), with --tls a fresh CA (DIR/ca.pem,
# the file clients trust) and a certificate for 127.0.0.1 signed by it, with
# --user an htpasswd file (bcrypt; realm imgx-test). It starts the registry
# on a free port in the background, waits until GET /v2/ answers, writes
# DIR/registry.pid and DIR/registry.addr (127.0.0.1:PORT) and prints
# IMGX_REGISTRY_* variables for eval. stop kills the PID in DIR/registry.pid
# (TERM, then KILL after 5 s). Installs docker-registry when missing (root).
# The Go tests start their own (internal/testserver.StartRegistry).
set -euo pipefail

bin=/usr/bin/docker-registry
usage() {
	echo "usage: $0 start DIR [--tls] [--user U --password-file F] | stop DIR" >&2
	exit 2
}
die() {
	echo "registry-test.sh: $*" >&2
	exit 1
}

# alive PID: the PID is a running docker-registry (not a recycled PID).
alive() {
	local c
	c=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ $c == *docker-registry* ]]
}

stop() {
	local dir=$1 pid
	[ -f "$dir/registry.pid" ] || die "no $dir/registry.pid: nothing to stop"
	pid=$(cat "$dir/registry.pid")
	if alive "$pid"; then
		kill -TERM "$pid"
		for _ in $(seq 50); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then kill -KILL "$pid"; fi
	fi
	rm -f "$dir/registry.pid"
}

# htpasswd_line USER PASSWORD_FILE: "user:bcrypt-hash". The registry takes
# only bcrypt and checks it on every request, so the cost is the minimum (4):
# at htpasswd's default (12) each request would spend about 0.25 s on it.
htpasswd_line() {
	if ! command -v htpasswd >/dev/null; then
		if python3 -c 'import crypt' 2>/dev/null; then
			python3 - "$1" "$2" <<-'PY' 2>/dev/null
				import crypt, sys
				pw = open(sys.argv[2]).read().split("\n")[0]
				print(sys.argv[1] + ":" + crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))
			PY
			return
		fi
		[ "$(id -u)" -eq 0 ] || die "need htpasswd for --user: apt-get install apache2-utils"
		echo "installing apache2-utils (htpasswd)" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends apache2-utils >&2
	fi
	head -n1 "$2" | htpasswd -n -i -B -C 4 "$1" | sed '/^$/d'
}

start() {
	local dir=$1 tls=no user= pwfile=
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--tls) tls=yes ;;
		--user) user=${2:?--user needs a value}; shift ;;
		--password-file) pwfile=${2:?--password-file needs a value}; shift ;;
		*) usage ;;
		esac
		shift
	done
	if [ -n "$user$pwfile" ]; then
		[ -n "$user" ] && [ -n "$pwfile" ] || die "--user and --password-file go together"
		[ -r "$pwfile" ] || die "cannot read password file $pwfile"
		case $user in *:*) die "user name must not contain ':'" ;; esac
	fi
	if [ ! -x "$bin" ]; then
		[ "$(id -u)" -eq 0 ] || die "docker-registry not installed: run scripts/install-deps.sh as root"
		echo "installing docker-registry" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-registry >&2
	fi
	mkdir -p "$dir/storage"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/registry.pid" ] && alive "$(cat "$dir/registry.pid")"; then
		die "a registry is already running for $dir (PID $(cat "$dir/registry.pid")): stop it first"
	fi
	rm -f "$dir/registry.pid" "$dir/registry.addr"

	local scheme=http curlca=()
	if [ $tls = yes ]; then
		scheme=https
		curlca=(--cacert "$dir/ca.pem")
		(
			cd "$dir"
			ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
			openssl req -x509 "${ec[@]}" -keyout ca-key.pem -out ca.pem -days 7 -subj "/CN=imgx test CA" 2>/dev/null
			openssl req -new "${ec[@]}" -keyout key.pem -out cert.csr -subj /CN=127.0.0.1 2>/dev/null
			printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\nauthorityKeyIdentifier=keyid\n' >cert.ext
			openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 8)" \
				-days 7 -extfile cert.ext -out cert.pem 2>/dev/null
			rm -f cert.csr cert.ext
			chmod 600 ca-key.pem key.pem
		) || die "openssl could not make the certificates"
	fi
	if [ -n "$user" ]; then
		htpasswd_line "$user" "$pwfile" >"$dir/htpasswd" || die "could not hash the password"
		chmod 600 "$dir/htpasswd"
	fi

	local attempt port pid
	for attempt in 1 2 3; do
		port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
		# An explicit config: nothing from /etc/docker/registry, nothing in /var/lib.
		cat >"$dir/config.yml" <<-CONF
			version: 0.1
			log:
			  level: warn
			  formatter: text
			  accesslog:
			    disabled: true
			storage:
			  filesystem:
			    rootdirectory: $dir/storage
			  delete:
			    enabled: true
			  maintenance:
			    uploadpurging:
			      enabled: false
			http:
			  addr: 127.0.0.1:$port
			  secret: $(openssl rand -hex 16)
		CONF
		if [ $tls = yes ]; then
			printf '  tls:\n    certificate: %s\n    key: %s\n' "$dir/cert.pem" "$dir/key.pem" >>"$dir/config.yml"
		fi
		if [ -n "$user" ]; then
			printf 'auth:\n  htpasswd:\n    realm: imgx-test\n    path: %s\n' "$dir/htpasswd" >>"$dir/config.yml"
		fi
		# REGISTRY_* variables would override the config file.
		env $(env | sed -n 's/^\(REGISTRY_[A-Za-z0-9_]*\)=.*/-u \1/p') \
			"$bin" serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
		pid=$!
		for _ in $(seq 150); do
			code=$(curl -s -o /dev/null -w '%{http_code}' "${curlca[@]}" "$scheme://127.0.0.1:$port/v2/" || true)
			case $code in 200 | 401)
				echo "$pid" >"$dir/registry.pid"
				echo "127.0.0.1:$port" >"$dir/registry.addr"
				cat <<-VARS
					IMGX_REGISTRY_PID=$pid
					IMGX_REGISTRY_ADDR=127.0.0.1:$port
					IMGX_REGISTRY_URL=$scheme://127.0.0.1:$port
					IMGX_REGISTRY_DIR=$dir
				VARS
				[ $tls = no ] || echo "IMGX_REGISTRY_CA=$dir/ca.pem"
				return 0
				;;
			esac
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid"
			wait "$pid" 2>/dev/null || true
			cat "$dir/registry.log" >&2
			die "registry on 127.0.0.1:$port did not answer within 15 s"
		fi
		wait "$pid" 2>/dev/null || true
		grep -q 'address already in use' "$dir/registry.log" || break
	done
	cat "$dir/registry.log" >&2
	die "registry did not start (log: $dir/registry.log)"
}

[ $# -ge 2 ] || usage
cmd=$1 dir=$2
shift 2
case $cmd in
start) start "$dir" "$@" ;;
stop) [ $# -eq 0 ] || usage; stop "$dir" ;;
*) usage ;;
esac
