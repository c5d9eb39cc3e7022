package evtchn

import (
	"fmt"
	"testing"

	"github.com/gohv/gohv/abi"
)

// wantOnlyVCPU checks that a send on a port of domain d notified exactly
// vCPU want of d's nvcpus: one kick, for want; want's selector holds the
// port's word and its upcall_pending is set; every other vCPU's selector
// and upcall_pending are clear. It then acknowledges everything as the
// guest would.
func (w *world) wantOnlyVCPU(t *testing.T, what string, d, nvcpus int, port Port, want int) {
	t.Helper()
	if k := w.rec[d].take(); !equalInts(k, []int{want}) {
		t.Errorf("%s: kicks %v, want [%d]", what, k, want)
	}
	if !w.pending(t, d, port) {
		t.Errorf("%s: port %d not pending", what, port)
	}
	for v := 0; v < nvcpus; v++ {
		sel := w.sel(t, d, v)
		p, _ := w.upcall(t, d, v)
		if v == want {
			if sel != selectorBit(port) || p != 1 {
				t.Errorf("%s: receiver d%dv%d: selector %#x upcall_pending %d, want %#x and 1", what, d, v, sel, p, selectorBit(port))
			}
		} else if sel != 0 || p != 0 {
			t.Errorf("%s: d%dv%d (not the receiver, v%d): selector %#x upcall_pending %d, want 0 and 0", what, d, v, want, sel, p)
		}
	}
	for v := 0; v < nvcpus; v++ {
		w.clearUpcall(d, v)
	}
	w.ackPort(d, port)
}

// quiesce acknowledges everything in both domains (an interdomain bind
// notifies the binding end, as Xen's does) and forgets the kicks.
func (w *world) quiesce(nvcpus int, ports ...[2]int) {
	for d := range w.doms {
		for v := 0; v < nvcpus; v++ {
			w.clearUpcall(d, v)
		}
		w.rec[d].take()
	}
	for _, p := range ports {
		w.ackPort(p[0], Port(p[1]))
	}
}

// TestSendNotifiesReceiverVCPU binds the two ends of each channel to
// different vCPUs, so that notifying the sender's vCPU (or vCPU 0) instead
// of the receiver's shows: a loopback (same-domain interdomain) channel,
// an interdomain channel between two domains, IPI ports bound to vCPUs
// other than 0, and an unmask that delivers the pending event.
func TestSendNotifiesReceiverVCPU(t *testing.T) {
	const nv = 3
	w := newWorld(t, domOpt{vcpus: nv}, domOpt{vcpus: nv})
	d0, d1 := w.doms[0], w.doms[1]
	// The guests start with every upcall unmasked and nothing pending.
	for d := 0; d < 2; d++ {
		for v := 0; v < nv; v++ {
			vi, _ := w.doms[d].VCPUInfo(v)
			w.mem.And64(vi, 0)
		}
	}

	// Loopback: a (unbound, then the local end) on v1, b on v2.
	a, err := d0.AllocUnbound(abi.DOMID_SELF, abi.DOMID_SELF)
	wantErr(t, "alloc unbound", err, 0)
	b, err := d0.BindInterdomain(abi.DOMID_SELF, a)
	wantErr(t, "bind loopback", err, 0)
	wantErr(t, "bind a to v1", d0.BindVCPU(a, 1), 0)
	wantErr(t, "bind b to v2", d0.BindVCPU(b, 2), 0)
	w.quiesce(nv, [2]int{0, int(a)}, [2]int{0, int(b)})
	wantErr(t, "send on b", d0.Send(b), 0)
	w.wantOnlyVCPU(t, fmt.Sprintf("loopback send on port %d (v2) to port %d (v1)", b, a), 0, nv, a, 1)
	wantErr(t, "send on a", d0.Send(a), 0)
	w.wantOnlyVCPU(t, fmt.Sprintf("loopback send on port %d (v1) to port %d (v2)", a, b), 0, nv, b, 2)

	// Interdomain: d0's port on v2, d1's end on v1.
	u, err := d1.AllocUnbound(abi.DOMID_SELF, 0)
	wantErr(t, "d1 alloc unbound", err, 0)
	l, err := d0.BindInterdomain(1, u)
	wantErr(t, "d0 bind to d1", err, 0)
	wantErr(t, "bind d0 end to v2", d0.BindVCPU(l, 2), 0)
	wantErr(t, "bind d1 end to v1", d1.BindVCPU(u, 1), 0)
	w.quiesce(nv, [2]int{0, int(l)}, [2]int{1, int(u)})
	wantErr(t, "d0 send", d0.Send(l), 0)
	w.wantOnlyVCPU(t, "d0 (v2) to d1 (v1)", 1, nv, u, 1)
	if k := w.rec[0].take(); len(k) != 0 {
		t.Errorf("d0 send kicked d0's vCPUs %v", k)
	}
	wantErr(t, "d1 send", d1.Send(u), 0)
	w.wantOnlyVCPU(t, "d1 (v1) to d0 (v2)", 0, nv, l, 2)

	// IPIs: each port notifies the vCPU it was bound to.
	for _, v := range []uint32{2, 1} {
		p, err := d0.BindIPI(v)
		wantErr(t, "bind ipi", err, 0)
		wantErr(t, "send ipi", d0.Send(p), 0)
		w.wantOnlyVCPU(t, fmt.Sprintf("IPI port %d bound to v%d", p, v), 0, nv, p, int(v))
	}

	// Unmask delivers a pending event to the port's vCPU.
	w.setMask(t, 0, b, true)
	wantErr(t, "masked send on a", d0.Send(a), 0)
	if k := w.rec[0].take(); len(k) != 0 {
		t.Errorf("send to a masked port kicked %v", k)
	}
	wantErr(t, "unmask b", d0.Unmask(b), 0)
	w.wantOnlyVCPU(t, fmt.Sprintf("unmask of port %d (v2)", b), 0, nv, b, 2)
}
