package rt

import (
	"math/bits"
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
// their EOI (PHYSDEVOP_eoi). It then records the vector in devPending
// for a taker, which hands it to package pirq (Machine.Interrupt), as
// Xen's do_IRQ sends a guest's PIRQ on the CPU the interrupt came to:
//
//   - an interrupt that stops a guest whose GuestContext takes device
//     interrupts (TakeDeviceIRQs) wakes nobody: the vCPU's thread takes
//     the set as it returns from Run (TakeDeviceIRQs), so the event is
//     pending before its next entry, with no thread switch;
//   - one that interrupts such a vCPU's thread in ring 0 (its Go code
//     between two runs: kthread.devTaker) wakes nobody either: the
//     thread takes the set before its next entry (cmd/gohv's
//     backend.Run: TakenAtEntry) or as it parks in WaitFutexOrDevice;
//     if it leaves its CPU first, a parked vCPU's thread is woken for
//     the set, or, if it blocks and none is parked, the goroutine
//     blocked in WaitDeviceIRQs (schedule);
//   - any other wakes one waiter: a vCPU's thread parked in
//     WaitFutexOrDevice (a blocked vCPU, as Xen's idle vCPU takes the
//     interrupt and then runs the woken one) if there is one, else the
//     goroutine blocked in WaitDeviceIRQs.
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
	// lo is the low half of the pin's redirection entry as gohv last
	// wrote it: masking and unmasking write it back with the mask bit
	// changed instead of reading it first (its status bits are read-only).
	lo uint32
}

var (
	devVec     [hw.DeviceVecs]devVecInfo
	devPending uint64 // bit n: vector hw.DeviceVecBase+n fired, not yet taken
	devWaiting [maxThreads]uint8
	devAt      [hw.DeviceVecs]uint64 // TSC when vector n fired first since it was last taken (0: not pending)
	devStat    DeviceIRQStat
)

// Kinds of devWaiting: the thread blocked in WaitDeviceIRQs, or a vCPU's
// thread parked in WaitFutexOrDevice, which is woken first.
const (
	devWaitNone = iota
	devWaitGeneric
	devWaitParked
)

// Takers of a device vector set (DeviceIRQStat.Taken's index).
const (
	TakenByWaiter = iota // the goroutine blocked in WaitDeviceIRQs
	TakenAtExit          // a vCPU's thread, after its guest was stopped by the interrupt
	TakenParked          // a vCPU's thread parked in WaitFutexOrDevice
	TakenAtEntry         // a vCPU's thread before it enters its guest (TakeDeviceIRQs)
	nTakers
)

// DeviceIRQStat counts the device interrupts served and how they reached
// Go: the sets taken by each kind of taker, and the TSC ticks from a
// vector's first interrupt to its taking, summed and at most. Entries
// counts the guest entries that were the first after a take (the entry
// that delivers the event upcall the take's PIRQs made pending, when its
// vCPU is the one they went to), EntryTSC and MaxEntryTSC the ticks from
// the oldest vector of that take to the entry.
//
// Empty counts the WaitDeviceIRQs goroutine's wake-ups that found the set
// already taken (a vCPU's thread was first).
type DeviceIRQStat struct {
	Fired                          uint64
	Taken                          [nTakers]uint64
	Empty                          uint64
	WaitTSC, MaxTSC                uint64
	Entries, EntryTSC, MaxEntryTSC uint64
}

// devToEntry is the TSC of the oldest vector of a take not yet followed
// by a guest entry (0: none); devTake sets it under the shim lock,
// devEntry takes it (atomics: the entry holds no lock).
var devToEntry uint64

// devEntry counts a guest entry after a take (DeviceIRQStat.Entries).
// Context: Run, interrupts off.
//
//go:nosplit
func devEntry() {
	if atomic.LoadUint64(&devToEntry) == 0 {
		return
	}
	at := atomic.SwapUint64(&devToEntry, 0)
	if at == 0 {
		return
	}
	w := amd64.Rdtsc() - at
	atomic.AddUint64(&devStat.Entries, 1)
	atomic.AddUint64(&devStat.EntryTSC, w)
	for m := atomic.LoadUint64(&devStat.MaxEntryTSC); w > m && !atomic.CompareAndSwapUint64(&devStat.MaxEntryTSC, m, w); m = atomic.LoadUint64(&devStat.MaxEntryTSC) {
	}
}

