package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/linux"
)

// sysFrame is what syscallEntry pushes, lowest address first. ax carries
// the number in and the result out; r11 and cx are the caller's RFLAGS and
// RIP; sp is its stack.
type sysFrame struct {
	r15, r14, r13, r12, r10, r9, r8, bp, di, si, dx, bx, ax, r11, cx, sp uintptr
}

// Linux errno values the shim returns (negated in RAX by errno).
const (
	enoent    = linux.ENOENT
	eperm     = linux.EPERM
	ebusy     = linux.EBUSY
	ebadf     = linux.EBADF
	eagain    = linux.EAGAIN
	einval    = linux.EINVAL
	emfile    = linux.EMFILE
	enosys    = linux.ENOSYS
	enomem    = linux.ENOMEM
	etimedout = linux.ETIMEDOUT
)

//go:nosplit
func errno(e uintptr) uintptr { return linux.Errno(e) }

// gohv's own system calls, made by the exported API from ordinary
// goroutines so that they run serialised with the rest of the shim.
const (
	sysConsoleRaw   = 1000 + iota // (buf, len): bytes to the serial line, as is
	sysSerialInit                 // (base, baud, lcr)
	sysPowerOff                   // (code)
	sysReboot                     // ()
	sysPanic                      // (msg, len): Xen panic banner, then reboot or halt
	sysHalt                       // (): stop this CPU for good
	sysConsoleInput               // (buf, len, irq): serial input, blocking
	sysIOAPICAdd                  // (addr, gsiBase): register and mask an IO-APIC
	sysISAIRQ                     // (irq, gsi, activeLow, level): an ISA IRQ's GSI
	sysAPStart                    // (cpu, apicID): INIT-SIPI-SIPI through the trampoline
	sysIPI                        // (cpu): an IPI (PingAP)
	sysGSIRoute                   // (gsi, vec, flags): a GSI's pin to a device vector
	sysMSIRoute                   // (vec): a device vector for an MSI
	sysVecFree                    // (vec): unroute a device vector
	sysVecMask                    // (vec, masked): mask a device vector's pin
	sysDevWait                    // (): wait for device vectors
	sysIOAPICReg                  // (physbase, reg, val, write): IO-APIC register access
	sysMSIHold                    // (vec, hold): an MSI vector waits for its guests' EOI
	sysVecEOI                     // (vec): the guests have EOIed a held MSI vector
	sysShootdown                  // (cr3): a top level released: every CPU drops it and flushes
	sysFlushAll                   // (): every CPU's caches written back (WBINVD) and TLB flushed
	sysTLBShootdown               // (): every other CPU flushes its TLB
	sysDevTake                    // (how): take the pending device vectors without waiting
	sysFutexDev                   // (addr, val, deadline): FUTEX_WAIT that also ends on a device vector
)

var (
	nSyscalls uint64
	nUnknown  uint64
	sigmasks  [maxThreads]uint64
)

