package linux

// The vDSO: the ELF image whose address the auxiliary vector's
// AT_SYSINFO_EHDR gives a new process, from which the Go runtime
// (runtime/vdso_linux.go) takes __vdso_clock_gettime and
// __vdso_gettimeofday, version LINUX_2.6, so that reading a clock is a
// function call rather than a system call. rt builds the image at boot
// with BuildVDSO; the routines it names are rt's (vdso_amd64.s).
//
// The image is a shared object (ET_DYN) with no code of its own. It is
// linked at the address it lies at: its one PT_LOAD segment has p_offset
// 0 and p_vaddr base, so a reader's load bias (load address + p_offset -
// p_vaddr) is 0, every address in its dynamic section and symbols is
// absolute, and its symbols are absolute (SHN_ABS) with the routines'
// addresses as values. Its parts, in file order: the ELF and program
// headers, a SysV hash table with one bucket, the symbol table (the null
// symbol, then the routines), the version table (.gnu.version: every
// routine at LINUX_2.6), the version definitions (.gnu.version_d: the
// object itself, then LINUX_2.6), the string table, the dynamic section,
// the section names and the section headers (for tools such as
// debug/elf; the runtime reads only the program headers and the dynamic
// section). Field layouts are the ELF-64 gABI's and the GNU symbol
// versioning's (include/uapi/linux/elf.h; glibc's elf.h).

// VDSOSize is the vDSO image's length in bytes; its buffer must be 8-byte
// aligned.
const VDSOSize = vdsoShdrOff + vdsoShnum*64

// ATSysinfoEhdr is the auxiliary vector's tag for the vDSO's address.
const ATSysinfoEhdr = 33

// VDSOVersion is the version the runtime asks its clock routines for.
const VDSOVersion = "LINUX_2.6"

// The symbols, in symbol-table order (index 1 on; 0 is the null symbol).
const (
	VDSOClockGettime = "__vdso_clock_gettime"
	VDSOGettimeofday = "__vdso_gettimeofday"
)

const vdsoSoname = "linux-vdso.so.1"

// The string table: "", the soname, the version, the symbols.
const (
	vdsoStrSoname  = 1
	vdsoStrVersion = vdsoStrSoname + len(vdsoSoname) + 1
	vdsoStrClock   = vdsoStrVersion + len(VDSOVersion) + 1
	vdsoStrTOD     = vdsoStrClock + len(VDSOClockGettime) + 1
	vdsoStrSize    = vdsoStrTOD + len(VDSOGettimeofday) + 1
	vdsoStrtab     = "\x00" + vdsoSoname + "\x00" + VDSOVersion + "\x00" + VDSOClockGettime + "\x00" + VDSOGettimeofday + "\x00"
)

// The section names, and each one's offset in them.
const (
	vdsoShstrtab = "\x00.hash\x00.dynsym\x00.gnu.version\x00.gnu.version_d\x00.dynstr\x00.dynamic\x00.shstrtab\x00"
	vdsoNmHash   = 1
	vdsoNmDynsym = vdsoNmHash + len(".hash") + 1
	vdsoNmVersym = vdsoNmDynsym + len(".dynsym") + 1
	vdsoNmVerdef = vdsoNmVersym + len(".gnu.version") + 1
	vdsoNmDynstr = vdsoNmVerdef + len(".gnu.version_d") + 1
	vdsoNmDyn    = vdsoNmDynstr + len(".dynstr") + 1
	vdsoNmShstr  = vdsoNmDyn + len(".dynamic") + 1
)

// ELF constants the image uses.
const (
	elfPTLoad    = 1
	elfPTDynamic = 2
	elfPFR       = 4

	elfDTNull       = 0
	elfDTHash       = 4
	elfDTStrtab     = 5
	elfDTSymtab     = 6
	elfDTStrsz      = 10
	elfDTSyment     = 11
	elfDTSoname     = 14
	elfDTVersym     = 0x6ffffff0
	elfDTVerdef     = 0x6ffffffc
	elfDTVerdefnum  = 0x6ffffffd
	elfSHTStrtab    = 3
	elfSHTHash      = 5
	elfSHTDynamic   = 6
	elfSHTDynsym    = 11
	elfSHTGNUVerdef = 0x6ffffffd
	elfSHTGNUVersym = 0x6fffffff
	elfSHFWrite     = 1
	elfSHFAlloc     = 2
	elfSHNAbs       = 0xfff1
	elfVerFlgBase   = 1
)

