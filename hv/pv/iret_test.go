package pv

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
)

func putIret(t *testing.T, e *env, va uint64, c abi.IretContext) {
	t.Helper()
	var b [IretContextSize]byte
	for i, w := range []uint64{c.Rax, c.R11, c.Rcx, c.Flags, c.Rip, c.Cs, c.Rflags, c.Rsp, c.Ss} {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	e.mem.put(t, va, KernelSpace, b[:])
}

func TestIretRoundTripKernel(t *testing.T) {
	e := newEnv()
	e.setTrap(arch.VecDE, 0, handler)
	e.info.mask = 0
	r := kregs()
	r.RAX = 0x77
	orig := r
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecDE}); err != nil {
		t.Fatal(err)
	}
	// The guest's handler pops RCX/R11 (16 bytes), then pushes what the
	// iret hypercall wants: flags, RCX, R11, RAX below the 5-word frame.
	sp := r.RSP + 16
	sp -= 32
	putIret(t, e, sp, abi.IretContext{Rax: orig.RAX, R11: orig.R11, Rcx: orig.RCX, Flags: 0,
		Rip: e.mem.read64(t, sp+32, KernelSpace), Cs: e.mem.read64(t, sp+40, KernelSpace),
		Rflags: e.mem.read64(t, sp+48, KernelSpace), Rsp: e.mem.read64(t, sp+56, KernelSpace),
		Ss: e.mem.read64(t, sp+64, KernelSpace)})
	r.RSP = sp
	r.RCX, r.R11, r.RAX = 0, 0, 23
	rax, err := e.v.Iret(&r)
	if err != nil {
		t.Fatal(err)
	}
	if rax != orig.RAX || r.RAX != orig.RAX {
		t.Errorf("rax %#x", rax)
	}
	want := orig
	want.CS = 0xe033 // RPL forced back to 3
	if r != want {
		t.Errorf("after iret\n got %+v\nwant %+v", r, want)
	}
	if e.info.mask != 0 || !e.v.Kernel() || e.tables.Reload {
		t.Errorf("mask %d kernel %v reload %v", e.info.mask, e.v.Kernel(), e.tables.Reload)
	}
}

func TestIretToUser(t *testing.T) {
	e := newEnv()
	e.tables.User = 0x5678
	r := kregs()
	r.RSP = kstackTop - 0x80
	putIret(t, e, r.RSP, abi.IretContext{Rax: 5, R11: 0x246, Rcx: utext + 9, Flags: 0, Rip: utext + 9,
		Cs: 0xe033, Rflags: 0x246 | flagIOPL | flagVM, Rsp: ustackTop - 8, Ss: 0xe02b})
	orig := r
	if _, err := e.v.Iret(&r); err != nil {
		t.Fatal(err)
	}
	if e.v.Kernel() || !e.tables.Reload || e.v.PageTable() != 0x5678 {
		t.Error("no switch to user mode")
	}
	if r.GSBase != orig.GSBaseShadow || r.GSBaseShadow != orig.GSBase {
		t.Error("GS bases not swapped")
	}
	if r.RIP != utext+9 || r.RSP != ustackTop-8 || r.RFLAGS != 0x246 || r.CS != 0xe033 || r.SS != 0xe02b {
		t.Errorf("regs %+v", r)
	}
	if r.RCX != utext+9 || r.R11 != 0x246 {
		t.Error("rcx/r11 not restored")
	}
	if e.info.mask != 0 {
		t.Error("IF set but events still masked")
	}
	// A bounce now comes from user mode and lands on the kernel stack.
	e.v.StackSwitch(0xe02b, kstackTop)
	e.setTrap(arch.VecDE, 0, handler)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecDE}); err != nil {
		t.Fatal(err)
	}
	if !e.v.Kernel() || r.RSP != kstackTop-56 || r.GSBase != orig.GSBase {
		t.Errorf("bounce after iret: kernel %v rsp %#x", e.v.Kernel(), r.RSP)
	}
}

func TestIretCases(t *testing.T) {
	for _, tc := range []struct {
		name      string
		user      uint64 // user table
		ctx       abi.IretContext
		rsp       uint64
		crash     bool
		wantRCX   uint64
		wantMask  uint8
		wantFlags uint64
	}{
		{"in_syscall keeps rcx/r11", 0, abi.IretContext{Rcx: 9, R11: 9, Flags: abi.VGCF_in_syscall, Rip: ktext,
			Cs: 0xe030, Rflags: 0x2, Ss: 0xe028, Rsp: 0x10}, kstackTop - 0x80, false, 0x1111, 1, 0x202},
		{"IF clear masks events", 0, abi.IretContext{Rcx: 9, R11: 9, Rip: ktext, Cs: 0xe030, Rflags: 0x2},
			kstackTop - 0x80, false, 9, 1, 0x202},
		{"user without user table", 0, abi.IretContext{Cs: 0xe033 | 3}, kstackTop - 0x80, true, 0, 0, 0},
		{"context unreadable", 0, abi.IretContext{}, kstackTop - 0x40, true, 0, 0, 0},
		{"context unmapped", 0, abi.IretContext{}, 0x1000, true, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.tables.User = 0
			e.info.mask = 0
			r := kregs()
			r.RSP = tc.rsp
			if tc.rsp+IretContextSize <= kstackTop && tc.rsp >= kstackBase {
				putIret(t, e, tc.rsp, tc.ctx)
			}
			_, err := e.v.Iret(&r)
			if tc.crash {
				if !isCrash(err) {
					t.Fatalf("err %v, want crash", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.RCX != tc.wantRCX || e.info.mask != tc.wantMask || r.RFLAGS != tc.wantFlags {
				t.Errorf("rcx %#x mask %d rflags %#x", r.RCX, e.info.mask, r.RFLAGS)
			}
			if r.CS&3 != 3 || r.SS&3 != 3 {
				t.Errorf("cs %#x ss %#x: RPL not forced to 3", r.CS, r.SS)
			}
		})
	}
}

func TestIretArchitecturalIOPL(t *testing.T) {
	e := newEnv()
	e.dom.archIOPL = true
	r := kregs()
	r.RSP = kstackTop - 0x80
	putIret(t, e, r.RSP, abi.IretContext{Rip: ktext, Cs: 0xe030, Rflags: 0x202 | 2<<12})
	if _, err := e.v.Iret(&r); err != nil {
		t.Fatal(err)
	}
	if e.v.IOPL != 2<<12 || r.RFLAGS&flagIOPL != 0 {
		t.Errorf("virtual IOPL %#x, real rflags %#x", e.v.IOPL, r.RFLAGS)
	}
}
