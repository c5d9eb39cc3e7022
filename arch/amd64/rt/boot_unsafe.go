package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
)

const (
	// The image loads at physical textPA and runs at textBase (-T in the
	// Makefile; TEXT_PA in entry_amd64.s).
	textPA   = 0x200000
	textBase = imageOffset + textPA

	mb1Magic = 0x2BADB002
	mb2Magic = 0x36D76289
	pvhMagic = 0x336EC578

	mib = 1 << 20
)

var (
	bootMagic uint32 // EAX at entry32
	bootInfo  uint32 // EBX at entry32
	bootStack [64 << 10]byte
	bootPT    [8 * pageSize]byte // entry32's tables (one page of alignment slack)
	fakeTLS   [4]uint64
	m0Stack   [256 << 10]byte // the runtime's initial (m0/g0) stack
	randBytes [16]byte
	// initFX is the vector state the CPU had at boot (FCW 0x37F, MXCSR
	// 0x1F80, registers zero): a new vCPU's first FPU image.
	initFX [512 + 16]byte

	// Physical ranges kmain must not hand to the heap: the image, boot
	// information and modules. Filled by scanBootInfo.
	bootExcl  [40][2]uint64
	nBootExcl int
	ramTop    uint64 // end of the RAM run that starts at 1 MiB (below 4 GiB)
	maxModule uint64 // size of the largest boot module
	bootErr   string

	argv0 = [8]byte{'g', 'o', 'h', 'v'}
)

// kmain brings the machine from entry64 to the point where the Go runtime
// can start, and returns the initial process stack pointer for
// _rt0_amd64_linux. Context: boot stack, interrupts off, no runtime.
//
//go:nosplit
func kmain() uintptr {
	cpuInit(0)
	serialInit(0x3f8, 115200, 0x03)
	puts0("\n") // end whatever line the firmware left open
	if asmAddrs[5] != textBase {
		xputs("gohv: image linked at the wrong address (TEXT_BASE)\n")
		amd64.Halt()
	}
	if imagePA(asmAddrs[6]) > imageMax {
		xputs("gohv: image larger than its window\n")
		amd64.Halt()
	}
	if n := segFixup[1] - segFixup[0]; segFixup[0] == 0 || n == 0 || n > 256 {
		xputs("gohv: the guest selector loads are not where the fault fixup looks\n")
		amd64.Halt()
	}
	detectCPU()
	scanBootInfo()
	if bootErr != "" {
		xputs("gohv: ")
		xputs(bootErr)
		xputs("\n")
		amd64.Halt()
	}
	chooseHeap()
	buildPageTables()
	amd64.Wrmsr(amd64.MSR_PAT, 0x0000050100070406) // Xen's PAT layout
	initDescriptors()
	calibrateTSC()
	readRTC()
	rngState = amd64.Rdtsc() | 1
	startTick()
	amd64.Fxsave(uint64(alignUp(uintptr(unsafe.Pointer(&initFX[0])), 16)))
	// SYSCALL: CS 0xe008/SS 0xe010 on entry; SYSRET back to a guest gives
	// 0xe033/0xe02b (64-bit) as Xen's STAR does; mask IF, TF, DF, AC, NT so
	// the entry runs with interrupts off. LSTAR takes 64-bit callers (the
	// runtime's own calls and guests), CSTAR guest code in compatibility
	// mode (AMD CPUs; Intel's raise #UD there).
	amd64.Wrmsr(amd64.MSR_STAR, uint64(selKernelCS)<<32|uint64(selUser32CS)<<48)
	amd64.Wrmsr(amd64.MSR_LSTAR, uint64(gateStubs[38]))
	amd64.Wrmsr(amd64.MSR_CSTAR, uint64(gateStubs[39]))
	amd64.Wrmsr(amd64.MSR_SYSCALL_MASK, amd64.RFLAGS_IF|amd64.RFLAGS_TF|amd64.RFLAGS_DF|amd64.RFLAGS_AC|amd64.RFLAGS_NT)
	firstThread()
	for i := range randBytes {
		randBytes[i] = byte(random())
	}
	return initialStack()
}

