// Package rt is the Go runtime's kernel: it boots the machine and then
// serves, in ring 0, the Linux system calls the stock Go runtime makes, so
// that an ordinary GOOS=linux program (cmd/gohv) runs with no OS under it.
//
// It owns: the 32-bit multiboot/PVH entry and the long-mode switch
// (entry_amd64.s), kmain (boot_unsafe.go), the GDT window, IDT and TSS
// (desc_unsafe.go), the console UART (console_unsafe.go), the upper-half
// address space (image, direct map, per-CPU area) and the hypervisor heap
// that backs the runtime's mmap (mem_unsafe.go), kernel threads, futexes,
// sleeping and the epoll/eventfd pair the netpoller needs
// (thread_unsafe.go), the system-call table (syscall_unsafe.go), time
// (time_unsafe.go), exceptions, panics, reboot and power-off
// (trap_unsafe.go), getrandom's generator and its entropy
// (random_unsafe.go), and running PV guests: entry and exit, copies
// through the guest's tables, its GDT (guest_amd64.s, guest_unsafe.go),
// its debug registers and CR4 bits (debugreg_unsafe.go).
// api_unsafe.go and guest_unsafe.go are what cmd/gohv calls.
//
// Guests. gohv's L4 entries are in every guest top level, so a guest runs
// and exits on its own tables. GuestContext.Run enters it by a plain call
// from the vCPU's goroutine (locked to its thread) and the exit returns
// from that call: to the runtime the goroutine is running, and holds its
// P, while the guest runs; a timer interrupt exits the guest at least
// every tick, which is when the runtime can preempt it or stop the world.
// (ARCHITECTURE.md describes a VCPU_RUN system call instead; a call costs
// no runtime transitions on every exit.) The exit saves what Go code
// clobbers, XMM0-15 and MXCSR, and the FS base; the guest's x87 state
// stays in the CPU with the thread (the shim saves it on every switch).
//
// Contexts. Everything reached from the SYSCALL entry, the interrupt
// stubs or kmain runs on a kernel or IST stack with interrupts off, under
// //go:nosplit, allocates nothing and stores no Go pointers in globals
// (addresses are uintptr), so neither the stack-growth check nor a write
// barrier can run there. The exported API runs in ordinary goroutines.
//
// CPUs. State that belongs to one CPU lives in a cpuState reached through
// GS_BASE (entry_amd64.s uses fixed offsets into it); kernel threads are
// not tied to a CPU. Today one CPU runs and "interrupts off" is the
// shim's only lock; bringing up more CPUs adds a spinlock around the
// thread table, TLB shootdowns in munmap/madvise and for guest flushes
// (RequestTLBFlush is one flag today), and a GDT window and top-level
// release per CPU, not a new design.
//
// Imports: arch (the vCPU register file), arch/amd64, internal/chacha20
// (nosplit-safe), and the standard library (unsafe, sync/atomic, syscall,
// math/bits, errors, fmt, time).
// Only cmd/gohv imports this package.
package rt
