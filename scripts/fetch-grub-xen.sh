#!/usr/bin/env bash
# Prints the path of Debian's GRUB for Xen PV guests (grub-x86_64-xen.bin, a
# 64-bit PV kernel image), downloading the grub-xen-host package once into
# the cache (${XDG_CACHE_HOME:-~/.cache}/gohv/grub-xen) and extracting its
# /usr/lib/grub-xen/grub-x86_64-xen.bin. Nothing is installed. Used by
# `make test` (GOHV_GRUB_XEN) for the tests that boot or parse it.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/gohv/grub-xen"
bin="$cache/grub-x86_64-xen.bin"
if [ -s "$bin" ]; then
	echo "$bin"
	exit 0
fi
mkdir -p "$cache"
if [ -z "$(apt-cache policy grub-xen-host 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ]; then
	echo "fetch-grub-xen: no grub-xen-host in the package lists (apt-get update?)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root grub-xen-host >/dev/null)
dpkg-deb --fsys-tarfile "$tmp"/grub-xen-host_*.deb | tar -x -C "$tmp" ./usr/lib/grub-xen/grub-x86_64-xen.bin
cp "$tmp"/usr/lib/grub-xen/grub-x86_64-xen.bin "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "$bin"
