package evtchn

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
)

// encodeABI is the reference encoding of a generated abi structure.
func encodeABI(t testing.TB, v any) []byte {
	t.Helper()
	b, err := binary.Append(nil, binary.LittleEndian, v)
	if err != nil {
		t.Fatalf("binary.Append(%T): %v", v, err)
	}
	return b
}

// TestLayout checks the shared_info offsets of layout.go against the
// generated abi.SharedInfo.
func TestLayout(t *testing.T) {
	var si abi.SharedInfo
	si.VcpuInfo[3].EvtchnUpcallPending = 0x11
	si.VcpuInfo[3].EvtchnUpcallMask = 0x22
	si.VcpuInfo[3].EvtchnPendingSel = 0x3344
	si.EvtchnPending[5] = 0x55
	si.EvtchnMask[6] = 0x66
	b := encodeABI(t, &si)
	if len(b) != 3136 {
		t.Fatalf("sizeof(shared_info) = %d", len(b))
	}
	checks := []struct {
		name string
		off  int
		want byte
	}{
		{"upcall_pending", 3*vcpuInfoSize + offUpcallPending, 0x11},
		{"upcall_mask", 3*vcpuInfoSize + 1, 0x22},
		{"pending_sel", 3*vcpuInfoSize + offPendingSel, 0x44},
		{"pending_sel+1", 3*vcpuInfoSize + offPendingSel + 1, 0x33},
		{"evtchn_pending[5]", offPending + 5*8, 0x55},
		{"evtchn_mask[6]", offMask + 6*8, 0x66},
	}
	for _, c := range checks {
		if b[c.off] != c.want {
			t.Errorf("%s at %d: %#x, want %#x", c.name, c.off, b[c.off], c.want)
		}
	}
	if n := binary.Size(abi.VcpuInfo{}); n != vcpuInfoSize {
		t.Errorf("sizeof(vcpu_info) = %d", n)
	}
	if upcallMaskBits != 0xff<<(8*1) || upcallPendingBit != 1<<(8*offUpcallPending) {
		t.Error("upcall bit masks do not match byte offsets 0 and 1")
	}
}

