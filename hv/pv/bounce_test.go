package pv

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
)

func TestBounceFrameFromKernel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vec      uint8
		ec       uint64
		mask     uint8
		flags    uint8
		wantMask uint8
	}{
		{"gp with error code, events on, trap gate", arch.VecGP, 0x18, 0, 0, 0},
		{"de without error code, events masked", arch.VecDE, 0, 1, 0, 1},
		{"interrupt gate masks events", arch.VecDE, 0, 0, tiIF, 1},
		{"df has an error code", arch.VecDF, 0, 0, 0, 0},
		{"ac has an error code", arch.VecAC, 0x1, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.setTrap(tc.vec, tc.flags, handler)
			e.info.mask = tc.mask
			r := kregs()
			r.RFLAGS = 0x202 | flagTF | flagNT | flagRF | flagAC | flagIOPL
			orig := r
			// A #GP with a non-IDT error code is bounced as is.
			if err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: tc.vec, ErrorCode: tc.ec}); err != nil {
				t.Fatal(err)
			}
			top := orig.RSP &^ 0xf
			wantIF := uint64(0)
			if tc.mask == 0 {
				wantIF = flagIF
			}
			want := []uint64{orig.RCX, orig.R11}
			if hasErrorCode(tc.vec) {
				want = append(want, tc.ec)
			}
			want = append(want, orig.RIP, 0xe030|uint64(tc.mask)<<32,
				orig.RFLAGS&^(flagIF|flagIOPL)|wantIF, orig.RSP, 0xe02b)
			base := top - uint64(8*len(want))
			if got := e.frame(t, base, len(want)); !reflect.DeepEqual(got, want) {
				t.Errorf("frame\n got %#x\nwant %#x", got, want)
			}
			if r.RSP != base || r.RIP != handler || r.CS != 0xe033 || r.SS != 0xe02b {
				t.Errorf("regs after: rsp %#x rip %#x cs %#x ss %#x", r.RSP, r.RIP, r.CS, r.SS)
			}
			if r.RFLAGS&(flagTF|flagNT|flagRF|flagAC|flagVM) != 0 {
				t.Errorf("rflags %#x: TF/NT/RF/AC not cleared", r.RFLAGS)
			}
			if e.info.mask != tc.wantMask {
				t.Errorf("mask %d, want %d", e.info.mask, tc.wantMask)
			}
			if !e.v.Kernel() || r.GSBase != orig.GSBase || e.tables.Reload {
				t.Error("bounce from kernel mode switched modes")
			}
		})
	}
}

func TestBounceFrameFromUser(t *testing.T) {
	e := newEnv()
	e.v.SetKernel(false)
	e.v.StackSwitch(0xe02b, kstackTop-8) // aligned down to kstackTop-16
	e.setTrap(arch.VecPF, 0, handler)
	e.info.mask = 0
	r := uregs()
	orig := r
	err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecPF,
		ErrorCode: arch.PFErrPresent | arch.PFErrWrite | arch.PFErrUser, CR2: 0x1000})
	if err != nil {
		t.Fatal(err)
	}
	top := uint64(kstackTop - 16)
	want := []uint64{orig.RCX, orig.R11, arch.PFErrPresent | arch.PFErrWrite | arch.PFErrUser,
		orig.RIP, 0xe033, orig.RFLAGS, orig.RSP, 0xe02b}
	base := top - 64
	if got := e.frame(t, base, 8); !reflect.DeepEqual(got, want) {
		t.Errorf("frame\n got %#x\nwant %#x", got, want)
	}
	if !e.v.Kernel() || !e.tables.Reload || r.GSBase != orig.GSBaseShadow || r.GSBaseShadow != orig.GSBase {
		t.Error("bounce from user mode did not switch to kernel mode (mode, CR3, GS)")
	}
	if r.RSP != base || r.RIP != handler {
		t.Errorf("rsp %#x rip %#x", r.RSP, r.RIP)
	}
	if e.info.cr2 != 0x1000 || e.v.CR2 != 0x1000 {
		t.Errorf("cr2 %#x / %#x", e.info.cr2, e.v.CR2)
	}
	if e.info.mask != 0 {
		t.Error("trap gate masked events")
	}
}

