package xz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/gohv/gohv/kernel/internal/testvectors"
)

// genX86 and the vector table are package testvectors', which the generator
// of testdata (go generate) shares: the .xz files in testdata are xz's
// compression of genX86(vectorSize, 1).
var (
	genX86             = testvectors.X86Code
	vectors            = testvectors.XZVectors
	unsupportedVectors = testvectors.XZUnsupported
)

const vectorSize = testvectors.XZPlainSize

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	if name == "concat.xz" {
		a, b := readVector(t, "x86_crc32.xz"), readVector(t, "lzma2_none.xz")
		return append(append(a, make([]byte, 8)...), b...)
	}
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeVectors(t *testing.T) {
	plain := genX86(vectorSize, 1)
	for _, v := range vectors {
		t.Run(v.File, func(t *testing.T) {
			src := readVector(t, v.File)
			want := plain
			if v.Twice {
				want = append(append([]byte{}, plain...), plain...)
			}
			got, err := Decode(src, 1<<20)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Decode returned %d bytes that differ from the %d-byte plaintext", len(got), len(want))
			}
			// Exactly the output size is enough; one byte less is not.
			if _, err := Decode(src, len(want)); err != nil {
				t.Errorf("Decode with limit = output size: %v", err)
			}
			if _, err := Decode(src, len(want)-1); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Decode with limit = output size - 1: %v, want ErrTooLarge", err)
			}
			if v.Twice {
				return
			}
			// DecodeStream reports the stream's length and leaves trailing
			// bytes (Linux's size trailer) alone, with any size hint.
			for _, hint := range []int{0, 1, len(want), len(want) + 100, 1 << 30} {
				trailer := binary.LittleEndian.AppendUint32(nil, uint32(len(want)))
				got, n, err := DecodeStream(append(append([]byte{}, src...), trailer...), 1<<20, hint)
				if err != nil || n != len(src) || !bytes.Equal(got, want) {
					t.Errorf("DecodeStream(hint %d): n %d (want %d), err %v, equal %v", hint, n, len(src), err, bytes.Equal(got, want))
				}
			}
		})
	}
}

func TestDecodeUnsupported(t *testing.T) {
	for _, v := range unsupportedVectors {
		if _, err := Decode(readVector(t, v.File), 1<<20); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", v.File, err)
		}
	}
}

// fixCRC recomputes the CRC32 stored after b[start:end].
func fixCRC(b []byte, start, end int) {
	binary.LittleEndian.PutUint32(b[end:], crc32.ChecksumIEEE(b[start:end]))
}

// fixFooterCRC recomputes the stream footer's CRC32 of a one-stream file.
func fixFooterCRC(b []byte) {
	n := len(b)
	binary.LittleEndian.PutUint32(b[n-12:], crc32.ChecksumIEEE(b[n-8:n-2]))
}

