package kernel

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"testing"

	"github.com/gohv/gohv/abi"
)

// memDest is a Dest in a byte slice, as large as Reserve asks (up to max).
type memDest struct {
	b        []byte
	reserves int
	max      uint64
}

func (d *memDest) Reserve(pstart, pend uint64) error {
	d.reserves++
	if pend-pstart > d.max {
		return fmt.Errorf("memDest: %d bytes asked, %d allowed", pend-pstart, d.max)
	}
	d.b = make([]byte, pend-pstart)
	return nil
}

func (d *memDest) WriteAt(p []byte, off uint64) error {
	if off > uint64(len(d.b)) || uint64(len(p)) > uint64(len(d.b))-off {
		return fmt.Errorf("memDest: write [%#x, +%#x) outside %#x bytes", off, len(p), len(d.b))
	}
	copy(d.b[off:], p)
	return nil
}

// memoryImage is the physical image [PStart, PEnd) of a parsed kernel.
func memoryImage(k *Image) []byte {
	b := make([]byte, k.PEnd-k.PStart)
	for _, s := range k.Segments {
		copy(b[s.Paddr-k.PStart:], s.Data)
	}
	return b
}

// checkLoad loads img and compares it with Parse's result: the same
// Image but for ELF and Data, and the same memory image.
func checkLoad(t *testing.T, img []byte, limit int) *memDest {
	t.Helper()
	want, werr := parseLimited(img, limit)
	d := &memDest{max: MaxSpan}
	var calls int
	got, err := loadLimited(img, d, func(done, total uint64) { calls++ }, limit)
	if werr != nil {
		if err == nil {
			t.Fatalf("Parse: %v; Load succeeded", werr)
		}
		return d
	}
	if err != nil {
		t.Fatalf("Load: %v (Parse succeeded)", err)
	}
	if d.reserves != 1 {
		t.Errorf("Reserve called %d times", d.reserves)
	}
	mem := memoryImage(want)
	if !bytes.Equal(d.b, mem) {
		t.Errorf("the loaded memory image (%d bytes) differs from Parse's (%d bytes)", len(d.b), len(mem))
	}
	if got.ELF != nil {
		t.Errorf("Load kept %d ELF bytes", len(got.ELF))
	}
	ws := append([]Segment{}, want.Segments...)
	for i := range ws {
		ws[i].Data = nil
	}
	w := *want
	w.ELF, w.Segments = nil, ws
	if !reflect.DeepEqual(got, &w) {
		t.Errorf("Load: %+v\nParse: %+v", got, &w)
	}
	if want.Compression == CompressionXZ && calls == 0 {
		t.Errorf("no progress calls for an xz payload")
	}
	return d
}

// TestLoadMatchesParse: Load places what Parse finds, for each way a
// kernel can be packed, and for notes Load reads itself (PT_NOTE) or
// leaves to Parse's code (sections, __xen_guest).
func TestLoadMatchesParse(t *testing.T) {
	plain := linuxELF().Bytes()
	xzPayload := readTestdata(t, vectorXZ)
	legacy := (&tELF{Entry: tText, Segs: linuxSegs(), Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS,
		Data: []byte("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0x0,HYPERCALL_PAGE=0x1002")}}}).Bytes()
	tests := []struct {
		name string
		img  []byte
	}{
		{"ELF", plain},
		{"ELF with a hypercall page", withNotes(minimalNotes(xenNum(abi.XEN_ELFNOTE_HYPERCALL_PAGE, tText))...).Bytes()},
		{"ELF with __xen_guest", legacy},
		{"bzImage with ELF payload", bzImage(plain, 0x020f, 39, 0x2cc)},
		{"bzImage with xz payload", bzImage(xzPayload, 0x020f, 39, 0x2cc)},
		{"bzImage with xz payload, no size trailer", bzImage(xzPayload[:len(xzPayload)-4], 0x020f, 39, 0)},
		{"bzImage with xz payload and stream padding", bzImage(append(xzPayload[:len(xzPayload)-4:len(xzPayload)-4], 0, 0, 0, 0, 0, 0, 0, 0), 0x020f, 39, 0)},
		{"bzImage with gzip payload", bzImage(gzipped(plain), 0x0208, 0, 16)},
		{"bzImage with bzip2 payload", bzImage(readTestdata(t, vectorBzip2), 0x020c, 4, 0)},
		{"bare xz", xzPayload},
		{"bare gzip", gzipped(plain)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.img); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkLoad(t, tc.img, MaxSize)
		})
	}
}

// TestLoadStreamsXZ: an xz payload is placed while it is decoded, not
// after: its first write comes before the stream's last progress call.
func TestLoadStreamsXZ(t *testing.T) {
	img := bzImage(readTestdata(t, vectorXZ), 0x020f, 39, 0x2cc)
	var order []string
	d := &orderDest{memDest: memDest{max: MaxSpan}, order: &order}
	if _, err := Load(img, d, func(done, total uint64) { order = append(order, "progress") }); err != nil {
		t.Fatal(err)
	}
	if len(order) < 3 || order[0] != "reserve" || order[1] != "write" || order[len(order)-1] != "progress" {
		t.Fatalf("calls %v: want reserve, the writes interleaved with progress", order)
	}
}

type orderDest struct {
	memDest
	order *[]string
}

func (d *orderDest) Reserve(s, e uint64) error {
	*d.order = append(*d.order, "reserve")
	return d.memDest.Reserve(s, e)
}

func (d *orderDest) WriteAt(p []byte, off uint64) error {
	*d.order = append(*d.order, "write")
	return d.memDest.WriteAt(p, off)
}

