package rt

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Device interrupts for guests. cmd/gohv's pirq.Controller routes an
// IO-APIC pin (RouteGSI) or an MSI (RouteMSI) to one of the device
// vectors hw.DeviceVecBase..+hw.DeviceVecs; the interrupt arrives at
// gateDevn (ring 0, irqDevice) or as a guest exit (sysGuestIRQ), both
// ending in deviceIRQ, which calls devIRQ. devIRQ acknowledges it as Xen
// does for a guest-bound IRQ: an edge-triggered pin or an MSI gets the
// local APIC EOI at once; a level-triggered pin is masked at the IO-APIC
// first and unmasked by cmd/gohv (MaskVector) once the guests have sent
// their EOI (PHYSDEVOP_eoi). It then records the vector in devPending and
// wakes the goroutine blocked in WaitDeviceIRQs, which hands it to
// package pirq (Machine.Interrupt).
//
// An MSI without a mask bit (HoldMSI) is delivered one at a time: Xen
// holds back its local APIC EOI until the guests' EOI (ACKTYPE_EOI), so
// a second message waits in the IRR. gohv's tick and console lines sit
// below the device vectors (vecPIC), where a held EOI would block them,
// so devIRQ sends the EOI at once and keeps the same order in software: a
// vector that fires while held is marked again and delivered by
// VectorEOI.
//
// Device memory (an MSI-X table) is reached through the direct map
// (DeviceRead32, DeviceWrite32), uncached by the firmware's MTRRs as the
// local APIC and IO-APIC pages are.
//
// State: devVec and devPending are changed in the shim or in the
// interrupt paths, both with interrupts off and under the shim lock (an
// IO-APIC pin or MSI is sent to the CPU that routed it, which may be any
// CPU; devIRQ acknowledges at the local APIC of the CPU that took it).

type devVecInfo struct {
	routed bool
	gsi    bool   // an IO-APIC pin; false: an MSI
	level  bool   // level-triggered pin: masked until MaskVector(false)
	hold   bool   // an MSI delivered one at a time (HoldMSI)
	held   bool   // hold: delivered, waiting for VectorEOI
	again  bool   // held: fired again meanwhile
	io     uint8  // index in ioapics
	pin    uint32 // pin of ioapics[io]
}

var (
	devVec     [hw.DeviceVecs]devVecInfo
	devPending uint64 // bit n: vector hw.DeviceVecBase+n fired, not yet taken
	devWaiting [maxThreads]bool
)

// devIRQ serves device vector vector (hw.DeviceVecBase <= vector <
// +hw.DeviceVecs). Context: an IST stack or the shim (a guest exit),
// interrupts off. Allocates nothing.
//
//go:nosplit
func devIRQ(vector uint64) {
	n := vector - hw.DeviceVecBase
	d := &devVec[n]
	if d.routed && d.gsi && d.level {
		io := &ioapics[d.io]
		r := hw.IOAPICRedirReg(int(d.pin))
		ioapicWrite(io, r, hw.IOAPICRedirSetMask(ioapicRead(io, r), true))
	}
	lapicEOI()
	if !d.routed {
		return // a vector freed while its interrupt was on its way
	}
	if d.hold {
		if d.held {
			d.again = true
			return
		}
		d.held = true
	}
	devDeliver(n)
}

// devDeliver marks device vector hw.DeviceVecBase+n pending and wakes the
// waiter. Context: interrupts off.
//
//go:nosplit
func devDeliver(n uint64) {
	devPending |= 1 << n
	for i := range devWaiting {
		if devWaiting[i] {
			devWaiting[i] = false
			wake(&threads[i])
		}
	}
}

// gsiPin finds the IO-APIC and pin serving gsi. Context: the shim.
//
//go:nosplit
func gsiPin(gsi uint32) (io int, pin uint32, ok bool) {
	for i := 0; i < nIOAPICs; i++ {
		a := &ioapics[i]
		if gsi >= a.gsiBase && gsi-a.gsiBase < a.pins {
			return i, gsi - a.gsiBase, true
		}
	}
	return 0, 0, false
}

// consoleGSI reports whether gsi is the console UART's line (routed by
// routeISA, owned by gohv). Context: the shim.
//
//go:nosplit
func consoleGSI(gsi uint32) bool {
	return rxIRQ != 0 && isaRoute[rxIRQ].gsi == gsi
}

// Flags of sysRouteGSI.
const (
	routeActiveLow = 1 << iota
	routeLevel
)

