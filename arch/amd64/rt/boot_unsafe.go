package rt

import (
	"unsafe"

	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
	"github.com/gohv/gohv/arch/amd64/linux"
)

const (
	// The image loads at physical textPA and runs at textBase (-T in the
	// Makefile; TEXT_PA in entry_amd64.s).
	textPA   = hw.TextPA
	textBase = hw.TextBase

	mb1Magic = hw.MB1Magic
	mb2Magic = hw.MB2Magic
)

// bootStackSize is bootStack's size (entry_amd64.s loads its top).
const bootStackSize = 8 << 10

var (
	bootMagic uint32 // EAX at entry32
	bootInfo  uint32 // EBX at entry32
	// bootStack is entry32's and kmain's, until the runtime starts on
	// m0Stack: a dom0 boot uses under 1 KiB of it (nosplit code only);
	// FreeInitMemory gives it to the domains.
	bootStack [bootStackSize]byte
	bootPT    [8 * pageSize]byte // entry32's tables (one page of alignment slack)
	fakeTLS   [4]uint64
	// m0Stack is the runtime's initial (m0/g0) stack: rt0_go bounds g0 to
	// the 64 KiB below the stack pointer initialStack returns, which sits
	// under the 4 KiB of argc, argv and auxv; 4 KiB more below is slack
	// for nosplit code at the stack guard.
	m0Stack   [72 << 10]byte
	randBytes [16]byte
	// initFX is the vector state the CPU had at boot (FCW 0x37F, MXCSR
	// 0x1F80, registers zero): a new vCPU's first FPU image.
	initFX [512 + 16]byte

	// bootMem is what kmain learns from the boot loader: RAM, and the
	// physical ranges it must not hand to the heap (the image, boot
	// information and modules).
	bootMem hw.BootMemory

	argv0 = [8]byte{'g', 'o', 'h', 'v'}
)

// fixupRange reports whether the assembly routine at start ends at end,
// the marker the linker must keep right after it, within 256 bytes: the
// range trapCommon resumes faults from.
//
//go:nosplit
func fixupRange(start, end uintptr) bool {
	return start != 0 && end > start && end-start <= 256
}

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
	if !fixupRange(segFixup[0], segFixup[1]) {
		xputs("gohv: the guest selector loads are not where the fault fixup looks\n")
		amd64.Halt()
	}
	if !fixupRange(copyFixup[0], copyFixup[2]) {
		xputs("gohv: the guest copy's moves are not where the fault fixup looks\n")
		amd64.Halt()
	}
	detectCPU()
	// entry32's tables map the first 4 GiB at the direct map, which is
	// where the loader put everything.
	low := hw.Mem(unsafe.Slice((*byte)(unsafe.Pointer(dm(0))), 4<<30))
	bootMem.Scan(low, bootMagic, uint64(bootInfo), hw.Range{Start: textPA - pageSize, End: imagePA(asmAddrs[6])})
	if bootMem.Err != "" {
		xputs("gohv: ")
		xputs(bootMem.Err)
		xputs("\n")
		amd64.Halt()
	}
	h, ok := bootMem.ChooseHeap()
	if !ok {
		xputs("gohv: no room for the hypervisor heap below the boot modules\n")
		amd64.Halt()
	}
	heap.Init(h)
	buildPageTables()
	amd64.Wrmsr(amd64.MSR_PAT, 0x0000050100070406) // Xen's PAT layout
	initDescriptors()
	maskPICs()
	lapicInit()
	lapicFreeRun()
	calibrateTSC()
	readRTC()
	seedRandom()
	startPIT()
	startTick()
	amd64.Fxsave(uint64(alignUp(uintptr(unsafe.Pointer(&initFX[0])), 16)))
	syscallMSRs()
	firstThread()
	apOnline[0] = 1
	cpusUp = 1
	for i := range randBytes {
		randBytes[i] = byte(random())
	}
	return initialStack()
}

// syscallMSRs sets this CPU's SYSCALL MSRs: CS 0xe008/SS 0xe010 on
// entry; SYSRET back to a guest gives 0xe033/0xe02b (64-bit) as Xen's
// STAR does; mask IF, TF, DF, AC, NT so the entry runs with interrupts
// off. LSTAR takes 64-bit callers (the runtime's own calls and guests),
// CSTAR guest code in compatibility mode (AMD CPUs; Intel's raise #UD
// there). Context: kmain (CPU 0), apMain.
//
//go:nosplit
func syscallMSRs() {
	amd64.Wrmsr(amd64.MSR_STAR, uint64(selKernelCS)<<32|uint64(selUser32CS)<<48)
	amd64.Wrmsr(amd64.MSR_LSTAR, uint64(gateStubs[38]))
	amd64.Wrmsr(amd64.MSR_CSTAR, uint64(gateStubs[39]))
	amd64.Wrmsr(amd64.MSR_SYSCALL_MASK, amd64.RFLAGS_IF|amd64.RFLAGS_TF|amd64.RFLAGS_DF|amd64.RFLAGS_AC|amd64.RFLAGS_NT)
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
	w[8], w[9] = linux.ATSysinfoEhdr, buildVDSO()           // the vDSO (vdso_unsafe.go)
	w[10], w[11] = 0, 0                                     // AT_NULL
	return sp
}
