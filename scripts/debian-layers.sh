#!/usr/bin/env bash
# Build issue 17's scenario A as real builders do: a Debian base layer made by
# debootstrap (bookworm, minbase, apt caches cleaned as a Dockerfile would), and the same
# base rebuilt a night later: security and point-release upgrades applied with apt-get in
# a chroot and one small package added (ca-certificates), caches cleaned again. Writes
# OUTDIR/base-1.tar and OUTDIR/base-2.tar (uncompressed layer tars, numeric owners) and
# OUTDIR/base-2.changes (what apt did). Reuses them when both exist: debootstrap takes
# minutes.
#
#   scripts/debian-layers.sh OUTDIR [MIRROR]
#
# Needs root, debootstrap (scripts/install-deps.sh installs it) and the Debian mirror.
set -euo pipefail
out=${1:?usage: scripts/debian-layers.sh OUTDIR [MIRROR]}
mirror=${2:-http://deb.debian.org/debian}
if [ -s "$out/base-1.tar" ] && [ -s "$out/base-2.tar" ]; then
	exit 0
fi
command -v debootstrap >/dev/null || { echo "debian-layers: debootstrap is required (apt-get install debootstrap)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debian-layers: debootstrap and chroot need root" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

clean() { # the cleaning every Debian-based Dockerfile does
	chroot "$1" apt-get clean
	rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/tmp/*
}
layer() { # ROOTFS TAR: the rootfs as one layer tar, as a builder commits it
	tar --numeric-owner --xattrs --sort=name -C "$1" -cf "$2.new" . && mv "$2.new" "$2"
}

echo "debian-layers: debootstrap bookworm (minbase) from $mirror" >&2
debootstrap --variant=minbase bookworm "$work/r1" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -20 "$work/debootstrap.log" >&2; exit 1; }
clean "$work/r1"
cp -a "$work/r1" "$work/r2"
layer "$work/r1" "$out/base-1.tar"

echo "debian-layers: rebuild: apt-get upgrade (updates, security) + install ca-certificates" >&2
cp -a "$work/r2/etc/resolv.conf" "$work/resolv.conf.keep" 2>/dev/null || : >"$work/resolv.conf.keep"
cp /etc/resolv.conf "$work/r2/etc/resolv.conf"
security=${mirror%/debian}/debian-security
cat >"$work/r2/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
chroot "$work/r2" sh -c 'export DEBIAN_FRONTEND=noninteractive
	apt-get update -q && apt-get upgrade -y -q && apt-get install -y -q --no-install-recommends ca-certificates' \
	>"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
grep -E '^Unpacking |^Setting up ' "$work/apt.log" >"$out/base-2.changes" || true
cp -a "$work/resolv.conf.keep" "$work/r2/etc/resolv.conf" # as base-1 has it
clean "$work/r2"
layer "$work/r2" "$out/base-2.tar"
echo "debian-layers: $(grep -c '^Unpacking ' "$out/base-2.changes") packages unpacked; base-1 $(stat -c %s "$out/base-1.tar") bytes, base-2 $(stat -c %s "$out/base-2.tar") bytes" >&2
