// Package grant implements Xen's grant tables, version 1, for the PV ABI of
// Xen 4.17 (public/grant_table.h): the ops behind grant_table_op
// (hypercall 20) that let one domain share its pages with another.
//
// # What it owns
//
//   - Every domain's grant table (Table, held in one Tables): the shared
//     frames holding the v1 entries {u16 flags; domid_t domid; u32 frame},
//     which the domain maps and writes; the active entries shadowing each
//     pinned grant with Xen's four 8-bit pin counts (writable/read-only,
//     host/device); and the domain's maptrack, the table of other domains'
//     grants it has mapped, indexed by the handles map returns.
//   - The protocol on the shared entries: the hypervisor sets GTF_reading
//     and GTF_writing with compare-and-swap (which fails if the granter
//     revoked the grant meanwhile, bounded to five tries against a guest
//     that keeps changing the entry) and clears them with atomic AND when
//     the last matching pin goes. A read-only unmap never clears
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
//     MapGrantRef, UnmapGrantRef, Copy, SwapGrantRef), and writes
//     EncodeOut back. Workers take only Go values.
//
// # Results
//
// Per-element results are Status (GNTST_*, zero or negative, never
// positive: XSA-316). Hypercall-level results are abi.Errno: EINVAL,
// ENOSYS, ESRCH, EPERM from CheckCall, SetVersion and GetVersion. Version 2
// is not implemented: set_version(2) returns ENOSYS, as Xen 4.17 does for
// a domain whose max grant version is 1, and the version written back
// stays 1.
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
