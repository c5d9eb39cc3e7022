package xz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
)

// The sentinels every error from this package wraps.
var (
	// ErrFormat: the bytes are not a well-formed .xz stream (bad magic,
	// reserved bits set, a malformed header, index or footer).
	ErrFormat = errors.New("xz data is malformed")
	// ErrTruncated: the input ends inside a stream.
	ErrTruncated = errors.New("xz data is truncated")
	// ErrChecksum: a header CRC32 or a block's integrity check does not match.
	ErrChecksum = errors.New("xz data fails an integrity check")
	// ErrCorrupt: the LZMA2 data inside a block cannot be decoded.
	ErrCorrupt = errors.New("xz compressed data is corrupt")
	// ErrUnsupported: a valid stream uses a filter or check this package
	// does not implement.
	ErrUnsupported = errors.New("xz data uses an unsupported feature")
	// ErrTooLarge: the decompressed data would exceed the caller's limit.
	ErrTooLarge = errors.New("xz data decompresses to more than the allowed size")
)

// Format constants (XZ file format 1.1.0).
var (
	headerMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	footerMagic = []byte{'Y', 'Z'}
)

const (
	streamHeaderSize = 12
	streamFooterSize = 12

	// Check IDs (stream flags, low nibble of the second byte).
	CheckNone   = 0x00
	CheckCRC32  = 0x01
	CheckCRC64  = 0x04
	CheckSHA256 = 0x0a // refused: see checkSize

	// Filter IDs.
	FilterX86   = 0x04
	FilterLZMA2 = 0x21

	maxFilters = 4 // two bits of block flags, plus one
	vliMaxLen  = 9 // bytes; values are at most 63 bits
)

var crc64Table = crc64.MakeTable(crc64.ECMA)

// checkSize returns the size in bytes of the check field for a supported
// check ID, or -1. SHA-256 is unsupported: no kernel build uses it (Linux's
// xz_wrap.sh asks for CRC32), and refusing it keeps the check this package's
// own, computed as the output streams.
func checkSize(id byte) int {
	switch id {
	case CheckNone:
		return 0
	case CheckCRC32:
		return 4
	case CheckCRC64:
		return 8
	}
	return -1
}

func newCheck(id byte) hash.Hash {
	switch id {
	case CheckCRC32:
		return crc32.NewIEEE()
	case CheckCRC64:
		return crc64.New(crc64Table)
	}
	return nil
}

// checkName names a check ID for error messages.
func checkName(id byte) string {
	switch id {
	case CheckNone:
		return "None"
	case CheckCRC32:
		return "CRC32"
	case CheckCRC64:
		return "CRC64"
	case CheckSHA256:
		return "SHA-256"
	}
	return fmt.Sprintf("check %#x", id)
}

// Decode decompresses every stream in src (concatenated streams separated by
// stream padding, as the format allows) and returns the concatenated output.
// All of src must be consumed. limit bounds the total output; it must be
// positive.
func Decode(src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: the output limit %d is not positive", ErrTooLarge, limit)
	}
	d := newDecoder(limit)
	out := &appendSink{limit: limit}
	p := 0
	streams := 0
	for p < len(src) {
		if streams > 0 && src[p] == 0 {
			// Stream padding: a multiple of four null bytes.
			if len(src)-p < 4 || !allZero(src[p:p+4]) {
				return nil, fmt.Errorf("%w: stream padding at offset %d is not a multiple of four null bytes", ErrFormat, p)
			}
			p += 4
			continue
		}
		n, err := d.stream(src[p:], out)
		if err != nil {
			if streams > 0 {
				return nil, fmt.Errorf("stream %d at offset %d: %w", streams+1, p, err)
			}
			return nil, err
		}
		p += n
		streams++
	}
	if streams == 0 {
		return nil, fmt.Errorf("%w: the input is empty", ErrTruncated)
	}
	return out.b, nil
}

