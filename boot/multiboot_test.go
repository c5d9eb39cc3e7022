package boot

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// qemuMap is the e820 map QEMU 7.2's SeaBIOS gives a 128 MiB guest.
var qemuMap = []MemRegion{
	{0, 0x9fc00, E820RAM},
	{0x9fc00, 0x400, E820Reserved},
	{0xf0000, 0x10000, E820Reserved},
	{0x100000, 0x7ee0000, E820RAM},
	{0x7fe0000, 0x20000, E820Reserved},
	{0xfffc0000, 0x40000, E820Reserved},
}

var qemuMapLines = []string{
	" [0000000000000000, 000000000009fbff] (usable)",
	" [000000000009fc00, 000000000009ffff] (reserved)",
	" [00000000000f0000, 00000000000fffff] (reserved)",
	" [0000000000100000, 0000000007fdffff] (usable)",
	" [0000000007fe0000, 0000000007ffffff] (reserved)",
	" [00000000fffc0000, 00000000ffffffff] (reserved)",
}

func u32p(v uint32) *uint32 { return &v }

func manyRegions(n int) []MemRegion {
	r := make([]MemRegion, n)
	for i := range r {
		r[i] = MemRegion{Base: uint64(i) << 20, Length: 1 << 20, Type: uint32(1 + i%2)}
	}
	return r
}

func manyMods(n int) []modSpec {
	m := make([]modSpec, n)
	for i := range m {
		m[i] = modSpec{start: uint64(i) << 12, end: uint64(i+1) << 12}
	}
	return m
}

// check compares the interesting fields of an Info.
type want struct {
	protocol, loader, cmdline string
	lower, upper              uint32
	memmap                    []MemRegion
	source                    string
	mods                      []Module
	warnings                  []string
}

func checkInfo(t *testing.T, got *Info, w want) {
	t.Helper()
	if got.Protocol != w.protocol || got.Loader != w.loader || got.Cmdline != w.cmdline {
		t.Errorf("protocol/loader/cmdline = %q/%q/%q, want %q/%q/%q", got.Protocol, got.Loader, got.Cmdline, w.protocol, w.loader, w.cmdline)
	}
	if got.MemLowerKiB != w.lower || got.MemUpperKiB != w.upper {
		t.Errorf("mem lower/upper = %d/%d, want %d/%d", got.MemLowerKiB, got.MemUpperKiB, w.lower, w.upper)
	}
	if !reflect.DeepEqual(got.MemMap, w.memmap) {
		t.Errorf("MemMap = %+v\nwant %+v", got.MemMap, w.memmap)
	}
	if got.MemMapSource != w.source {
		t.Errorf("MemMapSource = %q, want %q", got.MemMapSource, w.source)
	}
	if !reflect.DeepEqual(got.Modules, w.mods) {
		t.Errorf("Modules = %+v\nwant %+v", got.Modules, w.mods)
	}
	if !reflect.DeepEqual(got.Warnings, w.warnings) {
		t.Errorf("Warnings = %q, want %q", got.Warnings, w.warnings)
	}
}

