package hv

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
)

// domainFrame gives domain d a fresh frame.
func domainFrame(t *testing.T, m *Machine, d *Domain) mm.MFN {
	t.Helper()
	f, ok := m.cfg.Alloc.Alloc()
	if !ok {
		t.Fatal("no frame")
	}
	if err := m.cfg.Frames.Assign(f, d.id); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRegisterVCPUInfoHypercall(t *testing.T) {
	m, d, fm, logBuf, data := testGuest(t, true)
	m.cfg.Time = &fakeTime{}
	le := binary.LittleEndian
	target := domainFrame(t, m, d)
	var arg [16]byte
	le.PutUint64(arg[0:], uint64(target))
	le.PutUint32(arg[8:], 0x40)
	m.cfg.Mem.Write(data.Addr(), arg[:])
	le.PutUint64(arg[0:], uint64(data)) // mapped writable: still a plain page
	le.PutUint32(arg[8:], 0xfc8)        // no room for 64 bytes
	m.cfg.Mem.Write(data.Addr()+0x100, arg[:])
	le.PutUint64(arg[0:], uint64(m.cfg.Frames.Len()+3)) // no such frame
	le.PutUint32(arg[8:], 0)
	m.cfg.Mem.Write(data.Addr()+0x200, arg[:])
	v := d.VCPU(0)
	v.pv.Info.SetCR2(0xc0ffee) // moves with the vcpu_info
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 0, dataVA+0x100),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 0, dataVA+0x200),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 1, dataVA),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 0, dataVA),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 0, dataVA),
	}
	v.Run()
	r := fm.results
	if len(r) != 6 {
		t.Fatalf("%d entries, log: %s", len(r), logBuf)
	}
	want := []abi.Errno{abi.EINVAL, abi.EINVAL, abi.ENOENT, 0, abi.EINVAL}
	for i, e := range want {
		if got := r[i+1].RAX; got != e.Ret() && !(e == 0 && got == 0) {
			t.Errorf("call %d: RAX %#x, want %v", i, got, e)
		}
	}
	at, ok := d.Events().VCPUInfo(0)
	if !ok || at != target.Addr()+0x40 {
		t.Fatalf("vcpu_info at %#x", at)
	}
	load := func(off mm.Maddr) uint64 { w, _ := m.cfg.Mem.Load64(at + off); return w }
	if w := load(0); w&0xff != 1 || w>>8&0xff != 1 {
		t.Errorf("upcall pending/mask at the new place: %#x", w)
	}
	if load(vcpuInfoCR2Off) != 0xc0ffee {
		t.Errorf("cr2 at the new place %#x", load(vcpuInfoCR2Off))
	}
	if load(8) != ^uint64(0) {
		t.Errorf("pending selector %#x, want all set", load(8))
	}
	if ver, tsc := load(vcpuTimeOff), load(vcpuTimeOff+8); ver == 0 || ver&1 != 0 || tsc == 0 {
		t.Errorf("time at the new place: version %d tsc %d", ver, tsc)
	}
	if pi, _ := m.cfg.Frames.Page(target); pi.Type != mm.PageTypeWritable || pi.TypeCount != 1 || pi.Count != 2 {
		t.Errorf("vcpu_info frame %+v", pi)
	}
	v.releaseVCPUInfo()
	if pi, _ := m.cfg.Frames.Page(target); pi.TypeCount != 0 || pi.Count != 1 {
		t.Errorf("vcpu_info frame after release %+v", pi)
	}
}

