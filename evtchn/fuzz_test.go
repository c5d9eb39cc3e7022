package evtchn

import (
	"bytes"
	"testing"

	"github.com/gohv/gohv/abi"
)

// allowedErrno is every errno an EVTCHNOP worker may return.
var allowedErrno = map[abi.Errno]bool{
	0: true, abi.EINVAL: true, abi.ENOENT: true, abi.EEXIST: true, abi.ESRCH: true,
	abi.ENOSPC: true, abi.EPERM: true, abi.ENOSYS: true, abi.EOPNOTSUPP: true, abi.EBUSY: true,
}

// doOp plays the hypercall layer for one EVTCHNOP: the argument bytes are
// decoded, the worker runs, and the OUT fields are encoded back on
// success. It returns the errno.
func doOp(t *Table, cmd int, arg []byte) abi.Errno {
	n, ok := ArgSize(cmd)
	if !ok {
		return abi.ENOSYS
	}
	if len(arg) < n {
		return abi.EFAULT
	}
	arg = arg[:n]
	switch cmd {
	case abi.EVTCHNOP_alloc_unbound:
		a, _ := DecodeAllocUnbound(arg)
		p, err := t.AllocUnbound(abi.DomID(a.Dom), abi.DomID(a.RemoteDom))
		if err == 0 {
			a.Port = uint32(p)
			EncodeAllocUnbound(arg, a)
		}
		return err
	case abi.EVTCHNOP_bind_interdomain:
		a, _ := DecodeBindInterdomain(arg)
		p, err := t.BindInterdomain(abi.DomID(a.RemoteDom), Port(a.RemotePort))
		if err == 0 {
			a.LocalPort = uint32(p)
			EncodeBindInterdomain(arg, a)
		}
		return err
	case abi.EVTCHNOP_bind_virq:
		a, _ := DecodeBindVIRQ(arg)
		p, err := t.BindVIRQ(a.Virq, a.Vcpu)
		if err == 0 {
			a.Port = uint32(p)
			EncodeBindVIRQ(arg, a)
		}
		return err
	case abi.EVTCHNOP_bind_pirq:
		a, _ := DecodeBindPIRQ(arg)
		p, err := t.BindPIRQ(a.Pirq, a.Flags)
		if err == 0 {
			a.Port = uint32(p)
			EncodeBindPIRQ(arg, a)
		}
		return err
	case abi.EVTCHNOP_bind_ipi:
		a, _ := DecodeBindIPI(arg)
		p, err := t.BindIPI(a.Vcpu)
		if err == 0 {
			a.Port = uint32(p)
			EncodeBindIPI(arg, a)
		}
		return err
	case abi.EVTCHNOP_close:
		a, _ := DecodeClose(arg)
		return t.Close(Port(a.Port))
	case abi.EVTCHNOP_send:
		a, _ := DecodeSend(arg)
		return t.Send(Port(a.Port))
	case abi.EVTCHNOP_status:
		a, _ := DecodeStatus(arg)
		s, err := t.Status(abi.DomID(a.Dom), Port(a.Port))
		if err == 0 {
			s.Fill(&a)
			EncodeStatus(arg, a)
		}
		return err
	case abi.EVTCHNOP_bind_vcpu:
		a, _ := DecodeBindVCPU(arg)
		return t.BindVCPU(Port(a.Port), a.Vcpu)
	case abi.EVTCHNOP_unmask:
		a, _ := DecodeUnmask(arg)
		return t.Unmask(Port(a.Port))
	case abi.EVTCHNOP_reset:
		a, _ := DecodeReset(arg)
		return t.Reset(abi.DomID(a.Dom))
	case EVTCHNOP_reset_cont:
		a, _ := DecodeReset(arg)
		return t.ResetCont(abi.DomID(a.Dom))
	case abi.EVTCHNOP_init_control:
		a, _ := DecodeInitControl(arg)
		lb, err := t.InitControl(a.ControlGfn, a.Offset, a.Vcpu)
		if err == 0 {
			a.LinkBits = lb
			EncodeInitControl(arg, a)
		}
		return err
	case abi.EVTCHNOP_expand_array:
		a, _ := DecodeExpandArray(arg)
		return t.ExpandArray(a.ArrayGfn)
	case abi.EVTCHNOP_set_priority:
		a, _ := DecodeSetPriority(arg)
		return t.SetPriority(Port(a.Port), a.Priority)
	}
	panic("unreachable: ArgSize knows a cmd doOp does not")
}

