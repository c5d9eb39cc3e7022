// Package mm owns machine memory as the pure core sees it: the typed frame
// numbers (MFN, PFN, Maddr, GuestVA), the MachineMemory interface through
// which the core reads and writes guest RAM, the machine frame allocator,
// and (see pv.go) the PV memory model: the frame table of page types and
// reference counts, the global M2P, and the mmu_update / mmuext_op /
// update_va_mapping workers.
//
// Imports: the abi package and the standard library only. No unsafe, no
// assembly; everything here builds and is tested on the host (mmtest holds
// the fake machine memory).
//
// Contexts: every exported operation takes ordinary sync.Mutex locks and may
// allocate, so it runs in goroutine context only, never in an interrupt
// handler or on the trap/exit path.
//
// Contracts:
//   - Allocator: built once at boot from the loader's RAM map minus the
//     hypervisor's own regions; hands out whole 4 KiB frames, lowest first.
//     Misuse by the hypervisor (double free, freeing a frame it does not
//     manage) is reported as an error and changes nothing.
//   - Guest-facing workers return abi.Errno values, Xen's own, and never
//     panic on guest input. A failing request changes nothing.
package mm
