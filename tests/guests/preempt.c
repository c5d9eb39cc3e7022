/*
 * preempt: a pending event preempts a long hypercall, and reaches a vCPU
 * that spins in guest code on another CPU at once (boot it with
 * dom0_max_vcpus=2 on two CPUs). Xen 4.17: hypercall_preempt_check is
 * local_events_need_delivery (upcall pending, mask clear) or a softirq;
 * vcpu_kick sends an event-check IPI to the CPU running the vCPU.
 *  1. multicall: entry 0 sends on an IPI port bound to the calling vCPU,
 *     with upcalls unmasked; the 63 entries after it are xen_version.
 *     The multicall is preempted before entry 1 (a continuation with the
 *     list advanced by one and the count reduced), the upcall runs before
 *     the re-executed multicall and sees entry 0's result written and no
 *     other; then the multicall ends with every result right.
 *  2. mmu_update of 16 MMU_MACHPHYS_UPDATEs, made with upcall_pending
 *     set by the guest itself and the mask cleared just before the call:
 *     preempted after the first update; the upcall sees one M2P entry
 *     written, *pdone = 1 and the continuation's registers (list + 1,
 *     15 | MMU_UPDATE_PREEMPTED); the call then completes (*pdone = 16).
 *     An interrupt between the unmask and the call delivers the upcall
 *     before the call: that try is done again (at most 8 tries).
 *  3. vCPU 1 counts in a loop with upcalls unmasked and no hypercall;
 *     vCPU 0 sends it an IPI, ROUNDS times, and waits for each upcall,
 *     which must come while vCPU 1 spins. The median count of vCPU 1's
 *     loop iterations from just before the send to the upcall, and of TSC
 *     cycles from the send to the upcall, are printed, not checked: a
 *     hypervisor that waits for the vCPU's next timer tick lets it run
 *     for up to a millisecond, but under QEMU on a loaded host a vCPU's
 *     thread may not run for milliseconds either, and then it neither
 *     counts nor takes the IPI, so neither figure tells the two apart
 *     reliably. The medians over the rounds where vCPU 1 counted during
 *     vCPU 0's send (it was running then) are printed too.
 */
#include "lib.h"

const char test_name[] = "preempt";

#define NV 2
#define STACK 16384
#define ONE_MS 1000000UL
#define TIMEOUT (20000 * ONE_MS) /* generous: QEMU's TCG on a busy host */
#define NMC 64
#define NMMU 16
#define TRIES 8
#define ROUNDS 31
#define SENTINEL 0x5a5a5a5a5a5aL
#define MMU_UPDATE_PREEMPTED (1U << 31)

/* struct vcpu_guest_context, vcpu_runstate_info, evtchn_bind_ipi and
 * hc_vcpu_op are lib's (xen.h, hypercall.h). */

struct multicall_entry {
	u64 op;
	s64 result;
	u64 args[6];
};

/* Each vCPU's block, reached through its kernel GS base (%gs:0 = self). */
struct percpu {
	struct percpu *self;
	u64 id;
	volatile struct vcpu_info *vi;
	u32 ipi_port;
	volatile u64 ipis;	/* upcalls for ipi_port */
	volatile u64 count;	/* case 3: vCPU 1's loop */
	volatile int online;
} __attribute__((aligned(64)));

