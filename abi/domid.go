// Copyright 2026 The gohv Authors. All rights reserved.

package abi

// DomID is a domain id (domid_t, 16 bits). Ids from DOMID_FIRST_RESERVED
// (0x7FF0) up are reserved names, not domains: DOMID_SELF, DOMID_IO,
// DOMID_XEN, DOMID_COW, DOMID_INVALID, DOMID_IDLE. Generated structures
// keep domid_t fields as uint16; convert with DomID(x).
type DomID uint16

// IsReserved reports whether d is one of the reserved ids
// (d >= DOMID_FIRST_RESERVED) rather than a real domain.
func (d DomID) IsReserved() bool { return d >= DOMID_FIRST_RESERVED }
