// Package boot owns the decoding of everything the boot loader hands to gohv:
// the multiboot1, multiboot2 and PVH (hvm_start_info) information structures,
// the Xen-compatible hypervisor command line, the ACPI facts gohv needs to
// power the machine off (FADT PM1 control ports, \_S5 sleep types), and the
// MADT (local APICs and x2APICs, IO-APICs, ISA interrupt source overrides,
// NMI sources and LINT wiring, the local APIC address) gohv needs to own the
// interrupt hardware and find the machine's CPUs. Guest kernel images
// (ELF, bzImage, the Xen ELF notes) are package kernel's.
//
// Imports: the standard library and abi. No unsafe, no assembly: the package
// builds and is tested on the host with `go test`.
//
// Contracts:
//
//   - Physical memory is read only through PhysReader, which the caller
//     implements (the metal maps the low 4 GiB; tests use a fake). Nothing here
//     keeps a reference to boot-loader memory: every result is a Go copy.
//   - Boot-loader bytes are untrusted input. Every length and count is
//     checked, every loop is bounded (MaxModules, E820Max, MaxString,
//     MaxMB2Size, MaxACPITable, MaxAMLTotal, MaxMADTEntries), and failures
//     are ordinary Go errors wrapping the exported sentinels (ErrUnreadable, ErrMalformed,
//     ErrBadMagic, ErrNoMemoryInfo, ErrStringTooLong, ErrNoACPI, ...), each
//     one line fit for a "(XEN)" console line. Nothing panics on any input.
//   - The command line follows Xen 4.17 (docs/misc/xen-command-line.pandoc,
//     common/kernel.c parse_params): space-separated `name[=value]` words, a
//     `no-` prefix inverts booleans, no quoting. Unknown options and bad values
//     give one warning line each, worded as Xen words them, and the option
//     keeps its default; parsing never stops early.
//   - Console lines are returned without the "(XEN) " prefix; the console
//     driver adds it.
//   - Functions are pure and safe for concurrent use; Options, Info,
//     PowerOff and MADT are plain values owned by the caller.
package boot
