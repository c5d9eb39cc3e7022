package evtchn

import (
	"testing"

	"github.com/gohv/gohv/abi"
)

func TestAllocUnbound(t *testing.T) {
	tests := []struct {
		name       string
		caller     int
		dom        abi.DomID
		remote     abi.DomID
		maxPort    Port
		prealloc   int // ports allocated in the target first
		dying      bool
		wantPort   Port
		wantErr    abi.Errno
		wantRemote abi.DomID
	}{
		{name: "self for self", caller: 1, dom: abi.DOMID_SELF, remote: abi.DOMID_SELF, wantPort: 1, wantRemote: 1},
		{name: "own id", caller: 1, dom: 1, remote: 0, wantPort: 1, wantRemote: 0},
		{name: "remote not checked", caller: 1, dom: abi.DOMID_SELF, remote: 77, wantPort: 1, wantRemote: 77},
		{name: "other domain unprivileged", caller: 1, dom: 2, remote: 1, wantErr: abi.EPERM},
		{name: "other domain privileged", caller: 0, dom: 2, remote: 1, wantPort: 1, wantRemote: 1},
		{name: "no such domain", caller: 0, dom: 9, remote: 1, wantErr: abi.ESRCH},
		{name: "DOMID_IO", caller: 0, dom: abi.DOMID_IO, remote: 1, wantErr: abi.ESRCH},
		{name: "last port", caller: 1, dom: abi.DOMID_SELF, remote: 0, maxPort: 3, prealloc: 2, wantPort: 3, wantRemote: 0},
		{name: "no free port", caller: 1, dom: abi.DOMID_SELF, remote: 0, maxPort: 3, prealloc: 3, wantErr: abi.ENOSPC},
		{name: "ENOSPC before EPERM", caller: 2, dom: 1, remote: 0, maxPort: 3, prealloc: 3, wantErr: abi.ENOSPC},
		{name: "dying", caller: 1, dom: abi.DOMID_SELF, remote: 0, dying: true, wantErr: abi.EINVAL},
		{name: "port after bucket", caller: 1, dom: abi.DOMID_SELF, remote: 0, prealloc: 63, wantPort: 64, wantRemote: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, domOpt{priv: true}, domOpt{maxPort: tc.maxPort}, domOpt{})
			for i := 0; i < tc.prealloc; i++ {
				if _, err := w.doms[1].BindIPI(0); err != 0 {
					t.Fatalf("prealloc: %v", err)
				}
			}
			if tc.dying {
				w.doms[1].Destroy()
			}
			target := w.doms[1]
			if tc.dom == 2 {
				target = w.doms[2]
			}
			p, err := w.doms[tc.caller].AllocUnbound(tc.dom, tc.remote)
			wantErr(t, "AllocUnbound", err, tc.wantErr)
			if err != 0 {
				return
			}
			if p != tc.wantPort {
				t.Errorf("port %d, want %d", p, tc.wantPort)
			}
			s, err := target.Status(abi.DOMID_SELF, p)
			if err != 0 || s.Status != abi.EVTCHNSTAT_unbound || s.Dom != tc.wantRemote || s.VCPU != 0 {
				t.Errorf("status %+v %v, want unbound for d%d", s, err, tc.wantRemote)
			}
		})
	}
}

func TestDefaultMaxPort(t *testing.T) {
	w := newWorld(t, domOpt{})
	d := w.doms[0]
	for i := Port(1); i <= DefaultMaxPort; i++ {
		p, err := d.BindIPI(0)
		if err != 0 || p != i {
			t.Fatalf("bind %d: port %d %v", i, p, err)
		}
	}
	if _, err := d.BindIPI(0); err != abi.ENOSPC {
		t.Fatalf("port 1024: %v, want ENOSPC", err)
	}
	// The last bucket ends at 1023: port 1024 is not valid at all.
	if _, err := d.Status(abi.DOMID_SELF, DefaultMaxPort+1); err != abi.EINVAL {
		t.Errorf("status 1024: %v", err)
	}
	// Closing one frees it for reuse.
	wantErr(t, "close 500", d.Close(500), 0)
	if p, err := d.BindIPI(1); p != 500 || err != 0 {
		t.Errorf("rebind: %d %v", p, err)
	}
}