func TestPageFaultUserBit(t *testing.T) {
	for _, tc := range []struct {
		kernel bool
		ec     uint64
		want   uint64
	}{
		{true, arch.PFErrUser | arch.PFErrWrite, arch.PFErrWrite},
		{true, arch.PFErrPresent, arch.PFErrPresent},
		{false, arch.PFErrPresent, arch.PFErrPresent | arch.PFErrUser},
		{false, arch.PFErrUser, arch.PFErrUser},
	} {
		e := newEnv()
		e.setTrap(arch.VecPF, 0, handler)
		e.v.KernelSP = kstackTop
		r := kregs()
		if !tc.kernel {
			e.v.SetKernel(false)
			r = uregs()
		}
		if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecPF, ErrorCode: tc.ec, CR2: 42}); err != nil {
			t.Fatal(err)
		}
		if got := e.mem.read64(t, r.RSP+16, KernelSpace); got != tc.want {
			t.Errorf("kernel=%v ec %#x: frame error code %#x, want %#x", tc.kernel, tc.ec, got, tc.want)
		}
	}
}

func TestFailsafeFrame(t *testing.T) {
	e := newEnv()
	e.v.RegisterCallback(abi.CALLBACKTYPE_failsafe, abi.CALLBACKF_mask_events, handler)
	e.info.mask = 0
	r := kregs()
	r.DS, r.ES, r.FS, r.GS = 0x2b, 0x2b, 0x63, 0x6b
	orig := r
	if err := e.v.Failsafe(&r); err != nil {
		t.Fatal(err)
	}
	want := []uint64{orig.RCX, orig.R11, 0x2b, 0x2b, 0x63, 0x6b, orig.RIP, 0xe030, orig.RFLAGS | flagIF, orig.RSP, 0xe02b}
	base := (orig.RSP &^ 0xf) - 88
	if got := e.frame(t, base, len(want)); !reflect.DeepEqual(got, want) {
		t.Errorf("frame\n got %#x\nwant %#x", got, want)
	}
	if r.RSP != base || e.info.mask != 1 {
		t.Errorf("rsp %#x mask %d", r.RSP, e.info.mask)
	}
}

func TestArchitecturalIOPLInFrame(t *testing.T) {
	e := newEnv()
	e.dom.archIOPL = true
	e.v.IOPL = 1 << 12
	e.setTrap(arch.VecDE, 0, handler)
	r := kregs()
	r.RFLAGS |= 3 << 12
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecDE}); err != nil {
		t.Fatal(err)
	}
	if got := e.mem.read64(t, r.RSP+8*4, KernelSpace) & flagIOPL; got != 1<<12 {
		t.Errorf("frame IOPL %#x, want the virtual 0x1000", got)
	}
}

func TestBounceCrashes(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(e *env, r *regsPtr)
	}{
		{"no handler", func(e *env, r *regsPtr) { e.v.Traps[arch.VecDE] = abi.TrapInfo{} }},
		{"stack in the hypervisor hole", func(e *env, r *regsPtr) { r.RSP = abi.HYPERVISOR_VIRT_START + 0x1000 }},
		{"stack just above the hole", func(e *env, r *regsPtr) { r.RSP = abi.HYPERVISOR_VIRT_END + 32 }},
		{"non-canonical stack", func(e *env, r *regsPtr) { r.RSP = 0x0000800000000040 }},
		{"non-canonical stack, bit 63 and others above 47", func(e *env, r *regsPtr) { r.RSP = 0xdead000000001000 }},
		{"user mode, non-canonical kernel stack", func(e *env, r *regsPtr) {
			e.v.SetKernel(false)
			e.v.KernelSP = 0x0000800000001000
		}},
		{"stack below zero", func(e *env, r *regsPtr) { r.RSP = 0x20 }},
		{"unmapped stack", func(e *env, r *regsPtr) { r.RSP = 0xffff888000300000 }},
		{"read-only stack", func(e *env, r *regsPtr) { e.kstack.ro = true }},
		{"user mode, no kernel stack", func(e *env, r *regsPtr) {
			e.v.SetKernel(false)
			e.v.KernelSP = 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.setTrap(arch.VecDE, 0, handler)
			r := kregs()
			tc.set(e, &r)
			err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecDE})
			if !isCrash(err) {
				t.Fatalf("err %v, want a crash", err)
			}
			if err.(*Crash).Reason == "" {
				t.Error("crash without a reason")
			}
		})
	}
}

type regsPtr = arch.Regs

