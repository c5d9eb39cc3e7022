module github.com/gohv/gohv

go 1.26.0

toolchain go1.26.8

require (
	github.com/u-root/u-root v0.16.0
	github.com/xi2/xz v0.0.0-20171230120015-48954b6210f8
	golang.org/x/arch v0.32.0
	golang.org/x/sys v0.41.0
)

require (
	github.com/pierrec/lz4/v4 v4.1.22 // indirect
	github.com/u-root/uio v0.0.0-20240224005618-d2acac8f3701 // indirect
	golang.org/x/exp v0.0.0-20250305212735-054e65f0b394 // indirect
)

replace github.com/xi2/xz => ./third_party/xi2xz