// TestDecodeCorrupt damages x86_crc32.xz (12-byte stream header, 12-byte block
// header, LZMA2 data, padding, CRC32, index, footer) in specific ways.
func TestDecodeCorrupt(t *testing.T) {
	good := readVector(t, "x86_crc32.xz")
	n := len(good)
	const bh = 12 // block header offset
	hsize := (int(good[bh]) + 1) * 4
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		want   error
	}{
		{"empty", func(b []byte) []byte { return nil }, ErrTruncated},
		{"magic", func(b []byte) []byte { b[0] ^= 1; return b }, ErrFormat},
		{"stream header CRC", func(b []byte) []byte { b[8] ^= 1; return b }, ErrChecksum},
		{"reserved stream flags", func(b []byte) []byte { b[7] |= 0x20; fixCRC(b, 6, 8); return b }, ErrFormat},
		{"unsupported check type", func(b []byte) []byte { b[7] = 0x02; fixCRC(b, 6, 8); return b }, ErrUnsupported},
		{"block header CRC", func(b []byte) []byte { b[bh+hsize-1] ^= 1; return b }, ErrChecksum},
		{"reserved block flags", func(b []byte) []byte { b[bh+1] |= 0x04; fixCRC(b, bh, bh+hsize-4); return b }, ErrFormat},
		{"BCJ as last filter", func(b []byte) []byte {
			// Block flags: one filter; the first filter (BCJ) becomes the last.
			b[bh+1] &^= 3
			fixCRC(b, bh, bh+hsize-4)
			return b
		}, ErrFormat},
		{"unknown filter id", func(b []byte) []byte { b[bh+2] = 0x0a; fixCRC(b, bh, bh+hsize-4); return b }, ErrUnsupported},
		{"LZMA2 dictionary byte", func(b []byte) []byte { b[bh+6] = 41; fixCRC(b, bh, bh+hsize-4); return b }, ErrFormat},
		{"compressed data", func(b []byte) []byte { b[bh+hsize+200] ^= 0x55; return b }, nil}, // corrupt or checksum
		{"block check", func(b []byte) []byte {
			// The CRC32 sits right before the index (indicator, count 1,
			// two VLIs, padding, CRC32: 12 bytes here) and the footer.
			b[n-12-12-1] ^= 1
			return b
		}, ErrChecksum},
		{"index CRC", func(b []byte) []byte { b[n-12-1] ^= 1; return b }, ErrChecksum},
		{"footer CRC", func(b []byte) []byte { b[n-12] ^= 1; return b }, ErrChecksum},
		{"footer magic", func(b []byte) []byte { b[n-1] = 'Q'; return b }, ErrFormat},
		{"footer flags", func(b []byte) []byte { b[n-3] = 0x04; fixFooterCRC(b); return b }, ErrFormat},
		{"backward size", func(b []byte) []byte { b[n-8]++; fixFooterCRC(b); return b }, ErrFormat},
		{"trailing garbage", func(b []byte) []byte { return append(b, 1, 2, 3, 4) }, ErrFormat},
		{"padding not a multiple of 4", func(b []byte) []byte { return append(b, 0, 0) }, ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(append([]byte{}, good...))
			out, err := Decode(b, 1<<20)
			if err == nil {
				t.Fatalf("Decode succeeded with %d bytes", len(out))
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			if tc.want == nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("Decode: %v, want corrupt, checksum or truncated", err)
			}
			t.Log(err)
		})
	}
	// Every proper prefix fails as truncated or malformed, never succeeds.
	for i := 0; i < n; i++ {
		_, err := Decode(good[:i], 1<<20)
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrFormat) {
			t.Fatalf("prefix of %d bytes: %v", i, err)
		}
	}
	// Flipping any single bit anywhere fails cleanly.
	for i := 0; i < n; i++ {
		b := append([]byte{}, good...)
		b[i] ^= 1 << (i % 8)
		if _, err := Decode(b, 1<<20); err == nil {
			t.Fatalf("bit flip at byte %d went unnoticed", i)
		}
	}
}

func TestDecodeLimit(t *testing.T) {
	if _, err := Decode(readVector(t, "x86_crc32.xz"), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit 0: %v", err)
	}
	if _, _, err := DecodeStream(readVector(t, "x86_crc32.xz"), -1, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("limit -1: %v", err)
	}
	// A block header that announces more than the limit is refused before
	// decoding: x86_blocks.xz's headers carry sizes.
	if _, err := Decode(readVector(t, "x86_blocks.xz"), 4096); !errors.Is(err, ErrTooLarge) {
		t.Errorf("sized blocks, limit 4096: %v", err)
	}
}

func TestReadVLI(t *testing.T) {
	tests := []struct {
		in   []byte
		v    uint64
		n    int
		fail error
	}{
		{[]byte{0x00}, 0, 1, nil},
		{[]byte{0x7f}, 127, 1, nil},
		{[]byte{0x80, 0x01}, 128, 2, nil},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1<<63 - 1, 9, nil},
		{[]byte{0x80, 0x00}, 0, 0, errVLINotMinimal},
		{[]byte{0x80}, 0, 0, errVLITruncated},
		{nil, 0, 0, errVLITruncated},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, 0, errVLITooLong},
	}
	for _, tc := range tests {
		v, n, err := readVLI(tc.in, 0)
		if err != tc.fail || v != tc.v || n != tc.n {
			t.Errorf("readVLI(% x) = %d, %d, %v; want %d, %d, %v", tc.in, v, n, err, tc.v, tc.n, tc.fail)
		}
	}
}

