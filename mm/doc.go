// Package mm owns machine memory as the pure core sees it: the typed frame
// numbers (MFN, PFN, Maddr, GuestVA), the MachineMemory interface through
// which the core reads and writes guest RAM (with TableReader, a metal's
// word copy of a page table for validation), the machine frame allocator,
// the global M2P, and the PV memory model: the frame table of page owners,
// types and reference counts, and the mmu_update / mmuext_op /
// update_va_mapping workers that keep a 64-bit PV guest's page tables safe.
//
// Imports: abi, arch (Canonical) and the standard library only. No unsafe, no
// assembly; everything builds and is tested on the host (mmtest holds the
// fake machine memory and a recording Flusher).
//
// Contexts: every exported operation takes ordinary sync.Mutex locks and may
// allocate, so it runs in goroutine context only, never in an interrupt
// handler or on the trap/exit path.
//
// # Frame allocator (alloc.go, range.go)
//
// Allocator is built once at boot from the loader's RAM map minus the
// hypervisor's own regions; it hands out whole 4 KiB frames, lowest first,
// and runs of contiguous frames below an address limit. Misuse by the
// hypervisor (double free, freeing a frame it does not manage) is reported
// as an error and changes nothing. One mutex. It may lend a run to one
// borrower that takes its frames without it (LendContig, SetLoan: the
// hypervisor heap): the untaken frames count as free, and an allocation
// that finds no other frame takes them back first; the borrower's
// callbacks run without the mutex held and never call the allocator.
//
// # PV memory model (frametable.go, space.go, grant.go, pte.go, m2p.go, audit.go)
//
// FrameTable holds an entry per machine frame (Xen's page_info): owner,
// general reference count, type (none, L1-L4, seg_desc, writable), type
// count, pinned, validated. The entry (FrameEntry) is packed into 12
// bytes, the type and the flags sharing one byte, and FrameTable.Page
// unpacks it into a PageInfo. Its counts are 32 bits wide (Xen's are some
// 55): a reference that would overflow one is refused as Xen refuses one
// at its limit. The entry holds no pointers, so the metal may give the
// table storage outside the collected heap (FrameTableConfig.Pages,
// FrameTableBytes). Its invariants are Xen's:
//   - a frame changes type only while its type count is zero, after a TLB
//     flush if it had a type, unless a type-change flush was asked for
//     since its type count dropped to zero (Xen's tlbflush_filter: a byte
//     stamp per frame against a count of those flushes);
//   - a frame is a page table (or descriptor page) or mapped writable,
//     never both: a writable L1 entry holds a writable type reference;
//   - a table is validated when it gains its type (pin, NEW_BASEPTR, or a
//     reference from a validated higher level): every present entry is
//     checked against Xen's disallow masks and takes its references, L2-L4
//     entries a typed reference on the next-lower table, recursively;
//     superpages are refused; a read-only entry may point at its own table;
//   - L1 entries must map frames of the page owner, or I/O frames the
//     domain's IOPolicy allows (no references, never cacheable); 64-bit PV
//     fix-ups set _PAGE_USER everywhere and mark kernel L1 mappings with
//     _PAGE_GUEST_KERNEL (PTE bit 52), user ones GLOBAL;
//   - L4 slots 256-271 are the hypervisor's: ignored at validation,
//     replaced by FrameTableConfig.XenL4Slots, never writable by the guest;
//     when an L4 loses its last type reference, TopLevelReleased tells the
//     metal, which must not keep it loaded.
//
// Space is one domain's side: its MMU operations return Xen's errno
// (abi.Errno); a failing request changes nothing (memory, counts, types),
// and batches return how many requests they completed so the hypercall
// layer can continue them. The caller resolves foreigndom to a page-owner
// Space and checks the caller's right to use it (Xen's get_pg_owner and
// XSM checks); mm checks frames. Translate walks a guest's tables in
// software for copy to/from guest; EmulatePTWrite is the check-and-write
// step of the writable-page-table (ptwr) emulator, whose instruction
// decoding lives in hv; MapGrant and UnmapGrant install and remove grant
// host mappings (grant.go) for the grant package, which holds the frame
// references those entries carry.
//
// Locking: FrameTable.mu (the MMU lock) protects every frame's entry, the
// registered Spaces, the freed list, and every hypervisor write into a
// guest page table; each request of a batch takes it once. Flusher methods
// other than ReadVCPUMask run under it and must not call into mm. The
// Allocator has its own lock; mm never holds both at once.
//
// Frame lifetime: a domain's frames come from Space.AllocFrame (or
// Allocator + FrameTable.Assign; AllocN and AssignAll for many at once, as
// dom0's build does) and go with FrameTable.Release (or
// RemovePage, decrease_reservation's form of it; Steal takes an unmapped
// frame back whole for XENMEM_exchange, and the caller frees or
// re-assigns it); a frame
// whose last reference goes is listed by TakeFreed, and hv returns it to
// the Allocator only after flushing every CPU's TLB. Hypervisor frames
// shared with a domain (FrameTable.Share: shared_info, grant frames) are
// listed the same way once released and unmapped. A dying domain gives
// everything back with Space.ReleaseVCPU for each vCPU, Space.Relinquish
// (pins, page-table types, every owned frame) and FrameTable.RemoveSpace.
//
// M2P: a table in machine frames that the metal maps read-only at
// 0xFFFF800000000000 (the XenL4Slots callback supplies that entry); the
// guest keeps its own P2M, and the hypervisor keeps none for PV guests.
package mm
