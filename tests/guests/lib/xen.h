/*
 * xen.h: the slice of Xen 4.17's public x86-64 PV ABI the test guests use.
 * Project-written; every number was checked against the libxen-dev 4.17
 * headers in /usr/include/xen (xen/xen.h, xen/arch-x86/xen-x86_64.h).
 */
#ifndef GUESTS_XEN_H
#define GUESTS_XEN_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef signed short s16;
typedef signed int s32;
typedef signed long s64;

#define PAGE_SIZE 4096UL

/* Hypercall numbers (xen.h). */
#define __HYPERVISOR_set_trap_table      0
#define __HYPERVISOR_mmu_update          1
#define __HYPERVISOR_set_gdt             2
#define __HYPERVISOR_stack_switch        3
#define __HYPERVISOR_set_callbacks       4
#define __HYPERVISOR_set_debugreg        8
#define __HYPERVISOR_get_debugreg        9
#define __HYPERVISOR_multicall          13
#define __HYPERVISOR_update_va_mapping  14
#define __HYPERVISOR_set_timer_op       15
#define __HYPERVISOR_xen_version        17
#define __HYPERVISOR_console_io         18
#define __HYPERVISOR_grant_table_op     20
#define __HYPERVISOR_vm_assist          21
#define __HYPERVISOR_iret               23
#define __HYPERVISOR_vcpu_op            24
#define __HYPERVISOR_set_segment_base   25
#define __HYPERVISOR_mmuext_op          26
#define __HYPERVISOR_sched_op           29
#define __HYPERVISOR_callback_op        30
#define __HYPERVISOR_event_channel_op   32
#define __HYPERVISOR_physdev_op         33

/* errno.h */
#define XEN_EPERM    1
#define XEN_ENOENT   2
#define XEN_ESRCH    3
#define XEN_EFAULT  14
#define XEN_EBUSY   16
#define XEN_EEXIST  17
#define XEN_EINVAL  22
#define XEN_ERANGE  34
#define XEN_ENOSYS  38
#define XEN_EOPNOTSUPP 95

/* set_segment_base's segments (arch-x86/xen-x86_64.h). */
#define SEGBASE_FS          0
#define SEGBASE_GS_USER     1
#define SEGBASE_GS_KERNEL   2
#define SEGBASE_GS_USER_SEL 3

/* Flat selectors (arch-x86/xen-x86_64.h). */
#define FLAT_KERNEL_CS  0xe033
#define FLAT_KERNEL_SS  0xe02b
#define FLAT_USER_CS    0xe033
#define FLAT_USER_SS    0xe02b
#define HYPERVISOR_VIRT_START 0xffff800000000000UL
#define VGCF_in_syscall (1UL << 8)

/* console_io */
#define CONSOLEIO_write 0
#define CONSOLEIO_read  1

/* sched_op */
#define SCHEDOP_yield    0
#define SCHEDOP_block    1
#define SCHEDOP_shutdown 2
#define SCHEDOP_poll     3
#define SHUTDOWN_poweroff 0
#define SHUTDOWN_crash    3
struct sched_shutdown { u32 reason; };
struct sched_poll { u32 *ports; u32 nr_ports; u32 pad; u64 timeout; };

/* xen_version */
#define XENVER_version             0
#define XENVER_extraversion        1
#define XENVER_compile_info        2
#define XENVER_capabilities        3
#define XENVER_changeset           4
#define XENVER_platform_parameters 5
#define XENVER_get_features        6
#define XENVER_pagesize            7
#define XENVER_guest_handle        8
#define XENVER_commandline         9
#define XENVER_build_id           10
struct xen_compile_info {
	char compiler[64];
	char compile_by[16];
	char compile_domain[32];
	char compile_date[32];
};
struct xen_feature_info { u32 submap_idx; u32 submap; };
#define XENFEAT_writable_page_tables       0
#define XENFEAT_auto_translated_physmap    2
#define XENFEAT_supervisor_mode_kernel     3
#define XENFEAT_mmu_pt_update_preserve_ad  5
#define XENFEAT_gnttab_map_avail_bits      7
#define XENFEAT_dom0                      11

/* start_info (xen.h), 1168 bytes. */
struct start_info {
	char magic[32];
	u64 nr_pages;
	u64 shared_info;	/* machine address */
	u32 flags;
	u32 pad0;
	u64 store_mfn;
	u32 store_evtchn;
	u32 pad1;
	union {
		struct { u64 mfn; u32 evtchn; u32 pad; } domU;
		struct { u32 info_off; u32 info_size; } dom0;
		u8 raw[16];
	} console;
	u64 pt_base;		/* VA of the bootstrap L4 */
	u64 nr_pt_frames;
	u64 mfn_list;		/* VA of the P2M */
	u64 mod_start;
	u64 mod_len;
	char cmd_line[1024];
	u64 first_p2m_pfn;
	u64 nr_p2m_frames;
};
#define SIF_PRIVILEGED (1U << 0)
#define SIF_INITDOMAIN (1U << 1)

