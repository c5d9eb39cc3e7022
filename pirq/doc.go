// Package pirq owns what the physdev_op layer knows about machine
// interrupts given to guests, after Xen 4.17's xen/arch/x86/irq.c (the
// guest-binding half) and physdev.c (read for facts; written afresh):
//
//   - Controller, the interface the metal implements for the interrupt
//     hardware gohv owns (IO-APIC pins and their vectors, composing MSI
//     messages, mask/unmask/EOI, IO-APIC register access for
//     PHYSDEVOP_apic_read/apic_write): cmd/gohv's irqController on the
//     metal (it writes MSI and MSI-X messages through package pci),
//     pirqtest.Controller on a host. NewMachine(nil) stands for a
//     machine with no such hardware: no GSI, no vector for an MSI, no
//     IO-APIC, and every operation gives Xen's answer for that (-EINVAL),
//     never success.
//   - Machine: the machine's IRQ descriptors (Xen's irq_desc with its
//     guest action: the domains bound, the ack type, in-flight count), the
//     PCI devices the hardware domain reported (pci_device_add/remove),
//     and Interrupt, the entry the metal calls when a guest-bound IRQ
//     fires.
//   - Table: one domain's PIRQs (Xen's struct pirq, domain_pirq_to_irq and
//     domain_irq_to_pirq), the event-channel port each is bound to, the
//     masked flag of a delivered interrupt waiting for the guest's EOI, and
//     the pirq_eoi_gmfn bitmap frame in which gohv sets and clears the
//     needs-EOI bits with Xen's edge/level rules.
//
// IRQ numbers follow Xen: GSI g is IRQ g; IRQs created for MSIs come
// after the GSIs. IRQ 0 is never given to a guest (map_domain_pirq's
// irq <= 0 check).
//
// # Imports
//
// abi, mm and evtchn, and the standard library. Pure: no unsafe, no
// assembly; pirqtest holds a fake Controller for host tests.
//
// # Contracts
//
//   - Every method runs in goroutine context and may allocate; none is
//     for the trap path. Interrupt too: the metal's handler wakes a
//     goroutine that calls it.
//   - Locking: one mutex per Machine (Xen's event_lock of every domain
//     and the descriptors' locks together). Lock order: an evtchn table's
//     lock, then the Machine's (evtchn calls Bind and Unbind with its lock
//     held). The Machine calls no evtchn method with its own lock held
//     (Interrupt sends, and EOI unmasks, after releasing it); it calls
//     Controller methods with it held, and they must not call back into
//     this package.
//   - Workers take Go values and return Xen's errno as abi.Errno (0 on
//     success); the hypercall layer decodes and encodes.
//
// # Differences from Xen 4.17
//
//   - allocate_pirq with pirq < 0 for an IRQ that already has a PIRQ
//     returns that PIRQ (the behaviour Xen had before its 4.10 refactoring
//     and has again since 4.19); 4.17 returns -1, which reads as -EPERM.
//   - PCI devices are a list of (segment, bus, devfn) with their flags:
//     no config-space probing here (the Controller finds the MSI and
//     MSI-X capabilities when a PIRQ is mapped), no IOMMU; removing a
//     device leaves its mapped MSI PIRQs to unmap_pirq.
//   - MULTI_MSI (several vectors for one MSI capability) is -EINVAL.
//   - XSM is the dummy policy reduced to the caller's privilege, checked
//     by the hypercall layer.
package pirq