static struct percpu pcpu[NV];
static u8 stack1[STACK] __attribute__((aligned(16)));
static struct vcpu_guest_context ctxt;
static u8 scratch[NMMU][4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static struct shared_info *s;

/* What the upcall saw, by case. */
enum { CASE_NONE, CASE_MC, CASE_MMU, CASE_KICK };
static volatile int which;
static volatile int upcalls;
static volatile int seen_done;			/* entries (case 1) or updates (case 2) done */
static volatile u64 seen_rdi, seen_rsi, seen_pdone;
static struct multicall_entry mc[NMC];
static struct mmu_update req[NMMU];
static u64 mfn[NMMU], pfn[NMMU];
static u32 pdone;
static volatile u64 kick_count[ROUNDS], kick_tsc[ROUNDS];	/* vCPU 1's loop count and TSC at each upcall */

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	asm volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

static inline void cpu_relax(void) { asm volatile("pause" ::: "memory"); }

static long send(u32 port)
{
	struct evtchn_port p = { port };
	return hc_event_channel_op(EVTCHNOP_send, &p);
}

static int mc_done(void)
{
	int n = 0;
	for (int i = 0; i < NMC; i++)
		n += mc[i].result != SENTINEL;
	return n;
}

static int mmu_done(void)
{
	int n = 0;
	for (int i = 0; i < NMMU; i++)
		n += MACH2PHYS[mfn[i]] == pfn[(i + 1) % NMMU];
	return n;
}

/* The event upcall: clears what is pending for the vCPU it came on and
 * records what the case in progress looks at. */
static int hook(struct cpu_regs *r)
{
	if (r->vector != VEC_EVENT)
		return 0;
	struct percpu *c = this_cpu();
	volatile struct vcpu_info *v = c->vi;
	v->evtchn_upcall_pending = 0;
	u64 sel = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	int ipi = 0;
	if (sel & 1 && (s->evtchn_pending[0] >> c->ipi_port) & 1) {
		__atomic_fetch_and(&s->evtchn_pending[0], ~(1UL << c->ipi_port), __ATOMIC_SEQ_CST);
		ipi = 1;
	}
	if (c->id == 1) {
		if (ipi) {
			u64 k = c->ipis;
			if (k < ROUNDS) {
				kick_count[k] = c->count;
				kick_tsc[k] = rdtsc();
			}
			c->ipis = k + 1;
		}
		return 1;
	}
	upcalls++;
	seen_rdi = r->rdi;
	seen_rsi = r->rsi;
	if (which == CASE_MC)
		seen_done = mc_done();
	else if (which == CASE_MMU) {
		seen_done = mmu_done();
		seen_pdone = ACCESS_ONCE(pdone);
	}
	return 1;
}

/* The hypervisor's clock for timeouts: the calling vCPU's runstate times
 * add up to the system time since it was created. */
static u64 hvclock(void)
{
	struct vcpu_runstate_info rs;
	if (hc_vcpu_op(VCPUOP_get_runstate_info, this_cpu()->id, &rs))
		test_fail("get_runstate_info of the calling vCPU failed");
	return rs.time[0] + rs.time[1] + rs.time[2] + rs.time[3];
}

#define WAIT(cond, what) do {						\
		u64 __t0 = hvclock();					\
		while (!(cond)) {					\
			if (hvclock() - __t0 > TIMEOUT)			\
				test_fail("timed out waiting for " what);	\
			cpu_relax();					\
		}							\
	} while (0)

/* ---- 1. multicall ---- */

static void case_multicall(void)
{
	static struct evtchn_port sp;
	sp.port = pcpu[0].ipi_port;
	for (int i = 0; i < NMC; i++) {
		memset(&mc[i], 0, sizeof(mc[i]));
		mc[i].op = __HYPERVISOR_xen_version;
		mc[i].result = SENTINEL;
		mc[i].args[0] = XENVER_version;
	}
	mc[0].op = __HYPERVISOR_event_channel_op;
	mc[0].args[0] = EVTCHNOP_send;
	mc[0].args[1] = (u64)&sp;
	which = CASE_MC;
	upcalls = 0;
	seen_done = -1;
	pcpu[0].vi->evtchn_upcall_mask = 0;
	barrier();
	long rc = HYPERCALL2(__HYPERVISOR_multicall, mc, NMC);
	pcpu[0].vi->evtchn_upcall_mask = 1;
	which = CASE_NONE;
	printf("multicall: rc %ld, %d upcall(s), the upcall saw %d of %d entries done, rdi list+%ld, rsi %lu\n",
	       rc, upcalls, seen_done, NMC, (long)(seen_rdi - (u64)mc) / (long)sizeof(mc[0]), seen_rsi);
	check_eq(rc, 0, "multicall");
	check_eq(upcalls, 1, "upcalls during the multicall");
	check_eq(seen_done, 1, "entries done when the upcall ran");
	check_eq(seen_rdi, (u64)&mc[1], "rdi (the continuation's list) at the upcall");
	check_eq(seen_rsi, NMC - 1, "rsi (the continuation's count) at the upcall");
	check_eq(mc[0].result, 0, "entry 0 (EVTCHNOP_send)");
	for (int i = 1; i < NMC; i++)
		if (mc[i].result != 0x00040011) {
			check(0, "entry %d (xen_version): result %ld, want 0x40011", i, mc[i].result);
			break;
		}
}

