package pv

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/arch/x86/x86asm"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

// maxInsnLen is the longest x86 instruction.
const maxInsnLen = 15

// fep is the forced-emulation prefix: ud2; .ascii "xen".
var fep = [5]byte{0x0f, 0x0b, 'x', 'e', 'n'}

// fetch reads up to n bytes at va through the current mode's page tables.
// It returns how many it could read (a page boundary may end the read).
func (v *VCPU) fetch(buf []byte, va uint64) int {
	if v.Mem.CopyFromGuest(buf, mm.GuestVA(va), v.space()) {
		return len(buf)
	}
	for i := range buf {
		if !v.Mem.CopyFromGuest(buf[i:i+1], mm.GuestVA(va+uint64(i)), v.space()) {
			return i
		}
	}
	return len(buf)
}

// injectPF bounces a #PF the emulation itself took on guest memory.
func (v *VCPU) injectPF(r *arch.Regs, addr, errcode uint64) error {
	return v.InjectException(r, arch.VecPF, errcode, addr)
}

// done retires an emulated instruction of length n (Xen's
// pv_emul_instruction_done): RIP past it, RF cleared, and a single-step
// #DB if TF is set.
func (v *VCPU) done(r *arch.Regs, n int) error {
	r.RIP += uint64(n)
	r.RFLAGS &^= flagRF
	if r.RFLAGS&flagTF != 0 {
		v.DR6 |= 1<<14 | DR6Default // DR_STEP | reserved ones
		v.Changed |= ChangedDebug
		return v.InjectException(r, arch.VecDB, 0, 0)
	}
	return nil
}

// invalidOp handles #UD: the forced-emulation prefix followed by CPUID is
// emulated (RIP += 7); anything else is bounced as #UD.
func (v *VCPU) invalidOp(r *arch.Regs) error {
	var b [len(fep) + 2]byte
	n := v.fetch(b[:len(fep)], r.RIP)
	if n < len(fep) {
		return v.injectPF(r, r.RIP+uint64(n), 0)
	}
	if !bytes.Equal(b[:len(fep)], fep[:]) {
		return v.InjectException(r, arch.VecUD, 0, 0)
	}
	addr := r.RIP + uint64(len(fep))
	n = v.fetch(b[len(fep):], addr)
	if n < 2 {
		return v.injectPF(r, addr+uint64(n), 0)
	}
	if b[5] != 0x0f || b[6] != 0xa2 {
		return v.InjectException(r, arch.VecUD, 0, 0)
	}
	if v.CPUIDFaulting && !v.kernel {
		r.RIP = addr
		return v.InjectException(r, arch.VecGP, 0, 0)
	}
	a, bb, c, d := v.CPUID(uint32(r.RAX), uint32(r.RCX))
	r.RAX, r.RBX, r.RCX, r.RDX = uint64(a), uint64(bb), uint64(c), uint64(d)
	return v.done(r, len(fep)+2)
}