// The image's layout: offsets from its start.
const (
	vdsoNSyms   = 3 // null, __vdso_clock_gettime, __vdso_gettimeofday
	vdsoNVerdef = 2 // the object (index 1), LINUX_2.6 (index 2)
	vdsoNDyn    = 10
	vdsoShnum   = 8 // null, .hash, .dynsym, .gnu.version, .gnu.version_d, .dynstr, .dynamic, .shstrtab

	vdsoPhOff     = 64
	vdsoHashOff   = vdsoPhOff + 2*56
	vdsoHashSize  = (2 + 1 + vdsoNSyms) * 4
	vdsoSymOff    = (vdsoHashOff + vdsoHashSize + 7) &^ 7
	vdsoVersymOff = vdsoSymOff + vdsoNSyms*24
	vdsoVerdefOff = (vdsoVersymOff + vdsoNSyms*2 + 3) &^ 3
	vdsoVerdefLen = vdsoNVerdef * (20 + 8)
	vdsoStrOff    = vdsoVerdefOff + vdsoVerdefLen
	vdsoDynOff    = (vdsoStrOff + vdsoStrSize + 7) &^ 7
	vdsoShstrOff  = vdsoDynOff + vdsoNDyn*16
	vdsoShdrOff   = (vdsoShstrOff + len(vdsoShstrtab) + 7) &^ 7
	vdsoLoadSize  = VDSOSize // PT_LOAD covers the whole image
)

//go:nosplit
func put16(b *[VDSOSize]byte, off int, v uint16) {
	b[off], b[off+1] = byte(v), byte(v>>8)
}

//go:nosplit
func put32(b *[VDSOSize]byte, off int, v uint32) {
	put16(b, off, uint16(v))
	put16(b, off+2, uint16(v>>16))
}

//go:nosplit
func put64(b *[VDSOSize]byte, off int, v uint64) {
	put32(b, off, uint32(v))
	put32(b, off+4, uint32(v>>32))
}

// ELFHash is the SysV ELF hash of name (the gABI's hash function, which
// DT_HASH buckets and version definitions' vd_hash use).
//
//go:nosplit
func ELFHash(name string) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h<<4 + uint32(name[i])
		g := h & 0xf0000000
		h ^= g >> 24
		h &^= g
	}
	return h
}

// BuildVDSO writes into img the vDSO image for an img at address base
// whose __vdso_clock_gettime is at clockGettime and __vdso_gettimeofday at
// gettimeofday. Every byte of img is written. Context: kmain, before the
// runtime starts (nosplit, no allocation).
//
//go:nosplit
func BuildVDSO(img *[VDSOSize]byte, base, clockGettime, gettimeofday uint64) {
	for i := range img {
		img[i] = 0
	}
	// ELF header.
	img[0], img[1], img[2], img[3] = 0x7f, 'E', 'L', 'F'
	img[4], img[5], img[6] = 2, 1, 1 // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	put16(img, 16, 3)                // ET_DYN
	put16(img, 18, 62)               // EM_X86_64
	put32(img, 20, 1)                // EV_CURRENT
	put64(img, 32, vdsoPhOff)
	put64(img, 40, uint64(vdsoShdrOff))
	put16(img, 52, 64) // e_ehsize
	put16(img, 54, 56) // e_phentsize
	put16(img, 56, 2)  // e_phnum
	put16(img, 58, 64) // e_shentsize
	put16(img, 60, vdsoShnum)
	put16(img, 62, vdsoShnum-1) // e_shstrndx: .shstrtab, the last

	// Program headers: the image, then its dynamic section.
	phdr(img, vdsoPhOff, elfPTLoad, 0, base, uint64(vdsoLoadSize), 8)
	phdr(img, vdsoPhOff+56, elfPTDynamic, uint64(vdsoDynOff), base+uint64(vdsoDynOff), vdsoNDyn*16, 8)

	// Hash: one bucket holding the chain 1, 2.
	put32(img, vdsoHashOff, 1)           // nbucket
	put32(img, vdsoHashOff+4, vdsoNSyms) // nchain
	put32(img, vdsoHashOff+8, 1)         // bucket[0]
	put32(img, vdsoHashOff+12, 0)        // chain[0]
	put32(img, vdsoHashOff+16, 2)        // chain[1]
	put32(img, vdsoHashOff+20, 0)        // chain[2]: end

	// Symbols: global functions, absolute, at version index 2.
	sym(img, vdsoSymOff+24, vdsoStrClock, clockGettime)
	sym(img, vdsoSymOff+48, vdsoStrTOD, gettimeofday)
	put16(img, vdsoVersymOff+2, 2)
	put16(img, vdsoVersymOff+4, 2)

	// Version definitions: the object itself (VER_FLG_BASE, named by its
	// soname), then LINUX_2.6.
	verdef(img, vdsoVerdefOff, elfVerFlgBase, 1, ELFHash(vdsoSoname), vdsoStrSoname, 28)
	verdef(img, vdsoVerdefOff+28, 0, 2, ELFHash(VDSOVersion), vdsoStrVersion, 0)

	for i := 0; i < len(vdsoStrtab); i++ {
		img[vdsoStrOff+i] = vdsoStrtab[i]
	}

	// The dynamic section (as calls, not a table: the frame stays small
	// for kmain's nosplit chain).
	dyn(img, 0, elfDTHash, base+uint64(vdsoHashOff))
	dyn(img, 1, elfDTStrtab, base+uint64(vdsoStrOff))
	dyn(img, 2, elfDTSymtab, base+uint64(vdsoSymOff))
	dyn(img, 3, elfDTStrsz, uint64(vdsoStrSize))
	dyn(img, 4, elfDTSyment, 24)
	dyn(img, 5, elfDTSoname, vdsoStrSoname)
	dyn(img, 6, elfDTVersym, base+uint64(vdsoVersymOff))
	dyn(img, 7, elfDTVerdef, base+uint64(vdsoVerdefOff))
	dyn(img, 8, elfDTVerdefnum, vdsoNVerdef)
	dyn(img, 9, elfDTNull, 0)

	for i := 0; i < len(vdsoShstrtab); i++ {
		img[vdsoShstrOff+i] = vdsoShstrtab[i]
	}

	// Section headers (index 0 is the null section).
	const dynsym, dynstr = 2, 5
	shdr(img, 1, vdsoNmHash, elfSHTHash, elfSHFAlloc, base, vdsoHashOff, vdsoHashSize, dynsym, 0, 4, 4)
	shdr(img, 2, vdsoNmDynsym, elfSHTDynsym, elfSHFAlloc, base, vdsoSymOff, vdsoNSyms*24, dynstr, 1, 8, 24)
	shdr(img, 3, vdsoNmVersym, elfSHTGNUVersym, elfSHFAlloc, base, vdsoVersymOff, vdsoNSyms*2, dynsym, 0, 2, 2)
	shdr(img, 4, vdsoNmVerdef, elfSHTGNUVerdef, elfSHFAlloc, base, vdsoVerdefOff, vdsoVerdefLen, dynstr, vdsoNVerdef, 4, 0)
	shdr(img, 5, vdsoNmDynstr, elfSHTStrtab, elfSHFAlloc, base, vdsoStrOff, uint64(vdsoStrSize), 0, 0, 1, 0)
	shdr(img, 6, vdsoNmDyn, elfSHTDynamic, elfSHFAlloc|elfSHFWrite, base, vdsoDynOff, vdsoNDyn*16, dynstr, 0, 8, 16)
	shdr(img, 7, vdsoNmShstr, elfSHTStrtab, 0, 0, vdsoShstrOff, uint64(len(vdsoShstrtab)), 0, 0, 1, 0)
}

