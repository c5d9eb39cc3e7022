package pv

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/arch"
	"github.com/gohv/gohv/mm"
)

const (
	gpHandler = handler + 0x1000
	udHandler = handler + 0x2000
	pfHandler = handler + 0x3000
	ukHandler = handler + 0x4000 // int 0x80
)

// emuEnv has handlers for #GP, #UD, #PF, #DB, int3 and vector 0x80.
func emuEnv() *env {
	e := newEnv()
	e.setTrap(arch.VecGP, 0, gpHandler)
	e.setTrap(arch.VecUD, 0, udHandler)
	e.setTrap(arch.VecPF, 0, pfHandler)
	e.setTrap(arch.VecDB, 0, handler+0x5000)
	e.setTrap(arch.VecBP, 3, handler+0x6000)
	e.setTrap(0x80, 3|tiIF, ukHandler)
	e.setTrap(0x81, 1, handler+0x7000)
	e.setTrap(0x82, 0, handler+0x8000)
	e.v.KernelSP = kstackTop
	return e
}

// outcome of one emulated instruction.
type outcome int

const (
	retired  outcome = iota // RIP advanced by the length
	bounceGP                // #GP to the guest
	bounceUD
	bouncePF
	bounceVec // a software interrupt to handler want
	retry     // RIP unchanged, nothing injected
)

