package hv

import (
	"encoding/binary"
	"errors"

	"github.com/gohv/gohv/mm"
)

// M2PMapping builds the page tables that map the M2P read-only at
// MACH2PHYS_VIRT_START (0xFFFF800000000000, L4 slot 256) for guests, and
// returns the L4 entry for that slot: guest-readable (USER), never
// writable; guests update the M2P only through MMU_MACHPHYS_UPDATE.
// The table frames come from alloc and stay the hypervisor's.
func M2PMapping(mem mm.MachineMemory, alloc *mm.Allocator, m2p *mm.M2P) (uint64, error) {
	const (
		pteP, pteU = 1, 4
		entries    = 512
	)
	first, n := m2p.Frames()
	if n > entries*entries { // one L3 entry (1 GiB of M2P) is 128 GiB of RAM
		return 0, errors.New("hv: M2P larger than 1 GiB")
	}
	nL1 := (n + entries - 1) / entries
	frames := make([]mm.MFN, 0, nL1+2)
	for i := uint64(0); i < nL1+2; i++ {
		f, ok := alloc.Alloc()
		if !ok {
			for _, g := range frames {
				alloc.Free(g)
			}
			return 0, ErrNoMemory
		}
		frames = append(frames, f)
	}
	l3, l2, l1s := frames[0], frames[1], frames[2:]
	page := make([]byte, mm.PageSize)
	put := func(f mm.MFN) error {
		if !mem.Write(f.Addr(), page) {
			return errors.New("hv: M2P page tables outside machine memory")
		}
		clear(page)
		return nil
	}
	for i, l1 := range l1s {
		for j := uint64(0); j < entries; j++ {
			k := uint64(i)*entries + j
			if k >= n {
				break
			}
			binary.LittleEndian.PutUint64(page[8*j:], uint64((first+mm.MFN(k)).Addr())|pteP|pteU)
		}
		if err := put(l1); err != nil {
			return 0, err
		}
	}
	for i, l1 := range l1s {
		binary.LittleEndian.PutUint64(page[8*i:], uint64(l1.Addr())|pteP|pteU)
	}
	if err := put(l2); err != nil {
		return 0, err
	}
	binary.LittleEndian.PutUint64(page, uint64(l2.Addr())|pteP|pteU)
	if err := put(l3); err != nil {
		return 0, err
	}
	return uint64(l3.Addr()) | pteP | pteU, nil
}
