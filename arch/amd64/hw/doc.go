// Package hw is the metal's pure arithmetic: what arch/amd64/rt writes into
// descriptor tables and page tables, and what it reads from the boot
// loader, computed on values so that it runs and is tested on any host.
//
// It owns: x86-64 segment, gate and TSS descriptor encodings, the
// LGDT/LIDT operand and the GDT window's selectors (desc.go); page-table
// entry bits, gohv's upper-half layout (L4 slots, per-CPU area, mmap
// window, image, direct map), the static page-table pool's indices and
// how many GiBs of the direct map a machine needs (paging.go); the image's ELF PT_LOAD segments as W^X page permissions
// (elf.go); the boot loader's memory information (multiboot1, multiboot2,
// PVH) reduced to the RAM run, the ranges the loader filled, and the
// hypervisor heap's place (bootmem.go); the heap's frame accounting
// (heap.go); what a PV guest may run with: its address ranges, the
// RFLAGS it is entered with, whether SYSRET can enter it (guest.go); and
// the clocks: the CMOS RTC's registers as a Unix time, the TSC's
// nanosecond scale (clock.go); the interrupt controllers: local APIC
// registers, its timer's LVT and calibration arithmetic, IO-APIC
// registers and redirection entries, IPI commands (apic.go); the AP
// start-up trampoline's machine code, GDT and page tables (trampoline.go);
// whether a type holds pointers, for tables rt lays over memory the
// collector does not scan (types.go).
//
// Contexts. rt calls these functions from kmain before the Go runtime
// exists and from the trap and system-call paths with interrupts off, so
// every function they reach is //go:nosplit (or inlined), takes and
// returns values or a pointer to the caller's struct, and allocates
// nothing: no interfaces, closures, appends or fmt. Trampoline, which
// rt calls from ordinary Go code before starting an AP, and PointerFree are
// the exceptions. Boot-loader bytes come
// as a Mem slice over physical memory; reads beyond it give zeros, never a
// panic.
//
// Imports: abi and arch (the hypervisor's range and the x86-64 hole, so
// the guest ranges have one definition), encoding/binary, math/bits and
// reflect (PointerFree).
// It is pure (no unsafe, no assembly) and may be imported by anything
// above layer 0; arch/amd64 takes its
// PTE_* and RFLAGS_* constants from here, arch/amd64/rt everything else.
package hw
