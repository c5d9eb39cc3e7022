package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/arch/amd64"
)

// sysVCPURun is gohv's VCPU_RUN: run a PV guest vCPU in ring 3 until it
// exits. Args: *arch.Regs, guest CR3, *[512]byte FXSAVE area (16-byte
// aligned), *arch.Exit, and 1 to run with CR0.TS set (the guest's virtual
// TS: its first FPU instruction exits with #NM). Returns 0, or -EINVAL for state that cannot be
// entered. The runtime sees guest time as a blocking system call, so the
// GC and other goroutines never wait on a guest.
const sysVCPURun = 1100

// Guest selectors and the RFLAGS a guest may never have.
const (
	rflagsForced = amd64.RFLAGS_IF | 2
	rflagsDenied = amd64.RFLAGS_IOPL | amd64.RFLAGS_VM | amd64.RFLAGS_NT
)

//go:nosplit
func canonical(va uint64) bool { return uint64(int64(va<<16)>>16) == va }

// vcpuRun is VCPU_RUN. Context: the shim, interrupts off, on the calling
// thread's kernel stack. The guest's registers go through this CPU's
// cpuState.guest, the only place the entry/exit assembly can reach under
// the guest's page tables.
//
//go:nosplit
func vcpuRun(regs *arch.Regs, cr3 uint64, fx uintptr, exit *arch.Exit, ts bool) uintptr {
	if fx&15 != 0 || cr3&0xfff != 0 {
		return errno(einval)
	}
	if !canonical(regs.RIP) || !canonical(regs.RSP) || !canonical(regs.FSBase) || !canonical(regs.GSBase) {
		return errno(efault)
	}
	if regs.CS&3 != 3 || regs.SS&3 != 3 {
		return errno(eperm)
	}
	// The guest's top level must carry the alias window, or the first
	// instruction after the CR3 switch faults with nowhere to go.
	const ad = amd64.PTE_A | amd64.PTE_D // the CPU sets these as it walks
	if *word(uintptr(cr3) + aliasSlot*8)&^ad != aliasL4 {
		return errno(einval)
	}
	c := thisCPU()
	g := &c.guest
	g.rax, g.rbx, g.rcx, g.rdx = regs.RAX, regs.RBX, regs.RCX, regs.RDX
	g.rsi, g.rdi, g.rbp, g.rsp = regs.RSI, regs.RDI, regs.RBP, regs.RSP
	g.r8, g.r9, g.r10, g.r11 = regs.R8, regs.R9, regs.R10, regs.R11
	g.r12, g.r13, g.r14, g.r15 = regs.R12, regs.R13, regs.R14, regs.R15
	g.rip = regs.RIP
	g.rflags = regs.RFLAGS&^rflagsDenied | rflagsForced
	g.cs, g.ss = uint64(regs.CS), uint64(regs.SS)
	g.ds, g.es, g.fs, g.gs = uint64(regs.DS), uint64(regs.ES), uint64(regs.FS), uint64(regs.GS)
	g.fsBase, g.gsBase = regs.FSBase, regs.GSBase
	g.cr3 = cr3
	g.ts = 0
	if ts {
		g.ts = 1
	}
	copyFX(c.guestFX-aliasBase, fx)
	c.hostCR3 = amd64.ReadCR3()
	c.hostFS = uint64(current().fsBase)

	enterGuest(c.self)

	copyFX(fx, c.guestFX-aliasBase)
	regs.RAX, regs.RBX, regs.RCX, regs.RDX = g.rax, g.rbx, g.rcx, g.rdx
	regs.RSI, regs.RDI, regs.RBP, regs.RSP = g.rsi, g.rdi, g.rbp, g.rsp
	regs.R8, regs.R9, regs.R10, regs.R11 = g.r8, g.r9, g.r10, g.r11
	regs.R12, regs.R13, regs.R14, regs.R15 = g.r12, g.r13, g.r14, g.r15
	regs.RIP, regs.RFLAGS = g.rip, g.rflags
	regs.CS, regs.SS = uint16(g.cs), uint16(g.ss)
	regs.DS, regs.ES, regs.FS, regs.GS = uint16(g.ds), uint16(g.es), uint16(g.fs), uint16(g.gs)
	*exit = arch.Exit{Kind: arch.ExitKind(g.exitKind)}
	switch g.exitKind {
	case exitException:
		exit.Vector, exit.ErrorCode, exit.CR2 = uint8(g.vector), g.errcode, g.cr2
	case exitInterrupt:
		exit.Vector = uint8(g.vector)
		if g.vector == vecPIC {
			amd64.Outb(0x20, 0x20)
			c.ticks++
			schedule() // the tick slices time between kernel threads
		} else {
			deviceIRQ(g.vector)
		}
	}
	return 0
}

//go:nosplit
func copyFX(dst, src uintptr) {
	d := (*[64]uint64)(unsafe.Pointer(dst))
	s := (*[64]uint64)(unsafe.Pointer(src))
	*d = *s
}
