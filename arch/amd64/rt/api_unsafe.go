package rt

import (
	"reflect"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// The API cmd/gohv calls. Ordinary goroutine context; calls that touch
// shared shim state go through gohv's own system calls so they run
// serialised with the shim.

// Boot protocol values as entry32 received them.
const (
	ProtoMultiboot1 = "multiboot1"
	ProtoMultiboot2 = "multiboot2"
	ProtoPVH        = "pvh"
)

// BootProtocol names the protocol gohv was booted with and returns the
// physical address of its information structure.
func BootProtocol() (string, uint32) {
	switch bootMagic {
	case mb1Magic:
		return ProtoMultiboot1, bootInfo
	case mb2Magic:
		return ProtoMultiboot2, bootInfo
	}
	return ProtoPVH, bootInfo
}

// ReadPhys copies physical memory at addr into p through the direct map.
// It refuses anything beyond the direct map.
func ReadPhys(addr uint64, p []byte) bool {
	if len(p) == 0 {
		return true
	}
	end := addr + uint64(len(p))
	if end < addr || end > directMapEnd {
		return false
	}
	// Safety: [addr, end) lies in the direct map, which is never
	// unmapped; the bytes are copied out, no pointer is kept.
	copy(p, unsafe.Slice((*byte)(unsafe.Pointer(dm(addr))), len(p)))
	return true
}

// Range is a physical address range [Start, End).
type Range = hw.Range

// Image returns the physical range the gohv image occupies (ELF headers
// through bss).
func Image() Range { return Range{Start: textPA - pageSize, End: imagePA(asmAddrs[6])} }

// Heap returns the physical range of the hypervisor heap as chosen at
// boot and trimmed (TrimHeap); after ShrinkHeap and loans (LendHeap) the heap
// holds part of it and runs outside it (MemStats.HeapHeldFrames).
func Heap() Range { return Range{Start: heap.Start, End: heap.End} }

// SetHeapNote sets what a "gohv heap exhausted" panic says gohv was doing
// (for instance which boot module it was unpacking); "" clears it. At most
// len(heapNote) bytes are kept. Context: Go code, one caller at a time.
func SetHeapNote(s string) {
	heapNoteLen = 0
	heapNoteLen = copy(heapNote[:], s)
}

// heapNote[:heapNoteLen] is SetHeapNote's text, read by heapExhausted.
var (
	heapNote    [160]byte
	heapNoteLen int
)

// MemStats are the shim's counters.
type MemStats struct {
	HeapFrames, HeapPeakFrames uint64 // frames backing the runtime's memory now / at most
	// HeapHeldFrames counts the frames the heap holds, in use or spare
	// (its range after TrimHeap, less what ShrinkHeap gave back, plus
	// the frames it took from loans); HeapGrownFrames those taken from
	// loans.
	HeapHeldFrames, HeapGrownFrames uint64
	Syscalls, UnknownSyscalls       uint64
	Ticks, Switches                 uint64 // summed over the CPUs / all switches
	Threads                         uint64
	Signals                         uint64 // SIGURG frames delivered (asynchronous preemption)
	// ReleaseWalks counts the page-table walks munmap and madvise made:
	// one per page, or one per span of an absent table.
	ReleaseWalks uint64
}

// Stats returns the shim's counters (a racy snapshot; for reports).
func Stats() MemStats {
	var ticks uint64
	for i := range cpus {
		ticks += atomic.LoadUint64(&cpus[i].ticks)
	}
	return MemStats{HeapFrames: heap.Frames, HeapPeakFrames: heap.Peak,
		HeapHeldFrames: heapHeldFrames(), HeapGrownFrames: heapGrown,
		Syscalls: nSyscalls, UnknownSyscalls: nUnknown, Ticks: ticks, Switches: nSwitch,
		Threads: nThreads, Signals: nSignals, ReleaseWalks: releaseWalks}
}

// ResetHeapPeak starts HeapPeakFrames again from the frames in use now and
// returns the peak before. The store races with the shim's updates (a
// frame taken meanwhile may put the old peak back): for reports, such as
// the burst the heap sees once the boot has settled. Context: Go code.
func ResetHeapPeak() uint64 {
	old := atomic.LoadUint64(&heap.Peak)
	atomic.StoreUint64(&heap.Peak, atomic.LoadUint64(&heap.Frames))
	return old
}

// ClockSample returns a TSC reading and the system time (ns since the TSC
// was calibrated) computed from that same reading.
func ClockSample() (tsc uint64, ns int64) {
	tsc = amd64.Rdtsc()
	return tsc, tscTime(tsc)
}

// Uptime is the time since kmain calibrated the TSC.
func Uptime() time.Duration { return time.Duration(nanotime()) }

// TSCHz is the calibrated TSC frequency.
func TSCHz() uint64 { return tscHz }

// BootWallClock is the RTC time at boot, in seconds since 1970 (UTC).
func BootWallClock() int64 { return bootUnix }

// OnQEMU reports whether the CPU identifies QEMU as the hypervisor under us.
func OnQEMU() bool { return onQEMU }

// ConsoleRaw writes p to the serial line as is (no "(XEN) " prefix): for
// guest console output.
func ConsoleRaw(p []byte) {
	if len(p) > 0 {
		syscall.Syscall(sysConsoleRaw, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0)
	}
}

// SetSerial reprograms the console UART (io base, baud, line control).
func SetSerial(base uint16, baud uint32, lcr uint8) {
	syscall.Syscall(sysSerialInit, uintptr(base), uintptr(baud), uintptr(lcr))
}

// SetNoReboot makes panics halt instead of rebooting.
func SetNoReboot(v bool) { noReboot = v }

// SetACPIPowerOff gives the PM1 control ports and S5 sleep types from the
// FADT and \_S5, for PowerOff.
func SetACPIPowerOff(pm1a, pm1b, typA, typB uint16) {
	pm1aCnt, pm1bCnt, slpTypA, slpTypB = pm1a, pm1b, typA, typB
}

// PowerOff turns the machine off; code reaches QEMU's isa-debug-exit.
func PowerOff(code int) {
	syscall.Syscall(sysPowerOff, uintptr(code), 0, 0)
	select {}
}

// Reboot resets the machine.
func Reboot() {
	syscall.Syscall(sysReboot, 0, 0, 0)
	select {}
}

// Panic prints Xen's panic banner with msg, then reboots (or halts under
// noreboot).
func Panic(msg string) {
	b := []byte(msg)
	if len(b) == 0 {
		b = []byte{'\n'}
	}
	syscall.Syscall(sysPanic, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0)
	select {}
}

// WritePhys copies p to physical memory at addr through the direct map.
// The caller owns the frames (the frame allocator gave them out).
func WritePhys(addr uint64, p []byte) bool {
	end := addr + uint64(len(p))
	if addr < pageSize || end < addr || end > directMapEnd {
		return false
	}
	// Safety: [addr, end) lies in the direct map and is RAM the caller
	// owns; no pointer is kept.
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dm(addr))), len(p)), p)
	return true
}

