/*
 * smpbench: SMP figures for tests/bench_guests_test.go (BenchmarkGuestSMP,
 * BenchmarkGuestSMPBoot) to compare gohv with Xen 4.17. Boot it with
 * dom0_max_vcpus=N (N >= 2) on a machine of as many CPUs. vCPU 0 brings
 * the others up (VCPUOP_initialise with its own stack, trap table, event
 * callback and kernel GS base = its per-vCPU block; VCPUOP_up) and waits
 * until each has said so on the console. Then, by the command line:
 *  - "boot": the result line at once (boot to ready with every vCPU up);
 *  - otherwise, with vCPUs 0 and 1 (the others stay blocked):
 *    1. compute: a fixed CPU-bound job (JOB_ITERS steps of two independent
 *       64-bit LCG streams, each folded into a checksum) on vCPU 0 alone
 *       while vCPU 1 sleeps in SCHEDOP_block, and the two streams at once,
 *       one on vCPU 0 and one on vCPU 1 (woken by an IPI), timed on vCPU 0
 *       with lfence;rdtsc (the split run from before the IPI to the moment
 *       both halves are done); both checksums must match the lone run's.
 *       PAIRS pairs of the two, the order flipping each pair; the figures
 *       are the medians of each and of the pairs' speed-ups (lone/split).
 *       The job beats every BEAT_EVERY steps; in a split run vCPU 0 counts
 *       how often vCPU 1's beat had moved between two of its own, while
 *       vCPU 1 ran: compute_overlap, the share (in thousandths) of vCPU
 *       0's running time in which vCPU 1 ran too (two CPUs at once: near
 *       1000; one vCPU at a time, as on one CPU: near 0);
 *    2. ping-pong: PINGS round trips of an event between vCPU 0 and vCPU 1,
 *       each bound to an IPI port of its own (EVTCHNOP_bind_ipi). The
 *       sender writes a sequence number into the receiver's block and
 *       sends; the receiver's upcall handler copies it to `got`, which the
 *       waiter watches. Variant spin: the waiter spins with events
 *       unmasked (the event must reach a vCPU running guest code on another
 *       CPU); variant block: the waiter sleeps in SCHEDOP_block (the event
 *       must wake it). vCPU 0 times each round trip; the median is the
 *       figure (WARMUP round trips first, untimed);
 *    "quick" makes the job JOB_ITERS/16 and PINGS/4 round trips, for the
 *    guest suite (correctness only); "ping" leaves the job out (for runs
 *    under QEMU's -icount, where the CPUs take turns on one host thread),
 *    "compute" leaves the ping-pongs out (the hypervisor's own account of
 *    the vCPUs' time at power-off then covers the job's runs); "spin" and
 *    "block" keep only that ping-pong (a profile of one kind of round
 *    trip: "ping block" against "ping block quick").
 * QEMU's TCG with one host thread per CPU (MTTCG) on a host that runs other
 * work makes these wall-time figures noisy: the pairs and medians are there
 * to take some of that out, and the harness interleaves runs on gohv and
 * Xen.
 * Machine-readable lines: "bench: tsc_khz=<n>", "bench: compute_1vcpu
 * cycles=<n> iters=<n>", "bench: compute_2vcpu cycles=<n> iters=<n>",
 * "bench: compute_speedup milli=<n> pairs=<n>" (1000 * the median speed-up),
 * "bench: compute_overlap milli=<n> pairs=<n>",
 * "bench: pingpong_spin cycles_per_rt=<n> rts=<n>", "bench: pingpong_block
 * cycles_per_rt=<n> rts=<n>", "bench: vcpus_up=<n>". Cycles are the TSC
 * as the guest reads it (lfence;rdtsc); under QEMU's MTTCG that is the
 * host's TSC on every vCPU, so wall time on a loaded host, and under
 * -icount shift=0 a 1 GHz count of instructions.
 */
#include "lib.h"

const char test_name[] = "smpbench";

#define MAXV 8
#define STACK 16384
#define ONE_MS 1000000UL
#define TIMEOUT (60000 * ONE_MS)	/* generous: QEMU's TCG on a busy host */
#define JOB_ITERS (1UL << 26)	/* both streams together, per run */
#define PAIRS 5
#define PINGS 400
#define WARMUP 20

