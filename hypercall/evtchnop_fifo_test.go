package hypercall

import (
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/mm"
)

// oneFrame is evtchn.Frames granting domain 1 writable use of MFN 3 only.
type oneFrame struct{ refs int }

func (f *oneFrame) GetWritable(d abi.DomID, gfn uint64) (mm.MFN, bool) {
	if d != 1 || gfn != 3 {
		return 0, false
	}
	f.refs++
	return 3, true
}

func (f *oneFrame) PutWritable(abi.DomID, mm.MFN) { f.refs-- }

// TestEventChannelOpFIFO: init_control's link_bits come back only on
// success (the rest of the 24 bytes as the guest wrote them), and
// expand_array and set_priority reach the FIFO workers.
func TestEventChannelOpFIFO(t *testing.T) {
	w := newWorld(t)
	g1 := w.guests[1]
	frames := &oneFrame{}
	tab := evtchn.New(evtchn.Config{Dom: 1, VCPUs: 1, Memory: w.mem, SharedInfo: sharedB,
		Notifier: &kicker{}, Frames: frames})
	w.doms[1].state = NewDomainState(DomainConfig{Events: tab})
	ev := func(cmd uint64, arg uint64) Result {
		return w.call(1, abi.HYPERVISOR_event_channel_op, cmd, arg)
	}
	arg := func(gfn uint64, offset, vcpu uint32) []byte {
		b := make([]byte, 24)
		le.PutUint64(b[0:], gfn)
		le.PutUint32(b[8:], offset)
		le.PutUint32(b[12:], vcpu)
		for i := 16; i < 24; i++ {
			b[i] = 0xa5
		}
		return b
	}
	g1.put(bufVA, arg(3, 0x100, 1))
	checkRet(t, "init_control vcpu 1", ev(abi.EVTCHNOP_init_control, bufVA), neg(abi.ENOENT))
	if g1.get(bufVA+16, 1)[0] != 0xa5 {
		t.Fatal("failed init_control wrote link_bits")
	}
	g1.put(bufVA, arg(2, 0x100, 0))
	checkRet(t, "init_control foreign frame", ev(abi.EVTCHNOP_init_control, bufVA), neg(abi.EINVAL))
	g1.put(bufVA, arg(3, 0x100, 0))
	checkRet(t, "init_control", ev(abi.EVTCHNOP_init_control, bufVA), 0)
	want := arg(3, 0x100, 0)
	want[16] = abi.EVTCHN_FIFO_LINK_BITS
	if got := g1.get(bufVA, 24); string(got) != string(want) {
		t.Fatalf("init_control wrote % x, want % x", got, want)
	}
	if !tab.FIFO() || frames.refs != 1 {
		t.Fatalf("FIFO %v, %d references", tab.FIFO(), frames.refs)
	}
	g1.put(bufVA+0x40, []byte{3, 0, 0, 0, 0, 0, 0, 0})
	checkRet(t, "expand_array", ev(abi.EVTCHNOP_expand_array, bufVA+0x40), 0)
	g1.put(bufVA+0x40, []byte{4, 0, 0, 0, 0, 0, 0, 0})
	checkRet(t, "expand_array foreign", ev(abi.EVTCHNOP_expand_array, bufVA+0x40), neg(abi.EINVAL))
	p, _ := tab.BindIPI(0)
	g1.put32(bufVA+0x80, uint32(p))
	g1.put32(bufVA+0x84, 16)
	checkRet(t, "set_priority 16", ev(abi.EVTCHNOP_set_priority, bufVA+0x80), neg(abi.EINVAL))
	g1.put32(bufVA+0x84, 0)
	checkRet(t, "set_priority 0", ev(abi.EVTCHNOP_set_priority, bufVA+0x80), 0)
	g1.put(bufVA+0xc0, []byte{0xf0, 0x7f})
	checkRet(t, "reset", ev(abi.EVTCHNOP_reset, bufVA+0xc0), 0)
	if tab.FIFO() || frames.refs != 0 {
		t.Fatalf("after reset: FIFO %v, %d references", tab.FIFO(), frames.refs)
	}
}
