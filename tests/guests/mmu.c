/*
 * mmu: the PV MMU contract (public/xen.h mmu_update, mmuext_op).
 *  - the M2P is readable at HYPERVISOR_VIRT_START and agrees with the P2M;
 *    MMU_MACHPHYS_UPDATE writes it;
 *  - a frame still mapped writable cannot be pinned as an L1; once mapped
 *    read-only it can; pinning twice and unpinning an unpinned frame fail;
 *  - a pinned L1 cannot be mapped writable (-EBUSY), and an entry inside it
 *    cannot map the L1 itself writable (-EBUSY) or map a reserved frame
 *    dom0 has no I/O permission for (-EPERM); pin conflicts are -EINVAL;
 *  - mmu_update installs a valid entry in the pinned L1, and hooking the L1
 *    into the live L2 makes the mapping visible at a new VA;
 *  - unpinning leaves the L1 typed while the L2 references it; after the
 *    L2 entry is cleared the frame can be mapped writable again;
 *  - a remap without a flush is seen after TLB_FLUSH_LOCAL, and after a
 *    TLB_FLUSH_MULTI whose mask names only this vCPU; the hypervisor's own
 *    copy of a hypercall argument sees it too, after a TLB_FLUSH_LOCAL
 *    earlier in the same multicall;
 *  - update_va_mapping of a VA with no L2 fails.
 */
#include "lib.h"

const char test_name[] = "mmu";

