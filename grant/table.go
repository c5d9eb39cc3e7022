package grant

import (
	"sync"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/internal/lockorder"
	"github.com/gohv/gohv/mm"
)

// FrameSource hands out the machine frames that hold one domain's shared
// grant entries. The frames are hypervisor-owned pages shared with that
// domain: the supplier (mm) records the sharing so the domain's PV MMU
// checks let it map them writable, as for shared_info. grant zeroes each
// frame before the guest can see it.
type FrameSource interface {
	// AllocFrame returns a fresh frame shared with the domain, or false
	// when memory is exhausted.
	AllocFrame() (mm.MFN, bool)
	// FreeFrame gives back a frame AllocFrame returned: after a failed
	// grow, and after Destroy.
	FreeFrame(mm.MFN)
}

// Frames is mm's page-ownership and reference-count service, through which
// grant reaches the frames named in grant entries (and, for copy, the
// caller's own frames). It is what keeps one domain from reaching memory
// that is not its own or granted to it.
type Frames interface {
	// GetFrame translates frame, a frame number written by domain d (for a
	// PV domain, an MFN; Xen's gfn), checks that d owns that frame and that
	// it is ordinary RAM, and takes one page reference on it, plus a
	// writable type reference if writable is set (which fails when the page
	// is a page table or descriptor table). It returns GNTST_okay, or
	// GNTST_bad_page for a frame d does not own, or GNTST_general_error
	// when the writable type cannot be taken.
	GetFrame(d abi.DomID, frame uint64, writable bool) (mm.MFN, Status)
	// PutFrame drops the references one successful GetFrame took.
	PutFrame(d abi.DomID, mfn mm.MFN, writable bool)
}

// Mapper installs and removes the page-table entries of host mappings. It
// is the PV MMU's job (package mm); grant keeps only the bookkeeping.
// Methods are called with the grant tables of both domains locked and must
// not call back into grant.
type Mapper interface {
	// MapGrant makes hostAddr in domain d's page tables map mfn. flags are
	// the GNTMAP_* flags of the request: readonly, application_map (a user
	// PTE), contains_pte (hostAddr is the machine address of the L1 entry
	// itself, which must be 8-byte aligned, XSA-227; otherwise it is a
	// virtual address in d's current page tables whose L1 must exist), and
	// the guest-available bits from bit 16 up. It returns GNTST_okay, or
	// GNTST_general_error (or another negative status) on failure.
	MapGrant(d abi.DomID, hostAddr uint64, mfn mm.MFN, flags uint32) Status
	// UnmapGrant removes the mapping MapGrant made at hostAddr. It fails
	// (GNTST_general_error) unless hostAddr currently maps mfn with a grant
	// PTE.
	UnmapGrant(d abi.DomID, hostAddr uint64, mfn mm.MFN, flags uint32) Status
}

// Config is a domain's grant-table limits and policy, fixed at creation
// (XEN_DOMCTL_createdomain max_grant_frames, max_maptrack_frames,
// grant_opts).
type Config struct {
	// MaxGrantFrames bounds nr_frames: 1 (InitialGrantFrames) up to
	// MaxGrantFramesLimit. Zero means DefaultMaxGrantFrames.
	MaxGrantFrames uint32
	// MaxMaptrackFrames bounds how many mappings the domain may hold at
	// once (times MaptrackPerFrame), up to DefaultMaxMaptrackFrames. Zero
	// means the default; a domain that maps nothing can pass 1.
	MaxMaptrackFrames uint32
	// MaxVersion is the highest grant-table version the domain may select
	// (grant_opts & 0xf): 1 or 2. Zero (the Go zero value) means 1 here; Xen 4.17's grant_table_init refuses a createdomain
	// grant_opts version of 0 with EINVAL, which the domctl layer must do
	// before calling Create.
	MaxVersion uint32
	// Control marks the control domain (dom0). XSM's default policy
	// (XSM_TARGET) lets it run setup_table, query_size and get_version on
	// other domains' tables; everyone else may only name itself.
	Control bool
}

// MaxGrantFramesLimit is the largest MaxGrantFrames Create accepts, Xen's
// default gnttab_max_frames (createdomain fails with EINVAL above it).
const MaxGrantFramesLimit = DefaultMaxGrantFrames

