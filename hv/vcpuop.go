package hv

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// The vCPU side of vcpu_op (hypercall.VCPUOps, implemented by Domain):
// runstate accounting and its guest area, the second vcpu_time_info,
// vcpu_info placement, is_up and get_physid.

// PhysCPU is the physical CPU the machine's vCPUs run on, as
// VCPUOP_get_physid reports it to the hardware domain.
type PhysCPU struct {
	APICID, ACPIID uint32
}

// vcpuState is a vCPU's vcpu_op state.
type vcpuState struct {
	// mu guards info and infoMFN.
	mu sync.Mutex
	// info is the runstate (Xen's v->runstate): the state, when it was
	// entered and the time spent in each state, in ns of system time.
	info abi.VcpuRunstateInfo
	// infoMFN is the frame VCPUOP_register_vcpu_info moved the vcpu_info
	// to (holding a general and a writable type reference), 0 if none.
	infoMFN mm.MFN

	// runstateArea and timeArea are the guest addresses registered with
	// VCPUOP_register_runstate_memory_area and
	// VCPUOP_register_vcpu_time_memory_area (0: none).
	runstateArea atomic.Uint64
	// entryTime is writeRunstateArea's copy of state_entry_time (the
	// vCPU's goroutine only).
	entryTime [8]byte
	timeArea  atomic.Uint64
	// due asks the vCPU's goroutine to rewrite its time info and runstate
	// area before its next entry (a registration moved them).
	due atomic.Bool
	// down is Xen's VPF_down: the vCPU does not run (set at creation,
	// cleared by VCPUOP_up or the domain builder's start, set again by
	// VCPUOP_down). initialised is Xen's is_initialised: the vCPU has a
	// context (the domain builder's for vCPU 0, VCPUOP_initialise's for
	// the others) and may be brought up.
	down, initialised atomic.Bool
	// started: the vCPU's goroutine has been started (Config.StartVCPU).
	// Guarded by the domain's vcpuMu.
	started bool
	// wake is signalled (never blocking) when a parked vCPU may have to
	// run again: VCPUOP_up, shutdown, destruction.
	wake chan struct{}
	// timeVersion is the version of the second vcpu_time_info. Owned by
	// the vCPU's goroutine.
	timeVersion uint32
}

// initVCPUState starts vCPU v offline at the current system time and
// has its waiter report blocks and yields. Called by create.
func (v *VCPU) initVCPUState() {
	v.st.down.Store(true)
	v.st.wake = make(chan struct{}, 1)
	v.st.info.State = abi.RUNSTATE_offline
	v.st.info.StateEntryTime = uint64(v.now())
	v.waiter.SetStateHook(v.waiterState)
}

// waiterState hears the waiter's sleeps and yields (Waiter.SetStateHook)
// and tells the scheduler: a vCPU that blocks or polls gives up its CPU
// (Sleep); one that yields gives it to a waiter (Yield, then takeCPU); one
// that wakes is runnable while it waits for a CPU (takeCPU), then
// running (the waiter has its periodic timer catch up). It also marks the vCPU sleeping while it blocks or polls, so
// an event wakes it instead of kicking it (kick.go). The vCPU's goroutine.
func (v *VCPU) waiterState(state int32) {
	v.sleeping.Store(state == abi.RUNSTATE_blocked)
	switch state {
	case abi.RUNSTATE_blocked:
		v.sched.Sleep()
		v.setRunstate(state)
	case abi.RUNSTATE_runnable:
		v.sched.Yield()
		v.setRunstate(state)
	case abi.RUNSTATE_running:
		v.takeCPU()
		v.setRunstate(state)
	}
}

func (v *VCPU) now() int64 {
	if c := v.dom.m.cfg.Clock; c != nil {
		return c.Now()
	}
	return 0
}

// setRunstate moves the vCPU to state (RUNSTATE_*), charging the time
// since the last change to the old state, and writes the runstate area.
// The vCPU's goroutine only.
func (v *VCPU) setRunstate(state int32) {
	v.st.mu.Lock()
	r := &v.st.info
	if r.State == state {
		v.st.mu.Unlock()
		return
	}
	now := uint64(v.now())
	if now > r.StateEntryTime && r.State >= 0 && int(r.State) < len(r.Time) {
		r.Time[r.State] += now - r.StateEntryTime
	}
	r.State, r.StateEntryTime = state, max(now, r.StateEntryTime)
	snap := *r
	v.st.mu.Unlock()
	v.writeRunstateArea(snap)
}

