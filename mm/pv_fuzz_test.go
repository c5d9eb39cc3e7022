package mm_test

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// fuzzErrnos are the errnos the PV MMU operations may return (EAGAIN
// stands for a refused or retried EmulatePTWrite).
var fuzzErrnos = map[abi.Errno]bool{
	0: true, abi.EAGAIN: true, abi.EINVAL: true, abi.EBUSY: true, abi.EPERM: true, abi.ENOSYS: true,
	abi.EOPNOTSUPP: true, abi.EACCES: true, abi.EFAULT: true,
}

// domainState is everything of one domain an operation of another domain
// must not change: its frames' PageInfo, contents and M2P entries, and its
// vCPU's base pointers.
type domainState struct {
	pages []mm.PageInfo
	mem   []byte
	m2p   []uint64
	v     mm.VCPUTables
}

func (e *env) domainState(g *guest, frames []mm.MFN) domainState {
	var s domainState
	buf := make([]byte, mm.PageSize)
	for _, m := range frames {
		s.pages = append(s.pages, e.page(m))
		e.mem.Read(m.Addr(), buf)
		s.mem = append(s.mem, buf...)
		v, _ := e.ft.M2P().Get(m)
		s.m2p = append(s.m2p, v)
	}
	s.v = g.v
	return s
}

func (a domainState) equal(b domainState) bool {
	if len(a.pages) != len(b.pages) || a.v != b.v || !bytes.Equal(a.mem, b.mem) {
		return false
	}
	for i := range a.pages {
		if a.pages[i] != b.pages[i] || a.m2p[i] != b.m2p[i] {
			return false
		}
	}
	return true
}

// FuzzPVOps drives domain 1 with arbitrary mmu_update, mmuext_op,
// update_va_mapping and emulated page-table write requests over its own frames, domain 2's, free,
// hypervisor and I/O frames. After every request: no panic, only Xen
// errnos, the reference counts audit clean, a failed request changed
// nothing at all, and domain 2 is untouched.
func FuzzPVOps(f *testing.F) {
	// Each request is 12 bytes; see the decoder below.
	f.Add([]byte{
		0, 3, 20, 0, 0, 4, 0x03, 0, 0, 0, 0, 0, // L1[20] = data0 RW
		1, 2, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, // unpin L4
		1, 0, 0, 0, 5, 12, 0, 0, 0, 0, 0, 0, // new baseptr spare0
		2, 0, 7, 0, 0, 5, 0x03, 0, 0, 0, 2, 1, // uvm
	})
	f.Add([]byte{
		0, 3, 30, 0, 0, 3, 0x03, 0, 0, 0, 0, 0, // L1[30] = L1 RW (EBUSY)
		0, 1, 1, 0, 0, 12, 0x83, 0, 0, 0, 0, 0, // L2[1] = spare PSE
		1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // pin spare0 as L1
		0, 0, 0, 1, 0, 1, 0x03, 0, 0, 0, 0, 0, // L4[256] = L3
		3, 3, 40, 0, 0, 20, 0x01, 0, 0, 0, 0, 0, // DOMID_IO maps VGA
	})
	f.Add([]byte{
		0, 12, 0, 0, 0, 4, 0x03, 0, 0, 0, 0, 0, // spare0[0] = data0 (plain write)
		1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // pin spare0 as L1
		0, 2, 1, 0, 0, 12, 0x03, 0, 0, 0, 0, 0, // L2[1] = spare0
		1, 12, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, // unpin spare0
		0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // L2[1] = 0
	})
	f.Fuzz(fuzzPVOps)
}

