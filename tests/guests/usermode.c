/*
 * usermode: guest user mode (public/arch-x86/xen-x86_64.h,
 * public/callback.h).
 *  - stack_switch gives the kernel stack for bounces from user mode;
 *    MMUEXT_NEW_USER_BASEPTR sets the user L4 (here the kernel's own, as
 *    XTF does);
 *  - HYPERVISOR_iret with CS RPL 3 enters user mode;
 *  - `syscall` in user mode is not a hypercall: with rax = 17 it bounces to
 *    the CALLBACKTYPE_syscall callback (events masked by CALLBACKF_mask_events),
 *    frame CS RPL 3, rip after the syscall, rax still 17;
 *  - `int $0x80` through a DPL 3 trap-table entry comes back to the kernel
 *    (0x80 rather than XTF's 0x20: Xen's own gate for 0x80 has DPL 3, while
 *    `int $0x20` reaches Xen as #GP and QEMU 7.2's TCG reports that #GP with
 *    error code vector*16+2 instead of vector*8+2, so Xen would look up
 *    vector 0x40);
 *  - a user-mode #PF carries the U bit (4) and CR2, and its frame the
 *    user's rcx, r11 and rflags (IF set: events were unmasked), the saved
 *    upcall mask 0 in cs bits 39:32, and ss; the trap table's interrupt
 *    flag (lib.c's TI) has events masked in the handler;
 *  - a user-mode write to the (read-only) L4 is not a page-table write to
 *    emulate (that is for kernel mode): a #PF with error code 7 (P, W, U);
 *  - with the user L4 set, a kernel-mode #PF still lands on the kernel's
 *    own stack below the interrupted rsp, cs RPL 0, U clear in the error
 *    code (0 for a read of an unmapped page, 3 for a write to the L4,
 *    which is no L1 for ptwr to emulate), CR2 in vcpu_info, rcx/r11 kept;
 *  - each bounce lands on the stack_switch stack, and hypercalls work again;
 *  - a later stack_switch moves the next bounce from user mode to the new
 *    stack (the first from a kernel whose last hypercalls were
 *    stack_switch and set_segment_base, which gohv serves without leaving
 *    its entry code), one with no room for a frame still answers 0, and
 *    set_segment_base gives -EINVAL for a non-canonical base or an
 *    unknown segment, 0 for FS, GS_USER and GS_KERNEL (their bases then
 *    read back through rdmsr).
 */
#include "lib.h"

const char test_name[] = "usermode";

/* u64 user_call(rip, rsp): iret to user mode at rip with stack rsp; returns
 * the vector of the bounce that brought the vCPU back (user_return). */
u64 user_call(u64 rip, u64 rsp);
void user_return(u64 vector) __attribute__((noreturn));
extern char user_syscall[], user_syscall_after[], user_int80[], user_int80_after[], user_pf[], user_pf_at[],
	user_ptwrite[];
extern char entry_syscall[];
/* Kernel-mode faults: kernel_pf reads at va with rcx 0x4444 and r11 0x5555
 * (faulting at kpf_at), kernel_ptwrite ORs 0 into the word at va (at kpw_at). */
void kernel_pf(u64 va);
void kernel_ptwrite(u64 va);
extern char kpf_at[], kpf_after[], kpw_at[], kpw_after[];

asm(".text\n"
    ".globl user_call, user_return, kernel_pf, kernel_ptwrite\n"
    "user_call:\n"
    "	pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "	movq %rsp, kernel_resume_rsp(%rip)\n"
    "	pushq $0xe02b\n"	/* ss: FLAT_USER_SS */
    "	pushq %rsi\n"		/* rsp */
    "	pushq $0x202\n"		/* rflags: IF */
    "	pushq $0xe033\n"	/* cs: FLAT_USER_CS, RPL 3 = user mode */
    "	pushq %rdi\n"		/* rip */
    "	pushq $0\n"		/* flags */
    "	jmp xen_iret\n"
    "user_return:\n"
    "	movq kernel_resume_rsp(%rip), %rsp\n"
    "	movq %rdi, %rax\n"
    "	popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
    "	ret\n"
    /* User-mode code. */
    "user_syscall:\n"
    "	movl $17, %eax\n"
    "	movq $0x5a5a5a5a, %rbx\n"
    "	syscall\n"
    "user_syscall_after:\n"
    "	ud2\n"
    "user_int80:\n"
    "	int $0x80\n"
    "user_int80_after:\n"
    "	ud2\n"
    "user_pf:\n"
    "	movq $0x1111, %rcx\n"
    "	movq $0x2222, %r11\n"
    "	movq $0x3333, %rbx\n"
    "user_pf_at:\n"
    "	movq 0x0000100000000040, %rax\n"
    "	ud2\n"
    "kernel_pf:\n"
    "	movq $0x4444, %rcx\n"
    "	movq $0x5555, %r11\n"
    "kpf_at:\n"
    "	movq (%rdi), %rax\n"
    "kpf_after:\n"
    "	ret\n"
    "kernel_ptwrite:\n"
    "kpw_at:\n"
    "	orq $0, (%rdi)\n"
    "kpw_after:\n"
    "	ret\n"
    "user_ptwrite:\n"
    "	movq user_l4(%rip), %rdi\n"
    "	orq $0, (%rdi)\n"
    "	ud2\n");