func TestParseMultiboot1(t *testing.T) {
	tests := []struct {
		name string
		spec mb1Spec
		want want
		err  error
	}{
		{"grub", mb1Spec{
			mem: true, memLower: 639, memUpper: 130048,
			cmdline: sp("dom0_mem=256M console=com1"), loader: sp("GRUB 2.06"),
			mods: []modSpec{
				{0x200000, 0xa00000, sp("/vmlinuz console=hvc0")},
				{0xa00000, 0xa00123, nil},
			},
			mmapFlag: true, mmap: qemuMap,
		}, want{
			protocol: "multiboot1", loader: "GRUB 2.06", cmdline: "dom0_mem=256M console=com1",
			lower: 639, upper: 130048, memmap: qemuMap, source: "Multiboot-e820",
			mods: []Module{{0x200000, 0xa00000, "/vmlinuz console=hvc0"}, {0xa00000, 0xa00123, ""}},
		}, nil},
		{"qemu minimal", mb1Spec{mem: true, memLower: 639, memUpper: 1024, cmdline: sp("/gohv")}, want{
			protocol: "multiboot1", loader: "unknown", cmdline: "/gohv", lower: 639, upper: 1024,
			memmap: []MemRegion{{0, 639 << 10, E820RAM}, {0x100000, 1024 << 10, E820RAM}}, source: "Multiboot-e801",
		}, nil},
		{"larger mmap entries", mb1Spec{mmapFlag: true, mmapEntrySize: 36, mmap: qemuMap}, want{
			protocol: "multiboot1", loader: "unknown", memmap: qemuMap, source: "Multiboot-e820",
		}, nil},
		{"mmap wins over mem", mb1Spec{mem: true, memLower: 1, memUpper: 2, mmapFlag: true, mmap: qemuMap[:1]}, want{
			protocol: "multiboot1", loader: "unknown", lower: 1, upper: 2, memmap: qemuMap[:1], source: "Multiboot-e820",
		}, nil},
		{"empty mmap", mb1Spec{mmapFlag: true}, want{
			protocol: "multiboot1", loader: "unknown", source: "Multiboot-e820",
		}, nil},
		{"buggy length high word", mb1Spec{mmapFlag: true, mmap: []MemRegion{
			{0x100000, 0x5_0010_0000, E820RAM}, {0x2_0000_0000, 0x1_0000_0000, E820RAM}, {0x200000, 0x1_0000_1000, E820Reserved},
		}}, want{
			protocol: "multiboot1", loader: "unknown", source: "Multiboot-e820",
			memmap:   []MemRegion{{0x100000, 0x10_0000, E820RAM}, {0x2_0000_0000, 0x1_0000_0000, E820RAM}, {0x200000, 0x1000, E820Reserved}},
			warnings: []string{buggyE820},
		}, nil},
		{"e820 max entries", mb1Spec{mmapFlag: true, mmap: manyRegions(E820Max)}, want{
			protocol: "multiboot1", loader: "unknown", source: "Multiboot-e820", memmap: manyRegions(E820Max),
		}, nil},
		{"e820 too many entries", mb1Spec{mmapFlag: true, mmap: manyRegions(E820Max + 1)}, want{
			protocol: "multiboot1", loader: "unknown", source: "Multiboot-e820", memmap: manyRegions(E820Max),
			warnings: []string{e820Truncated("Multiboot-e820 map")},
		}, nil},
		{"max modules", mb1Spec{mem: true, mods: manyMods(MaxModules)}, want{}, nil},
		{"too many modules", mb1Spec{mem: true, mods: manyMods(MaxModules + 1)}, want{}, nil},
		{"zero modules", mb1Spec{mem: true, mods: []modSpec{}}, want{
			protocol: "multiboot1", loader: "unknown", source: "Multiboot-e801",
			memmap: []MemRegion{{0, 0, E820RAM}, {0x100000, 0, E820RAM}},
		}, nil},
		{"longest cmdline", mb1Spec{mem: true, cmdline: sp(strings.Repeat("a", MaxString))}, want{}, nil},

		{"no memory info", mb1Spec{cmdline: sp("x")}, want{}, ErrNoMemoryInfo},
		{"cmdline too long", mb1Spec{mem: true, cmdline: sp(strings.Repeat("a", MaxString+1))}, want{}, ErrStringTooLong},
		{"module end below start", mb1Spec{mem: true, mods: []modSpec{{0x2000, 0x1000, nil}}}, want{}, ErrMalformed},
		{"module list unreadable", mb1Spec{mem: true, mods: manyMods(1), modsCount: u32p(0xffffffff)}, want{}, ErrUnreadable},
		{"mmap entry size 0", mb1Spec{mmapFlag: true, mmapEntrySize: 0xffffffff & 0, mmap: qemuMap[:1], mmapLenAdjust: 0}, want{
			protocol: "multiboot1", loader: "unknown", source: "Multiboot-e820", memmap: qemuMap[:1],
		}, nil},
		{"mmap entry size 19", mb1Spec{mmapFlag: true, mmapEntrySize: 19, mmap: qemuMap[:2], mmapLenAdjust: 8}, want{}, ErrMalformed},
		{"mmap length cuts entry", mb1Spec{mmapFlag: true, mmap: qemuMap[:2], mmapLenAdjust: -1}, want{}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, addr := buildMB1(tc.spec)
			got, err := ParseMultiboot1(m, addr)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch tc.name {
			case "max modules", "too many modules":
				if len(got.Modules) != MaxModules {
					t.Errorf("%d modules", len(got.Modules))
				}
				wantWarn := tc.name == "too many modules"
				if (len(got.Warnings) == 1 && got.Warnings[0] == excessiveModules(MaxModules)) != wantWarn {
					t.Errorf("warnings %q", got.Warnings)
				}
				return
			case "longest cmdline":
				if len(got.Cmdline) != MaxString {
					t.Errorf("cmdline length %d", len(got.Cmdline))
				}
				return
			}
			checkInfo(t, got, tc.want)
		})
	}
}

