// Package linux is the Linux system-call ABI as arch/amd64/rt's shim
// serves it to the Go runtime: errno values, and the decoding and
// validation of the arguments of mmap, munmap, madvise, mprotect, futex,
// clone, rt_sigprocmask, rt_sigaction, sigaltstack, tgkill,
// clock_gettime and timespecs, where an rt_sigframe goes on the
// alternate stack, and the vDSO's ELF image (vdso.go: BuildVDSO, which
// names the clock routines rt's auxiliary vector offers the runtime),
// computed on values so that it runs and is tested on any host. rt does what the decoded call asks (page tables, threads,
// the frame's contents); this package decides what that is. The
// constants are Linux's (include/uapi/asm-generic/mman-common.h,
// errno-base.h, signal.h, linux/futex.h, linux/sched.h; arch/x86's
// uapi sigcontext.h and ucontext.h; the ELF-64 gABI and GNU symbol
// versioning for the vDSO).
//
// Contexts. The shim calls these functions on a thread's kernel stack
// with interrupts off, so each is //go:nosplit (or inlined), works on
// values and allocates nothing.
//
// Imports: nothing. It is pure (no unsafe, no assembly) and may be
// imported by anything.
package linux
