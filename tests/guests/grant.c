/*
 * grant: grant table v1 (public/grant_table.h).
 *  - query_size and setup_table(1 frame) give the table's MFN, which the
 *    domain maps writable with update_va_mapping;
 *  - an entry granting one of our own pages to ourselves (domid 0, frame =
 *    MFN) lets GNTTABOP_copy read it by grant ref; the bytes arrive, and the
 *    entry's transient GTF_reading bit is gone afterwards;
 *  - copies that must fail do, with their per-op GNTST_* status while the
 *    hypercall itself returns 0: an out-of-range ref (bad_gntref), a write
 *    through a read-only grant (general_error), an entry without
 *    GTF_permit_access (general_error).
 */
#include "lib.h"

const char test_name[] = "grant";

#define GNTST_okay          0
#define GNTST_general_error -1
#define GNTST_bad_gntref    -3

static u8 table_va[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 src[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 dst[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));

static s16 copy(u32 sref, u64 smfn, int sgref, u32 dref, u64 dmfn, int dgref, u16 len)
{
	struct gnttab_copy op;
	memset(&op, 0, sizeof(op));
	if (sgref)
		op.source.u.ref = sref;
	else
		op.source.u.gmfn = smfn;
	op.source.domid = DOMID_SELF;
	if (dgref)
		op.dest.u.ref = dref;
	else
		op.dest.u.gmfn = dmfn;
	op.dest.domid = DOMID_SELF;
	op.len = len;
	op.flags = (sgref ? GNTCOPY_source_gref : 0) | (dgref ? GNTCOPY_dest_gref : 0);
	op.status = 0x7777;
	long rc = hc_grant_table_op(GNTTABOP_copy, &op, 1);
	check_eq(rc, 0, "grant_table_op(copy) return");
	return op.status;
}

void test_main(void)
{
	struct gnttab_query_size qs = { DOMID_SELF, 0, 0, 0, 0x7777, 0 };
	check_eq(hc_grant_table_op(GNTTABOP_query_size, &qs, 1), 0, "query_size");
	printf("query_size: nr_frames %u max_nr_frames %u status %d\n", qs.nr_frames, qs.max_nr_frames, qs.status);
	check_eq(qs.status, GNTST_okay, "query_size status");
	check(qs.max_nr_frames >= 1, "max_nr_frames %u", qs.max_nr_frames);

	u64 frames[1] = { 0 };
	struct gnttab_setup_table su = { DOMID_SELF, 0, 1, 0x7777, { 0, 0, 0 }, frames };
	check_eq(hc_grant_table_op(GNTTABOP_setup_table, &su, 1), 0, "setup_table");
	check_eq(su.status, GNTST_okay, "setup_table status");
	printf("setup_table: frame %#lx\n", frames[0]);
	check(frames[0] != 0, "setup_table gave frame 0");
	long rc = hc_update_va_mapping((u64)table_va,
				       (frames[0] << 12) | _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY,
				       UVMF_INVLPG);
	check_eq(rc, 0, "update_va_mapping(grant table frame, writable)");
	if (rc)
		test_fail("cannot map the grant table");
	struct grant_entry_v1 *gt = (struct grant_entry_v1 *)table_va;

	for (int i = 0; i < 4096; i++)
		src[i] = (u8)(i * 7 + 3);
	u64 smfn = virt_to_mfn(src), dmfn = virt_to_mfn(dst);
	enum { REF = 10, RO_REF = 11, OFF_REF = 12 };

	/* Grant src to ourselves (dom0), frame = MFN for a PV domain. */
	gt[REF].domid = 0;
	gt[REF].frame = (u32)smfn;
	barrier();
	gt[REF].flags = GTF_permit_access;
	memset(dst, 0, sizeof(dst));
	check_eq(copy(REF, 0, 1, 0, dmfn, 0, 256), GNTST_okay, "copy from gref");
	check(!memcmp(src, dst, 256), "copied bytes differ");
	check(dst[256] == 0, "copy wrote past its length");
	check_eq(ACCESS_ONCE(gt[REF].flags), GTF_permit_access, "entry flags after the copy");
	printf("copy from gref %d: %s\n", REF, memcmp(src, dst, 256) ? "differs" : "256 bytes equal");

	/* Copy into a gref: dst granted writable. */
	gt[RO_REF].domid = 0;
	gt[RO_REF].frame = (u32)dmfn;
	barrier();
	gt[RO_REF].flags = GTF_permit_access;
	memset(dst, 0, sizeof(dst));
	check_eq(copy(0, smfn, 0, RO_REF, 0, 1, 128), GNTST_okay, "copy to gref");
	check(!memcmp(src, dst, 128), "bytes copied to the gref differ");

	/* Failures carry per-op status. */
	check_eq(copy(100000, 0, 1, 0, dmfn, 0, 16), GNTST_bad_gntref, "copy from ref 100000 status");
	gt[RO_REF].flags = GTF_permit_access | GTF_readonly;
	check_eq(copy(0, smfn, 0, RO_REF, 0, 1, 16), GNTST_general_error, "copy into a read-only grant status");
	gt[OFF_REF].domid = 0;
	gt[OFF_REF].frame = (u32)smfn;
	gt[OFF_REF].flags = 0;
	check_eq(copy(OFF_REF, 0, 1, 0, dmfn, 0, 16), GNTST_general_error, "copy from an entry without permit_access status");
	gt[REF].flags = 0;
	gt[RO_REF].flags = 0;
}
