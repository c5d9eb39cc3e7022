package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// trapFrame is what trapCommon and the CPU push, lowest address first.
type trapFrame struct {
	r15, r14, r13, r12, r11, r10, r9, r8, bp, di, si, dx, cx, bx, ax uint64
	vector, errcode                                                  uint64
	rip, cs, rflags, rsp, ss                                         uint64
}

var excNames = [22]string{
	"divide error", "debug", "nmi", "breakpoint", "overflow", "bounds",
	"invalid opcode", "device not available", "double fault",
	"coprocessor segment overrun", "invalid tss", "segment not found",
	"stack error", "general protection fault", "page fault", "reserved",
	"fpu error", "alignment check", "machine check", "simd error",
	"virtualisation exception", "control protection",
}

// excName names exception vector v ("" past the table), without a bounds
// check the nosplit budget could not afford.
//
//go:nosplit
func excName(v uint64) string {
	if v >= uint64(len(excNames)) {
		return ""
	}
	return excNames[v%uint64(len(excNames))]
}

var (
	noReboot bool
	// The fault being turned into a Go panic (read by faultPanic).
	faultVector, faultErr, faultRIP, faultCR2 uint64
	faultInjected                             bool
	// A fatal exception recorded for the panic banner.
	fatalVector = ^uint64(0)
	haveRdrand  bool
	onQEMU      bool
)

// trap handles every exception. Context: IST stack, interrupts off.
// A first touch of a demand-zero page is fixed and returns. Anything else
// is a bug in gohv: the registers are dumped as Xen does, then, if the
// fault hit ordinary Go code, the frame is edited so the faulting
// goroutine "calls" faultPanic and the runtime prints its traceback;
// otherwise the machine panics at once.
//
//go:nosplit
func trap(f *trapFrame) {
	c := thisCPU()
	if f.vector == 14 && f.errcode&1 == 0 && c.inTrap == 0 && demandFault(uintptr(amd64.ReadCR2())) {
		return
	}
	// A guest access that faulted (guestCopy) at an address in gohv's
	// range that is not a demand fault: it reports failure, as
	// trapCommon makes every other guestCopy fault (and every segLoad
	// fault) report it before Go code runs.
	if f.cs&3 == 0 && f.vector == 14 && f.rip >= uint64(copyFixup[0]) && f.rip < uint64(copyFixup[2]) {
		f.rip = uint64(copyFixup[1])
		return
	}
	if c.inTrap != 0 {
		xline()
		xputs("FATAL: exception inside the exception handler\n")
		fatalVector = f.vector
		panicBanner(0, 0)
	}
	c.inTrap = 1
	cr2 := amd64.ReadCR2()
	dumpFrame(f, cr2)
	fatalVector = f.vector
	inGo := c.inShim == 0 && c.idling == 0 && f.vector != 8 && f.vector != 2 && f.vector != 18
	if inGo && !faultInjected && f.rip >= uint64(asmAddrs[5]) && f.rip < uint64(asmAddrs[7]) {
		faultInjected = true
		faultVector, faultErr, faultRIP, faultCR2 = f.vector, f.errcode, f.rip, cr2
		sp := uintptr(f.rsp - 8)
		touch(sp)
		*word(sp) = f.rip
		f.rsp = uint64(sp)
		f.rip = uint64(asmAddrs[4]) // faultTrampoline
		c.inTrap = 0
		return
	}
	panicBanner(0, 0)
}

//go:nosplit
func reg(name string, v uint64) {
	xputs(name)
	xputs(": ")
	xhex(v)
}

