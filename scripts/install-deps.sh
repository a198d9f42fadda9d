#!/usr/bin/env bash
# Installs the real peers imgx's tests run against (skopeo, umoci, podman, OpenSSH sshd,
# vsftpd, docker-registry, zstd, openssl, bzip2; bash-completion, zsh and fish for the
# completion tests; age for the encryption interop tests) from Debian's packages, and builds
# cosign.
# Does nothing for tools already present, so `make test` stays fast on a prepared machine.
# Needs root (or sudo) only when something is missing. Fails if anything cannot be
# installed: under IMGX_REAL_TESTS=1 a missing peer fails its tests.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have skopeo || need+=(skopeo)
have umoci || need+=(umoci)
have podman || need+=(podman)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
have ssh || need+=(openssh-client)
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
have zstd || need+=(zstd)
have openssl || need+=(openssl)
have curl || need+=(curl)
have bzip2 || need+=(bzip2)
[ -x /usr/bin/time ] || need+=(time)

# --demo installs only what `make demo` uses (skopeo, sshd, docker-registry and the
# basics), not cosign, which only the tests need and which takes minutes to build.
demo=false
[ "${1:-}" = "--demo" ] && demo=true
# Test-only peers, not needed by `make demo`.
$demo || have age || need+=(age)
# Issue 17's benchmark builds its Debian base layers as builders do (scripts/debian-layers.sh).
$demo || have debootstrap || need+=(debootstrap)

# The shells the completion tests source the generated scripts in (tests only).
if ! $demo; then
  have bash || need+=(bash)
  [ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
  have zsh || need+=(zsh)
  have fish || need+=(fish)
fi

cosign() {
  $demo && return 0
  # cosign (for signature interop tests) is built from the Go module proxy: about 2.5 min
  # the first time. Under IMGX_REAL_TESTS=1 its tests fail without it, so a failed build
  # fails here, where the cause is visible.
  if ! "$(dirname "$0")/install-cosign.sh"; then
    echo "install-deps: FAILED to build cosign (scripts/install-cosign.sh needs the Go module proxy); the cosign interop tests would fail" >&2
    exit 1
  fi
}

if [ ${#need[@]} -eq 0 ]; then
  cosign
  exit 0
fi
echo "install-deps: installing ${need[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then SUDO=sudo; else
    echo "install-deps: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
cosign
