/*
 * bench: hypercall costs in TSC cycles, for tests/bench_guests_test.go
 * (BenchmarkGuestOps) to compare gohv with Xen 4.17. Each figure is one
 * timed run of OPS operations after a short warm-up, read with lfence;rdtsc
 * at both ends (rdtscp is not in QEMU's default qemu64 CPU model):
 *  - null_hypercall: xen_version(XENVER_version, NULL);
 *  - evtchn_send: EVTCHNOP_send on one end of a loopback interdomain pair
 *    (alloc_unbound(self, self) + bind_interdomain). Both ports are masked
 *    and the vCPU's upcall mask stays 1, so no upcall is ever delivered.
 *    The receiving port's pending bit is cleared (a locked `and`, counted in
 *    the figure) before every send, so each send takes the path of a new
 *    event on a masked port (set pending, see the mask, stop) rather than
 *    the early return for an already-pending port; after each send the
 *    pending bit must be set again, which checks that the send happened;
 *  - grant_copy_4k: GNTTABOP_copy of a whole 4 KiB page, source by grant
 *    ref (a page of our own granted to ourselves, as grant.c does), dest by
 *    gmfn (= MFN for a PV domain); every op's status must be GNTST_okay and
 *    the last copy's bytes must equal the source.
 * The TSC frequency the guest is told (vcpu_time_info: ns = ((tsc << shift)
 * * mul) >> 32, so kHz = 10^6 * 2^32 / mul, then scaled by 2^-shift) turns
 * cycles into ns. Whether rdtsc runs natively or is emulated is the
 * hypervisor's choice; either way it counts in the units vcpu_time_info
 * describes, and only two reads bracket each run.
 * Machine-readable lines: "bench: <metric> cycles_per_op=<n> ops=<n>" and
 * "bench: tsc_khz=<n>".
 */
#include "lib.h"

const char test_name[] = "bench";

#define OPS    100000
#define WARMUP 1000

#define GNTST_okay 0

