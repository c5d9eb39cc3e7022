package hv

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
)

// smpGuest is a hardware domain of two vCPUs on testGuest's tables: vCPU 0
// runs on the pinned L4 l4 (and is initialised, as the builder leaves
// it); vCPU 1 is down and was never initialised. spare is a frame of the
// domain mapped nowhere.
func smpGuest(t testing.TB) (m *Machine, d *Domain, fm *fakeMetal, l4, spare mm.MFN) {
	t.Helper()
	m, fm, _ = testMachine(t)
	var err error
	d, err = m.CreateDomain(DomainConfig{ID: 0, VCPUs: 2, Hardware: true})
	if err != nil {
		t.Fatal(err)
	}
	var f [6]mm.MFN
	for i := range f {
		f[i], _ = m.cfg.Alloc.Alloc()
		if err := m.cfg.Frames.Assign(f[i], 0); err != nil {
			t.Fatal(err)
		}
		m.cfg.M2P.Set(f[i], uint64(i))
	}
	const p, w, u = 1, 2, 4
	put := func(tbl mm.MFN, idx int, v uint64) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		m.cfg.Mem.Write(tbl.Addr()+mm.Maddr(idx*8), b[:])
	}
	put(f[0], 0, uint64(f[1].Addr())|p|w|u)
	put(f[1], 0, uint64(f[2].Addr())|p|w|u)
	put(f[2], 2, uint64(f[3].Addr())|p|w|u)
	put(f[3], 0, uint64(f[4].Addr())|p|w|u)
	var pin, base abi.MmuextOp
	pin.Cmd = abi.MMUEXT_PIN_L4_TABLE
	pin.SetArg1(uint64(f[0]))
	base.Cmd = abi.MMUEXT_NEW_BASEPTR
	base.SetArg1(uint64(f[0]))
	if n, e := d.Space().MMUExtOp(d.VCPU(0).Tables(), []abi.MmuextOp{pin, base}, nil, nil); e != 0 {
		t.Fatalf("pin/baseptr: %d done, %v", n, e)
	}
	d.VCPU(0).st.initialised.Store(true)
	return m, d, fm, f[0], f[5]
}

// linuxContext is a context as Linux's cpu_initialize_context gives one
// (arch/x86/xen/smp_pv.c): kernel mode, IOPL 1 in RFLAGS, flat selectors
// with RPL 0 (Xen raises them), a trap table, the event and failsafe
// callbacks, the kernel GS base (the per-CPU offset), the L4 in
// ctrlreg[3], and here one GDT frame of 16 entries.
func linuxContext(l4, gdt mm.MFN) abi.VcpuGuestContext {
	var c abi.VcpuGuestContext
	c.Flags = abi.VGCF_in_kernel
	c.UserRegs.Rip = 0xffffffff81000100
	c.UserRegs.Rsp = 0xffffc90000003f58
	c.UserRegs.Rflags = 0x1000
	c.UserRegs.Cs = abi.FLAT_KERNEL_CS &^ 3
	c.UserRegs.Ss = abi.FLAT_KERNEL_SS &^ 3
	c.UserRegs.Ds, c.UserRegs.Es = 0x2b, 0x2b // Linux's __USER_DS
	c.TrapCtxt[14] = abi.TrapInfo{Vector: 14, Cs: abi.FLAT_KERNEL_CS &^ 3, Address: 0xffffffff81001400}
	c.KernelSs, c.KernelSp = abi.FLAT_KERNEL_SS&^3, 0xffffc90000004000
	c.EventCallbackEip = 0xffffffff81002000
	c.FailsafeCallbackEip = 0xffffffff81002100
	c.GsBaseKernel = 0xffff888007c00000
	c.Ctrlreg[3] = uint64(l4) << mm.PageShift
	if gdt != 0 {
		c.GdtFrames[0], c.GdtEnts = uint64(gdt), 16
	}
	return c
}

