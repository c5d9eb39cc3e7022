package pv

import (
	"testing"

	"github.com/gohv/gohv/arch"
)

// fakePT is one L1 entry at machine address ptMA, seen at VA ptVA.
type fakePT struct {
	entry   uint64
	refuse  bool
	races   int // WritePTE answers PTRetry this many times first
	written []uint64
}

const (
	ptVA = 0xffff880000200010
	ptMA = 0x5010
)

func (f *fakePT) L1Entry(va uint64) (uint64, bool) {
	if va&^7 != ptVA&^7 {
		return 0, false
	}
	return ptMA + va&7, true
}
func (f *fakePT) ReadPTE(ma uint64) (uint64, bool) { return f.entry, ma == ptMA }
func (f *fakePT) WritePTE(ma, old, nv uint64) PTResult {
	switch {
	case f.refuse:
		return PTRefused
	case f.races > 0:
		f.races--
		f.entry |= 0x20 // the CPU set Accessed meanwhile
		return PTRetry
	case old != f.entry:
		return PTRetry
	}
	f.entry = nv
	f.written = append(f.written, nv)
	return PTDone
}

// TestPageTableWrite: each instruction Linux uses on PTEs, emulated on a
// write fault, with the value it computes, the registers and flags it
// leaves, and RIP past it.
func TestPageTableWrite(t *testing.T) {
	const pte = 0x123456007
	cases := []struct {
		name    string
		code    []byte
		setup   func(r *arch.Regs)
		want    uint64 // the entry afterwards
		check   func(r *arch.Regs) bool
		races   int
		refused bool
	}{
		{"mov r64", []byte{0x48, 0x89, 0x37}, func(r *arch.Regs) { r.RSI = 0x999007 }, 0x999007, nil, 0, false},
		{"mov imm32 (low half)", []byte{0xc7, 0x07, 0x00, 0x00, 0x00, 0x00}, nil, pte &^ 0xffffffff, nil, 0, false},
		{"xchg", []byte{0x48, 0x87, 0x37}, func(r *arch.Regs) { r.RSI = 0 }, 0, func(r *arch.Regs) bool { return r.RSI == pte }, 0, false},
		{"lock cmpxchg hit", []byte{0xf0, 0x48, 0x0f, 0xb1, 0x37}, func(r *arch.Regs) { r.RAX, r.RSI = pte, pte&^2 }, pte &^ 2,
			func(r *arch.Regs) bool { return r.RFLAGS&flagZF != 0 }, 0, false},
		{"lock cmpxchg miss", []byte{0xf0, 0x48, 0x0f, 0xb1, 0x37}, func(r *arch.Regs) { r.RAX, r.RSI = 1, 0 }, pte,
			func(r *arch.Regs) bool { return r.RFLAGS&flagZF == 0 && r.RAX == pte }, 0, false},
		{"lock and imm (clear RW)", []byte{0xf0, 0x48, 0x83, 0x27, 0xfd}, nil, pte &^ 2,
			func(r *arch.Regs) bool { return r.RFLAGS&(flagZF|flagCF) == 0 }, 0, false},
		{"lock btr imm (test-and-clear Accessed)", []byte{0xf0, 0x48, 0x0f, 0xba, 0x37, 0x01}, nil, pte &^ 2,
			func(r *arch.Regs) bool { return r.RFLAGS&flagCF != 0 }, 0, false},
		{"or after a racing A-bit update", []byte{0x48, 0x09, 0x37}, func(r *arch.Regs) { r.RSI = 0x40 }, pte | 0x20 | 0x40, nil, 2, false},
		{"refused entry", []byte{0x48, 0x89, 0x37}, func(r *arch.Regs) { r.RSI = 0xbad007 }, pte, nil, 0, true},
		// Linux's clear_bit(_PAGE_BIT_RW) in ptep_set_wrprotect (fork's
		// copy_page_range): "ds and byte [rdi], 0xfd".
		{"ds and byte imm (clear RW)", []byte{0x3e, 0x80, 0x27, 0xfd}, nil, pte &^ 2,
			func(r *arch.Regs) bool { return r.RFLAGS&(flagZF|flagCF) == 0 }, 0, false},
		{"or word r16", []byte{0x66, 0x09, 0x37}, func(r *arch.Regs) { r.RSI = 0xffff_0040 }, pte | 0x40, nil, 0, false},
		{"xchg byte keeps the rest of the register", []byte{0x40, 0x86, 0x37}, func(r *arch.Regs) { r.RSI = 0xaaaa_bb05 },
			pte&^0xff | 0x05, func(r *arch.Regs) bool { return r.RSI == 0xaaaa_bb07 }, 0, false},
		{"fs-relative is not a page-table write", []byte{0x64, 0x48, 0x89, 0x37}, func(r *arch.Regs) { r.RSI = 0x999007 }, pte, nil, 0, true},
	}
	for _, c := range cases {
		e := newEnv()
		pt := &fakePT{entry: pte, races: c.races, refuse: c.refused}
		e.v.PT = pt
		r := kregs()
		r.RDI = ptVA
		if c.setup != nil {
			c.setup(&r)
		}
		e.code(t, &r, c.code...)
		handled, err := e.v.PageTableWrite(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecPF, ErrorCode: 3 | 4, CR2: ptVA})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if handled == c.refused {
			t.Errorf("%s: handled %v", c.name, handled)
			continue
		}
		if pt.entry != c.want {
			t.Errorf("%s: entry %#x, want %#x", c.name, pt.entry, c.want)
		}
		if handled && r.RIP != ktext+uint64(len(c.code)) {
			t.Errorf("%s: RIP %#x, want past the instruction", c.name, r.RIP)
		}
		if !c.refused && c.check != nil && !c.check(&r) {
			t.Errorf("%s: registers %+v", c.name, r)
		}
	}
	// Not a write to an L1, a read fault, and user mode are not ptwr.
	e := newEnv()
	e.v.PT = &fakePT{entry: pte}
	r := kregs()
	e.code(t, &r, 0x48, 0x89, 0x37)
	for _, x := range []arch.Exit{{Vector: arch.VecPF, ErrorCode: 3, CR2: 0x1000}, {Vector: arch.VecPF, ErrorCode: 1, CR2: ptVA}} {
		if h, _ := e.v.PageTableWrite(&r, x); h {
			t.Errorf("%+v emulated", x)
		}
	}
}

