// Copyright 2026 The gohv Authors. All rights reserved.

//go:build ignore

// Input to `go tool cgo -godefs` for ../ztypes_amd64.go.
//
// This file is not compiled. gen/mkabi.go reads the C preamble below (it is
// also the preamble used to select and evaluate the constants of ../zconst.go
// and ../zerrno.go) and the `type X C.struct_y` list, runs cgo -godefs on it
// and post-processes the result (field names, guest handles, padding).
//
// Preamble notes:
//   - -std=c11 defines __STRICT_ANSI__, so <xen/arch-x86/xen-x86_64.h>
//     declares struct cpu_user_regs with plain uint64_t rax..r15 fields
//     instead of anonymous unions (which cgo would turn into byte arrays).
//     That variant is only chosen when __XEN_TOOLS__ is not yet defined,
//     so xen.h is included first without it.
//   - __XEN_TOOLS__ is then defined for the remaining headers (memory.h has
//     a tools-only section); the three helpers xen.h would have provided
//     under __XEN_TOOLS__ are defined here with the same meaning.
//   - The interface version is 0x00040e00, __XEN_LATEST_INTERFACE_VERSION__
//     of the Xen 4.17 headers.
//   - xen/errno.h is included with __XEN__ defined so the hypervisor-internal
//     values (EINTR, ERESTART) are part of the set; gohv is the hypervisor.

package abi

/*
#cgo CFLAGS: -std=c11
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <stdint.h>
#include <xen/xen.h>
#define __XEN_TOOLS__ 1
#define uint64_aligned_t uint64_t __attribute__((aligned(8)))
#define int64_aligned_t int64_t __attribute__((aligned(8)))
#define XEN_GUEST_HANDLE_64(name) XEN_GUEST_HANDLE(name)
#include <xen/features.h>
#include <xen/version.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/physdev.h>
#include <xen/callback.h>
#include <xen/nmi.h>
#include <xen/elfnote.h>
#include <xen/platform.h>
#include <xen/io/console.h>
#include <xen/io/xs_wire.h>
#define __XEN__ 1
#include <xen/errno.h>
#undef __XEN__

// Names for anonymous structure types used as fields, so that cgo gives
// them Go types: gohv_field__<struct tag>__<field>.
typedef __typeof__(((struct vcpu_guest_context *)0)->fpu_ctxt) gohv_field__vcpu_guest_context__fpu_ctxt;
typedef __typeof__(((struct physdev_manage_pci_ext *)0)->physfn) gohv_field__physdev_manage_pci_ext__physfn;
typedef __typeof__(((struct physdev_pci_device_add *)0)->physfn) gohv_field__physdev_pci_device_add__physfn;
*/
import "C"

// xen.h
type (
	MmuextOp           C.struct_mmuext_op
	MmuUpdate          C.struct_mmu_update
	MulticallEntry     C.struct_multicall_entry
	VcpuTimeInfo       C.struct_vcpu_time_info
	VcpuInfo           C.struct_vcpu_info
	SharedInfo         C.struct_shared_info
	StartInfo          C.struct_start_info
	Dom0VgaConsoleInfo C.struct_dom0_vga_console_info
)

// arch-x86/xen.h, arch-x86/xen-x86_64.h
type (
	TrapInfo         C.struct_trap_info
	VcpuGuestContext C.struct_vcpu_guest_context
	ArchSharedInfo   C.struct_arch_shared_info
	IretContext      C.struct_iret_context
	CpuUserRegs      C.struct_cpu_user_regs
	ArchVcpuInfo     C.struct_arch_vcpu_info

	VcpuGuestContextFpuCtxt C.gohv_field__vcpu_guest_context__fpu_ctxt
)

// event_channel.h
type (
	EvtchnAllocUnbound     C.struct_evtchn_alloc_unbound
	EvtchnBindInterdomain  C.struct_evtchn_bind_interdomain
	EvtchnBindVirq         C.struct_evtchn_bind_virq
	EvtchnBindPirq         C.struct_evtchn_bind_pirq
	EvtchnBindIpi          C.struct_evtchn_bind_ipi
	EvtchnClose            C.struct_evtchn_close
	EvtchnSend             C.struct_evtchn_send
	EvtchnStatus           C.struct_evtchn_status
	EvtchnBindVcpu         C.struct_evtchn_bind_vcpu
	EvtchnUnmask           C.struct_evtchn_unmask
	EvtchnReset            C.struct_evtchn_reset
	EvtchnInitControl      C.struct_evtchn_init_control
	EvtchnExpandArray      C.struct_evtchn_expand_array
	EvtchnSetPriority      C.struct_evtchn_set_priority
	EvtchnOp               C.struct_evtchn_op
	EvtchnFifoControlBlock C.struct_evtchn_fifo_control_block
)

// grant_table.h
type (
	GrantEntryV1          C.struct_grant_entry_v1
	GrantEntryHeader      C.struct_grant_entry_header
	GrantEntryV2          C.union_grant_entry_v2
	GnttabMapGrantRef     C.struct_gnttab_map_grant_ref
	GnttabUnmapGrantRef   C.struct_gnttab_unmap_grant_ref
	GnttabSetupTable      C.struct_gnttab_setup_table
	GnttabDumpTable       C.struct_gnttab_dump_table
	GnttabTransfer        C.struct_gnttab_transfer
	GnttabCopyPtr         C.struct_gnttab_copy_ptr
	GnttabCopy            C.struct_gnttab_copy
	GnttabQuerySize       C.struct_gnttab_query_size
	GnttabUnmapAndReplace C.struct_gnttab_unmap_and_replace
	GnttabSetVersion      C.struct_gnttab_set_version
	GnttabGetStatusFrames C.struct_gnttab_get_status_frames
	GnttabGetVersion      C.struct_gnttab_get_version
	GnttabSwapGrantRef    C.struct_gnttab_swap_grant_ref
	GnttabCacheFlush      C.struct_gnttab_cache_flush
)