func TestMaxPortCappedAt2L(t *testing.T) {
	w := newWorld(t, domOpt{maxPort: 100000})
	if got := w.doms[0].maxPort; got != NrPorts2L-1 {
		t.Fatalf("maxPort %d, want %d", got, NrPorts2L-1)
	}
}

func TestBindInterdomain(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(w *world) (abi.DomID, Port)
		wantErr abi.Errno
	}{
		{"ok", func(w *world) (abi.DomID, Port) {
			p, _ := w.doms[1].AllocUnbound(abi.DOMID_SELF, 2)
			return 1, p
		}, 0},
		{"port 0", func(w *world) (abi.DomID, Port) { return 1, 0 }, abi.EINVAL},
		{"beyond valid", func(w *world) (abi.DomID, Port) { return 1, 64 }, abi.EINVAL},
		{"huge port", func(w *world) (abi.DomID, Port) { return 1, 0xffffffff }, abi.EINVAL},
		{"free port", func(w *world) (abi.DomID, Port) { return 1, 5 }, abi.EINVAL},
		{"unbound for another domain", func(w *world) (abi.DomID, Port) {
			p, _ := w.doms[1].AllocUnbound(abi.DOMID_SELF, 0)
			return 1, p
		}, abi.EINVAL},
		{"ipi port", func(w *world) (abi.DomID, Port) {
			p, _ := w.doms[1].BindIPI(0)
			return 1, p
		}, abi.EINVAL},
		{"already bound", func(w *world) (abi.DomID, Port) {
			p, _ := w.doms[1].AllocUnbound(abi.DOMID_SELF, 2)
			if _, err := w.doms[2].BindInterdomain(1, p); err != 0 {
				panic(err)
			}
			return 1, p
		}, abi.EINVAL},
		{"no such domain", func(w *world) (abi.DomID, Port) { return 5, 1 }, abi.ESRCH},
		{"caller out of ports", func(w *world) (abi.DomID, Port) {
			p, _ := w.doms[1].AllocUnbound(abi.DOMID_SELF, 2)
			for {
				if _, err := w.doms[2].BindIPI(0); err != 0 {
					break
				}
			}
			return 1, p
		}, abi.ENOSPC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, domOpt{}, domOpt{}, domOpt{maxPort: 70})
			rd, rp := tc.setup(w)
			lp, err := w.doms[2].BindInterdomain(rd, rp)
			wantErr(t, "BindInterdomain", err, tc.wantErr)
			if err != 0 {
				return
			}
			ls, _ := w.doms[2].Status(abi.DOMID_SELF, lp)
			rs, _ := w.doms[1].Status(abi.DOMID_SELF, rp)
			if ls.Status != abi.EVTCHNSTAT_interdomain || ls.Dom != 1 || ls.Port != rp {
				t.Errorf("local status %+v", ls)
			}
			if rs.Status != abi.EVTCHNSTAT_interdomain || rs.Dom != 2 || rs.Port != lp {
				t.Errorf("remote status %+v", rs)
			}
			if !w.pending(t, 2, lp) {
				t.Errorf("new local port %d not pending", lp)
			}
			if w.pending(t, 1, rp) {
				t.Errorf("remote port %d pending", rp)
			}
		})
	}
}

