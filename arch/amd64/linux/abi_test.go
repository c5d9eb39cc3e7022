package linux

import "testing"

var win = Window{Base: 0x10000000, End: 0x20000000}

func TestMmap(t *testing.T) {
	const next = 0x10004000
	for _, tc := range []struct {
		name        string
		addr, n     uintptr
		prot, flags uint32
		m           Mapping
		next, errno uintptr
	}{
		{"anonymous", 0, 5000, 3, 0x22, Mapping{VA: next, Len: 0x2000, Do: Commit}, next + 0x3000, 0},
		{"hint ignored", 0x30000000, 0x1000, 3, 0x22, Mapping{VA: next, Len: 0x1000, Do: Commit}, next + 0x2000, 0},
		{"reservation", 0, 0x4000, ProtNone, 0x22, Mapping{VA: next, Len: 0x4000}, next + 0x5000, 0},
		{"fixed commit", 0x10100000, 0x1800, 3, MapFixed, Mapping{VA: 0x10100000, Len: 0x2000, Do: Release | Commit}, next, 0},
		{"fixed none", 0x10100000, 0x1000, ProtNone, MapFixed, Mapping{VA: 0x10100000, Len: 0x1000}, next, 0},
		{"zero length", 0, 0, 3, 0x22, Mapping{}, next, EINVAL},
		{"overflowing length", 0, ^uintptr(0), 3, 0x22, Mapping{}, next, ENOMEM},
		{"window filled", 0, 0x0fffb000, 3, 0x22, Mapping{VA: next, Len: 0x0fffb000, Do: Commit}, 0x20000000, 0},
		{"full window", 0, 0x10000000 - 0x4000, 3, 0x22, Mapping{}, next, ENOMEM},
		{"window exhausted", 0, 0x0fffc000, 3, 0x22, Mapping{}, next, ENOMEM},
		{"fixed unaligned", 0x10100010, 0x1000, 3, MapFixed, Mapping{}, next, EINVAL},
		{"fixed outside", 0x20000000, 0x1000, 3, MapFixed, Mapping{}, next, EINVAL},
		{"fixed straddling", 0x1ffff000, 0x2000, 3, MapFixed, Mapping{}, next, EINVAL},
	} {
		w := win
		w.Next = next
		m, e := w.Mmap(tc.addr, tc.n, tc.prot, tc.flags)
		if nn := w.Next; m != tc.m || nn != tc.next || e != tc.errno {
			t.Errorf("%s: %+v %#x %d, want %+v %#x %d", tc.name, m, w.Next, e, tc.m, tc.next, tc.errno)
		}
	}
}

func TestMunmapMadviseMprotect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		got   result
		wantM Mapping
		wantE uintptr
	}{
		{"munmap", r(win.Munmap(0x10002000, 0x1001)), Mapping{VA: 0x10002000, Len: 0x2000, Do: Release}, 0},
		{"munmap empty", r(win.Munmap(0x10002000, 0)), Mapping{VA: 0x10002000}, 0},
		{"munmap unaligned", r(win.Munmap(0x10002001, 0x1000)), Mapping{}, EINVAL},
		{"munmap outside", r(win.Munmap(0x1000, 0x1000)), Mapping{}, EINVAL},
		{"munmap huge", r(win.Munmap(0x10002000, ^uintptr(0)-10)), Mapping{}, EINVAL},
		{"dontneed", r(win.Madvise(0x10002000, 0x800, MadvDontneed)), Mapping{VA: 0x10002000, Len: 0x1000, Do: Release | Keep}, 0},
		{"free", r(win.Madvise(0x10002000, 0x3000, MadvFree)), Mapping{VA: 0x10002000, Len: 0x3000, Do: Release | Keep}, 0},
		{"hugepage", r(win.Madvise(0x10002000, 0x3000, 14)), Mapping{}, 0},
		{"dontneed outside", r(win.Madvise(0x30000000, 0x1000, MadvDontneed)), Mapping{}, 0},
		{"dontneed unaligned", r(win.Madvise(0x10002008, 0x1000, MadvDontneed)), Mapping{}, EINVAL},
		{"mprotect rw", r(win.Mprotect(0x10002000, 0x1800, 3)), Mapping{VA: 0x10002000, Len: 0x2000, Do: Commit}, 0},
		{"mprotect none", r(win.Mprotect(0x10002000, 0x1800, ProtNone)), Mapping{VA: 0x10002000, Len: 0x2000}, 0},
		{"mprotect outside", r(win.Mprotect(0x0fff0000, 0x100000, 3)), Mapping{}, EINVAL},
	} {
		if tc.got.m != tc.wantM || tc.got.e != tc.wantE {
			t.Errorf("%s: %+v %d, want %+v %d", tc.name, tc.got.m, tc.got.e, tc.wantM, tc.wantE)
		}
	}
}

