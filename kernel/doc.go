// Package kernel owns guest kernel images, the job of Xen's libelf
// (common/libelf) and of the bzImage loader (arch/x86/bzimage.c): it turns
// the bytes of a PV kernel (an ELF vmlinux, or a bzImage whose payload is an
// ELF file compressed with XZ and the x86 BCJ filter through kernel/xz, gzip
// or bzip2) into an Image: the ELF bytes, the loadable segments and the Xen
// view of the image (DomParms, from the Xen ELF notes), which the domain
// builder (hv/build) consumes for dom0 and domU alike. Load does the same
// for a kernel that goes straight into guest memory: it streams an XZ
// payload through the ELF file, writing the loadable segments to a Dest as
// they are decoded, so the decompressed image is never held in memory.
//
// Imports: the standard library, abi and kernel/xz. No unsafe, no assembly:
// the package builds and is tested on the host with `go test`. It knows
// nothing of the host's boot information (package boot) or of guest memory.
//
// Contracts:
//
//   - Kernel images are untrusted input. Every length and count is checked,
//     every loop is bounded (MaxSize, MaxSpan, MaxNotes), and failures are
//     ordinary Go errors wrapping the exported sentinels (ErrFormat,
//     ErrBzImage, ErrDecompress, ErrNotXenELF, ErrXenNote, ...), each one
//     line fit for a "(XEN)" console line. Nothing panics on any input.
//   - Notes follow Xen 4.17's libelf (common/libelf/libelf-dominfo.c): notes
//     combine into DomParms with its checks (XEN_VERSION, LOADER, entry
//     within the image, VIRT_BASE). CheckDom0 adds dom0_construct_pv's.
//   - An Image is a plain value owned by the caller; it aliases the bytes
//     given to Parse when they were an uncompressed ELF file (or a bzImage
//     around one). Load's Image holds no ELF bytes or segment data. Functions
//     are pure and safe for concurrent use (Load's Dest is the caller's).
//   - Load's memory: the LZMA2 dictionary (the xz header's size, 32 MiB for
//     Linux) unless the Dest lends it (DictionaryDest), 64 KiB of buffer, the ELF and program headers (at most 64 KiB)
//     and the PT_NOTE bytes (at most 1 MiB). Kernels it does not stream
//     (plain ELF, gzip, bzip2, Xen notes outside PT_NOTE, overlapping
//     segments) are unpacked whole as Parse does, then written.
//
// The compressed test kernels in testdata are made by `go generate` from
// internal/testvectors, with the xz and bzip2 commands.
package kernel

//go:generate go run ./internal/testvectors/gen -kernel testdata
