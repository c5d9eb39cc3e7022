package xz

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	xi2 "github.com/xi2/xz"
)

// The LZMA2 engine is github.com/xi2/xz, a Go port of XZ Embedded (public
// domain). Its API decodes whole .xz streams only, so each block's LZMA2
// data is handed to it inside a minimal stream this package writes around
// it: no integrity check, one block whose only filter is LZMA2, an index
// and a footer. The real container (its checks, the BCJ filter, the limits)
// stays this package's: the engine only ever sees a stream this package
// built, so any error it reports is a fault of the LZMA2 data.

// lzma2Engine decodes the LZMA2 data of one block after another. It owns
// the engine's reader and with it the dictionary, which the engine keeps
// between blocks and enlarges only for a block that needs a larger one.
type lzma2Engine struct {
	r *xi2.Reader
	// lend, when not nil, supplies the memory of a dictionary of n bytes
	// (nil: the engine allocates it); lent is what it gave last.
	lend func(n uint64) []byte
	lent []byte
	// pre and post are the synthetic stream around the LZMA2 data.
	pre  [streamHeaderSize + 12]byte
	post []byte
	src  multi
}

// multi reads pre, then data, then post, without copying data. Each Read
// gives at most 2 KiB: Go's memmove moves more with REP MOVSB, a byte at a
// time, when an end is not 8-byte aligned, which emulators (QEMU's TCG, where
// gohv unpacks dom0's kernel in tests and benchmarks) run many times slower
// than its 16-byte loop for 2 KiB or less.
type multi struct {
	parts [3][]byte
	i     int
}

func (m *multi) Read(p []byte) (int, error) {
	for m.i < len(m.parts) {
		if len(m.parts[m.i]) == 0 {
			m.i++
			continue
		}
		n := copy(p[:min(len(p), 2048)], m.parts[m.i])
		m.parts[m.i] = m.parts[m.i][n:]
		return n, nil
	}
	return 0, io.EOF
}

// dictProps returns the LZMA2 dictionary-size byte of the smallest
// dictionary holding n bytes (at least 4 KiB, the format's smallest).
func dictProps(n uint64) byte {
	for d := byte(0); d < 40; d++ {
		if uint64(2|d&1)<<(d/2+11) >= n {
			return d
		}
	}
	return 40
}

// dictBytes is the size of the dictionary props (a dictProps value) names.
func dictBytes(props byte) uint64 {
	if props >= 40 {
		return 0xffffffff
	}
	return uint64(2|props&1) << (props/2 + 11)
}

// start makes the engine's next reads return the output of the LZMA2 data
// data (end marker included), which decodes to usize bytes, with a
// dictionary of at most dictSize bytes: the block header's size, clamped to
// the block's output, since a match can never reach back further than that.
func (e *lzma2Engine) start(data []byte, usize, dictSize uint64) error {
	dict := min(dictSize, max(usize, 4096))
	props := dictProps(dict)

	// Stream header: magic, flags (check None), CRC32 of the flags.
	h := e.pre[:0]
	h = append(h, headerMagic...)
	h = append(h, 0, CheckNone)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE([]byte{0, CheckNone}))
	// Block header: size (12 bytes), flags (one filter, no sizes), LZMA2
	// with one property byte, padding, CRC32.
	b := len(h)
	h = append(h, 2, 0, FilterLZMA2, 1, props, 0, 0, 0)
	h = binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(h[b:]))

	// Block padding, then the index (one record), then the footer.
	unpadded := uint64(12 + len(data))
	t := e.post[:0]
	for p := unpadded; p%4 != 0; p++ {
		t = append(t, 0)
	}
	ix := len(t)
	t = append(t, 0, 1)
	t = appendVLI(t, unpadded)
	t = appendVLI(t, usize)
	for (len(t)-ix)%4 != 0 {
		t = append(t, 0)
	}
	t = binary.LittleEndian.AppendUint32(t, crc32.ChecksumIEEE(t[ix:]))
	indexSize := len(t) - ix
	f := len(t)
	t = binary.LittleEndian.AppendUint32(t, 0)
	t = binary.LittleEndian.AppendUint32(t, uint32(indexSize/4-1))
	t = append(t, 0, CheckNone)
	binary.LittleEndian.PutUint32(t[f:], crc32.ChecksumIEEE(t[f+4:f+10]))
	t = append(t, footerMagic...)
	e.post = t

	e.src = multi{parts: [3][]byte{h, data, t}}
	if e.r == nil {
		// The dictionary is bounded by start; no second limit here.
		r, err := xi2.NewReader(nil, 0xffffffff)
		if err != nil {
			return err
		}
		e.r = r
	}
	if n := dictBytes(props); e.lend != nil && uint64(cap(e.lent)) < n {
		if b := e.lend(n); uint64(cap(b)) >= n {
			e.lent = b
			e.r.SetDictionary(b)
		}
	}
	return e.r.Reset(&e.src)
}

// Read returns the block's decoded (not yet BCJ-filtered) bytes.
func (e *lzma2Engine) Read(p []byte) (int, error) { return e.r.Read(p) }

// appendVLI appends v in the format's variable-length encoding.
func appendVLI(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// engineError classifies an error of the engine: every stream it sees is
// well formed, so a failure is corrupt LZMA2 data.
func engineError(err error) error {
	if errors.Is(err, xi2.ErrMemlimit) {
		return ErrTooLarge
	}
	return ErrCorrupt
}
