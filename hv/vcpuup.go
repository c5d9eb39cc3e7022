package hv

import (
	"runtime"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hv/pv"
	"github.com/gohv/gohv/mm"
)

// A domain's vCPUs coming up and going down (VCPUOP_initialise, up, down),
// after Xen 4.17's common/domain.c (do_vcpu_op, default_initialise_vcpu)
// and arch/x86/domain.c (arch_set_info_guest). Every vCPU is created down
// and not initialised; the domain builder initialises vCPU 0, and the
// guest the others. A vCPU runs on its own goroutine from its first
// VCPUOP_up (or the builder's start) on; while it is down it parks there,
// runstate offline, until it is up again or the domain stops.

// InitialiseVCPU is VCPUOP_initialise of vCPU i by vCPU caller with
// context c: -EEXIST if i was initialised already; -EINVAL for a context
// Xen refuses (pv.CheckContext), a GDT that does not validate, or a
// ctrlreg[3] (or non-zero ctrlreg[1]) that is not one of the domain's
// frames or does not validate as an L4 table (it is pinned, or gets its
// L4 type reference as MMUEXT_NEW_BASEPTR gives one); nothing of i
// changes then. On success i has the context's registers and PV state,
// GDT, LDT and page tables, and is initialised; with VGCF_online it is up
// and starts at once (Xen marks it up; see doc.go), otherwise it stays
// down until VCPUOP_up.
//
// A vCPU that was never initialised has never run, so no goroutine but
// the caller's touches its state here. Context: the caller's goroutine.
func (d *Domain) InitialiseVCPU(caller, i int, c *abi.VcpuGuestContext) abi.Errno {
	v := d.vcpus[i]
	d.vcpuMu.Lock()
	defer d.vcpuMu.Unlock()
	if v.st.initialised.Load() {
		return abi.EEXIST
	}
	if e := pv.CheckContext(c); e != 0 {
		return e
	}
	f := d.vcpus[caller].Flusher()
	n := (c.GdtEnts*8 + mm.PageSize - 1) / mm.PageSize
	if n > uint64(len(c.GdtFrames)) {
		return abi.EINVAL
	}
	frames := make([]mm.MFN, n)
	for j := range frames {
		frames[j] = mm.MFN(c.GdtFrames[j])
	}
	if e := v.pv.SetGDT(frames, c.GdtEnts, f); e != 0 {
		return e
	}
	if e := d.contextTables(v, c, f); e != 0 {
		v.pv.ReleaseGDT()
		return e
	}
	v.tables.LDTBase, v.tables.LDTEnts = mm.GuestVA(c.LdtBase), uint32(c.LdtEnts)
	if c.LdtEnts == 0 {
		v.tables.LDTBase = 0
	}
	v.pv.LoadContext(c, &v.Regs)
	v.timeDue = true
	v.st.initialised.Store(true)
	if c.Flags&abi.VGCF_online != 0 {
		d.upLocked(v)
	}
	return 0
}

// contextTables gives v the page tables of c: ctrlreg[3] as its kernel L4
// and a non-zero ctrlreg[1] as its user L4 (both xen_pfn_to_cr3 values:
// the frame number shifted left by 12), each with a general and an L4
// type reference. On failure v holds none.
func (d *Domain) contextTables(v *VCPU, c *abi.VcpuGuestContext, f mm.Flusher) abi.Errno {
	ops := []abi.MmuextOp{{Cmd: abi.MMUEXT_NEW_BASEPTR}}
	ops[0].SetArg1(c.Ctrlreg[3] >> mm.PageShift)
	if c.Ctrlreg[1] != 0 {
		ops = append(ops, abi.MmuextOp{Cmd: abi.MMUEXT_NEW_USER_BASEPTR})
		ops[1].SetArg1(c.Ctrlreg[1] >> mm.PageShift)
	}
	s := d.Space()
	if _, e := s.MMUExtOp(&v.tables, ops, nil, f); e != 0 {
		s.ReleaseVCPU(&v.tables)
		return abi.EINVAL
	}
	return 0
}

// UpVCPU is VCPUOP_up: -EINVAL if vCPU i was never initialised; otherwise
// it is up, and runs: its goroutine starts the first time
// (Config.StartVCPU), a parked one is woken. Up already: nothing.
func (d *Domain) UpVCPU(i int) abi.Errno {
	v := d.vcpus[i]
	d.vcpuMu.Lock()
	defer d.vcpuMu.Unlock()
	if !v.st.initialised.Load() {
		return abi.EINVAL
	}
	d.upLocked(v)
	return 0
}

// upLocked clears v's down flag and gets it running. vcpuMu held.
func (d *Domain) upLocked(v *VCPU) {
	if !v.st.down.Swap(false) {
		return
	}
	if v.st.started {
		v.kickParked()
		return
	}
	v.st.started = true
	if start := d.m.cfg.StartVCPU; start != nil {
		start(v)
		return
	}
	go func() {
		runtime.LockOSThread()
		v.Run()
	}()
}

// DownVCPU marks vCPU i down (VCPUOP_down while another vCPU is up): it
// stops before its next entry into the guest and parks, runstate
// offline, until VCPUOP_up. A vCPU that takes itself down returns from
// the hypercall (0) when it is up again, as on Xen.
func (d *Domain) DownVCPU(i int) {
	// A vCPU blocked in SCHEDOP_block or poll stays blocked (Xen's
	// vcpu_sleep_nosync leaves VPF_blocked); it parks once woken. One in
	// the guest parks at its next exit.
	d.vcpus[i].st.down.Store(true)
}

// kickParked wakes v if it is parked (down, shutdown, destruction), without
// blocking.
func (v *VCPU) kickParked() {
	select {
	case v.st.wake <- struct{}{}:
	default:
	}
}

// parkDown keeps the vCPU, which is down, off the CPU until it is up again
// or its domain stops: its periodic timer stops (as when Xen deschedules
// it) and its runstate is offline meanwhile. It reports whether the vCPU
// may run again. Context: the vCPU's goroutine (Run).
func (v *VCPU) parkDown() bool {
	d := v.dom
	v.waiter.Descheduled()
	v.setRunstate(abi.RUNSTATE_offline)
	for v.st.down.Load() && !d.Stopped() {
		<-v.st.wake
	}
	if d.Stopped() {
		return false
	}
	v.waiter.Scheduled()
	v.timeDue = true
	return true
}
