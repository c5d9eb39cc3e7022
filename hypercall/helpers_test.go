package hypercall

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
	"github.com/gohv/gohv/pirq"
	"github.com/gohv/gohv/pirq/pirqtest"
	"github.com/gohv/gohv/sched"
	"github.com/gohv/gohv/sched/schedtest"
)

const pageSize = 4096

// mapGuest is guest virtual memory over a map of 4 KiB pages: an address
// whose page is absent faults, as does a write to a read-only page. It
// records every byte written, so tests can check nothing was written
// outside a structure.
type mapGuest struct {
	pages    map[uint64]*[pageSize]byte
	readOnly map[uint64]bool
	writes   map[uint64]bool // byte addresses written
}

func newMapGuest() *mapGuest {
	return &mapGuest{pages: map[uint64]*[pageSize]byte{}, readOnly: map[uint64]bool{}, writes: map[uint64]bool{}}
}

// mapPages makes n pages from va (page aligned) present and zero.
func (g *mapGuest) mapPages(va uint64, n int) {
	for i := range n {
		g.pages[va+uint64(i)*pageSize] = new([pageSize]byte)
	}
}

func (g *mapGuest) CopyFromGuest(dst []byte, va mm.GuestVA) bool {
	a := uint64(va)
	for i := range dst {
		p := g.pages[(a+uint64(i))&^(pageSize-1)]
		if p == nil || a+uint64(i) < a {
			return false
		}
		dst[i] = p[(a+uint64(i))&(pageSize-1)]
	}
	return true
}

func (g *mapGuest) CopyToGuest(va mm.GuestVA, src []byte) bool {
	a := uint64(va)
	for i := range src {
		at := a + uint64(i)
		p := g.pages[at&^(pageSize-1)]
		if p == nil || at < a || g.readOnly[at&^(pageSize-1)] {
			return false
		}
		p[at&(pageSize-1)] = src[i]
		g.writes[at] = true
	}
	return true
}

// put and get are the test's own access to guest memory (not recorded).
func (g *mapGuest) put(va uint64, b []byte) {
	for i := range b {
		at := va + uint64(i)
		g.pages[at&^(pageSize-1)][at&(pageSize-1)] = b[i]
	}
}

func (g *mapGuest) get(va uint64, n int) []byte {
	b := make([]byte, n)
	if !g.CopyFromGuest(b, mm.GuestVA(va)) {
		panic("test reads unmapped guest memory")
	}
	return b
}

func (g *mapGuest) put32(va uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	g.put(va, b[:])
}

func (g *mapGuest) put64(va uint64, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	g.put(va, b[:])
}

func (g *mapGuest) get32(va uint64) uint32 { return binary.LittleEndian.Uint32(g.get(va, 4)) }
func (g *mapGuest) get64(va uint64) uint64 { return binary.LittleEndian.Uint64(g.get(va, 8)) }

// fakeDomain is a Domain that records Shutdown calls.
type fakeDomain struct {
	id         abi.DomID
	privileged bool
	hardware   bool
	state      *DomainState
	shutdowns  []uint8
}

func (d *fakeDomain) ID() abi.DomID        { return d.id }
func (d *fakeDomain) Privileged() bool     { return d.privileged }
func (d *fakeDomain) HardwareDomain() bool { return d.hardware }
func (d *fakeDomain) State() *DomainState  { return d.state }
func (d *fakeDomain) Shutdown(code uint8)  { d.shutdowns = append(d.shutdowns, code) }

// fakeVCPU is a VCPU whose Preempt answers from a script: preemptAt[n]
// true means the n-th call (from 0) says "preempt".
type fakeVCPU struct {
	id        int
	waiter    *sched.Waiter
	tables    *mm.VCPUTables
	flusher   mm.Flusher
	calls     int
	preemptAt map[int]bool
	// The I/O privileges set_iopl and set_iobitmap gave it.
	iopl    uint32
	iobmp   mm.GuestVA
	ioPorts uint32
}

