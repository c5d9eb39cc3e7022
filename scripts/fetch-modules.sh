#!/usr/bin/env bash
# Prints the path of lib/modules/<release> from the same Debian package as
# the kernel scripts/fetch-kernel.sh prints (vmlinuz-<release>): it downloads
# linux-image-<release>-unsigned once, checks that its vmlinuz is the cached
# one byte for byte, and extracts its lib/modules/<release> into the cache
# (${XDG_CACHE_HOME:-~/.cache}/gohv/modules). The package carries no
# modules.dep (depmod makes it at install time): cmd/mkinitramfs reads the
# dependencies from the modules themselves.
# Used by the Makefile's initramfs target (build/initramfs.cpio.xz).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
vmlinuz=$("$here"/fetch-kernel.sh)
release=${vmlinuz##*/vmlinuz-}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/gohv/modules"
dir="$cache/$release"
if [ -f "$dir/.complete" ]; then
	echo "$dir"
	exit 0
fi
pkg="linux-image-$release-unsigned"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null) || {
	echo "fetch-modules: cannot download $pkg (apt-get update?)" >&2
	exit 1
}
deb=$(ls "$tmp"/*.deb)
mkdir -p "$tmp/x"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" "./boot/vmlinuz-$release" "./lib/modules/$release"
if ! cmp -s "$tmp/x/boot/vmlinuz-$release" "$vmlinuz"; then
	echo "fetch-modules: $deb's vmlinuz differs from $vmlinuz: remove the cached kernel and fetch both again" >&2
	exit 1
fi
rm -rf "$dir"
mkdir -p "$cache"
mv "$tmp/x/lib/modules/$release" "$dir"
echo "${deb##*/}" >"$dir/.complete"
echo "$dir"