// memory.h
type (
	XenMemoryReservation       C.struct_xen_memory_reservation
	XenMemoryExchange          C.struct_xen_memory_exchange
	XenMemoryDomain            C.struct_xen_memory_domain
	XenMachphysMfnList         C.struct_xen_machphys_mfn_list
	XenMachphysMapping         C.struct_xen_machphys_mapping
	XenAddToPhysmap            C.struct_xen_add_to_physmap
	XenAddToPhysmapBatch       C.struct_xen_add_to_physmap_batch
	XenRemoveFromPhysmap       C.struct_xen_remove_from_physmap
	XenMemoryMap               C.struct_xen_memory_map
	XenForeignMemoryMap        C.struct_xen_foreign_memory_map
	XenPodTarget               C.struct_xen_pod_target
	XenReservedDeviceMemory    C.struct_xen_reserved_device_memory
	XenReservedDeviceMemoryMap C.struct_xen_reserved_device_memory_map
	XenMemAcquireResource      C.struct_xen_mem_acquire_resource
	XenVmemrange               C.struct_xen_vmemrange
	XenVnumaTopologyInfo       C.struct_xen_vnuma_topology_info
)

// sched.h
type (
	SchedShutdown       C.struct_sched_shutdown
	SchedPoll           C.struct_sched_poll
	SchedRemoteShutdown C.struct_sched_remote_shutdown
	SchedWatchdog       C.struct_sched_watchdog
	SchedPinOverride    C.struct_sched_pin_override
)

// vcpu.h
type (
	VcpuRunstateInfo               C.struct_vcpu_runstate_info
	VcpuRegisterRunstateMemoryArea C.struct_vcpu_register_runstate_memory_area
	VcpuSetPeriodicTimer           C.struct_vcpu_set_periodic_timer
	VcpuSetSingleshotTimer         C.struct_vcpu_set_singleshot_timer
	VcpuRegisterVcpuInfo           C.struct_vcpu_register_vcpu_info
	VcpuGetPhysid                  C.struct_vcpu_get_physid
	VcpuRegisterTimeMemoryArea     C.struct_vcpu_register_time_memory_area
)

// physdev.h
type (
	PhysdevEoi                C.struct_physdev_eoi
	PhysdevPirqEoiGmfn        C.struct_physdev_pirq_eoi_gmfn
	PhysdevIrqStatusQuery     C.struct_physdev_irq_status_query
	PhysdevSetIopl            C.struct_physdev_set_iopl
	PhysdevSetIobitmap        C.struct_physdev_set_iobitmap
	PhysdevApic               C.struct_physdev_apic
	PhysdevIrq                C.struct_physdev_irq
	PhysdevMapPirq            C.struct_physdev_map_pirq
	PhysdevUnmapPirq          C.struct_physdev_unmap_pirq
	PhysdevManagePci          C.struct_physdev_manage_pci
	PhysdevRestoreMsi         C.struct_physdev_restore_msi
	PhysdevManagePciExt       C.struct_physdev_manage_pci_ext
	PhysdevManagePciExtPhysfn C.gohv_field__physdev_manage_pci_ext__physfn
	PhysdevSetupGsi           C.struct_physdev_setup_gsi
	PhysdevGetFreePirq        C.struct_physdev_get_free_pirq
	PhysdevPciMmcfgReserved   C.struct_physdev_pci_mmcfg_reserved
	PhysdevPciDeviceAdd       C.struct_physdev_pci_device_add
	PhysdevPciDeviceAddPhysfn C.gohv_field__physdev_pci_device_add__physfn
	PhysdevPciDevice          C.struct_physdev_pci_device
	PhysdevDbgpOp             C.struct_physdev_dbgp_op
)

// version.h
type (
	XenCompileInfo        C.struct_xen_compile_info
	XenPlatformParameters C.struct_xen_platform_parameters
	XenFeatureInfo        C.struct_xen_feature_info
	XenBuildID            C.struct_xen_build_id
)

// callback.h
type (
	CallbackRegister   C.struct_callback_register
	CallbackUnregister C.struct_callback_unregister
)

// platform.h (the structures dom0 uses first)
type (
	XenpfSettime32      C.struct_xenpf_settime32
	XenpfSettime64      C.struct_xenpf_settime64
	XenpfFirmwareInfo   C.struct_xenpf_firmware_info
	XenpfEnterAcpiSleep C.struct_xenpf_enter_acpi_sleep
	XenpfPcpuinfo       C.struct_xenpf_pcpuinfo
	XenpfPcpuVersion    C.struct_xenpf_pcpu_version
	XenPlatformOp       C.struct_xen_platform_op
)

// io/console.h, io/xs_wire.h
type (
	XenconsInterface        C.struct_xencons_interface
	XsdSockmsg              C.struct_xsd_sockmsg
	XenstoreDomainInterface C.struct_xenstore_domain_interface
)
