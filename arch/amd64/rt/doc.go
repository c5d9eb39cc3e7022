// Package rt is the Go runtime's kernel: it boots the machine and then
// serves, in ring 0, the Linux system calls the stock Go runtime makes, so
// that an ordinary GOOS=linux program (cmd/gohv) runs with no OS under it.
//
// It owns: the 32-bit multiboot/PVH entry and the long-mode switch
// (entry_amd64.s), kmain (boot_unsafe.go), the GDT/IDT/TSS (desc_unsafe.go),
// the console UART (console_unsafe.go), the page tables and the
// hypervisor heap that backs the runtime's mmap (mem_unsafe.go), kernel
// threads, futexes, sleeping and the epoll/eventfd pair the netpoller
// needs (thread_unsafe.go), the system-call table (syscall_unsafe.go),
// time (time_unsafe.go), and exceptions, panics, reboot and power-off
// (trap_unsafe.go). api_unsafe.go is what cmd/gohv calls.
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
// thread table and TLB shootdowns in munmap/madvise, not a new design.
//
// Imports: arch/amd64 and the standard library's unsafe and math/bits.
// Only cmd/gohv imports this package.
package rt
