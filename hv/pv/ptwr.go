package pv

import (
	"math/bits"

	"golang.org/x/arch/x86/x86asm"

	"github.com/gohv/gohv/arch"
)

// Writable page tables (Xen's ptwr emulation). A PV kernel may write an
// entry of one of its own L1 tables with an ordinary instruction — MOV,
// XCHG, CMPXCHG, AND/OR/XOR, BTR/BTS/BTC — although the table is mapped
// read-only: the write faults, and the hypervisor decodes the instruction,
// computes the new entry, has the PV MMU check it as mmu_update would, and
// performs it atomically (compare-and-exchange against the value the
// instruction saw) before retiring the instruction.

// PTResult is the PV MMU's verdict on one emulated entry write.
type PTResult uint8

const (
	PTDone    PTResult = iota // written
	PTRetry                   // the entry changed meanwhile: recompute
	PTRefused                 // not a valid L1 update: the #PF goes to the guest
)

// PTWriter is the PV MMU as the emulation needs it (hv implements it over
// mm.Space). All addresses are machine addresses of 8-byte entries.
type PTWriter interface {
	// L1Entry translates va through the vCPU's kernel page tables and
	// reports the machine address it maps if that lies in one of the
	// domain's validated L1 tables.
	L1Entry(va uint64) (ma uint64, ok bool)
	// ReadPTE reads the entry at ma.
	ReadPTE(ma uint64) (uint64, bool)
	// WritePTE replaces old by nv at ma after checking nv.
	WritePTE(ma, old, nv uint64) PTResult
}

// Page-fault error-code bits.
const (
	pfPresent = 1 << 0
	pfWrite   = 1 << 1
)

// sizedReg returns the 64-bit register behind reg and the operand size
// (8, 4, 2 or 1 bytes) the name gives it; nil for anything else, and for
// AH, CH, DH and BH, which name bits 8-15 (no PTE update uses them).
func sizedReg(r *arch.Regs, reg x86asm.Reg) (*uint64, int) {
	switch {
	case gpr(r, reg) != nil:
		return gpr(r, reg), 8
	case reg >= x86asm.EAX && reg <= x86asm.R15L:
		return gpr(r, reg-x86asm.EAX+x86asm.RAX), 4
	case reg >= x86asm.AX && reg <= x86asm.R15W:
		return gpr(r, reg-x86asm.AX+x86asm.RAX), 2
	case reg >= x86asm.AL && reg <= x86asm.BL:
		return gpr(r, reg-x86asm.AL+x86asm.RAX), 1
	case reg >= x86asm.SPB && reg <= x86asm.R15B:
		return gpr(r, reg-x86asm.SPB+x86asm.RSP), 1
	}
	return nil, 0
}

// setSized stores val, an operand of size bytes, into the register p as
// the CPU does: a 4-byte result zero-extends, 1- and 2-byte ones leave the
// register's other bits as they were.
func setSized(p *uint64, val uint64, size int) {
	if size >= 4 {
		*p = val
		return
	}
	mask := uint64(1)<<(8*size) - 1
	*p = *p&^mask | val&mask
}