// Tables holds every domain's grant table and the services grant ops need.
// One Tables serves the whole machine. Its methods are safe for concurrent
// use from any goroutine (never from the trap path: they lock and
// allocate).
//
// Locking: mu (read) for the life of every op so a table cannot vanish
// under it, then Table.mu; when two tables are needed at once (map, unmap)
// they are locked in ascending domain-id order.
type Tables struct {
	mem    mm.MachineMemory // machine RAM: the shared entries and copies
	frames Frames           // ownership and page references
	mapper Mapper           // host-mapping PTEs

	mu     sync.RWMutex // guards tables; write-held by Create/Destroy
	tables byDomain     // never holds DOMID_SELF
}

// byDomain maps domain ids to tables: a slice indexed by id, grown as
// domains are created (ids are small and dense; a lookup is on every
// grant op).
type byDomain []*Table

func (b byDomain) get(d abi.DomID) *Table {
	if int(d) < len(b) {
		return b[d]
	}
	return nil
}

func (b *byDomain) set(d abi.DomID, t *Table) {
	for int(d) >= len(*b) {
		*b = append(*b, nil)
	}
	(*b)[d] = t
}

// NewTables returns an empty set of grant tables over mem.
func NewTables(mem mm.MachineMemory, frames Frames, mapper Mapper) *Tables {
	return &Tables{mem: mem, frames: frames, mapper: mapper}
}

// Table is one domain's grant table: the shared v1 entries (in machine
// frames the domain maps and writes), the hypervisor's active entries
// shadowing the pinned ones, and the domain's maptrack (the grants of other
// domains it has mapped). Created by Tables.Create, removed by
// Tables.Destroy.
type Table struct {
	dom abi.DomID   // owning domain; immutable
	cfg Config      // limits, defaults filled in; immutable
	src FrameSource // where shared frames come from; immutable

	mu sync.Mutex // guards all fields below

	// version is the table's grant version, 1 or 2 (set_version).
	version uint32
	// shared lists the grant frames, nr_grant_frames = len(shared).
	// Entry r lives in shared[r/EntriesPerFrame] at byte (r%512)*8 (v1)
	// or in shared[r/EntriesPerFrameV2] at byte (r%256)*16 (v2).
	shared []mm.MFN
	// status lists the v2 status frames (v2.go); empty on v1.
	status []mm.MFN
	// active shadows every entry: len(active) == len(shared)*512, the v1
	// count, which covers v2's too.
	active []activeEntry

	// maptrack holds this domain's mappings of grants, indexed by Handle;
	// its length only grows, by MaptrackPerFrame, up to
	// cfg.MaxMaptrackFrames*MaptrackPerFrame.
	maptrack []mapping
	// freeHead and freeTail chain the free maptrack slots through
	// mapping.next, oldest-freed first, so a handle is reused as late as
	// possible. noHandle when empty.
	freeHead, freeTail uint32
}

// activeEntry is the hypervisor's view of an entry in use (Xen's struct
// active_grant_entry). Guarded by the owning Table's mu.
type activeEntry struct {
	pin   uint32    // pin counts, see pinHostWrite etc.; 0 = not in use
	domid abi.DomID // the grantee holding the pins; valid while pin != 0
	frame uint64    // the entry's frame field when first pinned
	mfn   mm.MFN    // the machine frame it resolved to
	// subPage, start and length are the byte range a copy may touch: a
	// v2 GTF_sub_page grant's page_off and length, else the whole page.
	// A sub-page grant cannot be mapped.
	subPage       bool
	start, length uint16
}

// mapping is one maptrack slot (Xen's struct grant_mapping). Guarded by the
// owning (mapping) Table's mu.
type mapping struct {
	flags uint32    // GNTMAP_* of the live mapping; 0 when the slot is free
	ref   Ref       // the granter's grant reference
	dom   abi.DomID // the granting domain
	next  uint32    // next free slot when free
}

const noHandle = ^uint32(0)

