package kernel

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gohv/gohv/kernel/xz"
)

// The Linux x86 boot protocol's setup header (Documentation/arch/x86/boot.rst)
// as far as Xen's bzimage_parse reads it: enough to find the protected-mode
// payload, which for a PV kernel is the (compressed) ELF vmlinux.
const (
	bzSetupSects    = 0x1f1 // u8: 512-byte setup sectors after the boot sector; 0 means 4
	bzHeaderMagic   = 0x202 // "HdrS"
	bzVersion       = 0x206 // u16 boot protocol version
	bzPayloadOffset = 0x248 // u32, from the start of the protected-mode code (2.08+)
	bzPayloadLength = 0x24c // u32
	bzHeaderEnd     = 0x250 // bytes needed to read payload_length

	bzMinVersion = 0x0208 // the first version with payload_offset/length
)

// isBzImage reports whether img carries a boot protocol setup header.
func isBzImage(img []byte) bool {
	return len(img) >= bzHeaderEnd && string(img[bzHeaderMagic:bzHeaderMagic+4]) == "HdrS"
}

// bzImageHeader is what Parse takes from a bzImage.
type bzImageHeader struct {
	version uint16
	payload []byte // aliases the image
}

// parseBzImage finds the payload of img, which isBzImage accepted.
func parseBzImage(img []byte) (bzImageHeader, error) {
	h := bzImageHeader{version: binary.LittleEndian.Uint16(img[bzVersion:])}
	if h.version < bzMinVersion {
		return h, fmt.Errorf("%w: boot protocol %d.%02d is older than 2.08, the first to describe the payload",
			ErrBzImage, h.version>>8, h.version&0xff)
	}
	sects := uint64(img[bzSetupSects])
	if sects == 0 {
		sects = 4
	}
	off := (sects+1)*512 + uint64(binary.LittleEndian.Uint32(img[bzPayloadOffset:]))
	n := uint64(binary.LittleEndian.Uint32(img[bzPayloadLength:]))
	if off > uint64(len(img)) || n > uint64(len(img))-off {
		return h, fmt.Errorf("%w: the payload [%#x, +%#x) lies outside the %#x-byte image", ErrBzImage, off, n, len(img))
	}
	if n == 0 {
		return h, fmt.Errorf("%w: payload_length is 0", ErrBzImage)
	}
	h.payload = img[off : off+n]
	return h, nil
}

// Compressed-data magic numbers.
var (
	xzMagic    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	gzipMagic  = []byte{0x1f, 0x8b}
	bzip2Magic = []byte{'B', 'Z', 'h'}
)

// unpackPayload returns the ELF image inside payload (payload itself if it is
// an ELF file) and how it was compressed. The output is at most limit bytes.
func unpackPayload(payload []byte, limit int) ([]byte, Compression, error) {
	switch {
	case isELF(payload):
		if len(payload) > limit {
			return nil, CompressionNone, fmt.Errorf("%w: the ELF image is %d bytes, more than %d MiB", ErrTooLarge, len(payload), limit>>20)
		}
		return payload, CompressionNone, nil
	case bytes.HasPrefix(payload, xzMagic):
		out, err := unxz(payload, limit)
		return out, CompressionXZ, err
	case bytes.HasPrefix(payload, gzipMagic):
		out, err := gunzip(payload, limit)
		return out, CompressionGzip, err
	case bytes.HasPrefix(payload, bzip2Magic):
		out, err := bunzip2(payload, limit)
		return out, CompressionBzip2, err
	}
	n := min(len(payload), 6)
	return nil, CompressionNone, fmt.Errorf("%w: it starts % x, which is not ELF, xz, gzip or bzip2", ErrCompression, payload[:n])
}

// unpackImage is unpackPayload for an image that is not a bzImage: there,
// an unknown start means the image is not a kernel at all.
func unpackImage(img []byte, limit int) ([]byte, Compression, error) {
	if !isELF(img) && !bytes.HasPrefix(img, xzMagic) && !bytes.HasPrefix(img, gzipMagic) && !bytes.HasPrefix(img, bzip2Magic) {
		n := min(len(img), 6)
		return nil, CompressionNone, fmt.Errorf("%w: it starts % x", ErrFormat, img[:n])
	}
	return unpackPayload(img, limit)
}

