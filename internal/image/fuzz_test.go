package image

import (
	"bytes"
	"errors"
	"testing"
)

// errSet is the closed set of errors Stamp and Inspect may return (wrapped).
var errSet = []error{
	ErrNotKernelELF, ErrFirstLoadNotAtZero, ErrNotContiguous, ErrNotPhysical, ErrAbove4G,
	ErrEntryOutsideText, ErrNoSlot, ErrSlotNotZero, ErrNoNoteSegment, ErrMalformed,
}

func inErrSet(err error) bool {
	for _, e := range errSet {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// fuzzSeeds are small images: the synthetic kernel, stamped and not, and a
// few of the refusal shapes (the real Go binary is too big to fuzz well).
func fuzzSeeds() [][]byte {
	plain := newSynth().build()
	stamped, _, err := Stamp(plain, 0)
	if err != nil {
		panic(err)
	}
	short := newSynth()
	shortText(short, synthSlot+slotSize)
	big := newSynth()
	bigHeaders(big, 10)
	return [][]byte{plain, stamped, short.build(), big.build(), rawELF(0x100), {}}
}

// FuzzInspect: any bytes; no panic, only the listed errors, and every
// reported header lies inside the input.
func FuzzInspect(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		h, err := Inspect(b)
		if !bytes.Equal(b, orig) {
			t.Fatal("Inspect modified its input")
		}
		if err != nil {
			if !inErrSet(err) {
				t.Fatalf("error outside the set: %v", err)
			}
			return
		}
		if m := h.MB1; m != nil && (m.Offset < 0 || m.Offset+12 > len(b) || m.Offset >= mb1Search) {
			t.Fatalf("mb1 at %#x outside %d bytes", m.Offset, len(b))
		}
		if m := h.MB2; m != nil && (m.Offset < 0 || m.Offset+int(m.HeaderLength) > min(len(b), mb2Search)) {
			t.Fatalf("mb2 at %#x+%d outside %d bytes", m.Offset, m.HeaderLength, len(b))
		}
		if p := h.PVH; p != nil && (p.Offset < 0 || p.Offset+noteHdrSize > len(b)) {
			t.Fatalf("pvh at %#x outside %d bytes", p.Offset, len(b))
		}
	})
}

// FuzzStamp: any bytes; no panic, only the listed errors, the input is not
// modified, and an accepted image stamps to an equal-length output that a
// second Stamp leaves unchanged.
func FuzzStamp(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkStamp(t, b, 0) })
}

// FuzzStampHighHalf is FuzzStamp for an image linked in the upper half, at
// gohv's virtual offset.
func FuzzStampHighHalf(f *testing.F) {
	const off = gohvOffset
	plain := newHighSynth().build()
	stamped, _, err := Stamp(plain, off)
	if err != nil {
		panic(err)
	}
	for _, s := range [][]byte{plain, stamped, newSynth().build()} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkStamp(t, b, off) })
}

// checkStamp is the fuzz targets' property of Stamp(b, off).
func checkStamp(t *testing.T, b []byte, off uint64) {
	orig := bytes.Clone(b)
	out, rep, err := Stamp(b, off)
	if !bytes.Equal(b, orig) {
		t.Fatal("Stamp modified its input")
	}
	if err != nil {
		if !inErrSet(err) {
			t.Fatalf("error outside the set: %v", err)
		}
		return
	}
	if len(out) != len(b) {
		t.Fatalf("len(out) = %d, want %d", len(out), len(b))
	}
	out2, rep2, err := Stamp(out, off)
	if err != nil {
		t.Fatalf("restamp: %v", err)
	}
	if !bytes.Equal(out, out2) || !rep2.Restamped {
		t.Fatal("restamp changed the image")
	}
	rep2.Restamped = rep.Restamped
	if rep != rep2 {
		t.Fatalf("reports differ: %+v vs %+v", rep, rep2)
	}
}