//go:nosplit
func detectCPU() {
	_, _, ecx, _ := amd64.Cpuid(1, 0)
	haveRdrand = ecx&(1<<30) != 0
	// SMEP and SMAP: ring 0 never runs user pages and touches them only
	// in guestCopy, the one access through guest mappings, which brackets
	// it with STAC/CLAC (guest memory is otherwise reached through the
	// direct map), so both can be on for good.
	if max, _, _, _ := amd64.Cpuid(0, 0); max >= 7 {
		_, ebx, _, _ := amd64.Cpuid(7, 0)
		cr4 := amd64.ReadCR4()
		if ebx&(1<<7) != 0 {
			cr4 |= amd64.CR4_SMEP
		}
		if ebx&(1<<20) != 0 {
			cr4 |= amd64.CR4_SMAP
			smapOn = 1
		}
		amd64.WriteCR4(cr4)
	}
	if ecx&(1<<31) != 0 { // running under a hypervisor: is it QEMU?
		_, b, c, d := amd64.Cpuid(0x40000000, 0)
		// "TCGTCGTCGTCG" (TCG) or "KVMKVMKVM\0\0\0" (KVM under QEMU)
		onQEMU = (b == 0x54474354 && c == 0x43544743 && d == 0x47435447) ||
			(b == 0x4b4d564b && c == 0x564b4d56 && d == 0x4d)
	}
	_, _, _, edx := amd64.Cpuid(0x80000001, 0)
	if edx&(1<<20) != 0 {
		amd64.Wrmsr(amd64.MSR_EFER, amd64.Rdmsr(amd64.MSR_EFER)|amd64.EFER_NXE)
		nxBit = amd64.PTE_NX
	}
}

// initialStack lays out argc, argv, envp and auxv as Linux does for a new
// process; the runtime's rt0 reads them.
//
//go:nosplit
func initialStack() uintptr {
	sp := uintptr(unsafe.Pointer(&m0Stack[0])) + uintptr(len(m0Stack)) - 4096
	w := (*[12]uintptr)(unsafe.Pointer(sp))
	w[0] = 1                                                // argc
	w[1] = uintptr(unsafe.Pointer(&argv0[0]))               // argv[0]
	w[2] = 0                                                // end of argv
	w[3] = 0                                                // end of envp
	w[4], w[5] = 6, pageSize                                // AT_PAGESZ
	w[6], w[7] = 25, uintptr(unsafe.Pointer(&randBytes[0])) // AT_RANDOM
	w[8], w[9] = 0, 0                                       // AT_NULL
	return sp
}

//go:nosplit
func phys32(a uint64) uint32 { return *(*uint32)(unsafe.Pointer(dm(a))) }

//go:nosplit
func phys64(a uint64) uint64 { return *(*uint64)(unsafe.Pointer(dm(a))) }

//go:nosplit
func exclude(start, end uint64) {
	if end <= start || nBootExcl == len(bootExcl) {
		return
	}
	bootExcl[nBootExcl] = [2]uint64{start &^ (pageSize - 1), alignUp64(end, pageSize)}
	nBootExcl++
}

