package mm

import (
	"errors"
	"fmt"
)

// InvalidM2PEntry marks an M2P slot with no PFN (Xen's INVALID_M2P_ENTRY).
const InvalidM2PEntry = ^uint64(0)

// M2P is the global machine-to-physical table: one 64-bit PFN per machine
// frame, machine_to_phys_mapping[mfn] = pfn. It lives in machine frames
// (not the Go heap) so the metal can map it read-only into every PV guest
// at MACH2PHYS_VIRT_START (0xFFFF800000000000, L4 slot 256), which is
// what guests read.
//
// Writes are atomic 64-bit stores; a guest may read concurrently. Callers
// that change an entry as part of a PV operation hold the FrameTable's lock;
// Get needs no lock.
type M2P struct {
	mem   MachineMemory // where the table lives
	first MFN           // first frame of the table
	n     uint64        // entries
}

// M2PFrames returns how many frames a table of entries entries needs.
func M2PFrames(entries uint64) uint64 { return (entries*8 + PageSize - 1) / PageSize }

// NewM2P places an M2P of entries entries in the machine-contiguous frames
// starting at first (M2PFrames(entries) of them, which the caller reserves
// for the hypervisor) and sets every entry to InvalidM2PEntry.
func NewM2P(mem MachineMemory, first MFN, entries uint64) (*M2P, error) {
	if entries == 0 || entries > 1<<40 {
		return nil, fmt.Errorf("mm: M2P of %d entries: %w", entries, errBadM2P)
	}
	t := &M2P{mem: mem, first: first, n: entries}
	ones := make([]byte, PageSize)
	for i := range ones {
		ones[i] = 0xff
	}
	nbytes := entries * 8
	for off := uint64(0); off < nbytes; off += PageSize {
		chunk := ones
		if nbytes-off < PageSize {
			chunk = ones[:nbytes-off]
		}
		if !mem.Write(first.Addr()+Maddr(off), chunk) {
			return nil, fmt.Errorf("mm: M2P at MFN %#x: %w", uint64(first), errBadM2P)
		}
	}
	return t, nil
}

var errBadM2P = errors.New("table does not fit machine memory")

// Len returns the number of entries (one more than the largest MFN it
// covers).
func (t *M2P) Len() uint64 { return t.n }

// Frames returns the machine frames holding the table, for the metal to map.
func (t *M2P) Frames() (first MFN, n uint64) { return t.first, M2PFrames(t.n) }

// Get returns the entry for m. ok is false if m is beyond the table.
func (t *M2P) Get(m MFN) (v uint64, ok bool) {
	if uint64(m) >= t.n {
		return 0, false
	}
	return t.mem.Load64(t.first.Addr() + Maddr(m)*8)
}

// Set stores v as the entry for m, atomically. It reports false if m is
// beyond the table.
func (t *M2P) Set(m MFN, v uint64) bool {
	if uint64(m) >= t.n {
		return false
	}
	ma := t.first.Addr() + Maddr(m)*8
	for {
		old, ok := t.mem.Load64(ma)
		if !ok {
			return false
		}
		if swapped, ok := t.mem.CompareAndSwap64(ma, old, v); !ok {
			return false
		} else if swapped {
			return true
		}
	}
}
