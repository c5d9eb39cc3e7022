package boot

import "encoding/binary"

// physMem is a fake physical memory: bytes [base, base+len(b)) are readable,
// everything else is not. It counts reads so tests can bound the work done.
type physMem struct {
	base  uint64
	b     []byte
	reads int
}

func (m *physMem) ReadPhys(addr uint64, p []byte) bool {
	m.reads++
	if addr < m.base {
		return false
	}
	off := addr - m.base
	if off > uint64(len(m.b)) || uint64(len(p)) > uint64(len(m.b))-off {
		return false
	}
	copy(p, m.b[off:])
	return true
}

// alloc reserves n bytes aligned to align (a power of two) at the top of
// memory and returns their address.
func (m *physMem) alloc(n, align int) uint64 {
	for (m.base+uint64(len(m.b)))%uint64(align) != 0 {
		m.b = append(m.b, 0)
	}
	a := m.base + uint64(len(m.b))
	m.b = append(m.b, make([]byte, n)...)
	return a
}

func (m *physMem) put(addr uint64, p []byte) { copy(m.b[addr-m.base:], p) }

// place copies p into fresh memory and returns its address.
func (m *physMem) place(p []byte, align int) uint64 {
	a := m.alloc(len(p), align)
	m.put(a, p)
	return a
}

// str places a NUL-terminated string.
func (m *physMem) str(s string) uint32 { return uint32(m.place(append([]byte(s), 0), 1)) }

// newMem starts a memory image at 0 with a first page of filler, so that no
// structure sits at address 0 (which means "none" in several fields).
func newMem() *physMem {
	m := &physMem{}
	m.alloc(0x100, 1)
	return m
}

// lb builds little-endian byte strings.
type lb []byte

func (b lb) u32(v ...uint32) lb {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	return b
}

func (b lb) u64(v ...uint64) lb {
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

func (b lb) pad(n int) lb { return append(b, make([]byte, n)...) }

// modSpec describes a module to lay out; a nil cmdline means "no string".
type modSpec struct {
	start, end uint64
	cmdline    *string
}

func sp(s string) *string { return &s }

// mb1Spec describes a multiboot1 information structure.
type mb1Spec struct {
	mem                bool
	memLower, memUpper uint32
	cmdline, loader    *string
	mods               []modSpec
	modsCount          *uint32 // overrides len(mods) in the header
	mmap               []MemRegion
	mmapFlag           bool
	mmapEntrySize      uint32 // the size field; 0 means 20
	mmapLenAdjust      int    // added to mmap_length
}

func buildMB1(s mb1Spec) (*physMem, uint32) {
	m := newMem()
	var flags, cmdline, loader, modsAddr, mmapAddr, mmapLen uint32
	if s.mem {
		flags |= mb1FlagMem
	}
	if s.cmdline != nil {
		flags |= mb1FlagCmdline
		cmdline = m.str(*s.cmdline)
	}
	if s.loader != nil {
		flags |= mb1FlagLoaderName
		loader = m.str(*s.loader)
	}
	modsCount := uint32(len(s.mods))
	if s.mods != nil || s.modsCount != nil {
		flags |= mb1FlagMods
		var list lb
		for _, md := range s.mods {
			var str uint32
			if md.cmdline != nil {
				str = m.str(*md.cmdline)
			}
			list = list.u32(uint32(md.start), uint32(md.end), str, 0)
		}
		modsAddr = uint32(m.place(list, 4))
		if s.modsCount != nil {
			modsCount = *s.modsCount
		}
	}
	if s.mmapFlag {
		flags |= mb1FlagMmap
		esz := s.mmapEntrySize
		if esz == 0 {
			esz = 20
		}
		var mm lb
		for _, r := range s.mmap {
			e := lb{}.u32(esz).u64(r.Base, r.Length).u32(r.Type)
			if want := 4 + int(esz); len(e) < want {
				e = e.pad(want - len(e))
			} else {
				e = e[:want]
			}
			mm = append(mm, e...)
		}
		mmapLen = uint32(len(mm) + s.mmapLenAdjust)
		mmapAddr = uint32(m.place(mm, 4))
	}
	info := lb{}.u32(flags, s.memLower, s.memUpper, 0, cmdline, modsCount, modsAddr).
		pad(16).u32(mmapLen, mmapAddr).pad(12).u32(loader).pad(20)
	return m, uint32(m.place(info, 8))
}

// mb2 tag builders.
func mb2Tag(typ uint32, payload []byte) lb {
	return append(lb{}.u32(typ, uint32(8+len(payload))), payload...)
}
func mb2Str(typ uint32, s string) lb { return mb2Tag(typ, append([]byte(s), 0)) }
func mb2Module(start, end uint32, s string) lb {
	return mb2Tag(mb2TagModule, append(lb{}.u32(start, end), append([]byte(s), 0)...))
}
func mb2Meminfo(lower, upper uint32) lb { return mb2Tag(mb2TagBasicMeminfo, lb{}.u32(lower, upper)) }
func mb2Mmap(entrySize uint32, regions []MemRegion) lb {
	p := lb{}.u32(entrySize, 0)
	for _, r := range regions {
		e := lb{}.u64(r.Base, r.Length).u32(r.Type, 0)
		if int(entrySize) > len(e) {
			e = e.pad(int(entrySize) - len(e))
		} else {
			e = e[:entrySize]
		}
		p = append(p, e...)
	}
	return mb2Tag(mb2TagMmap, p)
}
func mb2End() lb { return lb{}.u32(mb2TagEnd, 8) }

// buildMB2 lays tags out 8-byte aligned after the fixed part; totalAdjust is
// added to total_size.
func buildMB2(tags []lb, totalAdjust int) (*physMem, uint32) {
	body := lb{}.pad(8)
	for _, t := range tags {
		body = append(body, t...)
		for len(body)%8 != 0 {
			body = append(body, 0)
		}
	}
	binary.LittleEndian.PutUint32(body[0:], uint32(len(body)+totalAdjust))
	m := newMem()
	return m, uint32(m.place(body, 8))
}

// pvhSpec describes an hvm_start_info.
type pvhSpec struct {
	magic, version, flags uint32
	cmdline               *string
	mods                  []modSpec // end-start is the size
	nrModules             *uint32
	noModlist             bool
	memmap                []MemRegion
	memmapCount           *uint32
	rsdp                  uint64
}

func buildPVH(s pvhSpec) (*physMem, uint32) {
	m := newMem()
	var cmdline, modlist, memmap uint64
	if s.cmdline != nil {
		cmdline = uint64(m.str(*s.cmdline))
	}
	var list lb
	for _, md := range s.mods {
		var str uint64
		if md.cmdline != nil {
			str = uint64(m.str(*md.cmdline))
		}
		list = list.u64(md.start, md.end-md.start, str, 0)
	}
	if len(list) > 0 && !s.noModlist {
		modlist = m.place(list, 8)
	}
	var mm lb
	for _, r := range s.memmap {
		mm = mm.u64(r.Base, r.Length).u32(r.Type, 0)
	}
	if len(mm) > 0 {
		memmap = m.place(mm, 8)
	}
	nr := uint32(len(s.mods))
	if s.nrModules != nil {
		nr = *s.nrModules
	}
	cnt := uint32(len(s.memmap))
	if s.memmapCount != nil {
		cnt = *s.memmapCount
	}
	info := lb{}.u32(s.magic, s.version, s.flags, nr).u64(modlist, cmdline, s.rsdp)
	if s.version >= 1 {
		info = info.u64(memmap).u32(cnt, 0)
	}
	return m, uint32(m.place(info, 8))
}
