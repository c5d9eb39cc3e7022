package evtchn

import "github.com/gohv/gohv/abi"

// Port is an event-channel port number in one domain's port space.
// Port 0 is reserved and never allocated (Linux and XTF use 0 as "none").
type Port uint32

// DefaultMaxPort is the highest port libxl lets a domain allocate unless
// configured otherwise (max_event_channels = 1023, so ports 0..1023).
const DefaultMaxPort Port = 1023

// portsPerBucket is Xen's EVTCHNS_PER_BUCKET on x86-64 (a page of 64-byte
// struct evtchn). Xen allocates channel state a bucket at a time, and a
// port is "valid" (close, status, unmask, bind_vcpu, poll answer something
// other than -EINVAL) once its bucket exists, even while the port is free.
// The table keeps the same granularity so those answers match Xen's.
const portsPerBucket = 64

// state is a channel's binding, Xen's ECS_* values.
type state uint8

const (
	stateFree        state = iota // ECS_FREE: not in use
	stateReserved                 // ECS_RESERVED: port 0, never allocated
	stateUnbound                  // ECS_UNBOUND: waiting for a remote domain to bind
	stateInterdomain              // ECS_INTERDOMAIN: connected to a port of a domain
	statePIRQ                     // ECS_PIRQ: bound to a physical IRQ
	stateVIRQ                     // ECS_VIRQ: bound to a virtual IRQ
	stateIPI                      // ECS_IPI: bound to a vCPU of the same domain
)

// usable reports whether a channel in state s can carry events (Xen's
// evtchn_usable: state above ECS_RESERVED).
func (s state) usable() bool { return s > stateReserved }

// channel is one port's state. Every field is protected by the owning
// Table's mu.
type channel struct {
	// state is the binding; the fields below are meaningful only for the
	// states named in their comments.
	state state
	// vcpu is the vCPU notified when the port becomes pending (Xen's
	// notify_vcpu_id). 0 for a free port.
	vcpu uint32
	// remoteDom is the domain allowed to bind (stateUnbound).
	remoteDom abi.DomID
	// remote and remotePort name the peer (stateInterdomain). remote is
	// never nil in that state; it may be the owning table (loopback).
	remote     *Table
	remotePort Port
	// virq is the bound virtual IRQ (stateVIRQ).
	virq uint32
	// pirq is the bound physical IRQ (statePIRQ).
	pirq uint32
}
