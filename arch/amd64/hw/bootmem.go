package hw

import "encoding/binary"

// Boot protocols: the magic entry32 finds in EAX (multiboot) or at the
// start of the information structure (PVH's hvm_start_info).
const (
	MB1Magic = 0x2BADB002
	MB2Magic = 0x36D76289
	PVHMagic = 0x336EC578
)

const mib = 1 << 20

// Mem is physical memory from address 0, as a byte slice (rt makes it over
// the direct map). Reads beyond it give zeros.
type Mem []byte

// U32 returns the little-endian word at physical address a, or 0.
//
//go:nosplit
func (m Mem) U32(a uint64) uint32 {
	if a > uint64(len(m)) || uint64(len(m))-a < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(m[a:])
}

// U64 returns the little-endian double word at physical address a, or 0.
//
//go:nosplit
func (m Mem) U64(a uint64) uint64 {
	if a > uint64(len(m)) || uint64(len(m))-a < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(m[a:])
}

// Range is a physical address range [Start, End).
type Range struct{ Start, End uint64 }

// MaxExcluded bounds the ranges BootMemory tracks.
const MaxExcluded = 40

// BootMemory is what kmain learns from the boot loader before the runtime
// exists: where RAM above 1 MiB ends and which ranges must stay out of
// the hypervisor heap (the image, the boot information, the modules).
// Owner: kmain; read-only once the runtime runs.
type BootMemory struct {
	Excluded  [MaxExcluded]Range // page-aligned
	N         int                // ranges in Excluded
	RAMTop    uint64             // end of the RAM run that starts at 1 MiB, below 4 GiB
	MaxModule uint64             // size of the largest boot module
	Err       string             // why the information cannot be used, or ""
}

// Exclude keeps [start, end), rounded out to pages, out of the heap. Too
// many ranges is an error: a dropped one could put the heap over a module.
//
//go:nosplit
func (b *BootMemory) Exclude(start, end uint64) {
	if end <= start {
		return
	}
	if b.N == len(b.Excluded) {
		b.Err = "too many boot modules and structures to track"
		return
	}
	e, ok := AlignUp(end, PageSize)
	if !ok {
		e = ^uint64(PageSize - 1)
	}
	b.Excluded[b.N] = Range{start &^ (PageSize - 1), e}
	b.N++
}

// Module excludes a boot module's range and notes its size.
//
//go:nosplit
func (b *BootMemory) Module(start, end uint64) {
	b.Exclude(start, end)
	if end > start && end-start > b.MaxModule {
		b.MaxModule = end - start
	}
}

// Scan reads the boot information at physical address info for protocol
// magic (EAX at entry; a PVH entry passes its own magic-less value) and
// notes RAM and the ranges the loader filled; image is the range the gohv
// image occupies. Only what kmain needs: package boot parses the rest
// later, in Go. The Multiboot Specification 0.6.96 and 2.0 and Xen's
// public arch-x86/hvm/start_info.h give the layouts.
//
//go:nosplit
func (b *BootMemory) Scan(m Mem, magic uint32, info uint64, image Range) {
	b.Exclude(0, mib)
	b.Exclude(image.Start, image.End)
	switch magic {
	case MB1Magic:
		b.scanMB1(m, info)
	case MB2Magic:
		b.scanMB2(m, info)
	default:
		if m.U32(info) != PVHMagic {
			b.Err = "unknown boot protocol (not multiboot1, multiboot2 or PVH)"
			return
		}
		b.scanPVH(m, info)
	}
	if b.RAMTop > 4<<30 {
		b.RAMTop = 4 << 30
	}
	if b.Err == "" && b.RAMTop < 64*mib {
		b.Err = "less than 64 MiB of RAM, or no memory size from the boot loader"
	}
}