type result struct {
	m Mapping
	e uintptr
}

func r(m Mapping, e uintptr) result { return result{m, e} }

// FuzzMmap: every mapping the decoder grants is page-aligned and inside
// the window, and the bump pointer only moves forward, past a guard page.
func FuzzMmap(f *testing.F) {
	f.Add(uint64(0x10004000), uint64(0), uint64(5000), uint64(3), uint64(0x22))
	f.Add(uint64(0x10004000), uint64(0x10100000), uint64(0x1000), uint64(3), uint64(MapFixed))
	f.Fuzz(func(t *testing.T, next, addr, n, prot, flags uint64) {
		next = uint64(win.Base) + next%uint64(win.End-win.Base)&^(PageSize-1)
		w := win
		w.Next = uintptr(next)
		m, e := w.Mmap(uintptr(addr), uintptr(n), uint32(prot), uint32(flags))
		nn := w.Next
		if e != 0 {
			if nn != uintptr(next) || m != (Mapping{}) {
				t.Errorf("failed call changed state: %+v %#x", m, nn)
			}
			return
		}
		if m.VA%PageSize != 0 || m.Len%PageSize != 0 || m.Len < uintptr(n) || !win.Contains(m.VA, m.Len) {
			t.Errorf("mapping %+v for %#x bytes", m, n)
		}
		if flags&MapFixed == 0 && (m.VA != uintptr(next) || nn != m.VA+m.Len+PageSize || nn > win.End) {
			t.Errorf("mapping %+v moved next %#x to %#x", m, next, nn)
		}
	})
}

func TestFutexOp(t *testing.T) {
	for op, want := range map[uintptr]struct {
		cmd uintptr
		ok  bool
	}{
		0: {FutexWait, true}, 128: {FutexWait, true}, 1: {FutexWake, true}, 129: {FutexWake, true},
		9: {9, false}, 256: {256, false}, 3: {3, false},
	} {
		if cmd, ok := FutexOp(op); cmd != want.cmd || ok != want.ok {
			t.Errorf("FutexOp(%d) = %d %v", op, cmd, ok)
		}
	}
}

func TestCloneIsThread(t *testing.T) {
	// The Go runtime's cloneFlags (runtime/os_linux.go).
	const goFlags = 0x100 | 0x200 | 0x400 | 0x800 | 0x40000 | 0x10000
	for flags, want := range map[uintptr]bool{goFlags: true, CloneVM | CloneThread: true, 0x11: false, CloneThread: false, CloneVM: false} {
		if CloneIsThread(flags) != want {
			t.Errorf("CloneIsThread(%#x) != %v", flags, want)
		}
	}
}

func TestSigprocmask(t *testing.T) {
	for _, tc := range []struct {
		mask, set uint64
		how       uintptr
		want      uint64
		ok        bool
	}{
		{0b0101, 0b0011, SigBlock, 0b0111, true},
		{0b0101, 0b0011, SigUnblock, 0b0100, true},
		{0b0101, 0b0011, SigSetmask, 0b0011, true},
		{0b0101, 0b0011, 3, 0b0101, false},
	} {
		if got, ok := Sigprocmask(tc.mask, tc.how, tc.set); got != tc.want || ok != tc.ok {
			t.Errorf("Sigprocmask(%b, %d, %b) = %b %v", tc.mask, tc.how, tc.set, got, ok)
		}
	}
}