func TestRunstate(t *testing.T) {
	m, d, fm, _, data := testGuest(t, true)
	m.cfg.Time = &fakeTime{}
	le := binary.LittleEndian
	d.state.VMAssistOp(abi.VMASST_CMD_enable, abi.VMASST_TYPE_runstate_update_flag)
	var arg [8]byte
	le.PutUint64(arg[:], dataVA+0x100)
	m.cfg.Mem.Write(data.Addr(), arg[:])
	le.PutUint64(arg[:], dataVA+0x200)
	m.cfg.Mem.Write(data.Addr()+8, arg[:])
	v := d.VCPU(0)
	area := func() abi.VcpuRunstateInfo {
		var b [48]byte
		m.cfg.Mem.Read(data.Addr()+0x100, b[:])
		r := abi.VcpuRunstateInfo{State: int32(le.Uint32(b[0:])), StateEntryTime: le.Uint64(b[8:])}
		for i := range r.Time {
			r.Time[i] = le.Uint64(b[16+8*i:])
		}
		return r
	}
	var seen []int32
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_runstate_memory_area, 0, dataVA),
		func(r *arch.Regs) arch.Exit { // the area is written before this entry
			seen = append(seen, area().State)
			return arch.Exit{Kind: arch.ExitInterrupt, Vector: 0x20}
		},
		func(r *arch.Regs) arch.Exit {
			seen = append(seen, area().State)
			return hypercallExit(abi.HYPERVISOR_sched_op, abi.SCHEDOP_yield, 0)(r)
		},
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_get_runstate_info, 0, dataVA+0x300),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_is_up, 0, 0),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_get_physid, 0, dataVA+0x400),
	}
	if d.IsUp(0) {
		t.Fatal("vCPU up before it ran")
	}
	v.Run()
	if len(seen) != 2 || seen[0] != abi.RUNSTATE_running || seen[1] != abi.RUNSTATE_running {
		t.Errorf("states seen at entries %v", seen)
	}
	r := fm.results
	if r[4].RAX != 0 || r[5].RAX != 1 || r[6].RAX != abi.EINVAL.Ret() {
		t.Errorf("get_runstate_info %#x, is_up %#x, get_physid %#x", r[4].RAX, r[5].RAX, r[6].RAX)
	}
	// The run loop ended: offline, every state's time accounted, no
	// update flag left.
	a := area()
	if a.State != abi.RUNSTATE_offline || a.StateEntryTime&abi.XEN_RUNSTATE_UPDATE != 0 {
		t.Errorf("area after Run: %+v", a)
	}
	if a.Time[abi.RUNSTATE_running] == 0 || a.Time[abi.RUNSTATE_offline] == 0 {
		t.Errorf("times %v", a.Time)
	}
	if got := d.Runstate(0); got.State != abi.RUNSTATE_offline || got.Time[abi.RUNSTATE_running] != a.Time[abi.RUNSTATE_running] {
		t.Errorf("Runstate %+v, area %+v", got, a)
	}
	var g [48]byte
	m.cfg.Mem.Read(data.Addr()+0x300, g[:])
	if int32(le.Uint32(g[0:])) != abi.RUNSTATE_running || le.Uint64(g[16:]) == 0 {
		t.Errorf("get_runstate_info % x", g)
	}

	// The hardware domain's vCPU gets the ids of the CPU numbered like
	// it once the machine knows them and the vCPU is pinned (as Xen's
	// is_hwdom_pinned_vcpu), whichever CPU it is pinned to.
	m.cfg.PhysCPUs = []PhysCPU{{APICID: 3, ACPIID: 2}, {APICID: 5, ACPIID: 4}}
	if id, ok := d.PhysID(0); ok {
		t.Errorf("PhysID of an unpinned vCPU %#x", id)
	}
	if err := d.SetVCPUAffinity(0, sched.CPUMaskOf(1)); err != nil {
		t.Fatal(err)
	}
	if id, ok := d.PhysID(0); !ok || id != 2<<32|3 {
		t.Errorf("PhysID %#x %v", id, ok)
	}
	if d.SetVCPUAffinity(0, 0) == nil {
		t.Error("an empty affinity was accepted")
	}
}

func TestTimeArea(t *testing.T) {
	m, d, fm, _, data := testGuest(t, false)
	m.cfg.Time = &fakeTime{}
	var arg [8]byte
	binary.LittleEndian.PutUint64(arg[:], dataVA+0x100)
	m.cfg.Mem.Write(data.Addr(), arg[:])
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_time_memory_area, 0, dataVA),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_is_up, 0, 0),
	}
	d.VCPU(0).Run()
	var area, info [32]byte
	m.cfg.Mem.Read(data.Addr()+0x100, area[:])
	m.cfg.Mem.Read(d.SharedInfo().Addr()+vcpuTimeOff, info[:])
	if ver := binary.LittleEndian.Uint32(area[:]); ver == 0 || ver&1 != 0 {
		t.Errorf("version %d", ver)
	}
	if !bytes.Equal(area[8:], info[8:]) {
		t.Errorf("second vcpu_time_info % x, vcpu_info's % x", area[8:], info[8:])
	}
}

