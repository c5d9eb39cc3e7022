package hv

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
	"github.com/gohv/gohv/sched"
)

// fakeMetal scripts guest exits: each step edits the registers as the
// guest would have, and says how it left.
type fakeMetal struct {
	mu      sync.Mutex
	out     bytes.Buffer
	steps   []func(r *arch.Regs) arch.Exit
	results []arch.Regs // registers as each step found them
	power   []string
	// TLB maintenance asked for: flushes of every CPU, local flushes
	// (the vCPUs they were for), single-page invalidations.
	flushes, invlpgs int
	locals           []int
	caches           []string // FlushCache calls: "local" or "global"
	gdt              []mm.MFN // the frames SetGDT last gave
	kicks            []int    // the vCPUs Kick was given
	// What Run found changed before each entry, and what it loaded.
	changed  []uint32
	dr       [4]uint64
	dr7, cr4 uint64
}

func (f *fakeMetal) Run(v *VCPU, regs *arch.Regs, cr3 mm.MFN) (arch.Exit, error) {
	f.results = append(f.results, *regs)
	// As the metal: reload what the PV layer changed.
	ch := v.TakeChanged()
	f.changed = append(f.changed, ch)
	if ch&pv.ChangedDebug != 0 {
		f.dr, f.dr7 = v.DebugRegs()
	}
	if ch&pv.ChangedCR4 != 0 {
		f.cr4 = v.LoadedCR4()
	}
	if len(f.steps) == 0 {
		return arch.Exit{}, errNoSteps
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	return s(regs), nil
}
func (f *fakeMetal) FlushTLB() { f.mu.Lock(); f.flushes++; f.mu.Unlock() }
func (f *fakeMetal) FlushLocalTLB(v *VCPU) {
	f.mu.Lock()
	f.locals = append(f.locals, v.id)
	f.mu.Unlock()
}
func (f *fakeMetal) Kick(v *VCPU) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kicks = append(f.kicks, v.id)
	return true
}
func (f *fakeMetal) InvalidatePage(va mm.GuestVA)    { f.mu.Lock(); f.invlpgs++; f.mu.Unlock() }
func (f *fakeMetal) SetGDT(v *VCPU, frames []mm.MFN) { f.gdt = append([]mm.MFN(nil), frames...) }
func (f *fakeMetal) FlushCache(global bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if global {
		f.caches = append(f.caches, "global")
	} else {
		f.caches = append(f.caches, "local")
	}
}
func (f *fakeMetal) WriteRaw(p []byte) { f.mu.Lock(); f.out.Write(p); f.mu.Unlock() }
func (f *fakeMetal) PowerOff()         { f.power = append(f.power, "poweroff") }
func (f *fakeMetal) Reboot()           { f.power = append(f.power, "reboot") }
func (f *fakeMetal) Halt()             { f.power = append(f.power, "halt") }

type errString string

func (e errString) Error() string { return string(e) }

const errNoSteps = errString("script ended")

// testGuest is a machine with one domain whose vCPU 0 runs on a four-level
// page table mapping one data page at dataVA.
const dataVA = 0x400000

func testGuest(t testing.TB, hardware bool) (*Machine, *Domain, *fakeMetal, *bytes.Buffer, mm.MFN) {
	t.Helper()
	return testGuestIO(t, hardware, nil)
}

// ioCaps is an mm.IOPolicy with I/O port capabilities and no I/O memory.
type ioCaps struct{}

func (ioCaps) IOMemAllowed(mm.MFN) bool { return false }
func (ioCaps) HasIOCaps() bool          { return true }

// testGuestIO is testGuest with the domain's I/O policy.
func testGuestIO(t testing.TB, hardware bool, io mm.IOPolicy) (*Machine, *Domain, *fakeMetal, *bytes.Buffer, mm.MFN) {
	t.Helper()
	m, fm, logBuf := testMachine(t)
	mem, alloc, ft, m2p := m.cfg.Mem, m.cfg.Alloc, m.cfg.Frames, m.cfg.M2P
	d, err := m.CreateDomain(DomainConfig{ID: 0, VCPUs: 1, Hardware: hardware, IO: io})
	if err != nil {
		t.Fatal(err)
	}
	// L4 -> L3 -> L2 -> L1 -> data page at dataVA; tables read-only-mapped
	// nowhere (they are not mapped at all), data writable.
	var f [5]mm.MFN
	for i := range f {
		f[i], _ = alloc.Alloc()
		if err := ft.Assign(f[i], 0); err != nil {
			t.Fatal(err)
		}
		m2p.Set(f[i], uint64(i))
	}
	const p, w, u = 1, 2, 4
	put := func(tbl mm.MFN, idx int, v uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		mem.Write(tbl.Addr()+mm.Maddr(idx*8), b[:])
	}
	put(f[0], 0, uint64(f[1].Addr())|p|w|u)
	put(f[1], 0, uint64(f[2].Addr())|p|w|u)
	put(f[2], 2, uint64(f[3].Addr())|p|w|u)
	put(f[3], 0, uint64(f[4].Addr())|p|w|u)
	v := d.VCPU(0)
	var pin, base abi.MmuextOp
	pin.Cmd = abi.MMUEXT_PIN_L4_TABLE
	pin.SetArg1(uint64(f[0]))
	base.Cmd = abi.MMUEXT_NEW_BASEPTR
	base.SetArg1(uint64(f[0]))
	if n, e := d.Space().MMUExtOp(v.Tables(), []abi.MmuextOp{pin, base}, nil, nil); e != 0 {
		t.Fatalf("pin/baseptr: %d done, %v", n, e)
	}
	return m, d, fm, logBuf, f[4]
}

