package pv

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
)

// FuzzHandleException runs arbitrary instruction bytes at RIP with
// arbitrary registers through the exception path. It must never panic,
// return only nil or *Crash, and write guest memory only for a bounce
// frame just below the stack it uses or for INS at RDI.
func FuzzHandleException(f *testing.F) {
	f.Add([]byte{0x0f, 0x30}, uint8(13), uint64(0), true, uint64(MSR_GS_BASE), uint64(0), uint64(0), uint64(0x202), uint64(0), uint8(0))
	f.Add([]byte{0xf3, 0x6c}, uint8(13), uint64(0), true, uint64(3), uint64(0), uint64(0), uint64(0x602), uint64(kstackBase), uint8(1))
	f.Add([]byte{0xcd, 0x80}, uint8(13), uint64(0x402), false, uint64(0), uint64(0), uint64(0), uint64(0x202), uint64(0), uint8(3))
	f.Add([]byte{0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2}, uint8(6), uint64(0), true, uint64(0), uint64(0x40000000), uint64(0), uint64(0x202), uint64(0), uint8(0))
	f.Add([]byte{0x0f, 0x22, 0xd8}, uint8(13), uint64(0), true, uint64(0), uint64(0x1000), uint64(0), uint64(0x302), uint64(0), uint8(0))
	f.Add([]byte{0x66, 0x6f}, uint8(13), uint64(0), false, uint64(9), uint64(0), uint64(0x3f8), uint64(0x202), uint64(utext), uint8(3))
	f.Add([]byte{0xcc}, uint8(14), uint64(7), false, uint64(0), uint64(0), uint64(0), uint64(0x202), uint64(0), uint8(0))
	f.Fuzz(func(t *testing.T, code []byte, vec uint8, ec uint64, kernel bool, rcx, rax, rdx, rflags, rdi uint8Or64, iopl uint8) {
		if len(code) > 32 {
			code = code[:32]
		}
		e := emuEnv()
		e.v.IOPL = uint64(iopl&3) << 12
		e.dom.permitted = iopl&4 != 0
		e.dom.archIOPL = iopl&8 != 0
		e.v.IOBitmap, e.v.IOBitmapPorts = ktext+0x800, uint32(iopl)<<4
		e.info.mask = iopl >> 7
		e.info.pending = iopl&0x40 != 0
		e.v.RegisterCallback(abi.CALLBACKTYPE_event, 0, handler)
		var r arch.Regs
		if kernel {
			r = kregs()
		} else {
			e.v.SetKernel(false)
			e.tables.User = 0x99
			r = uregs()
		}
		r.RCX, r.RAX, r.RDX, r.RFLAGS, r.RDI, r.RSI = rcx, rax, rdx, rflags, rdi, rdi^0x800
		if iopl&0x10 != 0 {
			r.RSP = rdi // arbitrary stack
		}
		e.code(t, &r, code...)
		stackTop := r.RSP &^ 0xf
		if !kernel {
			stackTop = e.v.KernelSP &^ 0xf
		}
		rdi0 := r.RDI
		err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: vec, ErrorCode: ec, CR2: rax})
		if err != nil && !isCrash(err) {
			t.Fatalf("error %T %v", err, err)
		}
		midTop := r.RSP &^ 0xf // an event frame goes below the exception's
		if _, err := e.v.DeliverEvent(&r); err != nil && !isCrash(err) {
			t.Fatalf("deliver: %T %v", err, err)
		}
		// An emulated MOV to RSP (from a CR or DR) moves the stack the
		// single-step #DB frame then goes to.
		movesRSP := false
		padded := make([]byte, maxInsnLen)
		copy(padded, code)
		if in, err := x86asm.Decode(padded, 64); err == nil && in.Op == x86asm.MOV && in.Args[0] == x86asm.RSP {
			movesRSP = true
		}
		for _, w := range e.mem.writes {
			frame := (w.n == 56 || w.n == 64 || w.n == 88 || w.n == 96) && (w.va+uint64(w.n))%16 == 0
			if frame && (w.va+uint64(w.n) == stackTop || w.va+uint64(w.n) == midTop || movesRSP) || nearINS(w.va, rdi0) {
				continue
			}
			t.Fatalf("write of %d bytes at %#x outside the frame (stack %#x) and INS (rdi %#x)", w.n, w.va, stackTop, rdi0)
		}
	})
}

type uint8Or64 = uint64

func nearINS(va, rdi uint64) bool {
	const span = 4*maxRep + 4
	for _, d := range []uint64{rdi, rdi & 0xffffffff} {
		if va+span >= d && va <= d+span {
			return true
		}
	}
	return false
}

// FuzzWorkers drives the hypercall workers with arbitrary arguments: only
// Xen errno values come back, never a panic.
func FuzzWorkers(f *testing.F) {
	f.Add(uint8(0), uint64(0), uint64(0), uint64(0))
	f.Add(uint8(1), uint64(abi.CALLBACKTYPE_nmi), uint64(1), uint64(handler))
	f.Add(uint8(4), uint64(7), uint64(0x401), uint64(0))
	f.Fuzz(func(t *testing.T, op uint8, a, b, c uint64) {
		e := emuEnv()
		r := kregs()
		var errs []abi.Errno
		switch op % 7 {
		case 0:
			_, _, err := e.v.SetTrapTable(a, func() bool { return b&1 != 0 })
			errs = append(errs, err)
		case 1:
			errs = append(errs, e.v.RegisterCallback(uint16(a), uint16(b), c), e.v.UnregisterCallback(uint16(b)))
		case 2:
			errs = append(errs, e.v.SetSegmentBase(&r, a, b))
		case 3:
			errs = append(errs, e.v.SetCallbacks(a, b, c), e.v.StackSwitch(a, b), e.v.FPUTaskswitch(c&1 != 0))
		case 4:
			errs = append(errs, e.v.SetDebugReg(int(int8(a)), b))
			_, err := e.v.GetDebugReg(int(int8(c)))
			errs = append(errs, err)
		case 5:
			e.v.CR4 = e.v.Policy.FixupCR4(a)
			_, _, _, _ = e.v.CPUID(uint32(b), uint32(c))
		case 6:
			if _, err := e.v.Iret(&r); err != nil && !isCrash(err) {
				t.Fatal(err)
			}
		}
		for _, err := range errs {
			if err != 0 && !err.GuestVisible() {
				t.Fatalf("op %d: errno %v", op%7, err)
			}
		}
	})
}
