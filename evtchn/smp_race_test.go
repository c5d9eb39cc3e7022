package evtchn

import (
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
)

// TestTwoVCPUsRace: the two vCPUs of a domain work on the same ports at
// once, as an SMP guest's do (run it with -race): vCPU 0 moves a loopback
// port between the vCPUs (bind_vcpu) and sends on its peer; vCPU 1 binds
// and closes IPI ports, sends on them and polls the loopback port; a timer
// goroutine raises VIRQ_TIMER on both vCPUs; each vCPU acknowledges its
// events as a guest would. Every kick names one of the two vCPUs, and
// once it is all over a send reaches only the vCPU the port was last
// moved to.
func TestTwoVCPUsRace(t *testing.T) {
	const rounds = 2000
	w := newWorld(t, domOpt{vcpus: 2})
	d := w.doms[0]
	for v := 0; v < 2; v++ {
		vi, _ := d.VCPUInfo(v)
		w.mem.And64(vi, 0) // upcalls unmasked
	}
	a, err := d.AllocUnbound(abi.DOMID_SELF, abi.DOMID_SELF)
	wantErr(t, "alloc unbound", err, 0)
	b, err := d.BindInterdomain(abi.DOMID_SELF, a)
	wantErr(t, "bind loopback", err, 0)
	for v := uint32(0); v < 2; v++ {
		_, err := d.BindVIRQ(abi.VIRQ_TIMER, v)
		wantErr(t, "bind VIRQ_TIMER", err, 0)
	}

	var wg sync.WaitGroup
	errs := make(chan string, 16)
	wg.Add(3)
	go func() { // vCPU 0
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			if e := d.BindVCPU(a, uint32(i%2)); e != 0 {
				errs <- "bind_vcpu: " + e.String()
				return
			}
			if e := d.Send(b); e != 0 {
				errs <- "send: " + e.String()
				return
			}
			w.clearUpcall(0, 0)
			w.ackPort(0, a)
		}
	}()
	go func() { // vCPU 1
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			p, e := d.BindIPI(1)
			if e != 0 {
				errs <- "bind_ipi: " + e.String()
				return
			}
			if e := d.Send(p); e != 0 {
				errs <- "send on an IPI port: " + e.String()
				return
			}
			if e := d.BindVCPU(p, 0); e != abi.EINVAL {
				errs <- "bind_vcpu of an IPI port: " + e.String()
				return
			}
			if _, e := d.PollPort(uint32(a)); e != 0 {
				errs <- "poll: " + e.String()
				return
			}
			if e := d.Close(p); e != 0 {
				errs <- "close: " + e.String()
				return
			}
			w.clearUpcall(0, 1)
			w.ackPort(0, a)
		}
	}()
	go func() { // the vCPUs' timers
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			d.RaiseVIRQ(i%2, abi.VIRQ_TIMER)
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, k := range w.rec[0].take() {
		if k != 0 && k != 1 {
			t.Errorf("kick for vCPU %d of a domain of two", k)
		}
	}
	// Quiet again: the last move wins.
	wantErr(t, "bind a to v1", d.BindVCPU(a, 1), 0)
	for v := 0; v < 2; v++ {
		w.clearUpcall(0, v)
	}
	for p := Port(1); p < 64; p++ {
		w.ackPort(0, p)
	}
	w.rec[0].take()
	wantErr(t, "send on b", d.Send(b), 0)
	w.wantOnlyVCPU(t, "send after the race", 0, 2, a, 1)
	if s, e := d.Status(abi.DOMID_SELF, a); e != 0 || s.VCPU != 1 {
		t.Errorf("status of the moved port: vCPU %d, %v", s.VCPU, e)
	}
}