// PageTableWrite handles a write #PF (exit e) from guest kernel mode on a
// page of the guest's L1 tables. handled false means the fault is not
// such a write (or the instruction is not one gohv emulates, or the new
// entry is refused): the caller bounces the #PF to the guest.
func (v *VCPU) PageTableWrite(r *arch.Regs, e arch.Exit) (handled bool, err error) {
	if v.PT == nil || !v.kernel || e.ErrorCode&(pfPresent|pfWrite) != pfPresent|pfWrite {
		return false, nil
	}
	ma, ok := v.PT.L1Entry(e.CR2)
	if !ok {
		return false, nil
	}
	var b [maxInsnLen]byte
	n := v.fetch(b[:], r.RIP)
	in, derr := v.decoded.decode(b[:n], r.RIP)
	if derr != nil {
		return false, nil
	}
	mem, ok := in.Args[0].(x86asm.Mem)
	if !ok { // XCHG may name the memory operand second
		if m2, ok2 := in.Args[1].(x86asm.Mem); ok2 && in.Op == x86asm.XCHG {
			in.Args[0], in.Args[1] = m2, in.Args[0]
			mem = m2
		} else {
			return false, nil
		}
	}
	if mem.Segment == x86asm.FS || mem.Segment == x86asm.GS {
		return false, nil // FS/GS-relative: not how a kernel names its page tables
	}
	// (A DS, ES, SS or CS override means nothing in 64-bit mode: Linux's
	// clear_bit on a PTE is "ds and byte [r12], 0xfd".) Byte, word and
	// dword writes change their part of the 8-byte entry, which is checked
	// whole, as Xen's ptwr_emulated_update merges a partial write.
	size := in.MemBytes
	entry, off := ma&^7, ma&7
	if size != 1 && size != 2 && size != 4 && size != 8 || off+uint64(size) > 8 {
		return false, nil
	}
	shift := uint(off * 8)
	mask := ^uint64(0)
	if size < 8 {
		mask = uint64(1)<<(8*size) - 1
	}
	src := func() (uint64, bool) {
		switch a := in.Args[1].(type) {
		case x86asm.Reg:
			p, _ := sizedReg(r, a)
			if p == nil {
				return 0, false
			}
			return *p & mask, true
		case x86asm.Imm:
			return uint64(int64(a)) & mask, true
		}
		return 0, false
	}
	for tries := 0; tries < 16; tries++ {
		old, ok := v.PT.ReadPTE(entry)
		if !ok {
			return false, nil
		}
		cur := old >> shift & mask
		var val uint64
		write := true
		var after func()
		switch in.Op {
		case x86asm.MOV:
			s, ok := src()
			if !ok {
				return false, nil
			}
			val = s
		case x86asm.XCHG:
			p, _ := sizedReg(r, in.Args[1].(x86asm.Reg))
			if p == nil {
				return false, nil
			}
			val = *p & mask
			after = func() { setSized(p, cur, size) }
		case x86asm.CMPXCHG:
			p, _ := sizedReg(r, in.Args[1].(x86asm.Reg))
			if p == nil {
				return false, nil
			}
			if cur != r.RAX&mask {
				write = false
				after = func() { setSized(&r.RAX, cur, size); r.RFLAGS &^= flagZF }
			} else {
				val = *p & mask
				after = func() { r.RFLAGS |= flagZF }
			}
		case x86asm.AND, x86asm.OR, x86asm.XOR:
			s, ok := src()
			if !ok {
				return false, nil
			}
			switch in.Op {
			case x86asm.AND:
				val = cur & s
			case x86asm.OR:
				val = cur | s
			default:
				val = cur ^ s
			}
			res := val
			after = func() { setLogicFlags(r, res, size) }
		case x86asm.BTR, x86asm.BTS, x86asm.BTC:
			s, ok := src()
			if !ok || s >= uint64(size*8) {
				return false, nil // bit strings beyond the operand: not in a PTE
			}
			bit := uint64(1) << s
			set := cur&bit != 0
			switch in.Op {
			case x86asm.BTR:
				val = cur &^ bit
			case x86asm.BTS:
				val = cur | bit
			default:
				val = cur ^ bit
			}
			after = func() {
				if set {
					r.RFLAGS |= flagCF
				} else {
					r.RFLAGS &^= flagCF
				}
			}
		default:
			return false, nil
		}
		if write {
			nv := old&^(mask<<shift) | val<<shift
			switch v.PT.WritePTE(entry, old, nv) {
			case PTRetry:
				continue
			case PTRefused:
				return false, nil
			}
		}
		if after != nil {
			after()
		}
		return true, v.done(r, in.Len)
	}
	return false, nil
}

// RFLAGS arithmetic bits besides bounce.go's CF and OF.
const (
	flagPF = 1 << 2
	flagZF = 1 << 6
	flagSF = 1 << 7
)

// setLogicFlags sets the flags AND/OR/XOR leave: CF and OF clear, ZF, SF
// and PF from the result.
func setLogicFlags(r *arch.Regs, res uint64, size int) {
	f := r.RFLAGS &^ (flagCF | flagOF | flagZF | flagSF | flagPF)
	if res == 0 {
		f |= flagZF
	}
	if res>>(uint(size)*8-1)&1 != 0 {
		f |= flagSF
	}
	if bits.OnesCount8(uint8(res))%2 == 0 {
		f |= flagPF
	}
	r.RFLAGS = f
}