// dyn writes entry i of the dynamic section.
//
//go:nosplit
func dyn(img *[VDSOSize]byte, i int, tag, val uint64) {
	put64(img, vdsoDynOff+16*i, tag)
	put64(img, vdsoDynOff+16*i+8, val)
}

// phdr writes a read-only program header at off.
//
//go:nosplit
func phdr(img *[VDSOSize]byte, off int, typ uint32, offset, vaddr, size, align uint64) {
	put32(img, off, typ)
	put32(img, off+4, elfPFR)
	put64(img, off+8, offset)
	put64(img, off+16, vaddr) // p_vaddr
	put64(img, off+24, vaddr) // p_paddr
	put64(img, off+32, size)  // p_filesz
	put64(img, off+40, size)  // p_memsz
	put64(img, off+48, align)
}

// sym writes a global, absolute function symbol at off, of no stated
// size (the routine is not in the image).
//
//go:nosplit
func sym(img *[VDSOSize]byte, off, name int, value uint64) {
	put32(img, off, uint32(name))
	img[off+4] = 1<<4 | 2 // STB_GLOBAL, STT_FUNC
	put16(img, off+6, elfSHNAbs)
	put64(img, off+8, value)
}

// verdef writes a version definition with its one name (Elf64_Verdaux
// right after it) at off; next is the offset to the next definition, 0
// for the last.
//
//go:nosplit
func verdef(img *[VDSOSize]byte, off int, flags, ndx uint16, hash uint32, name int, next uint32) {
	put16(img, off, 1) // VER_DEF_CURRENT
	put16(img, off+2, flags)
	put16(img, off+4, ndx)
	put16(img, off+6, 1) // vd_cnt
	put32(img, off+8, hash)
	put32(img, off+12, 20) // vd_aux
	put32(img, off+16, next)
	put32(img, off+20, uint32(name)) // vda_name
	put32(img, off+24, 0)            // vda_next
}

// shdr writes section header i; an allocated section's address is base
// plus its offset.
//
//go:nosplit
func shdr(img *[VDSOSize]byte, i, name int, typ uint32, flags, base uint64, off int, size uint64, link, info uint32, align, entsize uint64) {
	o := vdsoShdrOff + i*64
	put32(img, o, uint32(name))
	put32(img, o+4, typ)
	put64(img, o+8, flags)
	if flags&elfSHFAlloc != 0 {
		put64(img, o+16, base+uint64(off))
	}
	put64(img, o+24, uint64(off))
	put64(img, o+32, size)
	put32(img, o+40, link)
	put32(img, o+44, info)
	put64(img, o+48, align)
	put64(img, o+56, entsize)
}
