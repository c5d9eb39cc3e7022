/*
 * debugreg: hardware breakpoints a PV kernel sets with set_debugreg reach
 * the CPU, and their #DB is bounced to the kernel's vector-1 handler with
 * the CPU's DR6 in the virtual one (get_debugreg(6)):
 *  - set_debugreg rules: DR0 at a hypervisor address -XEN_EPERM, DR7.GD -XEN_EPERM,
 *    DR7 beyond 32 bits -XEN_EINVAL, get_debugreg(7) reads bit 10 back as one;
 *  - an execution breakpoint (DR0, L0, R/W 00) on a function: calling it
 *    raises #DB at its first instruction (a fault) with B0 in DR6; the
 *    handler turns it off and the call completes;
 *  - a data write watchpoint (DR1, L1, R/W 01, 4 bytes) on a variable: a
 *    store raises #DB after the store (a trap: rip after the instruction,
 *    the value written) with B1 in DR6; a load does not, and neither does
 *    the hypervisor's own write to a watched buffer (xen_version);
 *  - a read/write watchpoint on the selector a MOV SS loads, with the MOV SS
 *    followed by `syscall` (xen_version) or `int3`: the CPU holds the #DB
 *    back over the MOV SS shadow into the hypervisor's entry path (or, under
 *    emulation, raises it before the next instruction). Either way the
 *    machine lives on, the hypercall returns the version and the int3
 *    bounces its #BP; whether the kernel also sees a #DB is printed only
 *    (Xen drops one that hits in its own context);
 *  - with DR7's enables clear nothing fires.
 */
#include "lib.h"

const char test_name[] = "debugreg";

#define DR6_DEFAULT 0xffff0ff0UL
#define DR7_FIXED   0x400UL		/* bit 10 reads as one */
#define DR7_L0      (1UL << 0)
#define DR7_L1      (1UL << 2)
#define DR7_L2      (1UL << 4)
#define DR7_RW(n, rw)  ((u64)(rw) << (16 + 4 * (n)))	/* 0 exec, 1 write, 3 read/write */
#define DR7_LEN(n, l)  ((u64)(l) << (18 + 4 * (n)))	/* 0 one byte, 1 two, 3 four */

static inline long hc_set_debugreg(int reg, u64 val)
{ return HYPERCALL2(__HYPERVISOR_set_debugreg, reg, val); }
static inline long hc_get_debugreg(int reg)
{ return HYPERCALL1(__HYPERVISOR_get_debugreg, reg); }

static volatile u64 db_hits, db_rip, db_dr6, bp_hits;

/* #DB: note where and DR6, clear DR6 (it is sticky), and turn an
 * execution breakpoint off (it is a fault: it would hit again). */
static int db_hook(struct cpu_regs *r)
{
	if (r->vector == 3) {
		bp_hits++;
		return 1;
	}
	if (r->vector != 1)
		return 0;
	db_hits++;
	db_rip = r->rip;
	db_dr6 = hc_get_debugreg(6);
	hc_set_debugreg(6, DR6_DEFAULT);
	if (db_dr6 & 1)
		hc_set_debugreg(7, hc_get_debugreg(7) & ~DR7_L0);
	return 1;
}

static volatile u64 target_calls;

static void __attribute__((noinline)) bp_target(void)
{
	target_calls++;
	barrier();
}

static volatile u32 watched __attribute__((aligned(8)));
static volatile u16 ss_sel __attribute__((aligned(8)));

extern char store_after[];