// TestLoadRefusals: Load refuses what Parse refuses, with the same
// sentinel, and passes on the destination's errors.
func TestLoadRefusals(t *testing.T) {
	plain := linuxELF().Bytes()
	xzPayload := readTestdata(t, vectorXZ)
	badTrailer := append([]byte{}, xzPayload...)
	badTrailer[len(badTrailer)-1] ^= 1
	corruptXZ := append([]byte{}, xzPayload...)
	corruptXZ[len(corruptXZ)/2] ^= 0x40
	notXen := (&tELF{Entry: tText, Segs: linuxSegs()}).Bytes()
	tests := []struct {
		name  string
		img   []byte
		limit int
	}{
		{"boot protocol 2.07", bzImage(plain, 0x0207, 39, 0), MaxSize},
		{"xz size trailer mismatch", bzImage(badTrailer, 0x020f, 39, 0), MaxSize},
		{"bytes after the xz stream", bzImage(append(append([]byte{}, xzPayload...), 1, 2), 0x020f, 39, 0), MaxSize},
		{"corrupt xz", bzImage(corruptXZ, 0x020f, 39, 0), MaxSize},
		{"xz above the limit", bzImage(xzPayload[:len(xzPayload)-4], 0x020f, 39, 0), len(plain) - 1},
		{"not Xen", notXen, MaxSize},
		{"xz, not Xen", xzOf(t, notXen), MaxSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, werr := parseLimited(tc.img, tc.limit)
			_, err := loadLimited(tc.img, &memDest{max: MaxSpan}, nil, tc.limit)
			if werr == nil || err == nil {
				t.Fatalf("Parse: %v, Load: %v; want both to fail", werr, err)
			}
			for _, s := range kernelSentinels {
				if errors.Is(werr, s) && !errors.Is(err, s) {
					t.Fatalf("Parse: %v\nLoad: %v", werr, err)
				}
			}
			t.Log(err)
		})
	}
	// The destination's refusal is Load's error.
	if _, err := Load(bzImage(xzPayload, 0x020f, 39, 0), &memDest{max: 4096}, nil); err == nil || !bytes.Contains([]byte(err.Error()), []byte("memDest")) {
		t.Errorf("a destination too small: %v", err)
	}
}

func FuzzLoadKernel(f *testing.F) {
	plain := linuxELF().Bytes()
	f.Add(plain)
	f.Add(bzImage(readTestdata(f, vectorXZ), 0x020f, 1, 0))
	f.Add(readTestdata(f, vectorXZ))
	const limit = 4 << 20
	f.Fuzz(func(t *testing.T, img []byte) {
		k, err := loadLimited(img, &memDest{max: limit}, nil, limit)
		if err != nil {
			for _, s := range kernelSentinels {
				if errors.Is(err, s) {
					return
				}
			}
			if bytes.Contains([]byte(err.Error()), []byte("memDest")) {
				return
			}
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		p := &k.Parms
		if k.ELF != nil || len(k.Segments) == 0 || p.VirtEntry < p.VirtKStart || p.VirtEntry > p.VirtKEnd || p.Source == NotesNone {
			t.Fatalf("accepted %+v", k)
		}
	})
}

// xzOf compresses b as Linux packs a kernel, with the xz command (which
// make deps installs; kernel_real_test.go needs it too).
func xzOf(t *testing.T, b []byte) []byte {
	t.Helper()
	cmd := exec.Command("xz", "--format=xz", "--x86", "--lzma2=dict=1MiB", "--check=crc32", "--stdout")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return out
}

// TestLoadXZWhole: an xz payload whose notes Load does not read while
// streaming (__xen_guest) is unpacked whole, with the same result.
func TestLoadXZWhole(t *testing.T) {
	legacy := (&tELF{Entry: tText, Segs: linuxSegs(), Secs: []tSec{{Name: "__xen_guest", Type: elf.SHT_PROGBITS,
		Data: []byte("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0x0,HYPERCALL_PAGE=0x1002")}}}).Bytes()
	checkLoad(t, bzImage(xzOf(t, legacy), 0x020f, 39, 0), MaxSize)
}

// dictDest is a memDest that lends the LZMA2 dictionary, filled with junk.
type dictDest struct {
	memDest
	asked []uint64
	dict  []byte
}

func (d *dictDest) Dictionary(n uint64) []byte {
	d.asked = append(d.asked, n)
	d.dict = bytes.Repeat([]byte{0x5a}, int(n))
	return d.dict
}

// TestLoadLentDictionary: a DictionaryDest is asked for the dictionary of
// an xz payload, its memory is the one decoded through, and the image is
// Parse's; a plain ELF file needs none.
func TestLoadLentDictionary(t *testing.T) {
	plain := linuxELF().Bytes()
	img := bzImage(readTestdata(t, vectorXZ), 0x020f, 39, 0x2cc)
	want, err := Parse(img)
	if err != nil {
		t.Fatal(err)
	}
	d := &dictDest{memDest: memDest{max: MaxSpan}}
	if _, err := Load(img, d, nil); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(d.asked) != 1 || bytes.Count(d.dict, []byte{0x5a}) == len(d.dict) {
		t.Errorf("dictionary asked %v, written %v", d.asked, bytes.Count(d.dict, []byte{0x5a}) != len(d.dict))
	}
	if !bytes.Equal(d.b, memoryImage(want)) {
		t.Errorf("the image loaded through a lent dictionary differs from Parse's")
	}
	e := &dictDest{memDest: memDest{max: MaxSpan}}
	if _, err := Load(plain, e, nil); err != nil || len(e.asked) != 0 {
		t.Errorf("plain ELF: %v, dictionary asked %v", err, e.asked)
	}
}