func TestInitialiseVCPU(t *testing.T) {
	m, d, fm, l4, spare := smpGuest(t)
	var started []*VCPU
	m.cfg.StartVCPU = func(v *VCPU) { started = append(started, v) }
	ft := m.cfg.Frames
	v := d.VCPU(1)
	l4Types := func() uint32 { pi, _ := ft.Page(l4); return pi.TypeCount }
	before := l4Types()

	if e := d.UpVCPU(1); e != abi.EINVAL {
		t.Errorf("up before initialise: %v, want EINVAL", e)
	}
	if e := d.InitialiseVCPU(1, 0, &abi.VcpuGuestContext{}); e != abi.EEXIST {
		t.Errorf("initialise of vCPU 0 (built): %v, want EEXIST", e)
	}
	for _, c := range []struct {
		name string
		mod  func(c *abi.VcpuGuestContext)
	}{
		{"non-canonical RIP", func(c *abi.VcpuGuestContext) { c.UserRegs.Rip = 1 << 60 }},
		{"non-canonical trap handler", func(c *abi.VcpuGuestContext) { c.TrapCtxt[3].Address = 1 << 50 }},
		{"LDT not page aligned", func(c *abi.VcpuGuestContext) { c.LdtBase, c.LdtEnts = 0x1008, 1 }},
		{"LDT too long", func(c *abi.VcpuGuestContext) { c.LdtEnts = 8193 }},
		{"LDT in the hypervisor's range", func(c *abi.VcpuGuestContext) { c.LdtBase = 0xffff830000000000 }},
		{"user mode without a user L4", func(c *abi.VcpuGuestContext) { c.Flags = 0 }},
		{"L4 not the domain's", func(c *abi.VcpuGuestContext) { c.Ctrlreg[3] = uint64(ft.Len()+5) << mm.PageShift }},
		{"L4 that is the GDT frame", func(c *abi.VcpuGuestContext) { c.Ctrlreg[3] = uint64(spare) << mm.PageShift }},
		{"user L4 not the domain's", func(c *abi.VcpuGuestContext) { c.Ctrlreg[1] = uint64(ft.Len()+5) << mm.PageShift }},
		{"too many GDT entries", func(c *abi.VcpuGuestContext) { c.GdtEnts = pvFirstReserved + 1 }},
	} {
		ctx := linuxContext(l4, spare)
		c.mod(&ctx)
		if e := d.InitialiseVCPU(0, 1, &ctx); e != abi.EINVAL {
			t.Errorf("%s: %v, want EINVAL", c.name, e)
		}
		if frames, _ := v.pv.GDT(); v.tables.Kernel != 0 || v.tables.User != 0 || len(frames) != 0 || v.st.initialised.Load() {
			t.Errorf("%s: vCPU 1 kept tables %#x/%#x or GDT %v", c.name, v.tables.Kernel, v.tables.User, frames)
		}
		if got := l4Types(); got != before {
			t.Errorf("%s: L4 type count %d, want %d", c.name, got, before)
		}
		if pi, _ := ft.Page(spare); pi.TypeCount != 0 {
			t.Errorf("%s: the GDT frame keeps %d type references", c.name, pi.TypeCount)
		}
	}

	ctx := linuxContext(l4, spare)
	if e := d.InitialiseVCPU(0, 1, &ctx); e != 0 {
		t.Fatalf("initialise: %v", e)
	}
	r := &v.Regs
	if r.RIP != ctx.UserRegs.Rip || r.RSP != ctx.UserRegs.Rsp || r.CS != abi.FLAT_KERNEL_CS || r.SS != abi.FLAT_KERNEL_SS ||
		r.DS != 0x2b || r.RFLAGS != 0x200 || v.pv.IOPL != 0x1000 || r.GSBase != ctx.GsBaseKernel || r.GSBaseShadow != 0 {
		t.Errorf("registers %+v, IOPL %#x", *r, v.pv.IOPL)
	}
	if !v.pv.Kernel() || v.pv.Traps[14].Address != 0xffffffff81001400 || v.pv.Traps[14].Cs != abi.FLAT_KERNEL_CS ||
		v.pv.KernelSS != abi.FLAT_KERNEL_SS || v.pv.KernelSP != ctx.KernelSp ||
		v.pv.Callbacks[abi.CALLBACKTYPE_event].Address != ctx.EventCallbackEip ||
		v.pv.Callbacks[abi.CALLBACKTYPE_failsafe].Address != ctx.FailsafeCallbackEip {
		t.Errorf("PV state: kernel %v traps[14] %+v stack %#x:%#x callbacks %+v", v.pv.Kernel(), v.pv.Traps[14],
			v.pv.KernelSS, v.pv.KernelSP, v.pv.Callbacks)
	}
	if v.tables.Kernel != l4 || l4Types() != before+1 {
		t.Errorf("kernel L4 %#x (type count %d), want %#x (%d)", v.tables.Kernel, l4Types(), l4, before+1)
	}
	if frames, n := v.pv.GDT(); len(frames) != 1 || frames[0] != spare || n != 16 || len(fm.gdt) != 1 {
		t.Errorf("GDT %v (%d entries), metal's %v", frames, n, fm.gdt)
	}
	if d.IsUp(1) || len(started) != 0 {
		t.Errorf("up %v, started %d: initialise must leave the vCPU down", d.IsUp(1), len(started))
	}
	if e := d.InitialiseVCPU(0, 1, &ctx); e != abi.EEXIST {
		t.Errorf("second initialise: %v, want EEXIST", e)
	}
	if e := d.UpVCPU(1); e != 0 || !d.IsUp(1) || len(started) != 1 || started[0] != v {
		t.Fatalf("up: %v, is_up %v, %d started", e, d.IsUp(1), len(started))
	}
	if e := d.UpVCPU(1); e != 0 || len(started) != 1 {
		t.Errorf("second up: %v, %d started, want one start", e, len(started))
	}
}