// sysRouteGSI programs gsi's pin to send vector vec (a device vector) to
// this CPU with the trigger and polarity in flags, masked, and records the
// vector's pin. Errors: EINVAL bad vector, ENOENT no IO-APIC serves gsi,
// EBUSY gsi is the console's. Context: the shim.
//
//go:nosplit
func sysRouteGSI(gsi, vec, flags uintptr) uintptr {
	if vec < hw.DeviceVecBase || vec >= hw.DeviceVecBase+hw.DeviceVecs {
		return errno(einval)
	}
	io, pin, ok := gsiPin(uint32(gsi))
	if !ok {
		return errno(enoent)
	}
	if consoleGSI(uint32(gsi)) {
		return errno(ebusy)
	}
	dest := uint8(lapicRead(hw.LAPIC_ID) >> 24)
	level := flags&routeLevel != 0
	ioapicSetRedir(&ioapics[io], pin, hw.IOAPICRedir(uint8(vec), dest, flags&routeActiveLow != 0, level, true))
	devVec[vec-hw.DeviceVecBase] = devVecInfo{routed: true, gsi: true, level: level, io: uint8(io), pin: pin}
	return 0
}

// sysRouteMSI records vector vec as an MSI's and returns the local APIC
// ID the MSI address must name (this CPU's). Context: the shim.
//
//go:nosplit
func sysRouteMSI(vec uintptr) uintptr {
	if vec < hw.DeviceVecBase || vec >= hw.DeviceVecBase+hw.DeviceVecs {
		return errno(einval)
	}
	devVec[vec-hw.DeviceVecBase] = devVecInfo{routed: true}
	return uintptr(lapicRead(hw.LAPIC_ID) >> 24)
}

// sysVectorFree forgets vector vec (masking its pin) and drops a pending
// interrupt of it. Context: the shim.
//
//go:nosplit
func sysVectorFree(vec uintptr) uintptr {
	if vec < hw.DeviceVecBase || vec >= hw.DeviceVecBase+hw.DeviceVecs {
		return errno(einval)
	}
	n := vec - hw.DeviceVecBase
	sysVectorMask(vec, 1)
	devVec[n] = devVecInfo{}
	devPending &^= 1 << n
	return 0
}

// sysVectorMask masks (masked != 0) or unmasks vector vec's IO-APIC pin;
// an MSI's vector is masked at the device by cmd/gohv. Context: the shim.
//
//go:nosplit
func sysVectorMask(vec, masked uintptr) uintptr {
	if vec < hw.DeviceVecBase || vec >= hw.DeviceVecBase+hw.DeviceVecs {
		return errno(einval)
	}
	d := &devVec[vec-hw.DeviceVecBase]
	if !d.routed || !d.gsi {
		return 0
	}
	io := &ioapics[d.io]
	r := hw.IOAPICRedirReg(int(d.pin))
	ioapicWrite(io, r, hw.IOAPICRedirSetMask(ioapicRead(io, r), masked != 0))
	return 0
}

// sysHoldMSI sets (hold != 0) or clears MSI vector vec's one-at-a-time
// delivery; clearing it drops a held state. Errors: EINVAL not a routed
// MSI vector. Context: the shim.
//
//go:nosplit
func sysHoldMSI(vec, hold uintptr) uintptr {
	if vec < hw.DeviceVecBase || vec >= hw.DeviceVecBase+hw.DeviceVecs {
		return errno(einval)
	}
	d := &devVec[vec-hw.DeviceVecBase]
	if !d.routed || d.gsi {
		return errno(einval)
	}
	d.hold, d.held, d.again = hold != 0, false, false
	return 0
}

// sysVectorEOI ends held MSI vector vec's delivery (its guests have sent
// their EOI); one that fired meanwhile is delivered now. Context: the
// shim.
//
//go:nosplit
func sysVectorEOI(vec uintptr) uintptr {
	if vec < hw.DeviceVecBase || vec >= hw.DeviceVecBase+hw.DeviceVecs {
		return errno(einval)
	}
	n := uint64(vec - hw.DeviceVecBase)
	d := &devVec[n]
	if !d.hold || !d.held {
		return 0
	}
	if d.again {
		d.again = false
		devDeliver(n)
		return 0
	}
	d.held = false
	return 0
}

// sysWaitDeviceIRQs blocks until a device vector has fired and returns
// (and clears) the pending set. Context: the shim.
//
//go:nosplit
func sysWaitDeviceIRQs() uintptr {
	for devPending == 0 {
		i := thisCPU().cur
		devWaiting[i] = true
		block(0)
	}
	p := devPending
	devPending = 0
	return uintptr(p)
}

// sysIOAPICAccess reads (write == 0) or writes register reg of the
// IO-APIC at physical address physbase; a read returns the value. A
// write touches nothing: outside the redirection entries' low halves it
// is ignored, as Xen's ioapic_guest_write ignores it; to a low half it is
// refused (EPERM: gohv owns the pins and programs them from setup_gsi,
// where Xen would reprogram the pin from the written entry). Errors:
// ENOENT no IO-APIC there. Context: the shim.
//
//go:nosplit
func sysIOAPICAccess(physbase, reg, _, write uintptr) uintptr {
	for i := 0; i < nIOAPICs; i++ {
		io := &ioapics[i]
		if uintptr(io.addr) != physbase {
			continue
		}
		if write == 0 {
			return uintptr(ioapicRead(io, uint32(reg)))
		}
		if reg >= hw.IOAPIC_REDTBL && reg&1 == 0 {
			return errno(eperm)
		}
		return 0
	}
	return errno(enoent)
}