// DecodeStream decompresses the single stream at the start of src and
// returns its output and the number of bytes of src the stream occupies;
// whatever follows is left to the caller (Linux appends the decompressed
// size to a bzImage's XZ payload). limit bounds the output. sizeHint, when
// positive, is the expected output size: it only sizes the first allocation
// (clamped to limit), never the result.
func DecodeStream(src []byte, limit, sizeHint int) ([]byte, int, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("%w: the output limit %d is not positive", ErrTooLarge, limit)
	}
	out := &appendSink{limit: limit}
	if sizeHint > 0 {
		// One spare byte, as a reader of exactly sizeHint bytes would want.
		out.b = make([]byte, 0, min(sizeHint, limit)+1)
	}
	n, err := newDecoder(limit).stream(src, out)
	if err != nil {
		return nil, 0, err
	}
	return out.b, n, nil
}

// DecodeStreamTo is DecodeStream writing the output to w as it is decoded,
// in pieces of at most 64 KiB, instead of returning it: the memory it needs
// is the LZMA2 dictionary (at most the block header's dictionary size, and
// at most 1.5 times the block's output) and small buffers, whatever the
// output's size. Output reaches w before the block's integrity check and
// the index are verified: an error means that what w got is not to be used.
// An error of w ends decoding and is returned wrapped (with %w), naming
// the block.
func DecodeStreamTo(w io.Writer, src []byte, limit int) (int, error) {
	return DecodeStreamToDict(w, src, limit, nil)
}

// DecodeStreamToDict is DecodeStreamTo with the LZMA2 dictionary in memory
// the caller lends: dict, when not nil, is asked for n bytes before a block
// whose dictionary is n bytes (once per larger size) and returns memory the
// decoder may overwrite until DecodeStreamToDict returns, or nil, or a
// smaller buffer, to have the decoder allocate it as DecodeStreamTo does.
// Whatever the lent memory holds at the start is never read as output.
func DecodeStreamToDict(w io.Writer, src []byte, limit int, dict func(n uint64) []byte) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: the output limit %d is not positive", ErrTooLarge, limit)
	}
	d := newDecoder(limit)
	d.engine.lend = dict
	n, err := d.stream(src, writerSink{w})
	if d.engine.r != nil {
		d.engine.r.SetDictionary(nil) // the lender's memory is its own again
	}
	return n, err
}

// sink receives decoded bytes. reserve announces the size of the block
// about to be written.
type sink interface {
	io.Writer
	reserve(n uint64)
}

// appendSink collects the output in b, never with a capacity above limit+1.
type appendSink struct {
	b     []byte
	limit int
}

func (s *appendSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *appendSink) reserve(n uint64) {
	need := uint64(len(s.b)) + n + 1
	if uint64(cap(s.b)) >= need {
		return
	}
	// Grow geometrically so that many small blocks cost linear time, but
	// never past the limit (plus one spare byte).
	c := min(max(need, 2*uint64(cap(s.b))), uint64(s.limit)+1)
	b := make([]byte, len(s.b), c)
	copy(b, s.b)
	s.b = b
}

// writerSink hands the output to the caller's writer.
type writerSink struct{ io.Writer }

func (writerSink) reserve(uint64) {}

// record is one index record: what the decoder saw for a block.
type record struct {
	unpadded     uint64
	uncompressed uint64
}

// decoder is the state of one Decode call: the output limit, the bytes
// written, the LZMA2 engine and the buffer blocks are decoded through.
type decoder struct {
	limit   uint64
	written uint64
	engine  lzma2Engine
	buf     []byte
}

func newDecoder(limit int) *decoder {
	return &decoder{limit: uint64(limit), buf: make([]byte, 64<<10)}
}

