package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

// Descriptor tables. Selectors: 0x08 ring-0 code, 0x10 ring-0 data, 0x18
// (16 bytes) the TSS. Vectors: 0-21 exceptions, vecPIC.. the 8259 lines.
// IST1 takes exceptions and interrupts (ring-0 Go code may be near the end
// of its goroutine stack, so nothing runs on the interrupted stack), IST2
// NMI and #MC, IST3 #DF.

const (
	selKernelCS = 0x08
	selKernelDS = 0x10
	selTSS      = 0x18

	vecPIC   = 0x20
	istSize  = 16 << 10
	gateIntr = 0x8E // present, DPL 0, 64-bit interrupt gate
)

var (
	gdt  [5]uint64
	idt  [256][2]uint64
	tss  [13]uint64 // 104 bytes
	dtr  [2]uint64  // pseudo-descriptor scratch for LGDT/LIDT
	ist1 [istSize]byte
	ist2 [istSize]byte
	ist3 [istSize]byte

	excStubs [22]uintptr // entry_amd64.s
	// asmAddrs: syscallEntry, threadStart, irqTimer, irqSpurious,
	// faultTrampoline, runtime.text, runtime.end, runtime.etext.
	asmAddrs [8]uintptr
)

//go:nosplit
func setGate(vec int, fn uintptr, ist uint64) {
	idt[vec][0] = uint64(fn&0xffff) | selKernelCS<<16 | ist<<32 | gateIntr<<40 | uint64((fn>>16)&0xffff)<<48
	idt[vec][1] = uint64(fn >> 32)
}

//go:nosplit
func pseudoDescriptor(base uintptr, size uintptr) uint64 {
	dtr[0] = uint64(size-1) | uint64(base)<<16
	dtr[1] = uint64(base) >> 48
	return uint64(uintptr(unsafe.Pointer(&dtr[0])))
}

// initDescriptors installs the GDT with a TSS, and the IDT. Context: kmain.
//
//go:nosplit
func initDescriptors() {
	gdt[1] = 0x00AF9A000000FFFF
	gdt[2] = 0x00CF92000000FFFF
	tb := uintptr(unsafe.Pointer(&tss[0]))
	*word(tb + 0x24) = uint64(uintptr(unsafe.Pointer(&ist1[0])) + istSize) // IST1
	*word(tb + 0x2C) = uint64(uintptr(unsafe.Pointer(&ist2[0])) + istSize) // IST2
	*word(tb + 0x34) = uint64(uintptr(unsafe.Pointer(&ist3[0])) + istSize) // IST3
	*(*uint16)(unsafe.Pointer(tb + 0x66)) = 104                            // no I/O bitmap
	base := uint64(uintptr(unsafe.Pointer(&tss[0])))
	gdt[3] = 103 | (base&0xffffff)<<16 | 0x89<<40 | ((base>>24)&0xff)<<56
	gdt[4] = base >> 32
	amd64.Lgdt(pseudoDescriptor(uintptr(unsafe.Pointer(&gdt[0])), unsafe.Sizeof(gdt)))
	amd64.Ltr(selTSS)

	for v := range excStubs {
		ist := uint64(1)
		switch v {
		case 2, 18: // NMI, #MC
			ist = 2
		case 8: // #DF
			ist = 3
		}
		setGate(v, excStubs[v], ist)
	}
	setGate(vecPIC, asmAddrs[2], 1)
	for v := vecPIC + 1; v < vecPIC+16; v++ {
		setGate(v, asmAddrs[3], 1)
	}
	amd64.Lidt(pseudoDescriptor(uintptr(unsafe.Pointer(&idt[0])), unsafe.Sizeof(idt)))
}