/* The LCG of Knuth's MMIX; the two streams start from different seeds. */
#define LCG_MUL 6364136223846793005UL
#define LCG_ADD 1442695040888963407UL
#define SEED_A 0x0123456789abcdefUL
#define SEED_B 0xfedcba9876543210UL

enum cmd { CMD_NONE, CMD_COMPUTE, CMD_PING_SPIN, CMD_PING_BLOCK };

/* What vCPU me's job saw of the other's heartbeat: at how many of its own
 * beats the other was running too, and at how many of those the other had
 * moved on since the previous one (both run at once: nearly all; one at a
 * time, switched every few ms: few). */
struct overlap { u64 beats, moved; };

/* Each vCPU's block, reached through its kernel GS base (%gs:0 = self);
 * 64-byte aligned, so two vCPUs' blocks share no cache line. */
struct percpu {
	struct percpu *self;
	u64 id;
	volatile struct vcpu_info *vi;
	u32 ipi_port;
	volatile int online;
	volatile u64 want;	/* written by the sender before it sends */
	volatile u64 got;	/* the upcall handler's copy of want */
	volatile u64 result;	/* vCPU 1: its half's checksum */
	volatile u64 done;	/* vCPU 1: the command sequence it finished */
	volatile u64 t_start, t_end;	/* vCPU 1: TSC around its half of the job */
	struct overlap ov;	/* vCPU 1: what its half saw of vCPU 0's */
} __attribute__((aligned(64)));

static struct percpu pcpu[MAXV];
static u8 stacks[MAXV][STACK] __attribute__((aligned(16)));
static struct vcpu_guest_context ctxt;
static u8 vinfo_page[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u64 rt[PINGS];

static struct shared_info *s;
static volatile u64 cmd_seq;		/* vCPU 0 bumps it for each command */
static volatile enum cmd cmd;
static volatile u64 cmd_arg;		/* compute: steps; ping: round trips */
static volatile u64 ping_base;		/* the sequence before a ping-pong's first */

static inline struct percpu *this_cpu(void)
{
	struct percpu *p;
	asm volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

static inline void cpu_relax(void) { asm volatile("pause" ::: "memory"); }

static inline u64 tsc_fenced(void)
{
	u32 lo, hi;
	asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) :: "memory");
	return ((u64)hi << 32) | lo;
}

/* Heartbeats of the job on each vCPU: BEAT_RUNNING | steps done while
 * it runs, 0 otherwise; a cache line each. */
#define BEAT_EVERY 4096
#define BEAT_RUNNING (1UL << 63)
static struct { volatile u64 n; u64 pad[7]; } beat[2] __attribute__((aligned(64)));

/* n steps of the LCG from seed, each folded into the checksum; every
 * BEAT_EVERY steps a heartbeat (the same work alone or split). */
static u64 job(u64 seed, u64 n, int me, struct overlap *ov)
{
	u64 x = seed, sum = 0, last = 0;
	ov->beats = ov->moved = 0;
	for (u64 i = 0; i < n; i++) {
		x = x * LCG_MUL + LCG_ADD;
		sum += x >> 29;
		if (i % BEAT_EVERY == 0) {
			beat[me].n = BEAT_RUNNING | i;
			u64 o = beat[me ^ 1].n;
			if (o & BEAT_RUNNING) {
				ov->beats++;
				ov->moved += o != last;
			}
			last = o;
		}
	}
	beat[me].n = 0;
	return sum ^ x;
}

/* The event upcall: each IPI port belongs to one vCPU; the handler clears
 * the pending bits of its own and copies the sender's sequence. */