u64 kernel_resume_rsp;
u64 user_l4;	/* the L4's virtual address, for user_ptwrite */
static struct cpu_regs seen;
static u8 mask_inside;
static u8 user_stack[8192] __attribute__((aligned(16)));
static u8 kernel_stack[8192] __attribute__((aligned(16)));
static u8 kernel_stack2[4096] __attribute__((aligned(16)));

static u64 kpf_resume;	/* a kernel-mode #PF is expected: resume there */
static u64 frame_top;	/* where the bounce frame ended: rip's slot + 5 words */

static int hook(struct cpu_regs *r)
{
	if ((r->cs & 3) != 3) {
		if (r->vector != 14 || !kpf_resume)
			return 0;	/* only these bounces from kernel mode are expected */
		seen = *r;
		frame_top = (u64)&r->rip + 40;
		mask_inside = shared->vcpu_info[0].evtchn_upcall_mask;
		r->rip = kpf_resume;
		kpf_resume = 0;
		return 1;
	}
	seen = *r;
	frame_top = (u64)&r->rip + 40;
	mask_inside = shared->vcpu_info[0].evtchn_upcall_mask;
	user_return(r->vector);
}

static void expect(const char *what, u64 got_vec, u64 vec, u64 rip)
{
	u64 sp;
	asm volatile("movq %%rsp, %0" : "=r"(sp));
	check_eq(got_vec, vec, what);
	check((seen.cs & 3) == 3, "%s: frame cs %#lx, want RPL 3 (user)", what, seen.cs);
	check(seen.rip == rip, "%s: frame rip %#lx, want %#lx", what, seen.rip, rip);
	check(seen.rsp > (u64)user_stack && seen.rsp <= (u64)user_stack + sizeof(user_stack),
	      "%s: frame rsp %#lx not on the user stack", what, seen.rsp);
	check(hc_xen_version(XENVER_version, NULL) == 0x00040011, "%s: hypercall after return failed", what);
	printf("%s: vector %#lx rip %#lx cs %#lx rsp %#lx error %#lx\n", what, got_vec, seen.rip, seen.cs, seen.rsp,
	       seen.error_code);
}

