package pirq

import (
	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
)

// pirqState is a PIRQ's mapping state (Xen's pirq->arch.irq: 0,
// PIRQ_ALLOCATED, > 0, or < 0 after a forced unbind).
type pirqState uint8

const (
	stateFree      pirqState = iota // no struct pirq, or irq 0
	stateAllocated                  // PHYSDEVOP_get_free_pirq reserved it (PIRQ_ALLOCATED)
	stateMapped                     // mapped to irq
	stateOrphan                     // unmapped while bound: free once its port closes
)

// pirqInfo is one of a domain's PIRQs (Xen's struct pirq).
type pirqInfo struct {
	state  pirqState
	irq    IRQ
	port   evtchn.Port // bound port, 0 if none
	masked bool        // delivered, waiting for the guest's EOI
}

// Table is one domain's PIRQs. Its mutable fields are guarded by the
// Machine's mutex. Create one with Machine.NewTable before the domain's
// evtchn table (whose Config takes Permitted, Bind and Unbind), then
// SetEvents.
type Table struct {
	m        *Machine
	dom      abi.DomID
	hardware bool
	nr       int // nr_pirqs

	// Guarded by m.mu.
	events     *evtchn.Table
	pirqs      map[int]*pirqInfo
	byIRQ      map[IRQ]int
	eoiMap     mm.MFN // the pirq_eoi_gmfn frame, valid with hasEOIMap
	hasEOIMap  bool
	autoUnmask bool // PHYSDEVOP_pirq_eoi_gmfn_v1: EOI unmasks the port
	dead       bool
}

// NewTable returns domain dom's PIRQ table with NrPIRQs(hardware) PIRQs.
func (m *Machine) NewTable(dom abi.DomID, hardware bool) *Table {
	return &Table{m: m, dom: dom, hardware: hardware, nr: m.NrPIRQs(hardware),
		pirqs: map[int]*pirqInfo{}, byIRQ: map[IRQ]int{}}
}

// SetEvents gives t the domain's event-channel table (for SendPIRQ and
// the v1 EOI map's unmask).
func (t *Table) SetEvents(e *evtchn.Table) {
	t.m.mu.Lock()
	t.events = e
	t.m.mu.Unlock()
}

// NrPIRQs is the domain's number of PIRQs (d->nr_pirqs).
func (t *Table) NrPIRQs() int { return t.nr }

// Domain is the table's domain.
func (t *Table) Domain() abi.DomID { return t.dom }

// IRQ returns the machine IRQ pirq is mapped to (domain_pirq_to_irq),
// false if it is not mapped.
func (t *Table) IRQ(pirq int) (IRQ, bool) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if p := t.pirqs[pirq]; p != nil && p.state == stateMapped {
		return p.irq, true
	}
	return 0, false
}

// PIRQOf returns the PIRQ irq is mapped to in t (domain_irq_to_pirq).
func (t *Table) PIRQOf(irq IRQ) (int, bool) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	p, ok := t.byIRQ[irq]
	return p, ok
}

// Permitted reports whether the domain may bind pirq to an event channel
// (pirq_access_permitted: it is mapped). evtchn's PIRQPermitted.
func (t *Table) Permitted(pirq uint32) bool {
	_, ok := t.IRQ(int(pirq))
	return ok
}

func (t *Table) free(p int) bool {
	info := t.pirqs[p]
	return info == nil || info.state == stateFree
}

// getFree is Xen's get_free_pirq: a GSI-type PIRQ from 16 up among the
// GSIs, otherwise (or when none is free there) the highest free one above
// the GSIs. Caller holds m.mu.
func (t *Table) getFree(typ int) (int, abi.Errno) {
	if typ == abi.MAP_PIRQ_TYPE_GSI {
		for p := 16; p < t.m.nrGSIs && p < t.nr; p++ {
			if t.free(p) {
				return p, 0
			}
		}
	}
	for p := t.nr - 1; p >= t.m.nrGSIs; p-- {
		if t.free(p) {
			return p, 0
		}
	}
	return 0, abi.ENOSPC
}

