package rt

import (
	"errors"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Application processors, first step: StartAP wakes a CPU the MADT lists
// with INIT-SIPI-SIPI through the trampoline (hw.Trampoline) copied to
// trampBase, below 1 MiB (cmd/gohv keeps [0, 1 MiB) from domains; by then
// the boot loader's structures there have been read into Go values). The
// AP comes up in long mode on gohv's page tables with its own cpuState,
// GDT window, TSS and IST stacks, loads the shared IDT, enables its local
// APIC (timer masked) and parks in apMain's idle HLT loop with interrupts
// on, where it answers test IPIs (irqIPI counts them). No Go code runs on
// it beyond apMain: the shim's run queues are single-CPU (doc.go lists
// what SMP must change).

const (
	trampBase    = 0x8000
	apStackSize  = 4096
	apStartLimit = 2 * time.Second // TCG under load is slow to start a CPU
)

var (
	apStacks  [maxCPUs][apStackSize]byte
	apTLS     [maxCPUs][2]uint64 // each AP's fake TLS: FS points at [1], g (at [0]) is nil
	apOnline  [maxCPUs]uint32    // set by the AP in apMain
	apicIDs   [maxCPUs]uint32    // APIC ID of each started CPU
	trampPage [hw.TrampSize]byte // built in Go context, copied by sysStartAP
)

// apMain runs on an AP, on its boot stack, once it is in long mode on
// gohv's tables. It loads its GDT window, segments, TSS and the IDT,
// points GS_BASE at its cpuState, enables its local APIC with the timer
// masked, says it is online and idles with interrupts on. It never
// returns. Context: the AP, interrupts off until the idle loop.
//
//go:nosplit
func apMain(cp uintptr) {
	c := (*cpuState)(unsafe.Pointer(cp))
	amd64.WriteGSBase(uint64(c.self))
	amd64.Wrmsr(amd64.MSR_PAT, 0x0000050100070406) // Xen's PAT layout, as CPU 0
	var d [2]uint64
	d[0], d[1] = hw.PseudoDesc(uint64(c.gdtVA), gdtPages*pageSize)
	amd64.Lgdt(uint64(uintptr(unsafe.Pointer(&d[0]))))
	reloadSegments()
	amd64.Ltr(selTSS)
	d[0], d[1] = hw.PseudoDesc(uint64(uintptr(unsafe.Pointer(&idt[0]))), uint64(unsafe.Sizeof(idt)))
	amd64.Lidt(uint64(uintptr(unsafe.Pointer(&d[0]))))
	amd64.Wrmsr(hw.MSR_APIC_BASE, hw.LAPICEnableMSR(amd64.Rdmsr(hw.MSR_APIC_BASE)&^hw.APICBaseX2APIC))
	lapicWrite(hw.LAPIC_SVR, hw.LAPICSVR(hw.LAPICSpuriousVec))
	lapicWrite(hw.LAPIC_TPR, 0)
	lapicWrite(hw.LAPIC_LINT0, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_LVTE, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_LVTT, hw.LAPICLVTMasked)
	atomic.StoreUint32(&apOnline[c.id], 1)
	for {
		amd64.StiHlt()
	}
}

// lapicICR sends an IPI and waits (bounded) for the local APIC to accept
// it. false: still pending. Context: the shim, interrupts off.
//
//go:nosplit
func lapicICR(dest uint8, lo uint32) bool {
	lapicWrite(hw.LAPIC_ICRHI, hw.ICRDest(dest))
	lapicWrite(hw.LAPIC_ICRLO, lo)
	for i := 0; i < 1000000; i++ {
		if lapicRead(hw.LAPIC_ICRLO)&hw.ICRPending == 0 {
			return true
		}
		amd64.Pause()
	}
	return false
}

//go:nosplit
func tscDelay(us uint64) {
	t0 := amd64.Rdtsc()
	for amd64.Rdtsc()-t0 < tscHz/1000000*us {
		amd64.Pause()
	}
}

// sysStartAP prepares CPU cpu's tables, copies trampPage to trampBase and
// sends INIT, then two SIPIs (10 ms and 200 us apart, the MP
// specification's waits) to APIC ID apicID. Context: the shim.
//
//go:nosplit
func sysStartAP(cpu, apicID uintptr) uintptr {
	c := &cpus[cpu]
	c.self = uintptr(unsafe.Pointer(c))
	c.id = cpu
	c.entryTop = uintptr(unsafe.Pointer(&c.entryStack[len(c.entryStack)-1]))
	c.selDS, c.selES = selKernelDS, selKernelDS
	cpuTables(c)
	apicIDs[cpu] = uint32(apicID)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dm(trampBase))), hw.TrampSize), trampPage[:])
	if !lapicICR(uint8(apicID), hw.ICRInit) {
		return errno(eagain)
	}
	tscDelay(10000)
	for i := 0; i < 2 && atomic.LoadUint32(&apOnline[cpu]) == 0; i++ {
		if !lapicICR(uint8(apicID), hw.ICRStartup(hw.SIPIVector(trampBase))) {
			return errno(eagain)
		}
		tscDelay(200)
	}
	return 0
}

