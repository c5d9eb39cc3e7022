// Copyright 2026 The gohv Authors. All rights reserved.

package abi

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestMmuextOpUnions(t *testing.T) {
	var op MmuextOp
	op.Cmd = MMUEXT_SET_LDT
	op.SetArg1(0xffff888000001000)
	op.SetArg2(0x1_0000_0200) // nr_ents reads the low 32 bits only
	if got := op.LinearAddr(); got != 0xffff888000001000 {
		t.Errorf("LinearAddr = %#x", got)
	}
	if got := op.Mfn(); got != 0xffff888000001000 {
		t.Errorf("Mfn = %#x", got)
	}
	if got := op.NrEnts(); got != 0x200 {
		t.Errorf("NrEnts = %#x", got)
	}
	if got := op.SrcMfn(); got != 0x1_0000_0200 {
		t.Errorf("SrcMfn = %#x", got)
	}
	if got := op.Vcpumask(); got != GuestHandle(0x1_0000_0200) {
		t.Errorf("Vcpumask = %#x", got)
	}
	b, err := binary.Append(nil, binary.LittleEndian, &op)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != MMUEXT_SET_LDT || le.Uint64(b[8:]) != 0xffff888000001000 || le.Uint64(b[16:]) != 0x1_0000_0200 {
		t.Errorf("encoded mmuext_op = % x", b)
	}
}

func TestStartInfoConsole(t *testing.T) {
	var si StartInfo
	si.SetConsoleDom0(0x800, 40)
	if off, size := si.ConsoleDom0(); off != 0x800 || size != 40 {
		t.Errorf("ConsoleDom0 = %#x, %d", off, size)
	}
	si.SetConsoleDomU(0x12345, 2)
	if mfn, port := si.ConsoleDomU(); mfn != 0x12345 || port != 2 {
		t.Errorf("ConsoleDomU = %#x, %d", mfn, port)
	}
	// Setting domU replaced the whole union: no dom0 residue in 12..16.
	if si.Console[12] != 0 || si.Console[15] != 0 {
		t.Errorf("residue in console union: % x", si.Console)
	}
	si.SetConsoleDom0(1, 2)
	if si.Console[8] != 0 {
		t.Errorf("SetConsoleDom0 left domU evtchn: % x", si.Console)
	}
}

func TestEvtchnStatusUnion(t *testing.T) {
	var st EvtchnStatus
	st.SetInterdomain(5, 0x1234)
	if dom, port := st.Interdomain(); dom != 5 || port != 0x1234 {
		t.Errorf("Interdomain = %d, %#x", dom, port)
	}
	st.SetUnbound(DOMID_SELF)
	if st.UnboundDom() != DOMID_SELF || st.U[4] != 0 {
		t.Errorf("Unbound: % x", st.U)
	}
	st.SetVirq(VIRQ_TIMER)
	if st.Virq() != VIRQ_TIMER {
		t.Errorf("Virq = %d", st.Virq())
	}
	st.SetPirq(9)
	if st.Pirq() != 9 || st.Virq() != 9 {
		t.Errorf("Pirq = %d", st.Pirq())
	}
	// The union is at offset 16 of the 24-byte structure.
	st.Status = EVTCHNSTAT_pirq
	b, err := binary.Append(nil, binary.LittleEndian, &st)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 24 || b[16] != 9 || binary.LittleEndian.Uint32(b[8:]) != EVTCHNSTAT_pirq {
		t.Errorf("encoded evtchn_status = % x", b)
	}
}

func TestGnttabCopyPtrUnion(t *testing.T) {
	var p GnttabCopyPtr
	p.SetGmfn(0xfedcba9876)
	if p.Gmfn() != 0xfedcba9876 {
		t.Errorf("Gmfn = %#x", p.Gmfn())
	}
	p.SetRef(17)
	if p.Ref() != 17 || p.Gmfn() != 17 {
		t.Errorf("Ref = %d, Gmfn = %#x (SetRef must clear the high half)", p.Ref(), p.Gmfn())
	}
}

func TestRegisterAreaUnions(t *testing.T) {
	var r VcpuRegisterRunstateMemoryArea
	r.SetGuestAddr(0xffffffff82000000)
	if r.GuestAddr() != 0xffffffff82000000 {
		t.Errorf("runstate GuestAddr = %#x", r.GuestAddr())
	}
	var tm VcpuRegisterTimeMemoryArea
	tm.SetGuestAddr(0x1000)
	if tm.GuestAddr() != 0x1000 {
		t.Errorf("time GuestAddr = %#x", tm.GuestAddr())
	}
}