// testMachine is a machine of 8192 frames (32 MiB) with no domain, on
// the scripted metal.
func testMachine(t testing.TB) (*Machine, *fakeMetal, *bytes.Buffer) {
	t.Helper()
	mem := mmtest.NewMemory(8192)
	alloc := mm.NewAllocator([]mm.Range{{Start: 0, End: 8192 * mm.PageSize}}, []mm.Range{{Start: 0, End: 1 << 20}})
	first, ok := alloc.AllocContig(mm.M2PFrames(uint64(alloc.FrameLimit())), ^mm.Maddr(0), 1)
	if !ok {
		t.Fatal("no M2P frames")
	}
	m2p, err := mm.NewM2P(mem, first, uint64(alloc.FrameLimit()))
	if err != nil {
		t.Fatal(err)
	}
	m2pL4, err := M2PMapping(mem, alloc, m2p)
	if err != nil {
		t.Fatal(err)
	}
	ft, err := mm.NewFrameTable(mm.FrameTableConfig{Mem: mem, Alloc: alloc, M2P: m2p, CheckSegDescPage: CheckSegDescPage,
		XenL4Slots: func(mm.MFN) (s [mm.XenL4SlotCount]uint64) { s[0] = m2pL4; return s }})
	if err != nil {
		t.Fatal(err)
	}
	fm := &fakeMetal{}
	var logBuf bytes.Buffer
	clock := sched.NewHostClock()
	m := NewMachine(Config{Mem: mem, Alloc: alloc, Frames: ft, M2P: m2p, Log: klog.New(&logBuf, clock.Now),
		Console: fm, Power: fm, Clock: clock, Timers: clock, Backend: fm})
	return m, fm, &logBuf
}

func hypercallExit(nr uint64, args ...uint64) func(r *arch.Regs) arch.Exit {
	return func(r *arch.Regs) arch.Exit {
		r.RAX = nr
		for i, a := range args {
			r.SetArg(i, a)
		}
		r.RIP += 2
		return arch.Exit{Kind: arch.ExitSyscall}
	}
}

// TestRunHelloSequence: the hello guest's hypercalls through the run loop:
// xen_version, console_io from guest memory, an unknown hypercall, then
// SCHEDOP_shutdown(poweroff), which powers the machine off.
func TestRunHelloSequence(t *testing.T) {
	m, d, fm, logBuf, data := testGuest(t, true)
	msg := []byte("hello from PV\n")
	m.cfg.Mem.Write(data.Addr(), msg)
	var reason [4]byte // SHUTDOWN_poweroff
	m.cfg.Mem.Write(data.Addr()+0x100, reason[:])
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_xen_version, 0, 0),
		hypercallExit(abi.HYPERVISOR_console_io, abi.CONSOLEIO_write, uint64(len(msg)), dataVA),
		hypercallExit(11),
		func(r *arch.Regs) arch.Exit { return arch.Exit{Kind: arch.ExitInterrupt, Vector: 0x20} },
		hypercallExit(abi.HYPERVISOR_sched_op, abi.SCHEDOP_shutdown, dataVA+0x100),
	}
	d.VCPU(0).Regs.RIP = 0x1000
	d.VCPU(0).Run()
	got := fm.results
	if len(got) != 5 {
		t.Fatalf("%d entries, want 5 (log: %s)", len(got), logBuf)
	}
	if got[1].RAX != 0x00040011 {
		t.Errorf("xen_version: %#x", got[1].RAX)
	}
	if got[2].RAX != 0 || fm.out.String() != string(msg) {
		t.Errorf("console_io: rax %#x, console %q", got[2].RAX, fm.out.String())
	}
	if int64(got[3].RAX) != -38 {
		t.Errorf("hypercall 11: %d", int64(got[3].RAX))
	}
	if got[4].RIP != 0x1000+6 {
		t.Errorf("RIP after three hypercalls and an interrupt: %#x", got[4].RIP)
	}
	if strings.Join(fm.power, ",") != "poweroff" || !d.Stopped() {
		t.Errorf("power %v, stopped %v", fm.power, d.Stopped())
	}
	if !strings.Contains(logBuf.String(), "Hardware Dom0 halted: powering off machine") {
		t.Errorf("log: %s", logBuf)
	}
	s, e, i := d.VCPU(0).Exits()
	if s != 4 || e != 0 || i != 1 {
		t.Errorf("exits %d/%d/%d", s, e, i)
	}
}

