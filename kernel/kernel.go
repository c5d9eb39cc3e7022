package kernel

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"

	"github.com/gohv/gohv/abi"
)

// Kernel intake: the first step of building a PV domain, before any memory is
// allocated. Parse turns a kernel image (dom0's boot module, or a domU's
// kernel) that is an ELF vmlinux, or a bzImage whose payload is an ELF, XZ,
// gzip or bzip2, into the ELF bytes, the loadable segments and the Xen view
// of the image (DomParms), with Xen 4.17 libelf's checks
// (common/libelf/libelf-dominfo.c) applied.

// Limits on what Parse accepts. They bound memory on untrusted input.
const (
	// MaxSize bounds the decompressed ELF image in bytes. Debian's
	// Linux 6.1 vmlinux is about 63 MiB.
	MaxSize = 256 << 20
	// MaxSpan bounds the kernel's memory image [PStart, PEnd) in bytes
	// (Debian's Linux 6.1 spans 58 MiB including its bss).
	MaxSpan = 1 << 30
	// MaxNotes bounds the ELF notes examined in one image, Xen notes or not.
	MaxNotes = 65536
)

// The sentinels every Parse and CheckDom0 error wraps. Each error is one
// sentence suitable for a "(XEN) " console line: the sentinel says what is
// wrong, the wrapped detail says where and with which values.
var (
	ErrFormat         = errors.New("the kernel image is neither an ELF file nor a bzImage")
	ErrBzImage        = errors.New("the kernel's bzImage header is invalid")
	ErrCompression    = errors.New("the kernel payload uses an unsupported compression")
	ErrDecompress     = errors.New("the kernel payload does not decompress")
	ErrTooLarge       = errors.New("the kernel is larger than gohv accepts")
	ErrELF            = errors.New("the kernel is not a well-formed ELF file")
	ErrMachine        = errors.New("the kernel is not a 64-bit little-endian x86-64 ELF file")
	ErrNoSegments     = errors.New("the kernel has no loadable segments")
	ErrSegment        = errors.New("a kernel segment is invalid")
	ErrNotXenELF      = errors.New("the kernel is not a Xen-ELF image (no Xen ELF notes or __xen_guest section)")
	ErrXenNote        = errors.New("a Xen ELF note of the kernel is malformed")
	ErrUnknownFeature = errors.New("the kernel requires a Xen feature that is not known")
	ErrLoader         = errors.New("the kernel is built neither for the generic loader nor as Linux")
	ErrXenVersion     = errors.New("the kernel is not built for Xen 3.0")
	ErrPaddrOffset    = errors.New("the kernel sets ELF_PADDR_OFFSET without VIRT_BASE")
	ErrBounds         = errors.New("the kernel's start or entry point is out of bounds")
	ErrP2MBase        = errors.New("the kernel's INIT_P2M base lies inside the kernel image")
	ErrBSDSymtab      = errors.New("the kernel asks for a BSD symbol table, which gohv does not load")
	ErrNotDom0Capable = errors.New("the kernel does not support dom0 operation")
	ErrSupervisorMode = errors.New("the kernel requires supervisor-mode execution")
)

// Compression is how the ELF image was packed inside the boot module.
type Compression int

