/*
 * timer: VIRQ_TIMER keeps coming while the guest runs without making
 * hypercalls. Each of ROUNDS rounds arms set_timer_op(now + 1 ms) and then
 * spins with events unmasked, making no hypercall, until an upcall for the
 * timer port arrives at or after the deadline. Only the hypervisor's own
 * timer interrupt can stop the spinning guest to deliver it, so a
 * hypervisor whose tick stops after a guest exit never delivers it. Each
 * wait is bounded by guest time (system time extrapolated from the TSC
 * with vcpu_time_info's scale, no hypercall): a round that waits more than
 * WAIT_NS past its deadline fails the test at once, instead of leaving it
 * to the harness's timeout.
 *
 * The 10 ms periodic timer every PV vCPU starts with also raises
 * VIRQ_TIMER (vcpu_op, which could stop it, is not used): an upcall before
 * the deadline is that one, and the round keeps spinning.
 */
#include "lib.h"

const char test_name[] = "timer";

#define ROUNDS  20
#define ONE_MS  1000000UL
#define WAIT_NS (1000 * ONE_MS)	/* generous: QEMU may be descheduled */
/* Xen may run a timer up to timer_slop (50 us) before its deadline. */
#define SLOP_NS 100000

void test_main(void)
{
	struct shared_info *s = map_shared_info();
	struct vcpu_info *v = &s->vcpu_info[0];
	install_traps();
	register_event_callback();
	u32 timer_port = watch_timer();
	volatile struct vcpu_time_info *t = &v->time;
	printf("timer: port %u, tsc_to_system_mul %u tsc_shift %d\n", timer_port, t->tsc_to_system_mul,
	       (int)t->tsc_shift);
	if (t->tsc_to_system_mul == 0)
		test_fail("vcpu_time_info has no TSC scale");

	v->evtchn_upcall_mask = 0;
	barrier();
	u64 worst = 0, spins_total = 0;
	for (int round = 0; round < ROUNDS; round++) {
		u64 t0 = now_ns(), deadline = t0 + ONE_MS;
		u64 seen0 = timer_upcalls;
		check_eq(hc_set_timer_op(deadline), 0, "set_timer_op(now+1ms)");
		/* No hypercall from here until the event arrives. */
		u64 now, spins = 0;
		for (;;) {
			now = now_ns();
			if (timer_upcalls != seen0 && last_timer_ns + SLOP_NS >= deadline)
				break;
			if (now > deadline + WAIT_NS) {
				char why[160];
				snprintf(why, sizeof(why),
				         "round %d: no VIRQ_TIMER upcall %lu ms after the deadline (%lu upcall(s) before it)",
				         round, (now - deadline) / ONE_MS, timer_upcalls - seen0);
				v->evtchn_upcall_mask = 1;
				test_fail(why);
			}
			spins++;
		}
		u64 late = last_timer_ns > deadline ? last_timer_ns - deadline : 0;
		if (late > worst)
			worst = late;
		spins_total += spins;
	}
	v->evtchn_upcall_mask = 1;
	printf("timer: %d one-shots delivered to a spinning guest, latest %lu us after its deadline\n", ROUNDS,
	       worst / 1000);
	check(spins_total > 0, "the guest never spun");
}