// pvFirstReserved is FIRST_RESERVED_GDT_ENTRY.
const pvFirstReserved = 14 * 512

// TestVCPUDownAndUp: a vCPU that takes itself down (VCPUOP_down while
// vCPU 0 is up) parks offline after the hypercall returns 0, and goes on
// with its next instruction once VCPUOP_up brings it back.
func TestVCPUDownAndUp(t *testing.T) {
	m, d, fm, l4, _ := smpGuest(t)
	d.VCPU(0).st.down.Store(false) // vCPU 0 runs (its goroutine is not needed here)
	ctx := linuxContext(l4, 0)
	if e := d.InitialiseVCPU(0, 1, &ctx); e != 0 {
		t.Fatal(e)
	}
	done := make(chan struct{})
	m.cfg.StartVCPU = func(v *VCPU) {
		go func() {
			v.Run()
			close(done)
		}()
	}
	fm.mu.Lock()
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_down, 1, 0),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_is_up, 1, 0),
	}
	fm.mu.Unlock()
	if e := d.UpVCPU(1); e != 0 {
		t.Fatal(e)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.IsUp(1) || d.Runstate(1).State != abi.RUNSTATE_offline {
		if time.Now().After(deadline) {
			t.Fatalf("vCPU 1 never parked: up %v, runstate %d", d.IsUp(1), d.Runstate(1).State)
		}
		time.Sleep(time.Millisecond)
	}
	if e := d.UpVCPU(1); e != 0 {
		t.Fatal(e)
	}
	select {
	case <-done: // the script ended after is_up: Run crashed the domain
	case <-time.After(5 * time.Second):
		t.Fatal("vCPU 1 did not run again after VCPUOP_up")
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if len(fm.results) != 3 || fm.results[1].RAX != 0 || fm.results[2].RAX != 1 {
		t.Fatalf("entries %d; RAX after down %#x, after is_up %#x", len(fm.results), fm.results[1].RAX, fm.results[2].RAX)
	}
}

// FuzzInitialiseVCPU: any 5168 bytes, as VCPUOP_initialise reads them,
// give 0, -EINVAL or -EEXIST, never a panic, and a refused context leaves
// the vCPU without tables or GDT.
func FuzzInitialiseVCPU(f *testing.F) {
	m, d, _, l4, spare := smpGuest(f)
	m.cfg.StartVCPU = func(*VCPU) {}
	for _, c := range []abi.VcpuGuestContext{linuxContext(l4, spare), linuxContext(l4, 0), {}} {
		var b [hypercall.VCPUContextSize]byte
		if _, err := binary.Encode(b[:], binary.LittleEndian, &c); err != nil {
			f.Fatal(err)
		}
		f.Add(b[:])
	}
	v := d.VCPU(1)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := hypercall.DecodeVCPUContext(b)
		if !ok {
			return
		}
		e := d.InitialiseVCPU(0, 1, &c)
		switch e {
		case 0:
			// Back to never initialised for the next input.
			v.pv.ReleaseGDT()
			d.Space().ReleaseVCPU(&v.tables)
			v.st.initialised.Store(false)
		case abi.EINVAL:
			if frames, _ := v.pv.GDT(); v.tables.Kernel != 0 || v.tables.User != 0 || len(frames) != 0 {
				t.Fatalf("refused context left tables %#x/%#x, GDT %v", v.tables.Kernel, v.tables.User, frames)
			}
		default:
			t.Fatalf("errno %v", e)
		}
	})
}