// TestUnhandledExceptionCrashes: an exception the guest has no handler for
// crashes it; for the hardware domain that reboots the machine (or halts
// with noreboot), with Xen's lines.
func TestUnhandledExceptionCrashes(t *testing.T) {
	for _, noReboot := range []bool{false, true} {
		m, d, fm, logBuf, _ := testGuest(t, true)
		m.cfg.NoReboot = noReboot
		fm.steps = []func(*arch.Regs) arch.Exit{func(r *arch.Regs) arch.Exit {
			return arch.Exit{Kind: arch.ExitException, Vector: arch.VecUD}
		}}
		d.VCPU(0).Run()
		want, power := "rebooting machine in 5 seconds.", "reboot"
		if noReboot {
			want, power = "'noreboot' set - not rebooting.", "halt"
		}
		for _, l := range []string{"d0v0 Unhandled: vec 6, #UD[0000]", "Domain 0 (vcpu#0) crashed on cpu#0:", "Hardware Dom0 crashed: " + want} {
			if !strings.Contains(logBuf.String(), l) {
				t.Errorf("noreboot=%v: log lacks %q:\n%s", noReboot, l, logBuf)
			}
		}
		if strings.Join(fm.power, ",") != power {
			t.Errorf("noreboot=%v: power %v", noReboot, fm.power)
		}
	}
}

// TestConsoleRead: serial input queued for the hardware domain comes back
// through console_io read, oldest first, and only once.
func TestConsoleRead(t *testing.T) {
	m, d, fm, _, data := testGuest(t, true)
	m.ConsoleInput([]byte("ls -l\n"))
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 3, dataVA),
		hypercallExit(abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 100, dataVA+16),
		hypercallExit(abi.HYPERVISOR_console_io, abi.CONSOLEIO_read, 100, dataVA+32),
	}
	d.VCPU(0).Run()
	r := fm.results
	var b [32]byte
	m.cfg.Mem.Read(data.Addr(), b[:])
	if r[1].RAX != 3 || r[2].RAX != 3 || r[3].RAX != 0 || string(b[:3]) != "ls " || string(b[16:19]) != "-l\n" {
		t.Fatalf("reads returned %d, %d, %d; memory %q", r[1].RAX, r[2].RAX, r[3].RAX, b)
	}
}

type fakeTime struct{ tsc uint64 }

func (f *fakeTime) Sample() (uint64, int64)   { f.tsc += 1000; return f.tsc, int64(f.tsc / 3) }
func (f *fakeTime) TSCHz() uint64             { return 3_000_000_000 }
func (f *fakeTime) WallClock() (int64, int32) { return 1_800_000_000, 123 }

// TestScaleFor: the pvclock scale turns TSC deltas into nanoseconds within
// a part per billion, across CPU speeds.
func TestScaleFor(t *testing.T) {
	for _, hz := range []uint64{1, 1000, 999_999_999, 1_000_000_000, 1_000_000_001, 2_600_000_000, 3_000_000_000, 5_000_000_000, 100_000_000_000} {
		s := ScaleFor(hz)
		for _, d := range []uint64{0, 1, hz, 10 * hz} {
			want := float64(d) * 1e9 / float64(hz)
			got := float64(s.Apply(d))
			if diff := got - want; diff > want*1e-8+1 || -diff > want*1e-8+1 {
				t.Errorf("hz %d delta %d: %v ns, want %v (scale %+v)", hz, d, got, want, s)
			}
		}
	}
}

// TestTimeInfo: a vCPU's vcpu_time_info and the domain's wall clock are
// written with the version protocol (even when done).
func TestTimeInfo(t *testing.T) {
	m, d, fm, _, _ := testGuest(t, true)
	m.cfg.Time = &fakeTime{}
	d.updateWallClock()
	fm.steps = []func(*arch.Regs) arch.Exit{hypercallExit(abi.HYPERVISOR_sched_op, abi.SCHEDOP_yield, 0)}
	d.VCPU(0).Run()
	var si [3136]byte
	m.cfg.Mem.Read(d.SharedInfo().Addr(), si[:])
	le := binary.LittleEndian
	ti := si[vcpuTimeOff:]
	if ver := le.Uint32(ti); ver == 0 || ver&1 != 0 {
		t.Errorf("time version %d", ver)
	}
	if tsc, sys := le.Uint64(ti[8:]), le.Uint64(ti[16:]); tsc == 0 || sys != tsc/3 {
		t.Errorf("tsc %d system_time %d", tsc, sys)
	}
	if mul, shift := le.Uint32(ti[24:]), int8(ti[28]); (TimeScale{mul, shift}) != ScaleFor(3_000_000_000) {
		t.Errorf("scale %d/%d", mul, shift)
	}
	if ver, sec, nsec := le.Uint32(si[wcVersionOff:]), le.Uint32(si[wcVersionOff+4:]), le.Uint32(si[wcVersionOff+8:]); ver&1 != 0 || ver == 0 || sec != 1_800_000_000 || nsec != 123 {
		t.Errorf("wall clock version %d sec %d nsec %d", ver, sec, nsec)
	}
}

