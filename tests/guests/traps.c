/*
 * traps: set_trap_table, then exceptions bounce to the handlers and each
 * handler returns with HYPERVISOR_iret (public/arch-x86/xen-x86_64.h):
 *  - ud2 -> #UD (6) at the ud2, no error code;
 *  - int3 -> #BP (3), rip after the int3;
 *  - a load from a non-canonical address -> #GP (13), error code 0;
 *  - a load from an unmapped address in kernel mode -> #PF (14), CR2 in
 *    vcpu_info.arch.cr2, error code P=0 W=0 U=0 (U is the virtual mode);
 *  - a store to the same address -> #PF with W set;
 *  - the frame's CS is the kernel's (RPL 0 means the guest kernel was
 *    interrupted), and the saved upcall mask in CS bits 39:32 is the one
 *    the kernel had;
 *  - callee registers survive the round trip;
 *  - privileged instructions: hlt, cli, sti, invlpg, swapgs and inb (virtual
 *    IOPL 0) bounce #GP(0) at the instruction; mov from cr0/cr3/cr4, clts
 *    and wbinvd are emulated for dom0, and cr3 reads MFN << 12 of the L4 at
 *    start_info.pt_base;
 *  - a one-entry set_trap_table replaces only that vector;
 *  - after update_va_mapping(0, 0) the NULL page faults (#PF, CR2 0).
 */
#include "lib.h"

const char test_name[] = "traps";

/* record_trap, then step over the instruction (r15 = its length). */
static int priv_hook(struct cpu_regs *r)
{
	record_trap(r);
	r->rip += r->r15;
	return 1;
}

#define UNMAPPED 0x0000100000000000UL	/* 16 TiB: no L4 entry in dom0's bootstrap tables */

extern char ud2_at[], ud2_after[], int3_after[], gp_at[], gp_after[], pf_at[], pf_after[],
	pfw_at[], pfw_after[], null_at[], null_after[];

static void expect(const char *what, u64 vector, u64 err, u64 rip)
{
	check(trap_hits == 1, "%s: %d handler entries, want 1", what, trap_hits);
	check_eq(trap_seen.vector, vector, what);
	check(trap_seen.error_code == err, "%s: error code %#lx, want %#lx", what, trap_seen.error_code, err);
	check(trap_seen.rip == rip, "%s: frame rip %#lx, want %#lx", what, trap_seen.rip, rip);
	check((trap_seen.cs & 0xffff) == (FLAT_KERNEL_CS & ~3UL), "%s: frame cs %#lx, want selector %#x (RPL 0 = kernel)",
	      what, trap_seen.cs, FLAT_KERNEL_CS & ~3);
	check(((trap_seen.cs >> 32) & 0xff) == 0, "%s: saved upcall mask %#lx, want 0", what, (trap_seen.cs >> 32) & 0xff);
	check(trap_seen.rflags & 0x200, "%s: frame rflags %#lx lacks IF (events were enabled)", what, trap_seen.rflags);
	printf("%s: vector %lu error %#lx rip %#lx cs %#lx rflags %#lx\n", what, trap_seen.vector, trap_seen.error_code,
	       trap_seen.rip, trap_seen.cs, trap_seen.rflags);
	trap_hits = 0;
}

