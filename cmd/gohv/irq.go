package main

import (
	"errors"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch/amd64/futex"
	"github.com/gohv/gohv/arch/amd64/hw"
	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/pci"
	"github.com/gohv/gohv/pirq"
	"github.com/gohv/gohv/sched"
)

// irqController is the metal's pirq.Controller: the IO-APIC pins and
// device vectors rt drives (rt.RouteGSI and friends), as Xen's io_apic.c
// and irq.c drive them for guest-bound IRQs, and the MSIs it composes
// through package pci, as Xen's msi.c. GSI g is IRQ g; a pin gets a
// device vector when dom0 sets it up (PHYSDEVOP_setup_gsi) or, with the
// MADT's (ISA) or PCI's default mode, when its first guest binds it. An
// MSI IRQ gets its vector when pirq creates it (AllocVector) and its
// message, masked, when dom0 maps it (EnableMSI); its first guest's bind
// unmasks it, the last unbind masks it. An interrupt is acknowledged by
// rt's devIRQ (edge and MSI at once; level: the pin masked, then
// unmasked here when the guests have EOIed; an MSI without a mask bit:
// held until the guests' EOI) and handed to deliver, which calls
// pirq.Machine.Interrupt on the goroutine that took it, as Xen's do_IRQ
// sends the PIRQ on the CPU the interrupt came to: a vCPU's whose guest
// it stopped (backend.Run), a blocked vCPU's (vcpuParker), or else run's.
//
// Locking: mu guards the tables. pirq calls the Controller methods with
// its Machine's lock held; deliver takes mu only between Interrupt calls,
// so the order is always pirq's lock, then mu, then the pci.Bus's.
type irqController struct {
	mu     sync.Mutex
	bus    *pci.Bus
	nGSIs  int
	gsis   []gsiPin
	msis   map[pirq.IRQ]*msiIRQ
	vecIRQ [hw.DeviceVecs]pirq.IRQ // irq+1 of the vector's owner, 0: free
	isa    [16]isaMode             // by GSI, for GSIs < 16 an ISA IRQ maps to
	// machine is where deliver sends interrupts (attach).
	machine atomic.Pointer[pirq.Machine]
}

// msiIRQ is an IRQ created for an MSI: its vector, the local APIC its
// messages go to, and the source programmed (nil until EnableMSI).
type msiIRQ struct {
	vec, dest uint8
	src       *pci.Source
}

type gsiPin struct {
	vec      uint8 // device vector, 0 = not routed
	trigger  pirq.Trigger
	polarity pirq.Polarity
	unmasked bool
}

type isaMode struct {
	set      bool
	trigger  pirq.Trigger
	polarity pirq.Polarity
}

// newIRQController builds the controller over the IO-APICs rt has
// registered and bus's configuration space; madt (when ok) gives the ISA
// IRQs' modes. Context: main, after readMADT.
func newIRQController(m boot.MADT, ok bool, bus *pci.Bus) *irqController {
	c := &irqController{bus: bus, nGSIs: rt.NrGSIs(), msis: map[pirq.IRQ]*msiIRQ{}}
	c.gsis = make([]gsiPin, c.nGSIs)
	if ok {
		for irq := uint8(0); irq < 16; irq++ {
			gsi, pol, trig := m.ISAGSI(irq)
			if gsi < 16 {
				c.isa[gsi] = isaMode{set: true, trigger: pirq.Edge, polarity: pirq.ActiveHigh}
				if trig == boot.MPSLevel {
					c.isa[gsi].trigger = pirq.Level
				}
				if pol == boot.MPSActiveLow {
					c.isa[gsi].polarity = pirq.ActiveLow
				}
			}
		}
	}
	return c
}

// attach gives the controller the machine its interrupts go to (deliver).
// Context: main, once the machine exists, before run and before any
// vCPU runs.
func (c *irqController) attach(m *pirq.Machine) { c.machine.Store(m) }