// sizeTrailer returns the little-endian 32-bit value in the last four bytes of
// a compressed payload. Linux appends the decompressed size there (gzip's
// ISIZE field is the same thing); Xen's bzimage_parse sizes its output by it.
// It is used only as an allocation hint and a cross-check.
func sizeTrailer(payload []byte) int {
	if len(payload) < 4 {
		return 0
	}
	return int(binary.LittleEndian.Uint32(payload[len(payload)-4:]))
}

// unxz decodes an XZ payload: one stream, then either nothing, stream padding,
// or Linux's 4-byte size trailer, which must match the output.
func unxz(payload []byte, limit int) ([]byte, error) {
	hint := sizeTrailer(payload)
	if hint > limit {
		hint = 0 // maybe no trailer; the decoder enforces the limit
	}
	out, n, err := xz.DecodeStream(payload, limit, hint)
	if err != nil {
		if errors.Is(err, xz.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrDecompress, err)
	}
	rest := payload[n:]
	if len(rest) > 0 && len(rest)%4 == 0 && allZero(rest) {
		return out, nil // stream padding
	}
	if err := checkTrailer(rest, len(out), "xz stream"); err != nil {
		return nil, err
	}
	return out, nil
}

// checkTrailer accepts what follows a compressed stream if it is nothing or
// Linux's 4-byte size trailer matching the output size.
func checkTrailer(rest []byte, size int, what string) error {
	switch {
	case len(rest) == 0:
		return nil
	case len(rest) != 4:
		return fmt.Errorf("%w: %d bytes follow the %s", ErrDecompress, len(rest), what)
	case binary.LittleEndian.Uint32(rest) != uint32(size):
		return fmt.Errorf("%w: the size trailer says %d bytes, the %s holds %d", ErrDecompress, binary.LittleEndian.Uint32(rest), what, size)
	}
	return nil
}

// gunzip decodes one gzip member, then checkTrailer. (Linux appends no size
// to a gzip payload, whose own ISIZE field is its last four bytes.)
func gunzip(payload []byte, limit int) ([]byte, error) {
	br := bytes.NewReader(payload)
	// bytes.Reader is an io.ByteReader, so the gzip reader takes exactly the
	// member's bytes from it and br.Len() is what follows.
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip: %v", ErrDecompress, err)
	}
	zr.Multistream(false)
	out, err := readLimited(zr, limit, sizeTrailer(payload), "gzip")
	if err != nil {
		return nil, err
	}
	if err := checkTrailer(payload[len(payload)-br.Len():], len(out), "gzip member"); err != nil {
		return nil, err
	}
	return out, nil
}

// bunzip2 decodes a bzip2 payload. Linux appends the decompressed size, which
// Go's bzip2 reader would take for a second stream, so a payload whose last
// four bytes give the size of what precedes them is decoded without them.
func bunzip2(payload []byte, limit int) ([]byte, error) {
	if n := len(payload) - 4; n > 0 {
		if want := sizeTrailer(payload); want <= limit {
			out, err := readLimited(bzip2.NewReader(bytes.NewReader(payload[:n])), limit, want, "bzip2")
			if err == nil && len(out) == want {
				return out, nil
			}
		}
	}
	return readLimited(bzip2.NewReader(bytes.NewReader(payload)), limit, 0, "bzip2")
}

// readLimited reads a decompressor to its end, failing once the output would
// exceed limit. hint, when plausible, sizes the first allocation only.
func readLimited(r io.Reader, limit, hint int, what string) ([]byte, error) {
	if hint <= 0 || hint > limit {
		hint = 64 << 10
	}
	var buf bytes.Buffer
	buf.Grow(hint + 1)
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrDecompress, what, err)
	}
	if n > int64(limit) {
		return nil, fmt.Errorf("%w: the %s payload decompresses to more than %d MiB", ErrTooLarge, what, limit>>20)
	}
	return buf.Bytes(), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