// generalProtection handles #GP. INT n (decided from the instruction, not
// the error code) is delivered if the trap table entry's DPL allows it
// from the current mode, otherwise #GP with error code (n<<3)|2 goes to
// the guest. With error code 0 the privileged-instruction emulation runs;
// whatever it does not handle is bounced as the original #GP. At a RIP
// the guest may not use (non-canonical, as after an iret there, or in
// the hypervisor's range) nothing is fetched: #GP(0), as Xen's emulator
// answers its instruction fetch (pv_emul_virt_to_linear).
func (v *VCPU) generalProtection(r *arch.Regs, ec uint64) error {
	const ext, idt = 1, 2
	if ec&ext != 0 || ec != 0 && ec&idt == 0 {
		return v.InjectException(r, arch.VecGP, ec, 0)
	}
	if ec == 0 && !mm.GuestAddrOK(mm.GuestVA(r.RIP)) {
		return v.InjectException(r, arch.VecGP, 0, 0)
	}
	var buf [maxInsnLen]byte
	n := v.fetch(buf[:], r.RIP)
	insn := buf[:n]
	if vec, l, ok := softInt(insn); ok {
		switch vec {
		case arch.VecBP, arch.VecDB:
			// INT3 and INT1: their gates are open to every mode.
			r.RIP += uint64(l)
			return v.injectSoftInt(r, vec)
		}
		dpl := v.Traps[vec].Flags & tiDPLMask
		need := uint8(3)
		if v.kernel {
			need = 1
		}
		if dpl >= need {
			r.RIP += uint64(l)
			return v.injectSoftInt(r, vec)
		}
		return v.InjectException(r, arch.VecGP, uint64(vec)<<3|idt, 0)
	}
	if ec != 0 {
		return v.InjectException(r, arch.VecGP, ec, 0)
	}
	inst, err := v.decoded.decode(insn, r.RIP)
	if err != nil || inst.Op == 0 || inst.Len <= 0 || inst.Len > n {
		// Undecodable: either cut short by an unreadable byte (the fetch
		// faults there) or not an instruction at all.
		if n < maxInsnLen {
			return v.injectPF(r, r.RIP+uint64(n), arch.PFErrFetch)
		}
		return v.InjectException(r, arch.VecGP, 0, 0)
	}
	if l, ok := movCRDRLen(insn); ok {
		// x86asm decodes MOV to/from CR/DR with a memory-form ModRM as if
		// it had a SIB byte and displacement; the CPU ignores the mod
		// field, so the instruction ends right after the ModRM byte.
		inst.Len = l
	}
	return v.privOp(r, &inst)
}

// prefixLen returns how many legacy and REX prefix bytes b starts with.
func prefixLen(b []byte) int {
	i := 0
	for i < len(b) && i < maxInsnLen {
		switch c := b[i]; {
		case c == 0x26 || c == 0x2e || c == 0x36 || c == 0x3e || c == 0x64 || c == 0x65 ||
			c == 0x66 || c == 0x67 || c == 0xf0 || c == 0xf2 || c == 0xf3 || c&0xf0 == 0x40:
			i++
			continue
		}
		break
	}
	return i
}

// movCRDRLen returns the architectural length of MOV to/from CRn/DRn
// (0F 20-23 /r): the prefixes, two opcode bytes and the ModRM byte.
func movCRDRLen(b []byte) (int, bool) {
	p := prefixLen(b)
	if p+3 > len(b) || b[p] != 0x0f || b[p+1] < 0x20 || b[p+1] > 0x23 {
		return 0, false
	}
	return p + 3, true
}

// softInt recognises INT n (CD ib), INT3 (CC) and INT1 (F1) after any
// legacy and REX prefixes, returning the vector and the instruction
// length. (INTO, CE, is invalid in 64-bit mode and arrives as #UD.)
func softInt(b []byte) (vec uint8, n int, ok bool) {
	i := prefixLen(b)
	if i >= len(b) {
		return 0, 0, false
	}
	switch b[i] {
	case 0xcc:
		return arch.VecBP, i + 1, true
	case 0xf1:
		return arch.VecDB, i + 1, true
	case 0xcd:
		if i+1 < len(b) && i+2 <= maxInsnLen {
			return b[i+1], i + 2, true
		}
	}
	return 0, 0, false
}

