/*
 * fair4: four vCPUs on two physical CPUs (boot it with dom0_max_vcpus=4 on
 * QEMU -smp 2). After bringing vCPUs 1-3 up, every vCPU spins counting
 * until vCPU 0 has seen RUN_MS of system time go by (as the hypervisor
 * counts it: the sum of its runstate times). The hypervisor's scheduler
 * must share the two CPUs out: each vCPU runs (runstate running) at least
 * a quarter of the longest any vCPU ran (Xen 4.17 gave 552 to 1470 ms
 * with dom0_vcpus_pin on a busy host), and waits runnable for a CPU some
 * of the time (the machine is overcommitted). The counts only have to
 * move: how far a vCPU counts in its time depends on the speed of the
 * CPU it ran on, and QEMU TCG's two differed tenfold on a busy host.
 *
 * VCPUOP_get_physid, as Xen 4.17's arch do_vcpu_op answers it: -EINVAL
 * for every vCPU unless dom0_vcpus_pin pins dom0's vCPUs (fair4pin, whose
 * hypervisor command line has it); then vCPU i gets the APIC and ACPI ids
 * of CPU i (on QEMU: i and i), and all ones for a vCPU numbered past the
 * CPUs (BAD_APICID, INVALID_ACPIID).
 */
#include "lib.h"

#ifndef FAIR_NAME
#define FAIR_NAME "fair4"
#define FAIR_PIN 0
#endif
const char test_name[] = FAIR_NAME;

#define NV 4
#define NCPUS 2	/* QEMU -smp 2 */
#define STACK 16384
#define ONE_MS 1000000UL
#define RUN_MS 2000
#define TIMEOUT (20000 * ONE_MS)

#define VCPUOP_get_physid 12
#define RUNSTATE_runnable 1

/* struct vcpu_guest_context, vcpu_runstate_info and hc_vcpu_op are lib's (xen.h, hypercall.h). */

/* One cache line per vCPU: its count and its flags. */
struct slot {
	volatile u64 count;
	volatile int online, stopped;
} __attribute__((aligned(64)));

static struct slot slots[NV];
static u8 stacks[NV][STACK] __attribute__((aligned(16)));
static struct vcpu_guest_context ctxt;
static volatile int go, stop;

static inline void cpu_relax(void) { asm volatile("pause" ::: "memory"); }

static long runstate(unsigned v, struct vcpu_runstate_info *rs)
{
	return hc_vcpu_op(VCPUOP_get_runstate_info, v, rs);
}

/* System time as the hypervisor counts it for vCPU 0: its runstate times
 * add up to the time since it was created (TSC-based time is unreliable
 * across QEMU TCG's CPUs; see smp.c). */
static u64 hvclock(void)
{
	struct vcpu_runstate_info rs;
	if (runstate(0, &rs))
		test_fail("get_runstate_info of vCPU 0 failed");
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

void secondary(u64 id)
{
	struct slot *s = &slots[id];
	s->online = 1;
	while (!go)
		cpu_relax();
	while (!stop)
		s->count++;
	s->stopped = 1;
	for (;;)	/* nothing is bound to it: it sleeps until dom0 stops */
		hc_sched_op(SCHEDOP_block, NULL);
}

static void build_context(int i)
{
	vcpu_context(&ctxt, i, secondary, &stacks[i][STACK], 0, 0);
}

static void check_physid(void)
{
	for (int i = 0; i < NV; i++) {
		u64 id = 0x5a5a5a5a5a5a5a5aUL;
		long rc = hc_vcpu_op(VCPUOP_get_physid, i, &id);
		if (!FAIR_PIN) {
			check_eq(rc, -XEN_EINVAL, "get_physid of an unpinned vCPU");
			continue;
		}
		check_eq(rc, 0, "get_physid of a pinned vCPU");
		u64 want = i < NCPUS ? (u64)i | (u64)i << 32 : ~0UL;
		check(id == want, "get_physid(%d) = %#lx, want %#lx", i, id, want);
	}
}

void test_main(void)
{
	install_traps();
	int nv;
	for (nv = 1; nv < 8; nv++)
		if (hc_vcpu_op(VCPUOP_is_up, nv, NULL) == -XEN_ENOENT)
			break;
	if (nv != NV) {
		char why[80];
		snprintf(why, sizeof(why), "%d vCPUs, want %d (dom0_max_vcpus=%d)", nv, NV, NV);
		test_fail(why);
	}
	check_physid();
	for (int i = 1; i < NV; i++) {
		build_context(i);
		check_eq(hc_vcpu_op(VCPUOP_initialise, i, &ctxt), 0, "initialise");
		check_eq(hc_vcpu_op(VCPUOP_up, i, NULL), 0, "up");
		WAIT(slots[i].online, "a vCPU to come up");
	}
	struct vcpu_runstate_info before[NV], after[NV];
	for (int i = 0; i < NV; i++)
		check_eq(runstate(i, &before[i]), 0, "get_runstate_info");

	/* Everyone counts for RUN_MS of system time. */
	go = 1;
	u64 t0 = hvclock();
	for (;;) {
		for (int k = 0; k < 4096; k++)
			slots[0].count++;
		if (hvclock() - t0 >= RUN_MS * ONE_MS)
			break;
	}
	stop = 1;
	for (int i = 1; i < NV; i++)
		WAIT(slots[i].stopped, "a vCPU to stop counting");

	u64 lo = ~0UL, hi = 0, rlo = ~0UL, rhi = 0;
	for (int i = 0; i < NV; i++) {
		check_eq(runstate(i, &after[i]), 0, "get_runstate_info");
		u64 run = after[i].time[RUNSTATE_running] - before[i].time[RUNSTATE_running];
		u64 wait = after[i].time[RUNSTATE_runnable] - before[i].time[RUNSTATE_runnable];
		printf("fair4: vCPU %d counted %lu; %lu ms running, %lu ms runnable\n", i, slots[i].count,
		       run / ONE_MS, wait / ONE_MS);
		check(run > 0, "vCPU %d never ran while counting", i);
		check(wait > 0, "vCPU %d never waited for a CPU: 4 vCPUs on 2 CPUs", i);
		if (slots[i].count < lo)
			lo = slots[i].count;
		if (slots[i].count > hi)
			hi = slots[i].count;
		if (run < rlo)
			rlo = run;
		if (run > rhi)
			rhi = run;
	}
	check(rlo >= rhi / 4, "unfair shares: running from %lu to %lu ms", rlo / ONE_MS, rhi / ONE_MS);
	check(lo > 0, "a vCPU never counted (counts from %lu to %lu)", lo, hi);
	check_physid();
	printf("fair4: 4 vCPUs shared 2 CPUs fairly\n");
}