func TestParseMultiboot1Unreadable(t *testing.T) {
	m, addr := buildMB1(mb1Spec{mem: true})
	if _, err := ParseMultiboot1(m, addr+uint32(len(m.b))); !errors.Is(err, ErrUnreadable) {
		t.Errorf("info past memory: %v", err)
	}
	// A string running into unreadable memory with no NUL.
	m, addr = buildMB1(mb1Spec{mem: true, cmdline: sp("abc")})
	cl := uint32(m.place([]byte("xyz"), 1))
	m.put(uint64(addr)+16, lb{}.u32(cl))
	if _, err := ParseMultiboot1(m, addr); !errors.Is(err, ErrUnreadable) {
		t.Errorf("unterminated string: %v", err)
	}
	// A memory map running past the end of memory.
	m, addr = buildMB1(mb1Spec{mmapFlag: true, mmap: qemuMap[:2]})
	m.put(uint64(addr)+48, lb{}.u32(uint32(len(m.b)-10)))
	if _, err := ParseMultiboot1(m, addr); !errors.Is(err, ErrUnreadable) {
		t.Errorf("mmap past memory: %v", err)
	}
	// A string ending right below unreadable memory reads fine.
	m, addr = buildMB1(mb1Spec{mem: true, cmdline: sp("abc")})
	cl = uint32(m.place([]byte("tail\x00"), 1))
	m.put(uint64(addr)+16, lb{}.u32(cl))
	if got, err := ParseMultiboot1(m, addr); err != nil || got.Cmdline != "tail" {
		t.Errorf("string at end of memory: %v %q", err, got.Cmdline)
	}
}

// topMem is readable everywhere and holds 'a' bytes: a string read from it
// never finds its NUL.
type topMem struct{}

func (topMem) ReadPhys(addr uint64, p []byte) bool {
	if addr+uint64(len(p)) < addr && addr+uint64(len(p)) != 0 {
		panic("read wraps")
	}
	for i := range p {
		p[i] = 'a'
	}
	return true
}

func TestReadStringTop(t *testing.T) {
	if _, err := readString(topMem{}, ^uint64(0)-9, "s"); !errors.Is(err, ErrUnreadable) {
		t.Errorf("string at top of memory: %v", err)
	}
	if _, err := readString(topMem{}, 0, "s"); !errors.Is(err, ErrStringTooLong) {
		t.Errorf("endless string: %v", err)
	}
	if _, err := read(topMem{}, ^uint64(0)-3, 8, "x"); !errors.Is(err, ErrUnreadable) {
		t.Errorf("wrapping read: %v", err)
	}
}

