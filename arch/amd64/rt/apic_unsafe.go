package rt

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Interrupt hardware. gohv owns the local APIC and the IO-APICs, as Xen
// does: the 8259s are remapped (to vecPIC, so a stray interrupt lands on a
// known gate) and fully masked; the tick is the local APIC timer in
// periodic mode on vecPIC (the PIT's old vector, so irqTimer and guestIRQ
// keep their meaning), calibrated against the TSC in the TSC's own PIT
// windows (calibrateTSC); every interrupt is
// acknowledged with an EOI to the local APIC; vector hw.LAPICSpuriousVec
// is the spurious vector (irqSpurious: no EOI). The local APIC is used in
// xAPIC mode through its MMIO page in the direct map (the direct map is
// write-back in the PAT; the firmware's MTRRs make the APIC pages
// uncacheable, as on every PC). A CPU the firmware left in x2APIC mode is
// taken back to xAPIC mode (disable, then enable), which the SDM allows.
//
// IO-APICs are registered by cmd/gohv from the MADT (AddIOAPIC), which
// masks every pin; an ISA device's line is routed to vector vecPIC+irq
// through the GSI the MADT's overrides give it (SetISAIRQ) when its
// driver asks for it (the console UART, sysConsoleRead). Without an
// IO-APIC the UART's line goes through the 8259 in virtual-wire mode
// (LINT0 as ExtINT), as on a machine without a MADT.
//
// State: set once in kmain (lapicVA, lapicEOIReg, lapicHz) or in the
// shim under the shim lock (ioapics, isaRoute, picWire); read by the
// interrupt paths. Every CPU's local APIC answers at lapicVA; each CPU
// programs its own (lapicInit on CPU 0, apMain on the others) and runs
// its own tick (lapicTick). A line routed by routeISA or sysRouteGSI goes
// to the CPU that made the call.

const maxIOAPICs = 8

type ioapic struct {
	va      uintptr // direct-map address of its registers
	addr    uint32  // physical base (the MADT's)
	gsiBase uint32
	pins    uint32
	id      uint8
	version uint8
	// sel is 1 + the register IOREGSEL selects (0: not known yet): an
	// access to the same register again skips the select, a second
	// emulated MMIO access under QEMU. Every select goes through
	// ioapicRead and ioapicWrite, under the shim's serialization.
	sel uint32
}

type isaIRQ struct {
	gsi              uint32
	activeLow, level bool
}

var (
	lapicVA     uintptr // the local APIC's page in the direct map
	lapicEOIReg uintptr // lapicVA + LAPIC_EOI, for irqTimer
	lapicHz     uint64  // the timer's count rate (bus clock / divide)
	lapicCalOK  bool    // false: calibration failed, lapicHz is a guess
	ioapics     [maxIOAPICs]ioapic
	nIOAPICs    int
	isaRoute    [16]isaIRQ
	picWire     bool // the console's line goes through the 8259 (no IO-APIC)
)

//go:nosplit
func lapicRead(reg uintptr) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(lapicVA + reg)))
}

//go:nosplit
func lapicWrite(reg uintptr, v uint32) {
	amd64.MMIOWrite32(lapicVA+reg, v)
}

// lapicEOI acknowledges the interrupt being served. Context: interrupt
// paths, interrupts off.
//
//go:nosplit
func lapicEOI() { lapicWrite(hw.LAPIC_EOI, 0) }

// maskPICs remaps both 8259s to vecPIC..vecPIC+15 and masks every line.
//
//go:nosplit
func maskPICs() {
	amd64.Outb(0x20, 0x11) // ICW1: edge, cascade, ICW4
	amd64.Outb(0xA0, 0x11)
	amd64.Outb(0x21, vecPIC)
	amd64.Outb(0xA1, vecPIC+8)
	amd64.Outb(0x21, 4) // slave on line 2
	amd64.Outb(0xA1, 2)
	amd64.Outb(0x21, 1) // 8086 mode
	amd64.Outb(0xA1, 1)
	amd64.Outb(0x21, 0xFF)
	amd64.Outb(0xA1, 0xFF)
}

