/*
 * smp: a PV guest with several vCPUs (boot it with dom0_max_vcpus=SMP_VCPUS).
 * vCPU 0 finds the vCPUs (VCPUOP_is_up: 1 for itself, 0 for the others,
 * -ENOENT past them), checks VCPUOP_initialise's refusals, registers a
 * vcpu_info for each other vCPU in a page of its own, and brings each up
 * with VCPUOP_initialise (own stack, trap table, event callback, kernel GS
 * base = its per-vCPU block, the L4 in ctrlreg[3], its id in rdi) and
 * VCPUOP_up. Then, phase by phase, with every vCPU taking part:
 *  1. a shared counter under a spinlock, N * ROUNDS increments;
 *  2. IPIs (EVTCHNOP_bind_ipi): a token passed round the vCPUs, each
 *     waiting for its upcall with events unmasked (a ring of vCPUs each
 *     asleep in SCHEDOP_block until the previous one's IPI stalled now and
 *     then on Xen 4.17 with 4 vCPUs on 2 CPUs under QEMU; blocking and its
 *     wake-up are step 4's);
 *  3. TLB flushes across vCPUs: once every vCPU has read a page through a
 *     window, vCPU 0 remaps the window flushing at most its own TLB, then
 *     flushes the others' with MMUEXT_TLB_FLUSH_MULTI, INVLPG_MULTI (a
 *     mask of the others), TLB_FLUSH_ALL and INVLPG_ALL; each vCPU must
 *     read the new page each time;
 *  4. vCPU 1 blocks (SCHEDOP_block) while vCPU 0 spins: its runstate is
 *     blocked, it stays asleep, and an IPI wakes it; then it polls a
 *     masked port (SCHEDOP_poll, as Linux's PV spinlocks do) until vCPU 0
 *     sends on it, and a poll of an idle port ends at its timeout;
 *  5. EVTCHNOP_bind_vcpu moves a loopback interdomain port to vCPU 1 (an
 *     IPI or VIRQ_TIMER port may not move), and VIRQ_TIMER binds per vCPU;
 *  6. VCPUOP_down of vCPU 1 while it counts: it stops (is_up 0, runstate
 *     offline) until VCPUOP_up, then counts on.
 */
#include "lib.h"

#ifndef SMP_VCPUS
#define SMP_VCPUS 2
#define SMP_NAME "smp"
#endif
const char test_name[] = SMP_NAME;

#define MAXV 8
#define STACK 16384
#define ONE_MS 1000000UL
#define TIMEOUT (20000 * ONE_MS) /* generous: QEMU's TCG on a busy host */
#define ROUNDS 10000
#define PINGS 50

/* Each vCPU's block, reached through its kernel GS base (%gs:0 = self). */
struct percpu {
	struct percpu *self;
	u64 id;
	volatile struct vcpu_info *vi;
	u64 mine;		/* ports (all below 64) bound to this vCPU */
	u32 ipi_port, poll_port;
	volatile u64 ipis;	/* upcalls for ipi_port */
	volatile u64 others;	/* upcalls for ports other than ipi_port */
	volatile int online, done;	/* the last phase it finished */
	volatile u64 seen[5];	/* phases 3-7: what it read through the window */
	volatile u64 count;	/* phase 9: vCPU 1 counts, VCPUOP_down stops it */
	volatile u64 entry_rdi, entry_rflags, entry_gs0;
	volatile u16 entry_cs, entry_ss;
} __attribute__((aligned(64)));

