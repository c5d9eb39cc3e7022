package evtchn

// Argument decoding for EVTCHNOP_*, for the hypercall layer.
//
// The hypercall layer does the guest-memory part of the sandwich: it reads
// ArgSize(cmd) bytes at the guest's argument (-EFAULT if it cannot), calls
// DecodeX on them, calls the typed worker, fills the OUT fields of the
// decoded structure, and (only when the worker succeeded, as Xen does)
// writes EncodeX's bytes back over the same ArgSize(cmd) bytes. The codecs
// are little endian, allocation free, and work on the abi structures
// generated from the 4.17 headers; decode_test.go checks every offset
// against those structures. A Decode reports false when b is shorter than
// the structure; an Encode reports false when b is too short to hold it.

import (
	"encoding/binary"

	"github.com/gohv/gohv/abi"
)

var le = binary.LittleEndian

// Argument sizes of struct evtchn_* on x86-64 (public/event_channel.h).
const (
	sizeBindInterdomain = 12
	sizeBindVIRQ        = 12
	sizeBindPIRQ        = 12
	sizeClose           = 4
	sizeSend            = 4
	sizeStatus          = 24
	sizeAllocUnbound    = 8
	sizeBindIPI         = 8
	sizeBindVCPU        = 8
	sizeUnmask          = 4
	sizeReset           = 2
	sizeInitControl     = 24
	sizeExpandArray     = 8
	sizeSetPriority     = 8
)

// ArgSize returns the size of cmd's argument structure, or ok == false for
// a cmd Xen does not know (the hypercall then returns -ENOSYS without
// touching guest memory). EVTCHNOP_reset_cont takes struct evtchn_reset.
func ArgSize(cmd int) (n int, ok bool) {
	switch cmd {
	case EVTCHNOP_reset_cont:
		return sizeReset, true
	case abi.EVTCHNOP_bind_interdomain:
		return sizeBindInterdomain, true
	case abi.EVTCHNOP_bind_virq:
		return sizeBindVIRQ, true
	case abi.EVTCHNOP_bind_pirq:
		return sizeBindPIRQ, true
	case abi.EVTCHNOP_close:
		return sizeClose, true
	case abi.EVTCHNOP_send:
		return sizeSend, true
	case abi.EVTCHNOP_status:
		return sizeStatus, true
	case abi.EVTCHNOP_alloc_unbound:
		return sizeAllocUnbound, true
	case abi.EVTCHNOP_bind_ipi:
		return sizeBindIPI, true
	case abi.EVTCHNOP_bind_vcpu:
		return sizeBindVCPU, true
	case abi.EVTCHNOP_unmask:
		return sizeUnmask, true
	case abi.EVTCHNOP_reset:
		return sizeReset, true
	case abi.EVTCHNOP_init_control:
		return sizeInitControl, true
	case abi.EVTCHNOP_expand_array:
		return sizeExpandArray, true
	case abi.EVTCHNOP_set_priority:
		return sizeSetPriority, true
	}
	return 0, false
}

// DecodeAllocUnbound decodes struct evtchn_alloc_unbound.
func DecodeAllocUnbound(b []byte) (a abi.EvtchnAllocUnbound, ok bool) {
	if len(b) < sizeAllocUnbound {
		return a, false
	}
	a.Dom = le.Uint16(b[0:])
	a.RemoteDom = le.Uint16(b[2:])
	a.Port = le.Uint32(b[4:])
	return a, true
}

// EncodeAllocUnbound encodes struct evtchn_alloc_unbound.
func EncodeAllocUnbound(b []byte, a abi.EvtchnAllocUnbound) bool {
	if len(b) < sizeAllocUnbound {
		return false
	}
	le.PutUint16(b[0:], a.Dom)
	le.PutUint16(b[2:], a.RemoteDom)
	le.PutUint32(b[4:], a.Port)
	return true
}

// DecodeBindInterdomain decodes struct evtchn_bind_interdomain.
func DecodeBindInterdomain(b []byte) (a abi.EvtchnBindInterdomain, ok bool) {
	if len(b) < sizeBindInterdomain {
		return a, false
	}
	a.RemoteDom = le.Uint16(b[0:])
	a.RemotePort = le.Uint32(b[4:])
	a.LocalPort = le.Uint32(b[8:])
	return a, true
}

