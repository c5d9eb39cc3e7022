/*
 * grantv2: grant table version 2 (public/grant_table.h).
 *  - set_version(3) is -EINVAL with version 1 written back; before v2,
 *    get_status_frames(1) gives GNTST_general_error and count 2 -EINVAL;
 *  - set_version(2) succeeds, get_version says 2, query_size still counts
 *    grant frames; get_status_frames(1) gives a status frame, (2) does not;
 *  - a full_page v2 entry granting our own page lets GNTTABOP_copy read
 *    it by grant ref; the header's flags stay as written, the status word
 *    is clear afterwards;
 *  - a sub_page entry (page_off 256, length 128) allows a copy inside that
 *    range only (GNTST_general_error outside); a read-only entry refuses
 *    a copy into it;
 *  - back to v1: a reserved entry with a frame above 32 bits is -ERANGE
 *    (version 2 written back); once cleared, set_version(1) succeeds and
 *    get_status_frames(1) fails again.
 */
#include "lib.h"

const char test_name[] = "grantv2";

#define GNTST_okay          0
#define GNTST_general_error -1

static u8 table_va[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 status_va[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 src[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 dst[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));

static s16 copy(u32 sref, u16 soff, u64 dmfn_or_ref, int dgref, u16 doff, u16 len, int sgref, u64 smfn)
{
	struct gnttab_copy op;
	memset(&op, 0, sizeof(op));
	if (sgref)
		op.source.u.ref = sref;
	else
		op.source.u.gmfn = smfn;
	op.source.domid = DOMID_SELF;
	op.source.offset = soff;
	if (dgref)
		op.dest.u.ref = (u32)dmfn_or_ref;
	else
		op.dest.u.gmfn = dmfn_or_ref;
	op.dest.domid = DOMID_SELF;
	op.dest.offset = doff;
	op.len = len;
	op.flags = (sgref ? GNTCOPY_source_gref : 0) | (dgref ? GNTCOPY_dest_gref : 0);
	op.status = 0x7777;
	check_eq(hc_grant_table_op(GNTTABOP_copy, &op, 1), 0, "grant_table_op(copy) return");
	return op.status;
}

static long set_version(u32 v, u32 *out)
{
	struct gnttab_set_version sv = { v };
	long rc = hc_grant_table_op(GNTTABOP_set_version, &sv, 1);
	*out = sv.version;
	return rc;
}

static s16 status_frames(u32 nr, u64 *list, long *rc)
{
	struct gnttab_get_status_frames gs = { nr, DOMID_SELF, 0x7777, list };
	*rc = hc_grant_table_op(GNTTABOP_get_status_frames, &gs, 1);
	return gs.status;
}

void test_main(void)
{
	u32 v = 0;
	long rc;
	u64 sframes[2] = { 0, 0 };
	check_eq(set_version(3, &v), -XEN_EINVAL, "set_version(3)");
	check_eq(v, 1, "version written back by set_version(3)");
	check_eq(status_frames(1, sframes, &rc), GNTST_general_error, "get_status_frames(1) on v1 status");
	check_eq(rc, 0, "get_status_frames(1) on v1 return");
	struct gnttab_get_status_frames gs2 = { 1, DOMID_SELF, 0x7777, sframes };
	check_eq(hc_grant_table_op(GNTTABOP_get_status_frames, &gs2, 2), -XEN_EINVAL, "get_status_frames count 2");

	check_eq(set_version(2, &v), 0, "set_version(2)");
	check_eq(v, 2, "version after set_version(2)");
	struct gnttab_get_version gv = { DOMID_SELF, 0, 0 };
	check_eq(hc_grant_table_op(GNTTABOP_get_version, &gv, 1), 0, "get_version");
	check_eq(gv.version, 2, "get_version.version");
	struct gnttab_query_size qs = { DOMID_SELF, 0, 0, 0, 0x7777, 0 };
	check_eq(hc_grant_table_op(GNTTABOP_query_size, &qs, 1), 0, "query_size");
	check_eq(qs.status, GNTST_okay, "query_size status");
	check_eq(qs.nr_frames, 1, "query_size nr_frames on v2");

	check_eq(status_frames(1, sframes, &rc), GNTST_okay, "get_status_frames(1) status");
	check_eq(rc, 0, "get_status_frames(1) return");
	check(sframes[0] != 0, "status frame 0");
	check_eq(status_frames(2, sframes, &rc), GNTST_general_error, "get_status_frames(2) status");
	check_eq(hc_update_va_mapping((u64)status_va, (sframes[0] << 12) | _PAGE_PRESENT | _PAGE_ACCESSED, UVMF_INVLPG),
		 0, "update_va_mapping(status frame, read-only)");
	volatile u16 *status = (volatile u16 *)status_va;

	u64 frames[1] = { 0 };
	struct gnttab_setup_table su = { DOMID_SELF, 0, 1, 0x7777, { 0, 0, 0 }, frames };
	check_eq(hc_grant_table_op(GNTTABOP_setup_table, &su, 1), 0, "setup_table");
	check_eq(su.status, GNTST_okay, "setup_table status");
	rc = hc_update_va_mapping((u64)table_va,
				  (frames[0] << 12) | _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY, UVMF_INVLPG);
	check_eq(rc, 0, "update_va_mapping(grant table frame, writable)");
	if (rc)
		test_fail("cannot map the grant table");
	volatile struct grant_entry_v2 *gt = (volatile struct grant_entry_v2 *)table_va;

	for (int i = 0; i < 4096; i++)
		src[i] = (u8)(i * 5 + 1);
	u64 smfn = virt_to_mfn(src), dmfn = virt_to_mfn(dst);

	/* full_page, granted to ourselves (domain 0). */
	gt[10].domid = 0;
	gt[10].frame = smfn;
	gt[10].page_off = 0;
	gt[10].length = 0;
	barrier();
	gt[10].flags = GTF_permit_access;
	check_eq(copy(10, 64, dmfn, 0, 0, 256, 1, 0), GNTST_okay, "copy from a full_page v2 grant");
	check(memcmp(dst, src + 64, 256) == 0, "full_page copy: bytes differ");
	check_eq(gt[10].flags, GTF_permit_access, "full_page header flags after copy");
	check_eq(status[10], 0, "full_page status after copy");

	/* sub_page: [256, 384). */
	gt[11].domid = 0;
	gt[11].frame = smfn;
	gt[11].page_off = 256;
	gt[11].length = 128;
	barrier();
	gt[11].flags = GTF_permit_access | GTF_sub_page;
	memset(dst, 0, 64);
	check_eq(copy(11, 300, dmfn, 0, 0, 16, 1, 0), GNTST_okay, "copy inside the sub_page range");
	check(memcmp(dst, src + 300, 16) == 0, "sub_page copy: bytes differ");
	check_eq(copy(11, 200, dmfn, 0, 0, 16, 1, 0), GNTST_general_error, "copy before the sub_page range");
	check_eq(copy(11, 380, dmfn, 0, 0, 8, 1, 0), GNTST_general_error, "copy past the sub_page range");
	check_eq(status[11], 0, "sub_page status after copies");

	/* Read-only entry: no copy into it. */
	gt[12].domid = 0;
	gt[12].frame = dmfn;
	barrier();
	gt[12].flags = GTF_permit_access | GTF_readonly;
	check_eq(copy(0, 0, 12, 1, 0, 16, 0, smfn), GNTST_general_error, "copy into a read-only v2 grant");
	check_eq(status[12], 0, "read-only entry status after the refused copy");

	/* Back to v1. */
	gt[3].domid = 0;
	gt[3].frame = 1UL << 40;
	barrier();
	gt[3].flags = GTF_permit_access;
	check_eq(set_version(1, &v), -XEN_ERANGE, "set_version(1) with a 64-bit frame in a reserved entry");
	check_eq(v, 2, "version written back after -ERANGE");
	gt[3].flags = 0;
	check_eq(hc_update_va_mapping((u64)status_va, 0, UVMF_INVLPG), 0, "unmap the status frame");
	check_eq(set_version(1, &v), 0, "set_version(1)");
	check_eq(v, 1, "version after set_version(1)");
	check_eq(status_frames(1, sframes, &rc), GNTST_general_error, "get_status_frames(1) after going back to v1");
	check_eq(((volatile struct grant_entry_v1 *)table_va)[10].flags, 0, "entry 10 cleared by the switch");
	finish();
}
