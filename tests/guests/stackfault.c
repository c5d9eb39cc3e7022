/*
 * stackfault: non-canonical stack pointers and instruction pointers a PV
 * guest can produce, where Xen 4.17 answers with a fault the guest
 * kernel can handle (public/arch-x86/xen-x86_64.h's iret, callback.h's
 * syscall callback; Xen's x86_64/entry.S restore path and pv/iret.c):
 *  - HYPERVISOR_iret to user mode with a non-canonical RSP, by the iret
 *    path and (VGCF_in_syscall) the SYSRET path: the user's ud2 bounces
 *    #UD to the kernel stack (stack_switch), the frame's RSP is the
 *    non-canonical one; the user's first push faults (#SS(0) on hardware,
 *    #GP(0) where the CPU model reports a non-canonical stack access so)
 *    at the push;
 *  - user code that loads a non-canonical RSP itself and then makes a
 *    `syscall` (syscall callback), an `int $0x80` (DPL 3 trap-table
 *    entry), a ud2 (#UD) or is interrupted by an event upcall (VIRQ_TIMER):
 *    each lands on the kernel stack with the frame's RSP non-canonical;
 *  - a guest kernel push on RSP (1 << 63) | a: Xen 4.17 clears bit 63 of the
 *    bounce's stack top below HYPERVISOR_VIRT_END (its speculative-access
 *    hardening, guest_access_mask_ptr), so the stack fault's frame lands
 *    at a; the frame's RSP is the non-canonical value; a stack_switch
 *    stack (1 << 63) | a takes a user-mode bounce at a the same way;
 *  - HYPERVISOR_iret to a non-canonical RIP, in user mode (iret and
 *    VGCF_in_syscall) and in kernel mode: #GP(0) with the frame's RIP the
 *    non-canonical one, CS RPL 3 or 0;
 *  - after each, hypercalls work and the kernel stack is the stack_switch one.
 * The cases where Xen crashes the domain instead are stackcrash's.
 */
#include "lib.h"

const char test_name[] = "stackfault";

/* Non-canonical values: bit 47 set, 63:48 clear (and one with 63:48 set,
 * bit 47 clear). */
#define NC_A 0x0000800000001000UL
#define NC_B 0xdead00000000c0deUL

/* The frame iret_call hands to HYPERVISOR_iret (iret_context without the
 * registers it pushes itself). */
struct iret_frame {
	u64 flags, rip, cs, rflags, rsp, ss;
};

/* u64 iret_call(const struct iret_frame *f, u64 rdi): HYPERVISOR_iret
 * with f, rdi reaching the code there; returns the vector of the bounce
 * that came back (bounce_return). */
u64 iret_call(const struct iret_frame *f, u64 rdi);
/* u64 kernel_push_call(u64 rsp): a push in kernel mode on rsp; returns as
 * iret_call. */
u64 kernel_push_call(u64 rsp);
void bounce_return(u64 vector) __attribute__((noreturn));
extern char k_push[], u_ud2[], u_push[], u_nc_syscall[], u_nc_syscall_after[], u_nc_int80[], u_nc_int80_after[],
	u_nc_ud2[], u_nc_spin[];
extern char entry_syscall[];

asm(".text\n"
    ".globl iret_call, bounce_return, kernel_push_call\n"
    "iret_call:\n"
    "	pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "	movq %rsp, resume_rsp(%rip)\n"
    "	pushq 40(%rdi)\n"	/* ss */
    "	pushq 32(%rdi)\n"	/* rsp */
    "	pushq 24(%rdi)\n"	/* rflags */
    "	pushq 16(%rdi)\n"	/* cs */
    "	pushq 8(%rdi)\n"	/* rip */
    "	pushq 0(%rdi)\n"	/* flags */
    "	movq %rsi, %rdi\n"	/* the iret restores rax, r11 and rcx only */
    "	jmp xen_iret\n"
    "kernel_push_call:\n"
    "	pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "	movq %rsp, resume_rsp(%rip)\n"
    "	movq %rdi, %rsp\n"
    "k_push:\n"
    "	pushq $0\n"
    "	ud2\n"
    "bounce_return:\n"
    "	movq resume_rsp(%rip), %rsp\n"
    "	movq %rdi, %rax\n"
    "	popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
    "	ret\n"
    /* User-mode code. */
    "u_ud2:\n"
    "	ud2\n"
    "u_push:\n"
    "	pushq $0\n"
    "	ud2\n"
    "u_nc_syscall:\n"
    "	movq %rdi, %rsp\n"
    "	syscall\n"
    "u_nc_syscall_after:\n"
    "	ud2\n"
    "u_nc_int80:\n"
    "	movq %rdi, %rsp\n"
    "	int $0x80\n"
    "u_nc_int80_after:\n"
    "	ud2\n"
    "u_nc_ud2:\n"
    "	movq %rdi, %rsp\n"
    "	ud2\n"
    "u_nc_spin:\n"
    "	movq %rdi, %rsp\n"
    "1:	jmp 1b\n");