// scanMB1 reads a multiboot_info: flags bit 0 mem_upper, 2 cmdline,
// 3 modules, 6 mmap, 9 boot loader name.
//
//go:nosplit
func (b *BootMemory) scanMB1(m Mem, info uint64) {
	b.Exclude(info, info+128)
	flags := m.U32(info)
	if flags&1 != 0 {
		b.RAMTop = mib + uint64(m.U32(info+8))<<10
	}
	if flags&4 != 0 {
		c := uint64(m.U32(info + 16))
		b.Exclude(c, c+PageSize)
	}
	if flags&8 != 0 {
		n, mods := uint64(m.U32(info+20)), uint64(m.U32(info+24))
		b.Exclude(mods, mods+16*min(n, 1<<16))
		for i := uint64(0); i < n && i < 16; i++ {
			e := mods + 16*i
			b.Module(uint64(m.U32(e)), uint64(m.U32(e+4)))
			c := uint64(m.U32(e + 8))
			b.Exclude(c, c+PageSize)
		}
	}
	if flags&64 != 0 {
		a := uint64(m.U32(info + 48))
		b.Exclude(a, a+uint64(m.U32(info+44)))
	}
	if flags&512 != 0 {
		a := uint64(m.U32(info + 64))
		b.Exclude(a, a+PageSize)
	}
}

// scanMB2 walks multiboot2 tags: 3 module, 4 basic memory information.
//
//go:nosplit
func (b *BootMemory) scanMB2(m Mem, info uint64) {
	total := uint64(m.U32(info))
	if total < 16 || total > 1<<20 {
		b.Err = "multiboot2 information is malformed"
		return
	}
	b.Exclude(info, info+total)
	for off := uint64(8); off+8 <= total; {
		t, size := m.U32(info+off), uint64(m.U32(info+off+4))
		if t == 0 || size < 8 {
			break
		}
		switch t {
		case 3:
			b.Module(uint64(m.U32(info+off+8)), uint64(m.U32(info+off+12)))
		case 4:
			b.RAMTop = mib + uint64(m.U32(info+off+12))<<10
		}
		off += (size + 7) &^ 7
	}
}

// scanPVH reads an hvm_start_info: modules (32-byte entries), the command
// line, and from version 1 the memory map (24-byte entries, type 1 RAM).
//
//go:nosplit
func (b *BootMemory) scanPVH(m Mem, info uint64) {
	b.Exclude(info, info+56)
	n, mods := uint64(m.U32(info+12)), m.U64(info+16)
	b.Exclude(mods, mods+32*min(n, 1<<16))
	for i := uint64(0); i < n && i < 16; i++ {
		e := mods + 32*i
		start, size := m.U64(e), m.U64(e+8)
		b.Module(start, start+size)
		c := m.U64(e + 16)
		b.Exclude(c, c+PageSize)
	}
	c := m.U64(info + 24)
	b.Exclude(c, c+PageSize)
	if m.U32(info+4) >= 1 {
		mm, cnt := m.U64(info+40), uint64(m.U32(info+48))
		b.Exclude(mm, mm+24*min(cnt, 1<<16))
		for i := uint64(0); i < cnt && i < 128; i++ {
			e := mm + 24*i
			base, size, typ := m.U64(e), m.U64(e+8), m.U32(e+16)
			if typ == 1 && base <= mib && base+size > mib {
				b.RAMTop = base + size
			}
		}
	}
}

// ChooseHeap places the hypervisor heap, the frames behind the Go
// runtime's memory, at the highest 2 MiB-aligned range of the low RAM run
// that no excluded range touches. Its size is a sixteenth of that RAM,
// between 32 and 256 MiB: room for the frame table (12 bytes a frame) if
// no run outside it takes it, and the dom0 build, whose kernel is decoded
// in dom0's own frames. gohv gives
// what it did not use back to the domain allocator once dom0 is built
// (rt.TrimHeap). ok is false if there is no such range. Call it after a
// Scan that left Err empty.
//
//go:nosplit
func (b *BootMemory) ChooseHeap() (h Range, ok bool) {
	if b.RAMTop < 2*mib {
		return h, false
	}
	ram := b.RAMTop - mib
	size := min(max(ram/16, 32*mib), 256*mib)
	size = (size + 2*mib - 1) &^ (2*mib - 1)
	top := b.RAMTop &^ (2*mib - 1)
	for iter := 0; iter <= b.N; iter++ {
		if top < size+mib {
			break
		}
		start := top - size
		moved := false
		for i := 0; i < b.N; i++ {
			if r := b.Excluded[i]; r.Start < top && r.End > start {
				top = r.Start &^ (2*mib - 1)
				moved = true
			}
		}
		if !moved {
			return Range{start, top}, true
		}
	}
	return h, false
}