func (v *fakeVCPU) ID() int                { return v.id }
func (v *fakeVCPU) Waiter() *sched.Waiter  { return v.waiter }
func (v *fakeVCPU) Tables() *mm.VCPUTables { return v.tables }
func (v *fakeVCPU) Flusher() mm.Flusher    { return v.flusher }
func (v *fakeVCPU) SetIOPL(iopl uint32)    { v.iopl = iopl }
func (v *fakeVCPU) SetIOBitmap(bitmap mm.GuestVA, ports uint32) {
	v.iobmp, v.ioPorts = bitmap, ports
}
func (v *fakeVCPU) Preempt() bool {
	p := v.preemptAt[v.calls]
	v.calls++
	return p
}

// fakeConsole records output and serves scripted input.
type fakeConsole struct {
	raw   bytes.Buffer
	lines []string
	input []byte
}

func (c *fakeConsole) WriteRaw(dom abi.DomID, p []byte) { c.raw.Write(p) }
func (c *fakeConsole) WriteLine(dom abi.DomID, line []byte) {
	c.lines = append(c.lines, string(line))
}
func (c *fakeConsole) PeekInput(p []byte) int { return copy(p, c.input) }
func (c *fakeConsole) DiscardInput(n int)     { c.input = c.input[n:] }

// directory is a Directory over a map.
type directory map[abi.DomID]*fakeDomain

func (d directory) Lookup(id abi.DomID) (Domain, bool) {
	x, ok := d[id]
	if !ok {
		return nil, false
	}
	return x, true
}

// kicker is an evtchn.Notifier that wakes the waiters it knows.
type kicker struct{ waiters map[int]*sched.Waiter }

func (k *kicker) Kick(vcpu int) {
	if w := k.waiters[vcpu]; w != nil {
		w.Wake()
	}
}

// world is a small machine: dom0 (privileged, hardware) and dom1, each
// with one vCPU, an event-channel table over fake machine memory and a
// waiter on a manual clock; guest memory is a mapGuest per domain with
// pages at 0x10000..0x20000 mapped.
type world struct {
	t       testing.TB
	d       *Dispatcher
	con     *fakeConsole
	dir     directory
	mem     *mmtest.Memory
	clock   *schedtest.ManualClock
	reg     *evtchn.Registry
	doms    [2]*fakeDomain
	guests  [2]*mapGuest
	vcpus   [2]*fakeVCPU
	callers [2]*Caller
	// The machine's interrupts (a fake controller with 24 GSIs and 4
	// vectors), each domain's PIRQs and the platform.
	ctrl  *pirqtest.Controller
	irqs  *pirq.Machine
	pirqs [2]*pirq.Table
	plat  *fakePlatform
}

const (
	bufVA   = 0x10000 // start of the mapped guest pages
	bufEnd  = 0x20000
	roVA    = 0x30000 // a read-only page
	badVA   = 0x7000_0000
	sharedA = 0x1000 // dom0's shared_info machine address
	sharedB = 0x2000 // dom1's
)

func newWorld(t testing.TB) *world {
	w := &world{t: t, con: &fakeConsole{}, dir: directory{}, mem: mmtest.NewMemory(4),
		clock: schedtest.NewManualClock(1_000_000), reg: evtchn.NewRegistry()}
	w.plat = &fakePlatform{}
	w.newIRQs(nil, w.mem)
	for i := range 2 {
		k := &kicker{waiters: map[int]*sched.Waiter{}}
		tab := evtchn.New(evtchn.Config{Dom: abi.DomID(i), VCPUs: 1, Privileged: i == 0, Memory: w.mem,
			SharedInfo: mm.Maddr([]uint64{sharedA, sharedB}[i]), Notifier: k, Directory: w.reg,
			NrPIRQs:       uint32(w.pirqs[i].NrPIRQs()),
			PIRQPermitted: func(p uint32) bool { return w.pirqs[i].Permitted(p) },
			PIRQBind:      func(p uint32, port evtchn.Port, share bool) abi.Errno { return w.pirqs[i].Bind(p, port, share) },
			PIRQUnbind:    func(p uint32) { w.pirqs[i].Unbind(p) }})
		w.pirqs[i].SetEvents(tab)
		w.reg.Add(tab)
		waiter := sched.NewWaiter(0, tab, w.clock, w.clock, nil)
		k.waiters[0] = waiter
		h := [16]byte{0: byte(i + 1), 15: 0xee}
		dom := &fakeDomain{id: abi.DomID(i), privileged: i == 0, hardware: i == 0,
			state: NewDomainState(DomainConfig{Handle: h, Events: tab, ConsoleWrite: true, PIRQs: w.pirqs[i]})}
		g := newMapGuest()
		g.mapPages(bufVA, (bufEnd-bufVA)/pageSize)
		g.mapPages(roVA, 1)
		g.readOnly[roVA] = true
		v := &fakeVCPU{waiter: waiter, tables: &mm.VCPUTables{}, flusher: &mmtest.Flusher{}}
		w.doms[i], w.guests[i], w.vcpus[i] = dom, g, v
		w.callers[i] = &Caller{Mem: g, Domain: dom, VCPU: v}
		w.dir[abi.DomID(i)] = dom
	}
	w.reg.SetHardwareDomain(0)
	return w
}