// PhysSlice returns the n values of type T at physical address addr, seen
// through the direct map: memory the caller owns for good (frames it took
// from the domain frame allocator and never gives back), which the
// collector neither scans nor counts, so a large table kept there (the
// frame table) does not pace it. T must hold no pointers: the collector
// would not see them. It panics if T may hold one or the range is not
// all in the direct map, with addr page-aligned.
func PhysSlice[T any](addr uint64, n int) []T {
	t := reflect.TypeFor[T]()
	size := uint64(t.Size()) * uint64(n)
	end := addr + size
	if n < 0 || !hw.PointerFree(t) || addr%pageSize != 0 || addr < pageSize || end < addr || end > directMapEnd ||
		(n > 0 && size/uint64(n) != uint64(t.Size())) {
		panic("rt: PhysSlice: not a pointer-free range of the direct map")
	}
	if n == 0 {
		return nil
	}
	// Safety: [addr, end) lies in the direct map, which is never
	// unmapped, and belongs to the caller for good; T holds no pointer
	// the collector would have to see.
	return unsafe.Slice((*T)(unsafe.Pointer(dm(addr))), n)
}

// ConsoleRead blocks until serial input arrives on the console UART and
// copies it to p. irq is the UART's ISA IRQ (4 for COM1, 3 for COM2); the
// first call routes it (through the IO-APIC serving its GSI, see
// SetISAIRQ) and turns the receive interrupt on. It fails only when no
// IO-APIC serves that GSI.
func ConsoleRead(p []byte, irq int) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.Syscall(sysConsoleInput, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(irq))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
