package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Descriptor tables, laid out as Xen's so PV guests see the selectors the
// ABI names. The GDT is Xen's 16-page window, one per CPU in the per-CPU
// area: pages 0-13 (entries 0-7167) are the frames of the running vCPU's
// set_gdt table, mapped read-write for the CPU (it sets accessed bits;
// hv validated every descriptor) or a zero page (not present) where it
// has none; pages 14-15 are this CPU's reserved entries:
//
//	0xe008 ring-0 code   0xe010 ring-0 data
//	0xe023 ring-3 32-bit code (FLAT_RING3_CS32)   0xe02b ring-3 data (FLAT_RING3_DS32/SS)
//	0xe033 ring-3 64-bit code (FLAT_RING3_CS64)   0xe040 the TSS
//
// Its limit covers all 16 pages, as Xen's does. The entry maps a vCPU's
// frames when the window holds another's (cpuState.gdtOwner).
//
// Everything the CPU reads on a transition (GDT, IDT, TSS, IST stacks,
// gate targets) is in the upper half, which every guest's page tables map
// too. IST1 takes exceptions and interrupts (ring-0 Go code may be near the
// end of its goroutine stack, so nothing runs on the interrupted stack),
// IST2 NMI and #MC, IST3 #DF, IST4 #DB.

// arch/amd64/hw encodes the descriptors; this file places them.

const (
	selKernelCS = hw.SelKernelCS
	selKernelDS = hw.SelKernelDS
	selUser32CS = hw.SelUser32CS
	selUserDS   = hw.SelUserDS
	selUser64CS = hw.SelUser64CS
	selTSS      = hw.SelTSS

	vecPIC = 0x20
	// gateDevStub is the index in gateStubs of device vector
	// hw.DeviceVecBase's stub.
	gateDevStub = 40
	// istSize is each IST stack's size: a page, as Xen's #DF, #DB, NMI
	// and #MC stacks are (its asm/current.h). What runs there is
	// bounded: a stub's saved registers and vector state (about 700
	// bytes: 15 registers, the CPU's frame, a 512-byte FXSAVE area) and
	// nosplit Go code, which the linker holds to 800 bytes; nothing
	// nests on one stack but a fault in the handler itself, fatal
	// anyway. The deepest seen, booting Debian's dom0 to /init and in
	// the selftests, was about 1 KiB (ReadHeapUse's ISTDeepest; the
	// heap-use line at loglvl=all).
	istSize = 4 << 10
)

// The GDT window: 16 pages per CPU at hw.PerCPUBase, the first 14 the guest's.
const (
	gdtPages      = hw.GDTPages
	gdtGuestPages = hw.GDTGuestPages
)

var (
	// gdtPool holds, page-aligned at runtime, a zero page (the window's
	// not-present guest pages) and each CPU's two reserved pages.
	gdtPool [(1+2*maxCPUs)*pageSize + pageSize]byte
	idt     [256][2]uint64 // shared by every CPU
	dtr     [2]uint64      // pseudo-descriptor scratch for LGDT/LIDT (kmain, panics)

	// gateStubs (guest_amd64.s): exceptions 0-21, the 16 ISA lines
	// (vecPIC+irq: the local APIC timer on 0, IO-APIC-routed lines),
	// then frontSyscall (LSTAR) and frontSyscall32 (CSTAR), then the
	// device vectors (hw.DeviceVecBase+n, gateDevStub+n).
	gateStubs [gateDevStub + hw.DeviceVecs]uintptr
	// asmAddrs: -, threadStart, irqTimer, irqDevice, faultTrampoline,
	// runtime.text, runtime.end, runtime.etext, irqSpurious, apEntry,
	// idleStart (entry_amd64.s).
	asmAddrs [11]uintptr
)

//go:nosplit
func setGate(vec int, fn uintptr, ist, dpl uint8) {
	idt[vec][0], idt[vec][1] = hw.Gate(uint64(fn), selKernelCS, ist, dpl)
}

//go:nosplit
func pseudoDescriptor(base uintptr, size uintptr) uint64 {
	dtr[0], dtr[1] = hw.PseudoDesc(uint64(base), uint64(size))
	return uint64(uintptr(unsafe.Pointer(&dtr[0])))
}

// gdtZeroPage is the zero page behind the window's unused guest pages.
var gdtZeroPage uintptr