// Compression methods Parse recognises.
const (
	CompressionNone  Compression = iota // the ELF image itself
	CompressionXZ                       // .xz: LZMA2, optionally after the x86 BCJ filter
	CompressionGzip                     // gzip (RFC 1952)
	CompressionBzip2                    // bzip2
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionXZ:
		return "xz"
	case CompressionGzip:
		return "gzip"
	case CompressionBzip2:
		return "bzip2"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// Segment is one loadable program header (PT_LOAD with any of R, W, X set,
// libelf's elf_phdr_is_loadable) of the kernel.
type Segment struct {
	Paddr  uint64 // p_paddr
	Vaddr  uint64 // p_vaddr: informational, never used for placement (Linux's percpu segment has 0)
	Filesz uint64 // p_filesz <= Memsz
	Memsz  uint64 // p_memsz; bytes past Filesz are zero
	Flags  elf.ProgFlag
	// Dest is where the builder places the segment in the guest's virtual
	// address space: Paddr + DomParms.VirtOffset. [Dest, Dest+Memsz) lies in
	// [VirtKStart, VirtKEnd).
	Dest uint64
	// Data is the segment's file bytes (len Filesz). It aliases Image.ELF.
	Data []byte
}

// Image is a parsed PV kernel image. It is a plain value owned by the
// caller; it aliases the image passed to Parse when that image was an
// uncompressed ELF file or a bzImage with an uncompressed ELF payload.
type Image struct {
	BzImage      bool        // the image was a bzImage
	BootProtocol uint16      // bzImage boot protocol version (e.g. 0x020f); 0 if not a bzImage
	Compression  Compression // how the ELF image was packed
	ELF          []byte      // the ELF image
	EEntry       uint64      // the ELF header's e_entry
	Segments     []Segment   // loadable segments, in program header order
	// PStart and PEnd bound the segments' physical image: the lowest p_paddr
	// and the highest p_paddr+p_memsz (libelf's pstart/pend).
	PStart, PEnd uint64
	Parms        DomParms // the Xen notes and the addresses derived from them
}

// Parse decodes a PV kernel image: an ELF64 x86-64 file, a bzImage
// (boot protocol 2.08 or later) whose payload is an ELF file or an XZ, gzip or
// bzip2 compressed one, or such a compressed ELF file without a bzImage
// around it (as Xen's bzimage_parse accepts). It reads the Xen ELF notes
// (PT_NOTE segments, then SHT_NOTE sections, then the legacy __xen_guest
// section) and applies Xen 4.17 libelf's checks. It never panics, and it
// allocates at most MaxSize bytes of output plus the XZ dictionary.
func Parse(img []byte) (*Image, error) {
	return parseLimited(img, MaxSize)
}

// parseLimited is Parse with the decompression limit as a parameter, so
// fuzzing can use a smaller one.
func parseLimited(img []byte, limit int) (*Image, error) {
	k := &Image{}
	var (
		elfImg []byte
		comp   Compression
		err    error
	)
	if isBzImage(img) {
		hdr, err := parseBzImage(img)
		if err != nil {
			return nil, err
		}
		k.BzImage = true
		k.BootProtocol = hdr.version
		elfImg, comp, err = unpackPayload(hdr.payload, limit)
		if err != nil {
			return nil, err
		}
	} else if elfImg, comp, err = unpackImage(img, limit); err != nil {
		return nil, err
	}
	k.Compression = comp
	k.ELF = elfImg
	if err := k.parseELF(); err != nil {
		return nil, err
	}
	return k, nil
}

// elfMagic is the start of every ELF file.
var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

func isELF(b []byte) bool { return bytes.HasPrefix(b, elfMagic) }

// parseELF reads k.ELF: headers, loadable segments, Xen notes, derived values.
func (k *Image) parseELF() error {
	img := k.ELF
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrELF, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%w: it is %v, %v, %v", ErrMachine, f.Class, f.Data, f.Machine)
	}
	k.EEntry = f.Entry

	k.PStart, k.PEnd = ^uint64(0), 0
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&(elf.PF_R|elf.PF_W|elf.PF_X) == 0 {
			continue
		}
		if p.Filesz > p.Memsz {
			return fmt.Errorf("%w: program header %d has p_filesz %#x above p_memsz %#x", ErrSegment, i, p.Filesz, p.Memsz)
		}
		var data []byte
		if p.Filesz > 0 {
			if p.Off > uint64(len(img)) || p.Filesz > uint64(len(img))-p.Off {
				return fmt.Errorf("%w: program header %d's file bytes [%#x, +%#x) lie outside the %#x-byte file", ErrSegment, i, p.Off, p.Filesz, len(img))
			}
			data = img[p.Off : p.Off+p.Filesz : p.Off+p.Filesz]
		}
		end := p.Paddr + p.Memsz
		if end < p.Paddr {
			return fmt.Errorf("%w: program header %d's p_paddr %#x + p_memsz %#x overflows", ErrSegment, i, p.Paddr, p.Memsz)
		}
		k.Segments = append(k.Segments, Segment{
			Paddr:  p.Paddr,
			Vaddr:  p.Vaddr,
			Filesz: p.Filesz,
			Memsz:  p.Memsz,
			Flags:  p.Flags,
			Data:   data,
		})
		k.PStart = min(k.PStart, p.Paddr)
		k.PEnd = max(k.PEnd, end)
	}
	if len(k.Segments) == 0 {
		return fmt.Errorf("%w: none of its %d program headers is a PT_LOAD with R, W or X set", ErrNoSegments, len(f.Progs))
	}
	if k.PEnd-k.PStart > MaxSpan {
		return fmt.Errorf("%w: its segments span %#x-%#x, more than %d MiB", ErrTooLarge, k.PStart, k.PEnd, MaxSpan>>20)
	}

	if err := k.Parms.parse(f, img); err != nil {
		return err
	}
	if err := k.Parms.derive(k.PStart, k.PEnd, k.EEntry); err != nil {
		return err
	}
	for i := range k.Segments {
		k.Segments[i].Dest = k.Segments[i].Paddr + k.Parms.VirtOffset
	}
	return nil
}

// CheckDom0 applies the checks Xen's dom0_construct_pv makes on a kernel
// beyond libelf's: a kernel that carries a SUPPORTED_FEATURES note must list
// XENFEAT_dom0 in it, and no dom0 kernel may require
// XENFEAT_supervisor_mode_kernel. (Parse has already refused anything
// but a 64-bit little-endian x86-64 ELF, Xen's "Mismatch between Xen and DOM0
// kernel".)
func (k *Image) CheckDom0() error {
	p := &k.Parms
	if p.Has(abi.XEN_ELFNOTE_SUPPORTED_FEATURES) && !p.Supports(abi.XENFEAT_dom0) {
		return fmt.Errorf("%w: its SUPPORTED_FEATURES note lacks XENFEAT_dom0 (supported %#x)", ErrNotDom0Capable, p.FeaturesSupported[0])
	}
	if p.Requires(abi.XENFEAT_supervisor_mode_kernel) {
		return fmt.Errorf("%w: FEATURES marks supervisor_mode_kernel as required", ErrSupervisorMode)
	}
	return nil
}