// EncodeBindInterdomain encodes struct evtchn_bind_interdomain; the two
// padding bytes after remote_dom are written as zero.
func EncodeBindInterdomain(b []byte, a abi.EvtchnBindInterdomain) bool {
	if len(b) < sizeBindInterdomain {
		return false
	}
	le.PutUint16(b[0:], a.RemoteDom)
	b[2], b[3] = 0, 0
	le.PutUint32(b[4:], a.RemotePort)
	le.PutUint32(b[8:], a.LocalPort)
	return true
}

// DecodeBindVIRQ decodes struct evtchn_bind_virq.
func DecodeBindVIRQ(b []byte) (a abi.EvtchnBindVirq, ok bool) {
	if len(b) < sizeBindVIRQ {
		return a, false
	}
	a.Virq = le.Uint32(b[0:])
	a.Vcpu = le.Uint32(b[4:])
	a.Port = le.Uint32(b[8:])
	return a, true
}

// EncodeBindVIRQ encodes struct evtchn_bind_virq.
func EncodeBindVIRQ(b []byte, a abi.EvtchnBindVirq) bool {
	if len(b) < sizeBindVIRQ {
		return false
	}
	le.PutUint32(b[0:], a.Virq)
	le.PutUint32(b[4:], a.Vcpu)
	le.PutUint32(b[8:], a.Port)
	return true
}

// DecodeBindPIRQ decodes struct evtchn_bind_pirq.
func DecodeBindPIRQ(b []byte) (a abi.EvtchnBindPirq, ok bool) {
	if len(b) < sizeBindPIRQ {
		return a, false
	}
	a.Pirq = le.Uint32(b[0:])
	a.Flags = le.Uint32(b[4:])
	a.Port = le.Uint32(b[8:])
	return a, true
}

// EncodeBindPIRQ encodes struct evtchn_bind_pirq.
func EncodeBindPIRQ(b []byte, a abi.EvtchnBindPirq) bool {
	if len(b) < sizeBindPIRQ {
		return false
	}
	le.PutUint32(b[0:], a.Pirq)
	le.PutUint32(b[4:], a.Flags)
	le.PutUint32(b[8:], a.Port)
	return true
}

// DecodeBindIPI decodes struct evtchn_bind_ipi.
func DecodeBindIPI(b []byte) (a abi.EvtchnBindIpi, ok bool) {
	if len(b) < sizeBindIPI {
		return a, false
	}
	a.Vcpu = le.Uint32(b[0:])
	a.Port = le.Uint32(b[4:])
	return a, true
}

// EncodeBindIPI encodes struct evtchn_bind_ipi.
func EncodeBindIPI(b []byte, a abi.EvtchnBindIpi) bool {
	if len(b) < sizeBindIPI {
		return false
	}
	le.PutUint32(b[0:], a.Vcpu)
	le.PutUint32(b[4:], a.Port)
	return true
}

// DecodeClose decodes struct evtchn_close (IN only).
func DecodeClose(b []byte) (a abi.EvtchnClose, ok bool) {
	if len(b) < sizeClose {
		return a, false
	}
	a.Port = le.Uint32(b[0:])
	return a, true
}

// DecodeSend decodes struct evtchn_send (IN only).
func DecodeSend(b []byte) (a abi.EvtchnSend, ok bool) {
	if len(b) < sizeSend {
		return a, false
	}
	a.Port = le.Uint32(b[0:])
	return a, true
}

// DecodeUnmask decodes struct evtchn_unmask (IN only).
func DecodeUnmask(b []byte) (a abi.EvtchnUnmask, ok bool) {
	if len(b) < sizeUnmask {
		return a, false
	}
	a.Port = le.Uint32(b[0:])
	return a, true
}

