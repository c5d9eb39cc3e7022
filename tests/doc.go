// Package tests holds gohv's integration tests: they build the image,
// boot it under qemu-system-x86_64 (TCG) directly with -kernel, through
// GRUB (multiboot and multiboot2, from an ISO made with grub-mkrescue) and
// through QEMU's PVH loader, and assert on exact serial-console lines and
// on QEMU's exit status; the PV test guests of tests/guests run as dom0
// of gohv and of Debian's Xen 4.17 and must agree, as must Debian's GRUB
// for Xen PV (grub_xen_test.go); Debian's Linux runs as dom0 as far as
// gohv takes it. dom0_test.go boots that kernel with the project's
// initramfs (cmd/mkinitramfs) as Xen 4.17's dom0 and as plain Linux and
// asserts the same dom0 userland markers, disk, network, the disk and
// NIC controllers' MSI and MSI-X interrupts, shell, poweroff and reboot
// on each hypervisor of its table (gohv runs the tasks it lists there);
// grub_test.go boots the same kernel and initramfs from a GRUB multiboot2
// ISO on gohv and on Xen 4.17 to the same markers.
// deps_test.go holds gohv's import rules, for the packages and for their
// _test files. bench_test.go and bench_guests_test.go have the benchmarks
// against Xen (`make bench`), never timed tests.
//
// A missing tool or input (QEMU, grub-mkrescue, Debian's Xen, GOHV_VMLINUZ,
// GOHV_GRUB_XEN) skips a test only under a plain `go test` on a
// developer's machine; under `make test` (GOHV_REQUIRE=1) and in CI
// (CI=true) it fails the test (internal/testenv). Every QEMU the harness
// starts runs in a process group of its own that is killed whatever ends
// the test.
package tests