// GetFree reserves a free PIRQ of map type typ (PHYSDEVOP_get_free_pirq).
// Errors: -ENOSPC none free.
func (t *Table) GetFree(typ int) (int, abi.Errno) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	p, e := t.getFree(typ)
	if e != 0 {
		return 0, e
	}
	t.pirqs[p] = &pirqInfo{state: stateAllocated}
	return p, 0
}

// allocate is Xen's allocate_pirq: pirq < 0 asks for irq's current PIRQ
// or a free one; a given pirq must match irq's current PIRQ if it has one.
// Caller holds m.mu.
func (t *Table) allocate(irq IRQ, pirq, typ int) (int, abi.Errno) {
	cur, has := t.byIRQ[irq]
	if pirq < 0 {
		if has {
			return cur, 0
		}
		return t.getFree(typ)
	}
	if has && cur != pirq {
		return 0, abi.EEXIST
	}
	return pirq, 0
}

// MapGSI maps GSI gsi to a PIRQ of t's domain (PHYSDEVOP_map_pirq with
// MAP_PIRQ_TYPE_GSI, after the privilege check): pirq < 0 asks for any.
// caller is the calling domain's table: the hardware domain maps GSIs by
// number; another caller only an IRQ it has itself as PIRQ gsi. It
// returns the PIRQ. Errors: -EINVAL gsi not a GSI of the machine or not
// the caller's, pirq out of range; -EEXIST the GSI has another PIRQ;
// -ENOSPC no free PIRQ.
func (t *Table) MapGSI(caller *Table, gsi, pirq int) (int, abi.Errno) {
	m := t.m
	if gsi < 0 || gsi >= m.nrGSIs {
		return 0, abi.EINVAL
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	irq := IRQ(0)
	if p := caller.pirqs[gsi]; p != nil && p.state == stateMapped {
		irq = p.irq
	}
	if irq <= 0 {
		if !caller.hardware {
			return 0, abi.EINVAL
		}
		irq = IRQ(gsi)
	}
	p, e := t.allocate(irq, pirq, abi.MAP_PIRQ_TYPE_GSI)
	if e != 0 {
		return 0, e
	}
	return p, t.mapLocked(p, irq, false, MSI{})
}

// MapMSI maps an MSI or MSI-X source of a reported PCI function to a PIRQ
// of t's domain (map_pirq with MAP_PIRQ_TYPE_MSI or MSI_SEG): index -1
// creates a new IRQ with a vector (Xen's create_irq); pirq < 0 asks for
// any PIRQ. It returns the PIRQ. Errors: -EINVAL no vector for a new IRQ,
// index not -1 and not an MSI IRQ, pirq out of range; -EEXIST index's MSI
// is already enabled; -ENODEV the function was not reported or has no
// such capability; -ENOSPC no free PIRQ; the Controller's.
func (t *Table) MapMSI(index, pirq int, src MSI) (int, abi.Errno) {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if src.TableBase == 0 {
		src.EntryNr = 1
	}
	if index != -1 {
		if d := m.descs[IRQ(index)]; d != nil && d.msi {
			return 0, abi.EEXIST
		}
		return 0, abi.EINVAL
	}
	irq, ok := m.createIRQ()
	if !ok {
		return 0, abi.EINVAL
	}
	p, e := t.allocate(irq, pirq, abi.MAP_PIRQ_TYPE_MSI)
	if e == 0 {
		e = t.mapLocked(p, irq, true, src)
	}
	if e != 0 || m.descs[irq].mapped == 0 {
		// Failed, or Xen's "already mapped" success that mapped nothing.
		m.destroyIRQ(irq)
	}
	return p, e
}

// createIRQ picks the lowest IRQ above the GSIs without a descriptor and
// gets it a vector. Caller holds m.mu.
func (m *Machine) createIRQ() (IRQ, bool) {
	for irq := IRQ(m.nrGSIs); irq < IRQ(m.nrIRQs); irq++ {
		if irq == 0 || m.descs[irq] != nil {
			continue
		}
		if !m.ctrl.AllocVector(irq) {
			return 0, false
		}
		m.descs[irq] = &desc{msi: true}
		return irq, true
	}
	return 0, false
}

// destroyIRQ gives an MSI IRQ's vector and descriptor back. Caller holds
// m.mu.
func (m *Machine) destroyIRQ(irq IRQ) {
	m.ctrl.FreeVector(irq)
	delete(m.descs, irq)
}

// mapLocked is Xen's map_domain_pirq. As in Xen, a PIRQ or IRQ that is
// already mapped to something else makes it succeed without mapping.
// Caller holds m.mu.
func (t *Table) mapLocked(pirq int, irq IRQ, msi bool, src MSI) abi.Errno {
	m := t.m
	if t.dead || pirq < 0 || pirq >= t.nr || irq <= 0 || irq >= IRQ(m.nrIRQs) {
		return abi.EINVAL
	}
	info := t.pirqs[pirq]
	oldPIRQ, hasOld := t.byIRQ[irq]
	if info != nil && info.state == stateMapped && info.irq != irq || hasOld && oldPIRQ != pirq {
		return 0
	}
	if info != nil && info.state == stateOrphan {
		return abi.EBUSY // still bound to a port after a forced unbind
	}
	d := m.descs[irq]
	if msi {
		if _, ok := m.devices[src.Dev]; !ok {
			return abi.ENODEV
		}
		if d.mapped > 0 {
			return abi.EEXIST
		}
		maskable, e := m.ctrl.EnableMSI(irq, src)
		if e != 0 {
			return e
		}
		d.source, d.maskable = src, maskable
	} else if d == nil {
		d = &desc{}
		m.descs[irq] = d
	}
	if info != nil && info.state == stateMapped {
		return 0 // the same mapping again
	}
	if info == nil {
		info = &pirqInfo{}
		t.pirqs[pirq] = info
	}
	info.state, info.irq = stateMapped, irq
	t.byIRQ[irq] = pirq
	d.mapped++
	return 0
}

// Unmap unmaps PIRQ pirq of t's domain (PHYSDEVOP_unmap_pirq, Xen's
// unmap_domain_pirq). A PIRQ still bound to an event channel is unbound
// from the IRQ by force; it stays taken until the port is closed. Errors:
// -EINVAL pirq out of range or not mapped.
func (t *Table) Unmap(pirq int) abi.Errno {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if pirq < 0 || pirq >= t.nr {
		return abi.EINVAL
	}
	info := t.pirqs[pirq]
	if info == nil || info.state != stateMapped {
		return abi.EINVAL
	}
	t.unmapLocked(pirq, info)
	return 0
}

// unmapLocked undoes a mapping. Caller holds m.mu.
func (t *Table) unmapLocked(pirq int, info *pirqInfo) {
	m := t.m
	irq := info.irq
	d := m.descs[irq]
	if info.port != 0 {
		m.guestUnbind(t, info, irq, d)
		info.state = stateOrphan
	} else {
		delete(t.pirqs, pirq)
	}
	delete(t.byIRQ, irq)
	d.mapped--
	if d.mapped == 0 && len(d.guests) == 0 {
		if d.msi {
			m.ctrl.DisableMSI(irq)
			m.destroyIRQ(irq)
		} else {
			delete(m.descs, irq)
		}
	}
}

// Bind routes pirq's IRQ to the domain now that port is bound to it (Xen's
// pirq_guest_bind, from EVTCHNOP_bind_pirq): the first binder starts the
// IRQ and decides whether it may be shared; the EOI map's bit for pirq is
// set when the IRQ needs the guest's EOI and cleared when not. evtchn's
// PIRQBind, called with the evtchn table's lock held. Errors: -EINVAL not
// mapped; -EBUSY bound by another domain that does not share.
func (t *Table) Bind(pirq uint32, port evtchn.Port, willShare bool) abi.Errno {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	info := t.pirqs[int(pirq)]
	if info == nil || info.state != stateMapped {
		return abi.EINVAL
	}
	d := m.descs[info.irq]
	if len(d.guests) == 0 {
		d.shareable = willShare
		d.ack = m.ackType(info.irq, d)
		d.inFlight = 0
		m.ctrl.Unmask(info.irq)
	} else if !willShare || !d.shareable {
		return abi.EBUSY
	}
	d.guests = append(d.guests, t)
	info.port, info.masked = port, false
	t.setEOIBit(int(pirq), d.ack != AckNone)
	return 0
}

// Unbind undoes Bind when pirq's port is closed (Xen's pirq_guest_unbind):
// an interrupt the domain had not EOIed counts as EOIed; the last guest
// stops the IRQ. A PIRQ unmapped while bound becomes free. evtchn's
// PIRQUnbind, called with the evtchn table's lock held.
func (t *Table) Unbind(pirq uint32) {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	info := t.pirqs[int(pirq)]
	if info == nil || info.port == 0 {
		return
	}
	switch info.state {
	case stateMapped:
		m.guestUnbind(t, info, info.irq, m.descs[info.irq])
	case stateOrphan:
		delete(t.pirqs, int(pirq))
	}
	info.port = 0
}

// guestUnbind takes t off irq's guests. Caller holds m.mu.
func (m *Machine) guestUnbind(t *Table, info *pirqInfo, irq IRQ, d *desc) {
	for i, g := range d.guests {
		if g == t {
			d.guests = append(d.guests[:i], d.guests[i+1:]...)
			break
		}
	}
	if info.masked {
		info.masked = false
		d.inFlight--
		if d.inFlight == 0 {
			m.ackDone(irq, d)
		}
	}
	if len(d.guests) == 0 {
		m.ctrl.Mask(irq)
	}
}

// ackDone finishes an interrupt every guest has EOIed (the end of Xen's
// desc_guest_eoi). Caller holds m.mu.
func (m *Machine) ackDone(irq IRQ, d *desc) {
	switch d.ack {
	case AckUnmask:
		m.ctrl.Unmask(irq)
	case AckEOI:
		m.ctrl.EOI(irq)
	}
}

// EOI is PHYSDEVOP_eoi: the guest has handled pirq's interrupt. With the
// v1 EOI map the port is unmasked too. Errors: -EINVAL pirq out of range
// or the domain has no such PIRQ.
func (t *Table) EOI(pirq uint32) abi.Errno {
	m := t.m
	if uint64(pirq) >= uint64(t.nr) {
		return abi.EINVAL
	}
	m.mu.Lock()
	info := t.pirqs[int(pirq)]
	if info == nil {
		m.mu.Unlock()
		return abi.EINVAL
	}
	port, unmask, events := info.port, t.autoUnmask, t.events
	m.endInFlight(info)
	m.mu.Unlock()
	if unmask && port != 0 && events != nil {
		events.Unmask(port)
	}
	return 0
}

// UnmaskNotify is the legacy PHYSDEVOP_IRQ_UNMASK_NOTIFY (Xen's
// pirq_guest_unmask): every PIRQ with an interrupt in flight whose port
// the guest no longer masks counts as EOIed.
func (t *Table) UnmaskNotify() {
	m := t.m
	type waiting struct {
		pirq int
		port evtchn.Port
	}
	var ws []waiting
	m.mu.Lock()
	events := t.events
	for p, info := range t.pirqs {
		if info.masked && info.port != 0 {
			ws = append(ws, waiting{p, info.port})
		}
	}
	m.mu.Unlock()
	if events == nil {
		return
	}
	for _, w := range ws {
		if !events.Masked(w.port) {
			t.eoiIf(w.pirq, w.port)
		}
	}
}

// eoiIf ends pirq's in-flight interrupt if pirq is still bound to port.
func (t *Table) eoiIf(pirq int, port evtchn.Port) {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if info := t.pirqs[pirq]; info != nil && info.port == port {
		m.endInFlight(info)
	}
}

// endInFlight is Xen's desc_guest_eoi: the domain is done with info's
// delivered interrupt; once every bound domain is, the IRQ is
// acknowledged as its ack type says. Caller holds m.mu.
func (m *Machine) endInFlight(info *pirqInfo) {
	if info.state != stateMapped || !info.masked {
		return
	}
	info.masked = false
	d := m.descs[info.irq]
	d.inFlight--
	if d.inFlight == 0 {
		m.ackDone(info.irq, d)
	}
}

// Status is PHYSDEVOP_irq_status_query's worker: XENIRQSTAT_needs_eoi
// always (as Xen 4.17 answers every PV domain: a guest without the EOI
// map must EOI every PIRQ), XENIRQSTAT_shared when more than one domain
// has pirq's IRQ bound. Errors: -EINVAL pirq out of range.
func (t *Table) Status(pirq uint32) (uint32, abi.Errno) {
	if uint64(pirq) >= uint64(t.nr) {
		return 0, abi.EINVAL
	}
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	flags := uint32(abi.XENIRQSTAT_needs_eoi)
	if info := t.pirqs[int(pirq)]; info != nil && info.state == stateMapped {
		if d := m.descs[info.irq]; d != nil && len(d.guests) > 1 {
			flags |= abi.XENIRQSTAT_shared
		}
	}
	return flags, 0
}

// SetEOIMap makes frame f of the domain its EOI map
// (PHYSDEVOP_pirq_eoi_gmfn_v1/v2; a PV domain names the frame by MFN): a
// bitmap with bit n set while PIRQ n needs PHYSDEVOP_eoi. The frame gets
// a general and a writable type reference until Destroy. v1 also makes
// PHYSDEVOP_eoi unmask the PIRQ's port. Errors: -EINVAL not a frame of
// the domain or not writable; -EBUSY the domain has an EOI map.
func (t *Table) SetEOIMap(f mm.MFN, v1 bool) abi.Errno {
	m := t.m
	if m.frames == nil || !m.frames.GetPage(f, t.dom) {
		return abi.EINVAL
	}
	if m.frames.GetPageType(f, mm.PageTypeWritable, m.flush) != 0 {
		m.frames.PutPage(f)
		return abi.EINVAL
	}
	m.mu.Lock()
	if t.hasEOIMap || t.dead {
		m.mu.Unlock()
		m.frames.PutPageType(f)
		m.frames.PutPage(f)
		return abi.EBUSY
	}
	t.eoiMap, t.hasEOIMap = f, true
	if v1 {
		t.autoUnmask = true
	}
	m.mu.Unlock()
	return 0
}

// EOIMap returns the domain's EOI map frame, false if it has none.
func (t *Table) EOIMap() (mm.MFN, bool) {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.eoiMap, t.hasEOIMap
}

// setEOIBit sets or clears pirq's bit in the EOI map (Xen's set_pirq_eoi
// and clear_pirq_eoi). Caller holds m.mu.
func (t *Table) setEOIBit(pirq int, on bool) {
	if !t.hasEOIMap || pirq >= maxPIRQs {
		return
	}
	ma := t.eoiMap.Addr() + mm.Maddr(pirq/64*8)
	bit := uint64(1) << (pirq % 64)
	if on {
		t.m.mem.Or64(ma, bit)
	} else {
		t.m.mem.And64(ma, ^bit)
	}
}

// Destroy releases everything t holds (domain destruction, after the
// domain's event channels are gone): every mapping, the IRQs only it
// had, and the EOI map frame's references. Later maps fail with -EINVAL.
func (t *Table) Destroy() {
	m := t.m
	m.mu.Lock()
	t.dead = true
	for p, info := range t.pirqs {
		if info.state == stateMapped {
			if info.port != 0 {
				m.guestUnbind(t, info, info.irq, m.descs[info.irq])
				info.port = 0
			}
			t.unmapLocked(p, info)
		}
	}
	t.pirqs = map[int]*pirqInfo{}
	f, had := t.eoiMap, t.hasEOIMap
	t.hasEOIMap, t.autoUnmask = false, false
	m.mu.Unlock()
	if had {
		m.frames.PutPageType(f)
		m.frames.PutPage(f)
	}
}