// TestSetGDT: a GDT frame must be the domain's, not mapped writable, and
// hold only code/data (DPL raised to 3) or not-present descriptors.
func TestSetGDT(t *testing.T) {
	m, d, fm, _, data := testGuest(t, true)
	ok, _ := m.cfg.Alloc.Alloc()
	m.cfg.Frames.Assign(ok, 0)
	bad, _ := m.cfg.Alloc.Alloc()
	m.cfg.Frames.Assign(bad, 0)
	var desc [8]byte
	binary.LittleEndian.PutUint64(desc[:], 0x00af9a000000ffff) // 64-bit code, DPL 0
	m.cfg.Mem.Write(ok.Addr()+8, desc[:])
	binary.LittleEndian.PutUint64(desc[:], 0x0000890000000067) // a TSS
	m.cfg.Mem.Write(bad.Addr(), desc[:])
	list := func(off int, f mm.MFN) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(f))
		m.cfg.Mem.Write(data.Addr()+mm.Maddr(off), b[:])
	}
	list(0x200, ok)
	list(0x208, bad)
	list(0x210, data) // mapped writable
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_set_gdt, dataVA+0x200, 16),
		hypercallExit(abi.HYPERVISOR_set_gdt, dataVA+0x208, 16),
		hypercallExit(abi.HYPERVISOR_set_gdt, dataVA+0x210, 16),
		hypercallExit(abi.HYPERVISOR_set_gdt, dataVA+0x200, 7169),
	}
	d.VCPU(0).Run()
	r := fm.results
	for i, want := range []int64{0, -22, -22, -22} {
		if int64(r[i+1].RAX) != want {
			t.Errorf("set_gdt %d: %d, want %d", i, int64(r[i+1].RAX), want)
		}
	}
	var got [8]byte
	m.cfg.Mem.Read(ok.Addr()+8, got[:])
	if binary.LittleEndian.Uint64(got[:]) != 0x00affa000000ffff {
		t.Errorf("descriptor not raised to DPL 3: %#x", binary.LittleEndian.Uint64(got[:]))
	}
	if frames, _ := d.VCPU(0).pv.GDT(); len(frames) != 1 || frames[0] != ok {
		t.Errorf("gdt frames %v", frames)
	}
	if len(fm.gdt) != 1 || fm.gdt[0] != ok {
		t.Errorf("the Backend was given GDT frames %v, want [%#x]", fm.gdt, ok)
	}
}

// TestUpdateDescriptor: a descriptor goes into a descriptor page or an
// ordinary page of the domain's, DPL raised to 3; a system descriptor, a
// misaligned address, a page table and a frame not the domain's are -EINVAL.
func TestUpdateDescriptor(t *testing.T) {
	m, d, fm, _, data := testGuest(t, true)
	other, _ := m.cfg.Alloc.Alloc() // nobody's
	l4 := d.VCPU(0).tables.Kernel
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_update_descriptor, uint64(data.Addr())+16, 0x00cf92000000ffff),
		hypercallExit(abi.HYPERVISOR_update_descriptor, uint64(data.Addr())+16, 0x0000890000000067),
		hypercallExit(abi.HYPERVISOR_update_descriptor, uint64(data.Addr())+17, 0x00cf92000000ffff),
		hypercallExit(abi.HYPERVISOR_update_descriptor, uint64(l4.Addr()), 0x00cf92000000ffff),
		hypercallExit(abi.HYPERVISOR_update_descriptor, uint64(other.Addr()), 0x00cf92000000ffff),
	}
	d.VCPU(0).Run()
	for i, want := range []int64{0, -22, -22, -22, -22} {
		if got := int64(fm.results[i+1].RAX); got != want {
			t.Errorf("update_descriptor %d: %d, want %d", i, got, want)
		}
	}
	var b [8]byte
	m.cfg.Mem.Read(data.Addr()+16, b[:])
	if binary.LittleEndian.Uint64(b[:]) != 0x00cff2000000ffff {
		t.Errorf("descriptor %#x", binary.LittleEndian.Uint64(b[:]))
	}
}

