/*
 * cpuid: the forced-emulation prefix and MSR emulation (Xen's
 * xen/arch/x86/pv/emul-inv-op.c and emul-priv-op.c).
 *  - FEP cpuid (ud2; "xen"; cpuid) returns Xen's leaves: 0x40000000
 *    "XenVMMXenVMM", 0x40000001 = 4.17, 0x40000002 one hypercall page, and
 *    leaf 1 has the hypervisor bit; rip moves past all 7 bytes;
 *  - the prefix before anything but cpuid bounces #UD at the prefix;
 *  - wrmsr/rdmsr GS_BASE and FS_BASE round-trip; PAT reads Xen's value;
 *    EFER shows long mode active;
 *  - rdmsr and wrmsr of an unknown MSR bounce #GP(0) at the instruction.
 */
#include "lib.h"

const char test_name[] = "cpuid";

static volatile int hits;
static volatile u64 seen_vec, seen_err, seen_rip, skip;

static int hook(struct cpu_regs *r)
{
	hits++;
	seen_vec = r->vector;
	seen_err = r->error_code;
	seen_rip = r->rip;
	r->rip += skip;
	return 1;
}

extern char fep_nop_at[], rd_at[], wr_at[];

void test_main(void)
{
	install_traps();
	trap_hook = hook;

	u32 a, b, c, d;
	fep_cpuid(0x40000000, 0, &a, &b, &c, &d);
	char sig[13];
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	printf("FEP cpuid 0x40000000: eax %#x \"%s\"\n", a, sig);
	check(!strcmp(sig, "XenVMMXenVMM"), "leaf 0x40000000 signature \"%s\"", sig);
	check(a >= 0x40000002 && a < 0x40000100, "leaf 0x40000000 max leaf %#x", a);
	check(hits == 0, "FEP cpuid raised %d exceptions", hits);

	fep_cpuid(0x40000001, 0, &a, &b, &c, &d);
	printf("FEP cpuid 0x40000001: eax %#x\n", a);
	check_eq(a, 0x00040011, "leaf 0x40000001 eax (version)");

	fep_cpuid(0x40000002, 0, &a, &b, &c, &d);
	printf("FEP cpuid 0x40000002: eax %#x ebx %#x ecx %#x\n", a, b, c);
	check_eq(a, 1, "leaf 0x40000002 eax (hypercall pages)");

	fep_cpuid(1, 0, &a, &b, &c, &d);
	printf("FEP cpuid 1: ecx %#x edx %#x\n", c, d);
	check(c & (1U << 31), "leaf 1 ecx %#x lacks the hypervisor bit", c);

	/* The prefix before a nop is not emulated: #UD at the prefix. */
	hits = 0;
	skip = 6;	/* ud2 + "xen" + nop */
	asm volatile("fep_nop_at: ud2; .ascii \"xen\"; nop" ::: "memory");
	check(hits == 1 && seen_vec == 6, "FEP nop: %d exceptions, vector %lu; want one #UD", hits, seen_vec);
	check(seen_rip == (u64)fep_nop_at, "FEP nop: #UD at %#lx, want %#lx", seen_rip, (u64)fep_nop_at);

	/* Segment-base MSRs. */
	hits = 0;
	skip = 0;
	wrmsr(0xc0000101, 0x0000123456789000UL);
	check_eq(rdmsr(0xc0000101), 0x0000123456789000UL, "rdmsr(GS_BASE) after wrmsr");
	wrmsr(0xc0000100, 0x00007f0000001000UL);
	check_eq(rdmsr(0xc0000100), 0x00007f0000001000UL, "rdmsr(FS_BASE) after wrmsr");
	wrmsr(0xc0000100, 0);
	wrmsr(0xc0000101, 0);
	u64 pat = rdmsr(0x277);
	printf("PAT %#lx\n", pat);
	check_eq(pat, 0x0000050100070406UL, "rdmsr(PAT)");
	u64 efer = rdmsr(0xc0000080);
	printf("EFER %#lx\n", efer);
	check(efer & (1UL << 10), "EFER %#lx: LMA clear", efer);
	check(hits == 0, "known MSRs raised %d exceptions", hits);

	/* Unknown MSR: #GP(0) at the rdmsr / wrmsr. */
	hits = 0;
	skip = 2;
	u32 lo = 0, hi = 0;
	asm volatile("rd_at: rdmsr" : "+a"(lo), "+d"(hi) : "c"(0x12345678) : "memory");
	check(hits == 1 && seen_vec == 13 && seen_err == 0, "rdmsr(0x12345678): %d exceptions, vector %lu error %#lx",
	      hits, seen_vec, seen_err);
	check(seen_rip == (u64)rd_at, "rdmsr #GP at %#lx, want %#lx", seen_rip, (u64)rd_at);
	hits = 0;
	asm volatile("wr_at: wrmsr" : : "a"(1), "d"(0), "c"(0x12345678) : "memory");
	check(hits == 1 && seen_vec == 13 && seen_err == 0, "wrmsr(0x12345678): %d exceptions, vector %lu error %#lx",
	      hits, seen_vec, seen_err);
	check(seen_rip == (u64)wr_at, "wrmsr #GP at %#lx, want %#lx", seen_rip, (u64)wr_at);
}