// dumpFrame prints the exception and registers in Xen's layout.
//
//go:nosplit
func dumpFrame(f *trapFrame, cr2 uint64) {
	xline()
	xputs("----[ gohv x86_64  debug=n  Not tainted ]----\n")
	xputs("CPU:    ")
	xdec(uint64(thisCPU().id))
	xputs("\nRIP:    ")
	xhexn(f.cs, 4)
	xputs(":[<")
	xhex(f.rip)
	xputs(">]\nRFLAGS: ")
	xhex(f.rflags)
	xputs("   CONTEXT: hypervisor\n")
	reg("rax", f.ax)
	reg("   rbx", f.bx)
	reg("   rcx", f.cx)
	xputs("\n")
	reg("rdx", f.dx)
	reg("   rsi", f.si)
	reg("   rdi", f.di)
	xputs("\n")
	reg("rbp", f.bp)
	reg("   rsp", f.rsp)
	reg("   r8 ", f.r8)
	xputs("\n")
	reg("r9 ", f.r9)
	reg("   r10", f.r10)
	reg("   r11", f.r11)
	xputs("\n")
	reg("r12", f.r12)
	reg("   r13", f.r13)
	reg("   r14", f.r14)
	xputs("\n")
	reg("r15", f.r15)
	reg("   cr0", amd64.ReadCR0())
	reg("   cr4", amd64.ReadCR4())
	xputs("\n")
	reg("cr3", amd64.ReadCR3())
	reg("   cr2", cr2)
	xputs("\n")
	xputs("Xen call trace:\n   [<")
	xhex(f.rip)
	xputs(">] (faulting RIP)\n")
	// Go keeps frame pointers: follow the RBP chain while it stays in
	// mapped memory.
	bp := uintptr(f.bp)
	for i := 0; i < 16 && bp != 0 && bp&7 == 0; i++ {
		if !mapped(bp) || !mapped(bp+8) {
			break
		}
		ret := *word(bp + 8)
		if ret == 0 {
			break
		}
		xputs("   [<")
		xhex(ret)
		xputs(">]\n")
		bp = uintptr(*word(bp))
	}
	xputs("\nFATAL TRAP: vector = ")
	xdec(f.vector)
	xputs(" (")
	xputs(excName(f.vector))
	xputs(")\n[error_code=")
	xhexn(f.errcode, 4)
	xputs("]\n")
	if f.vector == 14 {
		xputs("Faulting linear address: ")
		xhex(cr2)
		xputs("\n")
	}
}

// mapped reports whether va is readable now: the direct map, the image,
// or a backed page of the mmap window.
//
//go:nosplit
func mapped(va uintptr) bool {
	switch {
	case va >= directMapBase && va < directMapBase+uintptr(directMapEnd):
		return true
	case va >= textBase-pageSize && va < asmAddrs[6]:
		return imageMapped(va) // FreeInitMemory unmaps the image's dead pages
	case !inMmapWindow(va, 1):
		return false
	}
	e := pteLookup(va)
	return e != 0 && *word(e)&amd64.PTE_P != 0
}

// panicBanner prints Xen's panic banner with msg (if any) and reboots, or
// halts under noreboot. Never returns. Context: any, interrupts off. The
// other CPUs stop at their next system call or interrupt path
// (stopOthers keeps the shim lock).
//
//go:nosplit
func panicBanner(msg, n uintptr) {
	amd64.Cli()
	stopOthers()
	xline()
	xputs("****************************************\n")
	xputs("Panic on CPU ")
	xdec(uint64(thisCPU().id))
	xputs(":\n")
	if fatalVector < uint64(len(excNames)) {
		xputs("FATAL TRAP: vector = ")
		xdec(fatalVector)
		xputs(" (")
		xputs(excName(fatalVector))
		xputs(")\n")
	}
	for i := uintptr(0); i < n; i++ {
		putcXen(*(*byte)(unsafe.Pointer(msg + i)))
	}
	xline()
	xputs("****************************************\n")
	xputs("\n")
	if noReboot {
		xputs("Manual reset required ('noreboot' specified)\n")
		amd64.Halt()
	}
	xputs("Reboot in five seconds...\n")
	spinNs(5 * 1000000000)
	reboot()
}

//go:nosplit
func spinNs(ns int64) {
	end := nanotime() + ns
	for nanotime() < end {
		amd64.Pause()
	}
}

