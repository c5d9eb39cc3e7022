/*
 * startinfo: the builder contract (public/xen.h struct start_info; Xen's
 * xen/arch/x86/pv/dom0_build.c) as the guest sees it at its first instruction.
 *  - registers: rsi = start_info, rsp = top of the boot-stack page right
 *    after the bootstrap page tables, the other GPRs 0, IF set,
 *    cs 0xe033, ss 0xe02b, ds/es/fs/gs 0, FS/GS bases 0;
 *  - start_info: magic, nr_pages, page-aligned shared_info, the P2M and the
 *    M2P agree for every page;
 *  - the bootstrap mapping: VA = PFN << 12 from 0 to past the boot stack,
 *    the page-table frames read-only and the rest writable; the L4 at
 *    pt_base is the one in cr3; L4 slot 256 (M2P) is present;
 *  - events are masked in all 32 legacy vcpu_info slots; the time info is
 *    consistent (even version, non-zero multiplier, system time running)
 *    and the wall clock is set.
 */
#include "lib.h"

const char test_name[] = "startinfo";

#define PADDR_MASK 0x000ffffffffff000UL

static const u64 *table(u64 entry)
{
	return (const u64 *)(MACH2PHYS[(entry & PADDR_MASK) >> 12] << 12);
}

void test_main(void)
{
	struct entry_state *e = &entry_state;
	struct start_info *si = start_info;
	u64 pt_end = si->pt_base + si->nr_pt_frames * PAGE_SIZE;

	printf("entry: rsp %#lx rflags %#lx cs %#x ss %#x ds %#x es %#x fs %#x gs %#x\n", e->rsp, e->rflags,
	       e->cs, e->ss, e->ds, e->es, e->fs, e->gs);
	printf("start_info: nr_pages %lu shared_info %#lx flags %#x pt_base %#lx nr_pt_frames %lu mfn_list %#lx "
	       "mod_start %#lx mod_len %lu cmd_line \"%s\"\n", si->nr_pages, si->shared_info, si->flags, si->pt_base,
	       si->nr_pt_frames, si->mfn_list, si->mod_start, si->mod_len, si->cmd_line);
	check_eq(e->rsi, (u64)si, "rsi");
	check(e->rsp == pt_end + PAGE_SIZE, "rsp %#lx, want the top of the page after the page tables (%#lx)", e->rsp,
	      pt_end + PAGE_SIZE);
	u64 gprs[] = { e->rax, e->rbx, e->rcx, e->rdx, e->rdi, e->rbp, e->r8, e->r9, e->r10, e->r11, e->r12, e->r13,
		       e->r14, e->r15 };
	static const char *names[] = { "rax", "rbx", "rcx", "rdx", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12",
				       "r13", "r14", "r15" };
	for (unsigned i = 0; i < ARRAY_SIZE(gprs); i++)
		check(gprs[i] == 0, "%s at entry %#lx, want 0", names[i], gprs[i]);
	check(e->rflags & 0x200, "rflags at entry %#lx lacks IF", e->rflags);
	check_eq(e->cs, FLAT_KERNEL_CS, "cs at entry");
	check_eq(e->ss, FLAT_KERNEL_SS, "ss at entry");
	check(e->ds == 0 && e->es == 0 && e->fs == 0 && e->gs == 0, "data selectors at entry %#x %#x %#x %#x",
	      e->ds, e->es, e->fs, e->gs);
	check_eq(rdmsr(0xc0000100), 0, "FS base");
	check_eq(rdmsr(0xc0000101), 0, "GS base");

	check(!strncmp(si->magic, "xen-3.0-x86_64", 14), "magic \"%.32s\"", si->magic);
	check(si->nr_pages > 0, "nr_pages 0");
	check((si->shared_info & 0xfff) == 0, "shared_info %#lx not page aligned", si->shared_info);
	const u64 *p2m = (const u64 *)si->mfn_list;
	u64 bad = 0;
	for (u64 pfn = 0; pfn < si->nr_pages; pfn++)
		if (MACH2PHYS[p2m[pfn]] != pfn) {
			if (!bad)
				check(0, "M2P[P2M[%#lx] = %#lx] = %#lx", pfn, p2m[pfn], MACH2PHYS[p2m[pfn]]);
			bad++;
		}
	check(bad == 0, "%lu pages where M2P and P2M disagree", bad);

	/* The bootstrap mapping. */
	u64 cr3;
	asm volatile("movq %%cr3, %0" : "=r"(cr3));
	check_eq(cr3 >> 12, p2m[si->pt_base >> 12], "cr3 frame vs P2M[pt_base]");
	const u64 *l4 = (const u64 *)si->pt_base;
	check(l4[256] & _PAGE_PRESENT, "L4[256] (M2P) not present");
	u64 ro_bad = 0, rw_bad = 0, map_bad = 0, pages = 0;
	for (u64 va = 0; va < e->rsp; va += PAGE_SIZE, pages++) {
		u64 l4e = l4[(va >> 39) & 511], l3e = 0, l2e = 0, l1e = 0;
		if (l4e & _PAGE_PRESENT)
			l3e = table(l4e)[(va >> 30) & 511];
		if (l3e & _PAGE_PRESENT)
			l2e = table(l3e)[(va >> 21) & 511];
		if ((l2e & _PAGE_PRESENT) && !(l2e & _PAGE_PSE))
			l1e = table(l2e)[(va >> 12) & 511];
		if (!(l1e & _PAGE_PRESENT) || (l1e & PADDR_MASK) >> 12 != p2m[va >> 12]) {
			if (!map_bad)
				check(0, "va %#lx: l1e %#lx, want P2M[%#lx] = %#lx", va, l1e, va >> 12, p2m[va >> 12]);
			map_bad++;
			continue;
		}
		int is_pt = va >= si->pt_base && va < pt_end;
		if (is_pt && (l1e & _PAGE_RW))
			ro_bad++;
		if (!is_pt && !(l1e & _PAGE_RW))
			rw_bad++;
	}
	printf("bootstrap mapping: %lu pages checked\n", pages);
	check(map_bad == 0, "%lu pages below the boot stack not mapped VA = PFN << 12", map_bad);
	check(ro_bad == 0, "%lu page-table pages mapped writable", ro_bad);
	check(rw_bad == 0, "%lu non-page-table pages mapped read-only", rw_bad);

	struct shared_info *s = map_shared_info();
	for (int i = 0; i < 32; i++)
		check(s->vcpu_info[i].evtchn_upcall_mask == 1, "vcpu_info[%d].evtchn_upcall_mask %u at entry", i,
		      s->vcpu_info[i].evtchn_upcall_mask);
	struct vcpu_time_info *t = &s->vcpu_info[0].time;
	check(t->tsc_to_system_mul != 0, "tsc_to_system_mul 0");
	u64 a = now_ns();
	for (volatile int i = 0; i < 100000; i++)
		;
	u64 b = now_ns();
	check(b > a, "system time does not advance (%lu -> %lu)", a, b);
	printf("time: system %lu ns, wall clock %u s (version %u)\n", b, s->wc_sec, s->wc_version);
	check(s->wc_sec > 1000000000U, "wall clock %u s", s->wc_sec);
}
