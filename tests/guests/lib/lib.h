/* lib.h: the test guests' runtime (printing, checks, traps, events). */
#ifndef GUESTS_LIB_H
#define GUESTS_LIB_H
#include "xen.h"
#include "hypercall.h"

#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ACCESS_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#define barrier() asm volatile("" ::: "memory")

/* Each guest defines its name and its body. */
extern const char test_name[];
void test_main(void);

extern struct start_info *start_info;

/* Registers at the first instruction, saved by head.S. */
struct entry_state {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	u64 r8, r9, r10, r11, r12, r13, r14, r15;
	u64 rflags;
	u16 cs, ss, ds, es, fs, gs;
	u32 pad;
};
extern struct entry_state entry_state;

/* Printing through console_io. */
void putstr(const char *s);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, unsigned long n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks: a failed check prints "FAIL: ..." and makes the result FAILURE. */
extern int failures;
#define check(cond, ...) do { if (!(cond)) { failures++; printf("FAIL: " __VA_ARGS__); putstr("\n"); } } while (0)
#define check_eq(got, want, what) do { long __g = (long)(got), __w = (long)(want); \
	if (__g != __w) { failures++; printf("FAIL: %s = %ld (%#lx), want %ld (%#lx)\n", what, __g, __g, __w, __w); } } while (0)
/* Print the result line and power off; never returns. */
void test_skip(const char *why) __attribute__((noreturn));
void test_fail(const char *why) __attribute__((noreturn));
void finish(void) __attribute__((noreturn));
void shutdown(unsigned reason) __attribute__((noreturn));

/* String helpers (no libc). */
unsigned long strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, unsigned long n);
const char *strstr(const char *h, const char *n);
void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
int has_token(const char *list, const char *tok); /* space-separated */

/* Traps. The entry stubs turn a bounce frame into struct cpu_regs and call
 * trap_hook; returning from it irets with HYPERVISOR_iret using the
 * (possibly changed) frame. */
struct cpu_regs {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector;		/* TRAP_* or VEC_EVENT / VEC_SYSCALL */
	u64 error_code;		/* 0 for vectors without one */
	u64 rip, cs, rflags, rsp, ss;	/* iret frame; cs bits 39:32 = saved upcall mask */
};
#define VEC_EVENT   0x100
#define VEC_SYSCALL 0x101
/* Returns 1 if it handled the trap; 0 makes the test fail ("unexpected"). */
extern int (*trap_hook)(struct cpu_regs *);
/* record_trap is a trap_hook for expected traps: it copies the frame to
 * trap_seen, counts trap_hits, and resumes at trap_resume if that is set
 * (clearing it). */
extern volatile struct cpu_regs trap_seen;
extern volatile int trap_hits;
extern volatile u64 trap_resume;
int record_trap(struct cpu_regs *r);
/* Installs the trap table for vectors 0-19 and 0x80 (DPL 3, used to come back from user mode). */
void install_traps(void);
/* vcpu_context fills c for VCPUOP_initialise of vCPU id: kernel mode,
 * running fn(id) on the stack that ends at stack_top, vCPU 0's page tables,
 * a failsafe callback that fails the test, gs_base as its kernel GS base;
 * with traps, lib's trap table and event callback too. */
struct vcpu_guest_context;
void vcpu_context(struct vcpu_guest_context *c, unsigned id, void (*fn)(u64 id), void *stack_top,
		  int traps, u64 gs_base);
void register_event_callback(void);
extern u8 hypercall_page[4096];

/* shared_info mapped at a fixed page of the image. */
struct shared_info *map_shared_info(void);
extern struct shared_info *shared;
u64 now_ns(void);	/* Xen system time from vCPU 0's vcpu_time_info */
/* take_events is a 2-level event upcall's scan: it clears v's
 * upcall_pending and takes its pending selector, then clears each pending,
 * unmasked port of s in the words the selector names, calling fn(port)
 * for each (fn may be NULL). It returns the selector it took. */
u64 take_events(struct shared_info *s, struct vcpu_info *v, void (*fn)(u32 port));
/* watch_timer binds VIRQ_TIMER on vCPU 0, unmasks its port and makes
 * trap_hook take each event upcall on vCPU 0 (take_events), counting those
 * that had the timer's port: timer_upcalls, and the system time at the
 * last of them in last_timer_ns. It returns the port. The caller installs
 * the traps and the event callback first. */
u32 watch_timer(void);
extern volatile u64 timer_upcalls, last_timer_ns;
/* sort_u64 sorts a[0..n) in place (insertion sort: the guests' n are small). */
void sort_u64(u64 *a, unsigned long n);
u64 vcpu_time_ns(volatile struct vcpu_time_info *t);	/* the same from t */
u64 vcpu_tsc_khz(volatile struct vcpu_time_info *t);	/* TSC kHz t describes; 0: none */

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

/* MSR access: the guest kernel's RDMSR/WRMSR, which the hypervisor
 * emulates (a #GP bounced where it refuses). */
#define MSR_FS_BASE        0xc0000100
#define MSR_GS_BASE        0xc0000101
#define MSR_SHADOW_GS_BASE 0xc0000102

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}

/* CPUID through Xen's forced emulation prefix (ud2; "xen"), which a PV
 * guest's policy answers. */
static inline void fep_cpuid(u32 leaf, u32 sub, u32 *a, u32 *b, u32 *c, u32 *d)
{
	asm volatile("ud2; .ascii \"xen\"; cpuid"
		     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub) : "memory");
}

/* P2M / M2P for frame numbers. */
u64 virt_to_mfn(const void *va);
#define MACH2PHYS ((const u64 *)HYPERVISOR_VIRT_START)

#endif
