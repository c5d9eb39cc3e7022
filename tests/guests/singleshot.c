/*
 * singleshot: VCPUOP_set_singleshot_timer, re-armed the way Linux's Xen
 * clockevent re-arms it (every timer change, often many times before one
 * fires), with the periodic timer stopped. gohv serves the hypercall in
 * its entry's assembly when it can (the fast path), so this checks that
 * such a timer acts as the hypervisor's own would:
 *   - errors: another vCPU (-ENOENT: the domain has one), an argument in
 *     the hypervisor's range or at an unmapped address (-EFAULT); none of
 *     them arms anything;
 *   - re-armed later: only the last deadline fires, once, not before it,
 *     also when a hypercall gohv's fast path does not serve (is_up) comes
 *     between the arming and the deadline (the hypervisor's own view of
 *     the timer must be the last deadline, not an earlier one);
 *   - re-armed earlier (from 1 s to 1 ms): it fires at the earlier one;
 *     the median lateness must stay under LATE_NS in one of TRIES sets
 *     of rounds (a hypervisor that waits for its next tick or quiet-time
 *     end is later: 3-7 ms on gohv without its timer setting);
 *   - a deadline in the past fires at once; a stopped timer never fires;
 *   - armed in the past with events masked, the event is delivered at the
 *     return of the next hypercall after unmasking (xen_version, as Linux
 *     forces it, and set_segment_base), which returns its result.
 * The guest spins with events unmasked and makes no hypercall while it
 * waits, so only the hypervisor's timer interrupt can deliver the upcall.
 * A round whose re-arming took longer than its first deadline (the
 * emulator descheduled) is run again, at most RETRIES times in all.
 */
#include "lib.h"

const char test_name[] = "singleshot";

#define ROUNDS  16
#define RETRIES 16
#define TRIES   3	/* sets of re-armed-earlier rounds */
#define US      1000UL
#define MS      1000000UL
#define WAIT_NS (1000 * MS)	/* an upcall missing this long fails at once */
#define LATE_NS (2 * MS)	/* median lateness bound of the earlier re-arms */
#define SLOP_NS (100 * US)	/* Xen may fire up to timer_slop (50 us) early */

static long sshot(u64 at)
{
	struct vcpu_set_singleshot_timer t = { at, 0 };
	return hc_vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
}

/* Spins until an upcall after the seen-th, or until system time end;
 * returns whether one came (its time in last_timer_ns). */
static int wait_upcall(u64 seen, u64 end)
{
	while (timer_upcalls == seen) {
		if (now_ns() > end)
			return 0;
	}
	return 1;
}

