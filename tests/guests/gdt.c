/*
 * gdt: a guest's own GDT (set_gdt 2, update_descriptor 10; Xen keeps it in
 * the first 14 pages of the hardware GDT, its reserved selectors after):
 *  - set_gdt of a frame still mapped writable is -EINVAL; mapped read-only
 *    it works, and the frame then cannot be mapped writable (-EBUSY);
 *  - set_gdt of a frame holding a system descriptor (a TSS) is -EINVAL, and
 *    more than 14 pages' worth of entries is -EINVAL;
 *  - a data descriptor written with DPL 0 is raised to DPL 3: lar shows it
 *    and lsl its limit, and it loads into %fs from the guest kernel, whose
 *    %fs:0 then reads at the descriptor's base;
 *  - update_descriptor on the live table: %fs reloaded reads the new base;
 *  - set_segment_base(GS_USER_SEL) with that selector loads it into %gs
 *    (RPL 3 added), the user's GS base becoming the descriptor's base and
 *    the kernel's staying; with a null selector (as Linux on AMD CPUs at
 *    each thread switch: __USER_DS, then null) %gs is null and the user's
 *    base 0; with a not-present descriptor %gs is null too;
 *  - loading a not-present descriptor raises #NP, an empty entry of the
 *    window (a page with no frame) #GP, each with the selector as error
 *    code; Xen's flat selectors still load;
 *  - HYPERVISOR_iret to a CS or SS that IRETQ cannot load (a data or
 *    ring-0 CS, an LDT or empty selector, a not-present CS or SS, a code
 *    or null SS) is the guest's own fault at the iret's RIP: #GP or #NP
 *    with the selector (RPL clear) as error code, as the CPU raises it
 *    (#NP for an SS not present: the SDM's IRET exception list and QEMU;
 *    its pseudocode says #SS);
 *  - set_gdt with no entries gives the frame back: it can be mapped
 *    writable again.
 */
#include "lib.h"

const char test_name[] = "gdt";

#define __HYPERVISOR_update_descriptor 10

static u64 table[512] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u64 marks[2] = { 0x1111111111111111UL, 0x2222222222222222UL };

#define DATA_IDX    6	/* selector 0x33 */
#define ABSENT_IDX  7	/* selector 0x3b */
#define NOCODE_IDX  8	/* selector 0x43: a 64-bit code descriptor, not present */
#define EMPTY_SEL   0x1003	/* entry 512: the window's second page, no frame behind it */
#define PTE_RO (_PAGE_PRESENT | _PAGE_ACCESSED)
#define PTE_RW (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)

/* A flat-limit (4 GiB, G=1 D=1) read/write data descriptor at base. */
static u64 data_desc(u32 base, unsigned present, unsigned dpl)
{
	u64 d = 0xffffUL;			/* limit 15:0 */
	d |= (u64)(base & 0xffffff) << 16;	/* base 23:0 */
	d |= 2UL << 40;				/* type: data, writable */
	d |= 1UL << 44;				/* S: code/data */
	d |= (u64)dpl << 45;
	d |= (u64)present << 47;
	d |= 0xfUL << 48;			/* limit 19:16 */
	d |= 0xcUL << 52;			/* G, D/B */
	d |= (u64)(base >> 24) << 56;		/* base 31:24 */
	return d;
}

static long set_gdt(u64 *frames, u32 entries)
{
	return HYPERCALL2(__HYPERVISOR_set_gdt, frames, entries);
}

static long update_descriptor(u64 maddr, u64 desc)
{
	return HYPERCALL2(__HYPERVISOR_update_descriptor, maddr, desc);
}


extern char load_at[], load_after[];

/* Loads sel into %fs; returns the vector it raised (0: none). */
static u64 load_fs(u16 sel)
{
	trap_hits = 0;
	trap_resume = (u64)load_after;
	asm volatile("load_at: mov %0, %%fs\nload_after:" :: "r"((u32)sel) : "memory");
	trap_resume = 0;
	if (!trap_hits)
		return 0;
	check((u64)trap_seen.rip == (u64)load_at, "fault at %#lx, want the mov at %#lx", (u64)trap_seen.rip, (u64)load_at);
	return trap_seen.vector;
}