func vecErr(_, _ uintptr, e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// NrGSIs is the number of GSIs the registered IO-APICs serve (one past
// the highest pin's GSI). Call it after the IO-APICs are registered.
func NrGSIs() int {
	n := 0
	for i := 0; i < nIOAPICs; i++ {
		if e := int(ioapics[i].gsiBase + ioapics[i].pins); e > n {
			n = e
		}
	}
	return n
}

// RouteGSI routes gsi's IO-APIC pin to device vector vec on CPU 0, with
// the given polarity and trigger, masked.
func RouteGSI(gsi uint32, vec uint8, activeLow, level bool) error {
	f := uintptr(0)
	if activeLow {
		f |= routeActiveLow
	}
	if level {
		f |= routeLevel
	}
	return vecErr(syscall.Syscall(sysGSIRoute, uintptr(gsi), uintptr(vec), f))
}

// RouteMSI makes device vector vec an MSI's and returns the local APIC
// ID its messages must be addressed to.
func RouteMSI(vec uint8) (uint8, error) {
	r, _, e := syscall.Syscall(sysMSIRoute, uintptr(vec), 0, 0)
	if e != 0 {
		return 0, e
	}
	return uint8(r), nil
}

// FreeVector unroutes device vector vec (masking its pin).
func FreeVector(vec uint8) { syscall.Syscall(sysVecFree, uintptr(vec), 0, 0) }

// MaskVector masks or unmasks device vector vec's IO-APIC pin (nothing
// for an MSI's vector).
func MaskVector(vec uint8, masked bool) {
	syscall.Syscall(sysVecMask, uintptr(vec), b2u(masked), 0)
}

// WaitDeviceIRQs blocks until device vectors fire and returns them as a
// set: bit n is vector hw.DeviceVecBase+n. One goroutine calls it.
func WaitDeviceIRQs() uint64 {
	r, _, _ := syscall.Syscall(sysDevWait, 0, 0, 0)
	return uint64(r)
}

// IOAPICRead reads register reg of the IO-APIC at physical address
// physbase (ENOENT: none there).
func IOAPICRead(physbase uint64, reg uint32) (uint32, error) {
	r, _, e := syscall.Syscall6(sysIOAPICReg, uintptr(physbase), uintptr(reg), 0, 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return uint32(r), nil
}

// IOAPICWrite is a guest's write of register reg of the IO-APIC at
// physical address physbase (see sysIOAPICAccess: nothing is written):
// ENOENT none there, EPERM a redirection entry's low half (gohv's).
func IOAPICWrite(physbase uint64, reg, val uint32) error {
	return vecErr(syscall.Syscall6(sysIOAPICReg, uintptr(physbase), uintptr(reg), uintptr(val), 1, 0, 0))
}

// HoldMSI makes MSI vector vec's interrupts wait for VectorEOI one at a
// time (an MSI that cannot be masked, Xen's ACKTYPE_EOI), or not.
func HoldMSI(vec uint8, hold bool) error {
	return vecErr(syscall.Syscall(sysMSIHold, uintptr(vec), b2u(hold), 0))
}

// VectorEOI tells rt the guests have EOIed held MSI vector vec's
// interrupt; one that came meanwhile is delivered.
func VectorEOI(vec uint8) { syscall.Syscall(sysVecEOI, uintptr(vec), 0, 0) }

// DeviceRead32 reads the device-memory dword at physical address pa
// through the direct map, which it grows to reach pa (reachDirectMap);
// false: pa is unaligned, beyond hw.DirectMapEnd, or the heap has no
// frame for the growth. The caller knows pa is device memory (no RAM:
// the read has side effects only on devices).
func DeviceRead32(pa uint64) (uint32, bool) {
	if pa&3 != 0 || !reachDirectMap(pa, 4) {
		return 0, false
	}
	// Safety: pa lies in the direct map, whose GiBs once grown are never
	// unmapped; one aligned 32-bit load, as device registers want.
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(dm(pa)))), true
}

// DeviceWrite32 writes v to the device-memory dword at physical address
// pa through the direct map; false as for DeviceRead32. The caller knows
// pa is device memory, not RAM.
func DeviceWrite32(pa uint64, v uint32) bool {
	if pa&3 != 0 || !reachDirectMap(pa, 4) {
		return false
	}
	// Safety: as DeviceRead32; one aligned 32-bit store.
	amd64.MMIOWrite32(dm(pa), v)
	return true
}
