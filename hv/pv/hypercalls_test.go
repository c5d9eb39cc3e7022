package pv

import (
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

func trapEntry(vec, flags uint8, cs uint16, addr uint64) []byte {
	b := make([]byte, 16)
	b[0], b[1] = vec, flags
	binary.LittleEndian.PutUint16(b[2:], cs)
	binary.LittleEndian.PutUint64(b[8:], addr)
	return b
}

func TestSetTrapTable(t *testing.T) {
	const arr = kstackBase + 0x200
	for _, tc := range []struct {
		name    string
		entries [][]byte
		h       uint64
		preempt int // preempt after this many checks (0: never)
		want    abi.Errno
		more    bool
		check   func(t *testing.T, v *VCPU)
	}{
		{name: "two entries then terminator", h: arr, entries: [][]byte{
			trapEntry(14, 0, 0xe030, handler), trapEntry(0x80, 3|tiIF, 0xe033, handler+16), trapEntry(1, 0, 0, 0)},
			check: func(t *testing.T, v *VCPU) {
				if v.Traps[14].Address != handler || v.Traps[14].Cs != 0xe033 || v.Traps[0x80].Flags != 3|tiIF {
					t.Errorf("traps %+v %+v", v.Traps[14], v.Traps[0x80])
				}
				if v.Traps[1].Address != 0 {
					t.Error("terminator installed")
				}
			}},
		{name: "non-canonical address", h: arr, entries: [][]byte{
			trapEntry(14, 0, 0xe033, handler), trapEntry(12, 0, 0xe033, 0x0000800000000000)}, want: abi.EINVAL,
			check: func(t *testing.T, v *VCPU) {
				if v.Traps[14].Address != handler || v.Traps[12].Address != 0 {
					t.Error("entries before the bad one not kept / bad one installed")
				}
			}},
		{name: "runs off the mapping", h: kstackTop - 16, entries: [][]byte{trapEntry(3, 3, 0xe033, handler)},
			want: abi.EFAULT},
		{name: "unmapped", h: 0x1000, want: abi.EFAULT},
		{name: "null clears", h: 0, check: func(t *testing.T, v *VCPU) {
			if v.Traps[arch.VecGP].Address != 0 {
				t.Error("not cleared")
			}
		}},
		{name: "preempted after the first entry", h: arr, preempt: 1, more: true, entries: [][]byte{
			trapEntry(14, 0, 0xe033, handler), trapEntry(13, 0, 0xe033, handler+8), {}},
			check: func(t *testing.T, v *VCPU) {
				if v.Traps[14].Address != handler || v.Traps[13].Address != 0 {
					t.Error("preemption point wrong")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.setTrap(arch.VecGP, 0, gpHandler)
			va := tc.h
			for _, ent := range tc.entries {
				if len(ent) == 0 {
					ent = make([]byte, 16)
				}
				e.mem.put(t, va, KernelSpace, ent)
				va += 16
			}
			calls := 0
			next, more, err := e.v.SetTrapTable(tc.h, func() bool { calls++; return calls == tc.preempt })
			if err != tc.want || more != tc.more {
				t.Fatalf("err %v more %v, want %v %v", err, more, tc.want, tc.more)
			}
			if more {
				if next != tc.h+16 {
					t.Errorf("next %#x", next)
				}
				if _, more, err := e.v.SetTrapTable(next, nil); more || err != 0 {
					t.Fatalf("continuation: %v %v", more, err)
				}
				if e.v.Traps[13].Address != handler+8 {
					t.Error("continuation did not install the rest")
				}
				return
			}
			if tc.check != nil {
				tc.check(t, e.v)
			}
		})
	}
}

func TestCallbacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   uint16
		flags uint16
		addr  uint64
		want  abi.Errno
		unreg abi.Errno
	}{
		{"event", abi.CALLBACKTYPE_event, 0, handler, 0, abi.EINVAL},
		{"failsafe masked", abi.CALLBACKTYPE_failsafe, abi.CALLBACKF_mask_events, handler, 0, abi.EINVAL},
		{"syscall", abi.CALLBACKTYPE_syscall, 0, handler, 0, abi.EINVAL},
		{"syscall32", abi.CALLBACKTYPE_syscall32, 0, handler, 0, abi.EINVAL},
		{"sysenter", abi.CALLBACKTYPE_sysenter, 0, handler, 0, abi.EINVAL},
		{"nmi", abi.CALLBACKTYPE_nmi, 0, handler, 0, 0},
		{"sysenter_deprecated", abi.CALLBACKTYPE_sysenter_deprecated, 0, handler, abi.ENOSYS, abi.ENOSYS},
		{"unknown", 6, 0, handler, abi.ENOSYS, abi.ENOSYS},
		{"huge type", 0xffff, 0, handler, abi.ENOSYS, abi.ENOSYS},
		{"non-canonical", abi.CALLBACKTYPE_event, 0, 0x0000800000000000, abi.EINVAL, abi.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv().v
			if got := v.RegisterCallback(tc.typ, tc.flags, tc.addr); got != tc.want {
				t.Errorf("register: %v, want %v", got, tc.want)
			}
			if tc.want == 0 {
				if tc.typ == abi.CALLBACKTYPE_nmi {
					if v.Traps[arch.VecNMI].Address != tc.addr || v.Traps[arch.VecNMI].Flags&tiIF == 0 {
						t.Error("nmi not in trap table")
					}
				} else if cb := v.Callbacks[tc.typ]; cb.Address != tc.addr || cb.MaskEvents != (tc.flags != 0) {
					t.Errorf("callback %+v", cb)
				}
			}
			if got := v.UnregisterCallback(tc.typ); got != tc.unreg {
				t.Errorf("unregister: %v, want %v", got, tc.unreg)
			}
			if tc.typ == abi.CALLBACKTYPE_nmi && v.Traps[arch.VecNMI].Address != 0 {
				t.Error("nmi not unregistered")
			}
		})
	}
	v := newEnv().v
	if v.SetCallbacks(handler, handler+1, 0x0000800000000000) != 0 {
		t.Error("set_callbacks failed")
	}
	if v.Callbacks[0].Address != handler || v.Callbacks[1].Address != handler+1 || v.Callbacks[1].MaskEvents ||
		v.Callbacks[2].Address != 0 {
		t.Errorf("callbacks %+v", v.Callbacks)
	}
}