func FuzzXZ(f *testing.F) {
	for _, v := range vectors {
		f.Add(readVector(f, v.File))
	}
	for _, v := range unsupportedVectors {
		f.Add(readVector(f, v.File))
	}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := Decode(src, limit)
		if err != nil {
			for _, s := range []error{ErrFormat, ErrTruncated, ErrChecksum, ErrCorrupt, ErrUnsupported, ErrTooLarge} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
	})
}

// lzma2Payload returns the raw LZMA2 data of lzma2_none.xz (a single block
// whose 12-byte header follows the 12-byte stream header) and its plaintext.
func lzma2Payload(t *testing.T) ([]byte, []byte) {
	src := readVector(t, "lzma2_none.xz")
	n, _, err := walkLZMA2(src[24:])
	if err != nil {
		t.Fatal(err)
	}
	return src[24 : 24+n], genX86(vectorSize, 1)
}

// buildXZ assembles a one-block stream with correct CRCs around raw LZMA2
// data: filters are the block header's filter flags for nf filters, sizes
// adds both optional size fields, out is what the block must decode to.
func buildXZ(check byte, nf int, filters []byte, sizes bool, data, out []byte) []byte {
	le := binary.LittleEndian
	b := append([]byte{}, headerMagic...)
	b = append(b, 0, check)
	b = le.AppendUint32(b, crc32.ChecksumIEEE(b[6:8]))

	var vli = func(b []byte, v uint64) []byte {
		for v >= 0x80 {
			b = append(b, byte(v)|0x80)
			v >>= 7
		}
		return append(b, byte(v))
	}
	h := []byte{0, byte(nf - 1)}
	if sizes {
		h[1] |= 0xc0
		h = vli(h, uint64(len(data)))
		h = vli(h, uint64(len(out)))
	}
	h = append(h, filters...)
	for (len(h)+4)%4 != 0 {
		h = append(h, 0)
	}
	h[0] = byte((len(h)+4)/4 - 1)
	h = le.AppendUint32(h, crc32.ChecksumIEEE(h))
	blockStart := len(b)
	b = append(b, h...)
	b = append(b, data...)
	unpadded := len(b) - blockStart
	for (len(b)-blockStart)%4 != 0 {
		b = append(b, 0)
	}
	switch check {
	case CheckCRC32:
		b = le.AppendUint32(b, crc32.ChecksumIEEE(out))
		unpadded += 4
	}
	idx := []byte{0, 1}
	idx = vli(idx, uint64(unpadded))
	idx = vli(idx, uint64(len(out)))
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	idx = le.AppendUint32(idx, crc32.ChecksumIEEE(idx))
	b = append(b, idx...)
	f := le.AppendUint32(nil, uint32(len(idx)/4-1))
	f = append(f, 0, check)
	b = le.AppendUint32(b, crc32.ChecksumIEEE(f))
	b = append(b, f...)
	return append(b, footerMagic...)
}