static u8 table_va[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 src[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 dst[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));

static u64 tsc_khz;

static inline u64 tsc_fenced(void)
{
	u32 lo, hi;
	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((u64)hi << 32) | lo;
}

static void report(const char *metric, const char *what, u64 cycles)
{
	u64 per_op = cycles / OPS;
	if (tsc_khz) {
		/* ns/op in tenths: cycles/op * 10^7 / kHz. */
		u64 tenths = per_op * 10000000 / tsc_khz;
		printf("%s: %u ops in %lu cycles, %lu cycles/op (%lu.%lu ns/op)\n", what, OPS, cycles, per_op,
		       tenths / 10, tenths % 10);
	} else {
		printf("%s: %u ops in %lu cycles, %lu cycles/op\n", what, OPS, cycles, per_op);
	}
	printf("bench: %s cycles_per_op=%lu ops=%u\n", metric, per_op, OPS);
}

static void bench_null(void)
{
	long want = hc_xen_version(XENVER_version, NULL);
	check(want > 0, "xen_version(XENVER_version) = %ld", want);
	int bad = 0;
	for (int i = 0; i < WARMUP; i++)
		bad += hc_xen_version(XENVER_version, NULL) != want;
	u64 t0 = tsc_fenced();
	for (int i = 0; i < OPS; i++)
		bad += hc_xen_version(XENVER_version, NULL) != want;
	u64 t1 = tsc_fenced();
	check(bad == 0, "xen_version gave another result %d time(s)", bad);
	report("null_hypercall", "null hypercall (xen_version)", t1 - t0);
}

static void set_port_mask(struct shared_info *s, u32 port)
{
	__atomic_fetch_or(&s->evtchn_mask[port / 64], 1UL << (port % 64), __ATOMIC_SEQ_CST);
}

static void bench_evtchn(struct shared_info *s)
{
	struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
	long rc = hc_event_channel_op(EVTCHNOP_alloc_unbound, &au);
	check_eq(rc, 0, "alloc_unbound(self, self)");
	if (rc)
		return;
	u32 p1 = au.port;
	set_port_mask(s, p1);
	struct evtchn_bind_interdomain bi = { DOMID_SELF, 0, p1, 0 };
	rc = hc_event_channel_op(EVTCHNOP_bind_interdomain, &bi);
	check_eq(rc, 0, "bind_interdomain(self, p1)");
	if (rc)
		return;
	u32 p2 = bi.local_port;
	set_port_mask(s, p2);
	check(p1 < 4096 && p2 < 4096, "ports %u/%u beyond the 2-level limit", p1, p2);
	printf("ports: receiver %u, sender %u (both masked)\n", p1, p2);

	/* Send on p2; the event lands on p1. */
	volatile u64 *word = &s->evtchn_pending[p1 / 64];
	u64 bit = 1UL << (p1 % 64);
	struct evtchn_port sp = { p2 };
	int bad = 0, missed = 0;
	for (int i = 0; i < WARMUP; i++) {
		__atomic_fetch_and(word, ~bit, __ATOMIC_SEQ_CST);
		bad += hc_event_channel_op(EVTCHNOP_send, &sp) != 0;
		missed += !(*word & bit);
	}
	u64 t0 = tsc_fenced();
	for (int i = 0; i < OPS; i++) {
		__atomic_fetch_and(word, ~bit, __ATOMIC_SEQ_CST);
		bad += hc_event_channel_op(EVTCHNOP_send, &sp) != 0;
		missed += !(*word & bit);
	}
	u64 t1 = tsc_fenced();
	check(bad == 0, "EVTCHNOP_send failed %d time(s)", bad);
	check(missed == 0, "port %u not pending after %d send(s)", p1, missed);
	check(s->vcpu_info[0].evtchn_upcall_mask == 1, "upcall mask cleared during the run");
	report("evtchn_send", "event channel send (masked loopback port)", t1 - t0);

	struct evtchn_port cl = { p2 };
	check_eq(hc_event_channel_op(EVTCHNOP_close, &cl), 0, "close(p2)");
	cl.port = p1;
	check_eq(hc_event_channel_op(EVTCHNOP_close, &cl), 0, "close(p1)");
}

static void bench_grant(void)
{
	u64 frames[1] = { 0 };
	struct gnttab_setup_table su = { DOMID_SELF, 0, 1, 0x7777, { 0, 0, 0 }, frames };
	long rc = hc_grant_table_op(GNTTABOP_setup_table, &su, 1);
	check_eq(rc, 0, "setup_table");
	check_eq(su.status, GNTST_okay, "setup_table status");
	if (rc || su.status != GNTST_okay || !frames[0])
		return;
	rc = hc_update_va_mapping((u64)table_va,
				  (frames[0] << 12) | _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY,
				  UVMF_INVLPG);
	check_eq(rc, 0, "update_va_mapping(grant table frame, writable)");
	if (rc)
		return;
	struct grant_entry_v1 *gt = (struct grant_entry_v1 *)table_va;

	for (int i = 0; i < 4096; i++)
		src[i] = (u8)(i * 13 + 5);
	memset(dst, 0, sizeof(dst));
	enum { REF = 8 };
	gt[REF].domid = 0;	/* dom0: ourselves */
	gt[REF].frame = (u32)virt_to_mfn(src);
	barrier();
	gt[REF].flags = GTF_permit_access | GTF_readonly;

	struct gnttab_copy op;
	memset(&op, 0, sizeof(op));
	op.source.u.ref = REF;
	op.source.domid = DOMID_SELF;
	op.dest.u.gmfn = virt_to_mfn(dst);
	op.dest.domid = DOMID_SELF;
	op.len = 4096;
	op.flags = GNTCOPY_source_gref;
	int bad = 0;
	for (int i = 0; i < WARMUP; i++) {
		op.status = 0x7777;
		bad += hc_grant_table_op(GNTTABOP_copy, &op, 1) != 0 || op.status != GNTST_okay;
	}
	memset(dst, 0, sizeof(dst));
	u64 t0 = tsc_fenced();
	for (int i = 0; i < OPS; i++) {
		op.status = 0x7777;
		bad += hc_grant_table_op(GNTTABOP_copy, &op, 1) != 0 || op.status != GNTST_okay;
	}
	u64 t1 = tsc_fenced();
	check(bad == 0, "GNTTABOP_copy failed %d time(s) (last status %d)", bad, op.status);
	check(!memcmp(src, dst, sizeof(dst)), "copied page differs from its source");
	check_eq(ACCESS_ONCE(gt[REF].flags), GTF_permit_access | GTF_readonly, "entry flags after the copies");
	report("grant_copy_4k", "grant copy 4 KiB (gref -> gmfn)", t1 - t0);
	gt[REF].flags = 0;
}

void test_main(void)
{
	struct shared_info *s = map_shared_info();
	install_traps();
	check(s->vcpu_info[0].evtchn_upcall_mask == 1, "events not masked at entry");
	tsc_khz = vcpu_tsc_khz(&s->vcpu_info[0].time);
	if (tsc_khz)
		printf("bench: tsc_khz=%lu\n", tsc_khz);
	else
		printf("no TSC scale in vcpu_time_info: figures in cycles only\n");
	bench_null();
	bench_evtchn(s);
	bench_grant();
}