func TestENOSYSLine(t *testing.T) {
	m, d, fm, logBuf, data := testGuest(t, true)
	m.cfg.Log.SetLevels(klog.Thresholds{Lower: 4, Upper: 4}, klog.Thresholds{Lower: 4, Upper: 4})
	m.cfg.Mem.Write(data.Addr(), []byte{0x39, 0, 0, 0, 0x01, 0, 0, 0x03}) // platform_op cmd 57, XENPF_INTERFACE_VERSION
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_xenpmu_op, 12, 0),
		hypercallExit(abi.HYPERVISOR_xenpmu_op, 12, 0),
		hypercallExit(abi.HYPERVISOR_xenpmu_op, 13, 0),
		hypercallExit(abi.HYPERVISOR_platform_op, dataVA),
		hypercallExit(11),
		hypercallExit(abi.HYPERVISOR_memory_op, 63|5<<6, 0),
		// An iret back to kernel code whose saved RAX is -ENOSYS.
		func(r *arch.Regs) arch.Exit {
			r.RAX, r.RSP = abi.HYPERVISOR_iret, dataVA+64
			r.RIP += 2
			return arch.Exit{Kind: arch.ExitSyscall}
		},
	}
	var ctx [9]uint64 // rax, r11, rcx, flags, rip, cs, rflags, rsp, ss
	ctx[0], ctx[4], ctx[5], ctx[6], ctx[7], ctx[8] = enosysRet, 0x1000, 0x10, 0x202, dataVA+0x800, 0x18
	for i, w := range ctx {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], w)
		m.cfg.Mem.Write(data.Addr()+64+mm.Maddr(8*i), b[:])
	}
	d.VCPU(0).Run()
	log := logBuf.String()
	if strings.Contains(log, "(iret)") || d.VCPU(0).Regs.RIP != 0x1000 {
		t.Errorf("iret restoring -ENOSYS: RIP %#x, log\n%s", d.VCPU(0).Regs.RIP, log)
	}
	for _, want := range []string{
		"d0v0 hypercall 40 (xenpmu_op) cmd 12: -ENOSYS\n",
		"d0v0 hypercall 40 (xenpmu_op) cmd 13: -ENOSYS\n",
		"d0v0 hypercall 7 (platform_op) cmd 57: -ENOSYS\n",
		"d0v0 hypercall 11 (unknown): -ENOSYS\n",
		"d0v0 hypercall 12 (memory_op) cmd 63: -ENOSYS\n",
	} {
		if strings.Count(log, want) != 1 {
			t.Errorf("%q %d times in\n%s", want, strings.Count(log, want), log)
		}
	}
	// Below loglvl=all, nothing.
	m2, d2, fm2, logBuf2, _ := testGuest(t, true)
	_ = m2
	fm2.steps = []func(*arch.Regs) arch.Exit{hypercallExit(abi.HYPERVISOR_xenpmu_op, 12, 0)}
	d2.VCPU(0).Run()
	if strings.Contains(logBuf2.String(), "ENOSYS") {
		t.Errorf("ENOSYS line at the default loglvl: %s", logBuf2)
	}
}

// Linux halts after a panic with VCPUOP_down of its one vCPU: the hardware
// domain shuts down (poweroff), as on Xen, instead of spinning on -ENOSYS.
func TestLastVCPUDownPowersOff(t *testing.T) {
	_, d, fm, logBuf, _ := testGuest(t, true)
	fm.steps = []func(*arch.Regs) arch.Exit{
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_down, 0, 0),
		hypercallExit(abi.HYPERVISOR_vcpu_op, abi.VCPUOP_down, 0, 0),
	}
	d.VCPU(0).Run()
	if len(fm.results) != 1 || strings.Join(fm.power, ",") != "poweroff" || !d.Stopped() {
		t.Fatalf("%d entries after the down, power %v, stopped %v", len(fm.results), fm.power, d.Stopped())
	}
	if !strings.Contains(logBuf.String(), "Hardware Dom0 halted: powering off machine") {
		t.Errorf("log: %s", logBuf)
	}
	// The run loop has ended: offline in the runstate.
	if r := d.Runstate(0); r.State != abi.RUNSTATE_offline {
		t.Errorf("runstate %d after the loop", r.State)
	}
}
