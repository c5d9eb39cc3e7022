// Package grant implements Xen's grant tables, versions 1 and 2, for the PV
// ABI of Xen 4.17 (public/grant_table.h): the ops behind grant_table_op
// (hypercall 20) that let one domain share its pages with another.
//
// # What it owns
//
//   - Every domain's grant table (Table, held in one Tables): the shared
//     frames holding the v1 entries {u16 flags; domid_t domid; u32 frame},
//     or after set_version(2) the 16-byte v2 entries (header, then
//     full_page frame, sub_page page_off/length/frame, or transitive)
//     with their GTF_reading/GTF_writing in separate status frames of
//     16-bit grant_status_t (v2.go), all of which the domain maps; the
//     active entries shadowing each pinned grant with Xen's four 8-bit pin
//     counts (writable/read-only, host/device); and the domain's maptrack, the table of other domains'
//     grants it has mapped, indexed by the handles map returns.
//   - The protocol on the shared entries: the hypervisor sets GTF_reading
//     and GTF_writing with compare-and-swap (which fails if the granter
//     revoked the grant meanwhile, bounded to five tries against a guest
//     that keeps changing the entry) and clears them with atomic AND when
//     the last matching pin goes (on v2: atomic OR and AND on the status
//     word, the entry checked again after setting it, as Xen's
//     _set_status_v2). A read-only unmap never clears
//     GTF_writing under a live writable mapping, and a second unmap of the
//     same mapping finds nothing to drop (XSA-224, XSA-234).
//   - Wire codecs for the GNTTABOP structs (Decode, Encode, EncodeOut).
//
// # What it does not own
//
//   - Page ownership and reference counts, and therefore the question
//     "may domain d reach this frame": Frames answers it for every frame a
//     grant entry or a copy names. FrameTableFrames implements it over
//     mm.FrameTable for PV domains.
//   - Page-table entries: a host mapping is installed and removed by the
//     caller's Mapper (the PV MMU in mm), which validates host_addr
//     (including XSA-227's alignment of contains_pte addresses).
//   - Where grant frames come from: a FrameSource per domain (mm), whose
//     frames are shared with that domain so it can map them writable.
//   - Guest virtual addresses. The hypercall layer decodes each struct
//     (EFAULT if it cannot), calls CheckCall once per call and a worker
//     per element (SetupTable, QuerySize, SetVersion, GetVersion,
//     GetStatusFrames, MapGrantRef, UnmapGrantRef, Copy, SwapGrantRef),
//     and writes
//     EncodeOut back. Workers take only Go values.
//
// # Results
//
// Per-element results are Status (GNTST_*, zero or negative, never
// positive: XSA-316). Hypercall-level results are abi.Errno: EINVAL,
// ENOSYS, ESRCH, EPERM from CheckCall, SetVersion and GetVersion; EBUSY,
// ERANGE and ENOMEM from SetVersion.
//
// # Version 2
//
// Config.MaxVersion 2 (hv's choice for every domain, Xen 4.17's default
// gnttab_max_version) lets a domain switch with set_version, as Xen does:
// only while no entry past the 8 reserved ones is pinned (EBUSY); going
// back to v1 refuses reserved entries v1 cannot express (ERANGE); the
// reserved entries are carried over and every other entry is cleared.
// Status frames come from the FrameSource and go back to it when the table
// returns to v1 or is destroyed. Map and copy accept GTF_permit_access
// entries; a GTF_sub_page entry cannot be mapped and bounds a copy to its
// page_off/length (GNTST_general_error outside). Differences from Xen
// 4.17, on purpose: transitive grants are refused (GNTST_general_error) as
// Xen refuses them when transitivity is turned off (Xen's gnttab=transitive=0 option);
// and set_version(1) gives the status frames back even while the guest
// still maps one (Xen answers EBUSY; here the frame simply stays out of
// the allocator until that mapping goes).
//
// # Imports and contexts
//
// grant imports abi, mm and internal/lockorder only; no unsafe, no
// assembly. All methods run in goroutine context (they lock and may
// allocate), never on the trap path.
// Locking order: Tables.mu (read for ops, write for Create and Destroy),
// then Table.mu in ascending domain id. Frames and Mapper are called with
// table locks held and must not call back into grant.
//
// # Lifecycle
//
// Tables.Create at domain creation (limits from createdomain), Tables.Release
// when the domain dies (drops the mappings it holds of others' grants),
// Tables.Destroy once nothing is pinned (returns the frames to the
// FrameSource; EBUSY while another domain still maps one of its grants).
package grant