// fuzzPVOps runs one FuzzPVOps input.
func fuzzPVOps(t *testing.T, data []byte) {
	e := newEnvSize(t, 320)
	g := e.d1
	var spare [4]mm.MFN
	for i := range spare {
		spare[i] = e.frame(g.s)
	}
	cand := []mm.MFN{
		g.l4, g.l3, g.l2, g.l1, // 0-3
		g.data[0], g.data[1], g.data[2], g.data[3], g.data[4], g.data[5], g.data[6], g.data[7], // 4-11
		spare[0], spare[1], spare[2], spare[3], // 12-15
		e.d2.l4, e.d2.l1, e.d2.data[0], // 16-18
		mm.MFN(e.frames - 1), vgaMFN, mmioMFN, e.m2p, 0, // 19-23: free, I/O, hypervisor, MFN 0
		0xffffffffff, // 24: INVALID_MFN
	}
	pick := func(b byte) mm.MFN { return cand[int(b)%len(cand)] }
	d2frames := append([]mm.MFN{e.d2.l4, e.d2.l3, e.d2.l2, e.d2.l1}, e.d2.data[:]...)
	d2 := e.domainState(e.d2, d2frames)
	e.f.Masks = map[abi.GuestHandle][]uint64{0x5000: {1}}
	for ops := 0; len(data) >= 12 && ops < 24; ops++ {
		b := data[:12]
		data = data[12:]
		slot := int(b[2]) | int(b[3]&1)<<8
		val := pte(pick(b[5]), uint64(b[6])|uint64(b[7]&0x0f)<<8|uint64(b[7]>>4)<<60|uint64(b[8]&1)<<52)
		if b[8]&2 != 0 {
			val &^= 1 // not present, junk elsewhere
		}
		before := e.snap()
		var err abi.Errno
		switch b[0] % 5 {
		case 0, 3:
			owner := (*mm.Space)(nil)
			if b[0]%5 == 3 {
				owner = e.ft.IOSpace()
			}
			ptr := entry(pick(b[1]), slot, uint64(b[4]&7))
			_, err = g.s.MMUUpdate([]abi.MmuUpdate{{Ptr: ptr, Val: val}}, owner, e.f)
		case 1:
			cmd := uint32(b[4]) % 22
			arg1 := uint64(pick(b[1]))
			switch cmd {
			case abi.MMUEXT_INVLPG_LOCAL, abi.MMUEXT_INVLPG_MULTI, abi.MMUEXT_INVLPG_ALL, abi.MMUEXT_SET_LDT:
				arg1 = uint64(slot) << 12
			case abi.MMUEXT_NEW_USER_BASEPTR:
				if b[9]&1 != 0 {
					arg1 = 0
				}
			}
			arg2 := uint64(pick(b[5]))
			switch cmd {
			case abi.MMUEXT_TLB_FLUSH_MULTI, abi.MMUEXT_INVLPG_MULTI:
				arg2 = 0x5000 + uint64(b[9]&1)*0x1000
			case abi.MMUEXT_SET_LDT:
				arg2 = uint64(b[9]) << 6
			}
			_, err = g.s.MMUExtOp(&g.v, []abi.MmuextOp{extOp(cmd, arg1, arg2)}, nil, e.f)
		case 2:
			va := mm.GuestVA(uint64(slot)<<12 | uint64(b[9]&3)<<21 | uint64(b[10]&1)<<30)
			if b[10]&2 != 0 {
				va |= 0xffff800000000000
			}
			flags := uint64(b[11] & 7)
			if b[11]&8 != 0 {
				flags |= 0x5000
			}
			err = g.s.UpdateVAMapping(&g.v, va, val, flags, nil, e.f)
		case 4:
			// The ptwr emulator; its results map onto "changed" or not.
			ptr := mm.Maddr(entry(pick(b[1]), slot, 0))
			old, _ := e.mem.Load64(ptr)
			if b[4]&2 != 0 {
				old ^= uint64(b[9])
			}
			if r := g.s.EmulatePTWrite(ptr, old, val, b[4]&1 != 0, e.f); r != mm.PTWriteDone {
				err = abi.EAGAIN // "nothing changed"
			}
		}
		if !fuzzErrnos[err] {
			t.Fatalf("op %x: errno %v outside the expected set", b, err)
		}
		if aerr := e.ft.Audit(e.bases(), nil); aerr != nil {
			t.Fatalf("op %x (errno %v): audit: %v", b, err, aerr)
		}
		if err != 0 {
			e.sameAs(before, "failed op")
		}
		if !d2.equal(e.domainState(e.d2, d2frames)) {
			t.Fatalf("op %x changed domain 2", b)
		}
	}
	// Tear down: drop the base pointers and every pin, then every
	// frame of domain 1 must be back to its owner's reference alone.
	g.s.ReleaseVCPU(&g.v)
	owned := append([]mm.MFN{g.l4, g.l3, g.l2, g.l1}, g.data[:]...)
	owned = append(owned, spare[:]...)
	for _, m := range owned {
		if e.page(m).Pinned {
			if _, err := g.s.MMUExtOp(&g.v, []abi.MmuextOp{extOp(abi.MMUEXT_UNPIN_TABLE, uint64(m), 0)}, nil, e.f); err != 0 {
				t.Fatalf("teardown unpin %#x: %v", m, err)
			}
		}
	}
	if aerr := e.ft.Audit(e.bases(), nil); aerr != nil {
		t.Fatalf("teardown audit: %v", aerr)
	}
}
