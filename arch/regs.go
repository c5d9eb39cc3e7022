package arch

// Regs is a PV vCPU's user-visible state as the metal saves it on exit
// and loads it on entry. Owned by the vCPU's goroutine; never shared.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
	CS, SS, DS, ES, FS, GS                 uint16
	// Segment bases: FS, the active GS, and the inactive GS that the next
	// kernel/user switch swaps in (Xen's gs_base_kernel/gs_base_user).
	FSBase, GSBase, GSBaseShadow uint64
}

// Arg returns hypercall argument i (0-4) in the 64-bit PV convention:
// rdi, rsi, rdx, r10, r8.
func (r *Regs) Arg(i int) uint64 {
	switch i {
	case 0:
		return r.RDI
	case 1:
		return r.RSI
	case 2:
		return r.RDX
	case 3:
		return r.R10
	case 4:
		return r.R8
	}
	return 0
}

// SetArg sets hypercall argument i (for continuations).
func (r *Regs) SetArg(i int, v uint64) {
	switch i {
	case 0:
		r.RDI = v
	case 1:
		r.RSI = v
	case 2:
		r.RDX = v
	case 3:
		r.R10 = v
	case 4:
		r.R8 = v
	}
}

// ExitKind says how a guest stopped running.
type ExitKind uint8

const (
	// ExitSyscall: the guest executed SYSCALL (a hypercall from guest
	// kernel mode, a system call to bounce from guest user mode). RCX and
	// R11 in Regs hold what the CPU put there (return RIP, RFLAGS); Regs.RIP
	// is the instruction after SYSCALL.
	ExitSyscall ExitKind = iota + 1
	// ExitException: a CPU exception (Vector, ErrorCode, and CR2 for #PF).
	ExitException
	// ExitInterrupt: a physical interrupt arrived while the guest ran;
	// the metal has handled it. The guest is simply resumed (after events).
	ExitInterrupt
	// ExitBadSelector: the entry could not load one of the data selectors
	// in Regs (DS, ES, FS, GS), so the guest did not run; Xen sends it to
	// its failsafe callback.
	ExitBadSelector
)

func (k ExitKind) String() string {
	switch k {
	case ExitSyscall:
		return "syscall"
	case ExitException:
		return "exception"
	case ExitInterrupt:
		return "interrupt"
	case ExitBadSelector:
		return "bad selector"
	}
	return "unknown"
}

// Exit describes one guest exit.
type Exit struct {
	Kind      ExitKind
	Vector    uint8  // exception or interrupt vector
	ErrorCode uint64 // exceptions that push one (8, 10-14, 17, 21)
	CR2       uint64 // faulting address for #PF
	DR6       uint64 // the CPU's DR6 for #DB (0: not read)
}

// x86 exception vectors.
const (
	VecDE  = 0 // divide error
	VecDB  = 1 // debug
	VecNMI = 2
	VecBP  = 3  // breakpoint (int3)
	VecOF  = 4  // overflow
	VecBR  = 5  // bound range
	VecUD  = 6  // invalid opcode
	VecNM  = 7  // device not available
	VecDF  = 8  // double fault
	VecTS  = 10 // invalid TSS
	VecNP  = 11 // segment not present
	VecSS  = 12 // stack fault
	VecGP  = 13 // general protection
	VecPF  = 14 // page fault
	VecMF  = 16 // x87 error
	VecAC  = 17 // alignment check
	VecMC  = 18 // machine check
	VecXM  = 19 // SIMD error
)

// HasErrorCode reports whether the CPU pushes an error code for vector v.
func HasErrorCode(v uint8) bool {
	switch v {
	case 8, 10, 11, 12, 13, 14, 17, 21, 29, 30:
		return true
	}
	return false
}

// Page-fault error-code bits.
const (
	PFErrPresent = 1 << 0
	PFErrWrite   = 1 << 1
	PFErrUser    = 1 << 2
	PFErrRsvd    = 1 << 3
	PFErrFetch   = 1 << 4
)
