// Package pci owns gohv's side of PCI configuration space and of the
// message-signalled interrupts it composes for the hardware domain's
// devices, after Xen 4.17's xen/arch/x86/msi.c, xen/drivers/pci/pci.c
// (pci_find_cap_offset) and xen/arch/x86/pci.c (read for facts; written
// afresh):
//
//   - Layout: BDF, the capability walk (FindCap, bounded against looping
//     lists), memory BARs (MemBAR), the MSI and MSI-X capabilities'
//     registers (MSICap, MSIXCap), the MSI-X table entry's layout, and
//     Compose, the message (address and data) that sends a vector to a
//     local APIC: physical destination, fixed delivery, edge.
//   - Bus: segment 0's configuration space through mechanism #1 (ports
//     0xCF8/0xCFC) under the one lock that keeps a CONFIG_ADDRESS write
//     and its CONFIG_DATA access together (Xen's pci_config_lock), shared
//     by gohv (Read, EnableMSI and the rest) and the hardware domain's
//     forwarded accesses (GuestRead, GuestWrite, from package ioport).
//   - Source: an MSI capability or MSI-X table entry gohv programmed for
//     one vector (Xen's msi_desc), with gohv's and the guest's mask bits;
//     EnableMSI, Start, Stop, Disable and Restore are Xen's
//     pci_enable_msi with write_msi_msg, startup_msi_irq with the bind's
//     guest unmask, shutdown_msi_irq, pci_disable_msi and
//     pci_restore_msi_state; Dump is its dump_msi line (debug key 'M').
//     GuestWrite applies Xen's pci_msi_conf_write_intercept, so the
//     hardware domain cannot rewrite the message or the mask bits gohv
//     holds.
//
// As on Xen for the hardware domain, gohv writes the message and the mask
// bits and leaves the MSI and MSI-X Enable bits to the guest (Linux's
// xen_initdom_setup_msi_irqs asks for the PIRQ, then enables the
// capability itself; its pci_msi_ignore_mask keeps it off the mask bits).
//
// # Imports
//
// abi and the standard library. Pure: no unsafe, no assembly; the port
// and device-memory accessors are interfaces the metal implements
// (cmd/gohv over arch/amd64 port I/O and rt's DeviceRead32/DeviceWrite32)
// and tests fake.
//
// # Contracts
//
//   - Every method runs in goroutine context, may allocate and takes the
//     Bus's lock; none is for the trap path.
//   - Lock order: pirq's Machine lock, then cmd/gohv's controller lock,
//     then the Bus's; the Bus calls nothing outside itself but its Ports
//     and DeviceMemory.
//
// # Differences from Xen 4.17
//
//   - Only segment 0 and the first 256 bytes of each function
//     (mechanism #1): no MMCONFIG, which MSI and MSI-X do not need (both
//     capabilities live in the first 256 bytes).
//   - One vector per MSI capability (no MULTI_MSI), no SR-IOV virtual
//     functions, no interrupt remapping, no MSI-X table or PBA pages made
//     read-only for the hardware domain (Xen's mmio_ro_ranges).
//   - The capability walk reads dwords; a failed MSI-X setup puts back
//     the Function Mask gohv held before (Xen leaves host_maskall set).
package pci