// devIRQ serves device vector vector (hw.DeviceVecBase <= vector <
// +hw.DeviceVecs); wake false leaves the vector for the thread whose
// guest it stopped (guestIRQ: that GuestContext takes device
// interrupts). Context: an IST stack or the shim (a guest exit),
// interrupts off, the shim lock held. Allocates nothing.
//
//go:nosplit
func devIRQ(vector uint64, wake bool) {
	n := vector - hw.DeviceVecBase
	devStat.Fired++
	if devAt[n] == 0 {
		devAt[n] = amd64.Rdtsc()
	}
	d := &devVec[n]
	if d.routed && d.gsi && d.level {
		d.maskPin(true)
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
	devDeliver(n, wake)
}

// devDeliver marks device vector hw.DeviceVecBase+n pending and, with
// wake, wakes one waiter: a parked vCPU's thread first, else the
// WaitDeviceIRQs goroutine's (whichever runs takes the whole set).
// Context: interrupts off, the shim lock held.
//
//go:nosplit
func devDeliver(n uint64, wake bool) {
	devPending |= 1 << n
	if wake {
		devWakeOne()
	}
}

// devWakeOne wakes one thread waiting for device vectors, a parked
// vCPU's first. Context: interrupts off, the shim lock held.
//
//go:nosplit
func devWakeOne() { devWakeParked(false) }

// devWakeParked is devWakeOne, or with parkedOnly a wake-up of a parked
// vCPU's thread only. Context: interrupts off, the shim lock held.
//
//go:nosplit
func devWakeParked(parkedOnly bool) {
	pick := -1
	for i := range devWaiting {
		if devWaiting[i] == devWaitParked {
			pick = i
			break
		}
		if devWaiting[i] == devWaitGeneric && pick < 0 && !parkedOnly {
			pick = i
		}
	}
	if pick >= 0 {
		devWaiting[pick] = devWaitNone
		threads[pick].waitAddr = 0 // a parked one: no FUTEX_WAKE wakes it again
		wake(&threads[pick])
	}
}

// devTake returns and clears the pending set for taker how
// (TakenByWaiter...), counting each vector's wait since it fired.
// Context: the shim lock held.
//
//go:nosplit
func devTake(how int) uint64 {
	p := devPending
	if p == 0 {
		return 0
	}
	devPending = 0
	now := amd64.Rdtsc()
	oldest := uint64(0)
	for s := p; s != 0; s &= s - 1 {
		n := bits.TrailingZeros64(s)
		if at := devAt[n]; at != 0 {
			w := now - at
			devStat.WaitTSC += w
			devStat.MaxTSC = max(devStat.MaxTSC, w)
			devAt[n] = 0
			if oldest == 0 || at < oldest {
				oldest = at
			}
		}
	}
	if oldest != 0 {
		atomic.CompareAndSwapUint64(&devToEntry, 0, oldest)
	}
	devStat.Taken[how]++
	return p
}

// guestDeviceIRQ serves device or ISA vector vector that stopped a guest
// (guestIRQ); take: its GuestContext takes device interrupts, so a device
// vector wakes nobody. Context: the shim, interrupts off.
//
//go:nosplit
func guestDeviceIRQ(vector uint64, take bool) {
	if !take || vector < hw.DeviceVecBase || vector >= hw.DeviceVecBase+hw.DeviceVecs {
		deviceIRQ(vector)
		return
	}
	took := shimLockNested()
	devIRQ(vector, false)
	if took {
		shimUnlock()
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
	e := hw.IOAPICRedir(uint8(vec), dest, flags&routeActiveLow != 0, level, true)
	ioapicSetRedir(&ioapics[io], pin, e)
	devVec[vec-hw.DeviceVecBase] = devVecInfo{routed: true, gsi: true, level: level, io: uint8(io), pin: pin, lo: uint32(e)}
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
	d.maskPin(masked != 0)
	return 0
}

// maskPin masks or unmasks d's IO-APIC pin by writing back the entry's
// low half as gohv last wrote it (lo). Context: the shim lock held.
//
//go:nosplit
func (d *devVecInfo) maskPin(masked bool) {
	d.lo = hw.IOAPICRedirSetMask(d.lo, masked)
	ioapicWrite(&ioapics[d.io], hw.IOAPICRedirReg(int(d.pin)), d.lo)
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
		devDeliver(n, true)
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
		devWaiting[i] = devWaitGeneric
		block(0)
		if devWaiting[i] == devWaitNone && devPending == 0 {
			devStat.Empty++ // devWakeOne woke it; another took the set first
		}
		devWaiting[i] = devWaitNone
	}
	return uintptr(devTake(TakenByWaiter))
}

// sysTakeDeviceIRQs returns (and clears) the pending set without waiting,
// for taker how. Context: the shim.
//
//go:nosplit
func sysTakeDeviceIRQs(how uintptr) uintptr {
	if how >= nTakers {
		return 0
	}
	return uintptr(devTake(int(how)))
}

// sysFutexOrDevice is FUTEX_WAIT on the word at addr while it holds val,
// until deadline (nanotime; 0: none), that also ends when a device vector
// is pending: it returns 1 then (the caller takes the set), 2 when the
// deadline ended it, else 0 (woken, the word changed, or a signal: the
// caller looks at the word again). Context: the shim.
//
//go:nosplit
func sysFutexOrDevice(addr, val, deadline uintptr) uintptr {
	if devPending != 0 {
		return 1
	}
	touch(addr)
	if *(*uint32)(unsafe.Pointer(addr)) != uint32(val) {
		return 0
	}
	if deadline != 0 && int64(deadline) <= nanotime() {
		return 2
	}
	t := current()
	i := thisCPU().cur
	t.waitAddr = addr
	devWaiting[i] = devWaitParked
	timedOut := block(int64(deadline))
	t.waitAddr = 0
	devWaiting[i] = devWaitNone
	switch {
	case devPending != 0:
		return 1
	case timedOut:
		return 2
	}
	return 0
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

// DeviceIRQsPending reports whether a device vector has fired and is not
// yet taken (a racy look: TakeDeviceIRQs is the answer).
func DeviceIRQsPending() bool { return atomic.LoadUint64(&devPending) != 0 }

// TakeDeviceIRQs returns the device vectors that fired and are not yet
// taken, as WaitDeviceIRQs does, without waiting; how is the taker
// (TakenAtExit, TakenParked, TakenAtEntry), counted in DeviceIRQStats.
// Its caller hands them to package pirq as the WaitDeviceIRQs goroutine
// would.
func TakeDeviceIRQs(how int) uint64 {
	r, _, _ := syscall.RawSyscall(sysDevTake, uintptr(how), 0, 0)
	return uint64(r)
}

// WaitFutexOrDevice sleeps while *w == val, as FUTEX_WAIT (a vCPU's
// thread parked on its futex word), until deadline (Uptime's ns; 0:
// none), and also wakes when a device vector fires: device reports that
// (the caller takes the set, TakeDeviceIRQs with TakenParked), timedOut
// that the deadline passed (as the shim's timers have it: a blocked
// thread's deadline arms its CPU's timer, not the Go runtime's
// millisecond timers). Neither: woken, the word changed, or a signal; the
// caller looks at the word again. Such a parked thread is woken for a
// device interrupt before the WaitDeviceIRQs goroutine.
func WaitFutexOrDevice(w *atomic.Uint32, val uint32, deadline int64) (device, timedOut bool) {
	r, _, _ := syscall.Syscall(sysFutexDev, uintptr(unsafe.Pointer(w)), uintptr(val), uintptr(max(deadline, 0)))
	return r == 1, r == 2
}

// DeviceIRQStats returns the device interrupt counters (a racy snapshot;
// for reports) and the TSC's rate, to turn their ticks into time.
func DeviceIRQStats() (DeviceIRQStat, uint64) {
	s := DeviceIRQStat{Fired: atomic.LoadUint64(&devStat.Fired), Empty: atomic.LoadUint64(&devStat.Empty),
		WaitTSC: atomic.LoadUint64(&devStat.WaitTSC), MaxTSC: atomic.LoadUint64(&devStat.MaxTSC),
		Entries: atomic.LoadUint64(&devStat.Entries), EntryTSC: atomic.LoadUint64(&devStat.EntryTSC),
		MaxEntryTSC: atomic.LoadUint64(&devStat.MaxEntryTSC)}
	for i := range s.Taken {
		s.Taken[i] = atomic.LoadUint64(&devStat.Taken[i])
	}
	return s, tscHz
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