/* iret_to: HYPERVISOR_iret from kernel mode (CS RPL 0: no mode change; RPL
 * 3: to user mode) to iret_back with the same RSP, CS cs and SS ss, IF
 * clear; returns there in kernel mode when the iret faults (iret_fix puts
 * the kernel's CS and SS back). */
void iret_to(u64 cs, u64 ss);
extern char iret_back[];
asm(".text\n"
    ".globl iret_to, iret_back\n"
    "iret_to:\n"
    "	movq %rsp, %rax\n"
    "	pushq %rsi\n"		/* ss */
    "	pushq %rax\n"		/* rsp: as at the call's return */
    "	pushq $0x2\n"		/* rflags */
    "	pushq %rdi\n"		/* cs */
    "	leaq iret_back(%rip), %rax\n"
    "	pushq %rax\n"		/* rip */
    "	pushq $0\n"		/* flags */
    "	jmp xen_iret\n"
    "iret_back:\n"
    "	ret\n");

static int iret_fix(struct cpu_regs *r)
{
	record_trap(r);
	r->cs = FLAT_KERNEL_CS & ~3;
	r->ss = FLAT_KERNEL_SS;
	return 1;
}

static void iret_bad(u16 cs, u16 ss, u64 want_vec, u64 want_ec)
{
	trap_hits = 0;
	trap_hook = iret_fix;
	iret_to(cs, ss);
	trap_hook = record_trap;
	check(trap_hits == 1 && trap_seen.vector == want_vec && trap_seen.error_code == want_ec,
	      "iret to cs %#x ss %#x: %d traps, vector %lu error %#lx, want %lu, %#lx",
	      cs, ss, trap_hits, trap_seen.vector, trap_seen.error_code, want_vec, want_ec);
	check((u64)trap_seen.rip == (u64)iret_back && (u16)trap_seen.cs == cs,
	      "iret to cs %#x ss %#x: fault at %#lx cs %#lx, want %#lx cs %#x",
	      cs, ss, trap_seen.rip, trap_seen.cs, (u64)iret_back, cs);
	printf("iret to cs %#x ss %#x: vector %lu error %#lx cs %#lx ss %#lx\n",
	       cs, ss, trap_seen.vector, trap_seen.error_code, trap_seen.cs & 0xffff, trap_seen.ss);
}

static u64 read_gs(void)
{
	u64 v = 0;
	asm volatile("mov %%gs, %0" : "=r"(v));
	return v & 0xffff;
}

static u64 read_fs0(void)
{
	u64 v;
	asm volatile("mov %%fs:0, %0" : "=r"(v) :: "memory");
	return v;
}