/* shared_info / vcpu_info (xen.h, arch-x86/xen-x86_64.h). */
struct vcpu_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	signed char tsc_shift;
	u8 flags;
	u8 pad1[2];
};
struct vcpu_info {
	u8 evtchn_upcall_pending;
	u8 evtchn_upcall_mask;
	u8 pad[6];
	u64 evtchn_pending_sel;
	u64 cr2;		/* arch.cr2 */
	u64 arch_pad;
	struct vcpu_time_info time;
};
struct shared_info {
	struct vcpu_info vcpu_info[32];
	u64 evtchn_pending[64];
	u64 evtchn_mask[64];
	u32 wc_version, wc_sec, wc_nsec, wc_sec_hi;
	u64 arch[6];
};

/* Trap table (arch-x86/xen.h). */
struct trap_info {
	u8 vector;
	u8 flags;		/* bits 1:0 DPL, bit 2 mask events */
	u16 cs;
	u32 pad;
	u64 address;
};

/* vCPU bring-up, runstates and SMP event channels and flushes (vcpu.h,
 * event_channel.h, xen.h). */
#define VCPUOP_initialise 0
#define VCPUOP_up 1
#define VCPUOP_down 2
#define VCPUOP_is_up 3
#define VCPUOP_get_runstate_info 4
#define VCPUOP_register_vcpu_info 10
#define VCPUOP_set_periodic_timer 6
#define VCPUOP_stop_periodic_timer 7
#define VCPUOP_set_singleshot_timer 8
#define VCPUOP_stop_singleshot_timer 9
struct vcpu_set_singleshot_timer {
	u64 timeout_abs_ns;
	u32 flags;
};
#define VGCF_in_kernel (1UL << 2)
#define RUNSTATE_running 0
#define RUNSTATE_blocked 2
#define RUNSTATE_offline 3
#define EVTCHNOP_bind_ipi 7
#define EVTCHNOP_bind_vcpu 8
#define MMUEXT_TLB_FLUSH_MULTI 8
#define MMUEXT_INVLPG_MULTI 9
#define MMUEXT_TLB_FLUSH_ALL 10
#define MMUEXT_INVLPG_ALL 11

/* struct cpu_user_regs and vcpu_guest_context (arch-x86/xen-x86_64.h, arch-x86/xen.h). */
struct cpu_user_regs {
	u64 r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi;
	u32 error_code, entry_vector;
	u64 rip;
	u16 cs, pad0;
	u8 saved_upcall_mask, pad1[3];
	u64 rflags, rsp;
	u16 ss, pad2[3], es, pad3[3], ds, pad4[3], fs, pad5[3], gs, pad6[3];
};
struct vcpu_guest_context {
	u8 fpu_ctxt[512];
	u64 flags;
	struct cpu_user_regs user_regs;
	struct trap_info trap_ctxt[256];
	u64 ldt_base, ldt_ents;
	u64 gdt_frames[16];
	u64 gdt_ents;
	u64 kernel_ss, kernel_sp;
	u64 ctrlreg[8];
	u64 debugreg[8];
	u64 event_callback_eip, failsafe_callback_eip, syscall_callback_eip;
	u64 vm_assist;
	u64 fs_base, gs_base_kernel, gs_base_user;
};
_Static_assert(sizeof(struct cpu_user_regs) == 200, "cpu_user_regs");
_Static_assert(sizeof(struct vcpu_guest_context) == 5168, "vcpu_guest_context");
struct vcpu_runstate_info {
	int state;
	u64 state_entry_time;
	u64 time[4];
};
struct vcpu_register_vcpu_info { u64 mfn; u32 offset; u32 rsvd; };
struct evtchn_bind_ipi { u32 vcpu; u32 port; };
struct evtchn_bind_vcpu { u32 port; u32 vcpu; };

/* callback_op (callback.h). */
#define CALLBACKOP_register   0
#define CALLBACKOP_unregister 1
#define CALLBACKTYPE_event    0
#define CALLBACKTYPE_failsafe 1
#define CALLBACKTYPE_syscall  2
#define CALLBACKTYPE_syscall32 7
#define CALLBACKF_mask_events 1
struct callback_register { u16 type; u16 flags; u32 pad; u64 address; };
struct callback_unregister { u16 type; u16 pad; };

