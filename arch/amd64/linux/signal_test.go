package linux

import "testing"

func TestSignalNumbers(t *testing.T) {
	for sig, want := range map[uintptr][2]bool{
		0: {false, false}, 1: {true, true}, SIGKILL: {true, false}, SIGSTOP: {true, false},
		SIGURG: {true, true}, 64: {true, true}, 65: {false, false}, ^uintptr(0): {false, false},
	} {
		if ValidSignal(sig) != want[0] || Catchable(sig) != want[1] {
			t.Errorf("signal %d: valid %v catchable %v, want %v", sig, ValidSignal(sig), Catchable(sig), want)
		}
	}
	if SigBit(1) != 1 || SigBit(SIGURG) != 1<<22 || SigBit(64) != 1<<63 {
		t.Error("SigBit")
	}
}

func TestAltStack(t *testing.T) {
	const sp, size = 0xc000100000, 32 << 10
	for _, tc := range []struct {
		name string
		ss   AltStack
		want AltStack
		e    uintptr
	}{
		{"set", AltStack{sp, 0, size}, AltStack{sp, 0, size}, 0},
		{"set, onstack flag", AltStack{sp, SS_ONSTACK, size}, AltStack{sp, 0, size}, 0},
		{"disable", AltStack{sp, SS_DISABLE, size}, AltStack{0, SS_DISABLE, 0}, 0},
		{"too small", AltStack{sp, 0, MINSIGSTKSZ - 1}, AltStack{}, ENOMEM},
		{"wraps", AltStack{^uint64(0) - 100, 0, size}, AltStack{}, ENOMEM},
		{"unknown flags", AltStack{sp, 8, size}, AltStack{}, EINVAL},
	} {
		if got, e := SetAltStack(tc.ss); got != tc.want || e != tc.e {
			t.Errorf("%s: %+v %d, want %+v %d", tc.name, got, e, tc.want, tc.e)
		}
	}
	if r := (AltStack{}).Reported(); r != (AltStack{Flags: SS_DISABLE}) {
		t.Errorf("none reported as %+v", r)
	}
	if r := (AltStack{sp, 0, size}).Reported(); r != (AltStack{sp, 0, size}) {
		t.Errorf("stack reported as %+v", r)
	}
}

func TestSigFrame(t *testing.T) {
	a := AltStack{SP: 0xc000100000, Size: 32 << 10}
	top := uintptr(a.SP + a.Size)
	// Interrupted off the stack: at its top.
	if got, ok := SigFrameTop(&a, 0xc000200000); !ok || got != top {
		t.Errorf("off the stack: %#x %v", got, ok)
	}
	want := SigFrame{FP: top - 512, Info: top - 512 - 128, UC: top - 512 - 128 - 304, Frame: top - 512 - 128 - 304 - 8}
	if f := SigFrameAt(top); f != want {
		t.Errorf("SigFrameAt(%#x) = %+v, want %+v", top, f, want)
	}
	// Interrupted on the stack: below its red zone.
	if got, ok := SigFrameTop(&a, a.SP+0x4008); !ok || got != uintptr(a.SP)+0x4008-128 {
		t.Errorf("on the stack: %#x %v", got, ok)
	}
	if f := SigFrameAt(uintptr(a.SP) + 0x4008 - 128); f.FP != (uintptr(a.SP)+0x4008-128-512)&^63 {
		t.Errorf("unaligned top: %+v", f)
	}
	// No room: near the bottom, disabled, none.
	for _, tc := range []struct {
		a   AltStack
		rsp uint64
	}{
		{a, a.SP + 200}, {a, a.SP + 64}, {AltStack{SP: 0, Size: 4096}, 5},
		{AltStack{SP: a.SP, Flags: SS_DISABLE, Size: a.Size}, 0}, {AltStack{}, 0},
	} {
		if top, ok := SigFrameTop(&tc.a, tc.rsp); ok {
			t.Errorf("%+v at %#x: placed at %#x", tc.a, tc.rsp, top)
		}
	}
}

// FuzzSigFrame: a frame is placed inside the alternate stack, below the
// interrupted code's red zone if it ran there, with the alignments the
// handler and FXRSTOR need.
func FuzzSigFrame(f *testing.F) {
	f.Add(uint64(0xc000100000), uint64(32<<10), uint64(0xc000200000))
	f.Add(uint64(0xc000100000), uint64(32<<10), uint64(0xc000100400))
	f.Add(uint64(0xfffffffffffff000), uint64(4096), uint64(0))
	f.Add(uint64(0), uint64(4096), uint64(5)) // on the stack, below its red zone
	f.Fuzz(func(t *testing.T, sp, size, rsp uint64) {
		a, e := SetAltStack(AltStack{SP: sp, Size: size})
		if e != 0 {
			return
		}
		top, ok := SigFrameTop(&a, rsp)
		if !ok {
			return
		}
		fr := SigFrameAt(top)
		lo, hi := uintptr(a.SP), uintptr(a.SP+a.Size)
		if fr.Frame < lo || top > hi || !(fr.Frame < fr.UC && fr.UC < fr.Info && fr.Info < fr.FP && fr.FP+FXSize <= top) {
			t.Fatalf("stack [%#x, %#x): frame %+v below %#x", lo, hi, fr, top)
		}
		if fr.UC+UcontextSize > fr.Info || fr.Info+SiginfoSize > fr.FP {
			t.Fatalf("parts overlap: %+v", fr)
		}
		if fr.FP%64 != 0 || fr.Info%16 != 0 || (fr.Frame+8)%16 != 0 {
			t.Fatalf("misaligned: %+v", fr)
		}
		if rsp >= a.SP && rsp < a.SP+a.Size && uint64(top) > rsp-redZone {
			t.Fatalf("frame below %#x in the red zone below %#x", top, rsp)
		}
	})
}
