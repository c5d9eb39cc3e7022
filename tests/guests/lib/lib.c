/* lib.c: the test guests' runtime. See lib.h. */
#include <stdarg.h>
#include "lib.h"

struct start_info *start_info;	/* set by head.S from rsi */
int failures;
int (*trap_hook)(struct cpu_regs *);

volatile struct cpu_regs trap_seen;
volatile int trap_hits;
volatile u64 trap_resume;

int record_trap(struct cpu_regs *r)
{
	trap_seen = *r;
	trap_hits++;
	if (trap_resume) {
		r->rip = trap_resume;
		trap_resume = 0;
	}
	return 1;
}
struct shared_info *shared;

#ifdef USE_HYPERCALL_PAGE
#define VARIANT "-hcpage"
#else
#define VARIANT ""
#endif

/* ---- strings ---- */

unsigned long strlen(const char *s)
{
	unsigned long n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, unsigned long n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (u8)*a - (u8)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, ~0UL);
}

const char *strstr(const char *h, const char *n)
{
	unsigned long ln = strlen(n);
	for (; *h; h++)
		if (!strncmp(h, n, ln))
			return h;
	return ln ? NULL : h;
}

int has_token(const char *list, const char *tok)
{
	unsigned long lt = strlen(tok);
	const char *p = list;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if ((unsigned long)(e - p) == lt && !strncmp(p, tok, lt))
			return 1;
		p = e;
	}
	return 0;
}