func TestSetSegmentBase(t *testing.T) {
	for _, tc := range []struct {
		name     string
		which    uint64
		base     uint64
		gsOK     bool
		want     abi.Errno
		fs, k, u uint64
		gs       uint16
	}{
		{"fs", abi.SEGBASE_FS, 0x7000, false, 0, 0x7000, 0xaaaa, 0xbbbb, 0},
		{"gs user", abi.SEGBASE_GS_USER, 0x7000, false, 0, 0, 0xaaaa, 0x7000, 0},
		{"gs kernel", abi.SEGBASE_GS_KERNEL, 0xffff888000000000, false, 0, 0, 0xffff888000000000, 0xbbbb, 0},
		{"gs kernel non-canonical", abi.SEGBASE_GS_KERNEL, 0x0000800000000000, false, abi.EINVAL, 0, 0xaaaa, 0xbbbb, 0},
		{"fs non-canonical", abi.SEGBASE_FS, 0xfff0000000000000, false, abi.EINVAL, 0, 0xaaaa, 0xbbbb, 0},
		{"gs user sel ok", abi.SEGBASE_GS_USER_SEL, 0x10068, true, 0, 0, 0xaaaa, 0x5000, 0x6b},
		{"gs user sel fails", abi.SEGBASE_GS_USER_SEL, 0x68, false, 0, 0, 0xaaaa, 0, 0},
		{"gs user sel null", abi.SEGBASE_GS_USER_SEL, 0x3, false, 0, 0, 0xaaaa, 0, 3},
		{"bad which", 4, 0, false, abi.EINVAL, 0, 0xaaaa, 0xbbbb, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			if tc.gsOK {
				// A GDT whose entry 13 is a DPL 3 data segment based at 0x5000.
				mem := mmtest.NewMemory(2)
				var b [8]byte
				binary.LittleEndian.PutUint64(b[:], 0x00cff2005000ffff)
				mem.Write(mm.MFN(1).Addr()+13*8, b[:])
				e.v.Machine.Mem = mem
				e.v.gdtFrames, e.v.gdtEntries = []mm.MFN{1}, 512
			}
			r := kregs()
			if got := e.v.SetSegmentBase(&r, tc.which, tc.base); got != tc.want {
				t.Fatalf("errno %v, want %v", got, tc.want)
			}
			k, u := e.v.GSBases(&r)
			if r.FSBase != tc.fs || k != tc.k || u != tc.u || r.GS != tc.gs {
				t.Errorf("fs %#x k %#x u %#x gs %#x", r.FSBase, k, u, r.GS)
			}
		})
	}
}