// run hands every device interrupt no vCPU's thread took (deliver) to the
// machine, forever. Context: its own goroutine, started after attach.
func (c *irqController) run() {
	for {
		c.deliver(rt.WaitDeviceIRQs())
	}
}

// deliver hands device vector set set (bit n: vector hw.DeviceVecBase+n,
// as rt.WaitDeviceIRQs and rt.TakeDeviceIRQs give it) to the attached
// machine's Interrupt (Xen's do_IRQ's guest part): the bound PIRQs'
// events become pending and their vCPUs are kicked. Context: any
// goroutine: run's, or a vCPU's that took the set (backend.Run,
// vcpuParker).
func (c *irqController) deliver(set uint64) {
	m := c.machine.Load()
	if m == nil {
		return
	}
	for set != 0 {
		n := bits.TrailingZeros64(set)
		set &^= 1 << n
		c.mu.Lock()
		owner := c.vecIRQ[n]
		c.mu.Unlock()
		if owner > 1 { // IRQ 0 is never a guest's
			m.Interrupt(owner - 1)
		}
	}
}

// defaultMode is the mode of a pin nobody set up: the MADT's for an ISA
// IRQ's GSI, else PCI's (level, active low), as Xen's IO-APIC setup has
// it.
func (c *irqController) defaultMode(gsi int) (pirq.Trigger, pirq.Polarity) {
	if gsi < 16 {
		if m := c.isa[gsi]; m.set {
			return m.trigger, m.polarity
		}
		return pirq.Edge, pirq.ActiveHigh
	}
	return pirq.Level, pirq.ActiveLow
}

// allocVec reserves a free device vector for irq; 0 when none is left.
// Caller holds mu.
func (c *irqController) allocVec(irq pirq.IRQ) uint8 {
	for n, owner := range c.vecIRQ {
		if owner == 0 {
			c.vecIRQ[n] = irq + 1
			return uint8(hw.DeviceVecBase + n)
		}
	}
	return 0
}

// route gives gsi's pin a vector (if it has none) and programs it with
// mode t/p, masked. Caller holds mu.
func (c *irqController) route(gsi int, t pirq.Trigger, p pirq.Polarity) abi.Errno {
	g := &c.gsis[gsi]
	fresh := g.vec == 0
	if fresh {
		if g.vec = c.allocVec(pirq.IRQ(gsi)); g.vec == 0 {
			return abi.ENOSPC
		}
	}
	if err := rt.RouteGSI(uint32(gsi), g.vec, p == pirq.ActiveLow, t == pirq.Level); err != nil {
		if fresh {
			c.vecIRQ[g.vec-hw.DeviceVecBase] = 0
			g.vec = 0
		}
		if errors.Is(err, syscall.EBUSY) {
			return abi.EBUSY // the console's line
		}
		return abi.EINVAL
	}
	g.trigger, g.polarity, g.unmasked = t, p, false
	return 0
}

func (c *irqController) NrGSIs() int { return c.nGSIs }

// SetupGSI is PHYSDEVOP_setup_gsi's work (Xen's mp_register_gsi): a pin
// set up again with its mode is left as it is; with another mode while a
// guest has it unmasked it is -EEXIST.
func (c *irqController) SetupGSI(gsi int, t pirq.Trigger, p pirq.Polarity) abi.Errno {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gsi < 0 || gsi >= c.nGSIs {
		return abi.EINVAL
	}
	g := &c.gsis[gsi]
	if g.vec != 0 {
		if g.trigger == t && g.polarity == p {
			return 0
		}
		if g.unmasked {
			return abi.EEXIST
		}
	}
	return c.route(gsi, t, p)
}

func (c *irqController) GSITrigger(gsi int) pirq.Trigger {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gsi < 0 || gsi >= c.nGSIs {
		return pirq.Edge
	}
	if g := c.gsis[gsi]; g.vec != 0 {
		return g.trigger
	}
	t, _ := c.defaultMode(gsi)
	return t
}