// sysSendIPI sends the test IPI to CPU cpu. Context: the shim.
//
//go:nosplit
func sysSendIPI(cpu uintptr) uintptr {
	if !lapicICR(uint8(apicIDs[cpu]), hw.ICRFixed(hw.IPITestVec)) {
		return errno(eagain)
	}
	return 0
}

// ErrAPTimeout is StartAP's error when the CPU does not come up.
var ErrAPTimeout = errors.New("rt: the CPU did not come up")

// StartAP brings up the CPU with xAPIC ID apicID as CPU number cpu (1 to
// MaxCPUs-1, each once, in order; CPU 0 is the boot CPU) and waits for it
// to reach its idle loop. Context: Go code, one caller at a time (main).
func StartAP(cpu int, apicID uint32) error {
	if cpu < 1 || cpu >= maxCPUs || apicID >= 0xFF || atomic.LoadUint32(&apOnline[cpu]) != 0 {
		return syscall.EINVAL
	}
	if !hw.TrampolineOK(trampBase) {
		return syscall.EINVAL
	}
	var upper [256]uint64
	copy(upper[:], unsafe.Slice((*uint64)(unsafe.Pointer(pml4+256*8)), 256))
	efer := amd64.Rdmsr(amd64.MSR_EFER)
	hw.Trampoline(&trampPage, trampBase, amd64.ReadCR0(), amd64.ReadCR4(), efer, &upper,
		uint64(asmAddrs[9]), uint64(uintptr(unsafe.Pointer(&apStacks[cpu]))+apStackSize),
		uint64(uintptr(unsafe.Pointer(&cpus[cpu]))), idleCR3)
	if _, _, e := syscall.Syscall(sysAPStart, uintptr(cpu), uintptr(apicID), 0); e != 0 {
		return e
	}
	for t0 := time.Now(); time.Since(t0) < apStartLimit; time.Sleep(time.Millisecond) {
		if atomic.LoadUint32(&apOnline[cpu]) != 0 {
			return nil
		}
	}
	return ErrAPTimeout
}

// PingAP sends CPU cpu (started by StartAP) a test IPI and waits up to a
// second for its handler to count it; it returns the CPU's count after.
func PingAP(cpu int) (uint64, error) {
	if cpu < 1 || cpu >= maxCPUs || atomic.LoadUint32(&apOnline[cpu]) == 0 {
		return 0, syscall.EINVAL
	}
	before := atomic.LoadUint64(&cpus[cpu].ipis)
	if _, _, e := syscall.Syscall(sysIPI, uintptr(cpu), 0, 0); e != 0 {
		return before, e
	}
	for t0 := time.Now(); time.Since(t0) < time.Second; time.Sleep(time.Millisecond) {
		if n := atomic.LoadUint64(&cpus[cpu].ipis); n != before {
			return n, nil
		}
	}
	return before, ErrAPTimeout
}

// BootCPUAPICID is the boot CPU's local APIC ID.
func BootCPUAPICID() uint32 { return lapicRead(hw.LAPIC_ID) >> 24 }

// MaxCPUs is how many CPUs gohv can run (the per-CPU tables' size).
const MaxCPUs = maxCPUs

// TrampolineRange is the low memory StartAP overwrites with the
// trampoline: it must be RAM that holds nothing still needed.
func TrampolineRange() Range { return Range{Start: trampBase, End: trampBase + hw.TrampSize} }