// exitGroup ends the runtime: status 0 is an orderly end of gohv's main
// (power off); anything else is the runtime dying (a Go panic or fatal
// error already printed its traceback).
//
//go:nosplit
func exitGroup(code int) {
	if code == 0 {
		powerOff(0)
	}
	xline()
	xputs("gohv: Go runtime ended with exit status ")
	xdec(uint64(code))
	xputs("\n")
	panicBanner(0, 0)
}

// heapExhausted is fatal: the runtime asked for memory the hypervisor
// heap no longer has. The line names the RAM the heap was sized from,
// why it did not grow (xputHeapGrowth) and what gohv was doing
// (SetHeapNote).
//
//go:nosplit
func heapExhausted() {
	xline()
	xputs("PANIC: gohv heap exhausted: ")
	xdec(heap.Frames * pageSize >> 10)
	xputs(" KiB of ")
	xdec(heapHeldFrames() * pageSize >> 10)
	xputs(" KiB in use, ")
	xdec(bootMem.RAMTop >> 20)
	xputs(" MiB of RAM")
	xputHeapGrowth()
	xputHeapNote()
	xputs("\n")
	panicBanner(0, 0)
}

// xputHeapNote writes ", while " and SetHeapNote's text, if any. (Apart
// from heapExhausted to keep that frame, under panicBanner, small.)
//
//go:nosplit
func xputHeapNote() {
	if heapNoteLen > 0 && heapNoteLen <= len(heapNote) {
		xputs(", while ")
		xputs(unsafe.String(&heapNote[0], heapNoteLen))
	}
}

// heapCorrupt is fatal: an mmap-window page table maps frame pa, which the
// hypervisor heap never handed out.
//
//go:nosplit
func heapCorrupt(pa uint64) {
	xline()
	xputs("PANIC: gohv heap: freeing frame ")
	xhex(pa)
	xputs(", not one of the heap's\n")
	panicBanner(0, 0)
}

// powerOff turns the machine off. Under QEMU the isa-debug-exit device (if
// present at 0xf4) ends QEMU with status (code<<1)|1; otherwise ACPI S5
// (pm1aCnt, set by the Go side from the FADT), else halt.
//
//go:nosplit
func powerOff(code int) {
	amd64.Cli()
	xline()
	if onQEMU {
		amd64.Outl(0xf4, uint32(code))
	}
	// ACPI S5: SLP_TYP first, then SLP_TYP with SLP_EN, keeping the
	// register's other bits (as Linux and Xen do).
	if pm1aCnt != 0 {
		const typMask, slpEn = 7 << 10, 1 << 13
		a := amd64.Inw(pm1aCnt)&^(typMask|slpEn) | slpTypA<<10
		var b uint16
		if pm1bCnt != 0 {
			b = amd64.Inw(pm1bCnt)&^(typMask|slpEn) | slpTypB<<10
			amd64.Outw(pm1bCnt, b)
		}
		amd64.Outw(pm1aCnt, a)
		if pm1bCnt != 0 {
			amd64.Outw(pm1bCnt, b|slpEn)
		}
		amd64.Outw(pm1aCnt, a|slpEn)
	}
	spinNs(100 * 1000000)
	xputs("System halted: power-off failed\n")
	amd64.Halt()
}

var pm1aCnt, pm1bCnt, slpTypA, slpTypB uint16

// reboot resets the machine: keyboard controller, then the PCI reset
// register 0xCF9, then a triple fault.
//
//go:nosplit
func reboot() {
	amd64.Cli()
	for i := 0; i < 100000 && amd64.Inb(0x64)&2 != 0; i++ {
	}
	amd64.Outb(0x64, 0xFE)
	spinNs(50 * 1000000)
	amd64.Outb(0xCF9, 0x02)
	amd64.Outb(0xCF9, 0x06)
	spinNs(50 * 1000000)
	amd64.Lidt(pseudoDescriptor(0, 1))
	// Any fault now triple-faults; a non-canonical address faults under
	// any page tables.
	*(*uint64)(unsafe.Pointer(uintptr(0x8000000000000000))) = 0
	amd64.Halt()
}