func TestPrivOps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   []byte
		user   bool
		setup  func(e *env, r *arch.Regs)
		out    outcome
		n      int // instruction length for retired
		check  func(t *testing.T, e *env, r *arch.Regs)
		vector uint64 // handler for bounceVec
		gpErr  uint64 // #GP error code in the frame
	}{
		{name: "wrmsr gs_base", code: []byte{0x0f, 0x30}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RDX, r.RAX = MSR_GS_BASE, 0xffffffff, 0x81000000 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.GSBase != 0xffffffff81000000 {
					t.Errorf("gs base %#x", r.GSBase)
				}
			}},
		{name: "wrmsr gs_base before any trap table", code: []byte{0x0f, 0x30}, n: 2,
			setup: func(e *env, r *arch.Regs) {
				e.v.Traps = [256]abi.TrapInfo{}
				r.RCX, r.RDX, r.RAX = MSR_GS_BASE, 0, 0x1000
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.GSBase != 0x1000 {
					t.Errorf("gs base %#x", r.GSBase)
				}
			}},
		{name: "wrmsr fs_base non-canonical", code: []byte{0x0f, 0x30}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RDX, r.RAX = MSR_FS_BASE, 0x00008000, 0 }},
		{name: "wrmsr shadow_gs_base", code: []byte{0x0f, 0x30}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RDX, r.RAX = MSR_SHADOW_GS_BASE, 0, 0x4000 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if _, u := e.v.GSBases(r); u != 0x4000 {
					t.Errorf("user gs base %#x", u)
				}
			}},
		{name: "rdmsr fs_base", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.FSBase = MSR_FS_BASE, 0x1234567890 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0x34567890 || r.RDX != 0x12 {
					t.Errorf("edx:eax %#x:%#x", r.RDX, r.RAX)
				}
			}},
		{name: "rdmsr pat", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RAX, r.RDX = MSR_IA32_CR_PAT, ^uint64(0), ^uint64(0) },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RDX<<32|r.RAX != 0x0000050100070406 {
					t.Errorf("pat %#x:%#x", r.RDX, r.RAX)
				}
			}},
		{name: "wrmsr pat ignored", code: []byte{0x0f, 0x30}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RAX, r.RDX = MSR_IA32_CR_PAT, 0, 0 }},
		{name: "rdmsr efer hides svme", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX = MSR_EFER },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0xd01 {
					t.Errorf("efer %#x", r.RAX)
				}
			}},
		{name: "wrmsr efer", code: []byte{0x0f, 0x30}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RAX = MSR_EFER, 0xd01 }},
		{name: "rdmsr apic base hides x2apic", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX = MSR_IA32_APICBASE },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0xfee00900 {
					t.Errorf("apic base %#x", r.RAX)
				}
			}},
		{name: "rdmsr misc_enable", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX = MSR_IA32_MISC_ENABLE },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if want := uint64((0x850089|1<<18)&^(1<<7|1<<18) | 1<<11 | 1<<12 | 1<<23); r.RAX != want {
					t.Errorf("misc_enable %#x, want %#x", r.RAX, want)
				}
			}},
		{name: "rdmsr platform_info", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX = MSR_INTEL_PLATFORM_INFO },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 1<<31 {
					t.Errorf("platform_info %#x", r.RAX)
				}
			}},
		{name: "wrmsr misc_features_enables sets cpuid faulting", code: []byte{0x0f, 0x30}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RAX = MSR_INTEL_MISC_FEATURES, 1 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if !e.v.CPUIDFaulting {
					t.Error("cpuid faulting off")
				}
			}},
		{name: "wrmsr tsc_aux", code: []byte{0x0f, 0x30}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RAX = MSR_TSC_AUX, 7 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if e.v.TSCAux != 7 {
					t.Error("tsc_aux not set")
				}
			}},
		{name: "wrmsr tsc_aux high bits", code: []byte{0x0f, 0x30}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RDX = MSR_TSC_AUX, 1 }},
		{name: "rdmsr pmu counter reads 0", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RAX = 0xc1, 5 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0 {
					t.Error("pmu counter not 0")
				}
			}},
		{name: "rdmsr unknown", code: []byte{0x0f, 0x32}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RCX = 0x12345 }},
		{name: "rdmsr unknown before a trap table", code: []byte{0x0f, 0x32}, n: 2,
			setup: func(e *env, r *arch.Regs) {
				e.v.Traps[arch.VecGP] = abi.TrapInfo{}
				r.RCX, r.RAX, r.RDX = 0x12345, 9, 9
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0 || r.RDX != 0 {
					t.Error("not 0")
				}
			}},
		{name: "rdmsr from user mode", code: []byte{0x0f, 0x32}, user: true, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RCX = MSR_IA32_CR_PAT }},
		{name: "mov rax, cr3", code: []byte{0x0f, 0x20, 0xd8}, n: 3,
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0x1234<<12 {
					t.Errorf("cr3 %#x", r.RAX)
				}
			}},
		{name: "mov rdi, dr0 with a memory-form ModRM", code: []byte{0x0f, 0x21, 0x47, 0x55}, n: 3,
			setup: func(e *env, r *arch.Regs) { e.v.DR[0] = 0x4000 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RDI != 0x4000 {
					t.Errorf("rdi %#x", r.RDI)
				}
			}},
		{name: "mov cr4, rax with mod 10 and prefixes", code: []byte{0x66, 0x40, 0x0f, 0x22, 0xa0, 1, 2, 3, 4}, n: 5},
		{name: "mov r8, cr2", code: []byte{0x41, 0x0f, 0x20, 0xd0}, n: 4,
			setup: func(e *env, r *arch.Regs) { e.v.CR2 = 0xdead000 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.R8 != 0xdead000 {
					t.Errorf("r8 %#x", r.R8)
				}
			}},
		{name: "mov rbx, cr0 with virtual TS", code: []byte{0x0f, 0x20, 0xc3}, n: 3,
			setup: func(e *env, r *arch.Regs) { e.v.TS = true },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RBX != hostCR0|cr0TS {
					t.Errorf("cr0 %#x", r.RBX)
				}
			}},
		{name: "mov rcx, cr4", code: []byte{0x0f, 0x20, 0xe1}, n: 3,
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if want := uint64(cr4PAE | cr4MCE | cr4OSFXSR | cr4OSXMMEXCPT | cr4DE); r.RCX != want {
					t.Errorf("cr4 %#x, want %#x", r.RCX, want)
				}
			}},
		{name: "mov cr0, rax sets TS", code: []byte{0x0f, 0x22, 0xc0}, n: 3,
			setup: func(e *env, r *arch.Regs) { r.RAX = hostCR0 | cr0TS },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if !e.v.TS {
					t.Error("TS not set")
				}
			}},
		{name: "mov cr0, rax changing PG", code: []byte{0x0f, 0x22, 0xc0}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RAX = hostCR0 &^ (1 << 31) }},
		{name: "mov cr3, rax", code: []byte{0x0f, 0x22, 0xd8}, n: 3,
			setup: func(e *env, r *arch.Regs) { r.RAX = 0x9999000 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if len(e.dom.bases) != 1 || e.dom.bases[0] != 0x9999 {
					t.Errorf("new base ptr %v", e.dom.bases)
				}
			}},
		{name: "mov cr3, rax refused", code: []byte{0x0f, 0x22, 0xd8}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { e.dom.baseErr = abi.EINVAL }},
		{name: "mov cr3, rax restarted", code: []byte{0x0f, 0x22, 0xd8}, out: retry,
			setup: func(e *env, r *arch.Regs) { e.dom.baseErr = abi.ERESTART }},
		{name: "mov cr4, rax", code: []byte{0x0f, 0x22, 0xe0}, n: 3,
			setup: func(e *env, r *arch.Regs) { r.RAX = cr4OSXSAVE | cr4TSD | 1<<7 | 1<<20 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				want := uint64(cr4PAE | cr4MCE | cr4OSFXSR | cr4OSXMMEXCPT | cr4OSXSAVE) // TSD never kept
				if e.v.CR4 != want || e.v.Changed&ChangedCR4 == 0 {
					t.Errorf("cr4 %#x, want %#x", e.v.CR4, want)
				}
			}},
		{name: "mov cr8, rax", code: []byte{0x44, 0x0f, 0x22, 0xc0}, out: bounceGP},
		{name: "clts", code: []byte{0x0f, 0x06}, n: 2,
			setup: func(e *env, r *arch.Regs) { e.v.TS = true },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if e.v.TS {
					t.Error("TS still set")
				}
			}},
		{name: "wbinvd domU", code: []byte{0x0f, 0x09}, n: 2,
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if e.dom.wbinvd != 0 {
					t.Error("domU flushed")
				}
			}},
		{name: "wbinvd dom0", code: []byte{0x0f, 0x09}, n: 2,
			setup: func(e *env, r *arch.Regs) { e.dom.hwdom = true },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if e.dom.wbinvd != 1 {
					t.Error("dom0 did not flush")
				}
			}},
		{name: "xsetbv x87|sse|avx", code: []byte{0x0f, 0x01, 0xd1}, n: 3,
			setup: func(e *env, r *arch.Regs) { e.v.CR4 |= cr4OSXSAVE; r.RAX, r.RCX = 7, 0 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if e.v.XCR0 != 7 {
					t.Errorf("xcr0 %#x", e.v.XCR0)
				}
			}},
		{name: "xsetbv avx without sse", code: []byte{0x0f, 0x01, 0xd1}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { e.v.CR4 |= cr4OSXSAVE; r.RAX, r.RCX = 5, 0 }},
		{name: "xsetbv beyond host", code: []byte{0x0f, 0x01, 0xd1}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { e.v.CR4 |= cr4OSXSAVE; r.RAX, r.RCX = 0xe7, 0 }},
		{name: "xsetbv ecx 1", code: []byte{0x0f, 0x01, 0xd1}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { e.v.CR4 |= cr4OSXSAVE; r.RAX, r.RCX = 3, 1 }},
		{name: "xsetbv without osxsave", code: []byte{0x0f, 0x01, 0xd1}, out: bounceUD,
			setup: func(e *env, r *arch.Regs) { r.RAX = 3 }},
		{name: "mov rax, dr7", code: []byte{0x0f, 0x21, 0xf8}, n: 3,
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != DR7Default {
					t.Errorf("dr7 %#x", r.RAX)
				}
			}},
		{name: "mov rax, dr6", code: []byte{0x0f, 0x21, 0xf0}, n: 3,
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != DR6Default {
					t.Errorf("dr6 %#x", r.RAX)
				}
			}},
		{name: "mov dr0, rax", code: []byte{0x0f, 0x23, 0xc0}, n: 3,
			setup: func(e *env, r *arch.Regs) { r.RAX = ktext },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if e.v.DR[0] != ktext {
					t.Errorf("dr0 %#x", e.v.DR[0])
				}
			}},
		{name: "mov dr0, rax in the hypervisor", code: []byte{0x0f, 0x23, 0xc0}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { r.RAX = abi.HYPERVISOR_VIRT_START }},
		{name: "mov rax, dr4 with CR4.DE", code: []byte{0x0f, 0x21, 0xe0}, out: bounceUD},
		{name: "mov rax, dr4 without CR4.DE", code: []byte{0x0f, 0x21, 0xe0}, n: 3,
			setup: func(e *env, r *arch.Regs) { e.v.CR4 &^= cr4DE }},
		{name: "in al, 0x71 not permitted by admin", code: []byte{0xe4, 0x71}, n: 2,
			setup: func(e *env, r *arch.Regs) { e.v.IOPL = 1 << 12; r.RAX = 0x1200 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0x12ff || len(e.dom.ins) != 0 {
					t.Errorf("rax %#x ins %v", r.RAX, e.dom.ins)
				}
			}},
		{name: "in eax, dx permitted", code: []byte{0xed}, n: 1,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOPL = 1 << 12
				e.dom.permitted, e.dom.inVal = true, 0x80001234
				r.RDX, r.RAX = 0xcfc, ^uint64(0)
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0x80001234 || len(e.dom.ins) != 1 || e.dom.ins[0] != (ioAccess{0xcfc, 4, 0x80001234}) {
					t.Errorf("rax %#x ins %v", r.RAX, e.dom.ins)
				}
			}},
		{name: "in ax, dx", code: []byte{0x66, 0xed}, n: 2,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOPL = 1 << 12
				e.dom.permitted, e.dom.inVal = true, 0xbeef
				r.RDX, r.RAX = 0x60, 0x11112222
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0x1111beef {
					t.Errorf("rax %#x", r.RAX)
				}
			}},
		{name: "out dx, al", code: []byte{0xee}, n: 1,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOPL = 1 << 12
				e.dom.permitted = true
				r.RDX, r.RAX = 0x3f8, 0x4142
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if len(e.dom.outs) != 1 || e.dom.outs[0] != (ioAccess{0x3f8, 1, 0x42}) {
					t.Errorf("outs %v", e.dom.outs)
				}
			}},
		{name: "out 0x80, al dropped", code: []byte{0xe6, 0x80}, n: 2,
			setup: func(e *env, r *arch.Regs) { e.v.IOPL = 1 << 12 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if len(e.dom.outs) != 0 {
					t.Error("write not dropped")
				}
			}},
		{name: "in without iopl", code: []byte{0xec}, out: bounceGP},
		{name: "in from user with iopl 1", code: []byte{0xec}, user: true, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { e.v.IOPL = 1 << 12 }},
		{name: "in from user with iopl 3", code: []byte{0xec}, user: true, n: 1,
			setup: func(e *env, r *arch.Regs) { e.v.IOPL = 3 << 12 }},
		{name: "in allowed by the io bitmap", code: []byte{0xec}, n: 1,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOBitmap, e.v.IOBitmapPorts = ktext+0x800, 0x400
				e.mem.put(t, ktext+0x800+0x70/8, KernelSpace, []byte{0xfe, 0xff}) // port 0x70 allowed
				r.RDX = 0x70
			}},
		{name: "in denied by the io bitmap", code: []byte{0xec}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOBitmap, e.v.IOBitmapPorts = ktext+0x800, 0x400
				e.mem.put(t, ktext+0x800+0x70/8, KernelSpace, []byte{0xfe, 0xff})
				r.RDX = 0x71
			}},
		{name: "in eax beyond the io bitmap", code: []byte{0xed}, out: bounceGP,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOBitmap, e.v.IOBitmapPorts = ktext+0x800, 0x72
				r.RDX = 0x70
			}},
		{name: "rep insb", code: []byte{0xf3, 0x6c}, n: 2,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOPL = 1 << 12
				e.dom.permitted, e.dom.inVal = true, 0x5a
				r.RDX, r.RDI, r.RCX = 0x1f0, kstackBase+0x10, 3
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RCX != 0 || r.RDI != kstackBase+0x13 || e.kstack.data[0x12] != 0x5a || e.kstack.data[0x13] != 0 {
					t.Errorf("rcx %d rdi %#x", r.RCX, r.RDI)
				}
			}},
		{name: "rep outsw backwards", code: []byte{0xf3, 0x66, 0x6f}, n: 3,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOPL = 1 << 12
				e.dom.permitted = true
				copy(e.kstack.data[0x10:], []byte{1, 2, 3, 4})
				r.RDX, r.RSI, r.RCX, r.RFLAGS = 0x1f0, kstackBase+0x12, 2, r.RFLAGS|flagDF
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if len(e.dom.outs) != 2 || e.dom.outs[0].val != 0x0403 || e.dom.outs[1].val != 0x0201 ||
					r.RSI != kstackBase+0xe {
					t.Errorf("outs %v rsi %#x", e.dom.outs, r.RSI)
				}
			}},
		{name: "insb to unmapped memory", code: []byte{0x6c}, out: bouncePF,
			setup: func(e *env, r *arch.Regs) { e.v.IOPL = 1 << 12; r.RDI = 0x5000 }},
		{name: "rep insb, 5000 times", code: []byte{0xf3, 0x6c}, out: retry,
			setup: func(e *env, r *arch.Regs) {
				e.v.IOPL = 1 << 12
				big := e.mem.add(0x10000, 8192, KernelSpace)
				_ = big
				r.RDI, r.RCX = 0x10000, 5000
			},
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RCX != 5000-maxRep || r.RDI != 0x10000+maxRep {
					t.Errorf("rcx %d rdi %#x", r.RCX, r.RDI)
				}
			}},
		{name: "cli with iopl", code: []byte{0xfa}, n: 1,
			setup: func(e *env, r *arch.Regs) { e.v.IOPL = 1 << 12 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RFLAGS&flagIF == 0 {
					t.Error("real IF cleared")
				}
			}},
		{name: "sti without iopl", code: []byte{0xfb}, out: bounceGP},
		{name: "cpuid under real faulting", code: []byte{0x0f, 0xa2}, n: 2,
			setup: func(e *env, r *arch.Regs) { r.RAX = 0x40000000 },
			check: func(t *testing.T, e *env, r *arch.Regs) {
				if r.RAX != 0x40000005 || r.RBX != 0x566e6558 {
					t.Errorf("cpuid %#x %#x", r.RAX, r.RBX)
				}
			}},
		{name: "cpuid from user with guest faulting", code: []byte{0x0f, 0xa2}, user: true, out: bounceGP,
			setup: func(e *env, r *arch.Regs) { e.v.CPUIDFaulting = true }},
		{name: "cpuid from user", code: []byte{0x0f, 0xa2}, user: true, n: 2},
		{name: "hlt", code: []byte{0xf4}, out: bounceGP},
		{name: "swapgs", code: []byte{0x0f, 0x01, 0xf8}, out: bounceGP},
		{name: "invlpg", code: []byte{0x0f, 0x01, 0x38}, out: bounceGP},
		{name: "garbage", code: []byte{0x0f, 0xff, 0xff, 0xff}, out: bounceGP},
		{name: "int 0x80 from user (dpl 3)", code: []byte{0xcd, 0x80}, user: true, out: bounceVec, vector: ukHandler},
		{name: "int 0x81 from kernel (dpl 1)", code: []byte{0xcd, 0x81}, out: bounceVec, vector: handler + 0x7000},
		{name: "int 0x81 from user (dpl 1)", code: []byte{0xcd, 0x81}, user: true, out: bounceGP, gpErr: 0x81<<3 | 2},
		{name: "int 0x82 from kernel (dpl 0)", code: []byte{0xcd, 0x82}, out: bounceGP, gpErr: 0x82<<3 | 2},
		{name: "int 0x80 with prefixes", code: []byte{0x66, 0x48, 0xcd, 0x80}, user: true, out: bounceVec, vector: ukHandler},
		{name: "int3 through #GP", code: []byte{0xcc}, user: true, out: bounceVec, vector: handler + 0x6000},
		{name: "wrmsr with TF single-steps", code: []byte{0x0f, 0x30}, out: bounceVec, vector: handler + 0x5000,
			setup: func(e *env, r *arch.Regs) { r.RCX, r.RFLAGS = MSR_FS_BASE, r.RFLAGS|flagTF }},
		{name: "instruction across the end of the mapping", code: []byte{0x0f}, out: bouncePF,
			setup: func(e *env, r *arch.Regs) { r.RIP = ktext + 0xfff }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := emuEnv()
			var r arch.Regs
			if tc.user {
				e.v.SetKernel(false)
				r = uregs()
			} else {
				r = kregs()
			}
			e.info.mask = 0
			if tc.setup != nil {
				tc.setup(e, &r)
			}
			e.code(t, &r, tc.code...)
			before := r
			wasKernel := e.v.Kernel()
			err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecGP})
			if err != nil {
				t.Fatal(err)
			}
			frameRIP := func() uint64 {
				off := uint64(16)
				if tc.out == bounceGP || tc.out == bouncePF {
					off = 24 // past the error code
				}
				return e.mem.read64(t, r.RSP+off, KernelSpace)
			}
			switch tc.out {
			case retired:
				if r.RIP != before.RIP+uint64(tc.n) {
					t.Errorf("RIP %#x, want %#x (+%d)", r.RIP, before.RIP+uint64(tc.n), tc.n)
				}
				if e.v.Kernel() != wasKernel {
					t.Error("mode changed")
				}
			case retry:
				if r.RIP != before.RIP {
					t.Errorf("RIP moved to %#x", r.RIP)
				}
			case bounceGP, bounceUD, bouncePF:
				want := map[outcome]uint64{bounceGP: gpHandler, bounceUD: udHandler, bouncePF: pfHandler}[tc.out]
				if r.RIP != want {
					t.Fatalf("RIP %#x, want handler %#x", r.RIP, want)
				}
				if tc.out != bouncePF && frameRIP() != before.RIP {
					t.Errorf("frame RIP %#x, want the faulting %#x", frameRIP(), before.RIP)
				}
				if tc.out == bounceGP {
					if ec := e.mem.read64(t, r.RSP+16, KernelSpace); ec != tc.gpErr {
						t.Errorf("error code %#x, want %#x", ec, tc.gpErr)
					}
				}
			case bounceVec:
				if r.RIP != tc.vector {
					t.Fatalf("RIP %#x, want handler %#x", r.RIP, tc.vector)
				}
				if frameRIP() != before.RIP+uint64(len(tc.code)) {
					t.Errorf("frame RIP %#x, want past the instruction", frameRIP())
				}
			}
			if tc.check != nil {
				tc.check(t, e, &r)
			}
		})
	}
}