// DecodeBindVCPU decodes struct evtchn_bind_vcpu (IN only).
func DecodeBindVCPU(b []byte) (a abi.EvtchnBindVcpu, ok bool) {
	if len(b) < sizeBindVCPU {
		return a, false
	}
	a.Port = le.Uint32(b[0:])
	a.Vcpu = le.Uint32(b[4:])
	return a, true
}

// DecodeReset decodes struct evtchn_reset (IN only).
func DecodeReset(b []byte) (a abi.EvtchnReset, ok bool) {
	if len(b) < sizeReset {
		return a, false
	}
	a.Dom = le.Uint16(b[0:])
	return a, true
}

// DecodeSetPriority decodes struct evtchn_set_priority (IN only).
func DecodeSetPriority(b []byte) (a abi.EvtchnSetPriority, ok bool) {
	if len(b) < sizeSetPriority {
		return a, false
	}
	a.Port = le.Uint32(b[0:])
	a.Priority = le.Uint32(b[4:])
	return a, true
}

// DecodeStatus decodes struct evtchn_status.
func DecodeStatus(b []byte) (a abi.EvtchnStatus, ok bool) {
	if len(b) < sizeStatus {
		return a, false
	}
	a.Dom = le.Uint16(b[0:])
	a.Port = le.Uint32(b[4:])
	a.Status = le.Uint32(b[8:])
	a.Vcpu = le.Uint32(b[12:])
	copy(a.U[:], b[16:24])
	return a, true
}

// EncodeStatus encodes struct evtchn_status; the padding after dom is
// written as zero.
func EncodeStatus(b []byte, a abi.EvtchnStatus) bool {
	if len(b) < sizeStatus {
		return false
	}
	le.PutUint16(b[0:], a.Dom)
	b[2], b[3] = 0, 0
	le.PutUint32(b[4:], a.Port)
	le.PutUint32(b[8:], a.Status)
	le.PutUint32(b[12:], a.Vcpu)
	copy(b[16:24], a.U[:])
	return true
}

// Fill stores s into the OUT fields of a status argument the way Xen
// does: status and vcpu always, and the union member of the reported
// state (unbound.dom; interdomain.dom and .port; pirq; virq). Union bytes
// no member covers keep what the guest passed in.
func (s StatusInfo) Fill(a *abi.EvtchnStatus) {
	a.Status = s.Status
	a.Vcpu = s.VCPU
	switch s.Status {
	case abi.EVTCHNSTAT_unbound:
		le.PutUint16(a.U[0:], uint16(s.Dom))
	case abi.EVTCHNSTAT_interdomain:
		le.PutUint16(a.U[0:], uint16(s.Dom))
		le.PutUint32(a.U[4:], uint32(s.Port))
	case abi.EVTCHNSTAT_pirq:
		le.PutUint32(a.U[0:], s.PIRQ)
	case abi.EVTCHNSTAT_virq:
		le.PutUint32(a.U[0:], s.VIRQ)
	}
}

// DecodeInitControl decodes struct evtchn_init_control.
func DecodeInitControl(b []byte) (a abi.EvtchnInitControl, ok bool) {
	if len(b) < sizeInitControl {
		return a, false
	}
	a.ControlGfn = le.Uint64(b[0:])
	a.Offset = le.Uint32(b[8:])
	a.Vcpu = le.Uint32(b[12:])
	a.LinkBits = b[16]
	return a, true
}

// EncodeInitControl encodes struct evtchn_init_control; the padding after
// link_bits keeps what the guest passed in, as Xen copies its own copy of
// the whole structure back (the padding it read).
func EncodeInitControl(b []byte, a abi.EvtchnInitControl) bool {
	if len(b) < sizeInitControl {
		return false
	}
	le.PutUint64(b[0:], a.ControlGfn)
	le.PutUint32(b[8:], a.Offset)
	le.PutUint32(b[12:], a.Vcpu)
	b[16] = a.LinkBits
	return true
}

// DecodeExpandArray decodes struct evtchn_expand_array (IN only).
func DecodeExpandArray(b []byte) (a abi.EvtchnExpandArray, ok bool) {
	if len(b) < sizeExpandArray {
		return a, false
	}
	a.ArrayGfn = le.Uint64(b[0:])
	return a, true
}
