// Package ioport owns the I/O ports a PV domain reaches through the
// hypervisor rather than directly, after Xen 4.17's
// xen/arch/x86/pv/emul-priv-op.c (admin_io_okay, guest_io_read/write,
// pci_cfg_ok), xen/arch/x86/time.c (rtc_guest_read/write),
// xen/drivers/passthrough/pci.c and xen/arch/x86/msi.c
// (pci_conf_write_intercept) and xen/arch/x86/dom0_build.c
// (dom0_setup_permissions), read for facts and written afresh:
//
//   - Ranges, a domain's I/O-port capability (Xen's ioport_caps) and
//     Dom0Denied, the ports the hardware domain is refused as Xen's
//     dom0_setup_permissions and the serial driver refuse them, plus
//     those gohv itself drives.
//   - Host, the machine's side: the physical port accessor (Metal), the
//     configuration space (a pci.Bus, whose lock keeps a CONFIG_ADDRESS
//     write and the CONFIG_DATA access it selects together, Xen's
//     pci_config_lock, and which gohv's own MSI programming shares), and
//     the lock that keeps the RTC index and data accesses together
//     (rtc_lock).
//   - Domain, one domain's view: the CONFIG_ADDRESS latch (Xen's
//     arch.pci_cf8), the RTC index latch (arch.cmos_idx), and Read and
//     Write, which give a port access the answer Xen gives: directly to
//     the hardware when the capability allows it and the port is not
//     mediated, otherwise through the latches (PCI configuration
//     mechanism #1 forwarded with the latched address, writes to the
//     MSI and MSI-X capabilities filtered as Xen's
//     pci_msi_conf_write_intercept filters them, see package pci; the
//     RTC index kept per domain, its data port reached with the index's
//     NMI bit cleared), all ones and dropped writes for the rest.
//
// PIT channel 2 (ports 0x42, 0x43 and 0x61), which the hardware domain may
// not reach directly, is passed through to it as Xen's pv_pit_handler
// does for the hardware domain while Xen's platform timer is not the PIT
// (hwdom_pit_access): Linux calibrates its TSC against it at boot
// (quick_pit_calibrate), and a channel that reads as all ones keeps that
// loop spinning for 50,000 rounds of two trapped reads. Xen's emulated
// PIT for other domains, and its channels 0 and 1 for the hardware
// domain, are not modelled: those accesses read as all ones and their
// writes are dropped.
//
// # Imports
//
// pci and the standard library. Pure: no unsafe, no assembly; tests use
// a fake Metal with a fake PCI configuration space.
package ioport