// TestPageTableWrite: the guest kernel writes an entry of its own L1
// through a read-only mapping of it; gohv decodes the instruction, has the
// PV MMU check the new entry, writes it and retires the instruction. A
// refused entry becomes the guest's #PF (here: no handler, a crash).
func TestPageTableWrite(t *testing.T) {
	m, d, fm, logBuf, data := testGuest(t, true)
	v := d.VCPU(0)
	l4 := v.tables.Kernel
	// The L1 is the last table on the way to dataVA: map it read-only at
	// dataVA+0x1000 with an mmu_update (entry 1 of that same L1).
	walk := func(tbl mm.MFN, idx uint64) mm.MFN {
		w, _ := m.cfg.Mem.Load64(tbl.Addr() + mm.Maddr(idx*8))
		return mm.MFN(w >> 12 & 0xffffffffff)
	}
	l1 := walk(walk(walk(l4, 0), 0), 2)
	upd := []abi.MmuUpdate{{Ptr: uint64(l1.Addr()) + 8, Val: uint64(l1.Addr()) | 1 | 4}}
	if _, e := d.Space().MMUUpdate(upd, nil, nil); e != 0 {
		t.Fatalf("map the L1 read-only: %v", e)
	}
	other, _ := m.cfg.Alloc.Alloc() // no domain's
	code := []byte{
		0x48, 0x89, 0x37, // mov %rsi,(%rdi)
		0xf0, 0x48, 0x0f, 0xb1, 0x0f, // lock cmpxchg %rcx,(%rdi)
		0x48, 0x89, 0x37, // mov %rsi,(%rdi) (refused entry)
	}
	m.cfg.Mem.Write(data.Addr()+0x100, code)
	pte := uint64(data.Addr()) | 1 | 2 | 4
	fault := func(rip, rsi, rcx, rax uint64) func(r *arch.Regs) arch.Exit {
		return func(r *arch.Regs) arch.Exit {
			r.RIP, r.RDI, r.RSI, r.RCX, r.RAX = rip, dataVA+0x1000+16, rsi, rcx, rax
			return arch.Exit{Kind: arch.ExitException, Vector: arch.VecPF, ErrorCode: 3 | 4, CR2: dataVA + 0x1000 + 16}
		}
	}
	fm.steps = []func(*arch.Regs) arch.Exit{
		fault(dataVA+0x100, pte, 0, 0),
		func(r *arch.Regs) arch.Exit {
			// RAX holds the entry as the PV MMU left it (it adds
			// _PAGE_GLOBAL to user mappings): RCX, read-only, goes in.
			cur, _ := m.cfg.Mem.Load64(l1.Addr() + 16)
			return fault(dataVA+0x103, 0, pte&^2, cur)(r)
		},
		fault(dataVA+0x108, uint64(other.Addr())|1|2|4, 0, 0),
	}
	v.Run()
	r := fm.results
	if len(r) < 3 || r[1].RIP != dataVA+0x103 || r[2].RIP != dataVA+0x108 || r[2].RFLAGS&(1<<6) == 0 {
		t.Fatalf("instructions not retired: %+v", r)
	}
	w, _ := m.cfg.Mem.Load64(l1.Addr() + 16)
	if mm.MFN(w>>12&0xffffffffff) != data || w&2 != 0 {
		t.Errorf("L1[2] = %#x, want the data frame read-only", w)
	}
	if !strings.Contains(logBuf.String(), "Unhandled: vec 14") {
		t.Errorf("refused entry did not become the guest's #PF:\n%s", logBuf)
	}
}

// TestFailsafe: a data selector the metal could not load sends the guest
// to its failsafe callback with the four selectors on its stack, and it
// runs on with null ones; with no failsafe callback the domain crashes.
func TestFailsafe(t *testing.T) {
	m, d, fm, logBuf, data := testGuest(t, false)
	v := d.VCPU(0)
	const handler = 0x1235000
	v.pv.RegisterCallback(abi.CALLBACKTYPE_failsafe, 0, handler)
	v.Regs.RSP = dataVA + 0x800
	v.Regs.RIP = 0x1234000
	fm.steps = []func(*arch.Regs) arch.Exit{
		func(r *arch.Regs) arch.Exit {
			r.DS, r.ES, r.FS, r.GS = 0x1233, 0x2b, 0x63, 0x6b
			return arch.Exit{Kind: arch.ExitBadSelector}
		},
	}
	v.Run()
	r := fm.results
	if len(r) != 2 || r[1].RIP != handler || r[1].DS != 0 || r[1].ES != 0 || r[1].FS != 0 || r[1].GS != 0 {
		t.Fatalf("entries %+v, want the second at the failsafe callback with null selectors; log:\n%s", r, logBuf)
	}
	// Frame: rcx, r11, ds, es, fs, gs, rip, ...
	var b [48]byte
	m.cfg.Mem.Read(data.Addr()+mm.Maddr(r[1].RSP-dataVA), b[:])
	for i, want := range []uint64{0x1233, 0x2b, 0x63, 0x6b} {
		if got := binary.LittleEndian.Uint64(b[16+8*i:]); got != want {
			t.Errorf("frame selector %d = %#x, want %#x", i, got, want)
		}
	}

	_, d, fm, logBuf, _ = testGuest(t, false)
	fm.steps = []func(*arch.Regs) arch.Exit{
		func(r *arch.Regs) arch.Exit { r.DS = 0x1233; return arch.Exit{Kind: arch.ExitBadSelector} },
	}
	d.VCPU(0).Regs.RSP = dataVA + 0x800
	d.VCPU(0).Run()
	if !d.Stopped() || !strings.Contains(logBuf.String(), "crashed") {
		t.Errorf("no failsafe callback: stopped %v, log:\n%s", d.Stopped(), logBuf)
	}
}

