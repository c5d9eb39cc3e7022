package evtchn

import (
	"sync"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// recorder is a Notifier that remembers every kick.
type recorder struct {
	mu    sync.Mutex
	kicks []int
}

func (r *recorder) Kick(vcpu int) {
	r.mu.Lock()
	r.kicks = append(r.kicks, vcpu)
	r.mu.Unlock()
}

// take returns the kicks so far and forgets them.
func (r *recorder) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.kicks
	r.kicks = nil
	return k
}

// world is a set of domains over one fake machine memory. Domain i's
// shared_info is MFN i+1.
type world struct {
	mem  *mmtest.Memory
	reg  *Registry
	doms []*Table
	rec  []*recorder
}

type domOpt struct {
	vcpus   int
	maxPort Port
	priv    bool
	paused  bool
}

func newWorld(t testing.TB, opts ...domOpt) *world {
	t.Helper()
	w := &world{mem: mmtest.NewMemory(len(opts) + 2), reg: NewRegistry()}
	for i, o := range opts {
		if o.vcpus == 0 {
			o.vcpus = 2
		}
		r := &recorder{}
		paused := o.paused
		tb := New(Config{
			Dom:              abi.DomID(i),
			VCPUs:            o.vcpus,
			MaxPort:          o.maxPort,
			Privileged:       o.priv,
			Memory:           w.mem,
			SharedInfo:       mm.MFN(i + 1).Addr(),
			Notifier:         r,
			Directory:        w.reg,
			NrPIRQs:          64,
			PIRQPermitted:    func(p uint32) bool { return p != 13 },
			ControllerPaused: func() bool { return paused },
		})
		if !tb.InitSharedInfo() {
			t.Fatalf("InitSharedInfo d%d", i)
		}
		w.reg.Add(tb)
		w.doms = append(w.doms, tb)
		w.rec = append(w.rec, r)
	}
	return w
}

func (w *world) word(t testing.TB, a mm.Maddr) uint64 {
	t.Helper()
	v, ok := w.mem.Load64(a)
	if !ok {
		t.Fatalf("load %#x", a)
	}
	return v
}

// pending reports port's pending bit in domain d's shared_info.
func (w *world) pending(t testing.TB, d int, p Port) bool {
	a, bit := pendingWord(w.doms[d].shared, p)
	return w.word(t, a)&bit != 0
}

// setMask sets or clears port's mask bit as the guest would.
func (w *world) setMask(t testing.TB, d int, p Port, masked bool) {
	a, bit := maskWord(w.doms[d].shared, p)
	if masked {
		w.mem.Or64(a, bit)
	} else {
		w.mem.And64(a, ^bit)
	}
}

// sel returns vCPU v's evtchn_pending_sel in domain d.
func (w *world) sel(t testing.TB, d, v int) uint64 {
	vi, ok := w.doms[d].VCPUInfo(v)
	if !ok {
		t.Fatalf("d%dv%d has no vcpu_info", d, v)
	}
	return w.word(t, vi+offPendingSel)
}

// upcall returns vCPU v's (upcall_pending, upcall_mask) in domain d.
func (w *world) upcall(t testing.TB, d, v int) (pending, mask byte) {
	vi, ok := w.doms[d].VCPUInfo(v)
	if !ok {
		t.Fatalf("d%dv%d has no vcpu_info", d, v)
	}
	x := w.word(t, vi)
	return byte(x), byte(x >> 8)
}

// clearUpcall acknowledges everything for vCPU v of domain d, as a guest's
// upcall handler would: upcall_pending and selector cleared.
func (w *world) clearUpcall(d, v int) {
	vi, _ := w.doms[d].VCPUInfo(v)
	w.mem.And64(vi, ^uint64(0xff))
	w.mem.And64(vi+offPendingSel, 0)
}

// ackPort clears port's pending bit as the guest does.
func (w *world) ackPort(d int, p Port) {
	a, bit := pendingWord(w.doms[d].shared, p)
	w.mem.And64(a, ^bit)
}

func wantErr(t testing.TB, what string, got, want abi.Errno) {
	t.Helper()
	if got != want {
		t.Errorf("%s: errno %v, want %v", what, got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