static int hook(struct cpu_regs *r)
{
	if (r->vector != VEC_EVENT)
		return 0;
	struct percpu *c = this_cpu();
	c->vi->evtchn_upcall_pending = 0;
	u64 sel = __atomic_exchange_n(&c->vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	if (sel & 1) {
		u64 bit = 1UL << c->ipi_port;
		if (s->evtchn_pending[0] & bit) {
			__atomic_fetch_and(&s->evtchn_pending[0], ~bit, __ATOMIC_SEQ_CST);
			c->got = c->want;
		}
	}
	return 1;
}

static void send(u32 port)
{
	struct evtchn_port p = { port };
	if (hc_event_channel_op(EVTCHNOP_send, &p))
		test_fail("EVTCHNOP_send failed");
}

/* Send seq to vCPU v: its block's want, then its IPI port. */
static void kick(unsigned v, u64 seq)
{
	pcpu[v].want = seq;
	send(pcpu[v].ipi_port);
}

/* Sleep in SCHEDOP_block until the counter *p reaches n: events masked
 * while testing it, SCHEDOP_block unmasks them and sleeps unless one is
 * pending (the upcall then runs before it returns). */
static void block_until(volatile u64 *p, u64 n)
{
	struct percpu *c = this_cpu();
	for (;;) {
		c->vi->evtchn_upcall_mask = 1;
		barrier();
		if (*p >= n)
			break;
		hc_sched_op(SCHEDOP_block, NULL);
	}
	c->vi->evtchn_upcall_mask = 0;
}

/* Wait until this vCPU's upcall handler has seen sequence seq: spinning
 * with events unmasked, or asleep in SCHEDOP_block. */
static void wait_seq(u64 seq, int blocking)
{
	struct percpu *c = this_cpu();
	if (blocking) {
		block_until(&c->got, seq);
		return;
	}
	while (c->got < seq)
		cpu_relax();
}

/* ---- vCPU 1 and up ---- */

void secondary(u64 id)
{
	struct percpu *c = &pcpu[id];
	c->vi->evtchn_upcall_mask = 0;
	printf("smpbench: vCPU %lu up\n", id);
	c->online = 1;
	for (u64 last = 0;;) {
		block_until(&cmd_seq, last + 1);	/* vCPU 0 only counts it up */
		last = cmd_seq;
		if (id != 1)
			continue;	/* only vCPU 1 takes part */
		switch (cmd) {
		case CMD_COMPUTE:
			c->t_start = tsc_fenced();
			c->result = job(SEED_B, cmd_arg, 1, &c->ov);
			c->t_end = tsc_fenced();
			break;
		case CMD_PING_SPIN:
		case CMD_PING_BLOCK:
			for (u64 i = 1; i <= cmd_arg; i++) {
				wait_seq(ping_base + i, cmd == CMD_PING_BLOCK);
				kick(0, ping_base + i);
			}
			break;
		case CMD_NONE:
			break;
		}
		c->done = last;
	}
}

/* The context vCPU i starts in (lib's vcpu_context): secondary(i) in kernel
 * mode on its own stack, lib's trap table and event callback, its block
 * as kernel GS base, and vCPU 0's page tables. */
static void build_context(int i)
{
	vcpu_context(&ctxt, i, secondary, &stacks[i][STACK], 1, (u64)&pcpu[i]);
}

/* vCPU 0 spins until cond, failing after TIMEOUT of its own system time. */
#define WAIT(cond, what) do {							\
		u64 __t0 = vcpu_time_ns(&pcpu[0].vi->time);			\
		while (!(cond)) {						\
			if (vcpu_time_ns(&pcpu[0].vi->time) - __t0 > TIMEOUT)	\
				test_fail("timed out waiting for " what);	\
			cpu_relax();						\
		}								\
	} while (0)

/* Start command k on vCPU 1 (and wake the others, which go back to sleep);
 * returns its sequence, which vCPU 1's done reaches when it has finished. */
static u64 command(enum cmd k, u64 arg, int nv)
{
	cmd = k;
	cmd_arg = arg;
	u64 seq = cmd_seq + 1;
	__atomic_store_n(&cmd_seq, seq, __ATOMIC_SEQ_CST);
	for (int i = 1; i < nv; i++)
		send(pcpu[i].ipi_port);
	return seq;
}

/* The median of v[0..n), sorted in place. */
static u64 median(u64 *v, u64 n)
{
	sort_u64(v, n);
	return v[n / 2];
}