// lapicInit enables this CPU's local APIC in xAPIC mode: spurious vector,
// task priority 0, LINT0 and the error LVT masked (LINT1 keeps the
// firmware's NMI wiring). Context: kmain (CPU 0), after buildPageTables.
//
//go:nosplit
func lapicInit() {
	base := amd64.Rdmsr(hw.MSR_APIC_BASE)
	if base&hw.APICBaseX2APIC != 0 {
		amd64.Wrmsr(hw.MSR_APIC_BASE, base&^(hw.APICBaseX2APIC|hw.APICBaseEnable))
		base &^= hw.APICBaseX2APIC | hw.APICBaseEnable
	}
	amd64.Wrmsr(hw.MSR_APIC_BASE, hw.LAPICEnableMSR(base))
	lapicVA = dm(hw.LAPICBase(base))
	lapicEOIReg = lapicVA + hw.LAPIC_EOI
	lapicWrite(hw.LAPIC_SVR, hw.LAPICSVR(hw.LAPICSpuriousVec))
	lapicWrite(hw.LAPIC_TPR, 0)
	lapicWrite(hw.LAPIC_LINT0, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_LVTE, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_LVTT, hw.LAPICLVTMasked)
	lapicWrite(hw.LAPIC_ESR, 0)
	lapicEOI() // anything the firmware left in service
	apicIDs[0] = lapicRead(hw.LAPIC_ID) >> 24
}

// lapicFreeRun starts this CPU's local APIC timer counting down from
// its largest count, masked (at bus/16, over a minute before it runs
// out), for calibrateTSC to read. Context: kmain, after lapicInit.
//
//go:nosplit
func lapicFreeRun() {
	lapicWrite(hw.LAPIC_TDCR, hw.LAPICTimerDCR)
	lapicWrite(hw.LAPIC_LVTT, hw.LAPICLVTMasked|hw.LAPICTimerLVT(vecPIC, false))
	lapicWrite(hw.LAPIC_TMICT, 0xFFFFFFFF)
}

// startTick starts CPU 0's tick at tickHz on vecPIC with the rate
// calibrateTSC measured (lapicFreeRun, lapicInit and the 8259s' masking
// came before it); with no usable measurement, QEMU's and many CPUs'
// 1 GHz bus is assumed. Context: kmain, after calibrateTSC.
//
//go:nosplit
func startTick() {
	lapicCalOK = lapicHz != 0
	if !lapicCalOK {
		lapicHz = 1000000000 / hw.LAPICTimerDivide // a guess
	}
	lapicTick()
}

// lapicTick starts this CPU's tick: its local APIC timer, periodic at
// tickHz on vecPIC (lapicHz is CPU 0's measurement: every local APIC
// counts the same bus clock). Context: startTick (CPU 0), apMain.
//
//go:nosplit
func lapicTick() {
	lapicWrite(hw.LAPIC_TDCR, hw.LAPICTimerDCR)
	lapicWrite(hw.LAPIC_LVTT, hw.LAPICTimerLVT(vecPIC, true))
	lapicTickCount()
}

// lapicTickCount (re)starts the tick's period from now: the initial
// count alone (the mode and divider are lapicTick's).
//
//go:nosplit
func lapicTickCount() { lapicWrite(hw.LAPIC_TMICT, hw.LAPICTimerInitial(lapicHz, tickHz)) }

//go:nosplit
func ioapicRead(io *ioapic, reg uint32) uint32 {
	ioapicSelect(io, reg)
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(io.va + hw.IOAPIC_WIN)))
}

//go:nosplit
func ioapicWrite(io *ioapic, reg, v uint32) {
	ioapicSelect(io, reg)
	amd64.MMIOWrite32(io.va+hw.IOAPIC_WIN, v)
}

// ioapicSelect points IOREGSEL at reg unless it points there already.
//
//go:nosplit
func ioapicSelect(io *ioapic, reg uint32) {
	if io.sel != reg+1 {
		amd64.MMIOWrite32(io.va+hw.IOAPIC_REGSEL, reg)
		io.sel = reg + 1
	}
}

//go:nosplit
func ioapicSetRedir(io *ioapic, pin uint32, e uint64) {
	r := hw.IOAPICRedirReg(int(pin))
	ioapicWrite(io, r, uint32(e)|hw.IOAPICRedirMasked) // masked while half-written
	ioapicWrite(io, r+1, uint32(e>>32))
	ioapicWrite(io, r, uint32(e))
}

