package linux

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// TestELFHash checks the hash against the values the Go runtime has
// precomputed for its vDSO keys (runtime/vdso_linux_amd64.go).
func TestELFHash(t *testing.T) {
	for _, tc := range []struct {
		name string
		want uint32
	}{
		{"", 0},
		{VDSOVersion, 0x3ae75f6},
		{VDSOGettimeofday, 0x315ca59},
		{VDSOClockGettime, 0xd35ec75},
		{"__vdso_getrandom", 0x25425d},
	} {
		if got := ELFHash(tc.name); got != tc.want {
			t.Errorf("ELFHash(%q) = %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// runtimeVDSO looks the runtime's vDSO keys up in img, loaded at base,
// by the rules of the Go runtime's parser (runtime/vdso_linux.go:
// vdsoInitFromSysinfoEhdr, vdsoFindVersion, vdsoParseSymbols, DT_HASH
// case): the first PT_LOAD gives the load bias (load address + p_offset -
// p_vaddr), PT_DYNAMIC's p_offset the dynamic section; DT_STRTAB,
// DT_SYMTAB and DT_HASH are required, DT_VERSYM counts only with a
// DT_VERDEF; the version is the first non-base definition whose hash and
// name match (-1 if none); a symbol counts if it is a global or weak
// function (or untyped) with a section, of the key's name, and (if there
// are versions and the version was found, or -1) of that version. It
// returns the symbols found, the version index, and false where the
// runtime would give up on the image. Addresses outside the image fail
// the test (the runtime would fault).
func runtimeVDSO(t *testing.T, img []byte, base uint64) (syms map[string]uint64, version int32, valid bool) {
	t.Helper()
	le := binary.LittleEndian
	at := func(addr, n uint64) []byte {
		t.Helper()
		off := addr - base
		if addr < base || off+n > uint64(len(img)) || off+n < off {
			t.Fatalf("the runtime would read %#x+%d, outside the image at %#x", addr, n, base)
		}
		return img[off : off+n]
	}
	phoff, phnum := le.Uint64(img[32:]), le.Uint16(img[56:])
	var bias uint64
	var foundVaddr bool
	var dyn uint64
	haveDyn := false
	for i := uint16(0); i < phnum; i++ {
		ph := at(base+phoff+uint64(i)*56, 56)
		switch le.Uint32(ph) {
		case elfPTLoad:
			if !foundVaddr {
				foundVaddr = true
				bias = base + le.Uint64(ph[8:]) - le.Uint64(ph[16:])
			}
		case elfPTDynamic:
			dyn, haveDyn = base+le.Uint64(ph[8:]), true
		}
	}
	if !foundVaddr || !haveDyn {
		return nil, 0, false
	}
	var strtab, symtab, hash, versym, verdef uint64
	for d := dyn; ; d += 16 {
		e := at(d, 16)
		tag, p := le.Uint64(e), bias+le.Uint64(e[8:])
		if tag == elfDTNull {
			break
		}
		switch tag {
		case elfDTStrtab:
			strtab = p
		case elfDTSymtab:
			symtab = p
		case elfDTHash:
			hash = p
		case elfDTVersym:
			versym = p
		case elfDTVerdef:
			verdef = p
		}
	}
	if strtab == 0 || symtab == 0 || hash == 0 {
		return nil, 0, false
	}
	if verdef == 0 {
		versym = 0
	}
	str := func(off uint32) string {
		t.Helper()
		var b []byte
		for a := strtab + uint64(off); at(a, 1)[0] != 0; a++ {
			b = append(b, at(a, 1)[0])
		}
		return string(b)
	}
	nbucket, nchain := le.Uint32(at(hash, 4)), le.Uint32(at(hash+4, 4))
	bucket := func(i uint32) uint32 { return le.Uint32(at(hash+8+4*uint64(i), 4)) }
	chain := func(i uint32) uint32 {
		t.Helper()
		if i >= nchain {
			t.Fatalf("chain index %d past nchain %d", i, nchain)
		}
		return le.Uint32(at(hash+8+4*uint64(nbucket)+4*uint64(i), 4))
	}

	version = -1
	for def := verdef; def != 0; {
		vd := at(def, 20)
		if le.Uint16(vd[2:])&elfVerFlgBase == 0 {
			aux := at(def+uint64(le.Uint32(vd[12:])), 8)
			if le.Uint32(vd[8:]) == ELFHash(VDSOVersion) && str(le.Uint32(aux)) == VDSOVersion {
				version = int32(le.Uint16(vd[4:]) & 0x7fff)
				break
			}
		}
		next := le.Uint32(vd[16:])
		if next == 0 {
			break
		}
		def += uint64(next)
	}

	syms = map[string]uint64{}
	for _, name := range []string{VDSOGettimeofday, VDSOClockGettime, "__vdso_getrandom"} {
		if nbucket == 0 {
			continue
		}
		for i := bucket(ELFHash(name) % nbucket); i != 0; i = chain(i) {
			s := at(symtab+24*uint64(i), 24)
			typ, bind := s[4]&0xf, s[4]>>4
			if typ != 2 && typ != 0 || bind != 1 && bind != 2 || le.Uint16(s[6:]) == 0 {
				continue
			}
			if str(le.Uint32(s)) != name {
				continue
			}
			if versym != 0 && version != 0 && int32(le.Uint16(at(versym+2*uint64(i), 2))&0x7fff) != version {
				continue
			}
			syms[name] = bias + le.Uint64(s[8:])
			break
		}
	}
	return syms, version, true
}

func TestVDSO(t *testing.T) {
	const clock, tod = 0xffffffff80a41230, 0xffffffff80a412c0
	for _, tc := range []struct {
		name        string
		base        uint64
		clock, tod  uint64
		mutate      func(img []byte) // applied after BuildVDSO
		valid       bool
		wantVersion int32
		wantSyms    int // how many of the two the runtime finds
	}{
		{"upper half", 0xffffffff80b3c040, clock, tod, nil, true, 2, 2},
		{"low", 0x1000, 0x400000, 0x400100, nil, true, 2, 2},
		{"at zero", 0, clock, tod, nil, true, 2, 2},
		{"routines below the image", 0xffffffff80c00000, 0x8000, 0x9000, nil, true, 2, 2},
		// The parser's rules have teeth: each of these images is one the
		// runtime would not take its clocks from.
		{"no PT_DYNAMIC", 0x1000, clock, tod, func(img []byte) { img[vdsoPhOff+56] = 0 }, false, 0, 0},
		{"no DT_HASH", 0x1000, clock, tod, func(img []byte) { img[vdsoDynOff] = 3 /* DT_PLTGOT */ }, false, 0, 0},
		{"version hash wrong", 0x1000, clock, tod, func(img []byte) { img[vdsoVerdefOff+28+8] ^= 1 }, true, -1, 0},
		{"symbols of another version", 0x1000, clock, tod, func(img []byte) {
			img[vdsoVersymOff+2], img[vdsoVersymOff+4] = 1, 1
		}, true, 2, 0},
		{"symbol undefined", 0x1000, clock, tod, func(img []byte) { img[vdsoSymOff+24+6], img[vdsoSymOff+24+7] = 0, 0 }, true, 2, 1},
		{"symbol local", 0x1000, clock, tod, func(img []byte) { img[vdsoSymOff+48+4] = 2 }, true, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a [VDSOSize + 8]byte
			for i := range a {
				a[i] = 0xa5 // BuildVDSO writes every byte
			}
			img := (*[VDSOSize]byte)(a[:VDSOSize])
			BuildVDSO(img, tc.base, tc.clock, tc.tod)
			if tc.mutate != nil {
				tc.mutate(img[:])
			}
			syms, version, valid := runtimeVDSO(t, img[:], tc.base)
			if valid != tc.valid || version != tc.wantVersion || len(syms) != tc.wantSyms {
				t.Fatalf("runtime rules: valid %v, version %d, %d symbols %x; want %v, %d, %d",
					valid, version, len(syms), syms, tc.valid, tc.wantVersion, tc.wantSyms)
			}
			for name, want := range map[string]uint64{VDSOClockGettime: tc.clock, VDSOGettimeofday: tc.tod} {
				if got, ok := syms[name]; ok && got != want {
					t.Errorf("runtime rules: %s at %#x, want %#x", name, got, want)
				}
			}
			if tc.mutate == nil {
				checkDebugELF(t, img[:], tc.base, tc.clock, tc.tod)
			}
		})
	}
}

// checkDebugELF reads the image with debug/elf: a little-endian x86-64
// shared object whose one PT_LOAD maps it all at base, whose dynamic
// section points at its own tables, and whose dynamic symbols are the
// two routines, absolute, at LINUX_2.6.
func checkDebugELF(t *testing.T, img []byte, base, clock, tod uint64) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 {
		t.Errorf("header: %v %v %v %v", f.Class, f.Data, f.Type, f.Machine)
	}
	if len(f.Progs) != 2 {
		t.Fatalf("%d program headers, want 2", len(f.Progs))
	}
	if p := f.Progs[0]; p.Type != elf.PT_LOAD || p.Off != 0 || p.Vaddr != base || p.Filesz != uint64(VDSOSize) || p.Memsz != uint64(VDSOSize) {
		t.Errorf("PT_LOAD: %+v", p.ProgHeader)
	}
	ds := f.Section(".dynamic")
	if p := f.Progs[1]; ds == nil || p.Type != elf.PT_DYNAMIC || p.Off != ds.Offset || p.Vaddr != ds.Addr || p.Filesz != ds.Size {
		t.Errorf("PT_DYNAMIC: %+v, .dynamic %+v", p.ProgHeader, ds)
	}
	for tag, sec := range map[elf.DynTag]string{elf.DT_HASH: ".hash", elf.DT_STRTAB: ".dynstr", elf.DT_SYMTAB: ".dynsym",
		elf.DT_VERSYM: ".gnu.version", elf.DT_VERDEF: ".gnu.version_d"} {
		v, err := f.DynValue(tag)
		s := f.Section(sec)
		if err != nil || s == nil || len(v) != 1 || v[0] != s.Addr || s.Addr != base+s.Offset {
			t.Errorf("%v = %x (%v), section %s %+v", tag, v, err, sec, s)
		}
	}
	if so, err := f.DynString(elf.DT_SONAME); err != nil || len(so) != 1 || so[0] != vdsoSoname {
		t.Errorf("DT_SONAME %q (%v)", so, err)
	}
	vers, err := f.DynamicVersions()
	if err != nil || len(vers) != 2 || vers[0].Name != vdsoSoname || vers[0].Flags != elf.VER_FLG_BASE ||
		vers[1].Name != VDSOVersion || vers[1].Index != 2 {
		t.Errorf("versions %+v (%v)", vers, err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name  string
		value uint64
	}{{VDSOClockGettime, clock}, {VDSOGettimeofday, tod}}
	if len(syms) != len(want) {
		t.Fatalf("%d dynamic symbols, want %d: %+v", len(syms), len(want), syms)
	}
	for i, s := range syms {
		if s.Name != want[i].name || s.Value != want[i].value || s.Section != elf.SHN_ABS ||
			elf.ST_TYPE(s.Info) != elf.STT_FUNC || elf.ST_BIND(s.Info) != elf.STB_GLOBAL || s.Version != VDSOVersion {
			t.Errorf("symbol %d: %+v, want %s at %#x, version %s", i, s, want[i].name, want[i].value, VDSOVersion)
		}
	}
}