/* The job on vCPU 0 alone: both streams, one after the other. */
static u64 compute_alone(u64 half, u64 *a, u64 *b)
{
	struct overlap ov;
	u64 t0 = tsc_fenced();
	*a = job(SEED_A, half, 0, &ov);
	*b = job(SEED_B, half, 0, &ov);
	return tsc_fenced() - t0;
}

/* The job split: stream B on vCPU 1 (woken by the command's IPI), stream
 * A on vCPU 0, until both are done. *overlap: 1000 * the share of vCPU
 * 0's heartbeats, while vCPU 1 ran its half, at which vCPU 1 had moved on
 * since the one before. */
static u64 compute_split(u64 half, int nv, u64 a, u64 b, u64 *overlap)
{
	struct overlap ov;
	u64 t0 = tsc_fenced();
	u64 seq = command(CMD_COMPUTE, half, nv);
	u64 a2 = job(SEED_A, half, 0, &ov);
	u64 t_a = tsc_fenced() - t0;
	WAIT(pcpu[1].done == seq, "vCPU 1's half of the job");
	u64 t = tsc_fenced() - t0;
	check(a2 == a, "vCPU 0's half gave %#lx, want %#lx", a2, a);
	check(pcpu[1].result == b, "vCPU 1's half gave %#lx, want %#lx", pcpu[1].result, b);
	*overlap = ov.beats ? ov.moved * 1000 / ov.beats : 0;
	/* Where the time went (vCPU 1's TSC reads are its CPU's; under TCG
	 * every CPU reads the host's). */
	printf("smpbench:   split: vCPU 0's half %lu cycles, saw vCPU 1 move at %lu of %lu beats; vCPU 1 started "
	       "%ld cycles after the IPI, its half %lu cycles, saw vCPU 0 move at %lu of %lu\n",
	       t_a, ov.moved, ov.beats, (long)(pcpu[1].t_start - t0), pcpu[1].t_end - pcpu[1].t_start,
	       pcpu[1].ov.moved, pcpu[1].ov.beats);
	return t;
}

/* PAIRS pairs of the job alone and split, in turn (ABBA: the order flips
 * each pair, so a drift in the host's load weighs on both alike); the
 * figures are the medians of each kind, of each pair's speed-up and of
 * the split runs' overlap. */
static void compute(u64 iters, int nv)
{
	static u64 t1[PAIRS], t2[PAIRS], milli[PAIRS], overlap[PAIRS];
	u64 half = iters / 2, a, b;
	for (int i = 0; i < PAIRS; i++) {
		if (i % 2 == 0) {
			t1[i] = compute_alone(half, &a, &b);
			t2[i] = compute_split(half, nv, a, b, &overlap[i]);
		} else {
			/* The split run checks against the lone run's sums:
			 * the previous pair's (the job is the same each time). */
			t2[i] = compute_split(half, nv, a, b, &overlap[i]);
			t1[i] = compute_alone(half, &a, &b);
		}
		milli[i] = t2[i] ? t1[i] * 1000 / t2[i] : 0;
		printf("smpbench: compute pair %d: %lu steps: 1 vCPU %lu cycles, 2 vCPUs %lu cycles, speed-up %lu.%03lu\n",
		       i, iters, t1[i], t2[i], milli[i] / 1000, milli[i] % 1000);
	}
	printf("bench: compute_1vcpu cycles=%lu iters=%lu\n", median(t1, PAIRS), iters);
	printf("bench: compute_2vcpu cycles=%lu iters=%lu\n", median(t2, PAIRS), iters);
	printf("bench: compute_speedup milli=%lu pairs=%u\n", median(milli, PAIRS), PAIRS);
	printf("bench: compute_overlap milli=%lu pairs=%u\n", median(overlap, PAIRS), PAIRS);
}

static u64 ping_seq;	/* the last sequence sent by either side */

