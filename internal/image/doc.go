// Package image stamps boot-loader headers into a linked gohv ELF image and
// reads them back. It is host-only: cmd/mkimage and tests use it; the
// hypervisor image never imports it.
//
// # What it owns
//
// The post-link step of the gohv build. `go build -ldflags '-E <pkg>.entry32
// -T <addr>'` produces an ELF64 whose first PT_LOAD starts at file offset 0
// (it holds the ELF, program and section headers, then zero padding) and
// whose PT_LOADs share one vaddr-offset. gohv links in the upper half
// (0xffff82d040200000) and loads at 0x200000: Stamp is told the virtual
// offset (0xffff82d040000000; 0 for an image linked where it loads) and
// works in physical addresses. It writes, into one 16-byte aligned slot at
// the start of that padding:
//
//  1. a multiboot1 header (flags 0x00010003: page-aligned modules, memory
//     info, address fields valid) with header/load/load-end/bss-end/entry
//     addresses, so GRUB and QEMU's -kernel load the file flat (QEMU refuses
//     an ELF64 otherwise);
//  2. a multiboot2 header with an information request (cmdline, module,
//     basic meminfo, mmap, loader name), an address tag, an entry address
//     tag and the end tag, for GRUB and for NetBSD's EFI boot loader, which
//     refuses multiboot1;
//  3. a Xen XEN_ELFNOTE_PHYS32_ENTRY note, with the first PT_NOTE program
//     header retargeted to it, for PVH direct boot (QEMU, Xen). The Go
//     build-id note keeps its section header (.note.go.buildid) but is no
//     longer covered by a PT_NOTE, so `go tool buildid` no longer finds it.
//
// e_entry and every p_paddr become physical (p_vaddr minus the offset; the
// loaders that go by the ELF load at p_paddr and enter with paging off);
// besides them only the slot bytes and the PT_NOTE header change. Inspect
// parses an image the way the loaders do and returns what they would find.
//
// # Contracts
//
// Stamp refuses, with an error wrapping one of the exported Err* values, an
// input that is not a little-endian x86-64 ELF64 executable; whose first
// PT_LOAD is not at file offset 0; whose PT_LOADs do not share one
// vaddr-offset, overlap, or have bss before the last one; whose p_paddr
// is neither p_vaddr nor p_vaddr minus the offset; that lies below the
// offset or reaches 4 GiB physical; whose entry is outside the
// file-backed part of an executable PT_LOAD; that has no PT_NOTE; whose slot
// would leave the first PT_LOAD or the loaders' search windows (multiboot1
// within 8 KiB as QEMU scans it, multiboot2 within 32 KiB) or overlap a
// section or segment; or whose slot is neither zero nor exactly the stamp
// Stamp would write. The last rule makes Stamp idempotent.
//
// Stamp and Inspect are pure functions over byte slices: they never panic on
// any input (both are fuzzed) and never read outside it. Stamp does not
// modify its input.
//
// # Imports
//
// The standard library only (debug/elf for the ELF types and constants,
// encoding/binary, bytes, errors, fmt, strings). No unsafe, no assembly, no
// gohv packages.
package image
