package hypercall

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
)

func TestVCPUOpErrnos(t *testing.T) {
	const arg = bufVA + 0x100
	for _, c := range []struct {
		name      string
		cmd       uint64
		vcpu      uint64
		arg       uint64
		mem       []byte
		want      uint64
		noVCPUOps bool
	}{
		{name: "no vcpu_op in the domain", cmd: abi.VCPUOP_is_up, noVCPUOps: true, want: neg(abi.ENOSYS)},
		{name: "is_up vCPU 0", cmd: abi.VCPUOP_is_up, want: 1},
		{name: "is_up vCPU 1 (down)", cmd: abi.VCPUOP_is_up, vcpu: 1, want: 0},
		{name: "vCPU beyond the domain", cmd: abi.VCPUOP_is_up, vcpu: 2, want: neg(abi.ENOENT)},
		{name: "vCPU id's upper bits count", cmd: abi.VCPUOP_is_up, vcpu: 1<<32 | 0, want: 1},
		{name: "unknown vCPU before unknown cmd", cmd: 99, vcpu: 7, want: neg(abi.ENOENT)},
		{name: "unknown cmd", cmd: 99, want: neg(abi.ENOSYS)},
		{name: "up of a vCPU never initialised", cmd: abi.VCPUOP_up, vcpu: 1, want: neg(abi.EINVAL)},
		{name: "down of a vCPU while another is up", cmd: abi.VCPUOP_down, vcpu: 1, want: 0},
		{name: "initialise unreadable", cmd: abi.VCPUOP_initialise, vcpu: 1, arg: badVA, want: neg(abi.EFAULT)},
		{name: "initialise of a vCPU beyond the domain", cmd: abi.VCPUOP_initialise, vcpu: 2, arg: badVA, want: neg(abi.ENOENT)},
		{name: "send_nmi not served", cmd: abi.VCPUOP_send_nmi, want: neg(abi.ENOSYS)},
		{name: "periodic 1 ms", cmd: abi.VCPUOP_set_periodic_timer, arg: arg, mem: le64(1_000_000), want: 0},
		{name: "periodic below 1 ms", cmd: abi.VCPUOP_set_periodic_timer, arg: arg, mem: le64(999_999), want: neg(abi.EINVAL)},
		{name: "periodic above STIME_DELTA_MAX", cmd: abi.VCPUOP_set_periodic_timer, arg: arg, mem: le64(1 << 62), want: neg(abi.EINVAL)},
		{name: "periodic unreadable", cmd: abi.VCPUOP_set_periodic_timer, arg: badVA, want: neg(abi.EFAULT)},
		{name: "periodic of a vCPU without timers", cmd: abi.VCPUOP_set_periodic_timer, vcpu: 1, arg: arg, mem: le64(1_000_000), want: neg(abi.ENOSYS)},
		{name: "stop periodic", cmd: abi.VCPUOP_stop_periodic_timer, want: 0},
		{name: "singleshot", cmd: abi.VCPUOP_set_singleshot_timer, arg: arg, mem: le64(5_000_000), want: 0},
		{name: "singleshot unreadable", cmd: abi.VCPUOP_set_singleshot_timer, arg: badVA, want: neg(abi.EFAULT)},
		{name: "stop singleshot", cmd: abi.VCPUOP_stop_singleshot_timer, want: 0},
		{name: "register_vcpu_info unreadable", cmd: abi.VCPUOP_register_vcpu_info, arg: badVA, want: neg(abi.EFAULT)},
		{name: "runstate area unreadable", cmd: abi.VCPUOP_register_runstate_memory_area, arg: badVA, want: neg(abi.EFAULT)},
		{name: "time area unreadable", cmd: abi.VCPUOP_register_vcpu_time_memory_area, arg: badVA, want: neg(abi.EFAULT)},
		{name: "get_runstate_info to a read-only page", cmd: abi.VCPUOP_get_runstate_info, arg: roVA, want: neg(abi.EFAULT)},
		{name: "get_physid not pinned", cmd: abi.VCPUOP_get_physid, arg: arg, want: neg(abi.EINVAL)},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newOpsWorld(t)
			if c.noVCPUOps {
				w.callers[1].Domain = w.doms[1]
			}
			w.guests[1].put(arg, c.mem)
			checkRet(t, c.name, w.call(1, abi.HYPERVISOR_vcpu_op, c.cmd, c.vcpu, c.arg), c.want)
		})
	}
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// The last vCPU up going down powers the domain off, as in Xen.
func TestVCPUOpLastDown(t *testing.T) {
	w := newOpsWorld(t)
	checkRet(t, "down of the last vCPU up", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_down, 0, 0), 0)
	if code, ok := w.doms[1].state.ShutdownCode(); !ok || code != abi.SHUTDOWN_poweroff || len(w.doms[1].shutdowns) != 1 {
		t.Fatalf("shutdown %d %v, calls %v", code, ok, w.doms[1].shutdowns)
	}
}