// TestFlushVCPUMask: a vCPU's TLB maintenance reaches what its target
// names: Local, or a mask naming only the caller, is the caller's own
// flush or INVLPG (no other CPU interrupted, as Xen's flush_tlb_local);
// All, or a mask naming another vCPU, is a flush of every CPU (its
// INVLPG adds the caller's own when the mask names it); a mask naming no
// vCPU of the domain flushes nothing.
func TestFlushVCPUMask(t *testing.T) {
	_, d, fm, _, _ := smpGuest(t)
	f := d.VCPU(0).Flusher()
	for _, c := range []struct {
		name                     string
		t                        mm.FlushTarget
		flushes, locals, invlpgs int // after FlushTLB, then InvalidatePage
	}{
		{"local", mm.FlushTarget{Scope: mm.FlushLocal}, 0, 1, 1},
		{"all", mm.FlushTarget{Scope: mm.FlushAll}, 2, 0, 1},
		{"mask: self", mm.FlushTarget{Scope: mm.FlushMulti, Mask: []uint64{1}}, 0, 1, 1},
		{"mask: the other vCPU", mm.FlushTarget{Scope: mm.FlushMulti, Mask: []uint64{2}}, 2, 0, 0},
		{"mask: both", mm.FlushTarget{Scope: mm.FlushMulti, Mask: []uint64{3}}, 2, 0, 1},
		{"mask: no vCPU of the domain", mm.FlushTarget{Scope: mm.FlushMulti, Mask: []uint64{4}}, 0, 0, 0},
		{"empty mask", mm.FlushTarget{Scope: mm.FlushMulti}, 0, 0, 0},
	} {
		fm.flushes, fm.invlpgs, fm.locals = 0, 0, nil
		f.FlushTLB(c.t)
		f.InvalidatePage(c.t, dataVA)
		if fm.flushes != c.flushes || len(fm.locals) != c.locals || fm.invlpgs != c.invlpgs {
			t.Errorf("%s: %d flushes, %d local, %d invlpgs; want %d, %d, %d", c.name, fm.flushes, len(fm.locals), fm.invlpgs, c.flushes, c.locals, c.invlpgs)
		}
		for _, v := range fm.locals {
			if v != 0 {
				t.Errorf("%s: local flush for vCPU %d, want the caller's (0)", c.name, v)
			}
		}
	}
}
