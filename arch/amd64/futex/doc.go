// Package futex is a one-token wake-up (a sched.Parker) on a futex word:
// the owner's thread sleeps in the kernel with FUTEX_WAIT and a waker
// wakes it with FUTEX_WAKE, through the Linux system calls, which a Linux
// host's kernel serves and, on the metal, gohv's shim (arch/amd64/rt:
// the waiting thread blocks and its CPU halts or runs another thread; a
// wake makes it runnable and kicks an idle CPU of its affinity).
//
// cmd/gohv gives each vCPU two (hv's Config.NewParker), so that a vCPU
// blocked in SCHEDOP_block or SCHEDOP_poll, or waiting for a physical CPU
// (sched.VCPU.Enter), sleeps on its own kernel thread, which the Go runtime sees as a blocking system call (its P is
// usually still there when it returns), instead of parking its locked
// goroutine on a channel, which hands the thread's P to another thread
// and makes the wake-up a chain of hand-offs between threads.
//
// ParkWith is Park with the caller's sleep in place of FUTEX_WAIT:
// cmd/gohv's vCPU parker sleeps in rt.WaitFutexOrDevice, which also wakes
// for a device interrupt that the vCPU's thread then delivers itself.
//
// Contexts: ordinary goroutine code. Park blocks the calling thread;
// Unpark and Clear never block and allocate nothing; Unpark makes a
// system call only when the owner sleeps (or is about to).
//
// Imports: the standard library only (syscall, sync/atomic). unsafe is in
// futex_unsafe.go alone (a word's address for the system call). It is
// part of the metal: only cmd/... imports it (tests/deps_test.go).
package futex
