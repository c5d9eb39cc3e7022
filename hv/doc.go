// Package hv holds domains and vCPUs together: it creates a domain's
// memory model, event channels, grant table and shared_info page, runs a
// vCPU by handing it to the metal (a Backend) and handling each exit —
// hypercalls through the one dispatch table, exceptions and system calls
// through the PV execution model — and carries out shutdowns, which for
// the hardware domain means powering off or rebooting the machine.
//
// Pure: imports abi, arch, boot, mm, evtchn, grant, sched, hypercall, hv/...,
// internal/klog and the standard library; never the metal, never unsafe.
// cmd/gohv supplies the Backend (arch/amd64/rt) and the machine's power
// and console.
//
// Contexts: each vCPU runs on its own goroutine, which the Backend locks to
// an OS thread; everything here is ordinary goroutine code. Domain and
// machine state are guarded by the locks named on their fields.
//
// TLBs: the metal keeps a guest's page tables loaded between its exits
// and entries, so every flush the PV MMU asks for goes to the Backend
// (FlushTLB, InvalidatePage): the vCPU's flusher for its own operations,
// machineFlusher for the grant layer's references and released frames.
// set_gdt's frames go to the Backend too (SetGDT), which maps them in the
// hardware GDT when the vCPU runs. Cache flushes (the hardware domain's
// WBINVD, MMUEXT_FLUSH_CACHE[_GLOBAL]) reach it as FlushCache.
//
// Hardware state: what the PV layer changes that the CPU must follow (the
// pv.Changed* bits: debug registers, CR4's loaded bits) the Backend takes
// with VCPU.TakeChanged before an entry and reloads (DebugRegs,
// LoadedCR4); the virtual CR0.TS it reads at every entry (VirtualTS).
package hv