void test_main(void)
{
	struct shared_info *s = map_shared_info();
	install_traps();
	trap_hook = record_trap;
	/* Unmask events (no callback registered, and nothing is bound) so the
	 * saved mask in each frame is 0 and IF is set. */
	s->vcpu_info[0].evtchn_upcall_mask = 0;

	/* #UD: rip is the ud2; the handler steps over it. */
	trap_resume = (u64)ud2_after;
	asm volatile("ud2_at: ud2\nud2_after:" ::: "memory");
	expect("#UD", 6, 0, (u64)ud2_at);

	/* #BP: a trap, so rip is after the int3 and needs no fix-up. */
	asm volatile("int3\nint3_after:" ::: "memory");
	expect("#BP", 3, 0, (u64)int3_after);

	/* #GP from a non-canonical load. */
	u64 val = 0;
	trap_resume = (u64)gp_after;
	asm volatile("gp_at: movq (%1), %0\ngp_after:" : "+r"(val) : "r"(0x8000000000000000UL) : "memory");
	expect("#GP", 13, 0, (u64)gp_at);

	/* #PF read in kernel mode: error code 0 (not present, read, supervisor). */
	s->vcpu_info[0].cr2 = 0;
	trap_resume = (u64)pf_after;
	asm volatile("pf_at: movq (%1), %0\npf_after:" : "+r"(val) : "r"(UNMAPPED + 0x123) : "memory");
	expect("#PF read", 14, 0, (u64)pf_at);
	check(s->vcpu_info[0].cr2 == UNMAPPED + 0x123, "#PF read: vcpu_info.arch.cr2 %#lx, want %#lx",
	      s->vcpu_info[0].cr2, UNMAPPED + 0x123);

	/* #PF write: W (bit 1) set, U still clear. */
	trap_resume = (u64)pfw_after;
	asm volatile("pfw_at: movq %0, (%1)\npfw_after:" : : "r"(val), "r"(UNMAPPED + 0x2468) : "memory");
	expect("#PF write", 14, 2, (u64)pfw_at);
	check(s->vcpu_info[0].cr2 == UNMAPPED + 0x2468, "#PF write: vcpu_info.arch.cr2 %#lx, want %#lx",
	      s->vcpu_info[0].cr2, UNMAPPED + 0x2468);

	/* Callee-saved registers survive a bounce and the iret. */
	u64 rbx_out, r12_out;
	asm volatile("movq $0x1122334455667788, %%rbx\n"
		     "movq $0x0badc0ffee0ddf00, %%r12\n"
		     "int3\n"
		     "movq %%rbx, %0\n"
		     "movq %%r12, %1\n"
		     : "=r"(rbx_out), "=r"(r12_out) : : "rbx", "r12", "memory");
	check(rbx_out == 0x1122334455667788UL, "rbx %#lx after int3", rbx_out);
	check(r12_out == 0x0badc0ffee0ddf00UL, "r12 %#lx after int3", r12_out);
	check(trap_hits == 1, "int3 with registers: %d handler entries", trap_hits);
	trap_hits = 0;

	/* With events masked, the saved mask in the frame is 1 and IF is clear. */
	s->vcpu_info[0].evtchn_upcall_mask = 1;
	asm volatile("int3" ::: "memory");
	check(((trap_seen.cs >> 32) & 0xff) == 1, "masked: saved upcall mask %#lx, want 1", (trap_seen.cs >> 32) & 0xff);
	check(!(trap_seen.rflags & 0x200), "masked: frame rflags %#lx has IF", trap_seen.rflags);
	check(s->vcpu_info[0].evtchn_upcall_mask == 1, "iret did not restore the upcall mask (%u)",
	      s->vcpu_info[0].evtchn_upcall_mask);
	trap_hits = 0;

	/* Privileged instructions. r15 = the instruction's length, skipped on #GP. */
	s->vcpu_info[0].evtchn_upcall_mask = 0;
	trap_hook = priv_hook;
#define GP(name, insn) do {						\
		trap_hits = 0;							\
		u64 __at;							\
		asm volatile("leaq 1f(%%rip), %0\n movq $(2f - 1f), %%r15\n1: " insn "\n2:" \
			     : "=&r"(__at) : : "r15", "rax", "memory");		\
		check(trap_hits == 1 && trap_seen.vector == 13 && trap_seen.error_code == 0,	\
		      "%s: %d exceptions, vector %lu error %#lx; want one #GP(0)",	\
		      name, trap_hits, trap_seen.vector, trap_seen.error_code);		\
		check(trap_seen.rip == __at, "%s: #GP at %#lx, want %#lx", name, trap_seen.rip, __at); \
		printf("%s: #GP(%#lx)\n", name, trap_seen.error_code);		\
	} while (0)
	GP("hlt", "hlt");
	GP("cli", "cli");
	GP("sti", "sti");
	GP("invlpg", "invlpg (%%rsp)");
	GP("swapgs", "swapgs");
	GP("inb $0x80", "inb $0x80, %%al");
	trap_hits = 0;
	u64 cr0, cr3, cr4;
	asm volatile("movq %%cr0, %0" : "=r"(cr0));
	asm volatile("movq %%cr3, %0" : "=r"(cr3));
	asm volatile("movq %%cr4, %0" : "=r"(cr4));
	asm volatile("clts; wbinvd" ::: "memory");
	check(trap_hits == 0, "mov from cr0/cr3/cr4, clts, wbinvd raised %d exceptions", trap_hits);
	printf("cr0 %#lx cr3 %#lx cr4 %#lx\n", cr0, cr3, cr4);
	check((cr0 & 0x80000001UL) == 0x80000001UL, "cr0 %#lx lacks PG|PE", cr0);
	check(cr3 == virt_to_mfn((void *)start_info->pt_base) << 12, "cr3 %#lx, want the L4's MFN %#lx << 12", cr3,
	      virt_to_mfn((void *)start_info->pt_base));
	trap_hook = record_trap;

	/* A one-entry table replaces vector 6 only: #UD now arrives through the
	 * 0x80 stub (tagged 0x80), #BP still through its own. */
	extern char entry_ret_to_kernel[], ud2b_at[], ud2b_after[];
	static const struct trap_info one[] = {
		{ 6, 4, FLAT_KERNEL_CS, 0, (u64)entry_ret_to_kernel },
		{ 0, 0, 0, 0, 0 },
	};
	check_eq(hc_set_trap_table(one), 0, "set_trap_table(one entry)");
	trap_resume = (u64)ud2b_after;
	asm volatile("ud2b_at: ud2\nud2b_after:" ::: "memory");
	check(trap_hits == 1 && trap_seen.vector == 0x80, "replaced #UD: %d entries, stub tag %#lx; want the 0x80 stub", trap_hits,
	      trap_seen.vector);
	check(trap_seen.rip == (u64)ud2b_at, "replaced #UD at %#lx", trap_seen.rip);
	trap_hits = 0;
	asm volatile("int3" ::: "memory");
	check(trap_hits == 1 && trap_seen.vector == 3, "#BP after a one-entry table: %d entries, vector %#lx", trap_hits, trap_seen.vector);
	trap_hits = 0;

	/* Unmap the NULL page; a load from 0 then faults. */
	check_eq(hc_update_va_mapping(0, 0, UVMF_INVLPG), 0, "update_va_mapping(0, 0)");
	trap_resume = (u64)null_after;
	s->vcpu_info[0].cr2 = 0xdead;
	asm volatile("null_at: movq (%1), %0\nnull_after:" : "+r"(val) : "r"(0UL) : "memory");
	expect("NULL #PF", 14, 0, (u64)null_at);
	check(s->vcpu_info[0].cr2 == 0, "NULL #PF: cr2 %#lx", s->vcpu_info[0].cr2);

	/* Replacing the table with an empty one (NULL clears it). */
	check_eq(hc_set_trap_table(NULL), 0, "set_trap_table(NULL)");
}