func TestGPExternalNotEmulated(t *testing.T) {
	e := emuEnv()
	e.v.SetKernel(false)
	r := uregs()
	e.code(t, &r, 0xcd, 0x80)
	// EXT set: an external event, never the guest's INT n.
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecGP, ErrorCode: 0x80<<3 | 3}); err != nil {
		t.Fatal(err)
	}
	if r.RIP != gpHandler {
		t.Errorf("rip %#x, want the #GP handler", r.RIP)
	}
}

func TestINT80MasksEvents(t *testing.T) {
	e := emuEnv()
	e.v.SetKernel(false)
	e.info.mask = 0
	r := uregs()
	e.code(t, &r, 0xcd, 0x80)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecGP, ErrorCode: 0x80<<3 | 2}); err != nil {
		t.Fatal(err)
	}
	if e.info.mask != 1 {
		t.Error("interrupt gate did not mask events")
	}
}

func TestGPWithSelectorErrorBouncedAsIs(t *testing.T) {
	e := emuEnv()
	r := kregs()
	e.code(t, &r, 0x0f, 0x30) // would be emulated with error code 0
	r.RCX = MSR_FS_BASE
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecGP, ErrorCode: 0x28}); err != nil {
		t.Fatal(err)
	}
	if r.RIP != gpHandler || e.mem.read64(t, r.RSP+16, KernelSpace) != 0x28 {
		t.Error("not bounced with its error code")
	}
}

