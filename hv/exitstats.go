package hv

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gohv/gohv/hypercall"
	"github.com/gohv/gohv/internal/klog"
)

// exitStats counts what a vCPU's exits to Go were and what serving each
// cost: per exception vector and per hypercall number (a multicall counts
// once, as multicall), the exits and the TSC ticks from the Backend's
// return to the end of the handling (under QEMU's -icount shift=0 the TSC
// counts guest-visible instructions). The metal's own entry and exit, and
// what its fast path serves without an exit, are not in it. Owned by the
// vCPU's goroutine; read by Domain.exitReport from the shutdown path and
// by Machine.ExitReport for debug key 'p', where a count one behind is
// harmless (a debug line).
type exitStats struct {
	vec [32]exitCount
	hc  [hypercall.NrHypercalls]exitCount
	irq exitCount
	// The TLB maintenance the vCPU's requests came to (flusher): flushes
	// of this vCPU's CPU alone, flushes of every CPU (Backend.FlushTLB:
	// IPIs to the others in a guest, waited for) for a target of all
	// vCPUs (the guest's *_ALL, and mm's flush before a frame changes
	// type) and for a mask naming another vCPU, and single-page
	// invalidations. Counted always (one increment each).
	localFlushes, allFlushes, maskFlushes, invlpgs uint64
}

// exitCount is one kind of exit: how many, and the TSC ticks they took.
type exitCount struct{ n, ticks uint64 }

func (c *exitCount) add(ticks uint64) {
	c.n++
	c.ticks += ticks
}

// CountExits turns the exitStats of every vCPU on or off: counting reads
// the TSC twice an exit, which QEMU's TCG serves slowly (a null hypercall
// about a fifth dearer), so it runs only at loglvl=all and once debug key
// 'p' has asked for it. Any goroutine.
func (m *Machine) CountExits(on bool) { m.countExits.Store(on) }

// CountingExits reports whether CountExits turned counting on.
func (m *Machine) CountingExits() bool { return m.countExits.Load() }

// tsc reads the machine's TSC (0 without a time source).
func (m *Machine) tsc() uint64 {
	if m.cfg.Time == nil {
		return 0
	}
	t, _ := m.cfg.Time.Sample()
	return t
}

// note records an exit served in Go: exc the exception vector (or -1),
// hc the hypercall number (or -1), from TSC t0 until now.
func (s *exitStats) note(m *Machine, exc, hc int, irq bool, t0 uint64) {
	if t0 == 0 {
		return // not counting (CountExits)
	}
	d := m.tsc() - t0
	switch {
	case irq:
		s.irq.add(d)
	case exc >= 0 && exc < len(s.vec):
		s.vec[exc].add(d)
	case hc >= 0 && hc < len(s.hc):
		s.hc[hc].add(d)
	}
}

// lines renders the counts of vCPU dv as console lines: one for the
// exceptions, one for the hypercalls, each kind as name count/ticks-per-exit.
func (s *exitStats) lines(dom, vcpu int) []string {
	var exc, hcs []string
	for i, c := range s.vec {
		if c.n != 0 {
			exc = append(exc, fmt.Sprintf("%s %d/%d", vecName(uint8(i)), c.n, c.ticks/c.n))
		}
	}
	if c := s.irq; c.n != 0 {
		exc = append(exc, fmt.Sprintf("irq %d/%d", c.n, c.ticks/c.n))
	}
	for i, c := range s.hc {
		if c.n != 0 {
			name := hypercallNames[i]
			if name == "" {
				name = fmt.Sprint(i)
			}
			hcs = append(hcs, fmt.Sprintf("%s %d/%d", name, c.n, c.ticks/c.n))
		}
	}
	return []string{
		fmt.Sprintf("gohv d%dv%d exits to Go (count/TSC ticks each): %s", dom, vcpu, strings.Join(exc, ", ")),
		fmt.Sprintf("gohv d%dv%d hypercalls (count/TSC ticks each): %s", dom, vcpu, strings.Join(hcs, ", ")),
		fmt.Sprintf("gohv d%dv%d TLB: %d local flushes, %d+%d flushes of every CPU (target all + a mask naming another vCPU), %d invlpg",
			dom, vcpu, s.localFlushes, s.allFlushes, s.maskFlushes, s.invlpgs),
	}
}

// ExitReport returns, for debug key 'p', every domain's exitStats as
// console lines, domain by domain. The counts are read while the vCPUs
// run (a count may be one behind; a debug print).
func (m *Machine) ExitReport() []string {
	m.mu.Lock()
	doms := make([]*Domain, 0, len(m.domains))
	for _, d := range m.domains {
		doms = append(doms, d)
	}
	m.mu.Unlock()
	slices.SortFunc(doms, func(a, b *Domain) int { return int(a.id) - int(b.id) })
	var out []string
	for _, d := range doms {
		for _, v := range d.vcpus {
			out = append(out, v.stats.lines(int(d.id), v.id)...)
		}
	}
	return append(out, m.metalCounters()...)
}

// MetalCounters is a Backend that also counts what its own work cost (CR3
// writes, IPIs): Counters renders the counts as console lines, for the
// exit report and debug key 'p'. Any goroutine.
type MetalCounters interface {
	Counters() []string
}

// metalCounters returns the Backend's counter lines, if it keeps any.
func (m *Machine) metalCounters() []string {
	if mc, ok := m.cfg.Backend.(MetalCounters); ok {
		return mc.Counters()
	}
	return nil
}

// exitReport prints each vCPU's exitStats at loglvl=all (debug), for
// finding where a guest's time in gohv goes.
func (d *Domain) exitReport() {
	l := d.log()
	for _, v := range d.vcpus {
		for _, s := range v.stats.lines(int(d.id), v.id) {
			l.Printf(klog.Debug, "%s", s)
		}
	}
	for _, s := range d.m.metalCounters() {
		l.Printf(klog.Debug, "%s", s)
	}
}