// stream decodes one stream from src to out, with the total output
// bounded by d.limit. It returns the stream's size in bytes.
func (d *decoder) stream(src []byte, out sink) (int, error) {
	if m := min(len(src), len(headerMagic)); !bytes.Equal(src[:m], headerMagic[:m]) {
		return 0, fmt.Errorf("%w: the stream header magic is missing", ErrFormat)
	}
	if len(src) < streamHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes cannot hold a stream header", ErrTruncated, len(src))
	}
	flags := src[6:8]
	if got, want := binary.LittleEndian.Uint32(src[8:12]), crc32.ChecksumIEEE(flags); got != want {
		return 0, fmt.Errorf("%w: the stream header CRC32 is %#08x, computed %#08x", ErrChecksum, got, want)
	}
	if flags[0] != 0 || flags[1]&0xf0 != 0 {
		return 0, fmt.Errorf("%w: the stream flags %#02x%02x have reserved bits set", ErrFormat, flags[0], flags[1])
	}
	check := flags[1]
	if checkSize(check) < 0 {
		return 0, fmt.Errorf("%w: the integrity check %s is not None, CRC32 or CRC64", ErrUnsupported, checkName(check))
	}

	p := streamHeaderSize
	var recs []record
	for {
		if p >= len(src) {
			return 0, fmt.Errorf("%w: the stream ends before its index", ErrTruncated)
		}
		if src[p] == 0x00 { // index indicator
			break
		}
		rec, n, err := d.block(src[p:], out, check)
		if err != nil {
			return 0, fmt.Errorf("block %d at offset %d: %w", len(recs)+1, p, err)
		}
		recs = append(recs, rec)
		p += n
	}

	n, err := checkIndex(src[p:], recs)
	if err != nil {
		return 0, fmt.Errorf("index at offset %d: %w", p, err)
	}
	indexSize := n
	p += n

	if len(src)-p < streamFooterSize {
		return 0, fmt.Errorf("%w: the stream ends before its footer", ErrTruncated)
	}
	f := src[p : p+streamFooterSize]
	if !bytes.Equal(f[10:12], footerMagic) {
		return 0, fmt.Errorf("%w: the stream footer magic is missing at offset %d", ErrFormat, p+10)
	}
	if got, want := binary.LittleEndian.Uint32(f[0:4]), crc32.ChecksumIEEE(f[4:10]); got != want {
		return 0, fmt.Errorf("%w: the stream footer CRC32 is %#08x, computed %#08x", ErrChecksum, got, want)
	}
	if backward := (uint64(binary.LittleEndian.Uint32(f[4:8])) + 1) * 4; backward != uint64(indexSize) {
		return 0, fmt.Errorf("%w: the footer's backward size %d does not match the index size %d", ErrFormat, backward, indexSize)
	}
	if !bytes.Equal(f[8:10], flags) {
		return 0, fmt.Errorf("%w: the stream footer flags differ from the stream header flags", ErrFormat)
	}
	return p + streamFooterSize, nil
}