func (c *irqController) AllocVector(irq pirq.IRQ) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.allocVec(irq)
	if v == 0 {
		return false
	}
	dest, err := rt.RouteMSI(v)
	if err != nil {
		c.vecIRQ[v-hw.DeviceVecBase] = 0
		return false
	}
	c.msis[irq] = &msiIRQ{vec: v, dest: dest}
	return true
}

func (c *irqController) FreeVector(irq pirq.IRQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.msis[irq]; ok {
		if m.src != nil {
			c.bus.Disable(m.src)
		}
		rt.FreeVector(m.vec)
		c.vecIRQ[m.vec-hw.DeviceVecBase] = 0
		delete(c.msis, irq)
	}
}

// EnableMSI composes the message for irq's vector (pci.Compose: the boot
// CPU's local APIC, physical, fixed, edge) and has the pci.Bus write it
// into the function's MSI capability or MSI-X table entry, masked. An MSI
// without a mask bit is delivered one interrupt per guest EOI
// (rt.HoldMSI, pirq's AckEOI). Segments other than 0 are out of
// mechanism #1's reach: -ENODEV.
func (c *irqController) EnableMSI(irq pirq.IRQ, src pirq.MSI) (bool, abi.Errno) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.msis[irq]
	if m == nil {
		return false, abi.EINVAL
	}
	if m.src != nil {
		return false, abi.EBUSY
	}
	if src.Dev.Seg != 0 {
		return false, abi.ENODEV
	}
	s, e := c.bus.EnableMSI(pci.MakeBDF(src.Dev.Bus, src.Dev.Devfn), src.EntryNr, src.TableBase, pci.Compose(m.dest, m.vec))
	if e != 0 {
		return false, e
	}
	if err := rt.HoldMSI(m.vec, !s.Maskable()); err != nil {
		c.bus.Disable(s)
		return false, abi.EINVAL
	}
	m.src = s
	return s.Maskable(), 0
}

// DisableMSI turns irq's source off (pci.Bus.Disable); its vector stays
// irq's until FreeVector.
func (c *irqController) DisableMSI(irq pirq.IRQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.msis[irq]; m != nil && m.src != nil {
		c.bus.Disable(m.src)
		rt.HoldMSI(m.vec, false)
		m.src = nil
	}
}

// vecOf is GSI irq's vector, routing an unset pin with its default
// mode; 0 when it has none. Caller holds mu.
func (c *irqController) vecOf(irq pirq.IRQ) uint8 {
	if int(irq) >= c.nGSIs || irq < 0 {
		return 0
	}
	g := &c.gsis[irq]
	if g.vec == 0 {
		t, p := c.defaultMode(int(irq))
		if c.route(int(irq), t, p) != 0 {
			return 0
		}
	}
	return g.vec
}

// RestoreMSI writes dev's MSI and MSI-X sources back (pci.Bus.Restore);
// segments other than 0 have none.
func (c *irqController) RestoreMSI(dev pirq.SBDF) abi.Errno {
	if dev.Seg != 0 {
		return 0
	}
	return c.bus.Restore(pci.MakeBDF(dev.Bus, dev.Devfn))
}

// Mask masks irq's source: its IO-APIC pin, or, for an MSI, the
// source's mask bit for gohv and the guest (the last guest unbound it,
// Xen's shutdown_msi_irq).
func (c *irqController) Mask(irq pirq.IRQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(irq) < c.nGSIs && irq >= 0 {
		c.gsis[irq].unmasked = false
		if v := c.gsis[irq].vec; v != 0 {
			rt.MaskVector(v, true)
		}
		return
	}
	if m := c.msis[irq]; m != nil && m.src != nil {
		c.bus.Stop(m.src)
		c.resetHold(m)
	}
}

// resetHold forgets an unmaskable MSI's held interrupt when its guests
// change: one that came with no guest bound was never delivered (pirq
// drops it, as Xen's do_IRQ ends an IRQ without a guest action) and gets
// no EOI. Caller holds mu.
func (c *irqController) resetHold(m *msiIRQ) {
	if !m.src.Maskable() {
		rt.HoldMSI(m.vec, true)
	}
}

