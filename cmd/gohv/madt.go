package main

import (
	"fmt"
	"strings"

	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/internal/klog"
)

// readMADT finds and decodes the MADT (CPUs, IO-APICs, ISA overrides),
// prints Xen's ACPI lines for it, registers each IO-APIC with rt (which
// masks its pins; Xen's "IOAPIC[n]" line follows the MADT's) and gives rt
// the ISA IRQs' GSIs. ok is false when the machine has no usable MADT:
// gohv then knows only the boot CPU, and the console's IRQ goes through
// the 8259. Context: main, before anything asks for an interrupt line.
func readMADT(info *boot.Info) (m boot.MADT, ok bool) {
	rsdp, err := boot.FindRSDP(physMem{}, info.RSDP)
	if err != nil {
		return m, false // setupPowerOff says why
	}
	m, err = boot.ParseMADT(physMem{}, rsdp)
	next := 0
	for _, l := range m.Lines {
		log.Lines([]string{l})
		if !strings.HasPrefix(l, "ACPI: IOAPIC (") || next >= len(m.IOAPICs) {
			continue
		}
		io := m.IOAPICs[next]
		hwio, err := rt.AddIOAPIC(uint64(io.Addr), io.GSIBase)
		if err != nil {
			log.Printf(klog.Warning, "IOAPIC[%d]: address %#x: %v", next, io.Addr, err)
		} else {
			log.Lines([]string{fmt.Sprintf("IOAPIC[%d]: apic_id %d, version %d, address %#x, GSI %d-%d",
				next, io.ID, hwio.Version, io.Addr, io.GSIBase, io.GSIBase+uint32(hwio.Pins)-1)})
		}
		next++
	}
	if err != nil {
		log.Printf(klog.Warning, "ACPI: MADT: %v: using the boot CPU only", err)
		return m, false
	}
	for irq := uint8(0); irq < 16; irq++ {
		gsi, pol, trig := m.ISAGSI(irq)
		rt.SetISAIRQ(irq, gsi, pol == boot.MPSActiveLow, trig == boot.MPSLevel)
	}
	return m, true
}
