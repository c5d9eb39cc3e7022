#!/usr/bin/env bash
# Prints the path of a Debian Linux 6.1 PV kernel (vmlinuz), downloading the
# newest linux-image-6.1.0-*-amd64-unsigned package once into the cache
# (${XDG_CACHE_HOME:-~/.cache}/gohv) and extracting its /boot/vmlinuz-*.
# Used by `make test` (GOHV_VMLINUZ) for the tests that read a real kernel.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/gohv/kernel"
mkdir -p "$cache"
have=$(ls "$cache"/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$have" ]; then
	echo "$have"
	exit 0
fi
pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | awk '{print $1}' | sort -V | tail -1)
if [ -z "$pkg" ]; then
	echo "fetch-kernel: no linux-image-6.1.0-*-amd64-unsigned in the package lists (apt-get update?)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null)
dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*'
cp "$tmp"/boot/vmlinuz-* "$cache"/
ls "$cache"/vmlinuz-6.1.* | sort -V | tail -1
