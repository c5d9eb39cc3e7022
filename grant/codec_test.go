package grant

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gohv/gohv/abi"
)

// Sizes match abi's generated structs (themselves checked against C).
func TestCodecSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		n    int
	}{
		{"map", abi.GnttabMapGrantRef{}, SizeofMapOp},
		{"unmap", abi.GnttabUnmapGrantRef{}, SizeofUnmapOp},
		{"setup_table", abi.GnttabSetupTable{}, SizeofSetupTableOp},
		{"copy", abi.GnttabCopy{}, SizeofCopyOp},
		{"query_size", abi.GnttabQuerySize{}, SizeofQuerySizeOp},
		{"set_version", abi.GnttabSetVersion{}, SizeofSetVersionOp},
		{"get_version", abi.GnttabGetVersion{}, SizeofGetVersionOp},
		{"grant_entry_v1", abi.GrantEntryV1{}, EntrySize},
		{"swap_grant_ref", abi.GnttabSwapGrantRef{}, SizeofSwapOp},
	} {
		if got := binary.Size(tc.v); got != tc.n {
			t.Errorf("%s: abi size %d, grant's %d", tc.name, got, tc.n)
		}
	}
}

// decodeBoth decodes b with grant's codec and with encoding/binary into
// abi's struct and reports a mismatch. It is the table and fuzz oracle.
func decodeBoth(t *testing.T, b []byte) {
	short := func(n int) bool { return len(b) < n }

	var m MapOp
	if ok := m.Decode(b); ok == short(SizeofMapOp) {
		t.Fatalf("map decode ok=%v on %d bytes", ok, len(b))
	} else if ok {
		var a abi.GnttabMapGrantRef
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if m.HostAddr != a.HostAddr || m.Flags != a.Flags || uint32(m.Ref) != a.Ref || uint16(m.Dom) != a.Dom ||
			int16(m.Status) != a.Status || uint32(m.Handle) != a.Handle || m.DevBusAddr != a.DevBusAddr {
			t.Fatalf("map: %+v vs abi %+v", m, a)
		}
		roundTrip(t, "map", b, SizeofMapOp, m.Encode, nil)
	}

	var u UnmapOp
	if ok := u.Decode(b); ok == short(SizeofUnmapOp) {
		t.Fatalf("unmap decode ok=%v", ok)
	} else if ok {
		var a abi.GnttabUnmapGrantRef
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if u.HostAddr != a.HostAddr || u.DevBusAddr != a.DevBusAddr || uint32(u.Handle) != a.Handle || int16(u.Status) != a.Status {
			t.Fatalf("unmap: %+v vs abi %+v", u, a)
		}
		roundTrip(t, "unmap", b, SizeofUnmapOp, u.Encode, [][2]int{{22, 24}})
	}

	var s SetupTableOp
	if ok := s.Decode(b); ok == short(SizeofSetupTableOp) {
		t.Fatalf("setup decode ok=%v", ok)
	} else if ok {
		var a abi.GnttabSetupTable
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if uint16(s.Dom) != a.Dom || s.NrFrames != a.NrFrames || int16(s.Status) != a.Status || s.FrameList != a.FrameList {
			t.Fatalf("setup_table: %+v vs abi %+v", s, a)
		}
		roundTrip(t, "setup_table", b, SizeofSetupTableOp, s.Encode, [][2]int{{2, 4}, {10, 16}})
	}

	var c CopyOp
	if ok := c.Decode(b); ok == short(SizeofCopyOp) {
		t.Fatalf("copy decode ok=%v", ok)
	} else if ok {
		var a abi.GnttabCopy
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if c.Source.U != binary.LittleEndian.Uint64(a.Source.U[:]) || uint16(c.Source.Dom) != a.Source.Domid ||
			c.Source.Offset != a.Source.Offset || c.Dest.U != binary.LittleEndian.Uint64(a.Dest.U[:]) ||
			uint16(c.Dest.Dom) != a.Dest.Domid || c.Dest.Offset != a.Dest.Offset || c.Len != a.Len ||
			c.Flags != a.Flags || int16(c.Status) != a.Status {
			t.Fatalf("copy: %+v vs abi %+v", c, a)
		}
		roundTrip(t, "copy", b, SizeofCopyOp, c.Encode, [][2]int{{12, 16}, {28, 32}, {38, 40}})
	}

	var q QuerySizeOp
	if ok := q.Decode(b); ok == short(SizeofQuerySizeOp) {
		t.Fatalf("query decode ok=%v", ok)
	} else if ok {
		var a abi.GnttabQuerySize
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if uint16(q.Dom) != a.Dom || q.NrFrames != a.NrFrames || q.MaxNrFrames != a.MaxNrFrames || int16(q.Status) != a.Status {
			t.Fatalf("query_size: %+v vs abi %+v", q, a)
		}
		roundTrip(t, "query_size", b, SizeofQuerySizeOp, q.Encode, [][2]int{{2, 4}, {14, 16}})
	}

	var sw SwapOp
	if ok := sw.Decode(b); ok == short(SizeofSwapOp) {
		t.Fatalf("swap decode ok=%v", ok)
	} else if ok {
		var a abi.GnttabSwapGrantRef
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if uint32(sw.RefA) != a.RefA || uint32(sw.RefB) != a.RefB || int16(sw.Status) != a.Status {
			t.Fatalf("swap: %+v vs abi %+v", sw, a)
		}
		roundTrip(t, "swap", b, SizeofSwapOp, sw.Encode, [][2]int{{10, 12}})
	}

	var sv SetVersionOp
	if ok := sv.Decode(b); ok == short(SizeofSetVersionOp) {
		t.Fatalf("set_version decode ok=%v", ok)
	} else if ok {
		roundTrip(t, "set_version", b, SizeofSetVersionOp, sv.Encode, nil)
	}

	var gv GetVersionOp
	if ok := gv.Decode(b); ok == short(SizeofGetVersionOp) {
		t.Fatalf("get_version decode ok=%v", ok)
	} else if ok {
		var a abi.GnttabGetVersion
		binary.Read(bytes.NewReader(b), binary.LittleEndian, &a)
		if uint16(gv.Dom) != a.Dom || gv.Version != a.Version {
			t.Fatalf("get_version: %+v vs abi %+v", gv, a)
		}
		roundTrip(t, "get_version", b, SizeofGetVersionOp, gv.Encode, [][2]int{{2, 4}})
	}
}