/* event_channel_op (event_channel.h). */
#define DOMID_SELF 0x7ff0
#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq        1
#define EVTCHNOP_close            3
#define EVTCHNOP_send             4
#define EVTCHNOP_status           5
#define EVTCHNOP_alloc_unbound    6
#define EVTCHNOP_unmask           9
#define EVTCHNOP_reset            10
#define EVTCHNOP_init_control     11
#define EVTCHNOP_expand_array     12
#define EVTCHNOP_set_priority     13
#define VIRQ_TIMER 0
struct evtchn_alloc_unbound { u16 dom, remote_dom; u32 port; };
struct evtchn_bind_interdomain { u16 remote_dom; u16 pad; u32 remote_port; u32 local_port; };
struct evtchn_bind_virq { u32 virq; u32 vcpu; u32 port; };
struct evtchn_port { u32 port; };
struct evtchn_status { u16 dom; u16 pad; u32 port; u32 status; u32 vcpu; u64 u; };
struct evtchn_reset { u16 dom; };
/* FIFO ABI: event word bits, control block, priorities. */
struct evtchn_init_control { u64 control_gfn; u32 offset; u32 vcpu; u8 link_bits; u8 pad[7]; };
struct evtchn_expand_array { u64 array_gfn; };
struct evtchn_set_priority { u32 port; u32 priority; };
struct evtchn_fifo_control_block { u32 ready; u32 rsvd; u32 head[16]; };
#define EVTCHN_FIFO_PENDING 31
#define EVTCHN_FIFO_MASKED  30
#define EVTCHN_FIFO_LINKED  29
#define EVTCHN_FIFO_BUSY    28
#define EVTCHN_FIFO_LINK_MASK 0x1ffffu
#define EVTCHN_FIFO_LINK_BITS 17
#define EVTCHN_FIFO_PRIORITY_DEFAULT 7

/* update_va_mapping / mmu_update / mmuext_op (xen.h). */
#define UVMF_NONE      0
#define UVMF_TLB_FLUSH 1
#define UVMF_INVLPG    2
#define UVMF_LOCAL     0
#define MMU_NORMAL_PT_UPDATE 0
#define MMU_MACHPHYS_UPDATE  1
#define MMUEXT_PIN_L1_TABLE  0
#define MMUEXT_PIN_L2_TABLE  1
#define MMUEXT_PIN_L3_TABLE  2
#define MMUEXT_PIN_L4_TABLE  3
#define MMUEXT_UNPIN_TABLE   4
#define MMUEXT_NEW_BASEPTR   5
#define MMUEXT_TLB_FLUSH_LOCAL 6
#define MMUEXT_INVLPG_LOCAL  7
#define MMUEXT_NEW_USER_BASEPTR 15
struct mmu_update { u64 ptr, val; };
struct mmuext_op { u32 cmd; u32 pad; u64 arg1; u64 arg2; };
#define _PAGE_PRESENT 0x001UL
#define _PAGE_RW      0x002UL
#define _PAGE_USER    0x004UL
#define _PAGE_ACCESSED 0x020UL
#define _PAGE_DIRTY   0x040UL
#define _PAGE_PSE     0x080UL

/* grant_table_op (grant_table.h). */
#define GNTTABOP_map_grant_ref   0
#define GNTTABOP_unmap_grant_ref 1
#define GNTTABOP_setup_table     2
#define GNTTABOP_copy            5
#define GNTTABOP_query_size      6
#define GNTTABOP_set_version     8
#define GNTTABOP_get_status_frames 9
#define GNTTABOP_get_version     10
#define GTF_permit_access 1
#define GTF_transitive    3
#define GTF_readonly      (1U << 2)
#define GTF_reading       (1U << 3)
#define GTF_writing       (1U << 4)
#define GTF_sub_page      (1U << 8)
#define GNTCOPY_source_gref (1U << 0)
#define GNTCOPY_dest_gref   (1U << 1)
struct gnttab_setup_table { u16 dom; u16 pad; u32 nr_frames; s16 status; u16 pad2[3]; u64 *frame_list; };
struct gnttab_query_size { u16 dom; u16 pad; u32 nr_frames; u32 max_nr_frames; s16 status; u16 pad2; };
struct grant_entry_v1 { u16 flags; u16 domid; u32 frame; };
/* grant_entry_v2: header, then full_page {pad, frame} or sub_page {page_off, length, frame}. */
struct grant_entry_v2 { u16 flags; u16 domid; u16 page_off; u16 length; u64 frame; };
struct gnttab_set_version { u32 version; };
struct gnttab_get_version { u16 dom; u16 pad; u32 version; };
struct gnttab_get_status_frames { u32 nr_frames; u16 dom; s16 status; u64 *frame_list; };
struct gnttab_copy_ptr { union { u32 ref; u64 gmfn; } u; u16 domid; u16 offset; u32 pad; };
struct gnttab_copy {
	struct gnttab_copy_ptr source, dest;
	u16 len;
	u16 flags;
	s16 status;
	u16 pad;
};

#endif