/* ---- 2. mmu_update ---- */

static long machphys(int i, u64 to)
{
	struct mmu_update u = { (mfn[i] << 12) | MMU_MACHPHYS_UPDATE, to };
	return hc_mmu_update(&u, 1, NULL, DOMID_SELF);
}

static void case_mmu_update(void)
{
	for (int i = 0; i < NMMU; i++) {
		mfn[i] = virt_to_mfn(scratch[i]);
		pfn[i] = MACH2PHYS[mfn[i]];
	}
	volatile struct vcpu_info *v = pcpu[0].vi;
	int try;
	long rc = 0;
	for (try = 1; try <= TRIES; try++) {
		/* Each frame's M2P entry names the next frame's PFN. */
		for (int i = 0; i < NMMU; i++)
			req[i] = (struct mmu_update){ (mfn[i] << 12) | MMU_MACHPHYS_UPDATE, pfn[(i + 1) % NMMU] };
		pdone = 0xdead;
		which = CASE_MMU;
		upcalls = 0;
		seen_done = -1;
		v->evtchn_upcall_pending = 1;
		barrier();
		v->evtchn_upcall_mask = 0;
		barrier();
		rc = hc_mmu_update(req, NMMU, &pdone, DOMID_SELF);
		v->evtchn_upcall_mask = 1;
		which = CASE_NONE;
		if (upcalls == 1 && seen_done == 0 && seen_pdone == 0xdead) {
			/* The upcall came before the call: put the M2P back, again. */
			for (int i = 0; i < NMMU; i++)
				machphys(i, pfn[i]);
			continue;
		}
		break;
	}
	printf("mmu_update: try %d, rc %ld, %d upcall(s), the upcall saw %d of %d updates and pdone %lu, "
	       "rdi list+%ld, rsi %#lx; pdone %u after\n", try, rc, upcalls, seen_done, NMMU, seen_pdone,
	       (long)(seen_rdi - (u64)req) / (long)sizeof(req[0]), seen_rsi, pdone);
	check(try <= TRIES, "every try's upcall came before the mmu_update");
	check_eq(rc, 0, "mmu_update");
	check_eq(upcalls, 1, "upcalls during the mmu_update");
	check_eq(seen_done, 1, "M2P entries written when the upcall ran");
	check_eq(seen_pdone, 1, "*pdone when the upcall ran");
	check_eq(seen_rdi, (u64)&req[1], "rdi (the continuation's list) at the upcall");
	check_eq(seen_rsi, (NMMU - 1) | MMU_UPDATE_PREEMPTED, "rsi (the continuation's count) at the upcall");
	check_eq(pdone, NMMU, "*pdone after the mmu_update");
	check_eq(mmu_done(), NMMU, "M2P entries written after the mmu_update");
	for (int i = 0; i < NMMU; i++)
		check_eq(machphys(i, pfn[i]), 0, "MMU_MACHPHYS_UPDATE back");
	check_eq(mmu_done(), 0, "M2P entries left changed");
}