void *memset(void *d, int c, unsigned long n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

/* ---- printf-lite: %c %s %d %i %u %x %p %%, flags '#' '0' '-', width, l/ll/z ---- */

struct out {
	char *buf;
	unsigned long cap, len;
};

static void emit(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

static void emit_num(struct out *o, u64 v, int base, int neg, int width, int zero, int left, const char *prefix)
{
	char tmp[24];
	int n = 0, plen = (int)strlen(prefix) + neg;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	int pad = width - n - plen;
	if (!left && !zero)
		for (; pad > 0; pad--)
			emit(o, ' ');
	if (neg)
		emit(o, '-');
	while (*prefix)
		emit(o, *prefix++);
	if (!left && zero)
		for (; pad > 0; pad--)
			emit(o, '0');
	while (n)
		emit(o, tmp[--n]);
	for (; left && pad > 0; pad--)
		emit(o, ' ');
}

static void vformat(struct out *o, const char *f, va_list ap)
{
	for (; *f; f++) {
		if (*f != '%') {
			emit(o, *f);
			continue;
		}
		int alt = 0, zero = 0, left = 0, width = 0, lng = 0;
		for (f++;; f++) {
			if (*f == '#')
				alt = 1;
			else if (*f == '0')
				zero = 1;
			else if (*f == '-')
				left = 1;
			else
				break;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (*f++ - '0');
		while (*f == 'l' || *f == 'z') {
			lng = 1;
			f++;
		}
		switch (*f) {
		case 'c':
			emit(o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = (int)strlen(s);
			for (int pad = width - n; !left && pad > 0; pad--)
				emit(o, ' ');
			while (*s)
				emit(o, *s++);
			for (int pad = width - n; left && pad > 0; pad--)
				emit(o, ' ');
			break;
		}
		case 'd':
		case 'i': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			emit_num(o, v < 0 ? -(u64)v : (u64)v, 10, v < 0, width, zero, left, "");
			break;
		}
		case 'u':
			emit_num(o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, 0, width, zero, left, "");
			break;
		case 'x':
			emit_num(o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, 0, width, zero, left, alt ? "0x" : "");
			break;
		case 'p':
			emit_num(o, (u64)va_arg(ap, void *), 16, 0, width, zero, left, "0x");
			break;
		case '%':
			emit(o, '%');
			break;
		case 0:
			return;
		default:
			emit(o, '%');
			emit(o, *f);
		}
	}
}

int snprintf(char *buf, unsigned long n, const char *fmt, ...)
{
	struct out o = { buf, n, 0 };
	va_list ap;
	va_start(ap, fmt);
	vformat(&o, fmt, ap);
	va_end(ap);
	if (n)
		buf[o.len < n ? o.len : n - 1] = 0;
	return (int)o.len;
}

static void console_write(const char *s, unsigned long n)
{
	while (n) {
		u32 chunk = n > 1024 ? 1024 : (u32)n;
		hc_console_io(CONSOLEIO_write, chunk, s);
		s += chunk;
		n -= chunk;
	}
}

void putstr(const char *s)
{
	console_write(s, strlen(s));
}

int printf(const char *fmt, ...)
{
	char buf[512];
	struct out o = { buf, sizeof(buf), 0 };
	va_list ap;
	va_start(ap, fmt);
	vformat(&o, fmt, ap);
	va_end(ap);
	unsigned long n = o.len < sizeof(buf) ? o.len : sizeof(buf) - 1;
	console_write(buf, n);
	return (int)o.len;
}

/* ---- result and shutdown ---- */

void shutdown(unsigned reason)
{
	struct sched_shutdown s = { reason };
	long rc = hc_sched_op(SCHEDOP_shutdown, &s);
	printf("SCHEDOP_shutdown(%u) returned %ld\n", reason, rc);
	for (;;)
		hc_sched_op(SCHEDOP_yield, NULL);
}

void finish(void)
{
	if (failures)
		printf("Test result: FAILURE %s%s: %d check(s) failed\n", test_name, VARIANT, failures);
	else
		printf("Test result: SUCCESS %s%s\n", test_name, VARIANT);
	shutdown(SHUTDOWN_poweroff);
}

void test_skip(const char *why)
{
	if (failures)
		finish();
	printf("Test result: SKIP %s%s: %s\n", test_name, VARIANT, why);
	shutdown(SHUTDOWN_poweroff);
}

void test_fail(const char *why)
{
	printf("Test result: FAILURE %s%s: %s\n", test_name, VARIANT, why);
	shutdown(SHUTDOWN_poweroff);
}

void lib_start(void)
{
	if (strncmp(start_info->magic, "xen-3.0-x86_64", 14))
		test_fail("start_info magic is not xen-3.0-x86_64");
	test_main();
	finish();
}

/* ---- traps ---- */

extern char entry_de[], entry_db[], entry_nmi[], entry_bp[], entry_of[], entry_br[],
	entry_ud[], entry_nm[], entry_df[], entry_ts[], entry_np[], entry_ss[], entry_gp[],
	entry_pf[], entry_mf[], entry_ac[], entry_mc[], entry_xm[], entry_ret_to_kernel[],
	entry_event[];

#define TI(v, dpl, fn) { (v), (dpl) | 4, FLAT_KERNEL_CS, 0, (u64)(fn) }
static const struct trap_info trap_table[] = {
	TI(0, 0, entry_de), TI(1, 0, entry_db), TI(2, 0, entry_nmi), TI(3, 3, entry_bp),
	TI(4, 3, entry_of), TI(5, 0, entry_br), TI(6, 0, entry_ud), TI(7, 0, entry_nm),
	TI(8, 0, entry_df), TI(10, 0, entry_ts), TI(11, 0, entry_np), TI(12, 0, entry_ss),
	TI(13, 0, entry_gp), TI(14, 0, entry_pf), TI(16, 0, entry_mf), TI(17, 0, entry_ac),
	TI(18, 0, entry_mc), TI(19, 0, entry_xm), TI(0x80, 3, entry_ret_to_kernel),
	{ 0, 0, 0, 0, 0 },
};

/* ---- secondary vCPUs ---- */

/* Where a vCPU set up by vcpu_context starts: rdi = its id, rsi = the
 * function it runs (both from user_regs), rsp = its stack top. */
asm(".text\n"
    "vcpu_entry:\n"
    "	andq $-16, %rsp\n"
    "	call *%rsi\n"
    "	ud2\n");
extern char vcpu_entry[];

static void vcpu_failsafe(void) { test_fail("failsafe callback"); }

void vcpu_context(struct vcpu_guest_context *c, unsigned id, void (*fn)(u64 id), void *stack_top,
		  int traps, u64 gs_base)
{
	memset(c, 0, sizeof(*c));
	c->flags = VGCF_in_kernel;
	c->user_regs.rip = (u64)vcpu_entry;
	c->user_regs.rsp = (u64)stack_top;
	c->user_regs.rdi = id;
	c->user_regs.rsi = (u64)fn;
	c->user_regs.rflags = 0x2;
	c->user_regs.cs = FLAT_KERNEL_CS & ~3;	/* Xen gives RPL 3 */
	c->user_regs.ss = FLAT_KERNEL_SS & ~3;
	if (traps) {
		for (const struct trap_info *t = trap_table; t->address; t++)
			c->trap_ctxt[t->vector] = *t;
		c->event_callback_eip = (u64)entry_event;
	}
	c->kernel_ss = FLAT_KERNEL_SS;
	c->kernel_sp = (u64)stack_top;
	c->ctrlreg[3] = virt_to_mfn((void *)start_info->pt_base) << 12;
	c->failsafe_callback_eip = (u64)vcpu_failsafe;
	c->gs_base_kernel = gs_base;
}

void install_traps(void)
{
	long rc = hc_set_trap_table(trap_table);
	if (rc)
		test_fail("set_trap_table failed");
}

void register_event_callback(void)
{
	struct callback_register cb = { CALLBACKTYPE_event, 0, 0, (u64)entry_event };
	if (hc_callback_op(CALLBACKOP_register, &cb))
		test_fail("callback_op(register event) failed");
}

void trap_dispatch(struct cpu_regs *r)
{
	if (trap_hook && trap_hook(r))
		return;
	printf("unexpected trap: vector %#lx error %#lx rip %#lx cs %#lx rflags %#lx rsp %#lx\n",
	       r->vector, r->error_code, r->rip, r->cs, r->rflags, r->rsp);
	if (shared && r->vector == 14)
		printf("cr2 %#lx\n", shared->vcpu_info[0].cr2);
	test_fail("unexpected exception");
}

/* ---- shared_info, time, frames ---- */

static u8 shared_page[4096] __attribute__((aligned(4096), section(".bss.page_aligned")));

struct shared_info *map_shared_info(void)
{
	if (shared)
		return shared;
	long rc = hc_update_va_mapping((u64)shared_page,
				       start_info->shared_info | _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY,
				       UVMF_INVLPG);
	if (rc) {
		printf("update_va_mapping(shared_info) = %ld\n", rc);
		test_fail("cannot map shared_info");
	}
	shared = (struct shared_info *)shared_page;
	return shared;
}

u64 vcpu_time_ns(volatile struct vcpu_time_info *t)
{
	u32 ver, mul;
	u64 ts, sys, delta;
	signed char shift;
	do {
		ver = t->version;
		barrier();
		ts = t->tsc_timestamp;
		sys = t->system_time;
		mul = t->tsc_to_system_mul;
		shift = t->tsc_shift;
		delta = rdtsc() - ts;
		barrier();
	} while ((ver & 1) || ver != t->version);
	if ((s64)delta < 0)
		delta = 0;	/* a TSC read before the stamp: another CPU's */
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return sys + (u64)(((unsigned __int128)delta * mul) >> 32);
}

/* The TSC frequency t describes (ns = ((tsc << shift) * mul) >> 32, so
 * kHz = 10^6 * 2^32 / mul, scaled by 2^-shift), read under its version
 * counter; 0 if it gives no scale. */
u64 vcpu_tsc_khz(volatile struct vcpu_time_info *t)
{
	u32 ver, mul;
	signed char shift;
	do {
		ver = t->version;
		barrier();
		mul = t->tsc_to_system_mul;
		shift = t->tsc_shift;
		barrier();
	} while ((ver & 1) || ver != t->version);
	if (mul == 0 || shift < -31 || shift > 31)
		return 0;
	u64 khz = (1000000UL << 32) / mul;	/* 2^32 * 10^6 < 2^52: no overflow */
	if (shift < 0)
		khz <<= -shift;
	else
		khz >>= shift;
	return khz;
}

u64 now_ns(void)
{
	return vcpu_time_ns(&map_shared_info()->vcpu_info[0].time);
}

u64 virt_to_mfn(const void *va)
{
	return ((const u64 *)start_info->mfn_list)[(u64)va >> 12];
}

u64 take_events(struct shared_info *s, struct vcpu_info *v, void (*fn)(u32 port))
{
	v->evtchn_upcall_pending = 0;
	u64 sel = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
	for (u64 left = sel; left; left &= left - 1) {
		int w = __builtin_ctzl(left);
		u64 pend = s->evtchn_pending[w] & ~s->evtchn_mask[w];
		for (; pend; pend &= pend - 1) {
			int b = __builtin_ctzl(pend);
			__atomic_fetch_and(&s->evtchn_pending[w], ~(1UL << b), __ATOMIC_SEQ_CST);
			if (fn)
				fn((u32)(w * 64 + b));
		}
	}
	return sel;
}

void sort_u64(u64 *a, unsigned long n)
{
	for (unsigned long i = 1; i < n; i++)
		for (unsigned long j = i; j > 0 && a[j - 1] > a[j]; j--) {
			u64 t = a[j];
			a[j] = a[j - 1];
			a[j - 1] = t;
		}
}

volatile u64 timer_upcalls, last_timer_ns;
static u32 watched_timer_port;

static void timer_port_seen(u32 port)
{
	if (port == watched_timer_port) {
		last_timer_ns = now_ns();
		timer_upcalls++;
	}
}

static int timer_hook(struct cpu_regs *r)
{
	if (r->vector != VEC_EVENT)
		return 0;
	struct shared_info *s = map_shared_info();
	take_events(s, &s->vcpu_info[0], timer_port_seen);
	return 1;
}

u32 watch_timer(void)
{
	struct shared_info *s = map_shared_info();
	struct evtchn_bind_virq bv = { VIRQ_TIMER, 0, 0 };
	check_eq(hc_event_channel_op(EVTCHNOP_bind_virq, &bv), 0, "bind_virq(TIMER)");
	watched_timer_port = bv.port;
	__atomic_fetch_and(&s->evtchn_mask[bv.port / 64], ~(1UL << (bv.port % 64)), __ATOMIC_SEQ_CST);
	trap_hook = timer_hook;
	return bv.port;
}