void test_main(void)
{
	struct shared_info *s = map_shared_info();
	install_traps();
	trap_hook = hook;
	struct callback_register cb = { CALLBACKTYPE_syscall, CALLBACKF_mask_events, 0, (u64)entry_syscall };
	check_eq(hc_callback_op(CALLBACKOP_register, &cb), 0, "callback_op(register syscall)");
	struct callback_unregister un = { CALLBACKTYPE_syscall, 0 };
	check_eq(hc_callback_op(CALLBACKOP_unregister, &un), -XEN_EINVAL, "callback_op(unregister syscall)");
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, (u64)kernel_stack + sizeof(kernel_stack)), 0, "stack_switch");

	u64 l4 = virt_to_mfn((void *)start_info->pt_base);
	struct mmuext_op op = { MMUEXT_NEW_USER_BASEPTR, 0, l4, 0 };
	u32 done = 0;
	check_eq(hc_mmuext_op(&op, 1, &done, DOMID_SELF), 0, "mmuext_op(NEW_USER_BASEPTR)");
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	u64 top = (u64)user_stack + sizeof(user_stack);
	u64 v = user_call((u64)user_syscall, top);
	expect("user syscall", v, VEC_SYSCALL, (u64)user_syscall_after);
	check(seen.rax == 17, "user syscall: rax %#lx, want 17 (not a hypercall)", seen.rax);
	check(seen.rbx == 0x5a5a5a5a, "user syscall: rbx %#lx", seen.rbx);
	check(seen.rcx == (u64)user_syscall_after, "user syscall: rcx %#lx, want the return rip", seen.rcx);
	check(mask_inside == 1, "syscall callback with CALLBACKF_mask_events: upcall mask %u", mask_inside);
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	v = user_call((u64)user_int80, top);
	expect("user int $0x80", v, 0x80, (u64)user_int80_after);
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	s->vcpu_info[0].cr2 = 0;
	v = user_call((u64)user_pf, top);
	expect("user #PF", v, 14, (u64)user_pf_at);
	check(seen.error_code == 4, "user #PF: error code %#lx, want 4 (U, read, not present)", seen.error_code);
	check(s->vcpu_info[0].cr2 == 0x0000100000000040UL, "user #PF: cr2 %#lx", s->vcpu_info[0].cr2);
	check(seen.rcx == 0x1111 && seen.r11 == 0x2222 && seen.rbx == 0x3333, "user #PF: rcx %#lx r11 %#lx rbx %#lx",
	      seen.rcx, seen.r11, seen.rbx);
	check((seen.rflags & 0x200) != 0, "user #PF: frame rflags %#lx, want IF (events were unmasked)", seen.rflags);
	check((seen.cs >> 32) == 0 && (seen.cs & 0xffff) == 0xe033, "user #PF: frame cs %#lx, want 0xe033, mask 0", seen.cs);
	check(seen.ss == 0xe02b, "user #PF: frame ss %#lx", seen.ss);
	check(mask_inside == 1, "user #PF, interrupt flag set: upcall mask %u in the handler", mask_inside);
	check(frame_top == (u64)kernel_stack + sizeof(kernel_stack), "user #PF: frame ends at %#lx, want the stack_switch top %p",
	      frame_top, kernel_stack + sizeof(kernel_stack));
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	user_l4 = start_info->pt_base;
	s->vcpu_info[0].cr2 = 0;
	v = user_call((u64)user_ptwrite, top);
	expect("user write to the L4", v, 14, (u64)user_ptwrite + 7);
	check(seen.error_code == 7, "user write to the L4: error code %#lx, want 7 (P, W, U)", seen.error_code);
	check(s->vcpu_info[0].cr2 == user_l4, "user write to the L4: cr2 %#lx, want %#lx", s->vcpu_info[0].cr2, user_l4);
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	/* Kernel mode, the fast path's other case: a read of an unmapped page. */
	u64 here = 0;
	s->vcpu_info[0].cr2 = 0;
	kpf_resume = (u64)kpf_after;
	kernel_pf(0x0000100000000080UL);
	check(kpf_resume == 0, "kernel #PF: no bounce");
	check(seen.vector == 14 && seen.error_code == 0, "kernel #PF: vector %#lx error %#lx, want 14, 0", seen.vector,
	      seen.error_code);
	check(seen.rip == (u64)kpf_at && (seen.cs & 0xffff) == 0xe030 && (seen.cs >> 32) == 0,
	      "kernel #PF: frame rip %#lx cs %#lx, want %#lx, 0xe030 (RPL 0), mask 0", seen.rip, seen.cs, (u64)kpf_at);
	check(s->vcpu_info[0].cr2 == 0x0000100000000080UL, "kernel #PF: cr2 %#lx", s->vcpu_info[0].cr2);
	check(seen.rcx == 0x4444 && seen.r11 == 0x5555, "kernel #PF: rcx %#lx r11 %#lx", seen.rcx, seen.r11);
	check(seen.rsp < (u64)&here && (u64)&here - seen.rsp < 4096,
	      "kernel #PF: frame rsp %#lx, not the interrupted stack (near %p)", seen.rsp, &here);
	check((seen.rflags & 0x200) != 0 && mask_inside == 1, "kernel #PF: rflags %#lx, mask in the handler %u",
	      seen.rflags, mask_inside);
	check(frame_top == (seen.rsp & ~15UL), "kernel #PF: frame ends at %#lx, want the interrupted rsp %#lx aligned down",
	      frame_top, seen.rsp);
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	/* A kernel-mode write to the L4: no L1 for ptwr to emulate, so a #PF
	 * with P and W (the Go path's case). */
	s->vcpu_info[0].cr2 = 0;
	kpf_resume = (u64)kpw_after;
	kernel_ptwrite(user_l4);
	check(kpf_resume == 0, "kernel write to the L4: no bounce");
	check(seen.error_code == 3 && seen.rip == (u64)kpw_at, "kernel write to the L4: error %#lx rip %#lx, want 3, %#lx",
	      seen.error_code, seen.rip, (u64)kpw_at);
	check(s->vcpu_info[0].cr2 == user_l4, "kernel write to the L4: cr2 %#lx", s->vcpu_info[0].cr2);
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	/* A context switch's hypercalls: the kernel stack moves, the next
	 * bounce from user mode lands on the new one. */
	u64 top2 = (u64)kernel_stack2 + sizeof(kernel_stack2);
	for (int i = 0; i < 3; i++) {
		u64 ktop = i == 1 ? top2 : (u64)kernel_stack + sizeof(kernel_stack);
		u64 other = i == 1 ? (u64)kernel_stack + sizeof(kernel_stack) : top2;
		check_eq(hc_stack_switch(FLAT_KERNEL_SS, 0x20), 0, "stack_switch with no room for a frame");
		check_eq(hc_stack_switch(FLAT_KERNEL_SS, other), 0, "stack_switch");
		check_eq(hc_xen_version(XENVER_version, NULL), 0x00040011, "xen_version");
		/* The switch a kernel makes last before it returns to user mode. */
		check_eq(hc_stack_switch(FLAT_KERNEL_SS, ktop - 8), 0, "stack_switch");
		v = user_call((u64)user_syscall, top);
		expect("user syscall after stack_switch", v, VEC_SYSCALL, (u64)user_syscall_after);
		/* ktop - 8 aligned down to 16: the frame ends 16 bytes below ktop. */
		check(frame_top == ktop - 16, "user syscall: frame ends at %#lx, want %#lx (the stack_switch top, aligned)",
		      frame_top, ktop - 16);
		s->vcpu_info[0].evtchn_upcall_mask = 0;
	}
	printf("stack_switch: bounces follow the kernel stack (%#lx, %#lx)\n", (u64)kernel_stack + sizeof(kernel_stack), top2);

	/* set_segment_base's answers. */
	check_eq(hc_set_segment_base(SEGBASE_FS, 0x0000800000000000UL), -XEN_EINVAL, "set_segment_base(FS, non-canonical)");
	check_eq(hc_set_segment_base(SEGBASE_GS_KERNEL, 0xffff000000000000UL), -XEN_EINVAL,
		 "set_segment_base(GS_KERNEL, non-canonical)");
	check_eq(hc_set_segment_base(SEGBASE_GS_USER, 0x0000800000001000UL), -XEN_EINVAL,
		 "set_segment_base(GS_USER, non-canonical)");
	check_eq(hc_set_segment_base(4, 0), -XEN_EINVAL, "set_segment_base(4)");
	u64 kgs = rdmsr(MSR_GS_BASE);
	for (u64 i = 1; i <= 3; i++) {
		check_eq(hc_set_segment_base(SEGBASE_FS, 0x100000001000UL * i), 0, "set_segment_base(FS)");
		check_eq(hc_set_segment_base(SEGBASE_GS_USER, 0x200000002000UL * i), 0, "set_segment_base(GS_USER)");
		check_eq(hc_set_segment_base(SEGBASE_GS_KERNEL, 0xffff880000003000UL + i), 0, "set_segment_base(GS_KERNEL)");
		check_eq(rdmsr(MSR_FS_BASE), 0x100000001000UL * i, "FS base after set_segment_base(FS)");
		check_eq(rdmsr(MSR_SHADOW_GS_BASE), 0x200000002000UL * i, "user GS base after set_segment_base(GS_USER)");
		check_eq(rdmsr(MSR_GS_BASE), 0xffff880000003000UL + i, "GS base after set_segment_base(GS_KERNEL)");
	}
	check_eq(hc_set_segment_base(SEGBASE_GS_KERNEL, kgs), 0, "set_segment_base(GS_KERNEL) back");
	check_eq(hc_set_segment_base(SEGBASE_FS, 0), 0, "set_segment_base(FS, 0)");
}