// TestTLBMaintenance: the guest's TLB flush and INVLPG requests reach the
// Backend (the metal keeps a guest's tables loaded between exits, so
// nothing else flushes): a local flush as the vCPU's own, with no other
// CPU interrupted, a flush of all as Backend.FlushTLB.
func TestTLBMaintenance(t *testing.T) {
	m, d, fm, _, data := testGuest(t, true)
	ops := []abi.MmuextOp{{Cmd: abi.MMUEXT_TLB_FLUSH_LOCAL}, {Cmd: abi.MMUEXT_INVLPG_LOCAL}, {Cmd: abi.MMUEXT_TLB_FLUSH_ALL}}
	ops[1].SetArg1(dataVA)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, ops); err != nil {
		t.Fatal(err)
	}
	m.cfg.Mem.Write(data.Addr(), b.Bytes())
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_mmuext_op, dataVA, uint64(len(ops)), 0, abi.DOMID_SELF),
	}
	d.VCPU(0).Run()
	if r := fm.results; len(r) != 2 || r[1].RAX != 0 {
		t.Fatalf("mmuext_op: %+v", fm.results)
	}
	if fm.flushes != 1 || fm.invlpgs != 1 || !slices.Equal(fm.locals, []int{0}) {
		t.Errorf("flushes %d, invlpgs %d, local flushes for vCPUs %v; want 1, 1, [0]", fm.flushes, fm.invlpgs, fm.locals)
	}
	if st := d.VCPU(0).stats; st.localFlushes != 1 || st.allFlushes != 1 || st.maskFlushes != 0 || st.invlpgs != 1 {
		t.Errorf("counted %d local flushes, %d+%d of all, %d invlpg; want 1, 1+0, 1", st.localFlushes, st.allFlushes, st.maskFlushes, st.invlpgs)
	}
}

// TestUserGSSelector: set_segment_base(SEGBASE_GS_USER_SEL) loads a
// selector of the vCPU's GDT with its descriptor's base, a reserved flat
// selector with base 0, and falls back to the null selector for one that
// does not load (not present, DPL 0, LDT, beyond the frames).
func TestUserGSSelector(t *testing.T) {
	m, d, fm, _, data := testGuest(t, false)
	gdtF, _ := m.cfg.Alloc.Alloc()
	m.cfg.Frames.Assign(gdtF, 0)
	put := func(idx int, desc uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], desc)
		m.cfg.Mem.Write(gdtF.Addr()+mm.Maddr(idx*8), b[:])
	}
	put(3, 0x12cff2345678ffff) // data, DPL 3, base 0x12345678
	put(4, 0x00cf72000000ffff) // data, not present
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(gdtF))
	m.cfg.Mem.Write(data.Addr()+0x300, b[:])
	sel := func(s uint64) func(*arch.Regs) arch.Exit {
		return hypercallExit(abi.HYPERVISOR_set_segment_base, abi.SEGBASE_GS_USER_SEL, s)
	}
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_set_gdt, dataVA+0x300, 512),
		sel(0x18), sel(0xe02b), sel(0x20), sel(0xe010), sel(0x1c), sel(0x1000), sel(0),
	}
	d.VCPU(0).Run()
	r := fm.results
	type want struct {
		gs   uint16
		base uint64
	}
	for i, w := range []want{{0x1b, 0x12345678}, {0xe02b, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}} {
		got := r[i+2]
		if got.RAX != 0 || got.GS != w.gs || got.GSBaseShadow != w.base {
			t.Errorf("step %d: rax %d gs %#x base %#x, want 0, %#x, %#x", i, int64(got.RAX), got.GS, got.GSBaseShadow, w.gs, w.base)
		}
	}
}

// TestSetSegmentBaseInMulticall: set_segment_base is an ordinary entry of
// the dispatch table, so inside a multicall it changes the vCPU's
// registers exactly as a direct call does (Xen's pv64 multicall serves
// it): the FS and kernel GS bases the guest re-enters with are the
// entries', and a non-canonical base is the entry's -EINVAL.
func TestSetSegmentBaseInMulticall(t *testing.T) {
	m, d, fm, _, data := testGuest(t, false)
	entries := []struct{ op, which, base uint64 }{
		{abi.HYPERVISOR_set_segment_base, abi.SEGBASE_FS, 0x7000_1000},
		{abi.HYPERVISOR_set_segment_base, abi.SEGBASE_GS_KERNEL, 0xffff_8880_0000_2000},
		{abi.HYPERVISOR_set_segment_base, abi.SEGBASE_GS_USER, 0x0000_8000_0000_0000},
	}
	var b [64]byte
	for i, e := range entries {
		b = [64]byte{}
		binary.LittleEndian.PutUint64(b[0:], e.op)
		binary.LittleEndian.PutUint64(b[8:], 0x5a5a)
		binary.LittleEndian.PutUint64(b[16:], e.which)
		binary.LittleEndian.PutUint64(b[24:], e.base)
		m.cfg.Mem.Write(data.Addr()+mm.Maddr(64*i), b[:])
	}
	fm.steps = []func(*arch.Regs) arch.Exit{
		func(r *arch.Regs) arch.Exit {
			r.GSBaseShadow = 0x1234
			return hypercallExit(abi.HYPERVISOR_multicall, dataVA, uint64(len(entries)))(r)
		},
		hypercallExit(abi.HYPERVISOR_set_segment_base, abi.SEGBASE_FS, 0x7000_3000),
	}
	d.VCPU(0).Run()
	r := fm.results
	if len(r) != 3 {
		t.Fatalf("%d entries into the guest, want 3", len(r))
	}
	if r[1].RAX != 0 || r[1].FSBase != 0x7000_1000 || r[1].GSBase != 0xffff_8880_0000_2000 || r[1].GSBaseShadow != 0x1234 {
		t.Errorf("after the multicall: rax %d fs %#x gs %#x shadow %#x", int64(r[1].RAX), r[1].FSBase, r[1].GSBase, r[1].GSBaseShadow)
	}
	for i, want := range []abi.Errno{0, 0, abi.EINVAL} {
		got, _ := m.cfg.Mem.Load64(data.Addr() + mm.Maddr(64*i+8))
		if got != want.Ret() {
			t.Errorf("entry %d result %d, want %d", i, int64(got), int64(want.Ret()))
		}
	}
	if r[2].RAX != 0 || r[2].FSBase != 0x7000_3000 {
		t.Errorf("direct call: rax %d fs %#x", int64(r[2].RAX), r[2].FSBase)
	}
}