func TestFEP(t *testing.T) {
	fepCPUID := []byte{0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2}
	for _, tc := range []struct {
		leaf, sub  uint32
		a, b, c, d uint32
	}{
		{0x40000000, 0, 0x40000005, 0x566e6558, 0x65584d4d, 0x4d4d566e},
		{0x40000001, 0, 0x00040011, 0, 0, 0},
		{0x40000002, 0, 1, 0x40000000, 1, 0},
		{0x40000003, 0, xenTSCReliable | xenTSCRDTSCP, 0, 2000000, 1},
		{0x40000003, 2, 0, 0, 2000000, 0},
		{0x40000004, 0, 0, 0, 0, 0},
		{0x40000005, 0, 0, 40, 0, 0},
		{0x40000006, 0, 0, 0, 0, 0},
		{0x40000100, 0, 0, 0, 0, 0},
		{0x0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69},
		{0xe, 0, 0, 0, 0, 0},
		{0x80000009, 0, 0, 0, 0, 0},
	} {
		e := emuEnv()
		r := kregs()
		e.code(t, &r, fepCPUID...)
		r.RAX, r.RCX = uint64(tc.leaf), uint64(tc.sub)
		if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecUD}); err != nil {
			t.Fatal(err)
		}
		if r.RIP != ktext+7 {
			t.Fatalf("leaf %#x: RIP %#x", tc.leaf, r.RIP)
		}
		if got := [4]uint64{r.RAX, r.RBX, r.RCX, r.RDX}; got != [4]uint64{uint64(tc.a), uint64(tc.b), uint64(tc.c), uint64(tc.d)} {
			t.Errorf("leaf %#x.%d: %#x, want %#x %#x %#x %#x", tc.leaf, tc.sub, got, tc.a, tc.b, tc.c, tc.d)
		}
	}
}

