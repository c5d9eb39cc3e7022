#!/bin/sh
# Regenerates ztypes_amd64.go, zconst.go and zerrno.go of package abi from the
# Xen 4.17 public headers in /usr/include/xen (Debian libxen-dev).
# Needs gcc and the Go toolchain (go tool cgo). Run by `go generate ./abi`.
set -eu
cd "$(dirname "$0")/.."
exec go run gen/mkabi.go "$@"