func TestDebugRegs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reg     int
		val     uint64
		de      bool
		want    abi.Errno
		readReg int
		read    uint64
	}{
		{"dr0 kernel address", 0, ktext, false, 0, 0, ktext},
		{"dr3 user address", 3, 0x400000, false, 0, 3, 0x400000},
		{"dr1 in xen", 1, abi.HYPERVISOR_VIRT_START + 8, false, abi.EPERM, 1, 0},
		{"dr2 non-canonical", 2, 0x0000800000000000, false, abi.EPERM, 2, 0},
		{"dr6 reserved bits", 6, 0x1001, false, 0, 6, 0xffff0ff1},
		{"dr6 high bits", 6, 1 << 32, false, abi.EINVAL, 6, DR6Default},
		{"dr4 aliases dr6", 4, 0x2, false, 0, 6, 0xffff0ff2},
		{"dr4 with DE", 4, 0x2, true, abi.ENODEV, 6, DR6Default},
		{"dr7 enable", 7, 0x1 | 0x3<<16, false, 0, 7, 0x401 | 0x3<<16},
		{"dr7 reserved bits", 7, 0xd800, false, 0, 7, 0x400},
		{"dr7 GD", 7, 1 << 13, false, abi.EPERM, 7, 0x400},
		{"dr7 io breakpoint without DE", 7, 0x1 | 2<<16, false, abi.EPERM, 7, 0x400},
		{"dr7 io breakpoint with DE", 7, 0x1 | 2<<16, true, 0, 7, 0x401 | 2<<16},
		{"dr5 aliases dr7", 5, 0x2, false, 0, 7, 0x402},
		{"dr8", 8, 0, false, abi.ENODEV, 8, 0},
		{"negative", -1, 0, false, abi.ENODEV, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv().v
			v.CR4 &^= cr4DE
			if tc.de {
				v.CR4 |= cr4DE
			}
			if got := v.SetDebugReg(tc.reg, tc.val); got != tc.want {
				t.Fatalf("set: %v, want %v", got, tc.want)
			}
			got, e := v.GetDebugReg(tc.readReg)
			if tc.readReg < 0 || tc.readReg > 7 {
				if e != abi.ENODEV {
					t.Errorf("get %d: %v", tc.readReg, e)
				}
				return
			}
			if got != tc.read {
				t.Errorf("dr%d = %#x, want %#x", tc.readReg, got, tc.read)
			}
		})
	}
	v := newEnv().v
	v.SetDebugReg(7, 0x1|2<<16) // with CR4.DE (host has DE)
	if v.DR7Emul == 0 || v.DR7&3 != 0 {
		t.Errorf("io breakpoint enable not emulated: dr7 %#x emul %#x", v.DR7, v.DR7Emul)
	}
}