func TestDeliverEvent(t *testing.T) {
	e := newEnv()
	e.v.RegisterCallback(abi.CALLBACKTYPE_event, 0, handler)
	r := kregs()
	e.info.pending = true
	e.info.mask = 1
	if ok, err := e.v.DeliverEvent(&r); ok || err != nil {
		t.Fatal("delivered while masked")
	}
	e.info.mask = 0
	e.info.pending = false
	if ok, _ := e.v.DeliverEvent(&r); ok {
		t.Fatal("delivered with nothing pending")
	}
	e.info.pending = true
	orig := r
	if ok, err := e.v.DeliverEvent(&r); !ok || err != nil {
		t.Fatalf("not delivered: %v", err)
	}
	want := []uint64{orig.RCX, orig.R11, orig.RIP, 0xe030, orig.RFLAGS | flagIF, orig.RSP, 0xe02b}
	if got := e.frame(t, r.RSP, 7); !reflect.DeepEqual(got, want) {
		t.Errorf("frame\n got %#x\nwant %#x", got, want)
	}
	if e.info.mask != 1 || r.RIP != handler {
		t.Error("event delivery did not mask events or enter the callback")
	}
	// No event callback: crash.
	e2 := newEnv()
	e2.info.mask, e2.info.pending = 0, true
	r2 := kregs()
	if _, err := e2.v.DeliverEvent(&r2); !isCrash(err) {
		t.Errorf("no callback: %v, want a crash", err)
	}
}

func TestSyscall(t *testing.T) {
	// Kernel mode: a hypercall.
	e := newEnv()
	r := kregs()
	if hc, err := e.v.HandleSyscall(&r); !hc || err != nil {
		t.Fatal("kernel-mode SYSCALL is not a hypercall")
	}
	// User mode: bounce to the syscall callback.
	for _, mask := range []bool{false, true} {
		e := newEnv()
		flags := uint16(0)
		if mask {
			flags = abi.CALLBACKF_mask_events
		}
		e.v.RegisterCallback(abi.CALLBACKTYPE_syscall, flags, handler)
		e.v.StackSwitch(0xe02b, kstackTop)
		e.v.SetKernel(false)
		e.info.mask = 0
		r := uregs()
		r.RCX = utext + 2 // the CPU's return address
		r.R11 = 0x246 | flagDF
		r.RIP = utext + 2
		r.RFLAGS = 0x2
		hc, err := e.v.HandleSyscall(&r)
		if hc || err != nil {
			t.Fatalf("user SYSCALL: hypercall %v err %v", hc, err)
		}
		want := []uint64{utext + 2, 0x246 | flagDF, utext + 2, 0xe033, 0x246 | flagDF, ustackTop - 0x40, 0xe02b}
		if got := e.frame(t, kstackTop-56, 7); !reflect.DeepEqual(got, want) {
			t.Errorf("frame\n got %#x\nwant %#x", got, want)
		}
		if r.RFLAGS&flagDF != 0 || r.RIP != handler || !e.v.Kernel() {
			t.Error("DF not cleared or not in kernel at the callback")
		}
		if wantMask := map[bool]uint8{false: 0, true: 1}[mask]; e.info.mask != wantMask {
			t.Errorf("mask %d, want %d", e.info.mask, wantMask)
		}
	}
	// A 32-bit process uses the syscall32 callback.
	e = newEnv()
	e.v.RegisterCallback(abi.CALLBACKTYPE_syscall, 0, handler)
	e.v.RegisterCallback(abi.CALLBACKTYPE_syscall32, abi.CALLBACKF_mask_events, handler+0x40)
	e.v.StackSwitch(0xe02b, kstackTop)
	e.v.SetKernel(false)
	e.info.mask = 0
	r = uregs()
	r.CS, r.RCX = abi.FLAT_USER_CS32, 0x8000
	if _, err := e.v.HandleSyscall(&r); err != nil {
		t.Fatal(err)
	}
	if r.RIP != handler+0x40 || e.mem.read64(t, r.RSP+24, KernelSpace) != abi.FLAT_USER_CS32 || e.info.mask != 1 {
		t.Errorf("syscall32: rip %#x", r.RIP)
	}
	// No syscall callback: #UD at the SYSCALL.
	e = newEnv()
	e.setTrap(arch.VecUD, 0, handler+0x100)
	e.v.StackSwitch(0xe02b, kstackTop)
	e.v.SetKernel(false)
	r = uregs()
	r.RCX, r.RIP = utext+2, utext+2
	if _, err := e.v.HandleSyscall(&r); err != nil {
		t.Fatal(err)
	}
	if got := e.mem.read64(t, r.RSP+16, KernelSpace); got != utext || r.RIP != handler+0x100 {
		t.Errorf("no callback: frame RIP %#x (want %#x), RIP %#x", got, utext, r.RIP)
	}
}

