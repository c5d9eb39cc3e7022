// Package pirqtest holds a fake pirq.Controller for host tests: a machine
// with NrGSI GSIs, one IO-APIC at IOAPICBase, a limited number of
// vectors, and a record of every call.
package pirqtest

import (
	"fmt"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/pirq"
)

// IOAPICBase is the fake IO-APIC's physical address (the usual one).
const IOAPICBase = 0xfec00000

// Controller is the fake. Its zero value has no GSIs and no vectors; set
// the fields before NewMachine. Not safe for concurrent use by itself:
// pirq calls it with the Machine's lock held.
type Controller struct {
	GSIs    int  // NrGSIs
	Vectors int  // vectors left for AllocVector
	Masking bool // EnableMSI reports maskable sources

	Triggers map[int]pirq.Trigger // set up pins
	Masked   map[pirq.IRQ]bool
	MSIs     map[pirq.IRQ]pirq.MSI
	Regs     map[uint32]uint32 // the IO-APIC's registers
	Log      []string          // every call, in order
}

// New returns a Controller with gsis GSIs and vectors vectors.
func New(gsis, vectors int) *Controller {
	return &Controller{GSIs: gsis, Vectors: vectors, Triggers: map[int]pirq.Trigger{},
		Masked: map[pirq.IRQ]bool{}, MSIs: map[pirq.IRQ]pirq.MSI{}, Regs: map[uint32]uint32{}}
}

func (c *Controller) logf(f string, a ...any) { c.Log = append(c.Log, fmt.Sprintf(f, a...)) }

func (c *Controller) NrGSIs() int { return c.GSIs }

func (c *Controller) SetupGSI(gsi int, t pirq.Trigger, p pirq.Polarity) abi.Errno {
	c.logf("setup %d %d %d", gsi, t, p)
	c.Triggers[gsi] = t
	c.Masked[pirq.IRQ(gsi)] = true
	return 0
}

func (c *Controller) GSITrigger(gsi int) pirq.Trigger { return c.Triggers[gsi] }

func (c *Controller) AllocVector(irq pirq.IRQ) bool {
	if c.Vectors == 0 {
		return false
	}
	c.Vectors--
	c.logf("vector %d", irq)
	return true
}

func (c *Controller) FreeVector(irq pirq.IRQ) { c.Vectors++; c.logf("free %d", irq) }

func (c *Controller) EnableMSI(irq pirq.IRQ, m pirq.MSI) (bool, abi.Errno) {
	c.logf("msi %d %04x:%02x:%02x entry %d", irq, m.Dev.Seg, m.Dev.Bus, m.Dev.Devfn, m.EntryNr)
	c.MSIs[irq] = m
	c.Masked[irq] = true
	return c.Masking, 0
}

func (c *Controller) DisableMSI(irq pirq.IRQ) { delete(c.MSIs, irq); c.logf("nomsi %d", irq) }
func (c *Controller) RestoreMSI(d pirq.SBDF) abi.Errno {
	c.logf("restore %04x:%02x:%02x", d.Seg, d.Bus, d.Devfn)
	return 0
}
func (c *Controller) Mask(irq pirq.IRQ)   { c.Masked[irq] = true; c.logf("mask %d", irq) }
func (c *Controller) Unmask(irq pirq.IRQ) { c.Masked[irq] = false; c.logf("unmask %d", irq) }
func (c *Controller) EOI(irq pirq.IRQ)    { c.logf("eoi %d", irq) }

func (c *Controller) IOAPICRead(physbase uint64, reg uint32) (uint32, abi.Errno) {
	if physbase != IOAPICBase {
		return 0, abi.EINVAL
	}
	return c.Regs[reg], 0
}

func (c *Controller) IOAPICWrite(physbase uint64, reg, val uint32) abi.Errno {
	if physbase != IOAPICBase {
		return abi.EINVAL
	}
	c.Regs[reg] = val
	return 0
}

var _ pirq.Controller = (*Controller)(nil)
