//go:build !race

// The real-kernel tests decode a whole Debian kernel: `make test` runs
// them in its plain pass; its race pass (pure packages under -race) leaves
// them out, as they start no goroutines.

package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/internal/testenv"
)

// The tests here parse real guest kernels and compare what Parse says with
// what the image says when read another way: the payload decompressed by
// the system's xz command, the segments and notes read with debug/elf and a
// note walker of the test's own. No expectation comes from one kernel build.

// realImage reads the file the environment variable env names. When env is
// unset the test skips, unless GOHV_REQUIRE=1 or CI=true (make test sets
// GOHV_REQUIRE), where it fails (internal/testenv).
func realImage(t *testing.T, env string) []byte {
	t.Helper()
	return testenv.ReadEnvFile(t, env, "`make test` sets it from scripts/fetch-*.sh")
}

// systemVmlinux extracts the ELF vmlinux from a bzImage as Linux's
// scripts/extract-vmlinux does: at each offset where the xz magic occurs,
// try `xz -dc` and keep the first output that is an ELF file.
func systemVmlinux(t *testing.T, img []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Fatalf("the xz command is needed to check the decompressed kernel: %v", err)
	}
	magic := []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	for off := 0; ; {
		i := bytes.Index(img[off:], magic)
		if i < 0 {
			t.Fatal("no xz stream in the image decompresses to an ELF file")
		}
		off += i
		cmd := exec.Command("xz", "-dc", "--single-stream")
		cmd.Stdin = bytes.NewReader(img[off:])
		out, err := cmd.Output()
		if err == nil && bytes.HasPrefix(out, []byte("\x7fELF")) {
			t.Logf("xz stream at offset %#x: %d-byte ELF", off, len(out))
			return out
		}
		off++
	}
}

// xenNotes walks the PT_NOTE segments of f and returns the descriptors of
// the notes named "Xen" by type (the last one of a type wins) and the set of
// types seen.
func xenNotes(t *testing.T, f *elf.File) (map[uint32][]byte, uint32) {
	t.Helper()
	notes := map[uint32][]byte{}
	var present uint32
	le := binary.LittleEndian
	pad := func(n uint32) int { return int((n + 3) &^ 3) }
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Off == 0 {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			t.Fatal(err)
		}
		for len(b) >= 12 {
			namesz, descsz, typ := le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])
			b = b[12:]
			if pad(namesz)+pad(descsz) > len(b) {
				t.Fatalf("a note of type %d runs past its segment", typ)
			}
			name := string(bytes.TrimRight(b[:namesz], "\x00"))
			desc := b[pad(namesz) : pad(namesz)+int(descsz)]
			b = b[pad(namesz)+pad(descsz):]
			if name != "Xen" {
				continue
			}
			notes[typ] = desc
			if typ < 32 {
				present |= 1 << typ
			}
		}
	}
	return notes, present
}

// knownFeatures are the XENFEAT names a FEATURES note may use
// (xen/include/public/features.h, libelf's elf_xen_feature_names).
var knownFeatures = map[string]int{
	"writable_page_tables":       abi.XENFEAT_writable_page_tables,
	"writable_descriptor_tables": abi.XENFEAT_writable_descriptor_tables,
	"auto_translated_physmap":    abi.XENFEAT_auto_translated_physmap,
	"supervisor_mode_kernel":     abi.XENFEAT_supervisor_mode_kernel,
	"pae_pgdir_above_4gb":        abi.XENFEAT_pae_pgdir_above_4gb,
	"hvm_callback_vector":        abi.XENFEAT_hvm_callback_vector,
	"dom0":                       abi.XENFEAT_dom0,
}

