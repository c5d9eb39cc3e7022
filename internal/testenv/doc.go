// Package testenv decides, for gohv's tests, whether a missing tool or
// input (QEMU, grub-file, Debian's Xen, a fetched kernel, ...) skips a test
// or fails it. `make test` exports GOHV_REQUIRE=1 after `make deps`, and CI
// sets CI=true: there nothing a test needs may be missing, so the test
// fails. Only a plain `go test` on a developer's machine skips.
//
// # What it owns
//
// The one rule for that decision (Required) and the helpers that apply it
// (Missing, NeedTool, NeedEnv). It holds no state.
//
// # What it may import
//
// The standard library only. It is imported by _test files only (of any
// package, pure or not); the hypervisor image never imports it.
package testenv
