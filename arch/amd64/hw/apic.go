package hw

import "math/bits"

// The interrupt controllers gohv owns: the local APIC (xAPIC register
// layout, reached through its MMIO page) and the IO-APICs (index/data
// window, redirection entries). Facts from the Intel SDM vol. 3A ch. 11
// ("Advanced Programmable Interrupt Controller") and the 82093AA IO-APIC
// datasheet.

// IA32_APIC_BASE (MSR 0x1B) bits.
const (
	MSR_APIC_BASE      = 0x1B
	APICBaseBSP        = 1 << 8  // this is the bootstrap processor
	APICBaseX2APIC     = 1 << 10 // x2APIC mode
	APICBaseEnable     = 1 << 11 // the local APIC is globally enabled
	APICBaseAddrMask   = 0x000FFFFFFFFFF000
	DefaultLAPICBase   = 0xFEE00000
	DefaultIOAPICBase  = 0xFEC00000
	LAPICSpuriousVec   = 0xFF // the spurious-interrupt vector gohv programs
	lapicSVREnable     = 1 << 8
	lapicLVTMasked     = 1 << 16
	lapicTimerPeriodic = 1 << 17
	lapicDivideBy16    = 0x3 // divide configuration register encoding
	LAPICTimerDivide   = 16
)

// Local APIC register offsets in its 4 KiB MMIO page.
const (
	LAPIC_ID    = 0x020
	LAPIC_VER   = 0x030
	LAPIC_TPR   = 0x080
	LAPIC_EOI   = 0x0B0
	LAPIC_SVR   = 0x0F0
	LAPIC_ESR   = 0x280
	LAPIC_ICRLO = 0x300
	LAPIC_ICRHI = 0x310
	LAPIC_LVTT  = 0x320 // timer
	LAPIC_LINT0 = 0x350
	LAPIC_LINT1 = 0x360
	LAPIC_LVTE  = 0x370 // error
	LAPIC_TMICT = 0x380 // timer initial count
	LAPIC_TMCCT = 0x390 // timer current count
	LAPIC_TDCR  = 0x3E0 // timer divide configuration
)

// LAPICBase returns the local APIC's physical MMIO base from IA32_APIC_BASE.
//
//go:nosplit
func LAPICBase(msr uint64) uint64 { return msr & APICBaseAddrMask }

// LAPICEnableMSR returns IA32_APIC_BASE with the APIC globally enabled in
// xAPIC mode (x2APIC left as the firmware set it is not gohv's mode: the
// SDM forbids going from x2APIC back to xAPIC without a disable, so a CPU
// already in x2APIC mode is reported by the caller instead).
//
//go:nosplit
func LAPICEnableMSR(msr uint64) uint64 { return msr | APICBaseEnable }

// LAPICSVR is the spurious-interrupt vector register value that software-
// enables the local APIC with spurious vector vec.
//
//go:nosplit
func LAPICSVR(vec uint8) uint32 { return lapicSVREnable | uint32(vec) }

// LAPICLVTMasked is a masked local vector table entry.
const LAPICLVTMasked = lapicLVTMasked

// LAPICTimerLVT is the timer's LVT entry: vector vec, periodic or one-shot.
//
//go:nosplit
func LAPICTimerLVT(vec uint8, periodic bool) uint32 {
	v := uint32(vec)
	if periodic {
		v |= lapicTimerPeriodic
	}
	return v
}

// LAPICTimerDCR is the divide configuration gohv uses (bus clock / 16).
const LAPICTimerDCR = lapicDivideBy16

// LAPICTimerHz returns the timer's count rate given that it counted
// counts while the TSC (at tscHz) advanced tscDelta: counts*tscHz/tscDelta,
// without overflow. ok is false for a zero delta or count, or a rate that
// does not fit 32 bits' worth of ticks per second.
//
//go:nosplit
func LAPICTimerHz(counts, tscDelta, tscHz uint64) (hz uint64, ok bool) {
	if counts == 0 || tscDelta == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(counts, tscHz)
	if hi >= tscDelta {
		return 0, false
	}
	hz, _ = bits.Div64(hi, lo, tscDelta)
	if hz == 0 || hz > 1<<32 {
		return 0, false
	}
	return hz, true
}

// LAPICTimerInitial is the periodic initial count for tickHz ticks per
// second at a timer rate of hz (rounded, at least 1, at most 2^32-1).
//
//go:nosplit
func LAPICTimerInitial(hz, tickHz uint64) uint32 {
	if tickHz == 0 {
		return 0xFFFFFFFF
	}
	n := (hz + tickHz/2) / tickHz
	if n == 0 {
		n = 1
	}
	if n > 0xFFFFFFFF {
		n = 0xFFFFFFFF
	}
	return uint32(n)
}