// Unmask unmasks irq's source: its IO-APIC pin (routed with its default
// mode if it was not), or an MSI's mask bit for gohv and the guest (the
// first guest bound it: Xen's startup_msi_irq and the bind's guest
// unmask).
func (c *irqController) Unmask(irq pirq.IRQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.msis[irq]; m != nil {
		if m.src != nil {
			c.resetHold(m)
			c.bus.Start(m.src)
		}
		return
	}
	if v := c.vecOf(irq); v != 0 && int(irq) < c.nGSIs {
		c.gsis[irq].unmasked = true
		rt.MaskVector(v, false)
	}
}

// EOI: rt sends every device vector's local APIC EOI when it arrives; an
// MSI without a mask bit (the one AckEOI kind, see EnableMSI) is held in
// rt until this call, which delivers one that came meanwhile.
func (c *irqController) EOI(irq pirq.IRQ) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.msis[irq]; m != nil && m.src != nil && !m.src.Maskable() {
		rt.VectorEOI(m.vec)
	}
}

// dumpMSI lists, for debug key 'M', each MSI IRQ with a source, in IRQ
// order, in Xen's dump_msi form.
func (c *irqController) dumpMSI() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	irqs := make([]pirq.IRQ, 0, len(c.msis))
	for irq, m := range c.msis {
		if m.src != nil {
			irqs = append(irqs, irq)
		}
	}
	slices.Sort(irqs)
	lines := make([]string, 0, len(irqs))
	for _, irq := range irqs {
		lines = append(lines, c.bus.Dump(int(irq), c.msis[irq].src))
	}
	return lines
}

func (c *irqController) IOAPICRead(physbase uint64, reg uint32) (uint32, abi.Errno) {
	v, err := rt.IOAPICRead(physbase, reg)
	if err != nil {
		return 0, abi.EINVAL
	}
	return v, 0
}

func (c *irqController) IOAPICWrite(physbase uint64, reg, val uint32) abi.Errno {
	switch err := rt.IOAPICWrite(physbase, reg, val); {
	case err == nil:
		return 0
	case errors.Is(err, syscall.EPERM):
		return abi.EPERM
	default:
		return abi.EINVAL
	}
}

var _ pirq.Controller = (*irqController)(nil)

// vcpuParker is a vCPU's futex word (hv's Config.NewParker) whose sleep
// also takes device interrupts: a blocked vCPU's thread wakes for one
// before run's goroutine does (rt.WaitFutexOrDevice), delivers it itself,
// and the PIRQ's kick of this vCPU ends the sleep, as Xen takes the
// interrupt on the idle CPU and then runs the vCPU it woke: one thread
// switch, not two and a hand-off between the runtime's threads. It is a
// sched.TimedParker: a blocked vCPU's one-shot timer ends the sleep at
// its deadline through the shim's timer (the CPU's local APIC timer is
// set for it), not the Go runtime's, whose timers fire up to about a
// millisecond late (its poller sleeps in whole milliseconds).
type vcpuParker struct {
	w    *futex.Word
	irqs *irqController
}

func newVCPUParker(irqs *irqController) *vcpuParker {
	return &vcpuParker{w: futex.New(), irqs: irqs}
}

func (p *vcpuParker) Unpark() { p.w.Unpark() }
func (p *vcpuParker) Clear()  { p.w.Clear() }
func (p *vcpuParker) Park()   { p.ParkUntil(0) }

// ParkUntil implements sched.TimedParker (deadline 0: none). At the
// deadline it leaves itself the token ParkWith ends on, and takes it.
func (p *vcpuParker) ParkUntil(deadline int64) (timedOut bool) {
	p.w.ParkWith(func(w *atomic.Uint32, val uint32) {
		dev, late := rt.WaitFutexOrDevice(w, val, deadline)
		if dev {
			p.irqs.deliver(rt.TakeDeviceIRQs(rt.TakenParked))
		}
		if late {
			timedOut = true
			p.w.Unpark()
		}
	})
	return timedOut
}

var _ sched.TimedParker = (*vcpuParker)(nil)