// privOp emulates one decoded instruction at RIP (Xen's
// pv_emulate_privileged_op); unhandled ones bounce the original #GP.
func (v *VCPU) privOp(r *arch.Regs, in *x86asm.Inst) error {
	gp := func() error { return v.InjectException(r, arch.VecGP, 0, 0) }
	kernelOnly := func() bool { return v.kernel }
	switch in.Op {
	case x86asm.CLI, x86asm.STI:
		if !v.ioplOK() {
			return gp()
		}
		return v.done(r, in.Len)
	case x86asm.IN, x86asm.OUT, x86asm.INSB, x86asm.INSW, x86asm.INSD,
		x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		return v.portIO(r, in)
	case x86asm.CPUID:
		// Only reaches here when the metal runs the guest with real CPUID
		// faulting; the guest's own faulting leaves user mode's #GP alone.
		if v.CPUIDFaulting && !v.kernel {
			return gp()
		}
		a, b, c, d := v.CPUID(uint32(r.RAX), uint32(r.RCX))
		r.RAX, r.RBX, r.RCX, r.RDX = uint64(a), uint64(b), uint64(c), uint64(d)
		return v.done(r, in.Len)
	}
	if !kernelOnly() {
		return gp()
	}
	switch in.Op {
	case x86asm.RDMSR:
		val, e := v.readMSR(r, uint32(r.RCX))
		if e != nil {
			return e(r)
		}
		r.RAX, r.RDX = val&0xffffffff, val>>32
		return v.done(r, in.Len)
	case x86asm.WRMSR:
		if e := v.writeMSR(r, uint32(r.RCX), r.RDX<<32|r.RAX&0xffffffff); e != nil {
			return e(r)
		}
		return v.done(r, in.Len)
	case x86asm.CLTS:
		v.TS = false
		v.Changed |= ChangedTS
		return v.done(r, in.Len)
	case x86asm.WBINVD:
		if v.Dom != nil && v.Dom.HardwareDomain() {
			v.Dom.WBINVD()
		}
		return v.done(r, in.Len)
	case x86asm.XSETBV:
		return v.xsetbv(r, in)
	case x86asm.MOV:
		return v.movCRDR(r, in)
	}
	return gp()
}

// fault is an exception an emulated access raises.
type fault func(r *arch.Regs) error

func (v *VCPU) gpFault() fault {
	return func(r *arch.Regs) error { return v.InjectException(r, arch.VecGP, 0, 0) }
}

// gpr returns the 64-bit general-purpose register reg names.
func gpr(r *arch.Regs, reg x86asm.Reg) *uint64 {
	switch reg {
	case x86asm.RAX:
		return &r.RAX
	case x86asm.RCX:
		return &r.RCX
	case x86asm.RDX:
		return &r.RDX
	case x86asm.RBX:
		return &r.RBX
	case x86asm.RSP:
		return &r.RSP
	case x86asm.RBP:
		return &r.RBP
	case x86asm.RSI:
		return &r.RSI
	case x86asm.RDI:
		return &r.RDI
	case x86asm.R8:
		return &r.R8
	case x86asm.R9:
		return &r.R9
	case x86asm.R10:
		return &r.R10
	case x86asm.R11:
		return &r.R11
	case x86asm.R12:
		return &r.R12
	case x86asm.R13:
		return &r.R13
	case x86asm.R14:
		return &r.R14
	case x86asm.R15:
		return &r.R15
	}
	return nil
}

// CR0 bits.
const cr0TS = 1 << 3