// runstate returns the runstate now: the current state's time includes
// the time since it was entered (vcpu_runstate_get).
func (v *VCPU) runstate() abi.VcpuRunstateInfo {
	now := uint64(v.now())
	v.st.mu.Lock()
	r := v.st.info
	v.st.mu.Unlock()
	if now > r.StateEntryTime && r.State >= 0 && int(r.State) < len(r.Time) {
		r.Time[r.State] += now - r.StateEntryTime
	}
	return r
}

// writeRunstateArea copies r to the registered runstate area through the
// vCPU's kernel page tables (Xen's update_runstate_area). With vm_assist
// runstate_update_flag, state_entry_time carries XEN_RUNSTATE_UPDATE while
// the area changes: set first, cleared last, so a guest reading it sees a
// consistent copy or knows to retry. A copy that faults is dropped. The
// vCPU's goroutine only.
func (v *VCPU) writeRunstateArea(r abi.VcpuRunstateInfo) {
	va := v.st.runstateArea.Load()
	if va == 0 {
		return
	}
	flag := v.dom.state.VMAssist(abi.VMASST_TYPE_runstate_update_flag)
	t := v.st.entryTime[:] // not a local array: it would escape through the copy
	if flag {
		r.StateEntryTime |= abi.XEN_RUNSTATE_UPDATE
		binary.LittleEndian.PutUint64(t, r.StateEntryTime)
		if !v.guest.CopyToGuest(mm.GuestVA(va+8), t) {
			return
		}
	}
	v.bufs.runstate = hypercall.EncodeRunstate(r)
	v.guest.CopyToGuest(mm.GuestVA(va), v.bufs.runstate[:])
	if flag {
		binary.LittleEndian.PutUint64(t, r.StateEntryTime&^abi.XEN_RUNSTATE_UPDATE)
		v.guest.CopyToGuest(mm.GuestVA(va+8), t)
	}
}

// writeTimeArea copies the vcpu_time_info body b (24 bytes after version
// and pad) to the registered secondary area, with the version protocol
// (odd while it changes), as Xen's update_guest_memory_area. Called by
// UpdateTime. A copy that faults is dropped.
func (v *VCPU) writeTimeArea(b []byte) {
	va := v.st.timeArea.Load()
	if va == 0 {
		return
	}
	v.st.timeVersion = (v.st.timeVersion + 1) | 1
	ver := v.bufs.version[:]
	binary.LittleEndian.PutUint32(ver, v.st.timeVersion)
	if !v.guest.CopyToGuest(mm.GuestVA(va), ver) {
		return
	}
	v.guest.CopyToGuest(mm.GuestVA(va+8), b)
	v.st.timeVersion++
	binary.LittleEndian.PutUint32(ver[:], v.st.timeVersion)
	v.guest.CopyToGuest(mm.GuestVA(va), ver[:])
}

// releaseVCPUInfo drops the references of a registered vcpu_info frame
// (domain destruction).
func (v *VCPU) releaseVCPUInfo() {
	v.st.mu.Lock()
	m := v.st.infoMFN
	v.st.infoMFN = 0
	v.st.mu.Unlock()
	if m != 0 {
		ft := v.dom.m.cfg.Frames
		ft.PutPageType(m)
		ft.PutPage(m)
	}
}

// vcpuInfoSize is sizeof(struct vcpu_info).
const vcpuInfoSize = 64

// NrVCPUs, VCPUWaiter, IsUp, RegisterVCPUInfo, RegisterRunstateArea,
// Runstate, RegisterTimeArea and PhysID implement hypercall.VCPUOps.
func (d *Domain) NrVCPUs() int                        { return len(d.vcpus) }
func (d *Domain) VCPUWaiter(i int) *sched.Waiter      { return d.vcpus[i].waiter }
func (d *Domain) IsUp(i int) bool                     { return !d.vcpus[i].st.down.Load() }
func (d *Domain) Runstate(i int) abi.VcpuRunstateInfo { return d.vcpus[i].runstate() }