// TestCodecs round-trips every EVTCHNOP codec against the generated
// structures: DecodeX(reference bytes) gives the value back, EncodeX gives
// the reference bytes, and a short buffer is refused.
func TestCodecs(t *testing.T) {
	type codec struct {
		cmd    int
		value  any
		decode func([]byte) (any, bool)
		encode func([]byte, any) bool // nil for IN-only structures
	}
	codecs := []codec{
		{abi.EVTCHNOP_alloc_unbound, abi.EvtchnAllocUnbound{Dom: 0x7ff0, RemoteDom: 0x1234, Port: 0xdeadbeef},
			func(b []byte) (any, bool) { return DecodeAllocUnbound(b) },
			func(b []byte, v any) bool { return EncodeAllocUnbound(b, v.(abi.EvtchnAllocUnbound)) }},
		{abi.EVTCHNOP_bind_interdomain, abi.EvtchnBindInterdomain{RemoteDom: 0xabcd, RemotePort: 0x01020304, LocalPort: 0x05060708},
			func(b []byte) (any, bool) { return DecodeBindInterdomain(b) },
			func(b []byte, v any) bool { return EncodeBindInterdomain(b, v.(abi.EvtchnBindInterdomain)) }},
		{abi.EVTCHNOP_bind_virq, abi.EvtchnBindVirq{Virq: 1, Vcpu: 2, Port: 3},
			func(b []byte) (any, bool) { return DecodeBindVIRQ(b) },
			func(b []byte, v any) bool { return EncodeBindVIRQ(b, v.(abi.EvtchnBindVirq)) }},
		{abi.EVTCHNOP_bind_pirq, abi.EvtchnBindPirq{Pirq: 9, Flags: 1, Port: 0xffffffff},
			func(b []byte) (any, bool) { return DecodeBindPIRQ(b) },
			func(b []byte, v any) bool { return EncodeBindPIRQ(b, v.(abi.EvtchnBindPirq)) }},
		{abi.EVTCHNOP_bind_ipi, abi.EvtchnBindIpi{Vcpu: 7, Port: 8},
			func(b []byte) (any, bool) { return DecodeBindIPI(b) },
			func(b []byte, v any) bool { return EncodeBindIPI(b, v.(abi.EvtchnBindIpi)) }},
		{abi.EVTCHNOP_status, abi.EvtchnStatus{Dom: 3, Port: 4, Status: 5, Vcpu: 6, U: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
			func(b []byte) (any, bool) { return DecodeStatus(b) },
			func(b []byte, v any) bool { return EncodeStatus(b, v.(abi.EvtchnStatus)) }},
		{abi.EVTCHNOP_close, abi.EvtchnClose{Port: 0x11223344},
			func(b []byte) (any, bool) { return DecodeClose(b) }, nil},
		{abi.EVTCHNOP_send, abi.EvtchnSend{Port: 0x55667788},
			func(b []byte) (any, bool) { return DecodeSend(b) }, nil},
		{abi.EVTCHNOP_unmask, abi.EvtchnUnmask{Port: 42},
			func(b []byte) (any, bool) { return DecodeUnmask(b) }, nil},
		{abi.EVTCHNOP_bind_vcpu, abi.EvtchnBindVcpu{Port: 42, Vcpu: 3},
			func(b []byte) (any, bool) { return DecodeBindVCPU(b) }, nil},
		{abi.EVTCHNOP_reset, abi.EvtchnReset{Dom: 0x7ff0},
			func(b []byte) (any, bool) { return DecodeReset(b) }, nil},
		{abi.EVTCHNOP_set_priority, abi.EvtchnSetPriority{Port: 5, Priority: 15},
			func(b []byte) (any, bool) { return DecodeSetPriority(b) }, nil},
	}
	for _, c := range codecs {
		ref := encodeABI(t, c.value)
		n, ok := ArgSize(c.cmd)
		if !ok || n != len(ref) {
			t.Errorf("cmd %d: ArgSize %d %v, struct is %d bytes", c.cmd, n, ok, len(ref))
		}
		got, ok := c.decode(ref)
		if !ok || got != c.value {
			t.Errorf("cmd %d: decode %+v %v, want %+v", c.cmd, got, ok, c.value)
		}
		if _, ok := c.decode(ref[:len(ref)-1]); ok {
			t.Errorf("cmd %d: short decode accepted", c.cmd)
		}
		if c.encode == nil {
			continue
		}
		buf := bytes.Repeat([]byte{0xee}, len(ref)+4)
		if !c.encode(buf, c.value) {
			t.Errorf("cmd %d: encode refused", c.cmd)
		}
		if !bytes.Equal(buf[:len(ref)], ref) || !bytes.Equal(buf[len(ref):], []byte{0xee, 0xee, 0xee, 0xee}) {
			t.Errorf("cmd %d: encode % x, want % x", c.cmd, buf, ref)
		}
		if c.encode(buf[:len(ref)-1], c.value) {
			t.Errorf("cmd %d: short encode accepted", c.cmd)
		}
	}
	if n, ok := ArgSize(EVTCHNOP_reset_cont); !ok || n != binary.Size(abi.EvtchnReset{}) {
		t.Errorf("reset_cont size %d %v", n, ok)
	}
	for _, cmd := range []int{-1, 15, 16, 1 << 20} {
		if _, ok := ArgSize(cmd); ok {
			t.Errorf("ArgSize(%d) known", cmd)
		}
	}
	if n, _ := ArgSize(abi.EVTCHNOP_init_control); n != binary.Size(abi.EvtchnInitControl{}) {
		t.Errorf("init_control size %d", n)
	}
	if n, _ := ArgSize(abi.EVTCHNOP_expand_array); n != binary.Size(abi.EvtchnExpandArray{}) {
		t.Errorf("expand_array size %d", n)
	}
}

func TestStatusFill(t *testing.T) {
	junk := [8]byte{9, 9, 9, 9, 9, 9, 9, 9}
	tests := []struct {
		name string
		s    StatusInfo
		want [8]byte
	}{
		{"closed keeps union", StatusInfo{Status: abi.EVTCHNSTAT_closed}, junk},
		{"ipi keeps union", StatusInfo{Status: abi.EVTCHNSTAT_ipi, VCPU: 2}, junk},
		{"unbound", StatusInfo{Status: abi.EVTCHNSTAT_unbound, Dom: 0x0102}, [8]byte{2, 1, 9, 9, 9, 9, 9, 9}},
		{"interdomain", StatusInfo{Status: abi.EVTCHNSTAT_interdomain, Dom: 3, Port: 0x0a0b0c0d}, [8]byte{3, 0, 9, 9, 0x0d, 0x0c, 0x0b, 0x0a}},
		{"pirq", StatusInfo{Status: abi.EVTCHNSTAT_pirq, PIRQ: 0x44}, [8]byte{0x44, 0, 0, 0, 9, 9, 9, 9}},
		{"virq", StatusInfo{Status: abi.EVTCHNSTAT_virq, VIRQ: 2}, [8]byte{2, 0, 0, 0, 9, 9, 9, 9}},
	}
	for _, tc := range tests {
		a := abi.EvtchnStatus{Dom: 0x7ff0, Port: 5, Status: 77, Vcpu: 77, U: junk}
		tc.s.Fill(&a)
		if a.U != tc.want || a.Status != tc.s.Status || a.Vcpu != tc.s.VCPU || a.Dom != 0x7ff0 || a.Port != 5 {
			t.Errorf("%s: %+v", tc.name, a)
		}
	}
}

// FuzzDecode feeds arbitrary argument bytes to every decoder and checks
// that decode-then-encode reproduces the input outside padding and writes
// nothing past the structure.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 24))
	f.Add([]byte{0xf0, 0x7f, 1, 0, 5, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		roundTrip := func(name string, n int, pad []int, ok bool, enc func([]byte) bool) {
			if ok != (len(b) >= n) {
				t.Fatalf("%s: ok=%v for %d bytes", name, ok, len(b))
			}
			if !ok {
				return
			}
			out := make([]byte, n+8)
			if !enc(out) {
				t.Fatalf("%s: encode refused", name)
			}
			want := append([]byte(nil), b[:n]...)
			for _, p := range pad {
				want[p] = 0
			}
			if !bytes.Equal(out[:n], want) || !bytes.Equal(out[n:], make([]byte, 8)) {
				t.Fatalf("%s: % x -> % x", name, b[:n], out)
			}
		}
		a1, ok := DecodeAllocUnbound(b)
		roundTrip("alloc_unbound", 8, nil, ok, func(o []byte) bool { return EncodeAllocUnbound(o, a1) })
		a2, ok := DecodeBindInterdomain(b)
		roundTrip("bind_interdomain", 12, []int{2, 3}, ok, func(o []byte) bool { return EncodeBindInterdomain(o, a2) })
		a3, ok := DecodeBindVIRQ(b)
		roundTrip("bind_virq", 12, nil, ok, func(o []byte) bool { return EncodeBindVIRQ(o, a3) })
		a4, ok := DecodeBindPIRQ(b)
		roundTrip("bind_pirq", 12, nil, ok, func(o []byte) bool { return EncodeBindPIRQ(o, a4) })
		a5, ok := DecodeBindIPI(b)
		roundTrip("bind_ipi", 8, nil, ok, func(o []byte) bool { return EncodeBindIPI(o, a5) })
		a6, ok := DecodeStatus(b)
		roundTrip("status", 24, []int{2, 3}, ok, func(o []byte) bool { return EncodeStatus(o, a6) })
		for _, d := range []func([]byte) bool{
			func(b []byte) bool { _, ok := DecodeClose(b); return ok == (len(b) >= 4) },
			func(b []byte) bool { _, ok := DecodeSend(b); return ok == (len(b) >= 4) },
			func(b []byte) bool { _, ok := DecodeUnmask(b); return ok == (len(b) >= 4) },
			func(b []byte) bool { _, ok := DecodeBindVCPU(b); return ok == (len(b) >= 8) },
			func(b []byte) bool { _, ok := DecodeReset(b); return ok == (len(b) >= 2) },
			func(b []byte) bool { _, ok := DecodeSetPriority(b); return ok == (len(b) >= 8) },
		} {
			if !d(b) {
				t.Fatalf("IN-only decoder length check wrong for %d bytes", len(b))
			}
		}
	})
}