// roundTrip re-encodes a decoded struct and checks it reproduces b except
// for padding (zeroed), and that Encode never writes past the struct.
func roundTrip(t *testing.T, name string, b []byte, n int, encode func([]byte) bool, pad [][2]int) {
	out := bytes.Repeat([]byte{0xEE}, n+8)
	if !encode(out) {
		t.Fatalf("%s: encode failed", name)
	}
	want := append([]byte(nil), b[:n]...)
	for _, p := range pad {
		clear(want[p[0]:p[1]])
	}
	if !bytes.Equal(out[:n], want) {
		t.Fatalf("%s: round trip\n got % x\nwant % x", name, out[:n], want)
	}
	if !bytes.Equal(out[n:], bytes.Repeat([]byte{0xEE}, 8)) {
		t.Fatalf("%s: encode wrote past the struct", name)
	}
	if encode(out[:n-1]) {
		t.Fatalf("%s: encode into a short buffer succeeded", name)
	}
}

func TestCodecs(t *testing.T) {
	seq := make([]byte, 48)
	for i := range seq {
		seq[i] = byte(0x11 * (i + 1))
	}
	for _, n := range []int{0, 3, 4, 7, 8, 15, 16, 23, 24, 31, 32, 39, 40, 48} {
		decodeBoth(t, seq[:n])
	}
	// Known layout: a map op as Linux's blkback would send it.
	b := make([]byte, SizeofMapOp)
	binary.LittleEndian.PutUint64(b[0:], 0xffffc90000123000)
	binary.LittleEndian.PutUint32(b[8:], uint32(mapHost|mapReadonly))
	binary.LittleEndian.PutUint32(b[12:], 0x1234)
	binary.LittleEndian.PutUint16(b[16:], 7)
	var m MapOp
	m.Decode(b)
	if m.HostAddr != 0xffffc90000123000 || m.Flags != mapHost|mapReadonly || m.Ref != 0x1234 || m.Dom != 7 {
		t.Fatalf("%+v", m)
	}
	m.Status, m.Handle, m.DevBusAddr = GNTST_bad_page, 9, 0xABC000
	m.EncodeOut(b)
	if int16(binary.LittleEndian.Uint16(b[18:])) != -9 || binary.LittleEndian.Uint32(b[20:]) != 9 ||
		binary.LittleEndian.Uint64(b[24:]) != 0xABC000 || binary.LittleEndian.Uint32(b[12:]) != 0x1234 {
		t.Fatalf("EncodeOut: % x", b)
	}
	// EncodeOut of unmap, copy and setup_table writes only the status.
	for _, tc := range []struct {
		n      int
		off    int
		encode func([]byte) bool
	}{
		{SizeofUnmapOp, 20, (&UnmapOp{Status: GNTST_bad_handle}).EncodeOut},
		{SizeofCopyOp, 36, (&CopyOp{Status: GNTST_bad_handle}).EncodeOut},
		{SizeofSetupTableOp, 8, (&SetupTableOp{Status: GNTST_bad_handle}).EncodeOut},
	} {
		buf := bytes.Repeat([]byte{0x55}, tc.n)
		if !tc.encode(buf) {
			t.Fatal("EncodeOut failed")
		}
		want := bytes.Repeat([]byte{0x55}, tc.n)
		binary.LittleEndian.PutUint16(want[tc.off:], uint16(0xFFFC))
		if !bytes.Equal(buf, want) {
			t.Errorf("EncodeOut wrote % x", buf)
		}
		if tc.encode(buf[:tc.n-1]) {
			t.Error("EncodeOut into a short buffer succeeded")
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, 40))
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeBoth(t, b)
	})
}