func TestBindVIRQ(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 2})
	d := w.doms[0]
	tests := []struct {
		name      string
		virq, cpu uint32
		wantErr   abi.Errno
	}{
		{"timer v0", abi.VIRQ_TIMER, 0, 0},
		{"timer v0 again", abi.VIRQ_TIMER, 0, abi.EEXIST},
		{"timer v1", abi.VIRQ_TIMER, 1, 0},
		{"timer v2 no such vcpu", abi.VIRQ_TIMER, 2, abi.ENOENT},
		{"debug v1", abi.VIRQ_DEBUG, 1, 0},
		{"xenoprof v1", abi.VIRQ_XENOPROF, 1, 0},
		{"xenpmu v1", abi.VIRQ_XENPMU, 1, 0},
		{"console v1 global", abi.VIRQ_CONSOLE, 1, abi.EINVAL},
		{"console v99 global before ENOENT", abi.VIRQ_CONSOLE, 99, abi.EINVAL},
		{"console v0", abi.VIRQ_CONSOLE, 0, 0},
		{"console v0 again", abi.VIRQ_CONSOLE, 0, abi.EEXIST},
		{"dom_exc v0", abi.VIRQ_DOM_EXC, 0, 0},
		{"arch_0 global", abi.VIRQ_ARCH_0, 1, abi.EINVAL},
		{"arch_7 v0", abi.VIRQ_ARCH_7, 0, 0},
		{"NR_VIRQS", abi.NR_VIRQS, 0, abi.EINVAL},
		{"huge virq", 0xffffffff, 0, abi.EINVAL},
		{"timer huge vcpu", abi.VIRQ_TIMER, 0xffffffff, abi.ENOENT},
	}
	for _, tc := range tests {
		p, err := d.BindVIRQ(tc.virq, tc.cpu)
		wantErr(t, tc.name, err, tc.wantErr)
		if err != 0 {
			continue
		}
		s, _ := d.Status(abi.DOMID_SELF, p)
		if s.Status != abi.EVTCHNSTAT_virq || s.VIRQ != tc.virq || s.VCPU != tc.cpu {
			t.Errorf("%s: status %+v", tc.name, s)
		}
	}
	// Closing frees the binding for a new bind.
	p := d.virqPort[1][abi.VIRQ_TIMER]
	wantErr(t, "close timer v1", d.Close(p), 0)
	if _, err := d.BindVIRQ(abi.VIRQ_TIMER, 1); err != 0 {
		t.Errorf("rebind after close: %v", err)
	}
	// A global VIRQ moved to vCPU 1 is still unbound from vCPU 0's row.
	pc := d.virqPort[0][abi.VIRQ_CONSOLE]
	wantErr(t, "bind_vcpu console", d.BindVCPU(pc, 1), 0)
	wantErr(t, "close console", d.Close(pc), 0)
	if _, err := d.BindVIRQ(abi.VIRQ_CONSOLE, 0); err != 0 {
		t.Errorf("rebind console: %v", err)
	}
}

func TestBindIPIAndPIRQ(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 3})
	d := w.doms[0]
	if p, err := d.BindIPI(2); p != 1 || err != 0 {
		t.Errorf("bind_ipi v2: %d %v", p, err)
	}
	if _, err := d.BindIPI(3); err != abi.ENOENT {
		t.Errorf("bind_ipi v3: %v", err)
	}
	s, _ := d.Status(abi.DOMID_SELF, 1)
	if s.Status != abi.EVTCHNSTAT_ipi || s.VCPU != 2 {
		t.Errorf("ipi status %+v", s)
	}
	tests := []struct {
		name    string
		pirq    uint32
		wantErr abi.Errno
	}{
		{"pirq 4", 4, 0},
		{"pirq 4 again", 4, abi.EEXIST},
		{"pirq 13 not permitted", 13, abi.EPERM},
		{"pirq 63 last", 63, 0},
		{"pirq 64 beyond nr_pirqs", 64, abi.EINVAL},
	}
	for _, tc := range tests {
		p, err := d.BindPIRQ(tc.pirq, BindPIRQFlagWillShare)
		wantErr(t, tc.name, err, tc.wantErr)
		if err == 0 {
			s, _ := d.Status(abi.DOMID_SELF, p)
			if s.Status != abi.EVTCHNSTAT_pirq || s.PIRQ != tc.pirq || s.VCPU != 0 {
				t.Errorf("%s: status %+v", tc.name, s)
			}
		}
	}
	p := d.pirqPort[4]
	wantErr(t, "bind_vcpu pirq", d.BindVCPU(p, 2), 0)
	if !d.SendPIRQ(4) {
		t.Fatal("SendPIRQ(4) not bound")
	}
	if !w.pending(t, 0, p) || w.sel(t, 0, 2) != selectorBit(p) {
		t.Errorf("pirq delivery: pending %v sel %#x", w.pending(t, 0, p), w.sel(t, 0, 2))
	}
	wantErr(t, "close pirq", d.Close(p), 0)
	if d.SendPIRQ(4) {
		t.Error("SendPIRQ after close reports bound")
	}
	if _, err := d.BindPIRQ(4, 0); err != 0 {
		t.Errorf("rebind pirq 4: %v", err)
	}
}

