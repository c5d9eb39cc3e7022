/*
 * fsgsbase: RD/WR{FS,GS}BASE in a PV guest, as Xen 4.17 offers them where
 * the CPU has them (public/arch-x86/cpufeatureset.h: FSGSBASE is 'A';
 * pv_fixup_guest_cr4 keeps the guest's CR4.FSGSBASE, pv_make_cr4 sets the
 * real bit while the vCPU runs; toggle_guest_mode keeps each mode's GS
 * base across the switch):
 *  - FEP cpuid leaf 7 EBX bit 0; without it the test is SKIP;
 *  - the guest's CR4 starts without FSGSBASE, and the instructions are #UD;
 *  - MOV to CR4 with FSGSBASE reads back with it;
 *  - wrfsbase/rdfsbase round-trip and agree with rdmsr(FS_BASE),
 *    set_segment_base(SEGBASE_FS) and wrmsr(FS_BASE);
 *  - wrgsbase/rdgsbase in kernel mode act on the kernel's GS base
 *    (rdmsr(GS_BASE), SEGBASE_GS_KERNEL); SEGBASE_GS_USER sets the user's
 *    (rdmsr(SHADOW_GS_BASE)) and leaves the active one;
 *  - in user mode the instructions see the user's GS base and the shared
 *    FS base; a wrgsbase there is the user's base back in kernel mode
 *    (SHADOW_GS_BASE) while the kernel's is unchanged (the mode switch is
 *    the PV kernel's swapgs; swapgs itself stays #GP);
 *  - wrfsbase of a non-canonical base is #GP(0) (QEMU's TCG loads it: the
 *    test then only reads it back and restores the old base);
 *  - CR4.FSGSBASE cleared again: #UD.
 */
#include "lib.h"

const char test_name[] = "fsgsbase";

#define CR4_FSGSBASE (1UL << 16)

u64 iret_call(u64 rip, u64 rsp, u64 rdi);
void bounce_return(void) __attribute__((noreturn));
extern char u_bases[], entry_syscall[];

asm(".text\n"
    ".globl iret_call, bounce_return\n"
    "iret_call:\n"
    "	pushq %rbx; pushq %rbp; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "	movq %rsp, resume_rsp(%rip)\n"
    "	pushq $0xe02b\n"	/* ss: FLAT_USER_SS */
    "	pushq %rsi\n"		/* rsp */
    "	pushq $0x202\n"		/* rflags */
    "	pushq $0xe033\n"	/* cs: FLAT_USER_CS */
    "	pushq %rdi\n"		/* rip */
    "	pushq $0\n"		/* flags */
    "	movq %rdx, %rdi\n"
    "	jmp xen_iret\n"
    "bounce_return:\n"
    "	movq resume_rsp(%rip), %rsp\n"
    "	popq %r15; popq %r14; popq %r13; popq %r12; popq %rbp; popq %rbx\n"
    "	ret\n"
    /* User mode: r8 = GS base, r9 = FS base, then GS base = rdi. */
    "u_bases:\n"
    "	rdgsbase %r8\n"
    "	rdfsbase %r9\n"
    "	wrgsbase %rdi\n"
    "	syscall\n"
    "	ud2\n");

u64 resume_rsp;
static struct cpu_regs seen;
static volatile int hits;
static u8 user_stack[4096] __attribute__((aligned(16)));
static u8 kernel_stack[8192] __attribute__((aligned(16)));

/* Kernel-mode faults are stepped over (r15 = the instruction's length);
 * the user's syscall goes back to iret_call's caller. */
static int hook(struct cpu_regs *r)
{
	seen = *r;
	hits++;
	if (r->vector == VEC_SYSCALL)
		bounce_return();
	if ((r->cs & 3) == 3)
		return 0;
	r->rip += r->r15;
	return 1;
}

static u64 read_cr4(void)
{
	u64 v;
	asm volatile("movq %%cr4, %0" : "=r"(v));
	return v;
}

static void write_cr4(u64 v)
{
	asm volatile("movq %0, %%cr4" : : "r"(v) : "memory");
}