// TestVCPUInfoMoves: the vCPU's vcpu_info address has one record, the
// event-channel table's. Once it moves (evtchn SetVCPUInfo, as
// VCPUOP_register_vcpu_info will), the PV model's upcall mask and CR2 and
// the time updates follow it, and the shared_info slot is left alone.
func TestVCPUInfoMoves(t *testing.T) {
	m, d, _, _, _ := testGuest(t, false)
	m.cfg.Time = &fakeTime{}
	v := d.VCPU(0)
	slot, ok := d.Events().VCPUInfo(0)
	if !ok || slot != d.SharedInfo().Addr() {
		t.Fatalf("vcpu_info at %#x (%v), want shared_info's slot 0 at %#x", slot, ok, d.SharedInfo().Addr())
	}
	f, _ := m.cfg.Alloc.Alloc()
	moved := f.Addr() + 0x140
	if e := d.Events().SetVCPUInfo(0, moved); e != 0 {
		t.Fatal(e)
	}
	before := make([]byte, 64)
	m.cfg.Mem.Read(slot, before)
	v.pv.Info.SetUpcallMask(0)
	v.pv.Info.SetCR2(0xdead000)
	v.UpdateTime()
	after := make([]byte, 64)
	m.cfg.Mem.Read(slot, after)
	if !bytes.Equal(before, after) {
		t.Errorf("the old slot changed: % x", after)
	}
	load := func(off mm.Maddr) uint64 { w, _ := m.cfg.Mem.Load64(moved + off); return w }
	if load(0) != 0 || v.pv.Info.UpcallMask() != 0 {
		t.Errorf("upcall mask at the new place: word %#x, mask %d", load(0), v.pv.Info.UpcallMask())
	}
	v.pv.Info.SetUpcallMask(1)
	if load(0)>>8&0xff != 1 || v.pv.Info.UpcallMask() != 1 {
		t.Errorf("upcall mask not set at the new place: word %#x", load(0))
	}
	if load(vcpuInfoCR2Off) != 0xdead000 {
		t.Errorf("cr2 at the new place %#x", load(vcpuInfoCR2Off))
	}
	if ver, tsc := load(vcpuTimeOff), load(vcpuTimeOff+8); ver&1 != 0 || ver == 0 || tsc == 0 {
		t.Errorf("vcpu_time_info at the new place: version %d, tsc %d", ver, tsc)
	}
	// An event sent now marks the new vcpu_info pending, and the PV model
	// sees it there.
	p, e := d.Events().BindIPI(0)
	if e != 0 {
		t.Fatal(e)
	}
	if e := d.Events().Send(p); e != 0 {
		t.Fatal(e)
	}
	if !v.pv.Info.UpcallPending() || load(0)&1 == 0 {
		t.Errorf("upcall pending not seen at the new place: word %#x", load(0))
	}
}