// movCRDR emulates MOV to/from CR0, CR2, CR3, CR4 and DR0-7.
func (v *VCPU) movCRDR(r *arch.Regs, in *x86asm.Inst) error {
	dst, _ := in.Args[0].(x86asm.Reg)
	src, _ := in.Args[1].(x86asm.Reg)
	gp := func() error { return v.InjectException(r, arch.VecGP, 0, 0) }
	switch {
	case src >= x86asm.CR0 && src <= x86asm.CR15:
		p := gpr(r, dst)
		if p == nil {
			return gp()
		}
		val, ok := v.readCR(int(src - x86asm.CR0))
		if !ok {
			return gp()
		}
		*p = val
	case dst >= x86asm.CR0 && dst <= x86asm.CR15:
		p := gpr(r, src)
		if p == nil {
			return gp()
		}
		switch int(dst - x86asm.CR0) {
		case 0:
			if (*p^v.hostCR0())&^cr0TS != 0 {
				return gp()
			}
			v.TS = *p&cr0TS != 0
			v.Changed |= ChangedTS
		case 3:
			if v.Dom == nil {
				return gp()
			}
			switch v.Dom.NewBasePtr(mm.MFN(*p >> mm.PageShift)) {
			case 0:
			case abi.ERESTART:
				return nil // retry the instruction
			default:
				return gp()
			}
		case 4:
			v.CR4 = v.Policy.FixupCR4(*p)
			v.Changed |= ChangedCR4
		default:
			return gp()
		}
	case src >= x86asm.DR0 && src <= x86asm.DR7:
		p := gpr(r, dst)
		if p == nil {
			return gp()
		}
		val, e := v.GetDebugReg(int(src - x86asm.DR0))
		if e == abi.ENODEV {
			return v.InjectException(r, arch.VecUD, 0, 0)
		} else if e != 0 {
			return gp()
		}
		*p = val
	case dst >= x86asm.DR0 && dst <= x86asm.DR7:
		p := gpr(r, src)
		if p == nil {
			return gp()
		}
		switch v.SetDebugReg(int(dst-x86asm.DR0), *p) {
		case 0:
		case abi.ENODEV:
			return v.InjectException(r, arch.VecUD, 0, 0)
		default:
			return gp()
		}
	default:
		return gp()
	}
	return v.done(r, in.Len)
}

func (v *VCPU) hostCR0() uint64 {
	if v.Policy == nil {
		return 0
	}
	return v.Policy.cfg.CR0
}

// readCR is the guest's view of CRn: CR0 with the virtual TS, the virtual
// CR2, CR3 = the kernel L4's MFN << 12, the virtual CR4.
func (v *VCPU) readCR(n int) (uint64, bool) {
	switch n {
	case 0:
		val := v.hostCR0() &^ cr0TS
		if v.TS {
			val |= cr0TS
		}
		return val, true
	case 2:
		return v.CR2, true
	case 3:
		if v.Tables == nil {
			return 0, true
		}
		return uint64(v.Tables.Kernel) << mm.PageShift, true
	case 4:
		return v.CR4, true
	}
	return 0, false
}

// XCR0 components.
const (
	xcr0X87    = 1 << 0
	xcr0SSE    = 1 << 1
	xcr0AVX    = 1 << 2
	xcr0BNDREG = 1 << 3
	xcr0BNDCSR = 1 << 4
	xcr0Opmask = 1 << 5
	xcr0ZMM    = 1 << 6
	xcr0HiZMM  = 1 << 7
)

// ValidXCR0 reports whether x may be loaded into XCR0 given the largest
// allowed value max (Xen's valid_xcr0 plus the policy bound).
func ValidXCR0(x, max uint64) bool {
	if x&^max != 0 || x&xcr0X87 == 0 {
		return false
	}
	if x&xcr0AVX != 0 && x&xcr0SSE == 0 {
		return false
	}
	const avx512 = xcr0Opmask | xcr0ZMM | xcr0HiZMM
	if x&avx512 != 0 && (x&avx512 != avx512 || x&xcr0AVX == 0) {
		return false
	}
	if (x&xcr0BNDREG == 0) != (x&xcr0BNDCSR == 0) {
		return false
	}
	return true
}

// xsetbv emulates XSETBV (0F 01 D1): only XCR0, only with the guest's
// CR4.OSXSAVE, validated against the host's XCR0.
func (v *VCPU) xsetbv(r *arch.Regs, in *x86asm.Inst) error {
	if v.CR4&cr4OSXSAVE == 0 || v.Policy == nil || !v.Policy.xsave {
		return v.InjectException(r, arch.VecUD, 0, 0)
	}
	x := r.RDX<<32 | r.RAX&0xffffffff
	if uint32(r.RCX) != 0 || !ValidXCR0(x, v.Policy.xcr0Max) {
		return v.InjectException(r, arch.VecGP, 0, 0)
	}
	v.XCR0 = x
	v.Changed |= ChangedXCR0
	return v.done(r, in.Len)
}