func TestVirtualTS(t *testing.T) {
	e := newEnv()
	e.setTrap(arch.VecNM, 0, handler)
	r := kregs()
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecNM}); err != nil || r.RIP != ktext {
		t.Fatal("#NM without virtual TS reached the guest")
	}
	e.v.FPUTaskswitch(true)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecNM}); err != nil || r.RIP != handler {
		t.Fatal("#NM with virtual TS not bounced")
	}
	if e.v.TS {
		t.Error("virtual TS not cleared")
	}
}

// exceptionsWithErrorCode is written out from the architecture, not taken
// from the code under test: the vectors for which the CPU pushes an error
// code (Intel SDM vol. 3 table 6-1, "Error Code" column; Xen's
// X86_EXC_HAVE_EC): #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14, #AC 17,
// #CP 21. (Xen's set also has AMD's #VC 29 and #SX 30, which a PV guest
// never takes; they are left out of the table below.)
var exceptionsWithErrorCode = map[uint8]bool{8: true, 10: true, 11: true, 12: true, 13: true, 14: true, 17: true, 21: true}

// TestBounceErrorCodeVectors bounces every exception vector 0-28 and 31 to
// the guest kernel and checks the frame: the error code is pushed for
// exactly the vectors of exceptionsWithErrorCode (between R11 and RIP), and
// the frame of any other vector has no error-code slot at all, so a #XM
// (19) or #MF (16) carrying one is caught.
func TestBounceErrorCodeVectors(t *testing.T) {
	const ec = 0xec0da // bit 2 clear: a #PF from the guest kernel reports supervisor mode
	var vecs []uint8
	for v := uint8(0); v < 32; v++ {
		if v != 29 && v != 30 {
			vecs = append(vecs, v)
		}
	}
	with := 0
	for _, vec := range vecs {
		if exceptionsWithErrorCode[vec] {
			with++
		}
		t.Run(fmt.Sprintf("vector%d", vec), func(t *testing.T) {
			e := newEnv()
			e.setTrap(vec, 0, handler)
			e.info.mask = 0
			r := kregs()
			r.RFLAGS = 0x202
			orig := r
			if err := e.v.InjectException(&r, vec, ec, 0); err != nil {
				t.Fatal(err)
			}
			want := []uint64{orig.RCX, orig.R11}
			if exceptionsWithErrorCode[vec] {
				want = append(want, ec)
			}
			want = append(want, orig.RIP, 0xe030, orig.RFLAGS, orig.RSP, 0xe02b)
			base := (orig.RSP &^ 0xf) - uint64(8*len(want))
			if r.RSP != base {
				t.Fatalf("rsp %#x after the bounce, want %#x: a frame of %d words (error code pushed: %v)",
					r.RSP, base, len(want), exceptionsWithErrorCode[vec])
			}
			if got := e.frame(t, base, len(want)); !reflect.DeepEqual(got, want) {
				t.Errorf("frame\n got %#x\nwant %#x", got, want)
			}
		})
	}
	if with != 8 {
		t.Errorf("%d vectors with an error code in the table, want 8", with)
	}
}

// TestBounceStackBit63 follows Xen 4.17's guest_access_mask_ptr: a stack
// top below HYPERVISOR_VIRT_END loses bit 63, so (1<<63)|a puts the frame
// at a; the frame keeps the guest's own RSP.
func TestBounceStackBit63(t *testing.T) {
	const alias = 0x0000000000200000
	for _, user := range []bool{false, true} {
		t.Run(fmt.Sprintf("user=%v", user), func(t *testing.T) {
			e := newEnv()
			e.mem.add(alias, 0x1000, KernelSpace)
			e.setTrap(arch.VecSS, 0, handler)
			r := kregs()
			top := uint64(1<<63 | alias + 0x1000)
			if user {
				r = uregs()
				e.v.SetKernel(false)
				e.v.KernelSP = top
			} else {
				r.RSP = top
			}
			orig := r
			if err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecSS}); err != nil {
				t.Fatal(err)
			}
			base := uint64(alias + 0x1000 - 8*8)
			if r.RSP != base || r.RIP != handler {
				t.Fatalf("rsp %#x rip %#x, want %#x %#x", r.RSP, r.RIP, base, uint64(handler))
			}
			f := e.frame(t, base, 8)
			if f[2] != 0 || f[3] != orig.RIP || f[6] != orig.RSP {
				t.Errorf("frame %#x: want error 0, rip %#x, rsp %#x", f, orig.RIP, orig.RSP)
			}
		})
	}
}