// readVLI decodes a variable-length integer from b at p; it returns the value
// and its length. The encoding must be minimal and at most nine bytes.
func readVLI(b []byte, p int) (uint64, int, error) {
	var v uint64
	for i := 0; i < vliMaxLen; i++ {
		if p+i >= len(b) {
			return 0, 0, errVLITruncated
		}
		c := b[p+i]
		v |= uint64(c&0x7f) << (7 * uint(i))
		if c&0x80 == 0 {
			if i > 0 && c == 0 {
				return 0, 0, errVLINotMinimal
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, errVLITooLong
}

var (
	errVLITruncated  = errors.New("ends inside a variable-length integer")
	errVLINotMinimal = errors.New("has a variable-length integer that is not minimally encoded")
	errVLITooLong    = errors.New("has a variable-length integer longer than nine bytes")
)

// filter is one entry of a block's filter chain.
type filter struct {
	id    uint64
	props []byte
}

// blockHeader is a parsed block header.
type blockHeader struct {
	size         int    // bytes, including the CRC32
	compressed   uint64 // 0 when absent (a present value is never 0)
	uncompressed uint64
	hasUncomp    bool
	dictSize     uint64 // LZMA2 dictionary size
	bcj          bool   // x86 BCJ precedes LZMA2
	bcjStart     uint32 // BCJ start offset
}

func parseBlockHeader(src []byte) (blockHeader, error) {
	var h blockHeader
	h.size = (int(src[0]) + 1) * 4
	if len(src) < h.size {
		return h, fmt.Errorf("%w: the block header needs %d bytes, %d remain", ErrTruncated, h.size, len(src))
	}
	end := h.size - 4
	if got, want := binary.LittleEndian.Uint32(src[end:h.size]), crc32.ChecksumIEEE(src[:end]); got != want {
		return h, fmt.Errorf("%w: the block header CRC32 is %#08x, computed %#08x", ErrChecksum, got, want)
	}
	hdr := src[:end]
	flags := hdr[1]
	if flags&0x3c != 0 {
		return h, fmt.Errorf("%w: the block flags %#02x have reserved bits set", ErrFormat, flags)
	}
	p := 2
	if flags&0x40 != 0 {
		v, n, err := readVLI(hdr, p)
		if err != nil {
			return h, fmt.Errorf("%w: the block header %v", ErrFormat, err)
		}
		if v == 0 {
			return h, fmt.Errorf("%w: the block header gives a compressed size of 0", ErrFormat)
		}
		h.compressed = v
		p += n
	}
	if flags&0x80 != 0 {
		v, n, err := readVLI(hdr, p)
		if err != nil {
			return h, fmt.Errorf("%w: the block header %v", ErrFormat, err)
		}
		h.uncompressed, h.hasUncomp = v, true
		p += n
	}
	nf := int(flags&3) + 1
	var chain [maxFilters]filter
	for i := 0; i < nf; i++ {
		id, n, err := readVLI(hdr, p)
		if err != nil {
			return h, fmt.Errorf("%w: the block header %v", ErrFormat, err)
		}
		p += n
		sz, n, err := readVLI(hdr, p)
		if err != nil {
			return h, fmt.Errorf("%w: the block header %v", ErrFormat, err)
		}
		p += n
		if sz > uint64(len(hdr)-p) {
			return h, fmt.Errorf("%w: filter %d's %d property bytes overrun the block header", ErrFormat, i+1, sz)
		}
		chain[i] = filter{id: id, props: hdr[p : p+int(sz)]}
		p += int(sz)
	}
	if !allZero(hdr[p:]) {
		return h, fmt.Errorf("%w: the block header padding is not all zero", ErrFormat)
	}

	// Only "LZMA2" and "x86 BCJ, LZMA2" are implemented.
	last := chain[nf-1]
	if last.id != FilterLZMA2 {
		if nf == 1 || !knownFilter(last.id) {
			return h, fmt.Errorf("%w: filter id %#x (only x86 BCJ 0x04 and LZMA2 0x21 are supported)", ErrUnsupported, last.id)
		}
		return h, fmt.Errorf("%w: the last filter is %#x, not LZMA2", ErrFormat, last.id)
	}
	if len(last.props) != 1 {
		return h, fmt.Errorf("%w: LZMA2 has %d property bytes, not 1", ErrFormat, len(last.props))
	}
	d := last.props[0]
	if d > 40 {
		return h, fmt.Errorf("%w: the LZMA2 dictionary size byte %#x is above 40", ErrFormat, d)
	}
	if d == 40 {
		h.dictSize = 0xffffffff
	} else {
		h.dictSize = uint64(2|d&1) << (d/2 + 11)
	}
	for i := 0; i < nf-1; i++ {
		f := chain[i]
		switch {
		case f.id == FilterLZMA2:
			return h, fmt.Errorf("%w: LZMA2 is filter %d of %d, not the last", ErrFormat, i+1, nf)
		case f.id != FilterX86:
			return h, fmt.Errorf("%w: filter id %#x (only x86 BCJ 0x04 and LZMA2 0x21 are supported)", ErrUnsupported, f.id)
		case h.bcj:
			return h, fmt.Errorf("%w: more than one x86 BCJ filter in a chain", ErrUnsupported)
		}
		h.bcj = true
		switch len(f.props) {
		case 0:
		case 4:
			h.bcjStart = binary.LittleEndian.Uint32(f.props)
		default:
			return h, fmt.Errorf("%w: the x86 BCJ filter has %d property bytes, not 0 or 4", ErrFormat, len(f.props))
		}
	}
	return h, nil
}

// knownFilter reports whether id is a filter the format defines (so a
// misplaced one is a format error rather than an unsupported feature).
func knownFilter(id uint64) bool {
	return id == FilterX86 || id == FilterLZMA2
}

// block decodes the block at the start of src to out and returns the
// block's index record and its size in src including padding and check.
func (d *decoder) block(src []byte, out sink, check byte) (record, int, error) {
	var rec record
	h, err := parseBlockHeader(src)
	if err != nil {
		return rec, 0, err
	}
	data := src[h.size:]
	if h.compressed != 0 {
		if h.compressed > uint64(len(data)) {
			return rec, 0, fmt.Errorf("%w: the block's %d compressed bytes overrun the input", ErrTruncated, h.compressed)
		}
		data = data[:h.compressed]
	}
	room := d.limit - d.written
	if h.hasUncomp && h.uncompressed > room {
		return rec, 0, fmt.Errorf("%w: the block header announces %d bytes, %d remain of the limit", ErrTooLarge, h.uncompressed, room)
	}

	// Walk the LZMA2 chunk headers first: that gives the exact compressed
	// and uncompressed sizes before any decoding or allocation.
	clen, usize, err := walkLZMA2(data)
	if err != nil {
		return rec, 0, err
	}
	if h.compressed != 0 && uint64(clen) != h.compressed {
		return rec, 0, fmt.Errorf("%w: the LZMA2 data is %d bytes, the block header says %d", ErrCorrupt, clen, h.compressed)
	}
	if h.hasUncomp && usize != h.uncompressed {
		return rec, 0, fmt.Errorf("%w: the LZMA2 chunks hold %d bytes, the block header says %d", ErrCorrupt, usize, h.uncompressed)
	}
	if usize > room {
		return rec, 0, fmt.Errorf("%w: the block holds %d bytes, %d remain of the limit", ErrTooLarge, usize, room)
	}

	if err := d.engine.start(data[:clen], usize, h.dictSize); err != nil {
		return rec, 0, fmt.Errorf("%w: the LZMA2 decoder refused the block: %v", engineError(err), err)
	}
	out.reserve(usize)
	hs := newCheck(check)
	var bcj x86State
	bcj.reset(h.bcjStart)
	var produced uint64
	carry := 0 // bytes at the start of d.buf the BCJ filter has not finished
	for {
		n, rerr := d.engine.Read(d.buf[carry:])
		end := carry + n
		done := end
		if h.bcj {
			// The last four bytes of the block are never converted: at
			// the end they are final as they are.
			if done = bcj.filter(d.buf[:end], false); rerr == io.EOF {
				done = end
			}
		}
		if produced+uint64(done) > usize {
			return rec, 0, fmt.Errorf("%w: the LZMA2 data decodes to more than its chunks' %d bytes", ErrCorrupt, usize)
		}
		if hs != nil {
			hs.Write(d.buf[:done])
		}
		if _, err := out.Write(d.buf[:done]); err != nil {
			return rec, 0, err
		}
		produced += uint64(done)
		carry = copy(d.buf, d.buf[done:end])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rec, 0, fmt.Errorf("%w: %v", engineError(rerr), rerr)
		}
	}
	d.written += produced
	if produced != usize {
		return rec, 0, fmt.Errorf("%w: the LZMA2 data produced %d of its chunks' %d bytes", ErrCorrupt, produced, usize)
	}

	p := h.size + clen
	for p%4 != 0 {
		if p >= len(src) {
			return rec, 0, fmt.Errorf("%w: the block ends inside its padding", ErrTruncated)
		}
		if src[p] != 0 {
			return rec, 0, fmt.Errorf("%w: the block padding is not all zero", ErrFormat)
		}
		p++
	}
	cs := checkSize(check)
	if len(src)-p < cs {
		return rec, 0, fmt.Errorf("%w: the block ends inside its %s check", ErrTruncated, checkName(check))
	}
	if hs != nil {
		sum := hs.Sum(nil)
		// The format stores CRCs little-endian; hash.Hash sums are big-endian.
		reverse(sum)
		if !bytes.Equal(sum, src[p:p+cs]) {
			return rec, 0, fmt.Errorf("%w: the block's %s is %x, computed %x", ErrChecksum, checkName(check), src[p:p+cs], sum)
		}
	}
	rec.unpadded = uint64(h.size+clen) + uint64(cs)
	rec.uncompressed = produced
	return rec, p + cs, nil
}

// walkLZMA2 follows the LZMA2 chunk headers at the start of data to the end
// marker, without decoding. It returns the length of the LZMA2 data including
// the end marker and the total uncompressed size. It checks the framing rules
// a decoder relies on: the first chunk resets the dictionary, the first LZMA
// chunk sets new properties, each LZMA chunk's range coder starts with a 0
// byte.
func walkLZMA2(data []byte) (int, uint64, error) {
	p := 0
	var total uint64
	dictReset, props := false, false
	for {
		if p >= len(data) {
			return 0, 0, fmt.Errorf("%w: the LZMA2 data ends before its end marker", ErrTruncated)
		}
		c := data[p]
		var hdr, csize int
		var usize uint64
		switch {
		case c == 0x00:
			return p + 1, total, nil
		case c == 0x01 || c == 0x02: // uncompressed chunk, with or without dictionary reset
			if c == 0x01 {
				dictReset = true
			}
			hdr = 3
			if len(data)-p < hdr {
				return 0, 0, fmt.Errorf("%w: an LZMA2 chunk header is cut short", ErrTruncated)
			}
			csize = int(binary.BigEndian.Uint16(data[p+1:])) + 1
			usize = uint64(csize)
		case c >= 0x80: // LZMA chunk; bits 5-6: 0 none, 1 state, 2 state+props, 3 all reset
			reset := (c >> 5) & 3
			hdr = 5
			if reset >= 2 {
				hdr = 6
				props = true
			}
			if reset == 3 {
				dictReset = true
			}
			if len(data)-p < hdr {
				return 0, 0, fmt.Errorf("%w: an LZMA2 chunk header is cut short", ErrTruncated)
			}
			if !props {
				return 0, 0, fmt.Errorf("%w: the first LZMA chunk at offset %d does not set properties", ErrCorrupt, p)
			}
			usize = (uint64(c&0x1f)<<16 | uint64(binary.BigEndian.Uint16(data[p+1:]))) + 1
			csize = int(binary.BigEndian.Uint16(data[p+3:])) + 1
		default:
			return 0, 0, fmt.Errorf("%w: the LZMA2 control byte %#02x at offset %d is invalid", ErrCorrupt, c, p)
		}
		if !dictReset {
			return 0, 0, fmt.Errorf("%w: the first LZMA2 chunk does not reset the dictionary", ErrCorrupt)
		}
		if len(data)-p-hdr < csize {
			return 0, 0, fmt.Errorf("%w: an LZMA2 chunk's %d bytes overrun the input", ErrTruncated, csize)
		}
		if c >= 0x80 && data[p+hdr] != 0 {
			// Every LZMA chunk starts a range coder, whose first byte is
			// 0 (the engine shifts it out unread).
			return 0, 0, fmt.Errorf("%w: the LZMA chunk at offset %d starts its range coder with %#02x, not 0", ErrCorrupt, p, data[p+hdr])
		}
		p += hdr + csize
		total += usize
	}
}

// checkIndex verifies the index at the start of src against the blocks
// decoded, and returns the index size including its CRC32.
func checkIndex(src []byte, recs []record) (int, error) {
	// src[0] is the index indicator (0x00), checked by the caller.
	p := 1
	count, n, err := readVLI(src, p)
	if err != nil {
		return 0, indexVLIError(err)
	}
	p += n
	if count != uint64(len(recs)) {
		return 0, fmt.Errorf("%w: the index lists %d blocks, the stream has %d", ErrFormat, count, len(recs))
	}
	for i, r := range recs {
		unpadded, n, err := readVLI(src, p)
		if err != nil {
			return 0, indexVLIError(err)
		}
		p += n
		uncomp, n, err := readVLI(src, p)
		if err != nil {
			return 0, indexVLIError(err)
		}
		p += n
		if unpadded != r.unpadded || uncomp != r.uncompressed {
			return 0, fmt.Errorf("%w: record %d says %d/%d bytes (unpadded/uncompressed), block %d is %d/%d",
				ErrFormat, i+1, unpadded, uncomp, i+1, r.unpadded, r.uncompressed)
		}
	}
	for p%4 != 0 {
		if p >= len(src) {
			return 0, fmt.Errorf("%w: the index ends inside its padding", ErrTruncated)
		}
		if src[p] != 0 {
			return 0, fmt.Errorf("%w: the index padding is not all zero", ErrFormat)
		}
		p++
	}
	if len(src)-p < 4 {
		return 0, fmt.Errorf("%w: the index ends before its CRC32", ErrTruncated)
	}
	if got, want := binary.LittleEndian.Uint32(src[p:p+4]), crc32.ChecksumIEEE(src[:p]); got != want {
		return 0, fmt.Errorf("%w: the index CRC32 is %#08x, computed %#08x", ErrChecksum, got, want)
	}
	return p + 4, nil
}

func indexVLIError(err error) error {
	if err == errVLITruncated {
		return fmt.Errorf("%w: the index %v", ErrTruncated, err)
	}
	return fmt.Errorf("%w: the index %v", ErrFormat, err)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}
