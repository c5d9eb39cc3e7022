package kernel

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gohv/gohv/kernel/xz"
)

// Dest receives a kernel's memory image while Load unpacks it: the bytes of
// the physical image [PStart, PEnd), addressed by their offset from PStart.
// Its bytes start zero; Load writes only the segments' file bytes, so the
// rest (bss, gaps) stays zero.
type Dest interface {
	// Reserve is called once, before any WriteAt, with the image's bounds
	// (libelf's pstart and pend). An error ends Load with that error.
	Reserve(pstart, pend uint64) error
	// WriteAt writes p at offset off from pstart; off+len(p) <= pend-pstart.
	WriteAt(p []byte, off uint64) error
}

// DictionaryDest is a Dest that also lends Load the memory of the LZMA2
// dictionary, so that decoding an XZ payload allocates none: Dictionary
// returns n bytes that are not the image's (Reserve's frames must not
// overlap them) and that Load may overwrite until it returns, after which
// they hold garbage for the caller to clear; or nil, to have Load allocate
// the dictionary itself. It may be called before Reserve.
type DictionaryDest interface {
	Dest
	Dictionary(n uint64) []byte
}

// Load is Parse for a kernel that goes straight into its destination: the
// segments' file bytes are written to dst instead of being kept, and the
// returned Image has no ELF bytes and no segment Data. An XZ payload (Linux's
// bzImage) is decoded as a stream through the ELF file: only the ELF header,
// the program headers and the PT_NOTE notes are kept in memory besides the
// LZMA2 dictionary. Other kernels (a plain ELF file, gzip and bzip2
// payloads, an XZ-packed ELF file whose Xen notes are not in PT_NOTE
// segments or whose segments overlap) are unpacked whole as Parse does, then
// written. A dst that is a DictionaryDest holds the LZMA2 dictionary too. progress, when not nil, is called as the ELF file is unpacked
// with the bytes so far and the size Linux's trailer announces (0 when there
// is none).
//
// Load accepts what Parse accepts, and gives the same Image but for ELF and
// Data; for a streamed kernel it does not read the section headers. On an
// error, what dst holds is not to be used.
func Load(img []byte, dst Dest, progress func(done, total uint64)) (*Image, error) {
	return loadLimited(img, dst, progress, MaxSize)
}

func loadLimited(img []byte, dst Dest, progress func(done, total uint64), limit int) (*Image, error) {
	k := &Image{}
	payload := img
	if isBzImage(img) {
		hdr, err := parseBzImage(img)
		if err != nil {
			return nil, err
		}
		k.BzImage, k.BootProtocol = true, hdr.version
		payload = hdr.payload
	}
	if bytes.HasPrefix(payload, xzMagic) {
		s := &elfStream{dst: dst, progress: progress, total: uint64(sizeTrailer(payload))}
		if s.total > uint64(limit) {
			s.total = 0
		}
		err := s.unxz(payload, limit)
		if err == nil {
			k.Compression = CompressionXZ
			if err = s.finish(k); err == nil {
				return k, nil
			}
		}
		if !errors.Is(err, errWhole) {
			return nil, err
		}
		return loadWhole(img, dst, s.reserved, limit)
	}
	return loadWhole(img, dst, false, limit)
}

// loadWhole parses img with Parse's code and writes the segments to dst
// (reserved: dst.Reserve was called already, with the same bounds, by a
// stream that gave up).
func loadWhole(img []byte, dst Dest, reserved bool, limit int) (*Image, error) {
	k, err := parseLimited(img, limit)
	if err != nil {
		return nil, err
	}
	if !reserved {
		if err := dst.Reserve(k.PStart, k.PEnd); err != nil {
			return nil, err
		}
	}
	for i := range k.Segments {
		s := &k.Segments[i]
		if len(s.Data) > 0 {
			if err := dst.WriteAt(s.Data, s.Paddr-k.PStart); err != nil {
				return nil, err
			}
		}
		s.Data = nil
	}
	k.ELF = nil
	return k, nil
}

// errWhole says the stream met an ELF file it does not handle; Load then
// unpacks the image whole.
var errWhole = errors.New("the kernel is unpacked whole")

// Bounds of what elfStream keeps.
const (
	streamMaxHeaders = 64 << 10 // ELF header and program headers
	streamMaxNotes   = 1 << 20  // PT_NOTE bytes
)