// checkAgainstELF compares k with the ELF file elfImg read by debug/elf and
// the test's note walker, with libelf's defaults for absent notes. It
// returns what the image says.
func checkAgainstELF(t *testing.T, k *Image, elfImg []byte) DomParms {
	t.Helper()
	if !bytes.Equal(k.ELF, elfImg) {
		t.Fatalf("Parse's ELF image (%d bytes) differs from the reference (%d bytes)", len(k.ELF), len(elfImg))
	}
	f, err := elf.NewFile(bytes.NewReader(elfImg))
	if err != nil {
		t.Fatal(err)
	}
	if k.EEntry != f.Entry {
		t.Errorf("EEntry %#x, e_entry %#x", k.EEntry, f.Entry)
	}

	notes, present := xenNotes(t, f)
	if len(notes) == 0 {
		t.Fatal("the image has no Xen notes in a PT_NOTE segment")
	}
	str := func(typ uint32) string {
		d := notes[typ]
		if i := bytes.IndexByte(d, 0); i >= 0 {
			d = d[:i]
		}
		return string(d)
	}
	num := func(typ uint32, unset uint64) uint64 {
		d, ok := notes[typ]
		if !ok {
			return unset
		}
		if len(d) > 8 {
			t.Fatalf("note %d has a %d-byte value", typ, len(d))
		}
		var b [8]byte
		copy(b[:], d)
		return le64(b[:])
	}
	want := DomParms{
		Source:         NotesPhdr,
		Present:        present,
		GuestOS:        str(abi.XEN_ELFNOTE_GUEST_OS),
		GuestVersion:   str(abi.XEN_ELFNOTE_GUEST_VERSION),
		XenVersion:     str(abi.XEN_ELFNOTE_XEN_VERSION),
		Loader:         str(abi.XEN_ELFNOTE_LOADER),
		Features:       str(abi.XEN_ELFNOTE_FEATURES),
		VirtBase:       num(abi.XEN_ELFNOTE_VIRT_BASE, 0),
		ElfPaddrOffset: num(abi.XEN_ELFNOTE_PADDR_OFFSET, 0),
		VirtEntry:      num(abi.XEN_ELFNOTE_ENTRY, f.Entry),
		VirtHypercall:  num(abi.XEN_ELFNOTE_HYPERCALL_PAGE, UnsetAddr),
		VirtHVStartLow: num(abi.XEN_ELFNOTE_HV_START_LOW, UnsetAddr),
		P2MBase:        num(abi.XEN_ELFNOTE_INIT_P2M, UnsetAddr),
		PhysEntry:      uint32(num(abi.XEN_ELFNOTE_PHYS32_ENTRY, uint64(UnsetAddr32))),
		SuspendCancel:  num(abi.XEN_ELFNOTE_SUSPEND_CANCEL, 0) != 0,
		UnmappedInitrd: num(abi.XEN_ELFNOTE_MOD_START_PFN, 0) != 0,
	}
	switch pae, ok := notes[abi.XEN_ELFNOTE_PAE_MODE]; {
	case !ok:
	case strings.Contains(str(abi.XEN_ELFNOTE_PAE_MODE), "bimodal"):
		want.PAE = XEN_PAE_BIMODAL
	case str(abi.XEN_ELFNOTE_PAE_MODE) == "yes":
		want.PAE = XEN_PAE_EXTCR3
	default:
		t.Fatalf("PAE_MODE %q", pae)
	}
	if d, ok := notes[abi.XEN_ELFNOTE_SUPPORTED_FEATURES]; ok {
		want.FeaturesSupported[0] = binary.LittleEndian.Uint32(d)
	}
	if s := want.Features; s != "" {
		for _, name := range strings.Split(s, "|") {
			bit, ok := knownFeatures[strings.TrimPrefix(name, "!")]
			if !ok {
				t.Fatalf("FEATURES %q names %q, which this test does not know", s, name)
			}
			want.FeaturesSupported[0] |= 1 << bit
			if strings.HasPrefix(name, "!") {
				want.FeaturesRequired[0] |= 1 << bit
			}
		}
	}
	if d, ok := notes[abi.XEN_ELFNOTE_L1_MFN_VALID]; ok {
		for i := 0; i+16 <= len(d); i += 16 {
			want.L1MFNValid = append(want.L1MFNValid, L1MFNValid{le64(d[i:]), le64(d[i+8:])})
		}
	}
	want.VirtOffset = want.VirtBase - want.ElfPaddrOffset

	// Loadable segments: PT_LOAD with any of R, W, X.
	pstart, pend := ^uint64(0), uint64(0)
	var segs []*elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&(elf.PF_R|elf.PF_W|elf.PF_X) != 0 {
			segs = append(segs, p)
			pstart, pend = min(pstart, p.Paddr), max(pend, p.Paddr+p.Memsz)
		}
	}
	want.VirtKStart, want.VirtKEnd = pstart+want.VirtOffset, pend+want.VirtOffset
	if len(k.Segments) != len(segs) {
		t.Fatalf("%d segments, the image has %d loadable ones", len(k.Segments), len(segs))
	}
	for i, p := range segs {
		s := k.Segments[i]
		data, err := io.ReadAll(io.NewSectionReader(bytes.NewReader(elfImg), int64(p.Off), int64(p.Filesz)))
		if err != nil {
			t.Fatal(err)
		}
		if s.Paddr != p.Paddr || s.Vaddr != p.Vaddr || s.Filesz != p.Filesz || s.Memsz != p.Memsz || s.Flags != p.Flags ||
			s.Dest != p.Paddr+want.VirtOffset || !bytes.Equal(s.Data, data) {
			t.Errorf("segment %d: paddr %#x vaddr %#x filesz %#x memsz %#x flags %v dest %#x; the image has %+v",
				i, s.Paddr, s.Vaddr, s.Filesz, s.Memsz, s.Flags, s.Dest, p.ProgHeader)
		}
	}
	if k.PStart != pstart || k.PEnd != pend {
		t.Errorf("PStart/PEnd %#x/%#x, the segments span %#x-%#x", k.PStart, k.PEnd, pstart, pend)
	}
	if !reflect.DeepEqual(k.Parms, want) {
		t.Errorf("Parms =\n%+v\nthe image says\n%+v", k.Parms, want)
	}

	// CheckDom0 refuses exactly what dom0_construct_pv does.
	notDom0 := want.Present&(1<<abi.XEN_ELFNOTE_SUPPORTED_FEATURES) != 0 && want.FeaturesSupported[0]&(1<<abi.XENFEAT_dom0) == 0
	supervisor := want.FeaturesRequired[0]&(1<<abi.XENFEAT_supervisor_mode_kernel) != 0
	if err := k.CheckDom0(); (err != nil) != (notDom0 || supervisor) {
		t.Errorf("CheckDom0: %v; the notes say dom0-capable %v, supervisor mode required %v", err, !notDom0, supervisor)
	}
	return want
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// TestParseKernelDebian parses the Debian Linux bzImage named by
// GOHV_VMLINUZ (make test fetches one with scripts/fetch-kernel.sh) and
// checks it against the vmlinux the xz command extracts from it.
func TestParseKernelDebian(t *testing.T) {
	img := realImage(t, "GOHV_VMLINUZ")
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	k, err := Parse(img)
	took := time.Since(t0)
	runtime.ReadMemStats(&m1)
	t.Logf("Parse allocated %d MiB in total", (m1.TotalAlloc-m0.TotalAlloc)>>20)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	t.Logf("%d-byte bzImage (protocol %#x), %v payload, %d-byte ELF, parsed in %v",
		len(img), k.BootProtocol, k.Compression, len(k.ELF), took)

	// The setup header (Documentation/arch/x86/boot.rst): "HdrS" at 0x202,
	// the protocol version at 0x206.
	if len(img) < 0x208 || string(img[0x202:0x206]) != "HdrS" {
		t.Fatal("GOHV_VMLINUZ is not a bzImage")
	}
	if !k.BzImage || k.BootProtocol != binary.LittleEndian.Uint16(img[0x206:]) || k.Compression != CompressionXZ {
		t.Errorf("BzImage %v, protocol %#x, compression %v; the image has protocol %#x and an xz payload",
			k.BzImage, k.BootProtocol, k.Compression, binary.LittleEndian.Uint16(img[0x206:]))
	}
	vmlinux := systemVmlinux(t, img)
	p := checkAgainstELF(t, k, vmlinux)
	for i, s := range k.Segments {
		t.Logf("segment %d: paddr %#x vaddr %#x filesz %#x memsz %#x dest %#x", i, s.Paddr, s.Vaddr, s.Filesz, s.Memsz, s.Dest)
	}
	t.Logf("notes: entry %#x virt_base %#x kernel %#x-%#x init_p2m %#x GUEST_OS %q GUEST_VERSION %q FEATURES %q",
		p.VirtEntry, p.VirtBase, p.VirtKStart, p.VirtKEnd, p.P2MBase, p.GuestOS, p.GuestVersion, p.Features)

	// The extracted vmlinux parses to the same kernel.
	kv, err := Parse(vmlinux)
	if err != nil {
		t.Fatalf("Parse(vmlinux): %v", err)
	}
	if kv.Compression != CompressionNone || kv.BzImage || !reflect.DeepEqual(kv.Parms, k.Parms) || !reflect.DeepEqual(kv.Segments, k.Segments) {
		t.Errorf("the plain vmlinux parses differently: %+v", kv.Parms)
	}
}

