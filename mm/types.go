package mm

// PageShift and PageSize describe the x86 4 KiB page, the unit of every
// frame number below.
const (
	PageShift = 12
	PageSize  = 1 << PageShift
)

// MFN is a machine frame number: a page of real RAM, as page-table entries
// and the M2P name it. An MFN is never a PFN.
type MFN uint64

// PFN is a pseudo-physical frame number: a page as a PV guest numbers its own
// memory (the index of its P2M list).
type PFN uint64

// Maddr is a machine (host-physical) byte address.
type Maddr uint64

// GuestVA is a virtual address in a guest's address space. It is only ever
// dereferenced by walking that guest's page tables.
type GuestVA uint64

// InvalidMFN marks "no frame" in P2M/M2P slots, as Xen's INVALID_MFN.
const InvalidMFN MFN = ^MFN(0)

// Addr returns the machine address of the first byte of m.
func (m MFN) Addr() Maddr { return Maddr(m) << PageShift }

// MFN returns the frame that holds a.
func (a Maddr) MFN() MFN { return MFN(a >> PageShift) }

// Offset returns a's byte offset inside its frame.
func (a Maddr) Offset() uint64 { return uint64(a) & (PageSize - 1) }
