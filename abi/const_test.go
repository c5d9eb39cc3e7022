// Copyright 2026 The gohv Authors. All rights reserved.

package abi

import "testing"

// The values below are from Xen 4.17's public headers (xen.h, elfnote.h,
// features.h, event_channel.h, grant_table.h, arch-x86/xen-x86_64.h),
// recorded by hand, independently of the generator.

func TestHypercallNumbers(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"set_trap_table", HYPERVISOR_set_trap_table, 0},
		{"mmu_update", HYPERVISOR_mmu_update, 1},
		{"set_gdt", HYPERVISOR_set_gdt, 2},
		{"stack_switch", HYPERVISOR_stack_switch, 3},
		{"set_callbacks", HYPERVISOR_set_callbacks, 4},
		{"fpu_taskswitch", HYPERVISOR_fpu_taskswitch, 5},
		{"sched_op_compat", HYPERVISOR_sched_op_compat, 6},
		{"platform_op", HYPERVISOR_platform_op, 7},
		{"set_debugreg", HYPERVISOR_set_debugreg, 8},
		{"get_debugreg", HYPERVISOR_get_debugreg, 9},
		{"update_descriptor", HYPERVISOR_update_descriptor, 10},
		{"memory_op", HYPERVISOR_memory_op, 12},
		{"multicall", HYPERVISOR_multicall, 13},
		{"update_va_mapping", HYPERVISOR_update_va_mapping, 14},
		{"set_timer_op", HYPERVISOR_set_timer_op, 15},
		{"event_channel_op_compat", HYPERVISOR_event_channel_op_compat, 16},
		{"xen_version", HYPERVISOR_xen_version, 17},
		{"console_io", HYPERVISOR_console_io, 18},
		{"physdev_op_compat", HYPERVISOR_physdev_op_compat, 19},
		{"grant_table_op", HYPERVISOR_grant_table_op, 20},
		{"vm_assist", HYPERVISOR_vm_assist, 21},
		{"update_va_mapping_otherdomain", HYPERVISOR_update_va_mapping_otherdomain, 22},
		{"iret", HYPERVISOR_iret, 23},
		{"vcpu_op", HYPERVISOR_vcpu_op, 24},
		{"set_segment_base", HYPERVISOR_set_segment_base, 25},
		{"mmuext_op", HYPERVISOR_mmuext_op, 26},
		{"xsm_op", HYPERVISOR_xsm_op, 27},
		{"nmi_op", HYPERVISOR_nmi_op, 28},
		{"sched_op", HYPERVISOR_sched_op, 29},
		{"callback_op", HYPERVISOR_callback_op, 30},
		{"xenoprof_op", HYPERVISOR_xenoprof_op, 31},
		{"event_channel_op", HYPERVISOR_event_channel_op, 32},
		{"physdev_op", HYPERVISOR_physdev_op, 33},
		{"hvm_op", HYPERVISOR_hvm_op, 34},
		{"sysctl", HYPERVISOR_sysctl, 35},
		{"domctl", HYPERVISOR_domctl, 36},
		{"kexec_op", HYPERVISOR_kexec_op, 37},
		{"tmem_op", HYPERVISOR_tmem_op, 38},
		{"argo_op", HYPERVISOR_argo_op, 39},
		{"xenpmu_op", HYPERVISOR_xenpmu_op, 40},
		{"dm_op", HYPERVISOR_dm_op, 41},
		{"hypfs_op", HYPERVISOR_hypfs_op, 42},
		{"arch_0 (mca)", HYPERVISOR_arch_0, 48},
		{"arch_1", HYPERVISOR_arch_1, 49},
		{"arch_7", HYPERVISOR_arch_7, 55},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("__HYPERVISOR_%s = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestPinnedConstants(t *testing.T) {
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"DOMID_SELF", DOMID_SELF, 0x7FF0},
		{"DOMID_IO", DOMID_IO, 0x7FF1},
		{"DOMID_XEN", DOMID_XEN, 0x7FF2},
		{"DOMID_COW", DOMID_COW, 0x7FF3},
		{"DOMID_INVALID", DOMID_INVALID, 0x7FF4},
		{"DOMID_IDLE", DOMID_IDLE, 0x7FFF},
		{"DOMID_FIRST_RESERVED", DOMID_FIRST_RESERVED, 0x7FF0},
		{"HYPERVISOR_VIRT_START", HYPERVISOR_VIRT_START, 0xFFFF800000000000},
		{"HYPERVISOR_VIRT_END", HYPERVISOR_VIRT_END, 0xFFFF880000000000},
		{"MACH2PHYS_VIRT_START", MACH2PHYS_VIRT_START, 0xFFFF800000000000},
		{"FLAT_RING3_CS32", FLAT_RING3_CS32, 0xe023},
		{"FLAT_RING3_DS32", FLAT_RING3_DS32, 0xe02b},
		{"FLAT_RING3_SS32", FLAT_RING3_SS32, 0xe02b},
		{"FLAT_RING3_SS64", FLAT_RING3_SS64, 0xe02b},
		{"FLAT_RING3_CS64", FLAT_RING3_CS64, 0xe033},
		{"FLAT_RING3_DS64", FLAT_RING3_DS64, 0},
		{"FLAT_KERNEL_CS", FLAT_KERNEL_CS, 0xe033},
		{"FLAT_USER_CS", FLAT_USER_CS, 0xe033},
		{"FLAT_KERNEL_SS", FLAT_KERNEL_SS, 0xe02b},
		{"FLAT_KERNEL_DS", FLAT_KERNEL_DS, 0},
		{"FIRST_RESERVED_GDT_PAGE", FIRST_RESERVED_GDT_PAGE, 14},
		{"FIRST_RESERVED_GDT_ENTRY", FIRST_RESERVED_GDT_ENTRY, 7168},
		{"NR_VIRQS", NR_VIRQS, 24},
		{"EVTCHN_2L_NR_CHANNELS", EVTCHN_2L_NR_CHANNELS, 4096},
		{"EVTCHN_FIFO_NR_CHANNELS", EVTCHN_FIFO_NR_CHANNELS, 131072},
		{"EVTCHN_FIFO_PRIORITY_DEFAULT", EVTCHN_FIFO_PRIORITY_DEFAULT, 7},
		{"EVTCHN_FIFO_PRIORITY_MIN", EVTCHN_FIFO_PRIORITY_MIN, 15},
		{"GNTTAB_NR_RESERVED_ENTRIES", GNTTAB_NR_RESERVED_ENTRIES, 8},
		{"GNTTAB_RESERVED_CONSOLE", GNTTAB_RESERVED_CONSOLE, 0},
		{"GNTTAB_RESERVED_XENSTORE", GNTTAB_RESERVED_XENSTORE, 1},
		{"MAX_GUEST_CMDLINE", MAX_GUEST_CMDLINE, 1024},
		{"XEN_LEGACY_MAX_VCPUS", XEN_LEGACY_MAX_VCPUS, 32},
		{"XENPF_INTERFACE_VERSION", XENPF_INTERFACE_VERSION, 0x03000001},
		{"XENFEAT_writable_page_tables", XENFEAT_writable_page_tables, 0},
		{"XENFEAT_auto_translated_physmap", XENFEAT_auto_translated_physmap, 2},
		{"XENFEAT_mmu_pt_update_preserve_ad", XENFEAT_mmu_pt_update_preserve_ad, 5},
		{"XENFEAT_gnttab_map_avail_bits", XENFEAT_gnttab_map_avail_bits, 7},
		{"XENFEAT_dom0", XENFEAT_dom0, 11},
		{"XEN_ELFNOTE_INFO", XEN_ELFNOTE_INFO, 0},
		{"XEN_ELFNOTE_ENTRY", XEN_ELFNOTE_ENTRY, 1},
		{"XEN_ELFNOTE_HYPERCALL_PAGE", XEN_ELFNOTE_HYPERCALL_PAGE, 2},
		{"XEN_ELFNOTE_VIRT_BASE", XEN_ELFNOTE_VIRT_BASE, 3},
		{"XEN_ELFNOTE_PADDR_OFFSET", XEN_ELFNOTE_PADDR_OFFSET, 4},
		{"XEN_ELFNOTE_XEN_VERSION", XEN_ELFNOTE_XEN_VERSION, 5},
		{"XEN_ELFNOTE_FEATURES", XEN_ELFNOTE_FEATURES, 10},
		{"XEN_ELFNOTE_INIT_P2M", XEN_ELFNOTE_INIT_P2M, 15},
		{"XEN_ELFNOTE_MOD_START_PFN", XEN_ELFNOTE_MOD_START_PFN, 16},
		{"XEN_ELFNOTE_SUPPORTED_FEATURES", XEN_ELFNOTE_SUPPORTED_FEATURES, 17},
		{"XEN_ELFNOTE_PHYS32_ENTRY", XEN_ELFNOTE_PHYS32_ENTRY, 18},
		{"EVTCHNOP_send", EVTCHNOP_send, 4},
		{"EVTCHNOP_alloc_unbound", EVTCHNOP_alloc_unbound, 6},
		{"EVTCHNOP_init_control", EVTCHNOP_init_control, 11},
		{"GNTTABOP_map_grant_ref", GNTTABOP_map_grant_ref, 0},
		{"GNTTABOP_unmap_grant_ref", GNTTABOP_unmap_grant_ref, 1},
		{"GNTTABOP_setup_table", GNTTABOP_setup_table, 2},
		{"GNTTABOP_copy", GNTTABOP_copy, 5},
		{"GNTTABOP_query_size", GNTTABOP_query_size, 6},
		{"SIF_MOD_START_PFN", SIF_MOD_START_PFN, 8},
		{"SIF_INITDOMAIN", SIF_INITDOMAIN, 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// TestBitNumbers checks the _bit rule: each FOO_bit is the bit number of
// the mask FOO.
func TestBitNumbers(t *testing.T) {
	tests := []struct {
		name      string
		bit, mask uint64
	}{
		{"GTF_reading", GTF_reading_bit, GTF_reading},
		{"GTF_writing", GTF_writing_bit, GTF_writing},
		{"GTF_readonly", GTF_readonly_bit, GTF_readonly},
		{"GNTMAP_host_map", GNTMAP_host_map_bit, GNTMAP_host_map},
		{"GNTMAP_readonly", GNTMAP_readonly_bit, GNTMAP_readonly},
		{"GNTCOPY_source_gref", GNTCOPY_source_gref_bit, GNTCOPY_source_gref},
		{"VGCF_in_kernel", VGCF_in_kernel_bit, VGCF_in_kernel},
		{"VGCF_in_syscall", VGCF_in_syscall_bit, VGCF_in_syscall},
		{"CALLBACKF_mask_events", CALLBACKF_mask_events_bit, CALLBACKF_mask_events},
	}
	for _, tt := range tests {
		if 1<<tt.bit != tt.mask {
			t.Errorf("%s: 1<<%s_bit = %#x, want %#x", tt.name, tt.name, uint64(1)<<tt.bit, tt.mask)
		}
	}
}

func TestGrantStatusValues(t *testing.T) {
	// GNTST_* are negative int16 status codes, distinct from Errno.
	var s int16 = GNTST_okay
	if s != 0 || GNTST_general_error != -1 || GNTST_bad_domain != -2 || GNTST_eagain != -12 || GNTST_no_space != -13 {
		t.Errorf("GNTST values: okay %d general_error %d bad_domain %d eagain %d no_space %d",
			GNTST_okay, GNTST_general_error, GNTST_bad_domain, GNTST_eagain, GNTST_no_space)
	}
}
