package main

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// forkExec forks (a full copy of the address space, not vfork); the
// child runs only raw system calls on what the parent built before the
// fork, as after fork only the forking thread exists in it and the Go
// runtime must not run there. The child execs argv0 with argv and envp (NULL-ended
// arrays) or exits with status 127. It returns the child's PID.
func forkExec(argv0 *byte, argv, envp **byte) (int, error) {
	pid, _, errno := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0)),
			uintptr(unsafe.Pointer(argv)), uintptr(unsafe.Pointer(envp)))
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
	return int(pid), nil
}

// Xen's public ABI (xen/include/public/xen.h, sysctl.h, memory.h and
// Linux's include/uapi/xen/privcmd.h) for xenMemory.
const (
	hypervisorMemoryOp = 12
	hypervisorSysctl   = 35

	xenmemCurrentReservation = 3
	domidSelf                = 0x7ff0

	sysctlPhysinfo         = 3
	sysctlInterfaceVersion = 0x15 // Xen 4.17
	physinfoTotalPagesWord = 6    // struct xen_sysctl: cmd, version, then physinfo's total_pages at byte 48
	physinfoFreePagesWord  = 7
	ioctlPrivcmdHypercall  = 0x305000 // _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))
)

// privcmdHypercall is Linux's struct privcmd_hypercall.
type privcmdHypercall struct {
	op  uint64
	arg [5]uint64
}

// hypercall makes a hypercall through /proc/xen/privcmd and returns its
// result; args point into memory this process keeps alive.
func hypercall(fd int, op uint64, args ...uint64) (uintptr, error) {
	h := privcmdHypercall{op: op}
	copy(h.arg[:], args)
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), ioctlPrivcmdHypercall, uintptr(unsafe.Pointer(&h)))
	if errno != 0 {
		return 0, errno
	}
	return r, nil
}

// xenMemory returns, in pages, the host's total and free memory
// (XEN_SYSCTL_physinfo) and dom0's current reservation
// (XENMEM_current_reservation for DOMID_SELF).
func xenMemory() (total, free, dom0 uint64, err error) {
	fd, err := unix.Open("/proc/xen/privcmd", unix.O_RDWR, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer unix.Close(fd)
	var sysctl [17]uint64 // struct xen_sysctl: 8 bytes and a 128-byte union
	sysctl[0] = sysctlPhysinfo | sysctlInterfaceVersion<<32
	if _, err := hypercall(fd, hypervisorSysctl, uint64(uintptr(unsafe.Pointer(&sysctl[0])))); err != nil {
		return 0, 0, 0, err
	}
	runtime.KeepAlive(&sysctl)
	domid := uint16(domidSelf)
	pages, err := hypercall(fd, hypervisorMemoryOp, xenmemCurrentReservation, uint64(uintptr(unsafe.Pointer(&domid))))
	runtime.KeepAlive(&domid)
	if err != nil {
		return 0, 0, 0, err
	}
	return sysctl[physinfoTotalPagesWord], sysctl[physinfoFreePagesWord], uint64(pages), nil
}