func TestBindVCPU(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 2}, domOpt{})
	d := w.doms[0]
	ipi, _ := d.BindIPI(0)
	timer, _ := d.BindVIRQ(abi.VIRQ_TIMER, 0)
	debug, _ := d.BindVIRQ(abi.VIRQ_DEBUG, 1)
	cons, _ := d.BindVIRQ(abi.VIRQ_CONSOLE, 0)
	unb, _ := d.AllocUnbound(abi.DOMID_SELF, 1)
	unb2, _ := w.doms[1].AllocUnbound(abi.DOMID_SELF, 0)
	inter, _ := d.BindInterdomain(1, unb2)
	tests := []struct {
		name    string
		port    Port
		vcpu    uint32
		wantErr abi.Errno
	}{
		{"ipi", ipi, 1, abi.EINVAL},
		{"per-vcpu timer", timer, 1, abi.EINVAL},
		{"per-vcpu debug", debug, 0, abi.EINVAL},
		{"global console", cons, 1, 0},
		{"unbound", unb, 1, 0},
		{"interdomain", inter, 1, 0},
		{"port 0 reserved", 0, 1, abi.EINVAL},
		{"free port", 40, 1, abi.EINVAL},
		{"beyond valid", 64, 1, abi.EINVAL},
		{"no such vcpu", unb, 2, abi.ENOENT},
		{"no such vcpu before bad port", 9999, 7, abi.ENOENT},
	}
	for _, tc := range tests {
		err := d.BindVCPU(tc.port, tc.vcpu)
		wantErr(t, tc.name, err, tc.wantErr)
		if err == 0 {
			if s, _ := d.Status(abi.DOMID_SELF, tc.port); s.VCPU != tc.vcpu {
				t.Errorf("%s: vcpu %d", tc.name, s.VCPU)
			}
		}
	}
	// An interdomain event now reaches vCPU 1.
	w.clearUpcall(0, 0)
	w.clearUpcall(0, 1)
	w.ackPort(0, inter)
	w.rec[0].take()
	wantErr(t, "send d1", w.doms[1].Send(unb2), 0)
	if w.sel(t, 0, 1) != selectorBit(inter) || w.sel(t, 0, 0) != 0 {
		t.Errorf("selectors v0 %#x v1 %#x", w.sel(t, 0, 0), w.sel(t, 0, 1))
	}
	if k := w.rec[0].take(); !equalInts(k, []int{1}) {
		t.Errorf("kicks %v, want [1]", k)
	}
}

func TestClose(t *testing.T) {
	w := newWorld(t, domOpt{}, domOpt{})
	d0, d1 := w.doms[0], w.doms[1]
	unb, _ := d0.AllocUnbound(abi.DOMID_SELF, 1)
	ipi, _ := d0.BindIPI(1)
	virq, _ := d0.BindVIRQ(abi.VIRQ_TIMER, 1)
	r, _ := d1.AllocUnbound(abi.DOMID_SELF, 0)
	inter, _ := d0.BindInterdomain(1, r)

	tests := []struct {
		name    string
		port    Port
		wantErr abi.Errno
	}{
		{"port 0 reserved", 0, abi.EINVAL},
		{"free", 30, abi.EINVAL},
		{"beyond valid", 64, abi.EINVAL},
		{"max uint32", 0xffffffff, abi.EINVAL},
		{"unbound", unb, 0},
		{"unbound again", unb, abi.EINVAL},
		{"ipi", ipi, 0},
		{"virq", virq, 0},
		{"interdomain", inter, 0},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, d0.Close(tc.port), tc.wantErr)
	}
	for _, p := range []Port{unb, ipi, virq, inter} {
		if s, _ := d0.Status(abi.DOMID_SELF, p); s.Status != abi.EVTCHNSTAT_closed || s.VCPU != 0 {
			t.Errorf("port %d after close: %+v", p, s)
		}
		if w.pending(t, 0, p) {
			t.Errorf("port %d still pending after close", p)
		}
	}
	// The peer is unbound again, waiting for domain 0, and can be re-bound.
	s, _ := d1.Status(abi.DOMID_SELF, r)
	if s.Status != abi.EVTCHNSTAT_unbound || s.Dom != 0 {
		t.Errorf("peer after close: %+v", s)
	}
	inter, err := d0.BindInterdomain(1, r)
	if err != 0 || inter != unb {
		t.Errorf("re-bind peer: port %d %v, want %d (lowest free)", inter, err, unb)
	}
	// Closing from the higher domain id (d1 -> peer d0) also works.
	wantErr(t, "close from d1", d1.Close(r), 0)
	s, _ = d0.Status(abi.DOMID_SELF, inter)
	if s.Status != abi.EVTCHNSTAT_unbound || s.Dom != 1 {
		t.Errorf("d0 port after peer close: %+v", s)
	}
	// Sending on it is now silently dropped.
	w.ackPort(0, inter)
	wantErr(t, "send unbound", d0.Send(inter), 0)
}