func TestParseMultiboot2(t *testing.T) {
	full := []lb{
		mb2Str(mb2TagCmdline, "console=com1"),
		mb2Str(mb2TagLoaderName, "GRUB 2.06"),
		mb2Tag(21, lb{}.u32(0x100000)), // load base address: skipped
		mb2Module(0x200000, 0xa00000, "/vmlinuz root=/dev/sda"),
		mb2Module(0xa00000, 0xb00000, ""),
		mb2Meminfo(639, 130048),
		mb2Tag(5, lb{}.u32(0x80, 0, 0)), // bootdev, size 20: next tag realigns
		mb2Mmap(24, qemuMap),
		mb2End(),
	}
	tests := []struct {
		name        string
		tags        []lb
		totalAdjust int
		want        want
		err         error
	}{
		{"grub", full, 0, want{
			protocol: "multiboot2", loader: "GRUB 2.06", cmdline: "console=com1", lower: 639, upper: 130048,
			memmap: qemuMap, source: "Multiboot-e820",
			mods: []Module{{0x200000, 0xa00000, "/vmlinuz root=/dev/sda"}, {0xa00000, 0xb00000, ""}},
		}, nil},
		{"entry size 32", []lb{mb2Mmap(32, qemuMap), mb2End()}, 0, want{
			protocol: "multiboot2", loader: "unknown", memmap: qemuMap, source: "Multiboot-e820",
		}, nil},
		{"first mmap wins", []lb{mb2Mmap(24, qemuMap[:1]), mb2Mmap(24, qemuMap), mb2End()}, 0, want{
			protocol: "multiboot2", loader: "unknown", memmap: qemuMap[:1], source: "Multiboot-e820",
		}, nil},
		{"empty mmap", []lb{mb2Mmap(24, nil), mb2End()}, 0, want{
			protocol: "multiboot2", loader: "unknown", memmap: []MemRegion{}, source: "Multiboot-e820",
		}, nil},
		{"meminfo only", []lb{mb2Meminfo(640, 2048), mb2End()}, 0, want{
			protocol: "multiboot2", loader: "unknown", lower: 640, upper: 2048, source: "Multiboot-e801",
			memmap: []MemRegion{{0, 640 << 10, E820RAM}, {0x100000, 2048 << 10, E820RAM}},
		}, nil},
		{"data after end tag ignored", []lb{mb2Meminfo(1, 2), mb2End(), mb2Tag(1, []byte{'x'})}, 0, want{
			protocol: "multiboot2", loader: "unknown", lower: 1, upper: 2, source: "Multiboot-e801",
			memmap: []MemRegion{{0, 1 << 10, E820RAM}, {0x100000, 2 << 10, E820RAM}},
		}, nil},
		{"too many modules", append(func() []lb {
			var ts []lb
			for i := 0; i <= MaxModules; i++ {
				ts = append(ts, mb2Module(uint32(i)<<12, uint32(i+1)<<12, ""))
			}
			return ts
		}(), mb2Meminfo(1, 1), mb2End()), 0, want{}, nil},
		{"too many mmap entries", []lb{mb2Mmap(24, manyRegions(E820Max+1)), mb2End()}, 0, want{
			protocol: "multiboot2", loader: "unknown", memmap: manyRegions(E820Max), source: "Multiboot-e820",
			warnings: []string{e820Truncated("Multiboot-e820 map")},
		}, nil},

		{"no memory info", []lb{mb2Str(mb2TagCmdline, "x"), mb2End()}, 0, want{}, ErrNoMemoryInfo},
		{"no end tag", []lb{mb2Meminfo(1, 2)}, 0, want{}, ErrMalformed},
		{"total too small", nil, 0, want{}, ErrMalformed},
		{"total too large", []lb{mb2End()}, MaxMB2Size, want{}, ErrMalformed},
		{"tag past total", []lb{mb2Meminfo(1, 2), mb2End()}, -8, want{}, ErrMalformed},
		{"tag size below 8", []lb{lb{}.u32(mb2TagCmdline, 4), mb2End()}, 0, want{}, ErrMalformed},
		{"mmap entry size too small", []lb{mb2Mmap(16, qemuMap), mb2End()}, 0, want{}, ErrMalformed},
		{"mmap tag too short", []lb{mb2Tag(mb2TagMmap, lb{}.u32(24)), mb2End()}, 0, want{}, ErrMalformed},
		{"meminfo tag too short", []lb{mb2Tag(mb2TagBasicMeminfo, lb{}.u32(1)), mb2End()}, 0, want{}, ErrMalformed},
		{"module tag too short", []lb{mb2Tag(mb2TagModule, lb{}.u32(1)), mb2End()}, 0, want{}, ErrMalformed},
		{"module end below start", []lb{mb2Module(2, 1, ""), mb2End()}, 0, want{}, ErrMalformed},
		{"module string not terminated", []lb{mb2Tag(mb2TagModule, lb{}.u32(1, 2).pad(0)), mb2End()}, 0, want{}, ErrMalformed},
		{"cmdline not terminated", []lb{mb2Tag(mb2TagCmdline, []byte("abc")), mb2End()}, 0, want{}, ErrMalformed},
		{"cmdline too long", []lb{mb2Str(mb2TagCmdline, strings.Repeat("x", MaxString+1)), mb2End()}, 0, want{}, ErrStringTooLong},
		{"cmdline too long no NUL", []lb{mb2Tag(mb2TagCmdline, []byte(strings.Repeat("x", MaxString+8))), mb2End()}, 0, want{}, ErrStringTooLong},
		{"total past memory", []lb{mb2Meminfo(1, 2)}, 64, want{}, ErrUnreadable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, addr := buildMB2(tc.tags, tc.totalAdjust)
			if tc.name == "total too small" {
				m.put(uint64(addr), lb{}.u32(8))
			}
			got, err := ParseMultiboot2(m, addr)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "too many modules" {
				if len(got.Modules) != MaxModules || !reflect.DeepEqual(got.Warnings, []string{excessiveModules(MaxModules)}) {
					t.Errorf("%d modules, warnings %q", len(got.Modules), got.Warnings)
				}
				return
			}
			checkInfo(t, got, tc.want)
		})
	}
}