u64 resume_rsp;
static struct cpu_regs seen;
static u64 seen_sp;	/* the handler's stack pointer */
static struct shared_info *s;
static u32 timer_port;
static u8 user_stack[8192] __attribute__((aligned(16)));
static u8 kernel_stack[8192] __attribute__((aligned(16)));
static u8 kernel_stack2[8192] __attribute__((aligned(16)));
static u8 high_stack[8192] __attribute__((aligned(16)));

static volatile int want_event;

/* Records the bounce and goes back to iret_call's caller. An event
 * upcall is consumed; unless it is the one awaited (user code on NC_B) it
 * returns to where it came (a tick before the user code loaded its RSP). */
static int hook(struct cpu_regs *r)
{
	if (r->vector == VEC_EVENT) {
		struct vcpu_info *v = &s->vcpu_info[0];
		v->evtchn_upcall_pending = 0;
		__atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
		__atomic_fetch_and(&s->evtchn_pending[timer_port / 64], ~(1UL << (timer_port % 64)), __ATOMIC_SEQ_CST);
		if (!want_event || r->rsp != NC_B)
			return 1;
	}
	seen = *r;
	asm volatile("movq %%rsp, %0" : "=r"(seen_sp));
	bounce_return(r->vector);
}

static int on(const u8 *stack, u64 sp)
{
	return sp > (u64)stack && sp <= (u64)stack + 8192;
}

/* One bounce came back: vector, frame RIP, CS RPL and RSP as wanted, the
 * handler ran on the kernel stack, and hypercalls still work. */
static void expect(const char *what, u64 got, u64 vec, u64 rip, unsigned rpl, u64 rsp, const u8 *stack)
{
	check(got == vec, "%s: vector %#lx, want %#lx", what, got, vec);
	check(seen.rip == rip, "%s: frame rip %#lx, want %#lx", what, seen.rip, rip);
	check((seen.cs & 3) == rpl, "%s: frame cs %#lx, want RPL %u", what, seen.cs, rpl);
	check(seen.rsp == rsp, "%s: frame rsp %#lx, want %#lx", what, seen.rsp, rsp);
	check(on(stack, seen_sp), "%s: handler ran on %#lx, not on its kernel stack", what, seen_sp);
	check(hc_xen_version(XENVER_version, NULL) == 0x00040011, "%s: hypercall after the bounce failed", what);
	printf("%s: vector %#lx error %#lx rip %#lx cs %#lx rsp %#lx\n", what, got, seen.error_code, seen.rip, seen.cs,
	       seen.rsp);
	s->vcpu_info[0].evtchn_upcall_mask = 1;
}

static u64 user_iret(u64 flags, u64 rip, u64 rsp, u64 rdi)
{
	struct iret_frame f = { flags, rip, FLAT_USER_CS, 0x202, rsp, FLAT_USER_SS };
	return iret_call(&f, rdi);
}