/* Runs insn (operand %0 = val, in and out) with r15 = its length; the
 * vector of the fault it raised, or -1. */
#define TRY(insn, val) ({							\
		hits = 0;							\
		asm volatile("movq $(2f - 1f), %%r15\n1: " insn "\n2:"	\
			     : "+r"(val) : : "r15", "memory");			\
		hits ? (long)seen.vector : -1L;					\
	})

static u64 rdfsbase(void) { u64 v; asm volatile("rdfsbase %0" : "=r"(v)); return v; }
static u64 rdgsbase(void) { u64 v; asm volatile("rdgsbase %0" : "=r"(v)); return v; }
static void wrfsbase(u64 v) { asm volatile("wrfsbase %0" : : "r"(v) : "memory"); }
static void wrgsbase(u64 v) { asm volatile("wrgsbase %0" : : "r"(v) : "memory"); }

void test_main(void)
{
	install_traps();
	trap_hook = hook;
	u32 a, b, c, d;
	fep_cpuid(0, 0, &a, &b, &c, &d);
	if (a < 7)
		test_skip("CPUID has no leaf 7");
	fep_cpuid(7, 0, &a, &b, &c, &d);
	printf("FEP cpuid 7: ebx %#x\n", b);
	if (!(b & 1))
		test_skip("no FSGSBASE in CPUID");

	u64 cr4 = read_cr4();
	printf("cr4 at start %#lx\n", cr4);
	check(!(cr4 & CR4_FSGSBASE), "cr4 %#lx has FSGSBASE at start", cr4);
	u64 x = 0;
	check_eq(TRY("rdfsbase %0", x), 6, "rdfsbase without CR4.FSGSBASE: vector");
	check_eq(TRY("wrgsbase %0", x), 6, "wrgsbase without CR4.FSGSBASE: vector");

	write_cr4(cr4 | CR4_FSGSBASE);
	u64 cr4on = read_cr4();
	printf("cr4 after setting FSGSBASE %#lx\n", cr4on);
	check(cr4on & CR4_FSGSBASE, "cr4 %#lx lacks FSGSBASE after mov to cr4", cr4on);
	check(cr4on == (cr4 | CR4_FSGSBASE), "cr4 %#lx, want %#lx", cr4on, cr4 | CR4_FSGSBASE);

	/* FS. */
	wrfsbase(0x1234000);
	check_eq(rdfsbase(), 0x1234000, "rdfsbase after wrfsbase");
	check_eq(rdmsr(MSR_FS_BASE), 0x1234000, "rdmsr(FS_BASE) after wrfsbase");
	check_eq(hc_set_segment_base(SEGBASE_FS, 0x5678000), 0, "set_segment_base(FS)");
	check_eq(rdfsbase(), 0x5678000, "rdfsbase after set_segment_base(FS)");
	wrmsr(MSR_FS_BASE, 0xffff900000001000UL);
	check_eq(rdfsbase(), 0xffff900000001000UL, "rdfsbase after wrmsr(FS_BASE)");

	/* GS in kernel mode: the kernel's base. */
	wrgsbase(0x2000000);
	check_eq(rdgsbase(), 0x2000000, "rdgsbase after wrgsbase");
	check_eq(rdmsr(MSR_GS_BASE), 0x2000000, "rdmsr(GS_BASE) after wrgsbase");
	check_eq(hc_set_segment_base(SEGBASE_GS_KERNEL, 0x3000000), 0, "set_segment_base(GS_KERNEL)");
	check_eq(rdgsbase(), 0x3000000, "rdgsbase after set_segment_base(GS_KERNEL)");
	check_eq(hc_set_segment_base(SEGBASE_GS_USER, 0x4000000), 0, "set_segment_base(GS_USER)");
	check_eq(rdmsr(MSR_SHADOW_GS_BASE), 0x4000000, "rdmsr(SHADOW_GS_BASE) after set_segment_base(GS_USER)");
	check_eq(rdgsbase(), 0x3000000, "rdgsbase after set_segment_base(GS_USER)");
	printf("kernel: fs %#lx gs %#lx shadow gs %#lx\n", rdfsbase(), rdgsbase(), rdmsr(MSR_SHADOW_GS_BASE));

	/* User mode: the user's GS base, the shared FS base; its wrgsbase is
	 * the user's base back in kernel mode. */
	struct callback_register cb = { CALLBACKTYPE_syscall, CALLBACKF_mask_events, 0, (u64)entry_syscall };
	check_eq(hc_callback_op(CALLBACKOP_register, &cb), 0, "callback_op(register syscall)");
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, (u64)kernel_stack + sizeof(kernel_stack)), 0, "stack_switch");
	u64 l4 = virt_to_mfn((void *)start_info->pt_base);
	struct mmuext_op op = { MMUEXT_NEW_USER_BASEPTR, 0, l4, 0 };
	u32 done = 0;
	check_eq(hc_mmuext_op(&op, 1, &done, DOMID_SELF), 0, "mmuext_op(NEW_USER_BASEPTR)");
	hits = 0;
	iret_call((u64)u_bases, (u64)user_stack + sizeof(user_stack), 0x5000000);
	check(hits == 1 && seen.vector == VEC_SYSCALL, "user mode: %d bounces, last vector %#lx; want the syscall",
	      hits, seen.vector);
	check_eq(seen.r8, 0x4000000, "user rdgsbase");
	check_eq(seen.r9, 0xffff900000001000UL, "user rdfsbase");
	check_eq(rdgsbase(), 0x3000000, "kernel rdgsbase after user mode");
	check_eq(rdmsr(MSR_SHADOW_GS_BASE), 0x5000000, "rdmsr(SHADOW_GS_BASE) after the user's wrgsbase");
	check_eq(rdmsr(MSR_GS_BASE), 0x3000000, "rdmsr(GS_BASE) after user mode");
	printf("user: gs %#lx fs %#lx, wrote gs %#lx\n", seen.r8, seen.r9, rdmsr(MSR_SHADOW_GS_BASE));
	x = 0;
	check_eq(TRY("swapgs", x), 13, "swapgs: vector");

	/* A non-canonical base: #GP(0) on hardware. QEMU's TCG loads it
	 * instead; the same instructions then read it back and put the old
	 * base back at once (a hypervisor cannot enter a guest with it). */
	u64 nc = 0x0000800000000000UL, good = 0xffff900000001000UL, got = 0;
	hits = 0;
	asm volatile("movq $(2f - 1f), %%r15\n"
		     "1: wrfsbase %[nc]\n"
		     "2: rdfsbase %[got]\n"
		     "wrfsbase %[good]"
		     : [got] "+r"(got) : [nc] "r"(nc), [good] "r"(good) : "r15", "memory");
	if (hits) {
		check(seen.vector == 13 && seen.error_code == 0, "wrfsbase(non-canonical): vector %lu error %#lx, want #GP(0)",
		      seen.vector, seen.error_code);
		check_eq(got, good, "rdfsbase after the refused wrfsbase");
		printf("wrfsbase(%#lx): #GP(%#lx)\n", nc, seen.error_code);
	} else {
		check_eq(got, nc, "rdfsbase after wrfsbase(non-canonical) that did not fault");
		printf("wrfsbase(%#lx): no fault (CPU model without the check), read back %#lx\n", nc, got);
	}
	check_eq(rdfsbase(), good, "rdfsbase after the non-canonical wrfsbase");

	/* Off again. */
	write_cr4(cr4);
	check(!(read_cr4() & CR4_FSGSBASE), "cr4 %#lx still has FSGSBASE", read_cr4());
	check_eq(TRY("rdgsbase %0", x), 6, "rdgsbase with CR4.FSGSBASE cleared: vector");
	check_eq(rdmsr(MSR_FS_BASE), 0xffff900000001000UL, "rdmsr(FS_BASE) with CR4.FSGSBASE cleared");
	check_eq(rdmsr(MSR_GS_BASE), 0x3000000, "rdmsr(GS_BASE) with CR4.FSGSBASE cleared");
}