// RegisterVCPUInfo is map_vcpu_info: the vCPU's vcpu_info moves to
// machine frame mfn, a frame of the domain held writable from now on, at
// offset. Its contents move with it (a zeroed, masked one if the vCPU had
// none); then every event is marked pending so none is lost in the move.
// Event delivery, the upcall mask, CR2 and time all read the new place
// from the event-channel table's one record.
func (d *Domain) RegisterVCPUInfo(caller, i int, mfn mm.MFN, offset uint32) abi.Errno {
	v := d.vcpus[i]
	if offset > mm.PageSize-vcpuInfoSize || offset&7 != 0 {
		return abi.EINVAL
	}
	v.st.mu.Lock()
	defer v.st.mu.Unlock()
	if v.st.infoMFN != 0 || (i != caller && !v.st.down.Load()) {
		return abi.EINVAL
	}
	ft, mem := d.m.cfg.Frames, d.m.cfg.Mem
	if !ft.GetPage(mfn, d.id) {
		return abi.EINVAL
	}
	if ft.GetPageType(mfn, mm.PageTypeWritable, d.vcpus[caller].Flusher()) != 0 {
		ft.PutPage(mfn)
		return abi.EINVAL
	}
	ev := d.Events()
	var info [vcpuInfoSize]byte
	if old, ok := ev.VCPUInfo(i); ok {
		mem.Read(old, info[:])
	} else {
		info[vcpuInfoMaskOff] = 1
	}
	at := mfn.Addr() + mm.Maddr(offset)
	if !mem.Write(at, info[:]) {
		ft.PutPageType(mfn)
		ft.PutPage(mfn)
		return abi.EINVAL
	}
	if e := ev.SetVCPUInfo(i, at); e != 0 {
		ft.PutPageType(mfn)
		ft.PutPage(mfn)
		return abi.EINVAL
	}
	v.st.infoMFN = mfn
	ev.MarkAllPending(i)
	v.st.due.Store(true) // the time info is written at the new place
	return 0
}

func (d *Domain) RegisterRunstateArea(i int, va mm.GuestVA) {
	v := d.vcpus[i]
	v.st.runstateArea.Store(uint64(va))
	v.st.due.Store(true)
}

func (d *Domain) RegisterTimeArea(i int, va mm.GuestVA) {
	v := d.vcpus[i]
	v.st.timeArea.Store(uint64(va))
	v.st.due.Store(true)
}

// PhysID is VCPUOP_get_physid's answer, as Xen 4.17's arch do_vcpu_op
// gives it: only for a vCPU of the hardware domain whose hard affinity is
// one CPU (is_hwdom_pinned_vcpu, as dom0_vcpus_pin makes them), and then
// the APIC and ACPI ids of the CPU numbered like the vCPU (not the CPU it
// is pinned to: Xen indexes its tables by vcpu_id), all ones for a number
// with no CPU (BAD_APICID, and acpi_get_processor_id's -1). -EINVAL
// otherwise, or while the machine does not know its CPUs' ids
// (Config.PhysCPUs).
func (d *Domain) PhysID(i int) (uint64, bool) {
	ids := d.m.cfg.PhysCPUs
	if !d.hardware || ids == nil || !d.vcpus[i].sched.Pinned() {
		return 0, false
	}
	if i >= len(ids) {
		return ^uint64(0), true
	}
	return uint64(ids[i].APICID) | uint64(ids[i].ACPIID)<<32, true
}

// SetVCPUAffinity sets vCPU i's hard affinity: the physical CPUs it may
// run on (dom0_vcpus_pin pins dom0's vCPU i to one). An error for a mask
// with none of the machine's CPUs.
func (d *Domain) SetVCPUAffinity(i int, m sched.CPUMask) error {
	return d.vcpus[i].sched.SetAffinity(m)
}

// Is a domain's vcpu_op served here?
var _ hypercall.VCPUOps = (*Domain)(nil)

// scheduledIn is called by Run before each entry: the vCPU runs (again),
// and what a registration asked for is written.
func (v *VCPU) scheduledIn() {
	v.setRunstate(abi.RUNSTATE_running)
	if v.st.due.Swap(false) {
		v.timeDue = true
		v.st.mu.Lock()
		snap := v.st.info
		v.st.mu.Unlock()
		v.writeRunstateArea(snap)
	}
}