// LAPICTimerCount is the initial count after which the timer, counting
// at hz, fires ns nanoseconds from now: rounded up, at least 1, at most
// 2^32-1 (ns * hz must fit 64 bits: ns up to a second at hz up to
// 2^34).
//
//go:nosplit
func LAPICTimerCount(hz, ns uint64) uint32 {
	n := (ns*hz + 999_999_999) / 1_000_000_000
	if n == 0 {
		n = 1
	}
	if n > 0xFFFFFFFF {
		n = 0xFFFFFFFF
	}
	return uint32(n)
}

// IO-APIC registers: IOREGSEL at +0x00 selects the register that the
// 32-bit window IOWIN at +0x10 reads and writes.
const (
	IOAPIC_REGSEL = 0x00
	IOAPIC_WIN    = 0x10
	IOAPIC_ID     = 0x00 // bits 27-24: the IO-APIC ID
	IOAPIC_VER    = 0x01 // bits 7-0 version, 23-16 highest redirection entry
	IOAPIC_REDTBL = 0x10 // entry n: low dword 0x10+2n, high dword 0x11+2n
)

// Redirection entry bits.
const (
	IOAPICRedirMasked    = 1 << 16
	IOAPICRedirLevel     = 1 << 15
	IOAPICRedirActiveLow = 1 << 13
	IOAPICRedirLogical   = 1 << 11
)

// IOAPICVersion decodes the version register: the version and the number
// of redirection entries (pins).
//
//go:nosplit
func IOAPICVersion(v uint32) (version uint8, pins int) {
	return uint8(v), int(v>>16&0xFF) + 1
}

// IOAPICID decodes the ID register.
//
//go:nosplit
func IOAPICID(v uint32) uint8 { return uint8(v >> 24 & 0x0F) }

// IOAPICRedir encodes a redirection entry: fixed delivery to vector vec of
// the CPU with physical APIC ID dest, with the pin's polarity and trigger
// mode, masked or not.
//
//go:nosplit
func IOAPICRedir(vec uint8, dest uint8, activeLow, level, masked bool) uint64 {
	e := uint64(vec) | uint64(dest)<<56
	if activeLow {
		e |= IOAPICRedirActiveLow
	}
	if level {
		e |= IOAPICRedirLevel
	}
	if masked {
		e |= IOAPICRedirMasked
	}
	return e
}

// IOAPICRedirReg is the register index of the low dword of pin's
// redirection entry (the high dword is the next index).
//
//go:nosplit
func IOAPICRedirReg(pin int) uint32 { return IOAPIC_REDTBL + 2*uint32(pin) }

// Inter-processor interrupts: the interrupt command register's low dword
// (the destination APIC ID goes in bits 31-24 of the high dword).
const (
	icrDeliveryFixed = 0 << 8  // fixed: the vector
	icrDeliveryINIT  = 5 << 8  // INIT
	icrDeliverySIPI  = 6 << 8  // start-up: the vector is the trampoline's page
	icrLevelAssert   = 1 << 14 // level: assert (required for INIT and SIPI)
	ICRPending       = 1 << 12 // delivery status: send pending
)

// ICRInit is the INIT IPI (assert).
const ICRInit = icrDeliveryINIT | icrLevelAssert

// ICRStartup is the start-up IPI for a trampoline at page vector vec.
//
//go:nosplit
func ICRStartup(vec uint8) uint32 { return icrDeliverySIPI | icrLevelAssert | uint32(vec) }

// ICRFixed is a fixed IPI of vector vec.
//
//go:nosplit
func ICRFixed(vec uint8) uint32 { return icrDeliveryFixed | icrLevelAssert | uint32(vec) }

// ICRDest is the high dword naming physical xAPIC ID id.
//
//go:nosplit
func ICRDest(id uint8) uint32 { return uint32(id) << 24 }

// Device vectors: the pool gohv gives the IO-APIC pins and MSIs that
// guests' PIRQs are routed through, one gate each (gateDev0..63), above
// the remapped 8259's 16 and below the IPI and spurious vectors.
const (
	DeviceVecBase = 0x30
	DeviceVecs    = 64
)

// IsDeviceVector reports whether vector v is one of the device vectors.
func IsDeviceVector(v uint8) bool { return v >= DeviceVecBase && v-DeviceVecBase < DeviceVecs }

// IOAPICRedirSetMask returns the low dword of a redirection entry with
// the mask bit set or cleared, the rest kept.
func IOAPICRedirSetMask(low uint32, masked bool) uint32 {
	if masked {
		return low | IOAPICRedirMasked
	}
	return low &^ IOAPICRedirMasked
}