static struct percpu pcpu[MAXV];
static u8 stacks[MAXV][STACK] __attribute__((aligned(16)));
static struct vcpu_guest_context ctxt;
static u8 vinfo_page[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 page_a[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 page_b[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 window[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
#define MAGIC_A 0xa5a5a5a5aaaa0001UL
#define MAGIC_B 0xb6b6b6b6bbbb0002UL

static struct shared_info *s;
static int nv;
static volatile int phase;
static volatile int spin;		/* phase 1's lock */
static volatile u64 locked_count;	/* under the lock, not atomic */
static volatile u64 atomic_count;
static volatile u64 token;		/* phase 2: whose turn */
static volatile u64 moved_hits;		/* upcalls for the port bind_vcpu moved */
static u32 moved_port;
static volatile long poll_rc[3];
static volatile int blocking, polling, polled;	/* vCPU 1's steps in phase 8 */

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	asm volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

static inline void cpu_relax(void) { asm volatile("pause" ::: "memory"); }

static void lock(void)
{
	while (__atomic_exchange_n(&spin, 1, __ATOMIC_ACQUIRE))
		while (spin)
			cpu_relax();
}
static void unlock(void) { __atomic_store_n(&spin, 0, __ATOMIC_RELEASE); }

static void send(u32 port)
{
	struct evtchn_port p = { port };
	long rc = hc_event_channel_op(EVTCHNOP_send, &p);
	if (rc)
		test_fail("EVTCHNOP_send failed");
}

static void unmask_port(u32 port)
{
	__atomic_fetch_and(&s->evtchn_mask[port / 64], ~(1UL << (port % 64)), __ATOMIC_SEQ_CST);
}

/* The event upcall, on whichever vCPU it came: only that vCPU's ports. */
static int hook(struct cpu_regs *r)
{
	if (r->vector != VEC_EVENT)
		return 0;
	struct percpu *c = this_cpu();
	volatile struct vcpu_info *v = c->vi;
	v->evtchn_upcall_pending = 0;
	u64 sel = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	if (sel & 1) {
		u64 pend = s->evtchn_pending[0] & ~s->evtchn_mask[0] & c->mine;
		while (pend) {
			int b = __builtin_ctzl(pend);
			pend &= pend - 1;
			__atomic_fetch_and(&s->evtchn_pending[0], ~(1UL << b), __ATOMIC_SEQ_CST);
			if ((u32)b == c->ipi_port)
				c->ipis++;
			else if ((u32)b == moved_port)
				moved_hits++;
			else
				c->others++;
		}
	}
	return 1;
}

/* Wait (blocking) until *p differs from old: events masked while testing,
 * SCHEDOP_block unmasks them and sleeps unless one is pending. */
static void wait_change(volatile u64 *p, u64 old)
{
	struct percpu *c = this_cpu();
	for (;;) {
		c->vi->evtchn_upcall_mask = 1;
		barrier();
		if (*p != old)
			break;
		hc_sched_op(SCHEDOP_block, NULL);
	}
	c->vi->evtchn_upcall_mask = 0;
}

/* System time as this vCPU's own vcpu_time_info gives it (its TSC scale and
 * stamp, which the hypervisor writes for the physical CPU it runs on). */
static u64 vnow(void)
{
	return vcpu_time_ns(&this_cpu()->vi->time);
}

/* The hypervisor's clock for timeouts and spins: the calling vCPU's
 * runstate times add up to the system time since it was created, read by
 * the hypervisor itself. (A TSC read here may be another physical CPU's
 * than the vcpu_time_info's stamp: Xen trusts QEMU's TSCs to agree, and
 * under TCG with 4 vCPUs on 2 CPUs they do not, so TSC-based time jumps
 * or stands still.) */
static long runstate(unsigned v, struct vcpu_runstate_info *rs);
static u64 hvclock(void)
{
	struct vcpu_runstate_info rs;
	if (runstate(this_cpu()->id, &rs))
		test_fail("get_runstate_info of the calling vCPU failed");
	return rs.time[0] + rs.time[1] + rs.time[2] + rs.time[3];
}
struct stopwatch { u64 t0; };
static void sw_start(struct stopwatch *w) { w->t0 = hvclock(); }
static u64 sw_spent(struct stopwatch *w) { return hvclock() - w->t0; }

/* vCPU 0 waits, spinning, for cond; a timeout fails the test. */
#define WAIT(cond, what) do {						\
		struct stopwatch __w;					\
		sw_start(&__w);						\
		while (!(cond)) {					\
			if (sw_spent(&__w) > TIMEOUT)			\
				test_fail("timed out waiting for " what);	\
			cpu_relax();					\
		}							\
	} while (0)

static void spin_ms(u64 ms)
{
	struct stopwatch w;
	sw_start(&w);
	while (sw_spent(&w) < ms * ONE_MS)
		cpu_relax();
}

static long runstate(unsigned v, struct vcpu_runstate_info *rs)
{
	return hc_vcpu_op(VCPUOP_get_runstate_info, v, rs);
}

static int runstate_is(unsigned v, int state)
{
	struct vcpu_runstate_info rs;
	return runstate(v, &rs) == 0 && rs.state == state;
}

/* ---- the other vCPUs ---- */

static void phase_work(struct percpu *c, int ph)
{
	switch (ph) {
	case 1:
		for (int i = 0; i < ROUNDS; i++) {
			lock();
			locked_count = locked_count + 1;
			unlock();
			__atomic_fetch_add(&atomic_count, 1, __ATOMIC_RELAXED);
		}
		break;
	case 2:
		for (u64 i = 0; i < PINGS; i++) {
			while (c->ipis == i)	/* the i+1th IPI, events unmasked */
				cpu_relax();
			check(token == c->id, "vCPU %lu woken for the token, which is vCPU %lu's", c->id, token);
			token = (c->id + 1) % nv;
			send(pcpu[token].ipi_port);
		}
		break;
	case 3: case 4: case 5: case 6: case 7:
		c->seen[ph - 3] = ACCESS_ONCE(*(volatile u64 *)window);
		break;
	case 8:
		if (c->id != 1)
			break;
		/* Block until an IPI; vCPU 0 checks we sleep meanwhile. */
		blocking = 1;
		wait_change(&c->ipis, c->ipis);
		/* Poll the masked poll port until vCPU 0 sends on it. */
		{
			u32 ports[1] = { c->poll_port };
			struct sched_poll sp = { ports, 1, 0, vnow() + TIMEOUT };
			c->vi->evtchn_upcall_mask = 1;
			polling = 1;
			poll_rc[0] = hc_sched_op(SCHEDOP_poll, &sp);
			polled = 1;
			poll_rc[1] = (s->evtchn_pending[0] >> c->poll_port) & 1;
			__atomic_fetch_and(&s->evtchn_pending[0], ~(1UL << c->poll_port), __ATOMIC_SEQ_CST);
			/* Nobody sends now: the poll ends at its timeout (20 ms
			 * from now as this vCPU's time info tells; see hvclock). */
			sp.timeout = vnow() + 20 * ONE_MS;
			poll_rc[2] = hc_sched_op(SCHEDOP_poll, &sp);
			if (!poll_rc[2] && ((s->evtchn_pending[0] >> c->poll_port) & 1))
				poll_rc[2] = 1;	/* woken by an event nobody sent */
			c->vi->evtchn_upcall_mask = 0;
		}
		break;
	case 9:
		if (c->id != 1)
			break;
		for (;;) {	/* counts until vCPU 0 moves on; VCPUOP_down stops it for a while */
			c->count++;
			if (phase != 9)
				return;
		}
	}
}

void secondary(u64 id)
{
	struct percpu *c = &pcpu[id];
	u64 rflags;
	asm volatile("pushfq; popq %0" : "=r"(rflags));
	c->entry_rdi = id;
	c->entry_rflags = rflags;
	c->entry_gs0 = (u64)this_cpu();
	asm volatile("movw %%cs, %0; movw %%ss, %1" : "=r"(c->entry_cs), "=r"(c->entry_ss));
	c->vi->evtchn_upcall_mask = 0;
	c->online = 1;
	for (int done = 0;;) {
		while (phase == done)
			cpu_relax();
		int ph = phase;
		phase_work(c, ph);
		c->done = done = ph;
	}
}

static void build_context(int i)
{
	vcpu_context(&ctxt, i, secondary, &stacks[i][STACK], 1, (u64)&pcpu[i]);
}

static void run_phase(int ph, const char *what)
{
	phase = ph;
	struct percpu *c = &pcpu[0];
	phase_work(c, ph);
	for (int i = 1; i < nv; i++) {
		struct stopwatch w;
		sw_start(&w);
		while (pcpu[i].done != ph) {
			if (sw_spent(&w) > TIMEOUT) {
				char why[120];
				snprintf(why, sizeof(why), "vCPU %d did not finish phase %d (%s)", i, ph, what);
				test_fail(why);
			}
			cpu_relax();
		}
	}
	c->done = ph;
}

static void remap_window(void *page, u64 flags)
{
	long rc = hc_update_va_mapping((u64)window,
		(virt_to_mfn(page) << 12) | _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY, flags);
	if (rc)
		test_fail("update_va_mapping of the window failed");
}

static void flush_others(u32 cmd, u64 *mask)
{
	struct mmuext_op op = { cmd, 0, (u64)window, (u64)mask };
	long rc = hc_mmuext_op(&op, 1, NULL, DOMID_SELF);
	if (rc)
		test_fail("mmuext_op flush failed");
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
	check(this_cpu() == &pcpu[0], "%%gs:0 is %p, want %p", this_cpu(), &pcpu[0]);

	/* Find the vCPUs. */
	check_eq(hc_vcpu_op(VCPUOP_is_up, 0, NULL), 1, "is_up(0)");
	for (nv = 1; nv < MAXV; nv++) {
		long rc = hc_vcpu_op(VCPUOP_is_up, nv, NULL);
		if (rc == -XEN_ENOENT)
			break;
		check_eq(rc, 0, "is_up of a vCPU not up yet");
	}
	printf("smp: %d vCPUs\n", nv);
	if (nv != SMP_VCPUS) {
		char why[80];
		snprintf(why, sizeof(why), "%d vCPUs, want %d (dom0_max_vcpus=%d)", nv, SMP_VCPUS, SMP_VCPUS);
		test_fail(why);
	}

	/* Refusals, before any vCPU is up. */
	struct vcpu_runstate_info rs;
	check_eq(runstate(1, &rs), 0, "get_runstate_info(1)");
	check_eq(rs.state, RUNSTATE_offline, "vCPU 1's runstate before it is up");
	build_context(1);
	check_eq(hc_vcpu_op(VCPUOP_initialise, 0, &ctxt), -XEN_EEXIST, "initialise(0)");
	check_eq(hc_vcpu_op(VCPUOP_up, 1, NULL), -XEN_EINVAL, "up(1) before initialise");
	ctxt.user_regs.rip = 1UL << 62;
	check_eq(hc_vcpu_op(VCPUOP_initialise, 1, &ctxt), -XEN_EINVAL, "initialise with a non-canonical rip");
	build_context(1);
	ctxt.ctrlreg[3] = virt_to_mfn(page_a) << 12;	/* a data page, mapped writable: not an L4 */
	check_eq(hc_vcpu_op(VCPUOP_initialise, 1, &ctxt), -XEN_EINVAL, "initialise with a data page as L4");
	check_eq(hc_vcpu_op(VCPUOP_initialise, nv, &ctxt), -XEN_ENOENT, "initialise past the last vCPU");

	/* IPI ports, one per vCPU; a masked poll port for vCPU 1. */
	for (int i = 0; i < nv; i++) {
		struct evtchn_bind_ipi b = { i, 0 };
		check_eq(hc_event_channel_op(EVTCHNOP_bind_ipi, &b), 0, "bind_ipi");
		if (b.port >= 64)
			test_fail("IPI port above 63");
		pcpu[i].ipi_port = b.port;
		pcpu[i].mine |= 1UL << b.port;
		unmask_port(b.port);
	}
	struct evtchn_bind_ipi pb = { 1, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_ipi, &pb), 0, "bind_ipi(poll port)");
	pcpu[1].poll_port = pb.port;
	__atomic_fetch_or(&s->evtchn_mask[0], 1UL << pb.port, __ATOMIC_SEQ_CST);	/* as Linux's spinlock port */
	struct evtchn_bind_ipi bad = { nv, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_ipi, &bad), -XEN_ENOENT, "bind_ipi past the last vCPU");

	/* Bring the others up. */
	for (int i = 1; i < nv; i++) {
		struct percpu *c = &pcpu[i];
		c->self = c;
		c->id = i;
		struct vcpu_register_vcpu_info ri = { virt_to_mfn(vinfo_page), 64 * i, 0 };
		check_eq(hc_vcpu_op(VCPUOP_register_vcpu_info, i, &ri), 0, "register_vcpu_info of a down vCPU");
		c->vi = (volatile struct vcpu_info *)(vinfo_page + 64 * i);
		check_eq(c->vi->evtchn_upcall_mask, 1, "a new vcpu_info's upcall mask");
		build_context(i);
		check_eq(hc_vcpu_op(VCPUOP_initialise, i, &ctxt), 0, "initialise");
		check_eq(hc_vcpu_op(VCPUOP_initialise, i, &ctxt), -XEN_EEXIST, "second initialise");
		check_eq(hc_vcpu_op(VCPUOP_is_up, i, NULL), 0, "is_up after initialise");
		check_eq(hc_vcpu_op(VCPUOP_up, i, NULL), 0, "up");
		check_eq(hc_vcpu_op(VCPUOP_is_up, i, NULL), 1, "is_up after up");
		check_eq(hc_vcpu_op(VCPUOP_up, i, NULL), 0, "up of a vCPU up");
		WAIT(c->online, "a vCPU to come up");
		check_eq(c->entry_gs0, (u64)c, "a new vCPU's %gs:0 (gs_base_kernel)");
		check_eq(c->entry_rdi, i, "a new vCPU's rdi");
		check(c->entry_rflags & 0x200, "a new vCPU runs with IF clear: rflags %#lx", c->entry_rflags);
		check_eq(c->entry_cs, FLAT_KERNEL_CS, "a new vCPU's cs");
		check_eq(c->entry_ss, FLAT_KERNEL_SS, "a new vCPU's ss");
		check_eq(runstate(i, &rs), 0, "get_runstate_info");
		check(rs.state != RUNSTATE_offline, "vCPU %d offline after up", i);
		check_eq(hc_vcpu_op(VCPUOP_register_vcpu_info, i, &ri), -XEN_EINVAL, "register_vcpu_info of an up vCPU");
	}
	pcpu[0].vi->evtchn_upcall_mask = 0;

	/* 1. A shared counter under a spinlock. */
	run_phase(1, "counting");
	check_eq(locked_count, (u64)nv * ROUNDS, "count under the lock");
	check_eq(atomic_count, (u64)nv * ROUNDS, "atomic count");

	/* 2. A token round the vCPUs by IPI. vCPU 0 starts it and waits for
	 * it like the others, spinning with events unmasked. */
	token = 1;
	phase = 2;
	send(pcpu[1].ipi_port);
	for (u64 i = 0; i < PINGS; i++) {
		WAIT(pcpu[0].ipis > i, "the IPI token");
		check(token == 0, "vCPU 0 woken for the token, which is vCPU %lu's", token);
		if (i + 1 < PINGS) {
			token = 1;
			send(pcpu[1].ipi_port);
		}
	}
	for (int i = 1; i < nv; i++)
		WAIT(pcpu[i].done == 2, "the IPI round");
	pcpu[0].done = 2;
	for (int i = 0; i < nv; i++)
		check_eq(pcpu[i].ipis, PINGS, "IPIs taken");

	/* 3. TLB flushes across vCPUs. */
	*(volatile u64 *)page_a = MAGIC_A;
	*(volatile u64 *)page_b = MAGIC_B;
	u64 others = 0;
	for (int i = 1; i < nv; i++)
		others |= 1UL << i;
	/* Each remap flushes only vCPU 0's own TLB (UVMF_INVLPG) or none. */
	remap_window(page_a, UVMF_INVLPG);
	run_phase(3, "reading A");	/* everyone has A in its TLB */
	remap_window(page_b, UVMF_INVLPG);
	flush_others(MMUEXT_TLB_FLUSH_MULTI, &others);
	run_phase(4, "reading B after TLB_FLUSH_MULTI");
	remap_window(page_a, UVMF_INVLPG);
	flush_others(MMUEXT_INVLPG_MULTI, &others);
	run_phase(5, "reading A after INVLPG_MULTI");
	remap_window(page_b, UVMF_NONE);
	flush_others(MMUEXT_TLB_FLUSH_ALL, NULL);
	run_phase(6, "reading B after TLB_FLUSH_ALL");
	remap_window(page_a, UVMF_NONE);
	flush_others(MMUEXT_INVLPG_ALL, NULL);
	run_phase(7, "reading A after INVLPG_ALL");
	static const u64 want[5] = { MAGIC_A, MAGIC_B, MAGIC_A, MAGIC_B, MAGIC_A };
	static const char *const after[5] = { "the first map", "TLB_FLUSH_MULTI", "INVLPG_MULTI", "TLB_FLUSH_ALL",
		"INVLPG_ALL" };
	for (int i = 0; i < nv; i++)
		for (int k = 0; k < 5; k++)
			check(pcpu[i].seen[k] == want[k], "vCPU %d read %#lx through the window after %s, want %#lx",
			      i, pcpu[i].seen[k], after[k], want[k]);

	/* 4. vCPU 1 blocks while vCPU 0 spins; an IPI wakes it. Then it polls. */
	struct percpu *c1 = &pcpu[1];
	u64 ipis = c1->ipis;
	phase = 8;
	WAIT(blocking && runstate_is(1, RUNSTATE_blocked), "vCPU 1's runstate blocked in SCHEDOP_block");
	spin_ms(30);
	check_eq(runstate(1, &rs), 0, "get_runstate_info(1)");
	check_eq(rs.state, RUNSTATE_blocked, "runstate of vCPU 1 30 ms into SCHEDOP_block");
	check(rs.time[RUNSTATE_blocked] > 0, "no time blocked");
	check(c1->done != 8 && c1->ipis == ipis && !polling, "vCPU 1 did not stay blocked");
	send(c1->ipi_port);
	WAIT(polling && runstate_is(1, RUNSTATE_blocked), "vCPU 1's runstate blocked in SCHEDOP_poll");
	spin_ms(30);
	check_eq(runstate(1, &rs), 0, "get_runstate_info(1)");
	check_eq(rs.state, RUNSTATE_blocked, "runstate of vCPU 1 30 ms into SCHEDOP_poll");
	check(!polled, "SCHEDOP_poll returned before its port was sent on");
	send(c1->poll_port);
	WAIT(c1->done == 8, "vCPU 1 to wake from its poll");
	for (int i = 2; i < nv; i++)
		WAIT(pcpu[i].done == 8, "phase 8");
	check_eq(poll_rc[0], 0, "SCHEDOP_poll woken by its port");
	check_eq(poll_rc[1], 1, "the polled port pending after the wake-up");
	check_eq(poll_rc[2], 0, "SCHEDOP_poll with a timeout and no event");

	/* 5. bind_vcpu: a loopback port moves to vCPU 1; IPI and VIRQ_TIMER
	 * ports do not move; VIRQ_TIMER binds once per vCPU. */
	struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0, "alloc_unbound");
	struct evtchn_bind_interdomain bi = { DOMID_SELF, 0, au.port, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0, "bind_interdomain");
	moved_port = au.port;
	struct evtchn_bind_vcpu bvc = { au.port, 1 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_vcpu, &bvc), 0, "bind_vcpu of an interdomain port");
	pcpu[1].mine |= 1UL << au.port;
	unmask_port(au.port);
	send(bi.local_port);
	WAIT(moved_hits == 1, "the moved port's event on vCPU 1");
	struct evtchn_bind_vcpu bipi = { pcpu[0].ipi_port, 1 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_vcpu, &bipi), -XEN_EINVAL, "bind_vcpu of an IPI port");
	struct evtchn_bind_virq bv0 = { VIRQ_TIMER, 0, 0 }, bv1 = { VIRQ_TIMER, 1, 0 }, bv1b = { VIRQ_TIMER, 1, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_virq, &bv0), 0, "bind_virq(TIMER, 0)");
	check_eq(hc_event_channel_op(EVTCHNOP_bind_virq, &bv1), 0, "bind_virq(TIMER, 1)");
	check_eq(hc_event_channel_op(EVTCHNOP_bind_virq, &bv1b), -XEN_EEXIST, "second bind_virq(TIMER, 1)");
	struct evtchn_bind_vcpu btimer = { bv1.port, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_vcpu, &btimer), -XEN_EINVAL, "bind_vcpu of a VIRQ_TIMER port");
	struct evtchn_bind_vcpu bnone = { au.port, nv };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_vcpu, &bnone), -XEN_ENOENT, "bind_vcpu past the last vCPU");

	/* 6. VCPUOP_down of vCPU 1 while it counts. */
	phase = 9;
	WAIT(c1->count > 1000, "vCPU 1 to count");
	check_eq(hc_vcpu_op(VCPUOP_down, 1, NULL), 0, "down(1)");
	check_eq(hc_vcpu_op(VCPUOP_is_up, 1, NULL), 0, "is_up(1) after down");
	spin_ms(30);	/* it stops at its next exit */
	u64 stopped = c1->count;
	spin_ms(30);
	check_eq(c1->count, stopped, "vCPU 1's count while it is down");
	check_eq(runstate(1, &rs), 0, "get_runstate_info(1)");
	check_eq(rs.state, RUNSTATE_offline, "runstate of vCPU 1 down");
	check_eq(hc_vcpu_op(VCPUOP_up, 1, NULL), 0, "up(1) again");
	WAIT(c1->count > stopped + 1000, "vCPU 1 to count again after up");
	phase = 10;
	printf("smp: %d vCPUs up; lock, IPI round, TLB flushes, block/poll wake-ups, bind_vcpu, down/up all done\n", nv);
}