func TestParsePVH(t *testing.T) {
	ok := pvhSpec{
		magic: XenHVMStartMagicValue, version: 1, cmdline: sp("console=com1 loglvl=all"),
		mods:   []modSpec{{0x200000, 0xa00000, sp("root=/dev/vda")}, {0x1_0000_0000, 0x1_0000_1000, nil}},
		memmap: qemuMap, rsdp: 0xf5a40,
	}
	tests := []struct {
		name string
		spec pvhSpec
		want want
		err  error
	}{
		{"qemu", ok, want{
			protocol: "pvh", loader: "PVH Directboot", cmdline: "console=com1 loglvl=all",
			memmap: qemuMap, source: "PVH-e820",
			mods: []Module{{0x200000, 0xa00000, "root=/dev/vda"}, {0x1_0000_0000, 0x1_0000_1000, ""}},
		}, nil},
		{"version 2 read as 1", func() pvhSpec { s := ok; s.version = 2; s.mods = nil; s.cmdline = nil; return s }(), want{
			protocol: "pvh", loader: "PVH Directboot", memmap: qemuMap, source: "PVH-e820",
		}, nil},
		{"too many memmap entries", pvhSpec{magic: XenHVMStartMagicValue, version: 1, memmap: manyRegions(E820Max + 1)}, want{
			protocol: "pvh", loader: "PVH Directboot", memmap: manyRegions(E820Max), source: "PVH-e820",
			warnings: []string{e820Truncated("PVH-e820 map")},
		}, nil},
		{"too many modules", pvhSpec{magic: XenHVMStartMagicValue, version: 1, memmap: qemuMap, mods: manyMods(MaxModules + 1)}, want{}, nil},

		{"bad magic", pvhSpec{magic: 0x336ec577, version: 1, memmap: qemuMap}, want{}, ErrBadMagic},
		{"version 0 has no memmap", pvhSpec{magic: XenHVMStartMagicValue, version: 0}, want{}, ErrNoMemoryInfo},
		{"no memmap entries", pvhSpec{magic: XenHVMStartMagicValue, version: 1}, want{}, ErrNoMemoryInfo},
		{"modules without list", pvhSpec{magic: XenHVMStartMagicValue, version: 1, memmap: qemuMap, mods: manyMods(2), noModlist: true}, want{}, ErrMalformed},
		{"module wraps", pvhSpec{magic: XenHVMStartMagicValue, version: 1, memmap: qemuMap, mods: []modSpec{{0xffff_ffff_ffff_f000, 0x1000, nil}}}, want{}, ErrMalformed},
		{"memmap count past memory", pvhSpec{magic: XenHVMStartMagicValue, version: 1, memmap: qemuMap, memmapCount: u32p(0xffffffff)}, want{}, ErrUnreadable},
		{"nr_modules past memory", pvhSpec{magic: XenHVMStartMagicValue, version: 1, memmap: qemuMap, mods: manyMods(1), nrModules: u32p(3)}, want{}, ErrUnreadable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, addr := buildPVH(tc.spec)
			got, err := ParsePVH(m, addr)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "too many modules" {
				if len(got.Modules) != MaxModules || !reflect.DeepEqual(got.Warnings, []string{excessiveModules(MaxModules)}) {
					t.Errorf("%d modules, warnings %q", len(got.Modules), got.Warnings)
				}
				return
			}
			checkInfo(t, got, tc.want)
			if got.RSDP != tc.spec.rsdp || got.PVH == nil || got.PVH.Version != tc.spec.version {
				t.Errorf("RSDP %#x PVH %+v", got.RSDP, got.PVH)
			}
		})
	}
}