/* n timed round trips (after WARMUP untimed ones) between vCPU 0 and 1. */
static void pingpong(const char *metric, enum cmd k, u64 n, int nv)
{
	int blocking = k == CMD_PING_BLOCK;
	u64 total = WARMUP + n;
	ping_base = ping_seq;
	u64 seq = command(k, total, nv);
	for (u64 i = 1; i <= total; i++) {
		u64 t0 = tsc_fenced();
		kick(1, ping_base + i);
		wait_seq(ping_base + i, blocking);
		u64 d = tsc_fenced() - t0;
		if (i > WARMUP)
			rt[i - WARMUP - 1] = d;
	}
	ping_seq = ping_base + total;
	WAIT(pcpu[1].done == seq, "vCPU 1 to finish the ping-pong");
	u64 lo = ~0UL, hi = 0;
	for (u64 i = 0; i < n; i++) {
		lo = rt[i] < lo ? rt[i] : lo;
		hi = rt[i] > hi ? rt[i] : hi;
	}
	u64 med = median(rt, n);
	printf("smpbench: %s: %lu round trips, cycles min %lu median %lu max %lu\n", metric, n, lo, med, hi);
	printf("bench: %s cycles_per_rt=%lu rts=%lu\n", metric, med, n);
}

void test_main(void)
{
	s = map_shared_info();
	install_traps();
	trap_hook = hook;
	register_event_callback();
	pcpu[0].self = &pcpu[0];
	pcpu[0].vi = &s->vcpu_info[0];
	if (hc_set_segment_base(SEGBASE_GS_KERNEL, (u64)&pcpu[0]))
		test_fail("set_segment_base(GS_KERNEL) failed");
	const char *cl = start_info->cmd_line;
	int boot_only = has_token(cl, "boot"), quick = has_token(cl, "quick");

	u64 khz = vcpu_tsc_khz(&pcpu[0].vi->time);
	if (khz)
		printf("bench: tsc_khz=%lu\n", khz);

	int nv;
	for (nv = 1; nv < MAXV; nv++) {
		long rc = hc_vcpu_op(VCPUOP_is_up, nv, NULL);
		if (rc == -XEN_ENOENT)
			break;
		check_eq(rc, 0, "is_up of a vCPU not up yet");
	}
	if (nv < 2)
		test_fail("one vCPU: boot with dom0_max_vcpus=2 or more");

	/* An IPI port per vCPU, unmasked; the upcall handler takes its own. */
	for (int i = 0; i < nv; i++) {
		struct evtchn_bind_ipi b = { i, 0 };
		if (hc_event_channel_op(EVTCHNOP_bind_ipi, &b) || b.port >= 64)
			test_fail("bind_ipi failed or gave a port above 63");
		pcpu[i].ipi_port = b.port;
		__atomic_fetch_and(&s->evtchn_mask[0], ~(1UL << b.port), __ATOMIC_SEQ_CST);
	}

	for (int i = 1; i < nv; i++) {
		struct percpu *c = &pcpu[i];
		c->self = c;
		c->id = i;
		struct vcpu_register_vcpu_info ri = { virt_to_mfn(vinfo_page), 64 * i, 0 };
		if (hc_vcpu_op(VCPUOP_register_vcpu_info, i, &ri))
			test_fail("register_vcpu_info failed");
		c->vi = (volatile struct vcpu_info *)(vinfo_page + 64 * i);
		build_context(i);
		if (hc_vcpu_op(VCPUOP_initialise, i, &ctxt) || hc_vcpu_op(VCPUOP_up, i, NULL))
			test_fail("VCPUOP_initialise or VCPUOP_up failed");
	}
	pcpu[0].vi->evtchn_upcall_mask = 0;
	for (int i = 1; i < nv; i++)
		WAIT(pcpu[i].online, "a vCPU to come up");
	printf("bench: vcpus_up=%d\n", nv);
	if (boot_only)
		return;

	if (!has_token(cl, "ping"))
		compute(quick ? JOB_ITERS / 16 : JOB_ITERS, nv);
	if (has_token(cl, "compute"))
		return;
	u64 n = quick ? PINGS / 4 : PINGS;
	if (!has_token(cl, "block"))
		pingpong("pingpong_spin", CMD_PING_SPIN, n, nv);
	if (!has_token(cl, "spin"))
		pingpong("pingpong_block", CMD_PING_BLOCK, n, nv);
}
