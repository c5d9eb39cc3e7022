package evtchn

// The EVTCHNOP workers. Each takes decoded Go values (never a guest
// address) and returns Xen's errno as abi.Errno (0 = success, positive
// values; the hypercall layer negates them). The receiver is the table of
// the calling domain. Error precedence follows Xen 4.17's
// common/event_channel.c, including where a permission check comes after
// the allocation of a port (alloc_unbound reports -ENOSPC before -EPERM).

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/internal/lockorder"
)

// AllocUnbound allocates a port in domain dom (DOMID_SELF or the caller;
// another domain only for a privileged caller) that domain remoteDom may
// later bind with BindInterdomain (EVTCHNOP_alloc_unbound). remoteDom ==
// DOMID_SELF means the caller. remoteDom is not checked for existence.
//
// Errors: -ESRCH no domain dom; -EINVAL dom is dying; -ENOSPC no free
// port; -EPERM the caller may not act on dom.
func (t *Table) AllocUnbound(dom, remoteDom abi.DomID) (Port, abi.Errno) {
	d := t.lookupAny(dom)
	if d == nil {
		return 0, abi.ESRCH
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	port, err := d.getFreePort()
	if err != 0 {
		return 0, err
	}
	if !t.mayControl(d) {
		return 0, abi.EPERM
	}
	if remoteDom == abi.DOMID_SELF {
		remoteDom = t.dom
	}
	d.chans[port] = channel{state: stateUnbound, remoteDom: remoteDom}
	return port, 0
}

// BindInterdomain connects a new local port to port remotePort of domain
// remoteDom (DOMID_SELF for a loopback), which must be unbound and
// waiting for the caller (EVTCHNOP_bind_interdomain). Both ports become
// interdomain, and the new local port is marked pending, since sends to
// the unbound remote port were dropped.
//
// Errors: -ESRCH no such domain; -EINVAL caller dying, or the remote port
// is not valid, not unbound, or reserved for another domain; -ENOSPC no
// free local port.
func (t *Table) BindInterdomain(remoteDom abi.DomID, remotePort Port) (Port, abi.Errno) {
	rd := t.lookupAny(remoteDom)
	if rd == nil {
		return 0, abi.ESRCH
	}
	lockorder.Lock(&t.mu, &rd.mu, t.dom, rd.dom)
	defer lockorder.Unlock(&t.mu, &rd.mu)
	lport, err := t.getFreePort()
	if err != 0 {
		return 0, err
	}
	if !rd.valid(remotePort) {
		return 0, abi.EINVAL
	}
	rc := &rd.chans[remotePort]
	if rc.state != stateUnbound || rc.remoteDom != t.dom {
		return 0, abi.EINVAL
	}
	lc := &t.chans[lport]
	*lc = channel{state: stateInterdomain, remote: rd, remotePort: remotePort}
	rc.state = stateInterdomain
	rc.remote = t
	rc.remotePort = lport
	rc.remoteDom = 0
	t.setPending(lc.vcpu, lport)
	return lport, 0
}

// virqIsGlobal reports whether virq is bound once per domain (on vCPU 0)
// rather than once per vCPU. TIMER, DEBUG, XENOPROF and XENPMU are
// per-vCPU; every other VIRQ, the x86 VIRQ_ARCH_* included, is global.
func virqIsGlobal(virq uint32) bool {
	switch virq {
	case abi.VIRQ_TIMER, abi.VIRQ_DEBUG, abi.VIRQ_XENOPROF, abi.VIRQ_XENPMU:
		return false
	}
	return true
}

// BindVIRQ binds virtual IRQ virq for vCPU vcpu to a new port
// (EVTCHNOP_bind_virq). A per-vCPU VIRQ binds once per vCPU; a global
// VIRQ binds only with vcpu 0, once per domain.
//
// Errors: -EINVAL virq >= NR_VIRQS, a global VIRQ with vcpu != 0, or the
// domain is dying; -ENOENT no such vCPU; -EEXIST already bound; -ENOSPC no
// free port.
func (t *Table) BindVIRQ(virq, vcpu uint32) (Port, abi.Errno) {
	if virq >= abi.NR_VIRQS {
		return 0, abi.EINVAL
	}
	if virqIsGlobal(virq) && vcpu != 0 {
		return 0, abi.EINVAL
	}
	if uint64(vcpu) >= uint64(t.nvcpus) {
		return 0, abi.ENOENT
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.virqPort[vcpu][virq] != 0 {
		return 0, abi.EEXIST
	}
	port, err := t.getFreePort()
	if err != 0 {
		return 0, err
	}
	t.chans[port] = channel{state: stateVIRQ, vcpu: vcpu, virq: virq}
	t.virqPort[vcpu][virq] = port
	return port, 0
}

// BindIPI binds a new port that notifies vCPU vcpu of the caller's own
// domain (EVTCHNOP_bind_ipi).
//
// Errors: -ENOENT no such vCPU; -EINVAL dying; -ENOSPC no free port.
func (t *Table) BindIPI(vcpu uint32) (Port, abi.Errno) {
	if uint64(vcpu) >= uint64(t.nvcpus) {
		return 0, abi.ENOENT
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	port, err := t.getFreePort()
	if err != 0 {
		return 0, err
	}
	t.chans[port] = channel{state: stateIPI, vcpu: vcpu}
	return port, 0
}

// BindPIRQFlagWillShare is BIND_PIRQ__WILL_SHARE: the guest accepts
// sharing the line with other domains.
const BindPIRQFlagWillShare = 1

// BindPIRQ binds physical IRQ pirq to a new port notifying vCPU 0
// (EVTCHNOP_bind_pirq). The table records the binding (so status, close,
// bind_vcpu and SendPIRQ work); routing the machine interrupt and the
// sharing flag are the physdev layer's job.
//
// Errors: -EINVAL pirq >= NrPIRQs or dying; -EPERM the domain may not use
// pirq; -EEXIST already bound; -ENOSPC no free port.
func (t *Table) BindPIRQ(pirq, flags uint32) (Port, abi.Errno) {
	if pirq >= t.nrPIRQs {
		return 0, abi.EINVAL
	}
	if t.pirqOK == nil || !t.pirqOK(pirq) {
		return 0, abi.EPERM
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pirqPort[pirq] != 0 {
		return 0, abi.EEXIST
	}
	port, err := t.getFreePort()
	if err != 0 {
		return 0, err
	}
	t.chans[port] = channel{state: statePIRQ, pirq: pirq}
	t.pirqPort[pirq] = port
	return port, 0
}

// Close frees port (EVTCHNOP_close). An interdomain peer goes back to
// unbound, waiting for the caller's domain again; a VIRQ or PIRQ binding
// is dropped. The port's pending bit is cleared.
//
// Errors: -EINVAL port not valid, free, or reserved (port 0).
func (t *Table) Close(port Port) abi.Errno {
	t.mu.Lock()
	if !t.valid(port) {
		t.mu.Unlock()
		return abi.EINVAL
	}
	c := t.chans[port]
	if c.state != stateInterdomain || c.remote == t {
		err := t.closeLocked(port)
		t.mu.Unlock()
		return err
	}
	r := c.remote
	if t.dom < r.dom {
		r.mu.Lock()
		err := t.closeLocked(port)
		r.mu.Unlock()
		t.mu.Unlock()
		return err
	}
	// The peer has the lower id: retake both locks in order and look
	// again, as the port may have changed meanwhile (tables never shrink,
	// so port stays valid).
	t.mu.Unlock()
	lockorder.Lock(&t.mu, &r.mu, t.dom, r.dom)
	defer lockorder.Unlock(&t.mu, &r.mu)
	c = t.chans[port]
	if c.state == stateInterdomain && c.remote != r {
		// Closed and re-bound to another domain meanwhile: Xen answers
		// as if it had seen the port closed.
		return abi.EINVAL
	}
	return t.closeLocked(port)
}

// closeLocked does Close once the locks are held: t.mu, and for an
// interdomain port the peer table's mu too.
func (t *Table) closeLocked(port Port) abi.Errno {
	c := &t.chans[port]
	switch c.state {
	case stateFree, stateReserved:
		return abi.EINVAL
	case stateUnbound, stateIPI:
	case statePIRQ:
		delete(t.pirqPort, c.pirq)
	case stateVIRQ:
		v := c.vcpu
		if virqIsGlobal(c.virq) {
			v = 0
		}
		t.virqPort[v][c.virq] = 0
	case stateInterdomain:
		rc := &c.remote.chans[c.remotePort]
		rc.state = stateUnbound
		rc.remoteDom = t.dom
		rc.remote = nil
		rc.remotePort = 0
	}
	t.freeLocked(port)
	return 0
}

// freeLocked returns port to the free state (Xen's evtchn_free): pending
// cleared, notify vCPU back to 0. Caller holds t.mu.
func (t *Table) freeLocked(port Port) {
	t.clearPending(port)
	t.chans[port] = channel{}
}

// Send notifies the other end of port (EVTCHNOP_send): the interdomain
// peer, or the vCPU of an IPI port. A send on an unbound port is dropped.
//
// Errors: -EINVAL port not valid, or free, reserved, VIRQ or PIRQ.
func (t *Table) Send(port Port) abi.Errno {
	for {
		t.mu.Lock()
		if !t.valid(port) {
			t.mu.Unlock()
			return abi.EINVAL
		}
		c := t.chans[port]
		switch c.state {
		case stateIPI:
			t.setPending(c.vcpu, port)
			t.mu.Unlock()
			return 0
		case stateUnbound:
			t.mu.Unlock()
			return 0
		case stateInterdomain:
		default:
			t.mu.Unlock()
			return abi.EINVAL
		}
		r, rp := c.remote, c.remotePort
		if r == t {
			t.setPending(t.chans[rp].vcpu, rp)
			t.mu.Unlock()
			return 0
		}
		t.mu.Unlock()
		lockorder.Lock(&t.mu, &r.mu, t.dom, r.dom)
		c = t.chans[port]
		if c.state == stateInterdomain && c.remote == r && c.remotePort == rp {
			r.setPending(r.chans[rp].vcpu, rp)
			lockorder.Unlock(&t.mu, &r.mu)
			return 0
		}
		// The port changed while unlocked; evaluate it again.
		lockorder.Unlock(&t.mu, &r.mu)
	}
}

// StatusInfo is the answer of EVTCHNOP_status, before encoding.
type StatusInfo struct {
	// Status is one of EVTCHNSTAT_*.
	Status uint32
	// VCPU is the vCPU the port notifies.
	VCPU uint32
	// Dom is the remote domain (unbound: the domain allowed to bind;
	// interdomain: the peer's domain).
	Dom abi.DomID
	// Port is the peer's port (interdomain).
	Port Port
	// PIRQ is the bound physical IRQ (pirq).
	PIRQ uint32
	// VIRQ is the bound virtual IRQ (virq).
	VIRQ uint32
}

// Status describes port of domain dom (DOMID_SELF or the caller; another
// domain only for a privileged caller) (EVTCHNOP_status). A free or
// reserved port reports EVTCHNSTAT_closed.
//
// Errors: -ESRCH no domain dom; -EINVAL port not valid; -EPERM the caller
// may not look at dom.
func (t *Table) Status(dom abi.DomID, port Port) (StatusInfo, abi.Errno) {
	d := t.lookupAny(dom)
	if d == nil {
		return StatusInfo{}, abi.ESRCH
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.valid(port) {
		return StatusInfo{}, abi.EINVAL
	}
	if !t.mayControl(d) {
		return StatusInfo{}, abi.EPERM
	}
	c := &d.chans[port]
	s := StatusInfo{VCPU: c.vcpu}
	switch c.state {
	case stateFree, stateReserved:
		s.Status = abi.EVTCHNSTAT_closed
	case stateUnbound:
		s.Status = abi.EVTCHNSTAT_unbound
		s.Dom = c.remoteDom
	case stateInterdomain:
		s.Status = abi.EVTCHNSTAT_interdomain
		s.Dom = c.remote.dom
		s.Port = c.remotePort
	case statePIRQ:
		s.Status = abi.EVTCHNSTAT_pirq
		s.PIRQ = c.pirq
	case stateVIRQ:
		s.Status = abi.EVTCHNSTAT_virq
		s.VIRQ = c.virq
	case stateIPI:
		s.Status = abi.EVTCHNSTAT_ipi
	}
	return s, 0
}

// BindVCPU makes port notify vCPU vcpu from now on (EVTCHNOP_bind_vcpu).
// Allowed for unbound, interdomain, PIRQ and global-VIRQ ports; an IPI or
// per-vCPU VIRQ port is tied to its vCPU. A pending event stays where it
// was signalled.
//
// Errors: -ENOENT no such vCPU; -EINVAL port not valid or of a kind that
// cannot move.
func (t *Table) BindVCPU(port Port, vcpu uint32) abi.Errno {
	if uint64(vcpu) >= uint64(t.nvcpus) {
		return abi.ENOENT
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid(port) {
		return abi.EINVAL
	}
	c := &t.chans[port]
	switch c.state {
	case stateVIRQ:
		if !virqIsGlobal(c.virq) {
			return abi.EINVAL
		}
	case stateUnbound, stateInterdomain, statePIRQ:
	default:
		return abi.EINVAL
	}
	c.vcpu = vcpu
	return 0
}

// Unmask clears port's mask bit and, if the port was masked and is
// pending, delivers it to its vCPU: selector bit, upcall_pending, kick
// (EVTCHNOP_unmask). On a free or reserved port it does nothing.
//
// Errors: -EINVAL port not valid.
func (t *Table) Unmask(port Port) abi.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid(port) {
		return abi.EINVAL
	}
	c := &t.chans[port]
	if !c.state.usable() {
		return 0
	}
	mw, bit := maskWord(t.shared, port)
	prev, ok := t.mem.And64(mw, ^bit)
	if ok && prev&bit != 0 && t.isPending(port) {
		t.selectAndMark(int(c.vcpu), port)
	}
	return 0
}

// Reset closes every port of domain dom (EVTCHNOP_reset). The caller may
// reset itself; a privileged caller may reset another domain that its
// controller has paused.
//
// Errors: -ESRCH no domain dom; -EPERM not allowed; -EINVAL another
// domain that is not paused.
func (t *Table) Reset(dom abi.DomID) abi.Errno {
	d := t.lookupAny(dom)
	if d == nil {
		return abi.ESRCH
	}
	if !t.mayControl(d) {
		return abi.EPERM
	}
	if d != t && (d.paused == nil || !d.paused()) {
		return abi.EINVAL
	}
	d.closeAll()
	return 0
}

// EVTCHNOP_reset_cont is Xen's EVTCHNOP_reset_cont (14), defined only for
// the hypervisor (__XEN__) in public/event_channel.h, so not in abi: the
// continuation of a preempted reset. A guest may still issue it.
const EVTCHNOP_reset_cont = 14

// ResetCont answers a guest's EVTCHNOP_reset_cont. gohv never preempts a
// reset, so no reset is ever in progress and Xen's answer to a
// continuation without one, -EBUSY, is given after the same checks as
// Reset.
//
// Errors: -ESRCH, -EPERM, -EINVAL as Reset; otherwise -EBUSY.
func (t *Table) ResetCont(dom abi.DomID) abi.Errno {
	d := t.lookupAny(dom)
	if d == nil {
		return abi.ESRCH
	}
	if !t.mayControl(d) {
		return abi.EPERM
	}
	if d != t && (d.paused == nil || !d.paused()) {
		return abi.EINVAL
	}
	return abi.EBUSY
}

// Destroy closes every port and refuses new ones (Xen's evtchn_destroy on
// a dying domain). Interdomain peers go back to unbound.
func (t *Table) Destroy() {
	t.mu.Lock()
	t.dying = true
	t.mu.Unlock()
	t.closeAll()
}

// closeAll closes every valid port but port 0. Errors (free ports) are
// expected and ignored.
func (t *Table) closeAll() {
	t.mu.Lock()
	n := len(t.chans)
	t.mu.Unlock()
	for p := 1; p < n; p++ {
		t.Close(Port(p))
	}
}

// InitControl answers EVTCHNOP_init_control. gohv implements only the
// 2-level ABI for now and returns -ENOSYS, which makes Linux stay on
// 2-level silently (Linux's drivers/xen/events/events_base.c
// xen_init_IRQ). Xen 4.17 would switch to FIFO.
func (t *Table) InitControl() abi.Errno { return abi.ENOSYS }

// ExpandArray answers EVTCHNOP_expand_array: without FIFO, Xen returns
// -EOPNOTSUPP.
func (t *Table) ExpandArray() abi.Errno { return abi.EOPNOTSUPP }

// SetPriority answers EVTCHNOP_set_priority. Priorities exist only in the
// FIFO ABI: a valid port gets -ENOSYS, as from Xen's 2-level port ops.
//
// Errors: -EINVAL port not valid; -ENOSYS otherwise.
func (t *Table) SetPriority(port Port, priority uint32) abi.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid(port) {
		return abi.EINVAL
	}
	return abi.ENOSYS
}