// FuzzOps runs random operation sequences from domains 1 and 2 (both
// unprivileged, 3 vCPUs, ports up to 130) and checks after every step: no
// panic, only Xen errnos, the port tables consistent, and domain 3 (which
// holds ports for nobody the others can name) never changed, neither its
// shared_info page nor its ports.
func FuzzOps(f *testing.F) {
	f.Add([]byte{6, 0xf0, 0x7f, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 1, 0, 1, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{4, 1, 0, 0, 0}, 20))
	f.Add([]byte{7, 1, 0, 0, 0, 0x84, 1, 0, 0, 0, 0x83, 0, 0, 0, 0})
	f.Fuzz(runOps)
}

// runOps is FuzzOps' body.
func runOps(t *testing.T, data []byte) {
	{
		w := newWorld(t, domOpt{}, domOpt{vcpus: 3, maxPort: 130}, domOpt{vcpus: 3, maxPort: 130}, domOpt{vcpus: 2})
		d3 := w.doms[3]
		d3.AllocUnbound(abi.DOMID_SELF, 9)
		d3.BindIPI(1)
		d3.BindVIRQ(abi.VIRQ_TIMER, 0)
		d3.Send(2)
		page3 := snapshot(t, w, 3)
		status3 := statusAll(d3)
		kicks3 := len(w.rec[3].take())
		if kicks3 != 1 {
			t.Fatalf("setup kicks %d", kicks3)
		}

		// At most maxFuzzOps operations per input keep each run short, so
		// the fuzzer's minimisation stays quick.
		const maxFuzzOps = 64
		for ops := 0; len(data) >= 2 && ops < maxFuzzOps; ops++ {
			op, who := data[0], w.doms[1+int(data[1]&1)]
			data = data[2:]
			arg := make([]byte, 24)
			n := copy(arg, data)
			data = data[n:]
			// Domain ids in arguments: fold the fuzz bytes onto 0..4 and
			// DOMID_SELF so they name real domains often.
			dom := func(b byte) uint16 {
				if b%6 == 5 {
					return abi.DOMID_SELF
				}
				return uint16(b % 6)
			}
			switch op % 20 {
			case 14: // hypervisor: timer VIRQ
				who.RaiseVIRQ(int(arg[0]%4), uint32(arg[1]%26))
				continue
			case 15: // hypervisor: global VIRQ via the registry
				w.reg.SendGlobalVIRQ(uint32(arg[0] % 26))
				continue
			case 16: // guest: mask or unmask a port by hand
				w.setMask(t, 1+int(arg[0]&1), Port(arg[1])%NrPorts2L, arg[2]&1 == 1)
				continue
			case 17: // guest: acknowledge a port and the upcall
				d := 1 + int(arg[0]&1)
				w.ackPort(d, Port(arg[1])%NrPorts2L)
				w.clearUpcall(d, int(arg[2]%3))
				continue
			case 18: // hypervisor: PIRQ
				who.SendPIRQ(uint32(arg[0]))
				continue
			case 19: // scheduler: poll registration and check
				v := int(arg[0] % 3)
				who.StartPoll(v)
				who.SetPollPort(v, uint32(arg[1]))
				if _, err := who.PollPort(uint32(arg[1])); err != 0 && err != abi.EINVAL {
					t.Fatalf("PollPort errno %v", err)
				}
				who.EnableEvents(v)
				who.EventsNeedDelivery(v)
				who.StopPoll(v)
				continue
			}
			cmd := int(op % 15) // 0..13 and EVTCHNOP_reset_cont
			switch cmd {
			case abi.EVTCHNOP_alloc_unbound:
				le.PutUint16(arg[0:], dom(arg[0]))
				le.PutUint16(arg[2:], dom(arg[2]))
			case abi.EVTCHNOP_bind_interdomain, abi.EVTCHNOP_status, abi.EVTCHNOP_reset, EVTCHNOP_reset_cont:
				le.PutUint16(arg[0:], dom(arg[0]))
			}
			if cmd != abi.EVTCHNOP_alloc_unbound && cmd != abi.EVTCHNOP_reset && cmd != EVTCHNOP_reset_cont {
				// Small port numbers most of the time.
				off := 0
				if cmd == abi.EVTCHNOP_bind_interdomain {
					off = 4
				}
				if arg[off+3]&0x80 == 0 {
					le.PutUint32(arg[off:], le.Uint32(arg[off:])%140)
				}
			}
			before := append([]byte(nil), arg...)
			err := doOp(who, cmd, arg)
			if !allowedErrno[err] || !err.GuestVisible() && err != 0 {
				t.Fatalf("cmd %d: errno %v", cmd, err)
			}
			sz, _ := ArgSize(cmd)
			if !bytes.Equal(arg[sz:], before[sz:]) {
				t.Fatalf("cmd %d wrote past its %d-byte argument", cmd, sz)
			}
			if err != 0 && !bytes.Equal(arg, before) {
				t.Fatalf("cmd %d failed with %v but changed its argument", cmd, err)
			}
			checkInvariants(t, w)
		}
		if snapshot(t, w, 3) != page3 {
			t.Fatal("domain 3's shared_info changed")
		}
		if got := statusAll(d3); got != status3 {
			t.Fatal("domain 3's ports changed")
		}
		if k := w.rec[3].take(); len(k) != 0 {
			t.Fatalf("domain 3 kicked %v", k)
		}
	}
}

