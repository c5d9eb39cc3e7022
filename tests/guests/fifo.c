/*
 * fifo: FIFO event channels (public/event_channel.h), as Linux sets them up.
 *  - init_control: -ENOENT for a vCPU that does not exist, -EINVAL for an
 *    offset that is not 8-aligned or crosses the page; vCPU 0's control
 *    block gives link_bits 17; a second block for vCPU 0 is -EINVAL;
 *  - set_priority: -EINVAL on an unallocated port or a priority above 15;
 *  - a loopback interdomain pair bound before the event array exists: the
 *    bind's event is held until expand_array adds the page, then linked at
 *    head[7] with ready bit 7 and evtchn_upcall_pending (the 2-level
 *    evtchn_pending_sel untouched);
 *  - send links the other port after the first (LINK field), no second
 *    ready bit change; the guest walks the queue as Linux does;
 *  - a MASKED port only becomes PENDING; EVTCHNOP_unmask links it again;
 *  - set_priority moves the next event to another queue;
 *  - with events unmasked an event raises the upcall;
 *  - a closed port still LINKED is not handed out again;
 *  - EVTCHNOP_reset returns the domain to 2-level: expand_array is then
 *    -EOPNOTSUPP and init_control works again.
 */
#include "lib.h"

const char test_name[] = "fifo";

static u8 cb_page[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 array_page[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));
static u8 cb_page2[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));

#define CB_OFF 0x80

static struct shared_info *s;
static volatile struct evtchn_fifo_control_block *cb;
static volatile u32 *words = (volatile u32 *)array_page;
static volatile int upcalls;

#define P (1u << EVTCHN_FIFO_PENDING)
#define M (1u << EVTCHN_FIFO_MASKED)
#define L (1u << EVTCHN_FIFO_LINKED)

static int hook(struct cpu_regs *r)
{
	if (r->vector != VEC_EVENT)
		return 0;
	upcalls++;
	s->vcpu_info[0].evtchn_upcall_pending = 0;
	return 1;
}

static long init_control(u64 gfn, u32 offset, u32 vcpu, u8 *link_bits)
{
	struct evtchn_init_control ic = { gfn, offset, vcpu, 0, { 0 } };
	long rc = hc_event_channel_op(EVTCHNOP_init_control, &ic);
	if (link_bits)
		*link_bits = ic.link_bits;
	return rc;
}

static long set_priority(u32 port, u32 prio)
{
	struct evtchn_set_priority sp = { port, prio };
	return hc_event_channel_op(EVTCHNOP_set_priority, &sp);
}

static long expand(u64 gfn)
{
	struct evtchn_expand_array ea = { gfn };
	return hc_event_channel_op(EVTCHNOP_expand_array, &ea);
}

static long send(u32 port)
{
	struct evtchn_port p = { port };
	return hc_event_channel_op(EVTCHNOP_send, &p);
}

/* consume takes the head of queue prio as Linux's events_fifo.c does:
 * clear LINKED (and the link) of the head word, keep its link as the next
 * head, and drop the ready bit when the queue ends. The next head is
 * written back to the control block (Linux keeps it in its own copy). */
static u32 consume(int prio)
{
	u32 port = cb->head[prio];
	if (port == 0)
		return 0;
	u32 w = __atomic_fetch_and(&words[port], ~(L | EVTCHN_FIFO_LINK_MASK), __ATOMIC_SEQ_CST);
	u32 next = w & EVTCHN_FIFO_LINK_MASK;
	cb->head[prio] = next;
	if (next == 0)
		__atomic_fetch_and(&cb->ready, ~(1u << prio), __ATOMIC_SEQ_CST);
	__atomic_fetch_and(&words[port], ~P, __ATOMIC_SEQ_CST);
	return port;
}

