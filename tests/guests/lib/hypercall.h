/*
 * hypercall.h: hypercall wrappers. Two builds of each guest:
 *  - default: a bare `syscall` with rax = number (Debian Linux 6.1 and GRUB do this);
 *  - -DUSE_HYPERCALL_PAGE: `call hypercall_page + nr*32`, the page the domain
 *    builder fills because of the XEN_ELFNOTE_HYPERCALL_PAGE note (XTF, Mini-OS).
 * Arguments go in rdi, rsi, rdx, r10, r8; the result in rax; rcx and r11 are
 * clobbered, and the argument registers are treated as clobbered too (debug
 * Xen poisons them).
 */
#ifndef GUESTS_HYPERCALL_H
#define GUESTS_HYPERCALL_H
#include "xen.h"

#ifdef USE_HYPERCALL_PAGE
extern u8 hypercall_page[4096];
#define HCALL_INSN "call hypercall_page + %c[hnr] * 32"
#else
#define HCALL_INSN "syscall"
#endif

#define HYPERCALL5(nr, a1, a2, a3, a4, a5) ({				\
	register long __res asm("rax") = (nr);				\
	register unsigned long __a1 asm("rdi") = (unsigned long)(a1);	\
	register unsigned long __a2 asm("rsi") = (unsigned long)(a2);	\
	register unsigned long __a3 asm("rdx") = (unsigned long)(a3);	\
	register unsigned long __a4 asm("r10") = (unsigned long)(a4);	\
	register unsigned long __a5 asm("r8") = (unsigned long)(a5);	\
	asm volatile(HCALL_INSN						\
		: "+r"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3),	\
		  "+r"(__a4), "+r"(__a5)				\
		: [hnr] "i"(nr)						\
		: "rcx", "r11", "memory");				\
	__res;								\
})
#define HYPERCALL0(nr) HYPERCALL5(nr, 0, 0, 0, 0, 0)
#define HYPERCALL1(nr, a1) HYPERCALL5(nr, a1, 0, 0, 0, 0)
#define HYPERCALL2(nr, a1, a2) HYPERCALL5(nr, a1, a2, 0, 0, 0)
#define HYPERCALL3(nr, a1, a2, a3) HYPERCALL5(nr, a1, a2, a3, 0, 0)
#define HYPERCALL4(nr, a1, a2, a3, a4) HYPERCALL5(nr, a1, a2, a3, a4, 0)

static inline long hc_console_io(u32 cmd, u32 count, const void *buf)
{ return HYPERCALL3(__HYPERVISOR_console_io, cmd, count, buf); }
static inline long hc_xen_version(int cmd, void *arg)
{ return HYPERCALL2(__HYPERVISOR_xen_version, cmd, arg); }
static inline long hc_sched_op(int cmd, void *arg)
{ return HYPERCALL2(__HYPERVISOR_sched_op, cmd, arg); }
static inline long hc_set_trap_table(const struct trap_info *t)
{ return HYPERCALL1(__HYPERVISOR_set_trap_table, t); }
static inline long hc_callback_op(int cmd, const void *arg)
{ return HYPERCALL2(__HYPERVISOR_callback_op, cmd, arg); }
static inline long hc_event_channel_op(int cmd, void *arg)
{ return HYPERCALL2(__HYPERVISOR_event_channel_op, cmd, arg); }
static inline long hc_update_va_mapping(u64 va, u64 pte, u64 flags)
{ return HYPERCALL3(__HYPERVISOR_update_va_mapping, va, pte, flags); }
static inline long hc_mmu_update(struct mmu_update *req, u32 count, u32 *done, u32 dom)
{ return HYPERCALL4(__HYPERVISOR_mmu_update, req, count, done, dom); }
static inline long hc_mmuext_op(struct mmuext_op *op, u32 count, u32 *done, u32 dom)
{ return HYPERCALL4(__HYPERVISOR_mmuext_op, op, count, done, dom); }
static inline long hc_set_timer_op(u64 abs_ns)
{ return HYPERCALL1(__HYPERVISOR_set_timer_op, abs_ns); }
static inline long hc_grant_table_op(u32 cmd, void *arg, u32 count)
{ return HYPERCALL3(__HYPERVISOR_grant_table_op, cmd, arg, count); }
static inline long hc_stack_switch(u64 ss, u64 sp)
{ return HYPERCALL2(__HYPERVISOR_stack_switch, ss, sp); }
static inline long hc_set_segment_base(u32 which, u64 base)
{ return HYPERCALL2(__HYPERVISOR_set_segment_base, which, base); }
static inline long hc_vcpu_op(int cmd, unsigned vcpu, void *arg)
{ return HYPERCALL3(__HYPERVISOR_vcpu_op, cmd, vcpu, arg); }

#endif