func TestCloseLoopback(t *testing.T) {
	w := newWorld(t, domOpt{})
	d := w.doms[0]
	a, _ := d.AllocUnbound(abi.DOMID_SELF, abi.DOMID_SELF)
	b, err := d.BindInterdomain(abi.DOMID_SELF, a)
	if err != 0 || b != a+1 {
		t.Fatalf("loopback bind: %d %v", b, err)
	}
	if !w.pending(t, 0, b) {
		t.Error("local port not pending after bind")
	}
	wantErr(t, "close b", d.Close(b), 0)
	s, _ := d.Status(abi.DOMID_SELF, a)
	if s.Status != abi.EVTCHNSTAT_unbound || s.Dom != 0 {
		t.Errorf("a after close: %+v", s)
	}
}

func TestSend(t *testing.T) {
	w := newWorld(t, domOpt{vcpus: 2})
	d := w.doms[0]
	unb, _ := d.AllocUnbound(abi.DOMID_SELF, 3)
	ipi, _ := d.BindIPI(1)
	virq, _ := d.BindVIRQ(abi.VIRQ_TIMER, 0)
	pirq, _ := d.BindPIRQ(1, 0)
	tests := []struct {
		name        string
		port        Port
		wantErr     abi.Errno
		wantPending bool
		wantKicks   []int
	}{
		{"port 0", 0, abi.EINVAL, false, nil},
		{"free", 20, abi.EINVAL, false, nil},
		{"beyond valid", 64, abi.EINVAL, false, nil},
		{"unbound dropped", unb, 0, false, nil},
		{"virq", virq, abi.EINVAL, false, nil},
		{"pirq", pirq, abi.EINVAL, false, nil},
		{"ipi", ipi, 0, true, []int{1}},
		{"ipi again already pending", ipi, 0, true, nil},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, d.Send(tc.port), tc.wantErr)
		if got := tc.port < 64 && w.pending(t, 0, tc.port); got != tc.wantPending {
			t.Errorf("%s: pending %v", tc.name, got)
		}
		if k := w.rec[0].take(); !equalInts(k, tc.wantKicks) {
			t.Errorf("%s: kicks %v, want %v", tc.name, k, tc.wantKicks)
		}
	}
	if got := w.sel(t, 0, 1); got != selectorBit(ipi) {
		t.Errorf("v1 selector %#x", got)
	}
	if p, m := w.upcall(t, 0, 1); p != 1 || m != 1 {
		t.Errorf("v1 upcall pending %d mask %d", p, m)
	}
}

