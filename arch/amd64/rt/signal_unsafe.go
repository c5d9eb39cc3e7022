package rt

import (
	"sync/atomic"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/linux"
)

// Signals. The runtime preempts a goroutine that runs too long by sending
// its thread SIGURG (tgkill); its handler, runtime.sigtramp, then injects
// a call to asyncPreempt into the interrupted context. gohv delivers that
// one signal the Linux way: when the timer interrupt has preempted the
// target thread in Go code and the thread is about to resume, an
// rt_sigframe (return address sa_restorer, ucontext, siginfo, FXSAVE
// image) goes on the thread's sigaltstack and the thread resumes in the
// handler; rt_sigreturn puts back the context the handler left in the
// ucontext (registers, vector state, signal mask). Other signals are
// recorded and dropped: faults are handled by trap() and there are no
// processes to signal.

// arch/amd64/linux decides which signals a call may name, what
// sigaltstack sets, and where the frame goes; this file writes it.

const (
	sigURG     = linux.SIGURG
	ucSize     = linux.UcontextSize
	ucMcontext = linux.UcMcontext
	ucSigmask  = linux.UcSigmask
)

// sigaction is the kernel's struct sigaction on amd64.
type sigaction struct {
	handler, flags, restorer, mask uint64
}

// sigcontext is the kernel's struct sigcontext on amd64 (uc_mcontext).
type sigcontext struct {
	r8, r9, r10, r11, r12, r13, r14, r15 uint64
	rdi, rsi, rbp, rbx, rdx, rax, rcx    uint64
	rsp, rip, eflags                     uint64
	cs, gs, fs, ss                       uint16
	err, trapno, oldmask, cr2, fpstate   uint64
	_                                    [8]uint64
}

// intrFrame is an interrupted ring-0 context as irqTimer keeps it on the
// kernel stack (PUSH_GPRS below the CPU's frame), lowest address first.
type intrFrame struct {
	r15, r14, r13, r12, r11, r10, r9, r8, bp, di, si, dx, cx, bx, ax uint64
	rip, cs, rflags, rsp, ss                                         uint64
}

var (
	sigactions [65]sigaction      // by signal number; the whole process shares them
	sigPending [maxThreads]uint64 // bit sig-1: sent, not yet delivered
	// sigSent counts the signals sent to each slot's thread (tgkill):
	// a quiet tick compares it with what its Run saw last (quietTick).
	sigSent   [maxThreads]uint64
	altStack  [maxThreads]linux.AltStack // sigaltstack
	nSignals  uint64                     // SIGURG frames delivered
	sigReturn [maxCPUs]intrFrame         // the context rt_sigreturn resumes (asm: cpuState.sigRet)
)

//go:nosplit
func sysRtSigaction(sig, act, old uintptr) uintptr {
	if !linux.Catchable(sig) {
		return errno(einval)
	}
	if old != 0 {
		touchRange(old, 32)
		*(*sigaction)(unsafe.Pointer(old)) = sigactions[sig]
	}
	if act != 0 {
		touchRange(act, 32)
		sigactions[sig] = *(*sigaction)(unsafe.Pointer(act))
	}
	return 0
}

// sysRtSigprocmask changes the calling thread's signal mask
// (linux.Sigprocmask). The new set is read before the old is written:
// they may be one buffer.
//
//go:nosplit
func sysRtSigprocmask(how, set, oldset uintptr) uintptr {
	i := thisCPU().cur
	old, m := sigmasks[i], sigmasks[i]
	if set != 0 {
		touch(set)
		var ok bool
		if m, ok = linux.Sigprocmask(old, how, *word(set)); !ok {
			return errno(einval)
		}
	}
	if oldset != 0 {
		touch(oldset)
		*word(oldset) = old
	}
	sigmasks[i] = m
	return 0
}

//go:nosplit
func sysSigaltstack(ss, old uintptr) uintptr {
	a := &altStack[thisCPU().cur]
	if old != 0 {
		touchRange(old, 24)
		*(*linux.AltStack)(unsafe.Pointer(old)) = a.Reported()
	}
	if ss != 0 {
		touchRange(ss, 24)
		n, e := linux.SetAltStack(*(*linux.AltStack)(unsafe.Pointer(ss)))
		if e != 0 {
			return errno(e)
		}
		*a = n
	}
	return 0
}

// sysTgkill records sig for thread tid; only SIGURG with a handler
// installed is ever delivered (at the tick of the CPU that runs it, or
// its guest's exit: a CPU whose tick is held off for a quiet guest is
// sent an IPI that brings it forward).
//
//go:nosplit
func sysTgkill(tid, sig uintptr) uintptr {
	if !linux.ValidSignal(sig) {
		return errno(einval)
	}
	for i := range threads {
		if threads[i].state != thFree && threads[i].tid == tid {
			sigPending[i] |= linux.SigBit(sig)
			atomic.AddUint64(&sigSent[i], 1)
			if on := threads[i].onCPU; on != 0 && on <= maxCPUs && on-1 != thisCPU().id && cpus[on-1].longTimer != 0 {
				signalResched[thisCPU().id%maxCPUs]++
				reschedCPU(on - 1) // its tick is held off for a quiet guest
			}
			return 0
		}
	}
	return errno(linux.ESRCH)
}

