#!/usr/bin/env bash
# Installs the Debian packages gohv's build, run and tests need, if any is
# missing. Run by `make deps` (and so by `make run`, `make test`, `make bench`).
# apt caches what it downloads in /var/cache/apt/archives.
set -euo pipefail

pkgs=(
	qemu-system-x86           # qemu-system-x86_64: every boot test (TCG)
	grub-pc-bin grub-common   # grub-mkrescue + the i386-pc modules: GRUB boot tests; grub-file
	xorriso mtools            # grub-mkrescue's ISO backend
	libxen-dev                # Xen 4.17 public headers: abi generation
	xen-hypervisor-4.17-amd64 # the reference Xen: size/boot benchmarks, guest cross-checks
	gcc binutils              # test guests (tests/guests), the initramfs's forkexec; readelf: internal/image tests
	make gzip                 # the image build (build/gohv.gz), the test guests
	xz-utils                  # xz: the kernel tests decompress Linux's payload; the initramfs's compression
	dpkg apt                  # dpkg-deb, apt-get download: scripts/fetch-kernel.sh, fetch-grub-xen.sh, fetch-modules.sh
	libc6-dev                 # go test -race (cgo) in `make test`; libc.a for the static forkexec
	e2fsprogs                 # mkfs.ext4 -d and debugfs: the dom0 disk tests (tests/dom0_test.go)
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	$sudo apt-get update -qq
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