func TestGuestHandle(t *testing.T) {
	tests := []struct {
		h        GuestHandle
		i, size  uint64
		want     uint64
		wantOK   bool
		nullWant bool
	}{
		{0, 0, 8, 0, true, true},
		{0x1000, 3, 8, 0x1018, true, false},
		{0x1000, 0, 0, 0x1000, true, false},
		{0x1000, 1 << 62, 8, 0, false, false},                // i*size overflows
		{^GuestHandle(0), 1, 1, 0, false, false},             // h+off overflows
		{^GuestHandle(0) - 7, 1, 8, 0, false, false},         // exactly 2^64: overflow
		{^GuestHandle(0) - 8, 1, 8, ^uint64(0), true, false}, // last byte
		{0x1000, ^uint64(0), 1, 0, false, false},
	}
	for _, tt := range tests {
		got, ok := tt.h.Elem(tt.i, tt.size)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("%#x.Elem(%d, %d) = %#x, %v; want %#x, %v", uint64(tt.h), tt.i, tt.size, got, ok, tt.want, tt.wantOK)
		}
		if tt.h.IsNull() != tt.nullWant {
			t.Errorf("%#x.IsNull() = %v", uint64(tt.h), tt.h.IsNull())
		}
	}
}

func TestDomID(t *testing.T) {
	tests := []struct {
		d    DomID
		want bool
	}{
		{0, false},
		{1, false},
		{DOMID_FIRST_RESERVED - 1, false},
		{DOMID_SELF, true},
		{DOMID_INVALID, true},
		{DOMID_IDLE, true},
		{0xffff, true},
	}
	for _, tt := range tests {
		if got := tt.d.IsReserved(); got != tt.want {
			t.Errorf("DomID(%#x).IsReserved() = %v", uint16(tt.d), got)
		}
	}
}

func TestCString(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte{0}, ""},
		{[]byte("abc"), "abc"},
		{[]byte("abc\x00def"), "abc"},
		{[]byte("xen-3.0-x86_64\x00\x00"), "xen-3.0-x86_64"},
	}
	for _, tt := range tests {
		if got := CString(tt.in); got != tt.want {
			t.Errorf("CString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPutCString(t *testing.T) {
	var si StartInfo
	long := strings.Repeat("x", MAX_GUEST_CMDLINE)
	if PutCString(si.CmdLine[:], long) {
		t.Error("1024 bytes + NUL fit in a 1024-byte cmd_line")
	}
	if si.CmdLine[0] != 0 {
		t.Error("failed PutCString wrote")
	}
	max := long[:MAX_GUEST_CMDLINE-1]
	if !PutCString(si.CmdLine[:], max) || CString(si.CmdLine[:]) != max || si.CmdLine[MAX_GUEST_CMDLINE-1] != 0 {
		t.Error("1023 bytes + NUL should fit")
	}
	if !PutCString(si.CmdLine[:], "ro") || CString(si.CmdLine[:]) != "ro" || si.CmdLine[5] != 0 {
		t.Error("short string did not clear the tail")
	}
	if PutCString(nil, "") {
		t.Error("empty string fit in an empty buffer")
	}
}

// FuzzCString: CString never reads past the buffer or a NUL, and
// PutCString/CString round-trip every string without NUL that fits.
func FuzzCString(f *testing.F) {
	f.Add([]byte("console=hvc0 root=/dev/xvda"), 16)
	f.Add([]byte{0, 1, 2}, 0)
	f.Add([]byte{}, 1024)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		s := CString(b)
		if len(s) > len(b) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("CString(%q) = %q", b, s)
		}
		if n < 0 || n > 4096 {
			return
		}
		dst := make([]byte, n+8)
		for i := range dst {
			dst[i] = 0xAA
		}
		ok := PutCString(dst[:n], s)
		if ok != (len(s) < n) {
			t.Fatalf("PutCString(len %d, %q) = %v", n, s, ok)
		}
		for i := n; i < len(dst); i++ {
			if dst[i] != 0xAA {
				t.Fatalf("PutCString wrote outside its buffer at %d", i)
			}
		}
		if ok && CString(dst[:n]) != s {
			t.Fatalf("round trip %q -> %q", s, CString(dst[:n]))
		}
	})
}