func TestFEPLeaf1(t *testing.T) {
	e := emuEnv()
	e.v.ID = 3
	a, b, c, d := e.v.CPUID(1, 0)
	if a != 0x000906ea || b>>24 != 6 || b&0xffffff != 0x100800 {
		t.Errorf("eax %#x ebx %#x", a, b)
	}
	if c&cpuid1CHypervisor == 0 {
		t.Error("no hypervisor bit")
	}
	for _, bit := range []uint{3, 5, 17, 21, 24, 27} { // MONITOR VMX PCID X2APIC TSC_DEADLINE OSXSAVE
		if c&(1<<bit) != 0 {
			t.Errorf("ecx bit %d visible", bit)
		}
	}
	for _, bit := range []uint{3, 12, 13, 21, 29, 31} { // PSE MTRR PGE DS TM PBE
		if d&(1<<bit) != 0 {
			t.Errorf("edx bit %d visible", bit)
		}
	}
	if d&(1<<0|1<<25|1<<26) != 1<<0|1<<25|1<<26 {
		t.Error("FPU/SSE/SSE2 hidden")
	}
	e.v.CR4 |= cr4OSXSAVE
	if _, _, c, _ := e.v.CPUID(1, 0); c&cpuid1COSXSAVE == 0 {
		t.Error("OSXSAVE does not follow CR4")
	}
	_, b7, c7, _ := e.v.CPUID(7, 0)
	if b7&(1<<10) != 0 || c7&(1<<16) != 0 {
		t.Error("INVPCID or LA57 visible")
	}
	if _, _, c, _ := e.v.CPUID(0x80000001, 0); c&(1<<2) != 0 {
		t.Error("SVM visible")
	}
	e.v.XCR0 = 7
	if _, b, _, _ := e.v.CPUID(0xd, 0); b != 832 {
		t.Errorf("xsave size %d, want 832", b)
	}
}

