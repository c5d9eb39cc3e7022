package hw

import "testing"

func TestLAPICEncodings(t *testing.T) {
	if got := LAPICBase(0xFEE00900); got != 0xFEE00000 {
		t.Errorf("LAPICBase %#x", got)
	}
	if got := LAPICEnableMSR(0xFEE00100); got != 0xFEE00900 {
		t.Errorf("LAPICEnableMSR %#x", got)
	}
	if got := LAPICSVR(0xFF); got != 0x1FF {
		t.Errorf("SVR %#x", got)
	}
	if got := LAPICTimerLVT(0x20, true); got != 0x20020 {
		t.Errorf("periodic LVT %#x", got)
	}
	if got := LAPICTimerLVT(0x20, false); got != 0x20 {
		t.Errorf("one-shot LVT %#x", got)
	}
	if LAPICLVTMasked != 0x10000 || LAPICTimerDCR != 3 {
		t.Errorf("masked %#x DCR %#x", LAPICLVTMasked, LAPICTimerDCR)
	}
}

func TestLAPICTimerHz(t *testing.T) {
	for _, c := range []struct {
		counts, delta, tscHz, want uint64
		ok                         bool
	}{
		{625000, 30000000, 3000000000, 62500000, true}, // 10 ms at 62.5 MHz, 3 GHz TSC
		{1, 1, 1, 1, true},
		{0, 100, 1000, 0, false},
		{100, 0, 1000, 0, false},
		{1 << 40, 1, 1 << 40, 0, false}, // the quotient overflows 64 bits
		{1 << 33, 1, 1, 0, false},       // implausibly fast
	} {
		got, ok := LAPICTimerHz(c.counts, c.delta, c.tscHz)
		if got != c.want || ok != c.ok {
			t.Errorf("LAPICTimerHz(%d, %d, %d) = %d, %v; want %d, %v", c.counts, c.delta, c.tscHz, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		hz, tick uint64
		want     uint32
	}{
		{62500000, 1000, 62500},
		{62500499, 1000, 62500},
		{62500500, 1000, 62501},
		{100, 1000, 1},
		{1 << 50, 1, 0xFFFFFFFF},
		{5, 0, 0xFFFFFFFF},
	} {
		if got := LAPICTimerInitial(c.hz, c.tick); got != c.want {
			t.Errorf("LAPICTimerInitial(%d, %d) = %d, want %d", c.hz, c.tick, got, c.want)
		}
	}
}

func TestIOAPICEncodings(t *testing.T) {
	if v, n := IOAPICVersion(0x00170020); v != 0x20 || n != 24 {
		t.Errorf("version %#x pins %d", v, n)
	}
	if id := IOAPICID(0x0A000000); id != 0xA {
		t.Errorf("ID %d", id)
	}
	if got := IOAPICRedir(0x24, 0, false, false, false); got != 0x24 {
		t.Errorf("edge high %#x", got)
	}
	if got := IOAPICRedir(0x29, 3, true, true, true); got != 0x03000000_0001A029 {
		t.Errorf("level low masked %#x", got)
	}
	if IOAPICRedirReg(0) != 0x10 || IOAPICRedirReg(23) != 0x3E {
		t.Errorf("redirection registers %#x %#x", IOAPICRedirReg(0), IOAPICRedirReg(23))
	}
}

func TestICR(t *testing.T) {
	if ICRInit != 0x4500 || ICRStartup(8) != 0x4608 || ICRFixed(0xF0) != 0x40F0 || ICRDest(3) != 0x03000000 || ICRPending != 0x1000 {
		t.Errorf("ICR encodings %#x %#x %#x %#x", ICRInit, ICRStartup(8), ICRFixed(0xF0), ICRDest(3))
	}
}

func TestDeviceVectors(t *testing.T) {
	if DeviceVecBase < 0x30 || DeviceVecBase+DeviceVecs > LAPICSpuriousVec {
		t.Errorf("device vectors %#x+%d overlap the 8259's (and rt's IPI, the 8259's line 2) or the spurious vector", DeviceVecBase, DeviceVecs)
	}
	for v, want := range map[uint8]bool{DeviceVecBase - 1: false, DeviceVecBase: true,
		DeviceVecBase + DeviceVecs - 1: true, DeviceVecBase + DeviceVecs: false, 0xff: false, 0: false} {
		if got := IsDeviceVector(v); got != want {
			t.Errorf("IsDeviceVector(%#x) = %v, want %v", v, got, want)
		}
	}
	for _, c := range []struct {
		low    uint32
		masked bool
		want   uint32
	}{{0xA031, true, 0x1A031}, {0x1A031, false, 0xA031}, {0x10000, true, 0x10000}, {0x31, false, 0x31}} {
		if got := IOAPICRedirSetMask(c.low, c.masked); got != c.want {
			t.Errorf("IOAPICRedirSetMask(%#x, %v) = %#x, want %#x", c.low, c.masked, got, c.want)
		}
	}
}

func TestLAPICTimerCount(t *testing.T) {
	for _, c := range []struct {
		hz, ns uint64
		want   uint32
	}{
		{62_500_000, 1_000_000, 62_500}, // 1 ms at 1 GHz / 16
		{62_500_000, 20_000, 1250},      // 20 us
		{62_500_000, 1, 1},              // rounded up
		{62_500_000, 0, 1},              // at least 1
		{100_000_000, 15, 2},            // 1.5 counts: up
		{1 << 34, 1_000_000_000, 0xFFFFFFFF},
	} {
		if got := LAPICTimerCount(c.hz, c.ns); got != c.want {
			t.Errorf("LAPICTimerCount(%d, %d) = %d, want %d", c.hz, c.ns, got, c.want)
		}
	}
}