// FuzzPageTableWrite: any instruction bytes and registers at a write fault
// on an L1 entry never panic; the entry changes only through WritePTE, and
// only when the instruction was emulated.
func FuzzPageTableWrite(f *testing.F) {
	f.Add([]byte{0xf0, 0x48, 0x0f, 0xba, 0x37, 0x01}, uint64(0x1000), uint64(1), uint64(ptVA))
	f.Add([]byte{0x48, 0x87, 0x37}, uint64(7), uint64(0), uint64(ptVA+4))
	f.Fuzz(func(t *testing.T, code []byte, rsi, rax, cr2 uint64) {
		if len(code) > maxInsnLen {
			code = code[:maxInsnLen]
		}
		e := newEnv()
		pt := &fakePT{entry: 0x1007}
		e.v.PT = pt
		r := kregs()
		r.RDI, r.RSI, r.RAX = ptVA, rsi, rax
		e.code(t, &r, code...)
		handled, err := e.v.PageTableWrite(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecPF, ErrorCode: 3, CR2: cr2})
		if err != nil && !isCrash(err) {
			t.Fatalf("error %v", err)
		}
		if !handled && (len(pt.written) != 0 || r.RIP != ktext) {
			t.Fatalf("not emulated but changed state: %+v %#x", pt.written, r.RIP)
		}
	})
}
