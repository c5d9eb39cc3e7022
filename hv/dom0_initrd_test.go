package hv

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

// TestBuildDom0Initrd: the initrd's own frames become dom0's initrd PFNs
// untouched, mapped in the initial region (mod_start a VA) or, for a
// kernel with XEN_ELFNOTE_MOD_START_PFN, after it (mod_start a PFN,
// SIF_MOD_START_PFN), and they count among dom0's pages.
func TestBuildDom0Initrd(t *testing.T) {
	for _, atPFN := range []bool{false, true} {
		m, d, _, _, _ := testGuest(t, true)
		d.VCPU(0).tables = mm.VCPUTables{}
		alloc := func(n int) []mm.MFN {
			var fs []mm.MFN
			for i := 0; i < n; i++ {
				f, ok := m.cfg.Alloc.Alloc()
				if !ok {
					t.Fatal("out of frames")
				}
				m.cfg.Frames.Assign(f, 0)
				fs = append(fs, f)
			}
			return fs
		}
		mfns := alloc(2048)
		// Three pages of initrd, 0x2345 bytes of it, in frames the
		// kernel's frames do not follow.
		rd := alloc(3)
		data := make([]byte, 3*mm.PageSize)
		for i := range data {
			data[i] = byte(i*13 + i>>9)
		}
		for i, f := range rd {
			m.cfg.Mem.Write(f.Addr(), data[i*mm.PageSize:(i+1)*mm.PageSize])
		}
		k := testKernel()
		k.Parms.UnmappedInitrd = atPFN
		l, err := d.buildDom0(k, nil, mfns, "console=hvc0", &Dom0Initrd{Frames: rd, Len: 0x2345})
		if err != nil {
			t.Fatal(err)
		}
		v := d.VCPU(0)
		var si [136]byte
		if !v.guest.CopyFromGuest(si[:], mm.GuestVA(l.StartInfo.VA)) {
			t.Fatal("start_info not mapped")
		}
		le := binary.LittleEndian
		nr, flags, modStart, modLen := le.Uint64(si[32:]), le.Uint32(si[48:]), le.Uint64(si[112:]), le.Uint64(si[120:])
		if nr != 2051 || d.pages != 2051 || modLen != 0x2345 {
			t.Errorf("atPFN %v: nr_pages %d, domain pages %d, mod_len %#x", atPFN, nr, d.pages, modLen)
		}
		if got := flags&abi.SIF_MOD_START_PFN != 0; got != atPFN {
			t.Errorf("atPFN %v: flags %#x", atPFN, flags)
		}
		pfn := uint64(l.Initrd.PFN)
		if atPFN {
			if modStart != pfn || l.Initrd.Mapped {
				t.Errorf("mod_start %#x, initrd at PFN %#x (mapped %v)", modStart, pfn, l.Initrd.Mapped)
			}
		} else {
			got := make([]byte, 0x2345)
			if modStart != l.Initrd.VA || !v.guest.CopyFromGuest(got, mm.GuestVA(modStart)) || !bytes.Equal(got, data[:0x2345]) {
				t.Errorf("mod_start %#x (initrd VA %#x): the guest does not see the initrd there", modStart, l.Initrd.VA)
			}
		}
		for i, f := range rd {
			var p2m [8]byte
			v.guest.CopyFromGuest(p2m[:], mm.GuestVA(l.P2M.VA+8*(pfn+uint64(i))))
			if mm.MFN(le.Uint64(p2m[:])) != f {
				t.Errorf("atPFN %v: p2m[%#x] = %#x, want the initrd's frame %#x", atPFN, pfn+uint64(i), le.Uint64(p2m[:]), f)
			}
			if got, ok := m.cfg.M2P.Get(f); !ok || got != pfn+uint64(i) {
				t.Errorf("atPFN %v: m2p[%#x] = %#x", atPFN, f, got)
			}
			page := make([]byte, mm.PageSize)
			m.cfg.Mem.Read(f.Addr(), page)
			if !bytes.Equal(page, data[i*mm.PageSize:(i+1)*mm.PageSize]) {
				t.Errorf("atPFN %v: initrd frame %d was rewritten", atPFN, i)
			}
		}
	}
}

func TestBuildDom0InitrdFrames(t *testing.T) {
	m, d, _, _, _ := testGuest(t, true)
	f, _ := m.cfg.Alloc.Alloc()
	if _, err := d.buildDom0(testKernel(), nil, []mm.MFN{f}, "", &Dom0Initrd{Frames: []mm.MFN{f}, Len: mm.PageSize + 1}); err == nil {
		t.Fatal("an initrd longer than its frames was taken")
	}
}
