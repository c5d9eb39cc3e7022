package mm

import "github.com/gohv/gohv/abi"

// Grant host mappings for PV domains (Xen's pv/grant_table.c): the page
// table side of GNTTABOP_map_grant_ref and GNTTABOP_unmap_grant_ref with
// GNTMAP_host_map. The grant package owns the grants and takes the frame
// references; mm owns the L1 entry.

// grantPTE returns the L1 entry of a grant host mapping of m
// (grant_to_pte_flags, then adjust_guest_l1e): present, accessed, dirty,
// never executable, marked _PAGE_GNTTAB; writable unless GNTMAP_readonly;
// a user mapping with GNTMAP_application_map; the guest-available flag
// bits 16-18 in PTE bits 9-11; cacheAttr (the grant entry's GTF_PWT,
// GTF_PCD, GTF_PAT as a 3-bit PAT index) in PWT, PCD and PAT.
func grantPTE(m MFN, flags uint32, cacheAttr uint8) uint64 {
	e := uint64(m.Addr()) | _PAGE_PRESENT | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GNTTAB | _PAGE_NX
	if flags&abi.GNTMAP_application_map != 0 {
		e |= _PAGE_USER
	}
	if flags&abi.GNTMAP_readonly == 0 {
		e |= _PAGE_RW
	}
	e |= uint64(flags>>abi.GNTMAP_guest_avail0_bit&7) << 9
	e |= uint64(cacheAttr&4)<<5 | uint64(cacheAttr&3)<<3
	return adjustL1(e)
}

// grantL1e finds the L1 entry a grant operation names: with
// GNTMAP_contains_pte, addr is its machine address (8-byte aligned,
// XSA-227); otherwise a guest linear address looked up from the L4 root.
// The L1 must be a validated L1 of s; a general reference on it is held on
// success. mu held.
func (ft *FrameTable) grantL1e(s *Space, root MFN, addr uint64, flags uint32) (l1 MFN, ptr Maddr, ok bool) {
	if flags&abi.GNTMAP_contains_pte != 0 {
		if addr&7 != 0 {
			return 0, 0, false
		}
		ptr = Maddr(addr)
		l1 = ptr.MFN()
	} else if l1, ptr, ok = ft.findL1e(root, GuestVA(addr)); !ok {
		return 0, 0, false
	}
	if !ft.getPage(l1, s.id) {
		return 0, 0, false
	}
	if pi := &ft.pages[l1]; pi.typ() != PageTypeL1 || pi.typeCount == 0 || !pi.has(pgValidated) {
		ft.putPage(l1)
		return 0, 0, false
	}
	return l1, ptr, true
}

// MapGrant installs a grant host mapping of frame m in s's page tables
// (create_grant_pv_mapping). addr and flags are the request's host_addr and
// GNTMAP_* flags; root is the calling vCPU's kernel L4, used when addr is a
// linear address; cacheAttr is the grant entry's cache attribute index.
//
// The caller has already taken the references the mapping needs (a
// general reference on m, and a writable type reference unless
// GNTMAP_readonly): on success they become the L1 entry's, and whatever
// the entry held before is dropped. On failure (no validated L1 of s at
// addr, or a misaligned PTE address) nothing changes and the references
// stay the caller's.
func (s *Space) MapGrant(root MFN, addr uint64, m MFN, flags uint32, cacheAttr uint8, f Flusher) bool {
	f = orNop(f)
	ft := s.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	l1, ptr, ok := ft.grantL1e(s, root, addr, flags)
	if !ok {
		return false
	}
	defer ft.putPage(l1)
	ov, ok := ft.mem.Load64(ptr)
	if !ok || !ft.updateEntry(ptr, ov, grantPTE(m, flags, cacheAttr), false) {
		return false
	}
	ft.putPageFromEntry(1, ov, l1, &opCtx{flush: f})
	return true
}

// UnmapGrant removes the grant host mapping of frame m that MapGrant made at
// addr with the same flags (replace_grant_pv_mapping with no replacement):
// the entry must still map m, present, writable exactly when the grant is.
// It is cleared and its references go back to the caller, which drops
// them. false: the entry no longer maps the grant (for example the guest
// replaced it, dropping its references then) and nothing changed.
func (s *Space) UnmapGrant(root MFN, addr uint64, m MFN, flags uint32) bool {
	ft := s.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	l1, ptr, ok := ft.grantL1e(s, root, addr, flags)
	if !ok {
		return false
	}
	defer ft.putPage(l1)
	ov, ok := ft.mem.Load64(ptr)
	want := grantPTE(m, flags, 0)
	if !ok || pteMFN(ov) != m || (ov^want)&(_PAGE_PRESENT|_PAGE_RW) != 0 {
		return false
	}
	return ft.updateEntry(ptr, ov, 0, false)
}