func TestVCPUOpSingleshotOtherVCPU(t *testing.T) {
	w := newOpsWorld(t)
	w.ops[1].NrVCPUs() // two vCPUs; the caller is vCPU 0
	w.vcpus[1].id = 1
	w.guests[1].put(bufVA, le64(5_000_000))
	checkRet(t, "set_singleshot for vCPU 0 from vCPU 1", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_set_singleshot_timer, 0, bufVA), neg(abi.EINVAL))
	checkRet(t, "stop_singleshot for vCPU 0 from vCPU 1", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_stop_singleshot_timer, 0, 0), neg(abi.EINVAL))
	// The periodic timer may be set for another vCPU.
	checkRet(t, "set_periodic for vCPU 0 from vCPU 1", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_set_periodic_timer, 0, bufVA), 0)
}

// A singleshot deadline already past raises VIRQ_TIMER at once.
func TestVCPUOpSingleshotPastFires(t *testing.T) {
	w := newOpsWorld(t)
	g := w.guests[1]
	g.put(bufVA, []byte{abi.VIRQ_TIMER, 0, 0, 0, 0, 0, 0, 0}) // evtchn_bind_virq: virq, vcpu 0
	checkRet(t, "bind_virq", w.call(1, abi.HYPERVISOR_event_channel_op, abi.EVTCHNOP_bind_virq, bufVA), 0)
	port := g.get32(bufVA + 8)
	pending := func() bool {
		v, _ := w.mem.Load64(mm.Maddr(sharedB + 2048 + port/64*8))
		return v&(1<<(port%64)) != 0
	}
	if pending() {
		t.Fatal("timer port pending before the timer")
	}
	now := uint64(w.clock.Now())
	g.put(bufVA+0x40, append(le64(now-1), 1, 0, 0, 0)) // VCPU_SSHOTTMR_future: ignored
	checkRet(t, "set_singleshot in the past", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_set_singleshot_timer, 0, bufVA+0x40), 0)
	if !pending() {
		t.Fatal("a past singleshot deadline did not fire at once")
	}
}

func TestVCPUOpDecodes(t *testing.T) {
	w := newOpsWorld(t)
	g, d := w.guests[1], w.ops[1]

	// register_vcpu_info: mfn, offset to the worker; its errno back.
	g.put(bufVA, append(le64(0x1234), 0x40, 0, 0, 0, 0, 0, 0, 0))
	checkRet(t, "register_vcpu_info", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 1, bufVA), 0)
	if len(d.infoCalls) != 1 || d.infoCalls[0] != (infoCall{1, 0x1234, 0x40}) {
		t.Fatalf("worker got %+v", d.infoCalls)
	}
	d.infoErr = abi.EINVAL
	checkRet(t, "register_vcpu_info again", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_info, 0, bufVA), neg(abi.EINVAL))

	// The areas: the address inside the argument.
	g.put(bufVA+0x100, le64(0xffff_8880_0000_1000))
	checkRet(t, "register_runstate_memory_area", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_runstate_memory_area, 0, bufVA+0x100), 0)
	checkRet(t, "register_vcpu_time_memory_area", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_register_vcpu_time_memory_area, 1, bufVA+0x100), 0)
	if d.runstateVA[0] != 0xffff_8880_0000_1000 || d.timeVA[1] != 0xffff_8880_0000_1000 {
		t.Fatalf("areas %v %v", d.runstateVA, d.timeVA)
	}

	// get_runstate_info: the 48 bytes, nothing else.
	d.runstate = abi.VcpuRunstateInfo{State: abi.RUNSTATE_running, StateEntryTime: 77, Time: [4]uint64{1, 2, 3, 4}}
	clear(g.writes)
	checkRet(t, "get_runstate_info", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_get_runstate_info, 0, bufVA+0x200), 0)
	want := make([]byte, 48)
	binary.LittleEndian.PutUint64(want[8:], 77)
	for i := range 4 {
		binary.LittleEndian.PutUint64(want[16+8*i:], uint64(i+1))
	}
	if got := g.get(bufVA+0x200, 48); !bytes.Equal(got, want) {
		t.Fatalf("runstate % x", got)
	}
	if len(g.writes) != 48 {
		t.Fatalf("%d bytes written", len(g.writes))
	}

	// get_physid for a pinned vCPU.
	d.physOK = true
	checkRet(t, "get_physid", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_get_physid, 0, bufVA+0x300), 0)
	if v := g.get64(bufVA + 0x300); v != 0x0000_0002_0000_0003 {
		t.Fatalf("phys_id %#x", v)
	}
	checkRet(t, "get_physid to a read-only page", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_get_physid, 0, roVA), neg(abi.EFAULT))
}