func TestFEPOther(t *testing.T) {
	// Not the prefix: #UD bounced.
	e := emuEnv()
	r := kregs()
	e.code(t, &r, 0x0f, 0x0b, 'x', 'e', 'm', 0x0f, 0xa2)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecUD}); err != nil || r.RIP != udHandler {
		t.Errorf("bad prefix: rip %#x err %v", r.RIP, err)
	}
	// The prefix with something other than CPUID: #UD.
	e = emuEnv()
	r = kregs()
	e.code(t, &r, 0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0x31)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecUD}); err != nil || r.RIP != udHandler {
		t.Errorf("rdtsc after FEP: rip %#x err %v", r.RIP, err)
	}
	// CPUID faulting in user mode: #GP at the CPUID.
	e = emuEnv()
	e.v.CPUIDFaulting = true
	e.v.SetKernel(false)
	r = uregs()
	e.code(t, &r, 0x0f, 0x0b, 'x', 'e', 'n', 0x0f, 0xa2)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecUD}); err != nil || r.RIP != gpHandler {
		t.Fatalf("faulting: rip %#x err %v", r.RIP, err)
	}
	if got := e.mem.read64(t, r.RSP+24, KernelSpace); got != utext+5 {
		t.Errorf("frame RIP %#x, want the CPUID at %#x", got, utext+5)
	}
	// The prefix cut by the end of the mapping: #PF at the first missing byte.
	e = emuEnv()
	r = kregs()
	r.RIP = ktext + 0xffe
	e.code(t, &r, 0x0f, 0x0b)
	if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecUD}); err != nil || r.RIP != pfHandler {
		t.Fatalf("cut prefix: rip %#x err %v", r.RIP, err)
	}
	if e.info.cr2 != ktext+0x1000 {
		t.Errorf("cr2 %#x", e.info.cr2)
	}
}