// TestCacheFlushReachesMetal: an emulated WBINVD and MMUEXT_FLUSH_CACHE(_GLOBAL)
// run WBINVD on the metal for the hardware domain (WBINVD on every CPU, as
// Xen's flush_all(FLUSH_CACHE)); another domain's WBINVD is ignored and its
// MMUEXT_FLUSH_CACHE refused, and nothing reaches the metal.
func TestCacheFlushReachesMetal(t *testing.T) {
	for _, hw := range []bool{true, false} {
		var io mm.IOPolicy
		if hw {
			io = ioCaps{}
		}
		m, d, fm, _, data := testGuestIO(t, hw, io)
		m.cfg.Mem.Write(data.Addr(), []byte{0x0f, 0x09}) // wbinvd at dataVA
		// Two struct mmuext_op (24 bytes each): only cmd is read.
		var ops [48]byte
		binary.LittleEndian.PutUint32(ops[0:], abi.MMUEXT_FLUSH_CACHE)
		binary.LittleEndian.PutUint32(ops[24:], abi.MMUEXT_FLUSH_CACHE_GLOBAL)
		m.cfg.Mem.Write(data.Addr()+0x100, ops[:])
		fm.steps = []func(*arch.Regs) arch.Exit{
			func(r *arch.Regs) arch.Exit {
				r.RIP = dataVA
				return arch.Exit{Kind: arch.ExitException, Vector: arch.VecGP}
			},
			hypercallExit(abi.HYPERVISOR_mmuext_op, dataVA+0x100, 1, 0, abi.DOMID_SELF),
			hypercallExit(abi.HYPERVISOR_mmuext_op, dataVA+0x100+24, 1, 0, abi.DOMID_SELF),
		}
		d.VCPU(0).Run()
		r := fm.results
		if len(r) != 4 {
			t.Fatalf("hardware=%v: %d entries, want 4", hw, len(r))
		}
		if r[1].RIP != dataVA+2 {
			t.Errorf("hardware=%v: wbinvd not retired: rip %#x", hw, r[1].RIP)
		}
		want, rets := "global,local,global", [2]uint64{0, 0}
		if !hw {
			want = ""
			eacces, einval := -int64(abi.EACCES), -int64(abi.EINVAL)
			rets = [2]uint64{uint64(eacces), uint64(einval)}
		}
		if got := strings.Join(fm.caches, ","); got != want {
			t.Errorf("hardware=%v: metal cache flushes %q, want %q", hw, got, want)
		}
		if r[2].RAX != rets[0] || r[3].RAX != rets[1] {
			t.Errorf("hardware=%v: FLUSH_CACHE %#x, FLUSH_CACHE_GLOBAL %#x, want %#x, %#x", hw, r[2].RAX, r[3].RAX, rets[0], rets[1])
		}
	}
}

// TestChangedReachesMetal: breakpoints set by set_debugreg reach the
// Backend before the next entry, once; a #DB exit's DR6 lands in the
// virtual DR6 (get_debugreg(6)); a MOV to CR4 hands the Backend its
// loaded bits.
func TestChangedReachesMetal(t *testing.T) {
	m, d, fm, logBuf, data := testGuest(t, true)
	const dr7 = 0x400 | 1<<0 | 1<<2 | 1<<20 | 3<<22        // L0 exec, L1 write 4 bytes
	m.cfg.Mem.Write(data.Addr(), []byte{0x0f, 0x22, 0xe0}) // mov %rax, %cr4
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_set_debugreg, 0, dataVA+0x10),
		hypercallExit(abi.HYPERVISOR_set_debugreg, 1, dataVA+0x800),
		hypercallExit(abi.HYPERVISOR_set_debugreg, 7, dr7),
		func(r *arch.Regs) arch.Exit {
			return arch.Exit{Kind: arch.ExitException, Vector: arch.VecDB, DR6: pv.DR6Default | 2}
		},
		hypercallExit(abi.HYPERVISOR_get_debugreg, 6),
		func(r *arch.Regs) arch.Exit {
			r.RIP, r.RAX = dataVA, 1<<16 // FSGSBASE (if the policy has it)
			return arch.Exit{Kind: arch.ExitException, Vector: arch.VecGP}
		},
	}
	// A #DB handler, so the bounce has somewhere to go.
	v := d.VCPU(0)
	v.pv.Traps[arch.VecDB] = abi.TrapInfo{Vector: arch.VecDB, Cs: 0xe033, Address: dataVA + 0x100}
	v.Regs.CS, v.Regs.SS, v.Regs.RSP, v.Regs.RFLAGS = 0xe033, 0xe02b, dataVA+0xf00, 0x202
	v.pv.Policy = pv.NewPolicy(pv.PolicyConfig{Host: fsgsHost{}, CR4: 1 << 5})
	v.Run()
	r := fm.results
	if len(r) != 7 {
		t.Fatalf("%d entries:\n%s", len(r), logBuf)
	}
	for i, want := range []uint32{0, pv.ChangedDebug, pv.ChangedDebug, pv.ChangedDebug, 0, 0} {
		if fm.changed[i] != want {
			t.Errorf("entry %d: changed %#x, want %#x", i, fm.changed[i], want)
		}
	}
	if fm.dr != [4]uint64{dataVA + 0x10, dataVA + 0x800} || fm.dr7 != dr7 {
		t.Errorf("metal got dr %#x dr7 %#x", fm.dr, fm.dr7)
	}
	if r[4].RIP != dataVA+0x100 {
		t.Errorf("#DB bounced to %#x", r[4].RIP)
	}
	if r[5].RAX != pv.DR6Default|2 {
		t.Errorf("get_debugreg(6) = %#x", r[5].RAX)
	}
	if fm.changed[6] != pv.ChangedCR4 || fm.cr4 != 1<<16 {
		t.Errorf("after mov cr4: changed %#x, metal cr4 bits %#x", fm.changed[6], fm.cr4)
	}
}

// fsgsHost is a CPU with leaf 7 and FSGSBASE, nothing else.
type fsgsHost struct{}

func (fsgsHost) CPUID(leaf, sub uint32) (a, b, c, d uint32) {
	switch leaf {
	case 0:
		return 7, 0, 0, 0
	case 7:
		return 0, 1, 0, 0
	}
	return 0, 0, 0, 0
}
func (fsgsHost) ReadMSR(uint32) (uint64, bool) { return 0, false }
