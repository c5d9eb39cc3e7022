// Copyright 2026 The gohv Authors. All rights reserved.

// Package abi holds the Xen 4.17 public ABI as Go types and constants: the
// hypercall numbers, the structures a PV guest shares with the hypervisor
// (start_info, shared_info, vcpu_info, ...), the hypercall argument
// structures, and Xen's errno values.
//
// Owns: the Xen public ABI, nothing else. No behaviour lives here beyond
// encoding helpers for C unions and the Errno set.
//
// Imports: the standard library only. Never unsafe, never assembly.
//
// # Generation
//
// ztypes_amd64.go, zconst.go and zerrno.go are generated from the headers
// of Debian's libxen-dev (/usr/include/xen) by gen/mkabi.go, which runs
// `go tool cgo -godefs` on gen/types.go the way golang.org/x/sys/unix does.
// Regenerate with `go generate ./abi` (needs gcc and libxen-dev). Do not
// edit the z*.go files; hand-written code lives in the other files.
//
// # Names
//
//   - Constants keep Xen's names exactly (EVTCHNOP_send, GNTST_okay,
//     MMUEXT_PIN_L1_TABLE). A leading "__" is dropped, since Go cannot
//     export it: __HYPERVISOR_xen_version is HYPERVISOR_xen_version. Xen's
//     bit-number macros with a single leading "_" get a "_bit" suffix
//     instead: _GTF_reading is GTF_reading_bit (GTF_reading is the mask).
//     The C name is in a comment wherever the Go name differs.
//   - Structure types are the CamelCase of the C tag, keeping a "xen"
//     prefix when the tag has one: struct start_info is StartInfo, struct
//     evtchn_alloc_unbound is EvtchnAllocUnbound, struct grant_entry_v1 is
//     GrantEntryV1, struct xen_memory_reservation is XenMemoryReservation,
//     struct xencons_interface is XenconsInterface.
//   - Fields are the CamelCase of the C name, split at "_" (nr_pages is
//     NrPages, evtchn_pending_sel is EvtchnPendingSel); every field has a
//     comment with its C name and byte offset.
//
// # Layout contract
//
// Every structure's Go layout on amd64 equals the C layout: padding is
// explicit ("_" fields), so encoding/binary.Size of each structure is the
// C sizeof and binary.Read/Write with binary.LittleEndian moves exactly
// the guest's bytes. Guest handles (XEN_GUEST_HANDLE(x)) are GuestHandle,
// a 64-bit guest virtual address. C char arrays are byte arrays. C unions
// are byte arrays of the union's size; unions.go has accessors for the
// ones the hypervisor reads or writes. Flexible array members (for example
// physdev_pci_device_add.optarr) are not part of the Go types.
//
// Guest-visible errors are Errno values; per-operation status codes
// (GNTST_*) are separate constants and never Errno values.
package abi

//go:generate sh gen/mkabi.sh