static u8 l1[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 data[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 data2[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));

#define NEW_VA 0x800000UL	/* L2 slot 4 of the first L2; the bootstrap region is 0-4 MiB */
#define PTE_FLAGS (_PAGE_PRESENT | _PAGE_ACCESSED)
#define PTE_RW (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)
#define PADDR_MASK 0x000ffffffffff000UL

static long mmuext(u32 cmd, u64 arg1)
{
	struct mmuext_op op = { cmd, 0, arg1, 0 };
	u32 done = 0;
	return hc_mmuext_op(&op, 1, &done, DOMID_SELF);
}

struct multicall_entry { u64 op; s64 result; u64 args[6]; };

/* TLB_FLUSH_MULTI with a vCPU mask naming only vCPU 0 (this one). */
static long flush_multi_self(void)
{
	u64 mask = 1;
	struct mmuext_op op = { MMUEXT_TLB_FLUSH_MULTI, 0, 0, (u64)&mask };
	u32 done = 0;
	return hc_mmuext_op(&op, 1, &done, DOMID_SELF);
}

static long mmu_update1(u64 ptr, u64 val)
{
	struct mmu_update req = { ptr, val };
	u32 done = 0;
	long rc = hc_mmu_update(&req, 1, &done, DOMID_SELF);
	check(done == (rc == 0 ? 1u : 0u), "mmu_update rc %ld but done %u", rc, done);
	return rc;
}

/* VA of a frame inside the bootstrap region (virt_base 0: VA = PFN << 12). */
static const u64 *table_va(u64 mfn)
{
	return (const u64 *)(MACH2PHYS[mfn] << 12);
}

void test_main(void)
{
	u64 l1_mfn = virt_to_mfn(l1), data_mfn = virt_to_mfn(data);
	u64 data_pfn = (u64)data >> 12;
	printf("l1 mfn %#lx, data mfn %#lx\n", l1_mfn, data_mfn);
	check_eq(MACH2PHYS[data_mfn], data_pfn, "M2P[data mfn]");
	check_eq(MACH2PHYS[virt_to_mfn((void *)start_info->pt_base)], start_info->pt_base >> 12, "M2P[L4 mfn]");
	check_eq(mmu_update1((data_mfn << 12) | MMU_MACHPHYS_UPDATE, data_pfn), 0, "MMU_MACHPHYS_UPDATE");
	check_eq(MACH2PHYS[data_mfn], data_pfn, "M2P[data mfn] after MMU_MACHPHYS_UPDATE");

	/* Find the first L2 (VA 0-1 GiB) through the bootstrap tables. */
	const u64 *l4 = (const u64 *)start_info->pt_base;
	const u64 *l3 = table_va((l4[0] & PADDR_MASK) >> 12);
	u64 l2_mfn = (l3[0] & PADDR_MASK) >> 12;
	const u64 *l2 = table_va(l2_mfn);
	check(l2[0] & _PAGE_PRESENT, "bootstrap L2[0] not present");
	check(!(l2[NEW_VA >> 21] & _PAGE_PRESENT), "L2[%lu] already present", NEW_VA >> 21);

	long rc = mmuext(MMUEXT_PIN_L1_TABLE, l1_mfn);
	printf("pin L1 while mapped writable -> %ld\n", rc);
	check_eq(rc, -XEN_EINVAL, "pin L1 while mapped writable");

	check_eq(hc_update_va_mapping((u64)l1, (l1_mfn << 12) | PTE_FLAGS, UVMF_INVLPG), 0,
		 "update_va_mapping(l1, read-only)");
	check_eq(mmuext(MMUEXT_PIN_L1_TABLE, l1_mfn), 0, "pin L1");
	rc = mmuext(MMUEXT_PIN_L1_TABLE, l1_mfn);
	printf("pin L1 twice -> %ld\n", rc);
	check_eq(rc, -XEN_EINVAL, "pin L1 twice");

	rc = hc_update_va_mapping((u64)l1, (l1_mfn << 12) | PTE_RW, UVMF_INVLPG);
	printf("map pinned L1 writable -> %ld\n", rc);
	check_eq(rc, -XEN_EBUSY, "update_va_mapping(pinned L1, writable)");

	u64 pte0 = (l1_mfn << 12) | 0 * 8;
	check_eq(mmu_update1(pte0 | MMU_NORMAL_PT_UPDATE, (data_mfn << 12) | PTE_RW), 0,
		 "mmu_update(L1[0] = data, writable)");
	rc = mmu_update1(((l1_mfn << 12) | 1 * 8) | MMU_NORMAL_PT_UPDATE, (l1_mfn << 12) | PTE_RW);
	printf("L1[1] = the L1 itself, writable -> %ld\n", rc);
	check_eq(rc, -XEN_EBUSY, "mmu_update(L1[1] = L1 itself, writable)");
	/* MFN 0xfffffff is no RAM: it lies in the e820-reserved range
	 * [0xfd00000000, 0xffffffffff] QEMU reports, which dom0 has no I/O
	 * permission for. */
	rc = mmu_update1(((l1_mfn << 12) | 2 * 8) | MMU_NORMAL_PT_UPDATE, (0xfffffffUL << 12) | PTE_RW);
	printf("L1[2] = mfn 0xfffffff -> %ld\n", rc);
	check_eq(rc, -XEN_EPERM, "mmu_update(L1[2] = mfn 0xfffffff, no RAM, no I/O permission)");
	const u64 *l1v = (const u64 *)l1;
	check((l1v[0] & PADDR_MASK) == data_mfn << 12, "L1[0] reads %#lx", l1v[0]);
	check(l1v[1] == 0 && l1v[2] == 0, "refused updates changed L1[1] %#lx / L1[2] %#lx", l1v[1], l1v[2]);

	/* Hook the L1 into the live L2 and use the new mapping. */
	u64 l2e = (l2_mfn << 12) | ((NEW_VA >> 21) & 511) * 8;
	check_eq(mmu_update1(l2e | MMU_NORMAL_PT_UPDATE, (l1_mfn << 12) | PTE_RW), 0, "mmu_update(L2[4] = L1)");
	volatile u64 *alias = (volatile u64 *)NEW_VA;
	alias[3] = 0x1234567890abcdefUL;
	check(((volatile u64 *)data)[3] == 0x1234567890abcdefUL, "write through the new mapping not seen in data");
	((volatile u64 *)data)[5] = 42;
	check(alias[5] == 42, "write to data not seen through the new mapping");
	check_eq(hc_update_va_mapping(NEW_VA + 4096, (data_mfn << 12) | PTE_FLAGS, UVMF_INVLPG), 0,
		 "update_va_mapping(NEW_VA+4096, data read-only)");
	check(((volatile u64 *)(NEW_VA + 4096))[5] == 42, "read through update_va_mapping's mapping");

	/* The read above left NEW_VA+4096 -> data in the TLB: a remap with
	 * no flush, then a local flush, and the read must see the new page. */
	u64 data2_mfn = virt_to_mfn(data2);
	((volatile u64 *)data2)[5] = 43;
	check_eq(hc_update_va_mapping(NEW_VA + 4096, (data2_mfn << 12) | PTE_FLAGS, UVMF_NONE), 0,
		 "update_va_mapping(NEW_VA+4096, data2, no flush)");
	check_eq(mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0), 0, "TLB_FLUSH_LOCAL after the remap");
	check_eq(((volatile u64 *)(NEW_VA + 4096))[5], 43, "read after remap + TLB_FLUSH_LOCAL");
	check_eq(hc_update_va_mapping(NEW_VA + 4096, (data_mfn << 12) | PTE_FLAGS, UVMF_NONE), 0,
		 "update_va_mapping(NEW_VA+4096, data, no flush)");
	check_eq(flush_multi_self(), 0, "TLB_FLUSH_MULTI(self) after the remap");
	check_eq(((volatile u64 *)(NEW_VA + 4096))[5], 42, "read after remap + TLB_FLUSH_MULTI(self)");

	/* The hypervisor's own copy of an argument read through NEW_VA+4096
	 * (an mmu_update request), in one multicall: the first read (data's
	 * request: M2P[data] = data_pfn) leaves the mapping to data in its
	 * TLB, a remap to data2 without a flush follows, then TLB_FLUSH_LOCAL,
	 * and the second read must see data2's request (data_pfn + 1). */
	struct mmu_update *req_a = (struct mmu_update *)(data + 64), *req_b = (struct mmu_update *)(data2 + 64);
	u64 req_va = NEW_VA + 4096 + 64;
	req_a->ptr = req_b->ptr = (data_mfn << 12) | MMU_MACHPHYS_UPDATE;
	req_a->val = data_pfn;
	req_b->val = data_pfn + 1;
	static struct mmuext_op flush_op = { MMUEXT_TLB_FLUSH_LOCAL, 0, 0, 0 };
	static u32 done1, done2, done3;
	static struct multicall_entry mc[4];
	mc[0] = (struct multicall_entry){ __HYPERVISOR_mmu_update, -1, { req_va, 1, (u64)&done1, DOMID_SELF } };
	mc[1] = (struct multicall_entry){ __HYPERVISOR_update_va_mapping, -1, { NEW_VA + 4096, (data2_mfn << 12) | PTE_FLAGS, UVMF_NONE } };
	mc[2] = (struct multicall_entry){ __HYPERVISOR_mmuext_op, -1, { (u64)&flush_op, 1, (u64)&done2, DOMID_SELF } };
	mc[3] = (struct multicall_entry){ __HYPERVISOR_mmu_update, -1, { req_va, 1, (u64)&done3, DOMID_SELF } };
	check_eq(HYPERCALL2(__HYPERVISOR_multicall, mc, 4), 0, "multicall(mmu_update, remap, TLB_FLUSH_LOCAL, mmu_update)");
	for (int i = 0; i < 4; i++)
		check_eq(mc[i].result, 0, "multicall entry result");
	check_eq(MACH2PHYS[data_mfn], data_pfn + 1, "M2P[data mfn] from the request the copy read after the flush");
	check_eq(mmu_update1((data_mfn << 12) | MMU_MACHPHYS_UPDATE, data_pfn), 0, "MMU_MACHPHYS_UPDATE back");
	check_eq(hc_update_va_mapping(NEW_VA + 4096, (data_mfn << 12) | PTE_FLAGS, UVMF_INVLPG), 0,
		 "update_va_mapping(NEW_VA+4096, data)");

	/* Unpin: still an L1 while L2[4] references it. */
	check_eq(mmuext(MMUEXT_UNPIN_TABLE, l1_mfn), 0, "unpin L1");
	rc = mmuext(MMUEXT_UNPIN_TABLE, l1_mfn);
	printf("unpin twice -> %ld\n", rc);
	check_eq(rc, -XEN_EINVAL, "unpin an unpinned L1");
	rc = hc_update_va_mapping((u64)l1, (l1_mfn << 12) | PTE_RW, UVMF_INVLPG);
	printf("map referenced L1 writable -> %ld\n", rc);
	check_eq(rc, -XEN_EBUSY, "update_va_mapping(referenced L1, writable)");
	check_eq(mmu_update1(l2e | MMU_NORMAL_PT_UPDATE, 0), 0, "mmu_update(L2[4] = 0)");
	check_eq(mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0), 0, "TLB_FLUSH_LOCAL");
	check_eq(hc_update_va_mapping((u64)l1, (l1_mfn << 12) | PTE_RW, UVMF_INVLPG), 0,
		 "update_va_mapping(released L1, writable)");
	((volatile u8 *)l1)[0] = 0;

	rc = hc_update_va_mapping(0x40000000UL, (data_mfn << 12) | PTE_FLAGS, UVMF_INVLPG);
	printf("update_va_mapping with no L2 -> %ld\n", rc);
	check_eq(rc, -XEN_EINVAL, "update_va_mapping(VA without an L2)");
}
