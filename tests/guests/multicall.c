/*
 * multicall: HYPERVISOR_multicall (Xen's public/xen.h struct multicall_entry).
 *  - a batch runs every entry and stores each result, failures included
 *    (-ENOSYS for an unused number, console_io(7) and a nested multicall
 *    -EINVAL), and the call itself returns 0;
 *  - an empty batch returns 0;
 *  - set_segment_base is an entry like any other: the FS base it sets
 *    holds after the batch (rdmsr FS_BASE), a non-canonical base is the
 *    entry's -EINVAL;
 *  - an iret inside a batch is performed (the vCPU resumes at the iret
 *    frame on its stack) and ends the batch: the entries after it do not run
 *    (XSA-213). rax and the iret entry's result are the frame's rax.
 */
#include "lib.h"

const char test_name[] = "multicall";

struct multicall_entry {
	u64 op;
	s64 result;
	u64 args[6];
};

#define SENTINEL 0x5a5a5a5a5a5aL

static long multicall(struct multicall_entry *list, u32 n)
{
	return HYPERCALL2(__HYPERVISOR_multicall, list, n);
}

static void entry(struct multicall_entry *e, u64 op, u64 a0, u64 a1, u64 a2)
{
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->result = SENTINEL;
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
}

void test_main(void)
{
	static const char msg[] = "console_io from a multicall\n";
	static struct multicall_entry inner[1];
	entry(&inner[0], __HYPERVISOR_xen_version, XENVER_version, 0, 0);
	static struct multicall_entry mc[6];
	entry(&mc[0], __HYPERVISOR_xen_version, XENVER_version, 0, 0);
	entry(&mc[1], __HYPERVISOR_console_io, 7, 1, (u64)"x");
	entry(&mc[2], 11, 0, 0, 0);
	entry(&mc[3], __HYPERVISOR_console_io, CONSOLEIO_write, sizeof(msg) - 1, (u64)msg);
	entry(&mc[4], __HYPERVISOR_multicall, (u64)inner, 1, 0);
	entry(&mc[5], __HYPERVISOR_xen_version, XENVER_pagesize, 0, 0);
	check_eq(multicall(mc, 6), 0, "multicall(6 entries)");
	static const s64 want[6] = { 0x00040011, -XEN_ENOSYS, -XEN_ENOSYS, 0, -XEN_EINVAL, 4096 };
	for (int i = 0; i < 6; i++) {
		printf("entry %d op %lu -> %ld\n", i, mc[i].op, mc[i].result);
		check(mc[i].result == want[i], "entry %d (op %lu): result %ld, want %ld", i, mc[i].op, mc[i].result,
		      want[i]);
	}
	check(inner[0].result == SENTINEL, "the nested multicall ran its entry (result %ld)", inner[0].result);
	check_eq(multicall(mc, 0), 0, "multicall(0 entries)");

	/* set_segment_base (25) inside a batch: SEGBASE_FS (0). */
	static struct multicall_entry sb[2];
	entry(&sb[0], __HYPERVISOR_set_segment_base, 0, 0x00007f0000002000UL, 0);
	entry(&sb[1], __HYPERVISOR_set_segment_base, 0, 0x0000800000000000UL, 0);
	check_eq(multicall(sb, 2), 0, "multicall(set_segment_base x2)");
	u64 fs = rdmsr(0xc0000100);
	printf("set_segment_base in a multicall: results %ld %ld, fs base %#lx\n", sb[0].result, sb[1].result, fs);
	check(sb[0].result == 0, "set_segment_base(FS) entry: result %ld, want 0", sb[0].result);
	check(sb[1].result == -XEN_EINVAL, "non-canonical FS base entry: result %ld, want -EINVAL", sb[1].result);
	check(fs == 0x00007f0000002000UL, "fs base after the batch %#lx, want 0x7f0000002000", fs);

	/* iret inside a batch. The iret frame at rsp returns to label 1 in
	 * kernel mode (cs RPL 0) on the same stack, events still masked. This
	 * multicall is a bare `syscall` in both builds: the iret reads its frame
	 * at the rsp of the multicall, which a `call` into the page would move. */
	static struct multicall_entry ib[3];
	entry(&ib[0], __HYPERVISOR_xen_version, XENVER_version, 0, 0);
	entry(&ib[1], __HYPERVISOR_iret, 0, 0, 0);
	entry(&ib[2], __HYPERVISOR_xen_version, XENVER_pagesize, 0, 0);
	u64 rax, sp_before, sp_after, list = (u64)ib, nr = 3;
	asm volatile("movq %%rsp, %%rbx\n"
		     "pushq $0xe02b\n"		/* ss */
		     "pushq %%rbx\n"		/* rsp */
		     "pushq $0x2\n"		/* rflags: IF clear keeps the upcall mask at 1 */
		     "pushq $0xe030\n"		/* cs: guest kernel */
		     "leaq 1f(%%rip), %%rax\n"
		     "pushq %%rax\n"		/* rip */
		     "pushq $0\n"		/* flags */
		     "pushq $0x1111\n"		/* rcx */
		     "pushq $0x2222\n"		/* r11 */
		     "pushq $0x1357\n"		/* rax */
		     "movl $13, %%eax\n"
		     "syscall\n"
		     "ud2\n"
		     "1: movq %%rsp, %%rdx\n"
		     "movq %%rbx, %%rsp\n"
		     : "=a"(rax), "=b"(sp_before), "=d"(sp_after), "+D"(list), "+S"(nr)
		     :
		     : "rcx", "r8", "r10", "r11", "memory");
	printf("iret in a multicall: rax %#lx, rsp %s, results %ld %ld %ld\n", rax,
	       sp_after == sp_before ? "restored" : "differs", ib[0].result, ib[1].result, ib[2].result);
	check(sp_after == sp_before, "rsp after the iret %#lx, want %#lx", sp_after, sp_before);
	check(ib[0].result == 0x00040011, "entry before the iret: result %ld", ib[0].result);
	check(rax == 0x1357, "rax after the iret %#lx, want the frame's 0x1357", rax);
	check(ib[1].result == 0x1357, "the iret entry's result %ld, want the frame's rax 0x1357", ib[1].result);
	check(ib[2].result == SENTINEL, "entry after the iret ran (result %ld): the batch did not end", ib[2].result);
}