// TestParseKernelGrubXen parses Debian's GRUB for Xen PV (grub-xen-host's
// /usr/lib/grub-xen/grub-x86_64-xen.bin), named by GOHV_GRUB_XEN: a second
// real PV64 guest, an ELF file whose notes differ from Linux's (no
// VIRT_BASE, so libelf's defaults apply).
func TestParseKernelGrubXen(t *testing.T) {
	img := realImage(t, "GOHV_GRUB_XEN")
	if !bytes.HasPrefix(img, []byte("\x7fELF")) {
		t.Fatal("GOHV_GRUB_XEN is not an ELF file")
	}
	k, err := Parse(img)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if k.BzImage || k.Compression != CompressionNone {
		t.Errorf("BzImage %v, compression %v", k.BzImage, k.Compression)
	}
	p := checkAgainstELF(t, k, img)
	t.Logf("%d segments, kernel %#x-%#x, entry %#x, GUEST_OS %q, notes present %#x", len(k.Segments), p.VirtKStart, p.VirtKEnd, p.VirtEntry, p.GuestOS, p.Present)
}

// TestLoadKernelDebian loads the Debian Linux bzImage named by GOHV_VMLINUZ
// as gohv does (streaming the xz payload into the destination) and checks
// it against Parse: the same Image but for ELF and Data, the same memory
// image. It logs what each allocated.
func TestLoadKernelDebian(t *testing.T) {
	img := realImage(t, "GOHV_VMLINUZ")
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	want, err := Parse(img)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	t1 := time.Now()
	runtime.ReadMemStats(&m1)
	mem := memoryImage(want)
	ws := append([]Segment{}, want.Segments...)
	for i := range ws {
		ws[i].Data = nil
	}
	w := *want
	w.ELF, w.Segments = nil, ws
	want = nil
	runtime.GC()

	d := &memDest{max: MaxSpan}
	runtime.ReadMemStats(&m2)
	t2 := time.Now()
	calls := 0
	got, err := Load(img, d, func(done, total uint64) { calls++ })
	took := time.Since(t2)
	var m3 runtime.MemStats
	runtime.ReadMemStats(&m3)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, &w) {
		t.Errorf("Load: %+v\nParse: %+v", got, &w)
	}
	if !bytes.Equal(d.b, mem) {
		t.Errorf("the loaded memory image differs from Parse's")
	}
	// Load's allocations besides the destination (which is gohv's dom0
	// memory, not its heap): the dictionary and small buffers.
	loadAlloc := m3.TotalAlloc - m2.TotalAlloc - uint64(len(d.b))
	t.Logf("Parse: %v, %d MiB allocated; Load: %v, %d MiB allocated besides the %d MiB destination, %d progress calls",
		t1.Sub(t0).Round(time.Millisecond), (m1.TotalAlloc-m0.TotalAlloc)>>20, took.Round(time.Millisecond), loadAlloc>>20, len(d.b)>>20, calls)
	if loadAlloc > 48<<20 {
		t.Errorf("Load allocated %d MiB besides the destination; the xz dictionary is 32 MiB", loadAlloc>>20)
	}
}