// TestVCPUOpInitialise: VCPUOP_initialise reads the whole 5168-byte
// vcpu_guest_context (one byte short of readable memory is -EFAULT),
// decodes it field by field for the domain, passes the domain's answer
// back, and VCPUOP_up and VCPUOP_down reach the domain.
func TestVCPUOpInitialise(t *testing.T) {
	const arg = bufVA + 0x100
	var b [VCPUContextSize]byte
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }
	put(512, abi.VGCF_in_kernel|abi.VGCF_online)       // flags
	put(520+128, 0xffffffff81000000)                   // user_regs.rip
	put(520+152, 0xffffffff82000000)                   // user_regs.rsp
	binary.LittleEndian.PutUint16(b[520+136:], 0xe033) // user_regs.cs
	b[720+16*14] = 14                                  // trap_ctxt[14].vector
	put(720+16*14+8, 0xffffffff81001000)               // trap_ctxt[14].address
	put(4832, 0x1234)                                  // gdt_frames[0]
	put(4960, 16)                                      // gdt_ents
	put(4984+3*8, 0x5678<<12)                          // ctrlreg[3]
	put(5112, 0xffffffff81002000)                      // event_callback_eip
	put(5160, 0x7000)                                  // gs_base_user
	w := newOpsWorld(t)
	w.guests[1].put(arg, b[:])
	checkRet(t, "initialise", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_initialise, 1, arg), 0)
	d := w.ops[1]
	if len(d.contexts) != 1 {
		t.Fatalf("%d contexts given to the domain, want 1", len(d.contexts))
	}
	c := d.contexts[0]
	if c.Flags != abi.VGCF_in_kernel|abi.VGCF_online || c.UserRegs.Rip != 0xffffffff81000000 ||
		c.UserRegs.Rsp != 0xffffffff82000000 || c.UserRegs.Cs != 0xe033 || c.TrapCtxt[14].Vector != 14 ||
		c.TrapCtxt[14].Address != 0xffffffff81001000 || c.GdtFrames[0] != 0x1234 || c.GdtEnts != 16 ||
		c.Ctrlreg[3] != 0x5678<<12 || c.EventCallbackEip != 0xffffffff81002000 || c.GsBaseUser != 0x7000 {
		t.Errorf("decoded context %+v", c)
	}
	d.initErr = abi.EEXIST
	checkRet(t, "second initialise", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_initialise, 1, arg), neg(abi.EEXIST))
	checkRet(t, "up", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_up, 1, 0), 0)
	checkRet(t, "down", w.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_down, 1, 0), 0)
	if len(d.ups) != 1 || d.ups[0] != 1 || len(d.downs) != 1 || d.downs[0] != 1 {
		t.Errorf("ups %v downs %v, want [1] [1]", d.ups, d.downs)
	}
	// The context ends one byte into an unmapped page: nothing is read.
	w2 := newOpsWorld(t)
	short := uint64(bufEnd) - VCPUContextSize + 1
	checkRet(t, "initialise across a hole", w2.call(1, abi.HYPERVISOR_vcpu_op, abi.VCPUOP_initialise, 1, short), neg(abi.EFAULT))
	if n := len(w2.ops[1].contexts); n != 0 {
		t.Errorf("%d contexts given for an unreadable one", n)
	}
}

// TestDecodeVCPUContextShort: fewer than 5168 bytes do not decode.
func TestDecodeVCPUContextShort(t *testing.T) {
	if _, ok := DecodeVCPUContext(make([]byte, VCPUContextSize-1)); ok {
		t.Error("a short context decoded")
	}
	c, ok := DecodeVCPUContext(bytes.Repeat([]byte{0xff}, VCPUContextSize))
	if !ok || c.KernelSp != ^uint64(0) || c.UserRegs.Ss != 0xffff || c.GsBaseUser != ^uint64(0) {
		t.Errorf("all-ones context: ok %v, %+v", ok, c.UserRegs)
	}
}
