package linux

// Signals as the shim serves them (include/uapi/asm-generic/signal.h,
// arch/x86/include/uapi/asm/sigcontext.h and ucontext.h for amd64): which
// numbers a call may name, the sigaltstack a thread keeps, and where an
// rt_sigframe goes on it.

const (
	SIGKILL = 9
	SIGSTOP = 19
	SIGURG  = 23
	NSIG    = 64

	SA_NODEFER = 0x40000000
	SS_ONSTACK = 1
	SS_DISABLE = 2
	SI_TKILL   = -6
	ESRCH      = 3

	// MINSIGSTKSZ is the smallest alternate stack sigaltstack accepts
	// (ENOMEM below it).
	MINSIGSTKSZ = 2048

	// The rt_sigframe's parts on amd64: struct ucontext (flags, link,
	// stack_t, sigcontext, sigmask) and where its fields are, struct
	// siginfo, and the FXSAVE image uc_mcontext.fpstate points at.
	UcontextSize = 304
	UcStack      = 16
	UcMcontext   = 40
	UcSigmask    = 296
	SiginfoSize  = 128
	FXSize       = 512
	redZone      = 128 // below the interrupted RSP, the ABI's red zone
)

// ValidSignal reports whether sig names a signal (1-64).
//
//go:nosplit
func ValidSignal(sig uintptr) bool { return sig-1 < NSIG }

// Catchable reports whether rt_sigaction may set sig's action: a valid
// signal other than SIGKILL and SIGSTOP.
//
//go:nosplit
func Catchable(sig uintptr) bool { return ValidSignal(sig) && sig != SIGKILL && sig != SIGSTOP }

// SigBit returns sig's bit in a signal mask or pending set.
//
//go:nosplit
func SigBit(sig uintptr) uint64 { return 1 << (sig - 1) }

// AltStack is a thread's stack_t as sigaltstack sets and reports it.
type AltStack struct{ SP, Flags, Size uint64 }

// Enabled reports whether a handler can run on a.
//
//go:nosplit
func (a AltStack) Enabled() bool { return a.Size != 0 && a.Flags&SS_DISABLE == 0 }

// Reported is a as sigaltstack's old argument reads it: SS_DISABLE when
// there is none.
//
//go:nosplit
func (a AltStack) Reported() AltStack {
	if !a.Enabled() {
		return AltStack{Flags: SS_DISABLE}
	}
	return AltStack{SP: a.SP, Size: a.Size}
}

// SetAltStack decodes sigaltstack's ss argument: the stack the thread has
// after the call, or errno (EINVAL for unknown flags, ENOMEM for a stack
// below MINSIGSTKSZ).
//
//go:nosplit
func SetAltStack(ss AltStack) (AltStack, uintptr) {
	switch uint32(ss.Flags) {
	case SS_DISABLE:
		return AltStack{Flags: SS_DISABLE}, 0
	case 0, SS_ONSTACK:
		if ss.Size < MINSIGSTKSZ || ss.SP+ss.Size < ss.SP {
			return AltStack{}, ENOMEM
		}
		return AltStack{SP: ss.SP, Size: ss.Size}, 0
	}
	return AltStack{}, EINVAL
}

// SigFrame is where an rt_sigframe's parts go, lowest first: the return
// address (sa_restorer) at Frame, the ucontext at UC, the siginfo at
// Info, the FXSAVE image at FP.
type SigFrame struct{ Frame, UC, Info, FP uintptr }

// SigFrameTop returns where the frame of a handler for a thread
// interrupted with stack pointer rsp ends on *a: at its top, or below
// rsp's red zone if rsp is already on it. ok is false if a cannot take
// the frame SigFrameAt lays out below it.
//
//go:nosplit
func SigFrameTop(a *AltStack, rsp uint64) (top uintptr, ok bool) {
	if !a.Enabled() {
		return 0, false
	}
	t := a.SP + a.Size
	if rsp >= a.SP && rsp < t {
		if rsp-a.SP < redZone {
			return 0, false
		}
		t = rsp - redZone
	}
	if t < a.SP || t-a.SP < FXSize+64+SiginfoSize+16+UcontextSize+8 {
		return 0, false
	}
	return uintptr(t), true
}

// SigFrameAt lays out the frame below top as Linux does: FXSAVE image
// 64-byte aligned, siginfo 16, and the handler entered with RSP+8
// 16-byte aligned.
//
//go:nosplit
func SigFrameAt(top uintptr) (f SigFrame) {
	f.FP = (top - FXSize) &^ 63
	f.Info = (f.FP - SiginfoSize) &^ 15
	f.UC = f.Info - UcontextSize
	f.Frame = f.UC - 8
	return f
}
