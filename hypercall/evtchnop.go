package hypercall

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
)

// event_channel_op (32): (int cmd, void *arg), after Xen 4.17's
// common/event_channel.c do_event_channel_op: copy the argument in
// (-EFAULT), run the evtchn worker on the calling domain's table, and, for
// the commands with OUT fields, copy the argument back only when the
// worker succeeded (a failed copy-back is -EFAULT: the channel stays, as
// in Xen). Unknown commands are -ENOSYS before guest memory is touched.

// evtchnMaxArg is the largest event_channel_op argument (evtchn_status and
// evtchn_init_control, 24 bytes).
const evtchnMaxArg = 24

func doEventChannelOp(d *Dispatcher, c *Caller, a *Args) Result {
	return eventChannelOp(c, int(int32(a[0])), a[1])
}

// Layout of struct evtchn_op (28 bytes), the argument of the legacy
// event_channel_op_compat: cmd@0, then the union of the argument
// structures at 4.
const (
	evtchnOpSize     = 28
	evtchnOpUnionOff = 4
)

// doEventChannelOpCompat is event_channel_op_compat (16): (evtchn_op_t
// *uop). Xen reads the whole struct (-EFAULT), then runs the ten original
// commands (bind_interdomain .. unmask) as event_channel_op on the union;
// every other command is -ENOSYS.
func doEventChannelOpCompat(d *Dispatcher, c *Caller, a *Args) Result {
	var b [evtchnOpSize]byte
	if !c.readGuest(a[0], b[:]) {
		return Errno(abi.EFAULT)
	}
	cmd := le.Uint32(b[0:])
	if cmd > abi.EVTCHNOP_unmask {
		return Errno(abi.ENOSYS)
	}
	return eventChannelOp(c, int(cmd), a[0]+evtchnOpUnionOff)
}

// eventChannelOp runs EVTCHNOP cmd with its argument at arg.
func eventChannelOp(c *Caller, cmd int, arg uint64) Result {
	t := c.Domain.State().events
	if t == nil {
		return Errno(abi.ENOSYS)
	}
	n, ok := evtchn.ArgSize(cmd)
	if !ok || n > evtchnMaxArg {
		return Errno(abi.ENOSYS)
	}
	b := c.arg[:n]
	if !c.readGuest(arg, b) {
		return Errno(abi.EFAULT)
	}
	e, out := evtchnCall(t, cmd, b)
	if e != 0 {
		return Errno(e)
	}
	if out && !c.writeGuest(arg, b) {
		return Errno(abi.EFAULT)
	}
	return Result{}
}

// evtchnCall decodes b for cmd, calls the worker on t and, on success,
// encodes the OUT fields back into b, reporting whether b must be copied
// back. Decoders cannot fail here: b is ArgSize(cmd) bytes.
func evtchnCall(t *evtchn.Table, cmd int, b []byte) (e abi.Errno, out bool) {
	switch cmd {
	case abi.EVTCHNOP_alloc_unbound:
		s, _ := evtchn.DecodeAllocUnbound(b)
		p, e := t.AllocUnbound(abi.DomID(s.Dom), abi.DomID(s.RemoteDom))
		if e != 0 {
			return e, false
		}
		s.Port = uint32(p)
		return 0, evtchn.EncodeAllocUnbound(b, s)

	case abi.EVTCHNOP_bind_interdomain:
		s, _ := evtchn.DecodeBindInterdomain(b)
		p, e := t.BindInterdomain(abi.DomID(s.RemoteDom), evtchn.Port(s.RemotePort))
		if e != 0 {
			return e, false
		}
		s.LocalPort = uint32(p)
		return 0, evtchn.EncodeBindInterdomain(b, s)

	case abi.EVTCHNOP_bind_virq:
		s, _ := evtchn.DecodeBindVIRQ(b)
		p, e := t.BindVIRQ(s.Virq, s.Vcpu)
		if e != 0 {
			return e, false
		}
		s.Port = uint32(p)
		return 0, evtchn.EncodeBindVIRQ(b, s)

	case abi.EVTCHNOP_bind_ipi:
		s, _ := evtchn.DecodeBindIPI(b)
		p, e := t.BindIPI(s.Vcpu)
		if e != 0 {
			return e, false
		}
		s.Port = uint32(p)
		return 0, evtchn.EncodeBindIPI(b, s)

	case abi.EVTCHNOP_bind_pirq:
		s, _ := evtchn.DecodeBindPIRQ(b)
		p, e := t.BindPIRQ(s.Pirq, s.Flags)
		if e != 0 {
			return e, false
		}
		s.Port = uint32(p)
		return 0, evtchn.EncodeBindPIRQ(b, s)

	case abi.EVTCHNOP_close:
		s, _ := evtchn.DecodeClose(b)
		return t.Close(evtchn.Port(s.Port)), false

	case abi.EVTCHNOP_send:
		s, _ := evtchn.DecodeSend(b)
		return t.Send(evtchn.Port(s.Port)), false

	case abi.EVTCHNOP_status:
		s, _ := evtchn.DecodeStatus(b)
		info, e := t.Status(abi.DomID(s.Dom), evtchn.Port(s.Port))
		if e != 0 {
			return e, false
		}
		info.Fill(&s)
		return 0, evtchn.EncodeStatus(b, s)

	case abi.EVTCHNOP_bind_vcpu:
		s, _ := evtchn.DecodeBindVCPU(b)
		return t.BindVCPU(evtchn.Port(s.Port), s.Vcpu), false

	case abi.EVTCHNOP_unmask:
		s, _ := evtchn.DecodeUnmask(b)
		return t.Unmask(evtchn.Port(s.Port)), false

	case abi.EVTCHNOP_reset:
		s, _ := evtchn.DecodeReset(b)
		return t.Reset(abi.DomID(s.Dom)), false

	case evtchn.EVTCHNOP_reset_cont:
		s, _ := evtchn.DecodeReset(b)
		return t.ResetCont(abi.DomID(s.Dom)), false

	case abi.EVTCHNOP_init_control:
		s, _ := evtchn.DecodeInitControl(b)
		lb, e := t.InitControl(s.ControlGfn, s.Offset, s.Vcpu)
		if e != 0 {
			return e, false
		}
		s.LinkBits = lb
		return 0, evtchn.EncodeInitControl(b, s)

	case abi.EVTCHNOP_expand_array:
		s, _ := evtchn.DecodeExpandArray(b)
		return t.ExpandArray(s.ArrayGfn), false

	case abi.EVTCHNOP_set_priority:
		s, _ := evtchn.DecodeSetPriority(b)
		return t.SetPriority(evtchn.Port(s.Port), s.Priority), false
	}
	return abi.ENOSYS, false
}
