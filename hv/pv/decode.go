package pv

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"
)

// decodeCache remembers the instructions the emulation decoded, by their
// bytes: a guest traps on a few instruction sites over and over (port I/O
// in its drivers, PCI configuration space), and x86asm.Decode, a walk of
// its decoding table, costs thousands of instructions (and allocates)
// where a hit costs a compare of at most 15 bytes. An entry is found by
// the instruction's address and used only if the bytes fetched now start
// with the bytes it was decoded from: an instruction's length and meaning
// depend on its own bytes alone, so a hit decodes exactly as Decode would.
// Owner: the vCPU's goroutine.
type decodeCache struct {
	e [decodeCacheSize]struct {
		n    int // the instruction's length; 0: empty
		b    [maxInsnLen]byte
		inst x86asm.Inst
	}
	hits, misses uint64
}

// decodeCacheSize is the number of entries (a power of two).
const decodeCacheSize = 32

// decode is x86asm.Decode(insn, 64) for the instruction fetched at rip.
func (c *decodeCache) decode(insn []byte, rip uint64) (x86asm.Inst, error) {
	e := &c.e[(rip^rip>>5)&(decodeCacheSize-1)]
	if e.n > 0 && e.n <= len(insn) && bytes.Equal(e.b[:e.n], insn[:e.n]) {
		c.hits++
		return e.inst, nil
	}
	c.misses++
	inst, err := x86asm.Decode(insn, 64)
	if err == nil && inst.Op != 0 && inst.Len > 0 && inst.Len <= len(insn) {
		e.n = inst.Len
		copy(e.b[:], insn[:inst.Len])
		e.inst = inst
	}
	return inst, err
}