/* ---- 3. an IPI to a vCPU spinning in guest code ---- */

void secondary(u64 id)
{
	struct percpu *c = &pcpu[id];
	c->vi->evtchn_upcall_mask = 0;
	c->online = 1;
	for (;;)
		c->count++;
}

static void start_vcpu1(void)
{
	struct percpu *c = &pcpu[1];
	c->self = c;
	c->id = 1;
	c->vi = &s->vcpu_info[1];
	vcpu_context(&ctxt, 1, secondary, &stack1[STACK], 1, (u64)c);
	check_eq(hc_vcpu_op(VCPUOP_initialise, 1, &ctxt), 0, "initialise(1)");
	check_eq(hc_vcpu_op(VCPUOP_up, 1, NULL), 0, "up(1)");
	WAIT(c->online, "vCPU 1 to come up");
}


static void case_kick(void)
{
	struct percpu *c1 = &pcpu[1];
	static u64 loops[ROUNDS], cycles[ROUNDS], cloops[ROUNDS], ccycles[ROUNDS];
	int nc = 0;
	for (int k = 0; k < ROUNDS; k++) {
		u64 base = c1->count;
		WAIT(c1->count > base + 10000, "vCPU 1 to count");
		u64 before = c1->count;
		u64 t0 = rdtsc();
		if (send(c1->ipi_port))
			test_fail("EVTCHNOP_send to vCPU 1 failed");
		u64 after = c1->count;
		WAIT(c1->ipis > (u64)k, "vCPU 1's upcall");
		loops[k] = kick_count[k] - before;
		cycles[k] = kick_tsc[k] - t0;
		if (after != before) {	/* vCPU 1 ran beside the send */
			cloops[nc] = loops[k];
			ccycles[nc++] = cycles[k];
		}
	}
	sort_u64(loops, ROUNDS);
	sort_u64(cycles, ROUNDS);
	sort_u64(cloops, nc);
	sort_u64(ccycles, nc);
	printf("kick: vCPU 1 spinning took the IPI a median of %lu of its loop iterations after the send "
	       "(min %lu, max %lu), %lu TSC cycles after (min %lu, max %lu), %d rounds\n", loops[ROUNDS / 2], loops[0],
	       loops[ROUNDS - 1], cycles[ROUNDS / 2], cycles[0], cycles[ROUNDS - 1], ROUNDS);
	if (nc)
		printf("kick: in the %d rounds where vCPU 1 counted during the send: median %lu iterations, "
		       "%lu TSC cycles\n", nc, cloops[nc / 2], ccycles[nc / 2]);
	check_eq(c1->ipis, ROUNDS, "IPIs taken by vCPU 1");
}

void test_main(void)
{
	s = map_shared_info();
	install_traps();
	trap_hook = hook;
	register_event_callback();
	pcpu[0].self = &pcpu[0];
	pcpu[0].vi = &s->vcpu_info[0];
	check_eq(hc_set_segment_base(SEGBASE_GS_KERNEL, (u64)&pcpu[0]), 0, "set_segment_base(GS_KERNEL)");
	for (int i = 0; i < NV; i++) {
		struct evtchn_bind_ipi b = { i, 0 };
		check_eq(hc_event_channel_op(EVTCHNOP_bind_ipi, &b), 0, "bind_ipi");
		if (b.port >= 64)
			test_fail("IPI port above 63");
		pcpu[i].ipi_port = b.port;
		__atomic_fetch_and(&s->evtchn_mask[0], ~(1UL << b.port), __ATOMIC_SEQ_CST);
	}
	case_multicall();
	case_mmu_update();
	if (hc_vcpu_op(VCPUOP_get_runstate_info, 1, &(struct vcpu_runstate_info){ 0 }) != 0)
		test_fail("no vCPU 1 (boot with dom0_max_vcpus=2)");
	start_vcpu1();
	case_kick();
}