// Create gives domain d a grant table with cfg's limits and one zeroed
// shared frame from src. It returns EEXIST if d already has one, EINVAL
// for limits out of range (as createdomain does), ENOMEM if no frame could
// be had.
func (ts *Tables) Create(d abi.DomID, cfg Config, src FrameSource) abi.Errno {
	if cfg.MaxGrantFrames == 0 {
		cfg.MaxGrantFrames = DefaultMaxGrantFrames
	}
	if cfg.MaxMaptrackFrames == 0 {
		cfg.MaxMaptrackFrames = DefaultMaxMaptrackFrames
	}
	if cfg.MaxVersion == 0 {
		cfg.MaxVersion = 1
	}
	if cfg.MaxGrantFrames < InitialGrantFrames || cfg.MaxGrantFrames > MaxGrantFramesLimit ||
		cfg.MaxMaptrackFrames > DefaultMaxMaptrackFrames || cfg.MaxVersion > 2 ||
		d >= abi.DOMID_FIRST_RESERVED || src == nil {
		return abi.EINVAL
	}
	t := &Table{dom: d, cfg: cfg, src: src, version: 1, freeHead: noHandle, freeTail: noHandle}
	if !ts.grow(t, InitialGrantFrames) {
		return abi.ENOMEM
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.tables.get(d) != nil {
		for _, f := range t.shared {
			src.FreeFrame(f)
		}
		return abi.EEXIST
	}
	ts.tables.set(d, t)
	return 0
}

// Release drops every mapping domain d holds of other domains' grants, as
// Xen's gnttab_release_mappings does when a domain dies: pins and page
// references are returned and the granters' GTF_reading/GTF_writing
// cleared. The host PTEs are not touched: the dying domain's page tables
// are torn down by mm, which must then skip the page references of grant
// PTEs (_PAGE_GNTTAB), since Release has dropped them, as Xen's
// put_page_from_l1e does for a dying domain. It returns how many mappings
// it dropped.
func (ts *Tables) Release(d abi.DomID) int {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	lt := ts.tables.get(d)
	if lt == nil {
		return 0
	}
	n := 0
	lt.mu.Lock()
	limit := len(lt.maptrack)
	lt.mu.Unlock()
	for h := 0; h < limit; h++ {
		lt.mu.Lock()
		m := lt.maptrack[h]
		lt.mu.Unlock()
		if m.flags&(mapDevice|mapHost) == 0 {
			continue
		}
		rt := ts.tables.get(m.dom)
		if rt == nil {
			panic("grant: maptrack entry names a domain without a grant table")
		}
		lockorder.Lock(&lt.mu, &rt.mu, lt.dom, rt.dom)
		m = lt.maptrack[h] // re-read under both locks
		if m.flags&(mapDevice|mapHost) != 0 {
			done := m.flags & (mapDevice | mapHost | mapReadonly)
			lt.freeHandle(uint32(h))
			ts.unpin(rt, m.ref, done)
			n++
		}
		lockorder.Unlock(&lt.mu, &rt.mu)
	}
	return n
}

// Destroy removes domain d's grant table and returns its shared frames to
// the FrameSource. It fails with EBUSY while another domain still has one
// of d's grants pinned (mapped), or d itself still holds mappings (call
// Release first). ESRCH if d has no table.
func (ts *Tables) Destroy(d abi.DomID) abi.Errno {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.tables.get(d)
	if t == nil {
		return abi.ESRCH
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.active {
		if t.active[i].pin != 0 {
			return abi.EBUSY
		}
	}
	for i := range t.maptrack {
		if t.maptrack[i].flags != 0 {
			return abi.EBUSY
		}
	}
	ts.tables.set(d, nil)
	for _, f := range t.shared {
		t.src.FreeFrame(f)
	}
	for _, f := range t.status {
		t.src.FreeFrame(f)
	}
	t.shared, t.status, t.active, t.maptrack = nil, nil, nil, nil
	return 0
}

// grow brings t to n shared frames (n > len(t.shared)), zeroing each new
// frame. On failure nothing changes. Caller holds t.mu or owns t alone.
func (ts *Tables) grow(t *Table, n uint32) bool {
	added, ok := ts.allocZeroed(t, int(n)-len(t.shared))
	if !ok {
		return false
	}
	if t.version == 2 && !ts.populateStatus(t, len(t.shared)+len(added)) {
		ts.freeFrames(t, added)
		return false
	}
	t.shared = append(t.shared, added...)
	t.active = append(t.active, make([]activeEntry, len(added)*EntriesPerFrame)...)
	return true
}

// allocZeroed takes n frames from t's FrameSource and zeroes each; on
// failure it gives back what it took. Caller holds t.mu or owns t alone.
func (ts *Tables) allocZeroed(t *Table, n int) ([]mm.MFN, bool) {
	var zero [mm.PageSize]byte
	added := make([]mm.MFN, 0, max(n, 0))
	for len(added) < n {
		f, ok := t.src.AllocFrame()
		if ok && !ts.mem.Write(f.Addr(), zero[:]) {
			t.src.FreeFrame(f)
			ok = false
		}
		if !ok {
			ts.freeFrames(t, added)
			return nil, false
		}
		added = append(added, f)
	}
	return added, true
}

// freeFrames gives frames back to t's FrameSource.
func (ts *Tables) freeFrames(t *Table, frames []mm.MFN) {
	for _, f := range frames {
		t.src.FreeFrame(f)
	}
}

// lookup resolves a domain id as rcu_lock_domain_by_any_id does: DOMID_SELF
// is the caller. Caller holds ts.mu for reading.
func (ts *Tables) lookup(caller, dom abi.DomID) *Table {
	if dom == abi.DOMID_SELF {
		dom = caller
	}
	return ts.tables.get(dom)
}

// permitted applies XSM's default XSM_TARGET policy: a domain may act on
// its own table; the control domain on any.
func (ts *Tables) permitted(caller abi.DomID, target *Table) bool {
	if caller == target.dom {
		return true
	}
	ct := ts.tables.get(caller)
	return ct != nil && ct.cfg.Control
}

// target is the table caller names as dom, for the ops that report in
// grant status codes: GNTST_bad_domain when there is none,
// GNTST_permission_denied when XSM_TARGET refuses it. Called with ts.mu
// held.
func (ts *Tables) target(caller, dom abi.DomID) (*Table, Status) {
	t := ts.lookup(caller, dom)
	if t == nil {
		return nil, GNTST_bad_domain
	}
	if !ts.permitted(caller, t) {
		return nil, GNTST_permission_denied
	}
	return t, GNTST_okay
}

// SetupTable is GNTTABOP_setup_table for one op: it grows dom's table to at
// least nr frames and appends the MFNs of its first nr frames to dst (the
// frame_list the hypercall layer writes back; for a PV caller these are
// machine frame numbers). dom may be DOMID_SELF. Status:
// GNTST_bad_domain (no such table), GNTST_permission_denied (another
// domain's table, caller not the control domain), GNTST_general_error (nr
// above max_grant_frames, or no memory to grow). The hypercall layer
// returns -EINVAL for count != 1 and -EFAULT for an unwritable frame_list
// before calling this.
func (ts *Tables) SetupTable(caller, dom abi.DomID, nr uint32, dst []mm.MFN) ([]mm.MFN, Status) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t, st := ts.target(caller, dom)
	if st != GNTST_okay {
		return dst, st
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if nr > t.cfg.MaxGrantFrames {
		return dst, GNTST_general_error
	}
	if nr > uint32(len(t.shared)) && !ts.grow(t, nr) {
		return dst, GNTST_general_error
	}
	return append(dst, t.shared[:nr]...), GNTST_okay
}

// QuerySize is GNTTABOP_query_size: dom's current and maximum number of
// shared frames. dom may be DOMID_SELF. Status as SetupTable's lookup.
func (ts *Tables) QuerySize(caller, dom abi.DomID) (nrFrames, maxFrames uint32, st Status) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t, st := ts.target(caller, dom)
	if st != GNTST_okay {
		return 0, 0, st
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return uint32(len(t.shared)), t.cfg.MaxGrantFrames, GNTST_okay
}

// GetVersion is GNTTABOP_get_version: the version of dom's table. ESRCH for an unknown domain, EPERM for another domain's table
// when the caller is not the control domain.
func (ts *Tables) GetVersion(caller, dom abi.DomID) (uint32, abi.Errno) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.lookup(caller, dom)
	if t == nil {
		return 0, abi.ESRCH
	}
	if !ts.permitted(caller, t) {
		return 0, abi.EPERM
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.version, 0
}

// SetVersion is GNTTABOP_set_version on the caller's own table. Xen 4.17:
// versions other than 1 and 2 are EINVAL; version 2 on a domain whose
// max_version is 1 is ENOSYS ("behave as before set_version was
// introduced"), which both Linux and XTF take as "stay on v1"; selecting
// the current version succeeds; a switch follows setVersionLocked (EBUSY,
// ERANGE, ENOMEM). It returns the version now in force, which the
// hypercall layer writes back into the struct in every case.
func (ts *Tables) SetVersion(caller abi.DomID, version uint32) (uint32, abi.Errno) {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.tables.get(caller)
	if t == nil {
		return 0, abi.ENOSYS
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case version != 1 && version != 2:
		return t.version, abi.EINVAL
	case version > t.cfg.MaxVersion:
		return t.version, abi.ENOSYS
	case version == t.version:
		return version, 0
	}
	return t.version, ts.setVersionLocked(t, version)
}

// Has reports whether domain d has a grant table.
func (ts *Tables) Has(d abi.DomID) bool {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.tables.get(d) != nil
}