func TestClocks(t *testing.T) {
	for id, want := range map[uintptr]bool{0: true, 1: false, 4: false, 5: true, 7: false, 8: true} {
		if IsRealtime(id) != want {
			t.Errorf("IsRealtime(%d) != %v", id, want)
		}
	}
}

func TestTimespec(t *testing.T) {
	const maxInt64 = 1<<63 - 1
	for _, tc := range []struct {
		sec, nsec, ns int64
		ok            bool
	}{
		{0, 0, 0, true}, {1, 500, 1e9 + 500, true}, {0, 999999999, 999999999, true},
		{0, 1e9, 0, false}, {-1, 0, 0, false}, {0, -1, 0, false},
		{maxInt64 / 1000000000, 999999999, maxInt64, true}, {maxInt64, 0, maxInt64, true},
		{maxInt64 / 1000000000, 854775807, maxInt64, true}, {maxInt64 / 1000000000, 854775806, maxInt64 - 1, true},
	} {
		if ns, ok := TimespecNs(tc.sec, tc.nsec); ns != tc.ns || ok != tc.ok {
			t.Errorf("TimespecNs(%d, %d) = %d %v", tc.sec, tc.nsec, ns, ok)
		}
	}
	if d := Deadline(10, 5); d != 15 {
		t.Errorf("Deadline(10, 5) = %d", d)
	}
	if d := Deadline(10, maxInt64-5); d != maxInt64 {
		t.Errorf("Deadline saturates: %d", d)
	}
}

func TestErrno(t *testing.T) {
	if int64(Errno(EINVAL)) != -22 || int64(Errno(ENOSYS)) != -38 {
		t.Error("Errno")
	}
}

// TestNoAllocation: the shim decodes on a kernel stack with interrupts
// off, where nothing may allocate.
func TestNoAllocation(t *testing.T) {
	w := win
	w.Next = w.Base
	var sink uintptr
	n := testing.AllocsPerRun(10, func() {
		m, e := w.Mmap(0, 5000, 3, 0x22)
		sink += m.VA + e
		m, e = w.Munmap(m.VA, m.Len)
		sink += m.VA + e
		m, e = w.Madvise(0x10002000, 0x1000, MadvDontneed)
		sink += m.Len + e
		m, e = w.Mprotect(0x10002000, 0x1000, 3)
		sink += m.Len + e
		cmd, _ := FutexOp(129)
		mask, _ := Sigprocmask(1, SigBlock, 2)
		ns, _ := TimespecNs(1, 2)
		a, _ := SetAltStack(AltStack{SP: 0xc000100000, Size: 32 << 10})
		top, _ := SigFrameTop(&a, 0)
		sink += SigFrameAt(top).Frame + uintptr(a.Reported().Size)
		if CloneIsThread(CloneVM|CloneThread) && IsRealtime(0) && Catchable(SIGURG) {
			sink += cmd + uintptr(mask) + uintptr(Deadline(ns, 1))
		}
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
	_ = sink
}

func TestSleepFor(t *testing.T) {
	const min, tick = 20_000, 1_000_000
	for _, c := range []struct{ ns, want int64 }{
		{-5, 0},
		{0, 0},
		{3_000, 3_000},           // a spin-wait (the runtime's usleep(3)) as asked
		{19_999, 19_999},         // just under min
		{20_000, tick},           // sysmon's first sleep: a whole period
		{40_000, tick},           // its doubled ones
		{999_999, tick},          // just under a period
		{1_000_000, 1_000_000},   // a period
		{10_000_000, 10_000_000}, // sysmon's longest
		{1<<63 - 1, 1<<63 - 1},
	} {
		if got := SleepFor(c.ns, min, tick); got != c.want {
			t.Errorf("SleepFor(%d) = %d, want %d", c.ns, got, c.want)
		}
	}
}