// newIRQs gives the world a new interrupt machine over frames and mem
// (the EOI map's frames), new PIRQ tables, and a dispatcher that uses
// them. The evtchn tables' PIRQ hooks follow w.pirqs; domain states made
// before must be rebuilt with the new tables.
func (w *world) newIRQs(frames *mm.FrameTable, mem mm.MachineMemory) {
	w.ctrl = pirqtest.New(24, 4)
	cfg := pirq.Config{Controller: w.ctrl, Mem: mem, Flush: &mmtest.Flusher{}}
	if frames != nil {
		cfg.Frames = frames
	}
	w.irqs = pirq.NewMachine(cfg)
	for i := range 2 {
		w.pirqs[i] = w.irqs.NewTable(abi.DomID(i), i == 0)
		if w.doms[i] != nil {
			w.pirqs[i].SetEvents(w.doms[i].state.events)
		}
	}
	w.d = New(w.config())
}

// config is the dispatcher configuration of the world.
func (w *world) config() Config {
	return Config{Console: w.con, Domains: w.dir, Version: VersionInfo{Commandline: "dom0_mem=512M console=com1"},
		IRQs: w.irqs, Platform: w.plat}
}

// fakePlatform records the wall clock it is given and has CPU 0 (APIC
// id 2, ACPI id 1, MWAIT with break on interrupt).
type fakePlatform struct {
	secs, sys uint64
	nsecs     uint32
	sets      int
	s5        int // PowerOffS5 calls (the fake returns: not off)
}

func (p *fakePlatform) SetWallClock(secs uint64, nsecs uint32, sys uint64) {
	p.secs, p.nsecs, p.sys = secs, nsecs, sys
	p.sets++
}

func (p *fakePlatform) PCPU(id uint32) (PCPU, bool) {
	if id != 0 {
		return PCPU{}, false
	}
	return PCPU{Online: true, APICID: 2, ACPIID: 1, MWAITBreak: true}, true
}

func (p *fakePlatform) MaxPresentPCPU() uint32 { return 0 }
func (p *fakePlatform) PowerOffS5()            { p.s5++ }

// call issues hypercall nr from domain dom.
func (w *world) call(dom int, nr uint64, args ...uint64) Result {
	var a Args
	copy(a[:], args)
	return w.d.Dispatch(w.callers[dom], nr, &a)
}

// neg returns the RAX of a call failing with e.
func neg(e abi.Errno) uint64 { return e.Ret() }

// checkRet fails unless r is a finished call returning want.
func checkRet(t testing.TB, what string, r Result, want uint64) {
	t.Helper()
	if r.Continue {
		t.Fatalf("%s: continuation %v, want RAX %#x", what, r.Args, want)
	}
	if r.Ret != want {
		t.Fatalf("%s = %#x (%s), want %#x (%s)", what, r.Ret, retString(r.Ret), want, retString(want))
	}
}

func retString(v uint64) string {
	if e, ok := abi.ErrnoFromRet(v); ok {
		return "-" + e.String()
	}
	return "value"
}
