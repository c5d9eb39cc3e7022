// The vDSO's routines (vdso_unsafe.go): the Go runtime calls them with
// the C ABI (System V AMD64) where Linux's vDSO would be, from nanotime1
// and time.now on the g0 (or signal) stack, in ring 0 with interrupts on
// like the rest of the runtime. They read the clock exactly as the shim's
// clock_gettime does (time_unsafe.go: nanotime, and the RTC's bootUnix for
// wall time): ns = ((TSC - tsc0) * tscMult) >> 32, the 128-bit product's
// middle 64 bits. tsc0, tscMult and bootUnix are set once by kmain before
// the runtime starts and never change, so they are read without a lock.
// Neither routine takes the shim lock, touches cpuState or uses more stack
// than its return address.

#include "textflag.h"

#define SYS_clock_gettime 228

// The clock ids served here (bit n for id n): wall clocks CLOCK_REALTIME
// (0) and CLOCK_REALTIME_COARSE (5); time since calibration for
// CLOCK_MONOTONIC (1), CLOCK_MONOTONIC_RAW (4), CLOCK_MONOTONIC_COARSE (6)
// and CLOCK_BOOTTIME (7). As Linux's vDSO does, every other id (the CPU-time
// clocks, the alarm clocks, CLOCK_TAI, invalid ids) is the real system call.
#define WALL_IDS 0x21
#define MONO_IDS 0xd2

// NOW_NS leaves the nanoseconds since calibration in AX (nanotime's
// formula). Clobbers DX and flags.
#define NOW_NS \
	RDTSC; \
	SHLQ	$32, DX; \
	ORQ	DX, AX; \
	SUBQ	·tsc0(SB), AX; \
	MULQ	·tscMult(SB); \
	SHRQ	$32, DX, AX

// int __vdso_clock_gettime(clockid_t id, struct timespec *ts)
// In: DI = id (32 bits), SI = ts. Out: AX = 0 and *ts = {sec, nsec} for a
// served id; otherwise whatever the clock_gettime system call returns
// (the shim's dispatch), with DI and SI passed on as they are.
// Clobbers AX, CX, DX, R8, flags (and, on the fallback, R11: SYSCALL).
TEXT ·vdsoClockGettime(SB),NOSPLIT|NOFRAME,$0-0
	CMPL	DI, $7
	JA	fallback	// unsigned: the negative CPU-clock ids too
	XORL	R8, R8	// what the id adds to time since calibration
	MOVL	$WALL_IDS, AX
	BTL	DI, AX
	JCC	mono
	MOVQ	·bootUnix(SB), R8
	IMULQ	$1000000000, R8
	JMP	now
mono:
	MOVL	$MONO_IDS, AX
	BTL	DI, AX
	JCC	fallback
now:
	NOW_NS
	ADDQ	R8, AX
	CQO
	MOVQ	$1000000000, CX
	IDIVQ	CX	// AX = seconds, DX = nanoseconds (the shim's / and %)
	MOVQ	AX, 0(SI)
	MOVQ	DX, 8(SI)
	XORL	AX, AX
	RET
fallback:
	MOVL	$SYS_clock_gettime, AX
	SYSCALL
	RET

// int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
// In: DI = tv (may be nil), SI = tz (may be nil). Out: AX = 0; *tv =
// {sec, usec} of the wall clock (CLOCK_REALTIME, truncated to
// microseconds); *tz = {0, 0} (UTC, no DST), as Linux has it unless
// settimeofday set a zone. Clobbers AX, CX, DX, R8, flags.
TEXT ·vdsoGettimeofday(SB),NOSPLIT|NOFRAME,$0-0
	TESTQ	DI, DI
	JZ	tz
	NOW_NS
	MOVQ	·bootUnix(SB), R8
	IMULQ	$1000000000, R8
	ADDQ	R8, AX
	CQO
	MOVQ	$1000000000, CX
	IDIVQ	CX	// AX = seconds, DX = nanoseconds
	MOVQ	AX, 0(DI)
	MOVQ	DX, AX
	XORL	DX, DX
	MOVL	$1000, CX
	DIVQ	CX	// AX = microseconds
	MOVQ	AX, 8(DI)
tz:
	TESTQ	SI, SI
	JZ	done
	MOVQ	$0, 0(SI)	// tz_minuteswest, tz_dsttime
done:
	XORL	AX, AX
	RET

// func vdsoCall(fn, a0, a1 uintptr) uintptr
// Calls the vDSO routine at fn with the C ABI (DI = a0, SI = a1) and
// returns its AX: how the selftest reaches the routines directly
// (ClockVDSO). Ordinary goroutine context, on the goroutine's stack: the
// routines use only their return address's 8 bytes of it. Clobbers AX,
// CX, DX, SI, DI, R8, R11, flags.
TEXT ·vdsoCall(SB),NOSPLIT,$0-32
	MOVQ	fn+0(FP), AX
	MOVQ	a0+8(FP), DI
	MOVQ	a1+16(FP), SI
	CALL	AX
	MOVQ	AX, ret+24(FP)
	RET

// The routines' addresses (absolute: the linker writes them), for the
// vDSO image's symbols.
DATA ·vdsoAddrs+0(SB)/8, $·vdsoClockGettime(SB)
DATA ·vdsoAddrs+8(SB)/8, $·vdsoGettimeofday(SB)
GLOBL ·vdsoAddrs(SB), RODATA, $16
