package main

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Xen's public ABI for xenMemory: xen/include/public/xen.h (hypercall
// numbers, DOMID_SELF), sysctl.h (struct xen_sysctl, physinfo), memory.h
// (XENMEM_current_reservation), and Linux's include/uapi/xen/privcmd.h
// (struct privcmd_hypercall, IOCTL_PRIVCMD_HYPERCALL).
const (
	hypervisorMemoryOp = 12
	hypervisorSysctl   = 35

	xenmemCurrentReservation = 3
	domidSelf                = 0x7ff0

	sysctlPhysinfo         = 3
	sysctlInterfaceVersion = 0x15 // Xen 4.17's XEN_SYSCTL_INTERFACE_VERSION
	// struct xen_sysctl is cmd and interface_version (4 bytes each) and a
	// 128-byte union; physinfo's total_pages and free_pages are at bytes
	// 48 and 56 of it.
	sysctlSize          = 8 + 128
	physinfoTotalPages  = 48
	physinfoFreePages   = 56
	privcmdHypercallLen = 48       // op and five arguments, 8 bytes each
	ioctlPrivcmdHyper   = 0x305000 // _IOC(_IOC_NONE, 'P', 0, privcmdHypercallLen)
)

// xenMemory returns, in pages, the host's total and free memory
// (XEN_SYSCTL_physinfo) and dom0's current reservation
// (XENMEM_current_reservation for DOMID_SELF), asked of the hypervisor
// through /proc/xen/privcmd.
//
// A hypercall's arguments point into the caller's memory, and this
// package may not take the address of Go memory (no unsafe outside the
// metal). So the hypercall block, the sysctl structure and the domain ID
// live in one page this function maps itself with a raw mmap (whose
// address the system call returns as a number), fills and reads back
// through /proc/self/mem at that address, and unmaps: memory the Go
// runtime does not own or move.
func xenMemory() (total, free, dom0 uint64, err error) {
	priv, err := os.OpenFile("/proc/xen/privcmd", os.O_RDWR, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer priv.Close()
	mem, err := os.OpenFile("/proc/self/mem", os.O_RDWR, 0)
	if err != nil {
		return 0, 0, 0, err
	}
	defer mem.Close()
	const page = 4096
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, 0, page, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE, ^uintptr(0), 0)
	if errno != 0 {
		return 0, 0, 0, fmt.Errorf("mmap: %w", errno)
	}
	defer unix.Syscall(unix.SYS_MUNMAP, addr, page, 0)
	// The page: the hypercall block at 0, struct xen_sysctl at 64, the
	// domain ID at 256.
	hc, sysctl, domid := addr, addr+64, addr+256
	hypercall := func(op uint64, args ...uint64) (uintptr, error) {
		b := make([]byte, privcmdHypercallLen)
		binary.LittleEndian.PutUint64(b, op)
		for i, a := range args {
			binary.LittleEndian.PutUint64(b[8+8*i:], a)
		}
		if _, err := mem.WriteAt(b, int64(hc)); err != nil {
			return 0, err
		}
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, priv.Fd(), ioctlPrivcmdHyper, hc)
		if errno != 0 {
			return 0, errno
		}
		return r, nil
	}
	s := make([]byte, sysctlSize)
	binary.LittleEndian.PutUint32(s[0:], sysctlPhysinfo)
	binary.LittleEndian.PutUint32(s[4:], sysctlInterfaceVersion)
	if _, err := mem.WriteAt(s, int64(sysctl)); err != nil {
		return 0, 0, 0, err
	}
	if _, err := hypercall(hypervisorSysctl, uint64(sysctl)); err != nil {
		return 0, 0, 0, fmt.Errorf("sysctl physinfo: %w", err)
	}
	if _, err := mem.ReadAt(s, int64(sysctl)); err != nil {
		return 0, 0, 0, err
	}
	d := make([]byte, 2)
	binary.LittleEndian.PutUint16(d, domidSelf)
	if _, err := mem.WriteAt(d, int64(domid)); err != nil {
		return 0, 0, 0, err
	}
	pages, err := hypercall(hypervisorMemoryOp, xenmemCurrentReservation, uint64(domid))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("memory_op current_reservation: %w", err)
	}
	return binary.LittleEndian.Uint64(s[physinfoTotalPages:]), binary.LittleEndian.Uint64(s[physinfoFreePages:]), uint64(pages), nil
}
