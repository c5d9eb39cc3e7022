package hw

import "encoding/binary"

// The image's ELF64 headers, as the linker wrote them and mkimage kept
// them in the page before the text: where each PT_LOAD segment goes and
// with which permissions.

const (
	ptLoad  = 1
	pfX     = 1
	pfW     = 2
	phSize  = 56 // Elf64_Phdr
	ehPhoff = 32 // Elf64_Ehdr.e_phoff
	ehPhnum = 56 // Elf64_Ehdr.e_phnum
)

// Segment is one PT_LOAD segment of the image: the page-aligned virtual
// range [Start, End) and the L1 flags its pages get.
type Segment struct {
	Start, End uint64
	Flags      uint64
}

// ImagePhnum returns the number of program headers of the ELF image whose
// file header starts img, 0 if they do not all lie in img.
//
//go:nosplit
func ImagePhnum(img []byte) int {
	if len(img) < 64 {
		return 0
	}
	off := binary.LittleEndian.Uint64(img[ehPhoff:])
	n := uint64(binary.LittleEndian.Uint16(img[ehPhnum:]))
	if off > uint64(len(img)) || n > (uint64(len(img))-off)/phSize {
		return 0
	}
	return int(n)
}

// ImageSegment decodes program header i (below ImagePhnum) of img. load
// is false for headers other than PT_LOAD. ok is false for a segment gohv
// cannot map: outside the image window, or writable and executable (the
// image is mapped W^X). nx is PTE_NX when the CPU has it.
//
//go:nosplit
func ImageSegment(img []byte, i int, nx uint64) (s Segment, load, ok bool) {
	ph := img[binary.LittleEndian.Uint64(img[ehPhoff:])+uint64(i)*phSize:]
	if binary.LittleEndian.Uint32(ph) != ptLoad {
		return s, false, true
	}
	flags := binary.LittleEndian.Uint32(ph[4:])
	va := binary.LittleEndian.Uint64(ph[16:])
	memsz := binary.LittleEndian.Uint64(ph[40:])
	end, fits := AlignUp(va+memsz, PageSize)
	if va+memsz < va || !fits || !InImage(va&^(PageSize-1), end-(va&^(PageSize-1))) {
		return s, true, false
	}
	if flags&pfW != 0 && flags&pfX != 0 {
		return s, true, false
	}
	s = Segment{Start: va &^ (PageSize - 1), End: end, Flags: PTE_P}
	if flags&pfW != 0 {
		s.Flags |= PTE_W
	}
	if flags&pfX == 0 {
		s.Flags |= nx
	}
	return s, true, true
}
