package pv

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// The fast path's frame address is where Bounce puts a user SYSCALL's
// frame, and FastPath offers the bounce only where Bounce would succeed.
func TestFastPathSyscallFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		sp   uint64
		ok   bool
	}{
		{"aligned", kstackTop, true},
		{"unaligned", kstackTop - 3, true},
		{"in the hypervisor area", abi.HYPERVISOR_VIRT_START + 0x1000, false},
		{"just above the hypervisor area", abi.HYPERVISOR_VIRT_END + 16, false},
		{"straddles the lower half's end", arch.LowerHalfEnd + 16, false},
		{"at the lower half's end", arch.LowerHalfEnd, true},
		{"too low", 0x30, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.tables.User = 0x5678
			e.v.RegisterCallback(abi.CALLBACKTYPE_syscall, abi.CALLBACKF_mask_events, handler)
			e.v.StackSwitch(0xe02b, tc.sp)
			e.v.SetKernel(false)
			f, ok := e.v.FastPath()
			if !ok || f.Kernel || f.KernelTable != 0x1234 || f.UserTable != 0x5678 {
				t.Fatalf("FastPath %+v %v", f, ok)
			}
			if got := f.Syscall != 0; got != tc.ok {
				t.Fatalf("syscall fast path %v, want %v (%+v)", got, tc.ok, f)
			}
			if !tc.ok {
				return
			}
			if f.Syscall != handler || !f.SyscallMask || f.SyscallFrame != (tc.sp&^0xf)-56 {
				t.Errorf("FastPath %+v", f)
			}
			if tc.sp != kstackTop && tc.sp != kstackTop-3 {
				return
			}
			r := uregs()
			r.RCX, r.R11, r.RIP, r.RFLAGS = utext+2, 0x246, utext+2, 0x246
			if _, err := e.v.HandleSyscall(&r); err != nil {
				t.Fatal(err)
			}
			if r.RSP != f.SyscallFrame {
				t.Errorf("Bounce's frame at %#x, FastPath's at %#x", r.RSP, f.SyscallFrame)
			}
		})
	}
}

func TestFastPathOff(t *testing.T) {
	e := newEnv()
	if f, ok := e.v.FastPath(); !ok || f.UserTable != 0 {
		t.Errorf("without a user page table: %+v %v, want the fast path with UserTable 0", f, ok)
	}
	e.tables.User = 0x5678
	f, ok := e.v.FastPath()
	if !ok || f.Syscall != 0 || !f.Kernel {
		t.Errorf("no syscall callback: %+v %v", f, ok)
	}
	e.dom.archIOPL = true
	if _, ok := e.v.FastPath(); ok {
		t.Error("fast path with architectural_iopl")
	}
	e.dom.archIOPL = false
	e.v.RegisterCallback(abi.CALLBACKTYPE_syscall, 0, 0x0000800000000000)
	e.v.StackSwitch(0xe02b, kstackTop)
	if f, _ := e.v.FastPath(); f.Syscall != 0 {
		t.Errorf("non-canonical callback offered: %+v", f)
	}
}

// FastPathRan takes the mode the metal left the vCPU in.
func TestFastPathRan(t *testing.T) {
	e := newEnv()
	e.tables.User = 0x5678
	e.v.FastPathRan(false)
	if e.v.Kernel() || e.v.PageTable() != mm.MFN(0x5678) || !e.tables.Reload {
		t.Errorf("after FastPathRan(false): kernel %v table %#x reload %v", e.v.Kernel(), e.v.PageTable(), e.tables.Reload)
	}
	e.tables.Reload = false
	e.v.FastPathRan(false)
	if e.tables.Reload {
		t.Error("no switch, yet a reload")
	}
	e.v.FastPathRan(true)
	if !e.v.Kernel() || e.v.PageTable() != mm.MFN(0x1234) {
		t.Error("FastPathRan(true) did not return to kernel mode")
	}
}

// The fast path's #PF frame is where HandleException's bounce of a
// user-mode #PF puts its frame, with the trap's handler and interrupt
// flag; FastPath offers it only for a canonical handler and a frame
// Bounce would write, and FastFaultRan leaves the virtual CR2 as
// InjectException would.
func TestFastPathPageFault(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sp    uint64
		addr  uint64
		flags uint8
		ok    bool
	}{
		{"interrupt gate", kstackTop, handler, tiIF, true},
		{"trap gate, unaligned stack", kstackTop - 5, handler, 0, true},
		{"no handler", kstackTop, 0, tiIF, false},
		{"non-canonical handler", kstackTop, 0x0000800000000000, tiIF, false},
		{"stack in the hypervisor area", abi.HYPERVISOR_VIRT_START + 0x1000, handler, tiIF, false},
		{"stack too low", 0x38, handler, tiIF, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.tables.User = 0x5678
			e.setTrap(arch.VecPF, tc.flags, tc.addr)
			e.v.StackSwitch(0xe02b, tc.sp)
			e.v.SetKernel(false)
			f, ok := e.v.FastPath()
			if !ok {
				t.Fatal("no fast path")
			}
			if got := f.PageFault != 0; got != tc.ok {
				t.Fatalf("#PF fast path %v, want %v (%+v)", got, tc.ok, f)
			}
			if !tc.ok {
				return
			}
			if f.PageFault != tc.addr || f.PageFaultMask != (tc.flags&tiIF != 0) || f.PageFaultFrame != (tc.sp&^0xf)-64 {
				t.Fatalf("FastPath %+v", f)
			}
			r := uregs()
			if err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecPF, ErrorCode: 6, CR2: 0x1234000}); err != nil {
				t.Fatal(err)
			}
			if r.RSP != f.PageFaultFrame || r.RIP != f.PageFault {
				t.Errorf("Bounce's frame at %#x entering %#x, FastPath's at %#x entering %#x", r.RSP, r.RIP, f.PageFaultFrame, f.PageFault)
			}
			e.v.FastFaultRan(0x5555000)
			if e.v.CR2 != 0x5555000 {
				t.Errorf("virtual CR2 %#x after FastFaultRan", e.v.CR2)
			}
		})
	}
}