// iopl is the IOPL check: guest kernel counts as ring 1 (ring 0 with
// architectural_iopl), guest user as ring 3.
func (v *VCPU) ioplOK() bool {
	cpl := uint64(3)
	if v.kernel {
		cpl = 1
		if v.Dom != nil && v.Dom.ArchitecturalIOPL() {
			cpl = 0
		}
	}
	return cpl<<12 <= v.IOPL&flagIOPL
}

// ioOK is Xen's guest_io_okay: IOPL, or the guest's I/O bitmap (read
// through the kernel page tables; unreadable bytes deny).
func (v *VCPU) ioOK(port uint16, size int) bool {
	if v.ioplOK() {
		return true
	}
	if uint32(port)+uint32(size) > v.IOBitmapPorts {
		return false
	}
	var b [2]byte
	for i := range b {
		if !v.Mem.CopyFromGuest(b[i:i+1], v.IOBitmap+mm.GuestVA(port>>3)+mm.GuestVA(i), KernelSpace) {
			b[i] = 0xff
		}
	}
	bits := uint32(binary.LittleEndian.Uint16(b[:]))
	return bits&((1<<size-1)<<(port&7)) == 0
}

// maxRep bounds a REP INS/OUTS per exit.
const maxRep = 4096

func regSize(a x86asm.Arg) int {
	switch a {
	case x86asm.AL:
		return 1
	case x86asm.AX:
		return 2
	case x86asm.EAX:
		return 4
	}
	return 0
}

// portIO emulates IN, OUT, INS and OUTS. Allowed by IOPL or the I/O
// bitmap: the domain's In or Out gives the access its effect (the
// hardware, the hypervisor's mediation, or all ones and nothing). Not
// allowed: the original #GP.
func (v *VCPU) portIO(r *arch.Regs, in *x86asm.Inst) error {
	var port uint16
	size := 0
	portArg := func(a x86asm.Arg) bool {
		switch a := a.(type) {
		case x86asm.Reg:
			if a != x86asm.DX {
				return false
			}
			port = uint16(r.RDX)
		case x86asm.Imm:
			port = uint16(a)
		default:
			return false
		}
		return true
	}
	str := false
	switch in.Op {
	case x86asm.IN:
		size = regSize(in.Args[0])
		if !portArg(in.Args[1]) {
			size = 0
		}
	case x86asm.OUT:
		size = regSize(in.Args[1])
		if !portArg(in.Args[0]) {
			size = 0
		}
	case x86asm.INSB, x86asm.OUTSB:
		size, port, str = 1, uint16(r.RDX), true
	case x86asm.INSW, x86asm.OUTSW:
		size, port, str = 2, uint16(r.RDX), true
	case x86asm.INSD, x86asm.OUTSD:
		size, port, str = 4, uint16(r.RDX), true
	}
	if size == 0 || !v.ioOK(port, size) {
		return v.InjectException(r, arch.VecGP, 0, 0)
	}
	mask := uint32(1)<<(8*size) - 1
	if size == 4 {
		mask = 0xffffffff
	}
	read := func() uint32 {
		if v.Dom != nil {
			return v.Dom.In(port, size) & mask
		}
		return mask
	}
	write := func(x uint32) {
		if v.Dom != nil {
			v.Dom.Out(port, size, x&mask)
		}
	}
	// I/O breakpoints are matched here, as Xen's
	// check_guest_io_breakpoint: after the access, a #DB trap with the
	// matching B0-B3 in DR6 (added to the single-step one if TF is set).
	match := v.ioBreakpoints(port, size)
	tf := r.RFLAGS&flagTF != 0
	var err error
	if !str {
		err = v.portIOSingle(r, in, size, read, write)
	} else {
		err = v.stringIO(r, in, size, read, write)
	}
	if err != nil || match == 0 {
		return err
	}
	v.DR6 |= match | DR6Default
	if tf {
		return nil
	}
	return v.InjectException(r, arch.VecDB, 0, 0)
}

