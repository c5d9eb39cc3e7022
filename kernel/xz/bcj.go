package xz

import "encoding/binary"

// The x86 BCJ ("branch/call/jump") filter.
//
// x86 code is full of CALL rel32 (E8) and JMP rel32 (E9) instructions whose
// 32-bit operand is relative to the next instruction. Calls to one function
// from many places carry many different relative operands; the encoder makes
// them absolute (operand + position of the next instruction) so they repeat and
// compress well, and the decoder subtracts the position again.
//
// Because the filter does not disassemble, it guesses which E8/E9 bytes start
// real instructions, and the decoder must repeat exactly the encoder's guesses:
//
//   - Only an operand whose most significant byte (the fifth byte of the
//     instruction) is 0x00 or 0xFF is converted: small forward or backward
//     displacements. After conversion that byte is rewritten as 0x00 or 0xFF
//     from bit 24 of the result, so the decoder sees the same class of byte.
//   - The filter keeps a small history of E8/E9 bytes it declined in the last
//     three positions (bits 1..3 of hist, bit 1 the most recent) together with
//     whether each declined candidate's fifth byte was 0x00/0xFF (bits 5..7).
//     A candidate is converted only if at most one declined candidate lies
//     in the last three positions (allowedHistory) and no declined candidate
//     there had a 0x00/0xFF fifth byte.
//   - If any declined candidate is close behind, the operand may overlap
//     bytes that were themselves considered as an opcode; the conversion
//     is then repeated while the byte at the overlap position would again look
//     like a displacement's top byte, flipping the bits below it. This keeps
//     the transform invertible.
//   - A converted instruction is skipped whole (five bytes) and clears the
//     history; a declined candidate advances one byte.
//
// Positions are stream positions: the block's start offset (a filter
// property, 0 by default) plus the index in the block's uncompressed data.
// The last four bytes of a block are never the start of a converted
// instruction, since no full operand follows them.

// allowedHistory[h] reports whether a candidate may be converted when the
// three-bit declined-candidate history (bits 1..3 of hist, shifted down) is h.
var allowedHistory = [8]bool{true, true, true, false, true, false, false, false}

// overlapByte[h] is the index (0..3, counted from the operand's top byte) of
// the operand byte that a declined candidate at history h overlaps.
var overlapByte = [8]uint{0, 1, 2, 2, 3, 3, 3, 3}

// msByte reports whether b is a plausible top byte of a small displacement.
func msByte(b byte) bool { return b == 0x00 || b == 0xff }

// X86Decode reverses the x86 BCJ filter in place on buf, the whole
// uncompressed data of one block, whose first byte is at stream position
// start. It returns how many bytes from the start were examined; the rest
// (at most four bytes) cannot hold an instruction and are left as they are.
// It reads and writes only buf.
func X86Decode(buf []byte, start uint32) int {
	return x86Filter(buf, start, false)
}

// x86Filter applies the x86 BCJ transform to the whole of buf: encode
// converts relative operands to absolute ones, decode the reverse.
func x86Filter(buf []byte, start uint32, encode bool) int {
	var s x86State
	s.reset(start)
	return s.filter(buf, encode)
}

// x86State is the x86 BCJ filter between pieces of one block's data.
type x86State struct {
	pos  uint32 // stream position of the next piece's first byte
	hist uint32 // see the description above
	last int    // index of the last candidate examined, relative to the next piece
}

// reset starts a block whose first byte is at stream position start.
func (s *x86State) reset(start uint32) {
	*s = x86State{pos: start, last: -5} // -5: no candidate close behind
}

// filter transforms buf, the next piece of the block, in place. It returns
// how many leading bytes are final; the others (at most four, which cannot
// yet be told apart from an instruction's start) must begin the next piece,
// or at the block's end be left as they are. Pieces of any size give the
// bytes one call on the whole block would.
func (s *x86State) filter(buf []byte, encode bool) int {
	hist, last := s.hist, s.last
	i := 0
	for i <= len(buf)-5 {
		// Skip eight bytes at a time while none is E8 or E9: x has a
		// zero byte where the byte, bit 0 cleared, was E8.
		for i+8 <= len(buf)-4 {
			x := binary.LittleEndian.Uint64(buf[i:])&0xfefefefefefefefe ^ 0xe8e8e8e8e8e8e8e8
			if (x-0x0101010101010101)&^x&0x8080808080808080 != 0 {
				break
			}
			i += 8
		}
		if i > len(buf)-5 {
			break
		}
		if op := buf[i]; op != 0xe8 && op != 0xe9 {
			i++
			continue
		}
		// Age the history by the distance to the previous candidate: each
		// step moves the flags one position back; a flag older than three
		// positions falls out (mask 0x77 keeps bits 0-2 and 4-6 before the
		// shift, so bits 1-3 and 5-7 hold the last three positions).
		if d := i - last; d > 5 {
			hist = 0
		} else {
			for k := 0; k < d; k++ {
				hist = (hist & 0x77) << 1
			}
		}
		last = i

		top := buf[i+4]
		if msByte(top) && allowedHistory[(hist>>1)&7] && hist>>1 < 0x10 {
			pos := s.pos + uint32(i) + 5 // position of the next instruction (mod 2^32)
			v := binary.LittleEndian.Uint32(buf[i+1 : i+5])
			var r uint32
			for {
				if encode {
					r = v + pos
				} else {
					r = v - pos
				}
				if hist == 0 {
					break
				}
				shift := 24 - 8*overlapByte[hist>>1]
				if !msByte(byte(r >> shift)) {
					break
				}
				v = r ^ (uint32(1)<<(shift+8) - 1)
			}
			// Bits 0-23 as computed; the top byte is bit 24 sign-extended.
			r &= 0x01ffffff
			if r&0x01000000 != 0 {
				r |= 0xff000000
			} else {
				r &= 0x00ffffff
			}
			binary.LittleEndian.PutUint32(buf[i+1:i+5], r)
			i += 5
			hist = 0
			continue
		}
		i++
		hist |= 1
		if msByte(top) {
			hist |= 0x10
		}
	}
	s.hist, s.pos = hist, s.pos+uint32(i)
	// Keep last bounded: anything more than five back means "far away".
	s.last = max(last-i, -6)
	return i
}
