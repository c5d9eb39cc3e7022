package arch

import "testing"

func TestArgs(t *testing.T) {
	var r Regs
	for i := 0; i < 5; i++ {
		r.SetArg(i, uint64(100+i))
	}
	want := []uint64{r.RDI, r.RSI, r.RDX, r.R10, r.R8}
	for i, w := range want {
		if w != uint64(100+i) || r.Arg(i) != w {
			t.Errorf("arg %d: reg %d Arg %d", i, w, r.Arg(i))
		}
	}
	if r.Arg(5) != 0 || r.RCX != 0 || r.R9 != 0 {
		t.Error("out-of-range argument touched a register")
	}
}

func TestErrorCodes(t *testing.T) {
	for v := 0; v < 32; v++ {
		want := v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
		if HasErrorCode(uint8(v)) != want {
			t.Errorf("vector %d", v)
		}
	}
}