func TestFixupCR4(t *testing.T) {
	e := newEnv()
	p := e.v.Policy
	for _, tc := range []struct{ in, want uint64 }{
		{0, cr4PAE | cr4MCE | cr4OSFXSR | cr4OSXMMEXCPT},
		{^uint64(0), cr4PAE | cr4MCE | cr4OSFXSR | cr4OSXMMEXCPT | cr4DE | cr4FSGSBASE | cr4OSXSAVE},
	} {
		if got := p.FixupCR4(tc.in); got != tc.want {
			t.Errorf("FixupCR4(%#x) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
	_ = mm.MFN(0)
}

// TestIOBreakpoints: with CR4.DE, an I/O breakpoint (DR7 R/W 10b) on a
// port range makes an emulated IN/OUT that touches it trap to #DB after
// the instruction with the matching B bit in DR6; other ports, a
// breakpoint not enabled, or CR4.DE clear do not.
func TestIOBreakpoints(t *testing.T) {
	const dbHandler = handler + 0x5000
	for _, tc := range []struct {
		name  string
		code  []byte
		dx    uint64
		dr    uint64 // DR2
		dr7   uint64 // enable and control of breakpoint 2
		noDE  bool
		match bool
	}{
		{"in al, 0x80 on 0x80", []byte{0xe4, 0x80}, 0, 0x80, 1<<4 | 2<<24, false, true},
		{"in al, 0x81 on 0x80", []byte{0xe4, 0x81}, 0, 0x80, 1<<4 | 2<<24, false, false},
		{"in eax, dx 0xcfc on 0xcfe len 2", []byte{0xed}, 0xcfc, 0xcfe, 1<<4 | 2<<24 | 1<<26, false, true},
		{"out dx, al 0x3f8 on 0x3f0 len 8", []byte{0xee}, 0x3f8, 0x3f0, 1<<5 | 2<<24 | 2<<26, false, false},
		{"out dx, al 0x3f7 on 0x3f0 len 8", []byte{0xee}, 0x3f7, 0x3f0, 1<<5 | 2<<24 | 2<<26, false, true},
		{"in al, 0x80, not enabled", []byte{0xe4, 0x80}, 0, 0x80, 2 << 24, false, false},
		{"in al, 0x80, without CR4.DE", []byte{0xe4, 0x80}, 0, 0x80, 1<<4 | 2<<24, true, false},
	} {
		e := emuEnv()
		e.v.CR4 |= cr4DE
		if e.v.SetDebugReg(2, tc.dr) != 0 || e.v.SetDebugReg(7, tc.dr7) != 0 {
			t.Fatalf("%s: set_debugreg refused", tc.name)
		}
		if tc.noDE {
			e.v.CR4 &^= cr4DE
		}
		e.v.IOPL = 1 << 12
		r := kregs()
		r.RDX = tc.dx
		e.code(t, &r, tc.code...)
		if err := e.v.HandleException(&r, arch.Exit{Vector: arch.VecGP}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		hit := r.RIP == dbHandler
		if hit != tc.match {
			t.Errorf("%s: rip %#x, #DB %v, want %v", tc.name, r.RIP, hit, tc.match)
		}
		if want := uint64(DR6Default); tc.match {
			want |= 1 << 2
			if e.v.DR6 != want {
				t.Errorf("%s: dr6 %#x, want %#x", tc.name, e.v.DR6, want)
			}
		} else if !hit && r.RIP != ktext+uint64(len(tc.code)) {
			t.Errorf("%s: not retired: rip %#x", tc.name, r.RIP)
		}
		if hit {
			// The bounce frame's RIP is after the instruction (a trap).
			var frame [8]byte
			e.mem.CopyFromGuest(frame[:], mm.GuestVA(r.RSP+16), KernelSpace)
			if got := binary.LittleEndian.Uint64(frame[:]); got != ktext+uint64(len(tc.code)) {
				t.Errorf("%s: #DB frame rip %#x, want %#x", tc.name, got, ktext+uint64(len(tc.code)))
			}
		}
	}
}

// TestGPNonCanonicalRIP: a #GP at a RIP the guest may not use (after an
// iret to a non-canonical one, or in the hypervisor's range) is bounced
// as #GP(0) at that RIP, nothing fetched, as Xen's emulator answers.
func TestGPNonCanonicalRIP(t *testing.T) {
	for _, rip := range []uint64{0x0000800000001000, 0xdead00000000c0de, abi.HYPERVISOR_VIRT_START + 0x1000} {
		for _, user := range []bool{false, true} {
			t.Run(fmt.Sprintf("%#x user=%v", rip, user), func(t *testing.T) {
				e := newEnv()
				e.setTrap(arch.VecGP, 0, handler)
				r := kregs()
				if user {
					r = uregs()
					e.v.SetKernel(false)
					e.v.KernelSP = kstackTop
				}
				r.RIP = rip
				orig := r
				if err := e.v.HandleException(&r, arch.Exit{Kind: arch.ExitException, Vector: arch.VecGP}); err != nil {
					t.Fatal(err)
				}
				if r.RIP != handler {
					t.Fatalf("rip %#x, want the #GP handler", r.RIP)
				}
				f := e.frame(t, r.RSP, 8)
				if f[2] != 0 || f[3] != rip || f[6] != orig.RSP || f[4]&3 != uint64(map[bool]int{false: 0, true: 3}[user]) {
					t.Errorf("frame %#x: want error 0, rip %#x, rsp %#x", f, rip, orig.RSP)
				}
			})
		}
	}
}