// gdtWindowInit maps CPU c's GDT window: the zero page read-only in the
// guest's 14 pages, the reserved pages at reserved read-write. Context:
// kmain, after buildPageTables.
//
//go:nosplit
func gdtWindowInit(c *cpuState, reserved uintptr) {
	va, pte := hw.GDTWindow(uint64(c.id))
	c.gdtVA = uintptr(va)
	c.gdtPT = ptPage(hw.PTPerCPUPT) + uintptr(pte)*8
	for i := uintptr(0); i < gdtGuestPages; i++ {
		*word(c.gdtPT + i*8) = gdtEmptyPTE()
	}
	for i := uintptr(0); i < 2; i++ {
		*word(c.gdtPT + (gdtGuestPages+i)*8) = hw.DataPTE(imagePA(reserved+i*pageSize), nxBit)
	}
}

// gdtEmptyPTE maps a guest page of the window that the vCPU's GDT does not
// reach: the zero page, read-only (its descriptors are not present).
//
//go:nosplit
func gdtEmptyPTE() uint64 { return hw.ReadOnlyPTE(imagePA(gdtZeroPage), nxBit) }

// initDescriptors installs the GDT with a TSS, and the IDT, and reloads the
// segment registers. Context: kmain, after buildPageTables.
//
//go:nosplit
func initDescriptors() {
	c := thisCPU()
	gdtZeroPage = alignUp(uintptr(unsafe.Pointer(&gdtPool[0])), pageSize)
	cpuTables(c)
	amd64.Lgdt(pseudoDescriptor(c.gdtVA, gdtPages*pageSize))
	reloadSegments()
	amd64.Ltr(selTSS)
	c.selDS, c.selES, c.selFS, c.selGS = selKernelDS, selKernelDS, 0, 0

	// IST1 for all but NMI, #MC (IST2) and #DF (IST3); INT3 and INTO may
	// be raised from ring 3 (hw.ExceptionIST, hw.ExceptionDPL).
	for v := 0; v < hw.ExceptionGate; v++ {
		setGate(v, gateStubs[v], hw.ExceptionIST(v), hw.ExceptionDPL(v))
	}
	for i := 0; i < 16; i++ {
		setGate(vecPIC+i, gateStubs[hw.ExceptionGate+i], 1, 0)
	}
	for i := 0; i < hw.DeviceVecs; i++ {
		setGate(hw.DeviceVecBase+i, gateStubs[gateDevStub+i], 1, 0)
	}
	setGate(hw.LAPICSpuriousVec, asmAddrs[8], 1, 0)
	amd64.Lidt(pseudoDescriptor(uintptr(unsafe.Pointer(&idt[0])), unsafe.Sizeof(idt)))
}

// cpuTables fills CPU c's GDT window (its reserved pages: gohv's
// descriptors and its TSS descriptor) and its TSS (the IST stacks). The
// CPU itself then loads them (LGDT, LTR). Context: kmain for CPU 0, the
// shim (interrupts off) for an AP before it is started.
//
//go:nosplit
func cpuTables(c *cpuState) {
	pool := gdtZeroPage
	reserved := (*[2 * pageSize / 8]uint64)(unsafe.Pointer(pool + (1+2*c.id)*pageSize))
	gdtWindowInit(c, pool+(1+2*c.id)*pageSize)
	reserved[hw.ReservedIndex(selKernelCS)] = hw.DescCode64
	reserved[hw.ReservedIndex(selKernelDS)] = hw.DescData
	reserved[hw.ReservedIndex(selUser32CS)] = hw.DescCode32 | hw.DescDPL3
	reserved[hw.ReservedIndex(selUserDS)] = hw.DescData | hw.DescDPL3
	reserved[hw.ReservedIndex(selUser64CS)] = hw.DescCode64 | hw.DescDPL3
	c.ist = uintptr(unsafe.Pointer(&ist0[0]))
	if c.id != 0 {
		c.ist = istVA(c.id)
		if !mapStack(c.ist, 4*istSize) {
			heapExhausted()
		}
	}
	tb := uintptr(unsafe.Pointer(&c.tss[0]))
	for n := uintptr(0); n < 4; n++ {
		*word(tb + uintptr(hw.TSSIST(int(n)+1))) = uint64(c.ist + (n+1)*istSize)
	}
	*word(tb + hw.TSSRSP0) = uint64(c.ist + istSize)              // unused: every gate has an IST
	*(*uint16)(unsafe.Pointer(tb + hw.TSSIOMapBase)) = hw.TSSSize // no I/O bitmap
	i := hw.ReservedIndex(selTSS)
	reserved[i], reserved[i+1] = hw.TSSDesc(uint64(tb), hw.TSSSize-1)
}