//go:nosplit
func alignUp64(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// module excludes a boot module's range and notes its size.
//
//go:nosplit
func module(start, end uint64) {
	exclude(start, end)
	if end > start && end-start > maxModule {
		maxModule = end - start
	}
}

// scanBootInfo finds, before the runtime exists, just what kmain needs:
// where RAM above 1 MiB ends and which ranges the loader filled (modules,
// the information itself). boot.Parse* reads the rest later, in Go.
// Addresses are below 4 GiB (what entry32's direct map covers).
//
//go:nosplit
func scanBootInfo() {
	info := uint64(bootInfo)
	exclude(0, mib)
	exclude(textPA-pageSize, imagePA(asmAddrs[6]))
	switch bootMagic {
	case mb1Magic:
		exclude(info, info+128)
		flags := phys32(info)
		if flags&1 != 0 {
			ramTop = mib + uint64(phys32(info+8))<<10
		}
		if flags&4 != 0 {
			exclude(uint64(phys32(info+16)), uint64(phys32(info+16))+4096)
		}
		if flags&8 != 0 {
			n, mods := uint64(phys32(info+20)), uint64(phys32(info+24))
			exclude(mods, mods+16*n)
			for i := uint64(0); i < n && i < 16; i++ {
				m := mods + 16*i
				module(uint64(phys32(m)), uint64(phys32(m+4)))
				exclude(uint64(phys32(m+8)), uint64(phys32(m+8))+4096)
			}
		}
		if flags&64 != 0 {
			exclude(uint64(phys32(info+48)), uint64(phys32(info+48))+uint64(phys32(info+44)))
		}
		if flags&512 != 0 {
			exclude(uint64(phys32(info+64)), uint64(phys32(info+64))+4096)
		}
	case mb2Magic:
		total := uint64(phys32(info))
		if total < 16 || total > 1<<20 {
			bootErr = "multiboot2 information is malformed"
			return
		}
		exclude(info, info+total)
		for off := uint64(8); off+8 <= total; {
			t, size := phys32(info+off), uint64(phys32(info+off+4))
			if t == 0 || size < 8 {
				break
			}
			switch t {
			case 3: // module
				module(uint64(phys32(info+off+8)), uint64(phys32(info+off+12)))
			case 4: // basic meminfo
				ramTop = mib + uint64(phys32(info+off+12))<<10
			}
			off += alignUp64(size, 8)
		}
	default:
		if phys32(info) != pvhMagic {
			bootErr = "unknown boot protocol (not multiboot1, multiboot2 or PVH)"
			return
		}
		exclude(info, info+56)
		n, mods := uint64(phys32(info+12)), phys64(info+16)
		exclude(mods, mods+32*n)
		for i := uint64(0); i < n && i < 16; i++ {
			m := mods + 32*i
			module(phys64(m), phys64(m)+phys64(m+8))
			exclude(phys64(m+16), phys64(m+16)+4096)
		}
		exclude(phys64(info+24), phys64(info+24)+4096)
		if phys32(info+4) >= 1 { // version 1: memory map
			mm, cnt := phys64(info+40), uint64(phys32(info+48))
			exclude(mm, mm+24*cnt)
			for i := uint64(0); i < cnt && i < 128; i++ {
				e := mm + 24*i
				base, size, typ := phys64(e), phys64(e+8), phys32(e+16)
				if typ == 1 && base <= mib && base+size > mib {
					ramTop = base + size
				}
			}
		}
	}
	if ramTop > 4<<30 {
		ramTop = 4 << 30
	}
	if ramTop < 64*mib {
		bootErr = "less than 64 MiB of RAM, or no memory size from the boot loader"
	}
}

// chooseHeap places the hypervisor heap, the frames behind the Go
// runtime's memory, at the highest 2 MiB-aligned range of the low RAM run
// that no module or boot structure occupies. Its size is a sixteenth of
// that RAM, between 64 and 256 MiB, but at least 16 times the largest
// module while that stays within a quarter of the RAM: the dom0 kernel's
// module is copied into the heap and decoded there with the XZ dictionary
// (32 MiB for Linux), though its output goes straight to dom0's frames.
//
//go:nosplit
func chooseHeap() {
	size := (ramTop - mib) / 16
	if size < 64*mib {
		size = 64 * mib
	}
	if size > 256*mib {
		size = 256 * mib
	}
	if m := 16 * maxModule; m > size {
		size = m
		if q := (ramTop - mib) / 4; size > q {
			size = q
		}
	}
	size = alignUp64(size, 2*mib)
	top := ramTop &^ (2*mib - 1)
	for iter := 0; iter < 64; iter++ {
		if top < size+mib {
			break
		}
		start := top - size
		moved := false
		for i := 0; i < nBootExcl; i++ {
			s, e := bootExcl[i][0], bootExcl[i][1]
			if s < top && e > start {
				top = s &^ (2*mib - 1)
				moved = true
			}
		}
		if !moved {
			heapStart, heapEnd, heapNext = start, top, start
			return
		}
	}
	xputs("gohv: no room for the hypervisor heap below the boot modules\n")
	amd64.Halt()
}