void test_main(void)
{
	struct shared_info *s = map_shared_info();
	struct vcpu_info *v = &s->vcpu_info[0];
	install_traps();
	register_event_callback();
	watch_timer();
	check_eq(hc_vcpu_op(VCPUOP_stop_periodic_timer, 0, NULL), 0, "stop_periodic_timer");
	if (v->time.tsc_to_system_mul == 0)
		test_fail("vcpu_time_info has no TSC scale");
	v->evtchn_upcall_mask = 0;
	barrier();

	/* Errors arm nothing. */
	struct vcpu_set_singleshot_timer t = { now_ns() + MS, 0 };
	check_eq(hc_vcpu_op(VCPUOP_set_singleshot_timer, 1, &t), -XEN_ENOENT, "set_singleshot_timer(vCPU 1)");
	check_eq(hc_vcpu_op(VCPUOP_set_singleshot_timer, 0, (void *)0xffff800000001000UL), -XEN_EFAULT,
	         "set_singleshot_timer(hypervisor address)");
	check_eq(hc_vcpu_op(VCPUOP_set_singleshot_timer, 0, (void *)0x7f0000000000UL), -XEN_EFAULT,
	         "set_singleshot_timer(unmapped address)");
	u64 seen = timer_upcalls;
	check(!wait_upcall(seen, now_ns() + 3 * MS), "an upcall after set_singleshot_timer calls that failed");

	/* Re-armed later: the last deadline alone. */
	int retries = 0;
	u64 worst_later = 0;
	for (int round = 0; round < ROUNDS; round++) {
		seen = timer_upcalls;
		u64 t0 = now_ns(), last = 0;
		for (int k = 0; k < 8; k++) {
			last = t0 + MS + k * 250 * US;
			check_eq(sshot(last), 0, "set_singleshot_timer(later)");
		}
		if (round & 1)	/* a hypercall no fast path serves */
			check_eq(hc_vcpu_op(VCPUOP_is_up, 0, NULL), 1, "is_up(0)");
		if (now_ns() >= t0 + MS || timer_upcalls != seen) {
			/* The first deadline may have come while re-arming: again. */
			check(++retries <= RETRIES, "re-arming outran its first deadline %d times", retries);
			if (!wait_upcall(seen, last + WAIT_NS))
				test_fail("no upcall after a round that outran its deadline");
			round--;
			continue;
		}
		if (!wait_upcall(seen, last + WAIT_NS))
			test_fail("re-armed later: no VIRQ_TIMER upcall");
		u64 at = last_timer_ns;
		if (at + SLOP_NS < last) {
			printf("round %d: upcall %lu us before the last deadline\n", round, (last - at) / US);
			check(0, "re-armed later: fired before the last deadline");
		} else if (at - last > worst_later) {
			worst_later = at - last;
		}
		check(!wait_upcall(seen + 1, now_ns() + 2 * MS), "re-armed later: a second upcall");
	}

	/* Re-armed earlier: from 1 s to 1 ms. A loaded emulator host may
	 * make a whole set of rounds late: up to TRIES sets. */
	u64 late[ROUNDS], median = 0;
	int sets = 0;
	do {
		sets++;
		for (int round = 0; round < ROUNDS; round++) {
			seen = timer_upcalls;
			u64 t0 = now_ns(), at = t0 + MS;
			check_eq(sshot(t0 + 1000 * MS), 0, "set_singleshot_timer(1 s)");
			check_eq(sshot(at), 0, "set_singleshot_timer(earlier)");
			if (!wait_upcall(seen, at + WAIT_NS))
				test_fail("re-armed earlier: no VIRQ_TIMER upcall");
			check(last_timer_ns + SLOP_NS >= at, "re-armed earlier: fired %lu us before its deadline",
			      (at - last_timer_ns) / US);
			late[round] = last_timer_ns > at ? last_timer_ns - at : 0;
			check(!wait_upcall(seen + 1, now_ns() + 2 * MS), "re-armed earlier: a second upcall");
		}
		sort_u64(late, ROUNDS);
		median = late[ROUNDS / 2];
	} while (median >= LATE_NS && sets < TRIES);
	check(median < LATE_NS, "re-armed earlier: median lateness %lu ms or more in each of %d sets (the last %lu us)",
	      LATE_NS / MS, TRIES, median / US);

	/* A deadline in the past fires at once; a stopped timer never. */
	seen = timer_upcalls;
	u64 t0 = now_ns();
	check_eq(sshot(t0 - US), 0, "set_singleshot_timer(past)");
	if (!wait_upcall(seen, t0 + WAIT_NS))
		test_fail("a past deadline: no VIRQ_TIMER upcall");
	u64 past = last_timer_ns - t0;
	for (int tries = 0;; tries++) {
		seen = timer_upcalls;
		u64 at = now_ns() + 20 * MS;
		check_eq(sshot(at), 0, "set_singleshot_timer(20 ms)");
		check_eq(hc_vcpu_op(VCPUOP_stop_singleshot_timer, 0, NULL), 0, "stop_singleshot_timer");
		if (now_ns() < at && timer_upcalls == seen) {
			check(!wait_upcall(seen, at + 20 * MS), "an upcall from a stopped timer");
			break;
		}
		/* Stopped after its deadline (the emulator descheduled): again. */
		check(tries < RETRIES, "stop_singleshot_timer outran its deadline %d times", tries + 1);
		wait_upcall(seen, now_ns() + 40 * MS);
	}

	/* An event pending when events are unmasked is delivered at the
	 * return of the next hypercall (Linux's xen_force_evtchn_callback
	 * makes xen_version(XENVER_version) for it), with its result. */
	long ver = 0, seg = 0;
	int forced = 0;
	for (int k = 0; k < 2; k++) {
		v->evtchn_upcall_mask = 1;
		barrier();
		seen = timer_upcalls;
		check_eq(sshot(now_ns() - US), 0, "set_singleshot_timer(past), events masked");
		check(timer_upcalls == seen && v->evtchn_upcall_pending, "masked: no event pending, or an upcall");
		v->evtchn_upcall_mask = 0;
		barrier();
		if (k == 0)
			ver = hc_xen_version(XENVER_version, NULL);
		else
			seg = hc_set_segment_base(SEGBASE_FS, 0);
		forced += timer_upcalls == seen + 1;
	}
	check_eq(ver, 4 << 16 | 17, "xen_version(XENVER_version) with an event to deliver");
	check_eq(seg, 0, "set_segment_base(FS, 0) with an event to deliver");
	check(forced == 2, "%d of 2 hypercalls returned with their pending event delivered", forced);
	v->evtchn_upcall_mask = 1;

	printf("singleshot: %d rounds re-armed later (%d again), latest %lu us after the last deadline; "
	       "%d re-armed earlier (set %d), lateness median %lu us, max %lu us; past deadline after %lu us\n",
	       ROUNDS, retries, worst_later / US, ROUNDS, sets, median / US, late[ROUNDS - 1] / US, past / US);
}
