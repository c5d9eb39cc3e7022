package main

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/hv"
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

// bringUpCPUs starts every other enabled CPU the MADT lists (xAPIC IDs
// only: gohv drives the local APIC in xAPIC mode), up to maxcpus= (none
// with nosmp), each of which then runs the Go runtime's threads; checks
// each one answers an IPI; reports the CPUs as Xen does ("Brought up N
// CPUs") and gives the runtime one P per CPU (GOMAXPROCS). It returns
// the APIC and ACPI ids of the CPUs online, by CPU number (the boot CPU
// is 0), for VCPUOP_get_physid. Context: main, after readMADT and after
// the boot information has been read (the trampoline overwrites low
// memory).
func bringUpCPUs(m boot.MADT, info *boot.Info, opts *boot.Options) []hv.PhysCPU {
	defer func() { runtime.GOMAXPROCS(rt.OnlineCPUs()) }()
	bsp := rt.BootCPUAPICID()
	ids := []hv.PhysCPU{{APICID: bsp, ACPIID: bsp}}
	for _, c := range m.CPUs {
		if c.APICID == bsp {
			ids[0].ACPIID = c.ACPIID
		}
	}
	online := 1
	limit := rt.MaxCPUs
	if opts.NoSMP {
		limit = 1
	} else if opts.MaxCPUs > 0 && int(opts.MaxCPUs) < limit {
		limit = int(opts.MaxCPUs)
	}
	if why := trampolineClash(info); why != "" && m.EnabledCPUs() > 1 && limit > 1 {
		log.Printf(klog.Warning, "SMP: AP trampoline at %#x: %s: using the boot CPU only", rt.TrampolineRange().Start, why)
		log.Lines([]string{"Brought up 1 CPUs"})
		return ids
	}
	for _, c := range m.CPUs {
		if !c.Enabled || c.APICID == bsp || online == limit {
			continue
		}
		if online == rt.MaxCPUs {
			log.Printf(klog.Warning, "SMP: CPU with APIC ID %#x beyond the %d CPUs gohv supports: ignored", c.APICID, rt.MaxCPUs)
			continue
		}
		if c.APICID >= 0xFF {
			log.Printf(klog.Warning, "SMP: CPU with x2APIC ID %#x needs x2APIC mode: not started", c.APICID)
			continue
		}
		if err := rt.StartAP(online, c.APICID); err != nil {
			log.Printf(klog.Err, "CPU%d: APIC ID %#x did not come up: %v", online, c.APICID, err)
			continue
		}
		if _, err := rt.PingAP(online); err != nil {
			log.Printf(klog.Err, "CPU%d: no answer to an IPI: %v", online, err)
			// It is online all the same: it runs threads and takes part in
			// shootdowns, so it counts.
		} else {
			log.Lines([]string{fmt.Sprintf("CPU%d: APIC ID %d online, scheduling; answered an IPI", online, c.APICID)})
		}
		ids = append(ids, hv.PhysCPU{APICID: c.APICID, ACPIID: c.ACPIID})
		online++
	}
	log.Lines([]string{fmt.Sprintf("Brought up %d CPUs", online)})
	return ids
}

// trampolineClash says why the AP trampoline's low pages cannot be used:
// not RAM in the memory map, or holding a boot module. "" when they can.
func trampolineClash(info *boot.Info) string {
	t := rt.TrampolineRange()
	ram := false
	for _, r := range info.Sanitize() {
		if r.Type == boot.E820RAM && r.Base <= t.Start && r.Base+r.Length >= t.End {
			ram = true
		}
	}
	if !ram {
		return "not RAM in the memory map"
	}
	for _, mod := range info.Modules {
		if mod.Start < t.End && mod.End > t.Start {
			return "a boot module is there"
		}
	}
	return ""
}