// ioBreakpoints returns the DR6 B0-B3 bits of the I/O breakpoints an
// access to [port, port+size) hits: only with CR4.DE, only those enabled
// in DR7Emul (R/W 10b), the port range DRn..DRn+len-1 with LEN 00, 01,
// 11, 10 giving 1, 2, 4, 8 bytes.
func (v *VCPU) ioBreakpoints(port uint16, size int) uint64 {
	if v.CR4&cr4DE == 0 || v.DR7Emul == 0 {
		return 0
	}
	var match uint64
	for i := 0; i < 4; i++ {
		if v.DR7Emul&(3<<(2*i)) == 0 {
			continue
		}
		ctl := v.DR7 >> (dr7ControlBase + 4*i)
		if ctl&3 != dr7IO {
			continue
		}
		width := [4]uint64{1, 2, 8, 4}[ctl>>2&3]
		if start := v.DR[i]; start < uint64(port)+uint64(size) && start+width > uint64(port) {
			match |= 1 << i
		}
	}
	return match
}

// portIOSingle performs IN or OUT and retires it.
func (v *VCPU) portIOSingle(r *arch.Regs, in *x86asm.Inst, size int, read func() uint32, write func(uint32)) error {
	if in.Op == x86asm.IN {
		x := uint64(read())
		switch size {
		case 1:
			r.RAX = r.RAX&^0xff | x
		case 2:
			r.RAX = r.RAX&^0xffff | x
		case 4:
			r.RAX = x
		}
	} else {
		write(uint32(r.RAX))
	}
	return v.done(r, in.Len)
}

// stringIO runs INS/OUTS, with REP, at most maxRep iterations per exit.
func (v *VCPU) stringIO(r *arch.Regs, in *x86asm.Inst, size int, read func() uint32, write func(uint32)) error {
	rep, addr32, seg := false, in.AddrSize == 32, uint64(0)
	for _, p := range in.Prefix {
		switch p &^ (x86asm.PrefixImplicit | x86asm.PrefixIgnored) {
		case x86asm.PrefixREP, x86asm.PrefixREPN:
			rep = true
		case x86asm.PrefixFS:
			seg = r.FSBase
		case x86asm.PrefixGS:
			seg = r.GSBase
		}
	}
	isIns := in.Op == x86asm.INSB || in.Op == x86asm.INSW || in.Op == x86asm.INSD
	trunc := func(x uint64) uint64 {
		if addr32 {
			return x & 0xffffffff
		}
		return x
	}
	step := uint64(size)
	if r.RFLAGS&flagDF != 0 {
		step = -step
	}
	count := uint64(1)
	if rep {
		count = trunc(r.RCX)
	}
	var b [4]byte
	for i := 0; count > 0 && i < maxRep; i++ {
		if isIns {
			va := trunc(r.RDI) // ES base is 0 in 64-bit mode
			binary.LittleEndian.PutUint32(b[:], read())
			if !v.Mem.CopyToGuest(mm.GuestVA(va), b[:size], v.space()) {
				return v.injectPF(r, va, arch.PFErrPresent|arch.PFErrWrite)
			}
			r.RDI = trunc(r.RDI + step)
		} else {
			va := seg + trunc(r.RSI)
			if !v.Mem.CopyFromGuest(b[:size], mm.GuestVA(va), v.space()) {
				return v.injectPF(r, va, arch.PFErrPresent)
			}
			write(binary.LittleEndian.Uint32(b[:]))
			r.RSI = trunc(r.RSI + step)
		}
		count--
		if rep {
			r.RCX = count // a 32-bit ECX write zero-extends too
		}
	}
	if count > 0 {
		return nil // re-executed with the remaining count
	}
	return v.done(r, in.Len)
}