// TestDecodeFilterChains covers the block header's filter chain rules on
// streams built around real LZMA2 data, with every CRC correct.
func TestDecodeFilterChains(t *testing.T) {
	data, plain := lzma2Payload(t)
	bcj := append([]byte{}, plain...)
	X86Decode(bcj, 0)
	bcj7 := append([]byte{}, plain...)
	X86Decode(bcj7, 7)
	lz := []byte{0x21, 0x01, 0x08}
	tests := []struct {
		name    string
		nf      int
		filters []byte
		sizes   bool
		out     []byte
		want    error
	}{
		{"LZMA2 alone", 1, lz, false, plain, nil},
		{"LZMA2 alone, sizes in the header", 1, lz, true, plain, nil},
		{"BCJ then LZMA2", 2, append([]byte{0x04, 0x00}, lz...), false, bcj, nil},
		{"BCJ with start offset 7", 2, append([]byte{0x04, 0x04, 7, 0, 0, 0}, lz...), true, bcj7, nil},
		{"BCJ with one property byte", 2, append([]byte{0x04, 0x01, 7}, lz...), false, bcj, ErrFormat},
		{"two BCJ filters", 3, append([]byte{0x04, 0x00, 0x04, 0x00}, lz...), false, bcj, ErrUnsupported},
		{"LZMA2 before BCJ", 2, append(append([]byte{}, lz...), 0x04, 0x00), false, bcj, ErrFormat},
		{"LZMA2 twice", 2, append(append([]byte{}, lz...), lz...), false, plain, ErrFormat},
		{"delta then LZMA2", 2, append([]byte{0x03, 0x01, 0x00}, lz...), false, plain, ErrUnsupported},
		{"LZMA2 with two property bytes", 1, []byte{0x21, 0x02, 0x08, 0x00}, false, plain, ErrFormat},
		{"LZMA2 dictionary byte 40 (4 GiB - 1)", 1, []byte{0x21, 0x01, 40}, false, plain, nil},
		{"property size overruns the header", 1, []byte{0x21, 0x7f}, false, plain, ErrFormat},
		{"non-minimal filter id", 1, []byte{0xa1, 0x00, 0x01, 0x08}, false, plain, ErrFormat},
		{"wrong output for the check", 1, lz, false, bcj, ErrChecksum},
		{"wrong uncompressed size in the header", 1, lz, true, plain[1:], ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := buildXZ(CheckCRC32, tc.nf, tc.filters, tc.sizes, data, tc.out)
			got, err := Decode(src, 1<<20)
			if tc.want == nil {
				if err != nil || !bytes.Equal(got, tc.out) {
					t.Fatalf("Decode: %v (output equal: %v)", err, bytes.Equal(got, tc.out))
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode: %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestWalkLZMA2 covers the chunk framing rules on hand-made chunk sequences.
func TestWalkLZMA2(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		n     int
		usize uint64
		want  error
	}{
		{"end marker only", []byte{0x00}, 1, 0, nil},
		{"uncompressed chunk with reset", []byte{0x01, 0x00, 0x02, 'a', 'b', 'c', 0x00}, 7, 3, nil},
		{"two uncompressed chunks", []byte{0x01, 0x00, 0x00, 'a', 0x02, 0x00, 0x00, 'b', 0x00}, 9, 2, nil},
		{"first chunk without dictionary reset", []byte{0x02, 0x00, 0x00, 'a', 0x00}, 0, 0, ErrCorrupt},
		{"LZMA chunk without properties first", []byte{0x01, 0x00, 0x00, 'a', 0x80, 0, 0, 0, 0, 0, 0x00}, 0, 0, ErrCorrupt},
		{"LZMA chunk without dictionary reset first", []byte{0xc0, 0, 0, 0, 0, 0x5d, 0, 0x00}, 0, 0, ErrCorrupt},
		{"invalid control byte", []byte{0x03}, 0, 0, ErrCorrupt},
		{"no end marker", []byte{0x01, 0x00, 0x00, 'a'}, 0, 0, ErrTruncated},
		{"header cut short", []byte{0x01, 0x00}, 0, 0, ErrTruncated},
		{"LZMA header cut short", []byte{0xe0, 0x00, 0x00, 0x00}, 0, 0, ErrTruncated},
		{"chunk overruns", []byte{0x01, 0x00, 0x05, 'a'}, 0, 0, ErrTruncated},
		{"LZMA chunk sizes", []byte{0xff, 0xff, 0xff, 0x00, 0x00, 0x5d, 0x00, 0x00}, 8, 2 << 20, nil},
	}
	for _, tc := range tests {
		n, usize, err := walkLZMA2(tc.in)
		if !errors.Is(err, tc.want) || (tc.want == nil && (n != tc.n || usize != tc.usize)) {
			t.Errorf("%s: walkLZMA2 = %d, %d, %v; want %d, %d, %v", tc.name, n, usize, err, tc.n, tc.usize, tc.want)
		}
	}
	// An uncompressed chunk decodes through the whole stack.
	chunks := []byte{0x01, 0x00, 0x02, 'a', 'b', 'c', 0x02, 0x00, 0x00, 'd', 0x00}
	src := buildXZ(CheckCRC32, 1, []byte{0x21, 0x01, 0x00}, false, chunks, []byte("abcd"))
	if got, err := Decode(src, 1<<20); err != nil || string(got) != "abcd" {
		t.Errorf("uncompressed chunks: %q, %v", got, err)
	}
}

// chunkWriter records what it is given, checking the piece sizes.
type chunkWriter struct {
	t      *testing.T
	b      []byte
	pieces int
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	if len(p) > 64<<10 {
		w.t.Errorf("a piece of %d bytes", len(p))
	}
	w.b = append(w.b, p...)
	w.pieces++
	return len(p), nil
}

// TestDecodeStreamTo: streaming decode gives the one-shot decode's bytes,
// stream length and errors, for every vector and for damaged input.
func TestDecodeStreamTo(t *testing.T) {
	for _, v := range vectors {
		if v.Twice {
			continue
		}
		src := readVector(t, v.File)
		want, wn, err := DecodeStream(src, 1<<20, 0)
		if err != nil {
			t.Fatalf("%s: DecodeStream: %v", v.File, err)
		}
		w := &chunkWriter{t: t}
		n, err := DecodeStreamTo(w, src, 1<<20)
		if err != nil || n != wn || !bytes.Equal(w.b, want) {
			t.Errorf("%s: DecodeStreamTo: n %d (want %d), err %v, equal %v", v.File, n, wn, err, bytes.Equal(w.b, want))
		}
		if _, err := DecodeStreamTo(&chunkWriter{t: t}, src, len(want)-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: limit one below the output: %v", v.File, err)
		}
	}
	good := readVector(t, "x86_crc32.xz")
	for i := 0; i < len(good); i += 5 {
		b := append([]byte{}, good...)
		b[i] ^= 1 << (i % 8)
		_, _, err1 := DecodeStream(b, 1<<20, 0)
		_, err2 := DecodeStreamTo(&chunkWriter{t: t}, b, 1<<20)
		if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
			t.Fatalf("bit flip at byte %d: DecodeStream %v, DecodeStreamTo %v", i, err1, err2)
		}
	}
	// A writer's error ends decoding and comes back (wrapped).
	stop := errors.New("stop")
	if _, err := DecodeStreamTo(failWriter{stop}, good, 1<<20); !errors.Is(err, stop) {
		t.Errorf("failing writer: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// TestDecodeStreamToDict: with the dictionary in lent memory (filled with
// junk first), every vector decodes to the same bytes; the lent memory is
// what the decoder wrote its history to; a lender that gives too little,
// or nothing, leaves the decoder allocating as DecodeStreamTo does.
func TestDecodeStreamToDict(t *testing.T) {
	for _, v := range vectors {
		if v.Twice {
			continue
		}
		src := readVector(t, v.File)
		want, wn, err := DecodeStream(src, 1<<20, 0)
		if err != nil {
			t.Fatalf("%s: DecodeStream: %v", v.File, err)
		}
		for _, short := range []uint64{0, 1, 1 << 40} {
			var asked []uint64
			var lent []byte
			lend := func(n uint64) []byte {
				asked = append(asked, n)
				if short == 1<<40 {
					return nil
				}
				lent = bytes.Repeat([]byte{0xa5}, int(n-short))
				return lent
			}
			w := &chunkWriter{t: t}
			n, err := DecodeStreamToDict(w, src, 1<<20, lend)
			if err != nil || n != wn || !bytes.Equal(w.b, want) {
				t.Errorf("%s, lender %d short: n %d (want %d), err %v, equal %v", v.File, short, n, wn, err, bytes.Equal(w.b, want))
			}
			if len(want) > 0 && len(asked) == 0 {
				t.Errorf("%s: the lender was never asked", v.File)
			}
			for _, a := range asked {
				if a < 4096 || a > uint64(max(len(want)*3/2, 4096)) {
					t.Errorf("%s: asked for a %d-byte dictionary for %d bytes of output", v.File, a, len(want))
				}
			}
			// A big enough lent dictionary is where the history went.
			if short == 0 && len(want) > 0 && bytes.Count(lent, []byte{0xa5}) == len(lent) {
				t.Errorf("%s: the lent dictionary was not written", v.File)
			}
		}
	}
}