// deliverSignal runs from irqTimer on the thread about to resume at f:
// if SIGURG is pending and not blocked, it builds the signal frame and
// redirects f into the handler; then it releases the shim lock preempt
// took. Context: the thread's kernel stack, interrupts off, after
// preempt; the thread's FXSAVE image (taken at the interrupt) is in
// current().fx.
//
//go:nosplit
func deliverSignal(f *intrFrame) {
	signalFrame(f)
	shimUnlock()
}

// signalFrame is deliverSignal's work, under the shim lock.
//
//go:nosplit
func signalFrame(f *intrFrame) {
	i := thisCPU().cur
	bit := linux.SigBit(sigURG)
	if sigPending[i]&bit == 0 || sigmasks[i]&bit != 0 {
		return
	}
	sigPending[i] &^= bit
	sa := &sigactions[sigURG]
	top, ok := linux.SigFrameTop(&altStack[i], f.rsp)
	if sa.handler <= 1 || !ok { // SIG_DFL, SIG_IGN, or nowhere to run it
		return
	}
	sf := linux.SigFrameAt(top)
	fp, info, uc, frame := sf.FP, sf.Info, sf.UC, sf.Frame
	touchRange(frame, top-frame)

	zero(frame, fp-frame)
	copyFX(fp, current().fx)
	*(*int32)(unsafe.Pointer(info)) = sigURG
	*(*int32)(unsafe.Pointer(info + 8)) = linux.SI_TKILL
	*(*int32)(unsafe.Pointer(info + 16)) = 1   // si_pid
	*word(uc + linux.UcStack) = altStack[i].SP // uc_stack: the stack_t it runs on
	*word(uc + linux.UcStack + 8) = linux.SS_ONSTACK
	*word(uc + linux.UcStack + 16) = altStack[i].Size
	m := (*sigcontext)(unsafe.Pointer(uc + ucMcontext))
	m.r8, m.r9, m.r10, m.r11, m.r12, m.r13, m.r14, m.r15 = f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15
	m.rdi, m.rsi, m.rbp, m.rbx, m.rdx, m.rax, m.rcx = f.di, f.si, f.bp, f.bx, f.dx, f.ax, f.cx
	m.rsp, m.rip, m.eflags = f.rsp, f.rip, f.rflags
	m.cs, m.ss = selKernelCS, selKernelDS
	m.oldmask = sigmasks[i]
	m.fpstate = uint64(fp)
	*word(uc + ucSigmask) = sigmasks[i]
	*word(frame) = sa.restorer

	if sa.flags&linux.SA_NODEFER == 0 {
		sigmasks[i] |= bit
	}
	sigmasks[i] |= sa.mask
	f.rip, f.rsp = sa.handler, uint64(frame)
	f.di, f.si, f.dx, f.ax = sigURG, uint64(info), uint64(uc), 0
	f.rflags &^= amd64.RFLAGS_DF | amd64.RFLAGS_TF
	nSignals++
}

// sysRtSigreturn resumes the context in the ucontext at the caller's stack
// (the handler has returned into sa_restorer). syscallEntry sees
// cpuState.sigRet set and returns through the full frame instead of the
// sysFrame. Context: the shim.
//
//go:nosplit
func sysRtSigreturn(f *sysFrame) uintptr {
	c := thisCPU()
	i := c.cur
	uc := f.sp
	touchRange(uc, ucSize)
	m := (*sigcontext)(unsafe.Pointer(uc + ucMcontext))
	r := &sigReturn[c.id]
	r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15 = m.r8, m.r9, m.r10, m.r11, m.r12, m.r13, m.r14, m.r15
	r.di, r.si, r.bp, r.bx, r.dx, r.ax, r.cx = m.rdi, m.rsi, m.rbp, m.rbx, m.rdx, m.rax, m.rcx
	r.rip, r.rsp = m.rip, m.rsp
	r.rflags = m.eflags&^(amd64.RFLAGS_IOPL|amd64.RFLAGS_IF) | 0x3000 | amd64.RFLAGS_IF
	r.cs, r.ss = selKernelCS, selKernelDS
	sigmasks[i] = *word(uc + ucSigmask)
	if m.fpstate != 0 {
		touchRange(uintptr(m.fpstate), 512)
		copyFX(current().fx, uintptr(m.fpstate))
	}
	c.sigRet = uintptr(unsafe.Pointer(r))
	return uintptr(m.rax)
}

//go:nosplit
func zero(p, n uintptr) {
	for ; n >= 8; n, p = n-8, p+8 {
		*word(p) = 0
	}
}