// sysAddIOAPIC registers the IO-APIC at physical addr serving GSIs from
// gsiBase, masks all its pins and returns id | version<<8 | pins<<16, or
// an errno. Context: the shim.
//
//go:nosplit
func sysAddIOAPIC(addr, gsiBase uintptr) uintptr {
	if nIOAPICs == maxIOAPICs {
		return errno(enomem)
	}
	if addr == 0 || addr&0xF != 0 || uint64(addr)+pageSize > directMapEnd {
		return errno(einval)
	}
	io := &ioapics[nIOAPICs]
	io.va, io.addr, io.gsiBase = dm(uint64(addr)), uint32(addr), uint32(gsiBase)
	v, pins := hw.IOAPICVersion(ioapicRead(io, hw.IOAPIC_VER))
	io.version, io.pins = v, uint32(pins)
	io.id = hw.IOAPICID(ioapicRead(io, hw.IOAPIC_ID))
	for p := uint32(0); p < io.pins; p++ {
		ioapicSetRedir(io, p, hw.IOAPICRedir(0, 0, false, false, true))
	}
	nIOAPICs++
	return uintptr(io.id) | uintptr(io.version)<<8 | uintptr(io.pins)<<16
}

// routeISA routes ISA IRQ irq to vector vecPIC+irq on this CPU and
// unmasks it: through the IO-APIC serving its GSI, or, with no IO-APIC
// registered, through the 8259 in virtual-wire mode. false: no IO-APIC
// serves the GSI. Context: the shim.
//
//go:nosplit
func routeISA(irq uint8) bool {
	if nIOAPICs == 0 {
		picWire = true
		lapicWrite(hw.LAPIC_LINT0, lapicExtINT)
		if irq >= 8 {
			amd64.Outb(0xA1, amd64.Inb(0xA1)&^(1<<(irq-8)))
			irq = 2
		}
		amd64.Outb(0x21, amd64.Inb(0x21)&^(1<<irq))
		return true
	}
	r := isaRoute[irq]
	for i := 0; i < nIOAPICs; i++ {
		io := &ioapics[i]
		if r.gsi >= io.gsiBase && r.gsi-io.gsiBase < io.pins {
			dest := uint8(lapicRead(hw.LAPIC_ID) >> 24)
			ioapicSetRedir(io, r.gsi-io.gsiBase, hw.IOAPICRedir(vecPIC+irq, dest, r.activeLow, r.level, false))
			return true
		}
	}
	return false
}

// lapicExtINT is LINT0 as ExtINT, unmasked (the 8259 virtual wire).
const lapicExtINT = 0x700

// isaEOI acknowledges a device interrupt on vector vec: at the local APIC,
// and at the 8259s too in virtual-wire mode. Context: interrupt paths.
//
//go:nosplit
func isaEOI(vec uint64) {
	if picWire {
		if vec-vecPIC >= 8 {
			amd64.Outb(0xA0, 0x20)
		}
		amd64.Outb(0x20, 0x20)
		return
	}
	lapicEOI()
}

func init() {
	for i := range isaRoute {
		isaRoute[i] = isaIRQ{gsi: uint32(i)}
	}
}

// IOAPIC describes a registered IO-APIC.
type IOAPIC struct {
	ID, Version uint8
	Pins        int
}

// AddIOAPIC registers the IO-APIC the MADT lists at physical addr, first
// GSI gsiBase, and masks every pin (gohv owns them until it routes one).
// It returns what the IO-APIC's ID and version registers say.
func AddIOAPIC(addr uint64, gsiBase uint32) (IOAPIC, error) {
	r, _, e := syscall.Syscall(sysIOAPICAdd, uintptr(addr), uintptr(gsiBase), 0)
	if e != 0 {
		return IOAPIC{}, e
	}
	return IOAPIC{ID: uint8(r), Version: uint8(r >> 8), Pins: int(r >> 16 & 0xFFFF)}, nil
}

// SetISAIRQ records the GSI, polarity and trigger of ISA IRQ irq (the
// MADT's interrupt source overrides); an IRQ not set is GSI irq, active
// high, edge. Call it before the IRQ is routed (ConsoleRead).
func SetISAIRQ(irq uint8, gsi uint32, activeLow, level bool) {
	if irq < 16 {
		syscall.Syscall6(sysISAIRQ, uintptr(irq), uintptr(gsi), b2u(activeLow), b2u(level), 0, 0)
	}
}

func b2u(b bool) uintptr {
	if b {
		return 1
	}
	return 0
}

// LAPICTimerHz returns the local APIC timer's calibrated count rate and
// whether calibration succeeded (false: a 62.5 MHz guess is in use).
func LAPICTimerHz() (uint64, bool) { return lapicHz, lapicCalOK }