// dispatch serves one system call under the shim lock. Context: kernel
// stack of the calling thread, interrupts off (syscallEntry). A call that
// blocks may return on another CPU.
//
//go:nosplit
func dispatch(f *sysFrame) {
	shimLock()
	thisCPU().inShim = 1
	nSyscalls++
	a0, a1, a2, a3 := f.di, f.si, f.dx, f.r10
	ret := uintptr(0)
	switch f.ax {
	case 0: // read
		if a0 == fdEventfd && eventfdMade {
			if eventfdCount == 0 {
				ret = errno(eagain)
				break
			}
			touch(a1)
			*(*uint64)(unsafe.Pointer(a1)) = eventfdCount
			eventfdCount = 0
			ret = 8
		} else {
			ret = errno(ebadf)
		}
	case 1: // write
		switch {
		case a0 == 1 || a0 == 2:
			touchRange(a1, a2)
			for i := uintptr(0); i < a2; i++ {
				putcXen(*(*byte)(unsafe.Pointer(a1 + i)))
			}
			ret = a2
		case a0 == fdEventfd && eventfdMade:
			touch(a1)
			eventfdSignal(*(*uint64)(unsafe.Pointer(a1)))
			ret = 8
		default:
			ret = errno(ebadf)
		}
	case 3: // close
	case 9: // mmap
		ret = sysMmap(a0, a1, a2, a3)
	case 10: // mprotect
		ret = sysMprotect(a0, a1, a2)
	case 11: // munmap
		ret = sysMunmap(a0, a1)
	case 12: // brk: no program break
		ret = 0
	case 13: // rt_sigaction
		ret = sysRtSigaction(a0, a1, a2)
	case 14: // rt_sigprocmask
		ret = sysRtSigprocmask(a0, a1, a2)
	case 24: // sched_yield
		schedule(true)
	case 28: // madvise
		ret = sysMadvise(a0, a1, a2)
	case 35: // nanosleep, with the tick's resolution from idleTimerMin (sleepResolution)
		ns, ok := timespecNs(a0)
		if !ok {
			ret = errno(einval)
			break
		}
		if ns >= idleTimerMin {
			current().naps++
		}
		block(linux.Deadline(nanotime(), linux.SleepFor(ns, idleTimerMin, sleepResolution)))
	case 39: // getpid
		ret = 1
	case 56: // clone
		ret = sysClone(f)
	case 60: // exit (thread)
		sysExitThread()
	case 15: // rt_sigreturn
		ret = sysRtSigreturn(f)
	case 62: // kill: there are no processes
	case 200: // tkill
		ret = sysTgkill(a0, a1)
	case 234: // tgkill
		ret = sysTgkill(a1, a2)
	case 72: // fcntl
		if a1 == 3 { // F_GETFL
			ret = 2 // O_RDWR
		}
	case 131: // sigaltstack
		ret = sysSigaltstack(a0, a1)
	case 157: // prctl
		ret = errno(einval)
	case 158: // arch_prctl
		if a0 == linux.ArchSetFS {
			current().fsBase = a1
			amd64.Wrmsr(amd64.MSR_FS_BASE, uint64(a1))
		} else {
			ret = errno(einval)
		}
	case 186: // gettid
		ret = current().tid
	case 202: // futex
		ret = sysFutex(a0, a1, a2, a3)
	case 203: // sched_setaffinity: a vCPU's thread bound to its CPU
		ret = sysSetAffinity(a0, a1, a2)
	case 204: // sched_getaffinity: the CPUs online, or the thread's
		ret = sysGetAffinity(a0, a1, a2)
	case 228: // clock_gettime
		ns := nanotime()
		if linux.IsRealtime(a0) {
			ns += bootUnix * 1000000000
		}
		touch(a1)
		ts := (*[2]int64)(unsafe.Pointer(a1))
		ts[0], ts[1] = ns/1000000000, ns%1000000000
	case 231: // exit_group
		exitGroup(int(a0))
	case 233: // epoll_ctl(epfd, op, fd, event)
		if a0 != fdEpoll || a2 != fdEventfd {
			ret = errno(ebadf)
			break
		}
		if a1 == 1 || a1 == 3 { // ADD, MOD
			touch(a3)
			eventfdData = *(*uint64)(unsafe.Pointer(a3 + 4))
			eventfdWatched = true
		} else {
			eventfdWatched = false
		}
	case 257: // openat: there are no files
		ret = errno(enoent)
	case 281: // epoll_pwait
		if a0 != fdEpoll {
			ret = errno(ebadf)
			break
		}
		ret = sysEpollWait(a1, a2, int64(int32(a3)))
	case 290: // eventfd2
		if eventfdMade {
			ret = errno(emfile)
		} else {
			eventfdMade = true
			ret = fdEventfd
		}
	case 291: // epoll_create1
		if epollMade {
			ret = errno(emfile)
		} else {
			epollMade = true
			ret = fdEpoll
		}
	case 302: // prlimit64
		if a3 != 0 {
			touch(a3)
			o := (*[2]uint64)(unsafe.Pointer(a3))
			o[0], o[1] = 1024, 1024
		}
	case 318: // getrandom
		touchRange(a0, a1)
		for i := uintptr(0); i < a1; i++ {
			*(*byte)(unsafe.Pointer(a0 + i)) = byte(random())
		}
		ret = a1
	case sysConsoleRaw:
		touchRange(a0, a1)
		for i := uintptr(0); i < a1; i++ {
			b := *(*byte)(unsafe.Pointer(a0 + i))
			putc(b)
			atLineStart = b == '\n'
		}
	case sysSerialInit:
		serialInit(uint16(a0), uint32(a1), uint8(a2))
	case sysPowerOff:
		powerOff(int(a0))
	case sysReboot:
		reboot()
	case sysConsoleInput:
		ret = sysConsoleRead(a0, a1, a2)
	case sysAPStart:
		ret = sysStartAP(a0, a1)
	case sysIPI:
		ret = sysSendIPI(a0)
	case sysIOAPICAdd:
		ret = sysAddIOAPIC(a0, a1)
	case sysISAIRQ:
		if a0 < 16 {
			isaRoute[a0] = isaIRQ{gsi: uint32(a1), activeLow: a2 != 0, level: a3 != 0}
		}
	case sysGSIRoute:
		ret = sysRouteGSI(a0, a1, a2)
	case sysMSIRoute:
		ret = sysRouteMSI(a0)
	case sysVecFree:
		ret = sysVectorFree(a0)
	case sysVecMask:
		ret = sysVectorMask(a0, a1)
	case sysDevWait:
		ret = sysWaitDeviceIRQs()
	case sysDevTake:
		ret = sysTakeDeviceIRQs(a0)
	case sysFutexDev:
		ret = sysFutexOrDevice(a0, a1, a2)
	case sysTLBShootdown:
		ret = sysShootdownOthers()
	case sysFlushAll:
		ret = sysFlushCaches()
	case sysShootdown:
		ret = sysReleaseTables(uint64(a0))
	case sysIOAPICReg:
		ret = sysIOAPICAccess(a0, a1, a2, a3)
	case sysMSIHold:
		ret = sysHoldMSI(a0, a1)
	case sysVecEOI:
		ret = sysVectorEOI(a0)
	case sysHalt:
		shimUnlock()
		amd64.Halt()
	case sysGuestIRQ:
		if guestIRQ(uint64(a0), int64(a1), uint64(a2), a3 != 0) {
			ret = 1
		}
	case sysHeapWait, sysHeapLend, sysHeapShrink, sysHeapReclaim:
		ret = sysHeapCall(f.ax, a0, a1, a2)
	case sysFreeInit:
		ret = sysFreeInitMemory(a0)
	case sysDirectMapGrow:
		ret = sysGrowDirectMap(uint64(a0))
	case sysPanic:
		xline()
		panicBanner(a0, a1)
	default:
		nUnknown++
		xline()
		xputs("rt: unimplemented system call ")
		xdec(uint64(f.ax))
		xputs("\n")
		ret = errno(enosys)
	}
	f.ax = ret
	thisCPU().inShim = 0
	shimUnlock()
}