func TestStackSwitchAndTaskswitch(t *testing.T) {
	v := newEnv().v
	v.StackSwitch(0xe028, 0x1234)
	if v.KernelSS != 0xe02b || v.KernelSP != 0x1234 {
		t.Errorf("ss %#x sp %#x", v.KernelSS, v.KernelSP)
	}
	v.FPUTaskswitch(true)
	if r, _ := v.readCR(0); r&cr0TS == 0 {
		t.Error("TS not visible in CR0")
	}
	v.FPUTaskswitch(false)
	if v.TS {
		t.Error("TS not cleared")
	}
}

func TestValidXCR0(t *testing.T) {
	for _, tc := range []struct {
		x, max uint64
		ok     bool
	}{
		{1, 0xff, true}, {3, 0xff, true}, {7, 0xff, true}, {0, 0xff, false}, {2, 0xff, false},
		{5, 0xff, false}, {0xe7, 0xff, true}, {0x67, 0xff, false}, {0xe3, 0xff, false},
		{0x1b, 0xff, true}, {0xb, 0xff, false}, {7, 3, false},
	} {
		if got := ValidXCR0(tc.x, tc.max); got != tc.ok {
			t.Errorf("ValidXCR0(%#x, %#x) = %v", tc.x, tc.max, got)
		}
	}
}

// TestMergeDR6: a #DB's hardware DR6 accumulates B0-3/BD/BS/BT into the
// virtual DR6 and clears RTM (bit 16) when the CPU reports it active.
func TestMergeDR6(t *testing.T) {
	for _, tc := range []struct{ virt, hw, want uint64 }{
		{DR6Default, DR6Default, DR6Default},
		{DR6Default, DR6Default | 1, DR6Default | 1},                   // B0
		{DR6Default | 1, DR6Default | 2, DR6Default | 3},               // B1 joins B0 (sticky)
		{DR6Default, DR6Default | 1<<14, DR6Default | 1<<14},           // BS
		{DR6Default, DR6Default &^ (1 << 16), DR6Default &^ (1 << 16)}, // RTM active
		{DR6Default | 1<<13, DR6Default | 8, DR6Default | 1<<13 | 8},   // BD kept, B3
	} {
		if got := MergeDR6(tc.virt, tc.hw); got != tc.want {
			t.Errorf("MergeDR6(%#x, %#x) = %#x, want %#x", tc.virt, tc.hw, got, tc.want)
		}
	}
}

// TestDebugExceptionBounce: a #DB exit bounces to the guest's vector-1
// handler with the CPU's DR6 merged into the virtual one (get_debugreg(6)
// then shows B1); an exit without a hardware DR6 leaves it alone; the
// breakpoints set_debugreg gave are what the metal is asked to load.
func TestDebugExceptionBounce(t *testing.T) {
	e := emuEnv()
	if e := e.v.SetDebugReg(1, ktext+0x40); e != 0 {
		t.Fatal(e)
	}
	if e := e.v.SetDebugReg(7, 1<<2|1<<20|3<<22); e != 0 { // L1, write, 4 bytes
		t.Fatal(e)
	}
	if e.v.Changed&ChangedDebug == 0 || e.v.DR[1] != ktext+0x40 || e.v.DR7 != 0x400|1<<2|1<<20|3<<22 {
		t.Fatalf("changed %#x dr1 %#x dr7 %#x", e.v.Changed, e.v.DR[1], e.v.DR7)
	}
	r := kregs()
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecDB, DR6: DR6Default | 2}); err != nil {
		t.Fatal(err)
	}
	if r.RIP != handler+0x5000 {
		t.Errorf("#DB went to %#x", r.RIP)
	}
	if dr6, _ := e.v.GetDebugReg(6); dr6 != DR6Default|2 {
		t.Errorf("dr6 %#x after #DB", dr6)
	}
	r = kregs()
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecDB}); err != nil || r.RIP != handler+0x5000 {
		t.Fatalf("#DB without DR6: rip %#x, %v", r.RIP, err)
	}
	if e.v.DR6 != DR6Default|2 {
		t.Errorf("dr6 %#x after a #DB without a hardware DR6", e.v.DR6)
	}
}
