package xz

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestX86Cases checks hand-computed conversions of the BCJ decoder.
func TestX86Cases(t *testing.T) {
	tests := []struct {
		name    string
		start   uint32
		in, out []byte
		done    int
	}{
		{"too short", 0, []byte{0xe8, 1, 2, 3}, []byte{0xe8, 1, 2, 3}, 0},
		// CALL at position 0: the absolute target 0x105 becomes 0x105-5.
		{"call", 0, []byte{0xe8, 0x05, 0x01, 0x00, 0x00}, []byte{0xe8, 0x00, 0x01, 0x00, 0x00}, 5},
		// JMP, with a start offset of 0x1000.
		{"jmp start", 0x1000, []byte{0xe9, 0x05, 0x10, 0x00, 0x00}, []byte{0xe9, 0x00, 0x00, 0x00, 0x00}, 5},
		// Backward target: the result's bit 24 is set, so the top byte is 0xFF.
		{"backward", 0, []byte{0x90, 0x90, 0xe8, 0x00, 0x00, 0x00, 0x00}, []byte{0x90, 0x90, 0xe8, 0xf9, 0xff, 0xff, 0xff}, 7},
		// Top byte 0x12 is not a small displacement: left alone.
		{"large operand", 0, []byte{0xe8, 0x05, 0x00, 0x00, 0x12, 0x00}, []byte{0xe8, 0x05, 0x00, 0x00, 0x12, 0x00}, 2},
		// Other opcodes are never touched.
		{"no opcode", 0, []byte{0x48, 0x89, 0xc7, 0x00, 0x00, 0x00}, []byte{0x48, 0x89, 0xc7, 0x00, 0x00, 0x00}, 2},
		// After a converted CALL the next byte examined is five on.
		{"skip operand", 0, []byte{0xe8, 0x05, 0xe8, 0x00, 0x00, 0xe8, 0x0a, 0x00, 0x00, 0x00},
			[]byte{0xe8, 0x00, 0xe8, 0x00, 0x00, 0xe8, 0x00, 0x00, 0x00, 0x00}, 10},
	}
	for _, tc := range tests {
		buf := append([]byte{}, tc.in...)
		done := X86Decode(buf, tc.start)
		if !bytes.Equal(buf, tc.out) || done != tc.done {
			t.Errorf("%s: X86Decode(% x) = % x, %d; want % x, %d", tc.name, tc.in, buf, done, tc.out, tc.done)
		}
		// Encoding the output gives the input back.
		x86Filter(buf, tc.start, true)
		if !bytes.Equal(buf, tc.in) {
			t.Errorf("%s: encode(decode(x)) = % x, want % x", tc.name, buf, tc.in)
		}
	}
}

// TestX86History checks the declined-candidate history: one declined E8 just
// before a candidate still lets it convert; two do not.
func TestX86History(t *testing.T) {
	// Position 0 declined (buf[4] = 0x12); position 1: buf[5] = 0x00, history
	// "one back, not MS byte" is allowed: converted with pos 6.
	in := []byte{0xe8, 0xe8, 0x10, 0x00, 0x12, 0x00, 0x90}
	buf := append([]byte{}, in...)
	X86Decode(buf, 0)
	v := binary.LittleEndian.Uint32(in[2:6]) // 0x00120010
	want := append([]byte{}, in...)
	binary.LittleEndian.PutUint32(want[2:6], v-6)
	// 0x0012000a: bit 24 clear, so the top byte becomes 0x00.
	want[5] = 0
	if !bytes.Equal(buf, want) {
		t.Errorf("allowed history: got % x, want % x", buf, want)
	}

	// E8 at 0 and 1 declined (fifth bytes 0x12, 0x34); the E8 at 2 has a
	// 0x00 fifth byte but declined candidates one and two back (history
	// pattern 3), which is not allowed: everything is left alone.
	in = []byte{0xe8, 0xe8, 0xe8, 0x01, 0x12, 0x34, 0x00, 0x90}
	buf = append([]byte{}, in...)
	X86Decode(buf, 0)
	if !bytes.Equal(buf, in) {
		t.Errorf("blocked history: got % x, want it unchanged", buf)
	}
}

// TestX86RoundTrip: decoding is the exact inverse of encoding, for code-like
// and for random data, at several start offsets.
func TestX86RoundTrip(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		plain := genX86(4096+int(seed)*37, seed)
		for _, start := range []uint32{0, 1, 4096, 0xfffffff0} {
			buf := append([]byte{}, plain...)
			x86Filter(buf, start, true)
			if seed == 1 && start == 0 && bytes.Equal(buf, plain) {
				t.Fatal("encoding changed nothing: the generator made no convertible CALL")
			}
			X86Decode(buf, start)
			if !bytes.Equal(buf, plain) {
				t.Fatalf("seed %d start %#x: decode(encode(x)) != x", seed, start)
			}
		}
	}
}

func FuzzBCJ(f *testing.F) {
	f.Add([]byte{0xe8, 0x05, 0x01, 0x00, 0x00}, uint32(0))
	f.Add([]byte{0xe8, 0xe8, 0xe8, 0x01, 0x12, 0x34, 0x00, 0x90}, uint32(7))
	f.Add(genX86(512, 3), uint32(0x1000))
	f.Fuzz(func(t *testing.T, in []byte, start uint32) {
		// Guard bytes on both sides must be untouched.
		const guard = 8
		mem := make([]byte, guard+len(in)+guard)
		for i := range mem {
			mem[i] = 0xe8
		}
		copy(mem[guard:], in)
		buf := mem[guard : guard+len(in) : guard+len(in)]
		done := X86Decode(buf, start)
		if done < 0 || done > len(in) || (len(in) >= 5 && done < len(in)-4) {
			t.Fatalf("X86Decode examined %d of %d bytes", done, len(in))
		}
		for i := 0; i < guard; i++ {
			if mem[i] != 0xe8 || mem[guard+len(in)+i] != 0xe8 {
				t.Fatal("X86Decode wrote outside its buffer")
			}
		}
		x86Filter(buf, start, true)
		if !bytes.Equal(buf, in) {
			t.Fatalf("encode(decode(x)) != x for % x", in)
		}
	})
}

// TestX86Pieces: the filter applied piece by piece, each piece starting
// with what the previous call left unfinished, gives the bytes of one call
// on the whole buffer, for every piece size.
func TestX86Pieces(t *testing.T) {
	plain := genX86(1<<14, 3)
	for _, encode := range []bool{false, true} {
		want := append([]byte{}, plain...)
		x86Filter(want, 0x1234, encode)
		for _, piece := range []int{1, 4, 5, 6, 7, 13, 64, 4096} {
			got := append([]byte{}, plain...)
			var s x86State
			s.reset(0x1234)
			done, end := 0, 0
			for end < len(got) {
				// got[done:end] was left unfinished; it leads the next piece.
				end = min(end+piece, len(got))
				done += s.filter(got[done:end], encode)
			}
			if len(got)-done > 4 {
				t.Errorf("pieces of %d bytes: %d bytes left unfinished", piece, len(got)-done)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode %v, pieces of %d bytes: the output differs from the whole-buffer filter", encode, piece)
			}
		}
	}
}