// statusAll returns the status of domain d's first 64 ports.
func statusAll(d *Table) (s [portsPerBucket]StatusInfo) {
	for p := range s {
		s[p], _ = d.Status(abi.DOMID_SELF, Port(p))
	}
	return s
}

// checkInvariants checks every table of w: port 0 reserved, whole buckets,
// ports within MaxPort, interdomain peers pointing back at each other,
// VIRQ and PIRQ maps matching the ports, poll counts matching.
func checkInvariants(t *testing.T, w *world) {
	t.Helper()
	for _, d := range w.doms {
		d.mu.Lock()
	}
	defer func() {
		for _, d := range w.doms {
			d.mu.Unlock()
		}
	}()
	for _, d := range w.doms {
		if d.chans[0].state != stateReserved {
			t.Fatalf("d%d port 0 state %d", d.dom, d.chans[0].state)
		}
		if len(d.chans)%portsPerBucket != 0 || uint64(len(d.chans)) > uint64(d.maxPort)+portsPerBucket {
			t.Fatalf("d%d has %d ports (max %d)", d.dom, len(d.chans), d.maxPort)
		}
		virqs, pirqs := 0, 0
		for p := range d.chans {
			c := &d.chans[p]
			if c.state != stateFree && c.state != stateReserved && Port(p) > d.maxPort {
				t.Fatalf("d%d port %d in use beyond max", d.dom, p)
			}
			if uint64(c.vcpu) >= uint64(d.nvcpus) {
				t.Fatalf("d%d port %d notifies vCPU %d", d.dom, p, c.vcpu)
			}
			switch c.state {
			case stateFree:
				if *c != (channel{}) {
					t.Fatalf("d%d free port %d not zeroed: %+v", d.dom, p, *c)
				}
			case stateInterdomain:
				r := c.remote
				if r == nil || !r.valid(c.remotePort) {
					t.Fatalf("d%d port %d: bad peer", d.dom, p)
				}
				rc := r.chans[c.remotePort]
				if rc.state != stateInterdomain || rc.remote != d || rc.remotePort != Port(p) {
					t.Fatalf("d%d port %d: peer d%d:%d does not point back", d.dom, p, r.dom, c.remotePort)
				}
			case stateVIRQ:
				v := c.vcpu
				if virqIsGlobal(c.virq) {
					v = 0
				}
				if d.virqPort[v][c.virq] != Port(p) {
					t.Fatalf("d%d port %d: virq %d map says %d", d.dom, p, c.virq, d.virqPort[v][c.virq])
				}
				virqs++
			case statePIRQ:
				if d.pirqPort[c.pirq] != Port(p) {
					t.Fatalf("d%d port %d: pirq map", d.dom, p)
				}
				pirqs++
			}
		}
		n := 0
		for v := range d.virqPort {
			for _, p := range d.virqPort[v] {
				if p != 0 {
					n++
				}
			}
		}
		if n != virqs || len(d.pirqPort) != pirqs {
			t.Fatalf("d%d: %d virq map entries for %d ports, %d pirq entries for %d ports", d.dom, n, virqs, len(d.pirqPort), pirqs)
		}
		polls := 0
		for v := range d.poll {
			if d.poll[v].Load() != 0 {
				polls++
			}
		}
		if int32(polls) != d.pollers.Load() {
			t.Fatalf("d%d: %d polling vCPUs, counter %d", d.dom, polls, d.pollers.Load())
		}
	}
}
