// Copyright 2026 The gohv Authors. All rights reserved.

package abi

// GuestHandle is XEN_GUEST_HANDLE(type) as a structure field on x86-64: the
// guest virtual address of one or more objects of that type, in the
// address space of the calling vCPU. It is 8 bytes; 0 is the null handle.
// The hypervisor must access it only through guest-memory copy routines
// that validate the address.
type GuestHandle uint64

// IsNull reports whether h is the null handle.
func (h GuestHandle) IsNull() bool { return h == 0 }

// Elem returns the guest virtual address of element i of an array of
// elements of size elemSize starting at h (Xen's guest_handle_add_offset).
// ok is false if the computation overflows 64 bits.
func (h GuestHandle) Elem(i, elemSize uint64) (addr uint64, ok bool) {
	if elemSize != 0 && i > (^uint64(0))/elemSize {
		return 0, false
	}
	off := i * elemSize
	if uint64(h) > ^uint64(0)-off {
		return 0, false
	}
	return uint64(h) + off, true
}