func TestLinesMultiboot1(t *testing.T) {
	m, addr := buildMB1(mb1Spec{
		loader: sp("GNU GRUB 0.97"), cmdline: sp("/boot/gohv.gz dom0_mem=256M console=com1 -- quiet"),
		mods:     []modSpec{{0x200000, 0xa00000, sp("/vmlinuz console=hvc0")}, {0xa00000, 0xa00001, nil}},
		mmapFlag: true,
		// Unsorted and with a buggy length: Lines prints the sanitized map.
		mmap: append(append([]MemRegion{qemuMap[3], {0x100000, 0x2_0000_1000, E820Reserved}}, qemuMap[:3]...), qemuMap[4:]...),
	})
	in, err := ParseMultiboot1(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Bootloader: GNU GRUB 0.97",
		"Command line: dom0_mem=256M console=com1",
		buggyE820,
		"Multiboot-e820 RAM map:",
		" [0000000000000000, 000000000009fbff] (usable)",
		" [000000000009fc00, 000000000009ffff] (reserved)",
		" [00000000000f0000, 0000000000100fff] (reserved)", // merged with the fixed-up entry
		" [0000000000101000, 0000000007fdffff] (usable)",
		" [0000000007fe0000, 0000000007ffffff] (reserved)",
		" [00000000fffc0000, 00000000ffffffff] (reserved)",
		"Module 0: 0x200000 - 0xa00000 (8192 KiB) /vmlinuz console=hvc0",
		"Module 1: 0xa00000 - 0xa00001 (1 KiB)",
	}
	if got := in.Lines(); !reflect.DeepEqual(got, want) {
		t.Errorf("Lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLinesPVH(t *testing.T) {
	m, addr := buildPVH(pvhSpec{
		magic: XenHVMStartMagicValue, version: 1, cmdline: sp("console=com1"),
		mods:   []modSpec{{0x200000, 0x200400, sp("root=/dev/vda")}, {0x300000, 0x300000, nil}},
		memmap: qemuMap, rsdp: 0xf5a40,
	})
	in, err := ParsePVH(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	p := in.PVH
	f := func(v uint64) string { return strings.Repeat("0", 16-len(hex(v))) + hex(v) }
	want := []string{
		"PVH start info: (pa " + strings.Repeat("0", 8-len(hex(uint64(addr)))) + hex(uint64(addr)) + ")",
		"  version:    1",
		"  flags:      0",
		"  nr_modules: 2",
		"  modlist_pa: " + f(p.ModlistPaddr),
		"  cmdline_pa: " + f(p.CmdlinePaddr),
		"  cmdline:    'console=com1'",
		"  rsdp_pa:    00000000000f5a40",
		"    mod[0].pa:         0000000000200000",
		"    mod[0].size:       0000000000001024",
		"    mod[0].cmdline_pa: " + f(p.ModCmdlinePaddr[0]),
		"    mod[0].cmdline:    'root=/dev/vda'",
		"    mod[1].pa:         0000000000300000",
		"    mod[1].size:       0000000000000000",
		"    mod[1].cmdline_pa: 0000000000000000",
		"Bootloader: PVH Directboot",
		"Command line: console=com1",
		"PVH-e820 RAM map:",
	}
	want = append(want, qemuMapLines...)
	want = append(want, "Module 0: 0x200000 - 0x200400 (1 KiB) root=/dev/vda", "Module 1: 0x300000 - 0x300000 (0 KiB)")
	if got := in.Lines(); !reflect.DeepEqual(got, want) {
		t.Errorf("Lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cHexAlt(0x10) != "0x10" {
		t.Error("cHexAlt")
	}
}

func hex(v uint64) string {
	const d = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	s := ""
	for ; v != 0; v >>= 4 {
		s = string(d[v&15]) + s
	}
	return s
}

func TestE820TypeName(t *testing.T) {
	for typ, want := range map[uint32]string{1: "(usable)", 2: "(reserved)", 3: "(ACPI data)", 4: "(ACPI NVS)", 5: "(unusable)", 7: "type 7", 0: "type 0"} {
		if got := E820TypeName(typ); got != want {
			t.Errorf("E820TypeName(%d) = %q, want %q", typ, got, want)
		}
	}
}

func TestSanitizeE820(t *testing.T) {
	const top = ^uint64(0)
	tests := []struct {
		name   string
		in     []MemRegion
		want   []MemRegion
		wantNl []string
	}{
		{"empty", nil, nil, nil},
		{"qemu already clean", qemuMap, qemuMap, qemuMapLines},
		{"unsorted", []MemRegion{qemuMap[3], qemuMap[0], qemuMap[5], qemuMap[1], qemuMap[4], qemuMap[2]}, qemuMap, nil},
		{"adjacent same type merged", []MemRegion{{0x100000, 0x100000, 1}, {0x200000, 0x100000, 1}}, []MemRegion{{0x100000, 0x200000, 1}}, nil},
		{"overlapping same type merged", []MemRegion{{0x100000, 0x180000, 1}, {0x200000, 0x100000, 1}}, []MemRegion{{0x100000, 0x200000, 1}}, nil},
		{"reserved wins over RAM", []MemRegion{{0x100000, 0x200000, 1}, {0x180000, 0x100000, 2}}, []MemRegion{
			{0x100000, 0x80000, 1}, {0x180000, 0x100000, 2}, {0x280000, 0x80000, 1}}, nil},
		{"larger type wins", []MemRegion{{0x100000, 0x1000, 3}, {0x100000, 0x2000, 4}, {0x100800, 0x100, 12}}, []MemRegion{
			{0x100000, 0x800, 4}, {0x100800, 0x100, 12}, {0x100900, 0x1700, 4}}, nil},
		{"contained ACPI", []MemRegion{{0x100000, 0x100000, 1}, {0x101000, 0x1000, 3}}, []MemRegion{
			{0x100000, 0x1000, 1}, {0x101000, 0x1000, 3}, {0x102000, 0xfe000, 1}}, nil},
		{"dropped entries", []MemRegion{{0x100000, 0, 1}, {0x200000, 0x1000, 0}, {top - 0xfff, 0x2000, 2}, {top - 0xfff, 0x1000, 2}, {0x300000, 0x1000, 1}},
			[]MemRegion{{0x300000, 0x1000, 1}}, nil},
		{"ends at last byte", []MemRegion{{top - 0x1fff, 0x1000, 2}}, []MemRegion{{top - 0x1fff, 0x1000, 2}}, nil},
		{"legacy hole cut", []MemRegion{{0, 0x800000, 1}}, []MemRegion{{0, 0xa0000, 1}, {0x100000, 0x700000, 1}}, nil},
		{"RAM only in hole", []MemRegion{{0xa0000, 0x60000, 1}, {0xc0000, 0x1000, 2}}, []MemRegion{{0xc0000, 0x1000, 2}}, nil},
		{"gap kept", []MemRegion{{0, 0x1000, 1}, {0x3000, 0x1000, 1}}, []MemRegion{{0, 0x1000, 1}, {0x3000, 0x1000, 1}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]MemRegion(nil), tc.in...)
			got := SanitizeE820(in)
			if len(got) != 0 || len(tc.want) != 0 {
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got  %+v\nwant %+v", got, tc.want)
				}
			}
			if !reflect.DeepEqual(in, tc.in) && tc.in != nil {
				t.Error("input modified")
			}
			if tc.wantNl != nil && !reflect.DeepEqual(E820Lines(got), tc.wantNl) {
				t.Errorf("lines %q", E820Lines(got))
			}
			checkSanitized(t, tc.in, got)
		})
	}
}

// checkSanitized asserts Sanitize's contract: sorted, non-overlapping, no
// two touching regions of one type, no empty or type-0 region, and at every
// boundary the type is the largest of the input regions covering it.
func checkSanitized(t *testing.T, in, out []MemRegion) {
	t.Helper()
	typeAt := func(a uint64) uint32 {
		var m uint32
		for _, r := range in {
			end := r.Base + r.Length
			if r.Length == 0 || end < r.Base || end == 0 {
				continue
			}
			if a >= r.Base && a < end && r.Type > m {
				m = r.Type
			}
		}
		if m == E820RAM && a >= 0xa0000 && a < 0x100000 {
			return 0
		}
		return m
	}
	outAt := func(a uint64) uint32 {
		for _, r := range out {
			if a >= r.Base && a-r.Base < r.Length {
				return r.Type
			}
		}
		return 0
	}
	for k, r := range out {
		if r.Length == 0 || r.Type == 0 || r.Base+r.Length < r.Base {
			t.Fatalf("bad region %+v", r)
		}
		if k > 0 {
			p := out[k-1]
			if p.Base+p.Length > r.Base {
				t.Fatalf("overlap/unsorted %+v %+v", p, r)
			}
			if p.Base+p.Length == r.Base && p.Type == r.Type {
				t.Fatalf("unmerged %+v %+v", p, r)
			}
		}
	}
	var probes []uint64
	for _, r := range append(append([]MemRegion(nil), in...), out...) {
		for _, a := range []uint64{r.Base, r.Base - 1, r.Base + r.Length, r.Base + r.Length - 1, r.Base + r.Length/2} {
			probes = append(probes, a)
		}
	}
	probes = append(probes, 0xa0000, 0x9ffff, 0x100000, 0xfffff)
	for _, a := range probes {
		if g, w := outAt(a), typeAt(a); g != w {
			t.Fatalf("type at %#x = %d, want %d (in %+v out %+v)", a, g, w, in, out)
		}
	}
}

// wrapMem repeats data over the whole address space, so every pointer the
// parser follows lands in fuzzer-controlled bytes.
type wrapMem struct {
	b     []byte
	reads int
}

func (m *wrapMem) ReadPhys(addr uint64, p []byte) bool {
	m.reads++
	if len(m.b) == 0 {
		return false
	}
	for i := range p {
		p[i] = m.b[(addr+uint64(i))%uint64(len(m.b))]
	}
	return true
}

// fuzzParse runs parse over data placed at physical address 0 and, for odd
// info, over data repeated everywhere, and checks the result.
func fuzzParse(t *testing.T, data []byte, info uint32, maxReads int, parse func(PhysReader, uint32) (*Info, error)) {
	if info&1 == 0 {
		m := &physMem{b: data}
		in, err := parse(m, info%fuzzInfoRange)
		checkParsed(t, in, err, m.reads, maxReads)
		return
	}
	m := &wrapMem{b: data}
	in, err := parse(m, info>>1)
	checkParsed(t, in, err, m.reads, maxReads)
}

// Seeds: the builders' images are laid out from address 0.
func seedImages() (mb1, mb2, pvh [][]byte, mb1a, mb2a, pvha []uint32) {
	m, a := buildMB1(mb1Spec{mem: true, cmdline: sp("/gohv x"), loader: sp("GRUB 2.06"),
		mods: []modSpec{{0x1000, 0x2000, sp("/vmlinuz")}}, mmapFlag: true, mmap: qemuMap})
	mb1, mb1a = append(mb1, m.b), append(mb1a, a)
	m, a = buildMB1(mb1Spec{mmapFlag: true, mmapEntrySize: 24, mmap: qemuMap[:2]})
	mb1, mb1a = append(mb1, m.b), append(mb1a, a)
	m, a = buildMB2([]lb{mb2Str(mb2TagCmdline, "a b"), mb2Str(mb2TagLoaderName, "GRUB 2.06"),
		mb2Module(0x1000, 0x2000, "m"), mb2Meminfo(639, 1024), mb2Mmap(24, qemuMap), mb2End()}, 0)
	mb2, mb2a = append(mb2, m.b), append(mb2a, a)
	m, a = buildPVH(pvhSpec{magic: XenHVMStartMagicValue, version: 1, cmdline: sp("c"),
		mods: []modSpec{{0x1000, 0x2000, sp("m")}}, memmap: qemuMap})
	pvh, pvha = append(pvh, m.b), append(pvha, a)
	return
}

// checkParsed asserts what every successful parse guarantees, and that a
// failure is one of the sentinels.
func checkParsed(t *testing.T, in *Info, err error, reads, maxReads int) {
	t.Helper()
	if reads > maxReads {
		t.Fatalf("%d reads, bound %d", reads, maxReads)
	}
	if err != nil {
		for _, s := range []error{ErrUnreadable, ErrMalformed, ErrBadMagic, ErrNoMemoryInfo, ErrStringTooLong} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if len(in.Modules) > MaxModules || len(in.MemMap) > E820Max {
		t.Fatalf("%d modules, %d regions", len(in.Modules), len(in.MemMap))
	}
	if len(in.Cmdline) > MaxString || len(in.Loader) > MaxString {
		t.Fatal("string over MaxString")
	}
	for _, m := range in.Modules {
		if m.End < m.Start || len(m.Cmdline) > MaxString {
			t.Fatalf("bad module %+v", m)
		}
	}
	if in.MemMapSource == "" {
		t.Fatal("no MemMapSource")
	}
	checkSanitized(t, in.MemMap, in.Sanitize())
	_ = in.Lines()
}

// Read bounds: header + strings (MaxString/64+2 chunks each) + module list
// and module strings + memory-map entries.
const (
	strReads      = MaxString/64 + 2 + 64
	maxReadsMB1   = 1 + 2*strReads + 1 + MaxModules*strReads + E820Max + 1
	maxReadsPVH   = 2 + strReads + MaxModules*(1+strReads) + E820Max
	maxReadsMB2   = 1 + MaxMB2Size/8*2 + E820Max + 1
	fuzzInfoRange = 1 << 12
)

func FuzzMultiboot1(f *testing.F) {
	imgs, _, _, addrs, _, _ := seedImages()
	for i := range imgs {
		f.Add(imgs[i], addrs[i])
		f.Add(imgs[i], addrs[i]<<1|1)
	}
	f.Fuzz(func(t *testing.T, data []byte, info uint32) {
		fuzzParse(t, data, info, maxReadsMB1, ParseMultiboot1)
	})
}

func FuzzMultiboot2(f *testing.F) {
	_, imgs, _, _, addrs, _ := seedImages()
	for i := range imgs {
		f.Add(imgs[i], addrs[i])
		f.Add(imgs[i], addrs[i]<<1|1)
	}
	f.Fuzz(func(t *testing.T, data []byte, info uint32) {
		fuzzParse(t, data, info, maxReadsMB2, ParseMultiboot2)
	})
}

func FuzzPVH(f *testing.F) {
	_, _, imgs, _, _, addrs := seedImages()
	for i := range imgs {
		f.Add(imgs[i], addrs[i])
		f.Add(imgs[i], addrs[i]<<1|1)
	}
	f.Fuzz(func(t *testing.T, data []byte, info uint32) {
		fuzzParse(t, data, info, maxReadsPVH, ParsePVH)
	})
}

func FuzzSanitizeE820(f *testing.F) {
	f.Add([]byte{0, 1, 10, 1, 5, 2, 10, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Each 4 bytes: base (scaled), length (scaled), type, flags choosing
		// addresses near the top of the address space.
		var in []MemRegion
		for i := 0; i+4 <= len(data) && len(in) < 64; i += 4 {
			r := MemRegion{Base: uint64(data[i]) << 16, Length: uint64(data[i+1]) << 15, Type: uint32(data[i+2] % 8)}
			if data[i+3]&1 != 0 {
				r.Base = ^uint64(0) - r.Base
			}
			in = append(in, r)
		}
		checkSanitized(t, in, SanitizeE820(in))
	})
}