void test_main(void)
{
	install_traps();
	trap_hook = record_trap;
	u64 mfn = virt_to_mfn(table);
	u64 frames[1] = { mfn };
	u32 sel = DATA_IDX << 3 | 3;

	table[DATA_IDX] = data_desc((u32)(u64)&marks[0], 1, 0);
	table[ABSENT_IDX] = data_desc(0, 0, 3);
	table[NOCODE_IDX] = 0x0020780000000000UL;	/* L, DPL 3, code, S; P clear */
	check_eq(set_gdt(frames, 512), -XEN_EINVAL, "set_gdt of a frame mapped writable");
	check_eq(hc_update_va_mapping((u64)table, (mfn << 12) | PTE_RO, UVMF_INVLPG), 0, "map the GDT frame read-only");
	check_eq(set_gdt(frames, 7169), -XEN_EINVAL, "set_gdt of 7169 entries");
	check_eq(set_gdt(frames, 512), 0, "set_gdt");
	check_eq(hc_update_va_mapping((u64)table, (mfn << 12) | PTE_RW, UVMF_INVLPG), -XEN_EBUSY,
		 "map the live GDT frame writable");

	/* The descriptor as Xen left it: DPL 3. */
	u32 ar = 0, limit = 0;
	u8 ok_ar = 0, ok_lsl = 0;
	asm volatile("lar %2, %0; setz %1" : "=r"(ar), "=q"(ok_ar) : "r"(sel));
	asm volatile("lsl %2, %0; setz %1" : "=r"(limit), "=q"(ok_lsl) : "r"(sel));
	check(ok_ar && ((ar >> 13) & 3) == 3 && (ar & (1 << 15)), "lar %#x: ok %d ar %#x, want present with DPL 3", sel, ok_ar, ar);
	check(ok_lsl && limit == 0xffffffff, "lsl %#x: ok %d limit %#x, want 0xffffffff", sel, ok_lsl, limit);
	printf("lar %#x = %#x, lsl = %#x\n", sel, ar, limit);
	check_eq((table[DATA_IDX] >> 45) & 3, 3, "DPL in the frame after set_gdt");

	/* Load it into %fs and read through it. */
	check_eq(load_fs(sel), 0, "mov to %fs of the GDT data selector");
	u64 v = read_fs0();
	check(v == marks[0], "%%fs:0 = %#lx, want %#lx (the descriptor's base)", v, marks[0]);

	/* update_descriptor on the live table, then reload. */
	u64 pa = (mfn << 12) + DATA_IDX * 8;
	check_eq(update_descriptor(pa, data_desc((u32)(u64)&marks[1], 1, 3)), 0, "update_descriptor");
	check_eq(load_fs(sel), 0, "mov to %fs after update_descriptor");
	v = read_fs0();
	check(v == marks[1], "%%fs:0 after update_descriptor = %#lx, want %#lx", v, marks[1]);
	check_eq(update_descriptor(pa, 0x0000890000000067UL), -XEN_EINVAL, "update_descriptor with a TSS");

	/* set_segment_base(GS_USER_SEL): %gs loads, the user's base follows. */
	u64 kgs = rdmsr(MSR_GS_BASE);
	for (int i = 0; i < 3; i++) {
		check_eq(hc_set_segment_base(SEGBASE_GS_USER, 0x4000000), 0, "set_segment_base(GS_USER)");
		check_eq(hc_set_segment_base(SEGBASE_GS_USER_SEL, DATA_IDX << 3), 0, "set_segment_base(GS_USER_SEL, data)");
		check_eq(read_gs(), sel, "%gs after GS_USER_SEL of the data selector");
		check_eq(rdmsr(MSR_SHADOW_GS_BASE), (u64)&marks[1], "user GS base after GS_USER_SEL of the data selector");
		check_eq(rdmsr(MSR_GS_BASE), kgs, "kernel GS base after GS_USER_SEL");
		check_eq(hc_set_segment_base(SEGBASE_GS_USER_SEL, FLAT_USER_SS), 0, "set_segment_base(GS_USER_SEL, FLAT_USER_DS)");
		check_eq(read_gs(), FLAT_USER_SS, "%gs after GS_USER_SEL of FLAT_USER_DS");
		check_eq(rdmsr(MSR_SHADOW_GS_BASE), 0, "user GS base after GS_USER_SEL of FLAT_USER_DS");
		check_eq(hc_set_segment_base(SEGBASE_GS_USER_SEL, 0), 0, "set_segment_base(GS_USER_SEL, null)");
		check_eq(read_gs(), 0, "%gs after GS_USER_SEL of null");
		check_eq(rdmsr(MSR_SHADOW_GS_BASE), 0, "user GS base after GS_USER_SEL of null");
	}
	check_eq(hc_set_segment_base(SEGBASE_GS_USER_SEL, ABSENT_IDX << 3 | 3), 0, "set_segment_base(GS_USER_SEL, not present)");
	check_eq(read_gs(), 0, "%gs after GS_USER_SEL of a not-present selector");
	printf("set_segment_base(GS_USER_SEL): %%gs %#x base %#lx, null, not present\n", sel, (u64)&marks[1]);

	/* Not present: #NP; an empty entry of the window: #GP. */
	u64 vec = load_fs(ABSENT_IDX << 3 | 3);
	check(vec == 11 && trap_seen.error_code == ABSENT_IDX << 3, "not-present selector: vector %lu error %#lx, want 11, %#x",
	      vec, trap_seen.error_code, ABSENT_IDX << 3);
	vec = load_fs(EMPTY_SEL);
	check(vec == 13 && trap_seen.error_code == (EMPTY_SEL & ~3UL), "empty selector %#x: vector %lu error %#lx, want 13, %#lx",
	      EMPTY_SEL, vec, trap_seen.error_code, EMPTY_SEL & ~3UL);
	check_eq(load_fs(FLAT_USER_SS), 0, "mov to %fs of FLAT_USER_DS");
	check_eq(load_fs(0), 0, "mov to %fs of the null selector");

	/* HYPERVISOR_iret to selectors IRETQ cannot load. */
	iret_bad(DATA_IDX << 3, FLAT_KERNEL_SS, 13, DATA_IDX << 3);
	iret_bad(NOCODE_IDX << 3, FLAT_KERNEL_SS, 11, NOCODE_IDX << 3);
	iret_bad(EMPTY_SEL & ~3, FLAT_KERNEL_SS, 13, EMPTY_SEL & ~3);
	iret_bad(0x4, FLAT_KERNEL_SS, 13, 0x4);
	iret_bad(0xe008, FLAT_KERNEL_SS, 13, 0xe008);
	iret_bad(FLAT_KERNEL_CS & ~3, FLAT_KERNEL_CS, 13, FLAT_KERNEL_CS & ~3);
	iret_bad(FLAT_KERNEL_CS & ~3, ABSENT_IDX << 3, 11, ABSENT_IDX << 3);
	iret_bad(FLAT_KERNEL_CS & ~3, 0, 13, 0);
	iret_bad(FLAT_KERNEL_CS & ~3, 0x4, 13, 0x4);
	/* To user mode: the fault is the user's, bounced to the kernel. */
	static u8 kernel_stack[8192] __attribute__((aligned(16)));
	check_eq(hc_stack_switch(FLAT_KERNEL_SS, (u64)kernel_stack + sizeof(kernel_stack)), 0, "stack_switch");
	struct mmuext_op op = { MMUEXT_NEW_USER_BASEPTR, 0, virt_to_mfn((void *)start_info->pt_base), 0 };
	u32 done = 0;
	check_eq(hc_mmuext_op(&op, 1, &done, DOMID_SELF), 0, "mmuext_op(NEW_USER_BASEPTR)");
	iret_bad(DATA_IDX << 3 | 3, FLAT_USER_SS, 13, DATA_IDX << 3);
	iret_bad(FLAT_USER_CS, ABSENT_IDX << 3 | 3, 11, ABSENT_IDX << 3);

	/* A frame with a TSS descriptor is refused; the live GDT stays. */
	static u64 bad[512] __attribute__((aligned(4096), section(".bss.page_aligned")));
	bad[1] = 0x0000890000000067UL;
	u64 bad_mfn = virt_to_mfn(bad);
	check_eq(hc_update_va_mapping((u64)bad, (bad_mfn << 12) | PTE_RO, UVMF_INVLPG), 0, "map the bad frame read-only");
	u64 bad_frames[1] = { bad_mfn };
	check_eq(set_gdt(bad_frames, 512), -XEN_EINVAL, "set_gdt of a frame with a TSS descriptor");
	check_eq(load_fs(sel), 0, "mov to %fs after the refused set_gdt");
	check(read_fs0() == marks[1], "%%fs:0 after the refused set_gdt");
	check_eq(load_fs(0), 0, "mov to %fs of the null selector");

	/* No entries: the frame is the guest's again. */
	check_eq(set_gdt(frames, 0), 0, "set_gdt with no entries");
	check_eq(hc_update_va_mapping((u64)table, (mfn << 12) | PTE_RW, UVMF_INVLPG), 0,
		 "map the old GDT frame writable");
	vec = load_fs(sel);
	check(vec == 13, "selector %#x with no GDT: vector %lu, want 13", sel, vec);
}