// TestDelivery pins the 2-level rules of setPending bit by bit.
func TestDelivery(t *testing.T) {
	tests := []struct {
		name        string
		port        Port
		masked      bool
		prePending  bool
		preSel      bool
		preUpcall   bool
		wantSel     bool
		wantUpcall  bool
		wantKick    bool
		wantPending bool
	}{
		{name: "plain", port: 1, wantSel: true, wantUpcall: true, wantKick: true, wantPending: true},
		{name: "masked", port: 1, masked: true, wantPending: true},
		{name: "already pending", port: 1, prePending: true, wantPending: true},
		{name: "selector already set", port: 1, preSel: true, wantSel: true, wantPending: true},
		{name: "upcall already pending", port: 1, preUpcall: true, wantSel: true, wantUpcall: true, wantPending: true},
		{name: "port 63 word 0", port: 63, wantSel: true, wantUpcall: true, wantKick: true, wantPending: true},
		{name: "port 64 word 1", port: 64, wantSel: true, wantUpcall: true, wantKick: true, wantPending: true},
		{name: "port 4095 last word", port: 4095, wantSel: true, wantUpcall: true, wantKick: true, wantPending: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, domOpt{vcpus: 1, maxPort: NrPorts2L - 1})
			d := w.doms[0]
			vi, _ := d.VCPUInfo(0)
			if tc.masked {
				w.setMask(t, 0, tc.port, true)
			}
			if tc.prePending {
				a, bit := pendingWord(d.shared, tc.port)
				w.mem.Or64(a, bit)
			}
			if tc.preSel {
				w.mem.Or64(vi+offPendingSel, selectorBit(tc.port))
			}
			if tc.preUpcall {
				w.mem.Or64(vi, 1)
			}
			d.mu.Lock()
			d.setPending(0, tc.port)
			d.mu.Unlock()
			if got := w.pending(t, 0, tc.port); got != tc.wantPending {
				t.Errorf("pending %v", got)
			}
			if got := w.sel(t, 0, 0)&selectorBit(tc.port) != 0; got != tc.wantSel {
				t.Errorf("selector %v", got)
			}
			if p, _ := w.upcall(t, 0, 0); (p == 1) != tc.wantUpcall {
				t.Errorf("upcall_pending %d", p)
			}
			if k := w.rec[0].take(); (len(k) == 1) != tc.wantKick {
				t.Errorf("kicks %v", k)
			}
			// Only the port's own bit is set in the bitmap.
			a, bit := pendingWord(d.shared, tc.port)
			if got := w.word(t, a); got != bit {
				t.Errorf("pending word %#x, want %#x", got, bit)
			}
		})
	}
}

func TestUnmask(t *testing.T) {
	// Each row unmasks an IPI port bound to vCPU 1.
	tests := []struct {
		name     string
		masked   bool
		pending  bool
		wantSel  bool
		wantKick bool
	}{
		{name: "masked and pending", masked: true, pending: true, wantSel: true, wantKick: true},
		{name: "masked not pending", masked: true},
		{name: "not masked but pending", pending: true},
		{name: "neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, domOpt{vcpus: 2})
			d := w.doms[0]
			p, _ := d.BindIPI(1)
			if tc.masked {
				w.setMask(t, 0, p, true)
			}
			if tc.pending {
				a, bit := pendingWord(d.shared, p)
				w.mem.Or64(a, bit)
			}
			wantErr(t, "unmask", d.Unmask(p), 0)
			a, bit := maskWord(d.shared, p)
			if w.word(t, a)&bit != 0 {
				t.Error("still masked")
			}
			if got := w.sel(t, 0, 1) == selectorBit(p); got != tc.wantSel {
				t.Errorf("selector %#x", w.sel(t, 0, 1))
			}
			if k := w.rec[0].take(); equalInts(k, []int{1}) != tc.wantKick {
				t.Errorf("kicks %v", k)
			}
		})
	}
	w := newWorld(t, domOpt{})
	d := w.doms[0]
	wantErr(t, "beyond valid", d.Unmask(64), abi.EINVAL)
	// Port 0 and free ports are valid but unusable: no-op, mask untouched.
	for _, p := range []Port{0, 9} {
		w.setMask(t, 0, p, true)
		wantErr(t, "unusable", d.Unmask(p), 0)
		a, bit := maskWord(d.shared, p)
		if w.word(t, a)&bit == 0 {
			t.Errorf("port %d unmasked", p)
		}
	}
}