void test_main(void)
{
	s = map_shared_info();
	struct vcpu_info *v = &s->vcpu_info[0];
	install_traps();
	trap_hook = hook;
	register_event_callback();
	cb = (volatile struct evtchn_fifo_control_block *)(cb_page + CB_OFF);
	u64 cb_mfn = virt_to_mfn(cb_page), array_mfn = virt_to_mfn(array_page);
	u64 sel0 = v->evtchn_pending_sel;

	check_eq(init_control(cb_mfn, CB_OFF, 1000, NULL), -XEN_ENOENT, "init_control(vcpu 1000)");
	check_eq(init_control(cb_mfn, 4, 0, NULL), -XEN_EINVAL, "init_control(offset 4)");
	check_eq(init_control(cb_mfn, 4096 - 64, 0, NULL), -XEN_EINVAL, "init_control(offset crossing the page)");
	check_eq(expand(array_mfn), -XEN_EOPNOTSUPP, "expand_array before init_control");
	u8 lb = 0;
	check_eq(init_control(cb_mfn, CB_OFF, 0, &lb), 0, "init_control(vcpu 0)");
	check_eq(lb, EVTCHN_FIFO_LINK_BITS, "init_control link_bits");
	check_eq(init_control(virt_to_mfn(cb_page2), 0, 0, NULL), -XEN_EINVAL, "init_control(vcpu 0) again");

	/* A loopback pair before the event array exists. */
	struct evtchn_alloc_unbound au = { DOMID_SELF, DOMID_SELF, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_alloc_unbound, &au), 0, "alloc_unbound(self, self)");
	u32 p1 = au.port;
	struct evtchn_bind_interdomain bi = { DOMID_SELF, 0, p1, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_interdomain, &bi), 0, "bind_interdomain(self, p1)");
	u32 p2 = bi.local_port;
	printf("ports: unbound %u, interdomain %u\n", p1, p2);
	check(p1 < 1024 && p2 < 1024 && p1 != p2, "ports %u/%u", p1, p2);
	check_eq(set_priority(1000, 7), -XEN_EINVAL, "set_priority(unallocated port)");
	check_eq(set_priority(p1, 16), -XEN_EINVAL, "set_priority(p1, 16)");
	check_eq(cb->ready, 0, "ready before expand_array");
	check_eq(v->evtchn_upcall_pending, 0, "upcall_pending before expand_array");

	check_eq(expand(array_mfn), 0, "expand_array");
	check_eq(words[p2], P | L, "p2's event word after expand_array");
	check_eq(cb->head[EVTCHN_FIFO_PRIORITY_DEFAULT], p2, "head[7]");
	check_eq(cb->ready, 1u << EVTCHN_FIFO_PRIORITY_DEFAULT, "ready");
	check_eq(v->evtchn_upcall_pending, 1, "upcall_pending");
	check_eq(v->evtchn_pending_sel, sel0, "evtchn_pending_sel (not used by FIFO)");

	check_eq(send(p2), 0, "send(p2)");
	check_eq(words[p2], P | L | p1, "p2's word links to p1");
	check_eq(words[p1], P | L, "p1's word");
	check_eq(cb->head[7], p2, "head[7] after send");
	check_eq(consume(7), p2, "first event");
	check_eq(consume(7), p1, "second event");
	check_eq(consume(7), 0, "queue end");
	check_eq(cb->ready, 0, "ready after the queue is empty");

	/* Masked: pending only; EVTCHNOP_unmask links it. */
	v->evtchn_upcall_pending = 0;
	__atomic_fetch_or(&words[p1], M, __ATOMIC_SEQ_CST);
	check_eq(send(p2), 0, "send(p2) to masked p1");
	check_eq(words[p1], P | M, "masked p1's word");
	check_eq(cb->ready, 0, "ready for a masked port");
	check_eq(v->evtchn_upcall_pending, 0, "upcall_pending for a masked port");
	struct evtchn_port um = { p1 };
	check_eq(hc_event_channel_op(EVTCHNOP_unmask, &um), 0, "unmask(p1)");
	check_eq(words[p1], P | L, "p1's word after unmask");
	check_eq(cb->head[7], p1, "head[7] after unmask");
	check_eq(v->evtchn_upcall_pending, 1, "upcall_pending after unmask");
	check_eq(consume(7), p1, "unmasked event");

	/* Priority 3 for p2's next event. */
	check_eq(set_priority(p2, 3), 0, "set_priority(p2, 3)");
	check_eq(send(p1), 0, "send(p1)");
	check_eq(cb->head[3], p2, "head[3]");
	check_eq(cb->ready, 1u << 3, "ready bit 3");
	check_eq(consume(3), p2, "priority-3 event");

	/* An upcall with events unmasked. */
	v->evtchn_upcall_pending = 0;
	upcalls = 0;
	v->evtchn_upcall_mask = 0;
	barrier();
	check_eq(send(p2), 0, "send(p2), events unmasked");
	v->evtchn_upcall_mask = 1;
	barrier();
	check_eq(upcalls, 1, "upcalls for send(p2)");
	check_eq(consume(7), p1, "upcall's event");

	/* A closed port still linked is not reused until unlinked. */
	check_eq(send(p2), 0, "send(p2) before close");
	check_eq(words[p1], P | L, "p1 linked before close");
	struct evtchn_port cl = { p1 };
	check_eq(hc_event_channel_op(EVTCHNOP_close, &cl), 0, "close(p1)");
	check_eq(words[p1], L, "closed p1's word (pending cleared, still linked)");
	struct evtchn_alloc_unbound au2 = { DOMID_SELF, DOMID_SELF, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_alloc_unbound, &au2), 0, "alloc_unbound after close");
	check(au2.port != p1, "a linked port %u was handed out again", p1);
	check_eq(consume(7), p1, "the closed port's stale event");

	/* Reset: back to 2-level, frames given back. */
	struct evtchn_reset rs = { DOMID_SELF };
	check_eq(hc_event_channel_op(EVTCHNOP_reset, &rs), 0, "reset(self)");
	check_eq(expand(array_mfn), -XEN_EOPNOTSUPP, "expand_array after reset");
	check_eq(set_priority(p2, 3), -XEN_ENOSYS, "set_priority after reset (2-level, port still valid)");
	check_eq(init_control(cb_mfn, CB_OFF, 0, &lb), 0, "init_control after reset");
	finish();
}
