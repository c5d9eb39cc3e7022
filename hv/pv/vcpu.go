package pv

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// Space names the page tables a guest access goes through.
type Space uint8

const (
	// KernelSpace: the vCPU's kernel L4 (guest_table).
	KernelSpace Space = iota
	// UserSpace: the vCPU's user L4 (guest_table_user).
	UserSpace
)

// Memory is guest memory as one vCPU sees it. A copy that cannot be
// completed (not mapped, not a guest address, not writable for a write)
// reports false; bytes before the failing one may have been copied. Xen's
// copy_{to,from}_guest with the fault fixed up.
type Memory interface {
	CopyFromGuest(dst []byte, va mm.GuestVA, s Space) (ok bool)
	CopyToGuest(va mm.GuestVA, src []byte, s Space) (ok bool)
}

// VCPUInfo is the vCPU's vcpu_info in guest shared memory (wherever
// register_vcpu_info put it). The caller owns the location.
type VCPUInfo interface {
	// UpcallMask reads evtchn_upcall_mask (the whole byte; non-zero =
	// events blocked); SetUpcallMask writes it.
	UpcallMask() uint8
	SetUpcallMask(m uint8)
	// UpcallPending reads evtchn_upcall_pending.
	UpcallPending() bool
	// SetCR2 writes arch.cr2 (before a #PF is bounced).
	SetCR2(cr2 uint64)
}

// Domain is what the emulation needs from the vCPU's domain and the
// machine. hv implements it.
type Domain interface {
	// ArchitecturalIOPL reports VMASST_TYPE_architectural_iopl.
	ArchitecturalIOPL() bool
	// HardwareDomain reports dom0 (WBINVD really flushes).
	HardwareDomain() bool
	// In and Out perform a port access of size 1, 2 or 4 the vCPU's
	// IOPL or I/O bitmap allowed, as the domain sees it (Xen's
	// guest_io_read/guest_io_write): the hardware's answer for ports the
	// administrator lets it reach, the hypervisor's mediation (PCI
	// configuration, RTC) or all ones and a dropped write otherwise.
	In(port uint16, size int) uint32
	Out(port uint16, size int, val uint32)
	// WBINVD flushes the caches (only called for the hardware domain).
	WBINVD()
	// NewBasePtr installs mfn as the vCPU's kernel L4, as
	// MMUEXT_NEW_BASEPTR (MOV to CR3). ERESTART asks for the instruction
	// to be retried; any other error leaves the #GP to the guest.
	NewBasePtr(mfn mm.MFN) abi.Errno
	// LoadGDT gives the metal the vCPU's GDT frames (validated descriptor
	// pages, at most 14; none after ReleaseGDT): from the vCPU's next
	// entry, selectors below 0xe000 are looked up there. The previous
	// frames may be released once it returns.
	LoadGDT(frames []mm.MFN)
}

// Callback is a registered guest callback (callback_op).
type Callback struct {
	Address uint64 // 0: none
	// MaskEvents is CALLBACKF_mask_events: delivery sets the upcall mask
	// (Xen's VGCF_{failsafe,syscall}_disables_events and
	// syscall32/sysenter_disables_events).
	MaskEvents bool
}

// Changed bits tell the metal what to reload before the next entry (hv
// hands them to the Backend, which clears them as it does).
const (
	// ChangedCR4: the real CR4 follows CR4's CR4Loaded bits (FSGSBASE).
	// DE is emulated here, TSD never kept, OSXSAVE only with XSAVE.
	ChangedCR4 = 1 << iota
	// ChangedXCR0: XCR0, only ever set when the policy offers XSAVE,
	// which needs a metal that context-switches it (PolicyConfig.XCR0).
	ChangedXCR0
	// ChangedDebug: DR0-3 and DR7 (the metal loads them while DR7 enables
	// a breakpoint); DR6 is virtual, fed from #DB exits (Exit.DR6).
	ChangedDebug
	// ChangedTS: the virtual CR0.TS (the metal reads it at every entry).
	ChangedTS
)

