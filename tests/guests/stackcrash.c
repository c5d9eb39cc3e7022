/*
 * stackcrash: the stack pointers with which Xen 4.17 cannot build a bounce
 * frame, so it crashes the domain (x86_64/entry.S create_bounce_frame: a
 * stack top inside the hypervisor's range, or a write to the frame that
 * faults, as every write to a non-canonical address does). The guest
 * cannot report the outcome itself: it prints what it is about to do and
 * the harness asserts the crash lines (tests/xen_guests_test.go). The
 * case is a word of the command line:
 *  - kernel:   guest kernel code loads a non-canonical RSP and pushes; the
 *              stack fault bounces onto that same stack;
 *  - kernelsp: stack_switch to a non-canonical kernel stack, then a ud2 in
 *              user mode;
 *  - syscall:  the same, then a `syscall` in user mode (the syscall
 *              callback's frame);
 *  - hvsp:     stack_switch to a stack inside the hypervisor's range, then
 *              a ud2 in user mode;
 *  - iret:     HYPERVISOR_iret (a bare `syscall`) with a non-canonical RSP:
 *              the iret context cannot be read (pv/iret.c).
 * Each prints "stackcrash: <case>: ..." and, should it come back, a
 * FAILURE result.
 */
#include "lib.h"

const char test_name[] = "stackcrash";

#define NC_A 0x0000800000001000UL
#define HV_SP (HYPERVISOR_VIRT_START + 0x10000)

extern char u_ud2[], u_syscall[], entry_syscall[];
void to_user(u64 rip, u64 rsp) __attribute__((noreturn));
void kernel_nc_push(u64 rsp) __attribute__((noreturn));
void kernel_nc_iret(u64 rsp) __attribute__((noreturn));
extern char kernel_nc_iret_after[];

asm(".text\n"
    ".globl to_user, kernel_nc_push, kernel_nc_iret\n"
    "to_user:\n"
    "	pushq $0xe02b\n"	/* ss: FLAT_USER_SS */
    "	pushq %rsi\n"		/* rsp */
    "	pushq $0x202\n"		/* rflags */
    "	pushq $0xe033\n"	/* cs: FLAT_USER_CS */
    "	pushq %rdi\n"		/* rip */
    "	pushq $0\n"		/* flags */
    "	jmp xen_iret\n"
    "kernel_nc_push:\n"
    "	movq %rdi, %rsp\n"
    "	pushq $0\n"
    "	ud2\n"
    "kernel_nc_iret:\n"
    "	movq %rdi, %rsp\n"
    "	movl $23, %eax\n"	/* __HYPERVISOR_iret */
    "	syscall\n"
    "kernel_nc_iret_after:\n"
    "	ud2\n"
    "u_ud2:\n"
    "	ud2\n"
    "u_syscall:\n"
    "	syscall\n"
    "	ud2\n");

static u8 user_stack[4096] __attribute__((aligned(16)));

static int hook(struct cpu_regs *r)
{
	printf("stackcrash: bounce vector %#lx error %#lx rip %#lx cs %#lx rsp %#lx\n", r->vector, r->error_code,
	       r->rip, r->cs, r->rsp);
	test_fail("the guest kernel got a bounce frame");
}

static void user_mode(u64 kernel_sp)
{
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, kernel_sp), 0, "stack_switch");
	u64 l4 = virt_to_mfn((void *)start_info->pt_base);
	struct mmuext_op op = { MMUEXT_NEW_USER_BASEPTR, 0, l4, 0 };
	u32 done = 0;
	check_eq(hc_mmuext_op(&op, 1, &done, DOMID_SELF), 0, "mmuext_op(NEW_USER_BASEPTR)");
	if (failures)
		finish();
}

void test_main(void)
{
	install_traps();
	trap_hook = hook;
	struct callback_register cb = { CALLBACKTYPE_syscall, CALLBACKF_mask_events, 0, (u64)entry_syscall };
	check_eq(hc_callback_op(CALLBACKOP_register, &cb), 0, "callback_op(register syscall)");
	const char *cl = start_info->cmd_line;
	u64 utop = (u64)user_stack + sizeof(user_stack);
	/* The marker names the state the crash dump must show. */
	if (has_token(cl, "kernel")) {
		printf("stackcrash: kernel: push in kernel mode (crash at rip %#lx rsp %#lx)\n", (u64)kernel_nc_push + 3,
		       NC_A);
		kernel_nc_push(NC_A);
	} else if (has_token(cl, "kernelsp")) {
		user_mode(NC_A);
		printf("stackcrash: kernelsp: ud2 in user mode, kernel stack %#lx (crash at rip %#lx rsp %#lx)\n", NC_A,
		       (u64)u_ud2, utop);
		to_user((u64)u_ud2, utop);
	} else if (has_token(cl, "syscall")) {
		user_mode(NC_A);
		printf("stackcrash: syscall: syscall in user mode, kernel stack %#lx (crash at rip %#lx rsp %#lx)\n",
		       NC_A, (u64)u_syscall + 2, utop);
		to_user((u64)u_syscall, utop);
	} else if (has_token(cl, "hvsp")) {
		user_mode(HV_SP);
		printf("stackcrash: hvsp: ud2 in user mode, kernel stack %#lx (crash at rip %#lx rsp %#lx)\n", HV_SP,
		       (u64)u_ud2, utop);
		to_user((u64)u_ud2, utop);
	} else if (has_token(cl, "iret")) {
		printf("stackcrash: iret: HYPERVISOR_iret with rsp %#lx (crash at rip %#lx rsp %#lx)\n", NC_A,
		       (u64)kernel_nc_iret_after, NC_A);
		kernel_nc_iret(NC_A);
	}
	printf("stackcrash: command line \"%s\" names no case\n", cl);
	test_fail("no case");
}