// elfStream receives the decompressed ELF file in order (it is the
// io.Writer xz.DecodeStreamTo writes to) and places the loadable segments'
// bytes in dst as they pass.
type elfStream struct {
	dst      Dest
	progress func(done, total uint64)
	total    uint64

	pos      uint64 // file offset of the next byte
	head     []byte // the first bytes, until the program headers are read
	ready    bool   // the program headers are read and dst reserved
	reserved bool

	entry        uint64
	segs         []Segment
	fileOff      []uint64 // p_offset of each of segs
	pstart, pend uint64
	notes        []streamNote
}

// streamNote is one PT_NOTE segment's bytes, collected as they pass.
type streamNote struct {
	phdr int
	off  uint64
	data []byte // len is p_filesz once complete
	size uint64
}

func (s *elfStream) unxz(payload []byte, limit int) error {
	var lend func(uint64) []byte
	if d, ok := s.dst.(DictionaryDest); ok {
		lend = d.Dictionary
	}
	n, err := xz.DecodeStreamToDict(s, payload, limit, lend)
	if err != nil {
		if errors.Is(err, errWhole) {
			return errWhole
		}
		var de destError
		if errors.As(err, &de) {
			return de.err
		}
		if errors.Is(err, xz.ErrTooLarge) {
			return fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return fmt.Errorf("%w: %v", ErrDecompress, err)
	}
	rest := payload[n:]
	if len(rest) > 0 && len(rest)%4 == 0 && allZero(rest) {
		return nil // stream padding
	}
	return checkTrailer(rest, int(s.pos), "xz stream")
}

// destError carries an error of dst through the decoder.
type destError struct{ err error }

func (e destError) Error() string { return e.err.Error() }

// Write takes the next bytes of the ELF file.
func (s *elfStream) Write(p []byte) (int, error) {
	n := len(p)
	for !s.ready {
		need := s.headerBytes()
		if need > streamMaxHeaders {
			return 0, errWhole
		}
		if have := uint64(len(s.head)); have < need {
			take := min(uint64(len(p)), need-have)
			s.head = append(s.head, p[:take]...)
			p = p[take:]
			if uint64(len(s.head)) < need {
				return n, nil // p is used up
			}
			continue // the ELF header may have made need larger
		}
		if err := s.readHeaders(); err != nil {
			return 0, err
		}
		if err := s.dst.Reserve(s.pstart, s.pend); err != nil {
			return 0, destError{err}
		}
		s.reserved, s.ready = true, true
		head := s.head
		s.head = nil
		if err := s.place(head); err != nil {
			return 0, err
		}
	}
	if err := s.place(p); err != nil {
		return 0, err
	}
	if s.progress != nil {
		s.progress(s.pos, s.total)
	}
	return n, nil
}

// headerBytes is how many leading bytes hold the ELF header and, once the
// header is in, the program headers.
func (s *elfStream) headerBytes() uint64 {
	const ehdr = 64
	if len(s.head) < ehdr {
		return ehdr
	}
	h := s.head
	phoff := binary.LittleEndian.Uint64(h[32:])
	phentsize, phnum := uint64(binary.LittleEndian.Uint16(h[54:])), uint64(binary.LittleEndian.Uint16(h[56:]))
	if phoff > streamMaxHeaders || phentsize*phnum > streamMaxHeaders {
		return streamMaxHeaders + 1 // too far in: not streamed
	}
	return max(ehdr, phoff+phentsize*phnum)
}

// readHeaders reads the ELF header and program headers in s.head. Anything
// but a 64-bit little-endian x86-64 file with ordinary program headers
// and non-overlapping segments is left to Parse's code (errWhole), which
// has the errors for it.
func (s *elfStream) readHeaders() error {
	h := s.head
	if len(h) < 64 || !isELF(h) || elf.Class(h[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(h[elf.EI_DATA]) != elf.ELFDATA2LSB ||
		elf.Machine(binary.LittleEndian.Uint16(h[18:])) != elf.EM_X86_64 || h[elf.EI_VERSION] != byte(elf.EV_CURRENT) {
		return errWhole
	}
	s.entry = binary.LittleEndian.Uint64(h[24:])
	phoff := binary.LittleEndian.Uint64(h[32:])
	phentsize, phnum := int(binary.LittleEndian.Uint16(h[54:])), int(binary.LittleEndian.Uint16(h[56:]))
	if phentsize != 56 || phnum == 0 || uint64(len(h)) < phoff+uint64(phentsize*phnum) {
		return errWhole
	}
	s.pstart, s.pend = ^uint64(0), 0
	noteBytes := uint64(0)
	for i := 0; i < phnum; i++ {
		ph := h[phoff+uint64(i*phentsize):]
		typ := elf.ProgType(binary.LittleEndian.Uint32(ph[0:]))
		flags := elf.ProgFlag(binary.LittleEndian.Uint32(ph[4:]))
		off := binary.LittleEndian.Uint64(ph[8:])
		vaddr := binary.LittleEndian.Uint64(ph[16:])
		paddr := binary.LittleEndian.Uint64(ph[24:])
		filesz := binary.LittleEndian.Uint64(ph[32:])
		memsz := binary.LittleEndian.Uint64(ph[40:])
		if off+filesz < off {
			return errWhole
		}
		if typ == elf.PT_NOTE && off != 0 {
			noteBytes += filesz
			if noteBytes > streamMaxNotes {
				return errWhole
			}
			s.notes = append(s.notes, streamNote{phdr: i, off: off, size: filesz})
		}
		if typ != elf.PT_LOAD || flags&(elf.PF_R|elf.PF_W|elf.PF_X) == 0 {
			continue
		}
		end := paddr + memsz
		if filesz > memsz || end < paddr {
			return errWhole
		}
		for _, o := range s.segs {
			if paddr < o.Paddr+o.Memsz && o.Paddr < end {
				return errWhole // overlapping segments: Parse's order decides
			}
		}
		s.segs = append(s.segs, Segment{Paddr: paddr, Vaddr: vaddr, Filesz: filesz, Memsz: memsz, Flags: flags})
		s.fileOff = append(s.fileOff, off)
		s.pstart = min(s.pstart, paddr)
		s.pend = max(s.pend, end)
	}
	if len(s.segs) == 0 || s.pend-s.pstart > MaxSpan {
		return errWhole
	}
	return nil
}

// place hands the bytes at file offset s.pos to the segments and notes
// they belong to.
func (s *elfStream) place(p []byte) error {
	start, end := s.pos, s.pos+uint64(len(p))
	for i, sg := range s.segs {
		a, b := max(start, s.fileOff[i]), min(end, s.fileOff[i]+sg.Filesz)
		if a < b {
			if err := s.dst.WriteAt(p[a-start:b-start], sg.Paddr-s.pstart+(a-s.fileOff[i])); err != nil {
				return destError{err}
			}
		}
	}
	for i := range s.notes {
		nt := &s.notes[i]
		a, b := max(start, nt.off), min(end, nt.off+nt.size)
		if a < b {
			nt.data = append(nt.data, p[a-start:b-start]...)
		}
	}
	s.pos = end
	return nil
}

// finish completes k from what the stream saw: the segments must lie in
// the file, the Xen notes must be in PT_NOTE segments; then libelf's checks.
func (s *elfStream) finish(k *Image) error {
	if !s.ready {
		return errWhole // shorter than its headers
	}
	for i, sg := range s.segs {
		if s.fileOff[i]+sg.Filesz > s.pos {
			return errWhole
		}
	}
	var areas []noteArea
	for _, nt := range s.notes {
		if uint64(len(nt.data)) != nt.size {
			return errWhole
		}
		areas = append(areas, noteArea{what: fmt.Sprintf("PT_NOTE program header %d", nt.phdr), data: nt.data})
	}
	k.EEntry = s.entry
	k.Segments = s.segs
	k.PStart, k.PEnd = s.pstart, s.pend
	p := &k.Parms
	p.reset()
	total := 0
	n, err := p.parseNotes(areas, &total)
	if err != nil {
		return err
	}
	if n == 0 {
		return errWhole // the notes are in sections, or absent: Parse's code says which
	}
	p.Source = NotesPhdr
	if err := p.derive(k.PStart, k.PEnd, k.EEntry); err != nil {
		return err
	}
	for i := range k.Segments {
		k.Segments[i].Dest = k.Segments[i].Paddr + p.VirtOffset
	}
	return nil
}