// VCPU is one vCPU's PV state (Xen's v->arch.pv and friends). Owned by
// the vCPU's goroutine; nothing here is locked.
type VCPU struct {
	ID     int            // vCPU id (leaf 1 APIC id, messages)
	Mem    Memory         // guest memory through this vCPU's page tables
	Info   VCPUInfo       // this vCPU's vcpu_info
	Dom    Domain         // its domain
	Policy *Policy        // the domain's CPUID policy (shared, read-only)
	Tables *mm.VCPUTables // guest_table / guest_table_user (mm owns the references)
	// Regs is the vCPU's register file, for the hypercalls that read or
	// change registers beyond RAX (iret, set_segment_base); the owner of
	// the vCPU (hv) points it at its own.
	Regs *arch.Regs
	// Machine is the frame table and memory the GDT hypercalls use.
	Machine Machine

	// gdtFrames are the frames of the guest's GDT (set_gdt), each holding
	// a general and a descriptor-page type reference; gdtEntries its size.
	gdtFrames  []mm.MFN
	gdtEntries uint64

	// IretDone is set by an iret run through the dispatch table (alone or
	// in a multicall): Regs already hold the restored frame, so the exit
	// path must not store a result in RAX. IretErr is the crash the iret
	// asked for. The exit path clears both.
	IretDone bool
	IretErr  error

	kernel bool // virtual mode: true = guest kernel (TF_kernel_mode)

	// scratch holds the guest copies of the hot paths (Bounce's frame,
	// Iret's context): a buffer passed to Mem (an interface) would
	// otherwise escape to the heap on every call. The vCPU's goroutine
	// only, never held across a call.
	scratch [12 * 8]byte

	// KernelSS and KernelSP are stack_switch's values: the stack a bounce
	// from user mode uses.
	KernelSS, KernelSP uint64

	// Traps is the virtual IDT (set_trap_table; the NMI callback lives in
	// entry 2). Address 0 means no handler.
	Traps [256]abi.TrapInfo

	// Callbacks, indexed by CALLBACKTYPE_* (0..7); nmi is in Traps[2].
	Callbacks [8]Callback

	// TS is the virtual CR0.TS (fpu_taskswitch, CLTS, MOV to CR0).
	TS bool
	// CR2 is the virtual CR2 (the last #PF address bounced).
	CR2 uint64
	// CR4 is the guest's view of CR4 (see Policy.FixupCR4).
	CR4 uint64
	// XCR0 is the guest's XCR0 (XSETBV).
	XCR0 uint64

	// DR0-3, DR6, DR7 as the guest set them; DR7Emul holds the I/O
	// breakpoint enables Xen emulates rather than loading.
	DR      [4]uint64
	DR6     uint64
	DR7     uint64
	DR7Emul uint64

	// IOPL is the virtual IOPL in RFLAGS position (bits 13:12;
	// PHYSDEVOP_set_iopl, or iret with architectural_iopl).
	IOPL uint64
	// IOBitmap and IOBitmapPorts are PHYSDEVOP_set_iobitmap's bitmap (a
	// guest kernel VA) and the number of ports it covers.
	IOBitmap      mm.GuestVA
	IOBitmapPorts uint32

	// TSCAux is MSR_TSC_AUX (RDTSCP/RDPID).
	TSCAux uint32
	// CPUIDFaulting is MSR_MISC_FEATURES_ENABLES bit 0.
	CPUIDFaulting bool
	// mce is the virtual machine-check state (vmce.go).
	mce vmce

	// Changed accumulates Changed* bits; the metal clears what it reloads.
	Changed uint32

	// PT is the PV MMU for writable-page-table emulation (PageTableWrite);
	// nil turns it off.
	PT PTWriter
}

// Initial debug register values (Xen's X86_DR6_DEFAULT and X86_DR7_DEFAULT).
const (
	DR6Default = 0xffff0ff0
	DR7Default = 0x400
)

// NewVCPU returns a vCPU in guest kernel mode with Xen's initial state:
// no trap table, no callbacks, DR6/DR7 at their defaults, CR4 the PV
// view of the host's, XCR0 x87|SSE when the policy has XSAVE.
func NewVCPU(id int, mem Memory, info VCPUInfo, dom Domain, pol *Policy, tables *mm.VCPUTables) *VCPU {
	v := &VCPU{ID: id, Mem: mem, Info: info, Dom: dom, Policy: pol, Tables: tables, kernel: true,
		DR6: DR6Default, DR7: DR7Default}
	if pol != nil {
		v.CR4 = pol.InitialCR4()
		if pol.HasXSAVE() {
			v.XCR0 = xcr0X87 | xcr0SSE
		}
	}
	return v
}

// Kernel reports whether the vCPU is in guest kernel mode.
func (v *VCPU) Kernel() bool { return v.kernel }

// SetKernel sets the mode without a switch (vCPU context loading only).
func (v *VCPU) SetKernel(k bool) { v.kernel = k }

// PageTable returns the L4 the metal must run the vCPU on: guest_table in
// kernel mode, guest_table_user in user mode.
func (v *VCPU) PageTable() mm.MFN {
	if v.Tables == nil {
		return 0
	}
	if v.kernel {
		return v.Tables.Kernel
	}
	return v.Tables.User
}

// GSBases returns Xen's gs_base_kernel and gs_base_user from r.
func (v *VCPU) GSBases(r *arch.Regs) (kernel, user uint64) {
	if v.kernel {
		return r.GSBase, r.GSBaseShadow
	}
	return r.GSBaseShadow, r.GSBase
}

func (v *VCPU) space() Space {
	if v.kernel {
		return KernelSpace
	}
	return UserSpace
}

// toggleMode is Xen's toggle_guest_mode: swapgs, flip the mode, reload
// CR3 on the next entry.
func (v *VCPU) toggleMode(r *arch.Regs) {
	r.GSBase, r.GSBaseShadow = r.GSBaseShadow, r.GSBase
	v.kernel = !v.kernel
	if v.Tables != nil {
		v.Tables.Reload = true
	}
}

// Crash is a guest action Xen answers with domain_crash. Reason is the
// text of the "(XEN) d%dv%d <Reason>" line; the caller crashes the domain.
type Crash struct {
	Reason string
}

func (c *Crash) Error() string { return "domain crash: " + c.Reason }

func crashf(format string, a ...any) *Crash { return &Crash{Reason: fmt.Sprintf(format, a...)} }
