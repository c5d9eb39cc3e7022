package main

import (
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/internal/klog"
)

// readMADT finds and decodes the MADT (CPUs, IO-APICs, ISA overrides) and
// prints Xen's ACPI lines for it. ok is false when the machine has none;
// gohv then knows only the boot CPU.
func readMADT(info *boot.Info) (m boot.MADT, ok bool) {
	rsdp, err := boot.FindRSDP(physMem{}, info.RSDP)
	if err != nil {
		return m, false // setupPowerOff already said so
	}
	m, err = boot.ParseMADT(physMem{}, rsdp)
	log.Lines(m.Lines)
	if err != nil {
		log.Printf(klog.Warning, "ACPI: MADT: %v: using the boot CPU only", err)
		return m, false
	}
	return m, true
}