func TestStatus(t *testing.T) {
	w := newWorld(t, domOpt{priv: true}, domOpt{}, domOpt{})
	d1 := w.doms[1]
	p, _ := d1.BindIPI(1)
	if _, err := d1.Status(abi.DOMID_SELF, 64); err != abi.EINVAL {
		t.Errorf("beyond valid: %v", err)
	}
	if s, err := d1.Status(abi.DOMID_SELF, 0); err != 0 || s.Status != abi.EVTCHNSTAT_closed {
		t.Errorf("port 0: %+v %v", s, err)
	}
	if _, err := d1.Status(2, 1); err != abi.EPERM {
		t.Errorf("other domain unprivileged: %v", err)
	}
	if _, err := d1.Status(2, 64); err != abi.EINVAL {
		t.Errorf("EINVAL before EPERM: %v", err)
	}
	if _, err := d1.Status(7, 1); err != abi.ESRCH {
		t.Errorf("no domain: %v", err)
	}
	if s, err := w.doms[0].Status(1, p); err != 0 || s.Status != abi.EVTCHNSTAT_ipi || s.VCPU != 1 {
		t.Errorf("privileged: %+v %v", s, err)
	}
}

func TestResetAndDestroy(t *testing.T) {
	w := newWorld(t, domOpt{priv: true}, domOpt{}, domOpt{paused: true})
	d0, d1, d2 := w.doms[0], w.doms[1], w.doms[2]
	r, _ := d1.AllocUnbound(abi.DOMID_SELF, 0)
	l, _ := d0.BindInterdomain(1, r)
	d1.BindVIRQ(abi.VIRQ_TIMER, 0)
	d2.BindIPI(0)
	wantErr(t, "unprivileged other", d1.Reset(2), abi.EPERM)
	wantErr(t, "no domain", d0.Reset(9), abi.ESRCH)
	wantErr(t, "privileged, not paused", d0.Reset(1), abi.EINVAL)
	wantErr(t, "reset_cont unprivileged other", d1.ResetCont(2), abi.EPERM)
	wantErr(t, "reset_cont no domain", d0.ResetCont(9), abi.ESRCH)
	wantErr(t, "reset_cont not paused", d0.ResetCont(1), abi.EINVAL)
	wantErr(t, "reset_cont paused", d0.ResetCont(2), abi.EBUSY)
	wantErr(t, "reset_cont self", d1.ResetCont(abi.DOMID_SELF), abi.EBUSY)
	wantErr(t, "privileged, paused", d0.Reset(2), 0)
	if s, _ := d2.Status(abi.DOMID_SELF, 1); s.Status != abi.EVTCHNSTAT_closed {
		t.Errorf("d2 port 1 after reset: %+v", s)
	}
	wantErr(t, "self", d1.Reset(abi.DOMID_SELF), 0)
	for p := Port(1); p < 4; p++ {
		if s, _ := d1.Status(abi.DOMID_SELF, p); s.Status != abi.EVTCHNSTAT_closed {
			t.Errorf("d1 port %d after reset: %+v", p, s)
		}
	}
	if s, _ := d0.Status(abi.DOMID_SELF, l); s.Status != abi.EVTCHNSTAT_unbound || s.Dom != 1 {
		t.Errorf("d0 peer after reset: %+v", s)
	}
	// After reset the timer VIRQ can be bound again.
	if _, err := d1.BindVIRQ(abi.VIRQ_TIMER, 0); err != 0 {
		t.Errorf("bind after reset: %v", err)
	}
	d1.Destroy()
	if _, err := d1.BindIPI(0); err != abi.EINVAL {
		t.Errorf("bind after destroy: %v", err)
	}
	if s, _ := d1.Status(abi.DOMID_SELF, 1); s.Status != abi.EVTCHNSTAT_closed {
		t.Errorf("after destroy: %+v", s)
	}
}

// TestFIFOOpsWithoutFrames: a table without Frames does not offer FIFO;
// the FIFO commands answer as Xen's do for a 2-level domain.
func TestFIFOOpsWithoutFrames(t *testing.T) {
	w := newWorld(t, domOpt{})
	d := w.doms[0]
	_, err := d.InitControl(2, 0, 0)
	wantErr(t, "init_control", err, abi.ENOSYS)
	wantErr(t, "expand_array", d.ExpandArray(2), abi.EOPNOTSUPP)
	wantErr(t, "set_priority valid", d.SetPriority(1, 7), abi.ENOSYS)
	wantErr(t, "set_priority beyond", d.SetPriority(64, 7), abi.EINVAL)
}