void test_main(void)
{
	s = map_shared_info();
	install_traps();
	trap_hook = hook;
	register_event_callback();
	struct callback_register cb = { CALLBACKTYPE_syscall, CALLBACKF_mask_events, 0, (u64)entry_syscall };
	check_eq(hc_callback_op(CALLBACKOP_register, &cb), 0, "callback_op(register syscall)");
	u64 ktop = (u64)kernel_stack + sizeof(kernel_stack);
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, ktop), 0, "stack_switch");
	u64 l4 = virt_to_mfn((void *)start_info->pt_base);
	struct mmuext_op op = { MMUEXT_NEW_USER_BASEPTR, 0, l4, 0 };
	u32 done = 0;
	check_eq(hc_mmuext_op(&op, 1, &done, DOMID_SELF), 0, "mmuext_op(NEW_USER_BASEPTR)");
	u64 utop = (u64)user_stack + sizeof(user_stack);
	u64 v;

	/* iret (both paths) to user mode with a non-canonical RSP. */
	v = user_iret(0, (u64)u_ud2, NC_A, 0);
	expect("iret to user, rsp NC_A, ud2", v, 6, (u64)u_ud2, 3, NC_A, kernel_stack);
	v = user_iret(VGCF_in_syscall, (u64)u_ud2, NC_B, 0);
	expect("iret in_syscall to user, rsp NC_B, ud2", v, 6, (u64)u_ud2, 3, NC_B, kernel_stack);
	v = user_iret(0, (u64)u_push, NC_A, 0);
	check(v == 12 || v == 13, "iret to user, rsp NC_A, push: vector %#lx, want #SS or #GP", v);
	check(seen.error_code == 0, "push with rsp NC_A: error code %#lx, want 0", seen.error_code);
	expect(v == 12 ? "push with rsp NC_A: #SS" : "push with rsp NC_A: #GP", v, v, (u64)u_push, 3, NC_A,
	       kernel_stack);

	/* User code loads the non-canonical RSP itself. */
	v = user_iret(0, (u64)u_nc_syscall, utop, NC_A);
	expect("user rsp NC_A, syscall", v, VEC_SYSCALL, (u64)u_nc_syscall_after, 3, NC_A, kernel_stack);
	v = user_iret(0, (u64)u_nc_int80, utop, NC_B);
	expect("user rsp NC_B, int $0x80", v, 0x80, (u64)u_nc_int80_after, 3, NC_B, kernel_stack);
	v = user_iret(0, (u64)u_nc_ud2, utop, NC_A);
	expect("user rsp NC_A, ud2", v, 6, (u64)u_nc_ud2 + 3, 3, NC_A, kernel_stack);

	/* An event upcall interrupts user code spinning on a non-canonical RSP. */
	struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_virq, &bv), 0, "bind_virq(TIMER)");
	timer_port = bv.port;
	__atomic_fetch_and(&s->evtchn_mask[timer_port / 64], ~(1UL << (timer_port % 64)), __ATOMIC_SEQ_CST);
	check_eq(hc_set_timer_op(now_ns() + 1000000), 0, "set_timer_op(now+1ms)");
	want_event = 1;
	v = user_iret(0, (u64)u_nc_spin, utop, NC_B);
	want_event = 0;
	check(seen.rip == (u64)u_nc_spin + 3, "event: frame rip %#lx, want the spin loop %#lx", seen.rip,
	      (u64)u_nc_spin + 3);
	expect("user rsp NC_B, event upcall", v, VEC_EVENT, seen.rip, 3, NC_B, kernel_stack);
	__atomic_fetch_or(&s->evtchn_mask[timer_port / 64], 1UL << (timer_port % 64), __ATOMIC_SEQ_CST);

	/* A kernel-mode stack fault on a non-canonical RSP with bit 63 set and
	 * bits 62:47 clear: Xen 4.17 masks the bounce's stack top (bit 63
	 * cleared below HYPERVISOR_VIRT_END: guest_access_mask_ptr), so the
	 * frame lands on the lower-half alias, high_stack, and the frame's RSP
	 * is the non-canonical one. */
	u64 hi = (1UL << 63) | ((u64)high_stack + sizeof(high_stack));
	v = kernel_push_call(hi);
	check(v == 12 || v == 13, "kernel push, rsp %#lx: vector %#lx, want #SS or #GP", hi, v);
	check(seen.error_code == 0, "kernel push with rsp bit 63: error code %#lx, want 0", seen.error_code);
	expect(v == 12 ? "kernel push with rsp bit 63: #SS" : "kernel push with rsp bit 63: #GP", v, v, (u64)k_push, 0,
	       hi, high_stack);

	/* The same mask on the stack_switch stack of a bounce from user mode. */
	u64 k2top = (u64)kernel_stack2 + sizeof(kernel_stack2);
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, (1UL << 63) | k2top), 0, "stack_switch(bit 63 | kernel_stack2)");
	v = user_iret(0, (u64)u_ud2, utop, 0);
	expect("user ud2, kernel stack with bit 63", v, 6, (u64)u_ud2, 3, utop, kernel_stack2);
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, ktop), 0, "stack_switch");

	/* iret to a non-canonical RIP: #GP(0) there. */
	v = user_iret(0, NC_A, utop, 0);
	expect("iret to user, rip NC_A", v, 13, NC_A, 3, utop, kernel_stack);
	check(seen.error_code == 0, "iret to user, rip NC_A: error code %#lx", seen.error_code);
	v = user_iret(VGCF_in_syscall, NC_B, utop, 0);
	expect("iret in_syscall to user, rip NC_B", v, 13, NC_B, 3, utop, kernel_stack);
	check(seen.error_code == 0, "iret in_syscall to user, rip NC_B: error code %#lx", seen.error_code);
	u64 k2 = (u64)kernel_stack2 + sizeof(kernel_stack2);
	struct iret_frame kf = { 0, NC_A, FLAT_KERNEL_CS & ~3UL, 0x202, k2, FLAT_KERNEL_SS };
	v = iret_call(&kf, 0);
	expect("iret to kernel, rip NC_A", v, 13, NC_A, 0, k2, kernel_stack2);
	check(seen.error_code == 0, "iret to kernel, rip NC_A: error code %#lx", seen.error_code);
}