void test_main(void)
{
	install_traps();
	trap_hook = db_hook;

	/* The rules. */
	check_eq(hc_set_debugreg(0, HYPERVISOR_VIRT_START + 0x1000), -XEN_EPERM, "set_debugreg(0, hypervisor address)");
	check_eq(hc_set_debugreg(7, DR7_FIXED | (1UL << 13)), -XEN_EPERM, "set_debugreg(7, GD)");
	check_eq(hc_set_debugreg(7, 1UL << 32), -XEN_EINVAL, "set_debugreg(7, bit 32)");
	check_eq(hc_set_debugreg(7, 0), 0, "set_debugreg(7, 0)");
	check_eq(hc_get_debugreg(7), DR7_FIXED, "get_debugreg(7) after 0");
	check_eq(hc_get_debugreg(6) & ~0xfUL, DR6_DEFAULT, "get_debugreg(6) at start");

	/* Execution breakpoint. */
	check_eq(hc_set_debugreg(0, (u64)bp_target), 0, "set_debugreg(0, bp_target)");
	check_eq(hc_set_debugreg(7, DR7_FIXED | DR7_L0 | DR7_RW(0, 0) | DR7_LEN(0, 0)), 0, "set_debugreg(7, L0 exec)");
	check_eq(hc_get_debugreg(0), (u64)bp_target, "get_debugreg(0)");
	bp_target();
	check(db_hits == 1, "execution breakpoint: %lu #DB, want 1", db_hits);
	check(db_rip == (u64)bp_target, "execution breakpoint: #DB at %#lx, want %#lx", db_rip, (u64)bp_target);
	check(db_dr6 & 1, "execution breakpoint: dr6 %#lx lacks B0", db_dr6);
	check(target_calls == 1, "bp_target ran %lu times", target_calls);
	printf("execution breakpoint: #DB at %#lx, dr6 %#lx\n", db_rip, db_dr6);
	bp_target();
	check(db_hits == 1, "execution breakpoint turned off still fired (%lu)", db_hits);

	/* Data write watchpoint. */
	db_hits = 0;
	check_eq(hc_set_debugreg(1, (u64)&watched), 0, "set_debugreg(1, &watched)");
	check_eq(hc_set_debugreg(7, DR7_FIXED | DR7_L1 | DR7_RW(1, 1) | DR7_LEN(1, 3)), 0, "set_debugreg(7, L1 write)");
	u32 v = watched;
	check(db_hits == 0, "a load hit the write watchpoint (%lu)", db_hits);
	asm volatile("movl %1, %0\nstore_after:" : "=m"(watched) : "r"(0x5a5aa5a5u) : "memory");
	check(db_hits == 1, "write watchpoint: %lu #DB, want 1", db_hits);
	check(db_rip == (u64)store_after, "write watchpoint: #DB at %#lx, want %#lx (after the store)", db_rip,
	      (u64)store_after);
	check(db_dr6 & 2, "write watchpoint: dr6 %#lx lacks B1", db_dr6);
	check(watched == 0x5a5aa5a5u, "watched %#x after the store (was %#x)", watched, v);
	printf("write watchpoint: #DB at %#lx, dr6 %#lx\n", db_rip, db_dr6);

	/* The hypervisor writing the watched bytes (xen_version's result) is
	 * not the guest's store: no #DB reaches the kernel, the call works. */
	db_hits = 0;
	static char extra[16] __attribute__((aligned(8)));
	check_eq(hc_set_debugreg(1, (u64)extra), 0, "set_debugreg(1, extra)");
	check_eq(hc_xen_version(XENVER_extraversion, extra), 0, "xen_version(extraversion) into a watched buffer");
	check(db_hits == 0, "a hypervisor write to a watched buffer bounced %lu #DB", db_hits);
	printf("xen_version into a watched buffer: extraversion \"%s\", %lu #DB\n", extra, db_hits);

	/* MOV SS shadow: a watchpoint on the selector MOV SS reads. */
	u16 ss;
	asm volatile("movw %%ss, %0" : "=r"(ss));
	ss_sel = ss;
	db_hits = 0;
	check_eq(hc_set_debugreg(2, (u64)&ss_sel), 0, "set_debugreg(2, &ss_sel)");
	check_eq(hc_set_debugreg(7, DR7_FIXED | DR7_L2 | DR7_RW(2, 3) | DR7_LEN(2, 1)), 0, "set_debugreg(7, L2 rw)");
	long ret;
	asm volatile("movw %[sel], %%ss\n\tsyscall"
		     : "=a"(ret) : "a"((long)__HYPERVISOR_xen_version), "D"(XENVER_version), "S"(0L), [sel] "m"(ss_sel)
		     : "rcx", "r11", "rdx", "r10", "r8", "memory");
	check(ret == 0x40011, "mov ss; syscall: xen_version = %#lx, want 0x40011", ret);
	printf("mov ss; syscall: xen_version %#lx, %lu #DB seen (dr6 %#lx)\n", ret, db_hits, db_hits ? db_dr6 : 0);
	db_hits = bp_hits = 0;
	asm volatile("movw %[sel], %%ss\n\tint3" : : [sel] "m"(ss_sel) : "memory");
	check(bp_hits == 1, "mov ss; int3: %lu #BP, want 1", bp_hits);
	printf("mov ss; int3: %lu #BP, %lu #DB seen (dr6 %#lx)\n", bp_hits, db_hits, db_hits ? db_dr6 : 0);

	/* All off: nothing fires. */
	check_eq(hc_set_debugreg(7, 0), 0, "set_debugreg(7, 0)");
	db_hits = 0;
	watched = 1;
	bp_target();
	asm volatile("movw %[sel], %%ss" : : [sel] "m"(ss_sel) : "memory");
	check(db_hits == 0, "with DR7 clear: %lu #DB", db_hits);
	finish();
}
