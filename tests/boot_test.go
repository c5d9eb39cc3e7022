package tests

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Boots of the image straight from QEMU's -kernel (multiboot1 with address
// fields: QEMU prefers it to the PVH note).

// TestSelftestKernel runs the in-hypervisor suite with small and large
// memory (-m 4G puts 1 GiB above 4 GiB on QEMU's pc machine).
func TestSelftestKernel(t *testing.T) {
	elf, _ := image(t)
	for _, mem := range []string{"512M", "4G"} {
		t.Run(mem, func(t *testing.T) {
			t.Parallel()
			r := run(t, boot{args: []string{"-m", mem, "-kernel", elf, "-append", "selftest"}})
			r.wantLines(t, "(XEN) Bootloader: qemu", "(XEN) Command line: selftest", "(XEN) Multiboot-e820 RAM map:")
			wantSelftestPass(t, r)
			r.wantExit(t, exitPowerOff)
			if mem == "4G" {
				r.wantMatch(t, `\(XEN\)  \[0000000100000000, 000000013fffffff\] \(usable\)`)
			}
		})
	}
}

// wantSelftestPass checks every selftest line and the verdict.
func wantSelftestPass(t *testing.T, r result) {
	t.Helper()
	for _, name := range []string{"fmt", "maps", "recover", "goroutines", "threads", "select", "timers", "gc", "preempt", "stress", "cpus", "wallclock", "vdso", "munmap", "ring3"} {
		r.wantMatch(t, `\(XEN\) selftest: `+name+`: ok.*`)
	}
	r.wantMatch(t, `\(XEN\) selftest: shim: \d+ syscalls, 0 unknown, .*`)
	r.wantLines(t, "(XEN) selftest: PASS")
	for _, l := range strings.Split(r.serial, "\n") {
		if strings.Contains(l, "selftest: ") && (strings.Contains(l, "timers") || strings.Contains(l, "gc") || strings.Contains(l, "shim") ||
			strings.Contains(l, "stress") || strings.Contains(l, "cpus") || strings.Contains(l, "ring3") || strings.Contains(l, "munmap")) {
			t.Log(l) // the figures the suite measured
		}
	}
}

// TestReadyNoDom0 is `make run`'s boot: options parsed (with the warnings
// Xen gives for bad ones), memory map and the frame allocator reported,
// then the ready line and a clean power-off.
func TestReadyNoDom0(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf,
		"-append", "console=com1 com1=115200,8n1 loglvl=all/all guest_loglvl=info foo=bar dom0_mem=12Q noreboot sync_console"}})
	r.wantLines(t,
		"(XEN) Command line: console=com1 com1=115200,8n1 loglvl=all/all guest_loglvl=info foo=bar dom0_mem=12Q noreboot sync_console",
		"(XEN) Multiboot-e820 RAM map:",
		`(XEN) parameter "foo" unknown!`,
		`(XEN) parameter "dom0_mem" has invalid value "12Q", rc=-22!`,
		"(XEN) Std. Loglevel: All",
		"(XEN) Guest Loglevel: Errors, warnings and info",
		"(XEN) gohv ready: no dom0 module given",
	)
	r.wantMatch(t,
		`\(XEN\) Detected \d+\.\d{3} MHz processor\.`,
		`\(XEN\) (4[0-9]{2}) MiB free for domains \(\d+ frames\)`,
		`\(XEN\) gohv memory: image \d+ KiB, heap \d+ KiB in use \(peak \d+ KiB\) of 32768 KiB held \(0 KiB grown\)`,
	)
	// Without dom0, what gohv keeps is every frame not free for domains.
	if _, _, err := gohvKept(r.serial); err != nil {
		t.Error(err)
	}
	r.wantExit(t, exitPowerOff)
}

// TestReadyInstructions: under -icount (1 ns of guest time per
// instruction, halts skipped), gohv's own count from its TSC calibration
// to the ready line, with no dom0 module, stays under 20 ms: kmain's
// local APIC calibration shares the TSC's windows instead of waiting 50
// ms of its own (56 ms when it did), and the runtime's start unmaps its
// failed heap-arena reservations without walking their absent page
// tables a page at a time (73 ms when it did; 123 ms with both). It is
// about 6 ms.
func TestReadyInstructions(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "console=com1"}, icount: true,
		stopAt: "(XEN) gohv ready: no dom0 module given"})
	if !r.stopped {
		t.Fatalf("gohv never got ready:\n%s", r.serial)
	}
	m := regexp.MustCompile(`\(XEN\) gohv time: (\d+) ms since the TSC was calibrated`).FindStringSubmatch(r.serial)
	if m == nil {
		t.Fatalf("no gohv time line:\n%s", r.serial)
	}
	if ms, _ := strconv.Atoi(m[1]); ms >= 20 {
		t.Errorf("%s ms of instructions from the TSC's calibration to ready, want under 20", m[1])
	}
	t.Logf("%s ms of instructions from the TSC's calibration to ready", m[1])
}

// TestModules passes two modules with command lines (QEMU's -initrd
// "file args,file args"): they are listed and excluded from the heap and
// the frame allocator. Module 0 is not a kernel, so building dom0 fails
// with one line naming what is wrong, then Xen's panic and a reset.
func TestModules(t *testing.T) {
	elf, _ := image(t)
	dir := t.TempDir()
	k, rd := filepath.Join(dir, "kernel.bin"), filepath.Join(dir, "initrd.bin")
	os.WriteFile(k, make([]byte, 300<<10), 0o644)
	os.WriteFile(rd, make([]byte, 5000), 0o644)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "loglvl=all",
		"-initrd", k + " console=hvc0 root=/dev/ram0," + rd}})
	r.wantMatch(t,
		`\(XEN\) Module 0: 0x[0-9a-f]+ - 0x[0-9a-f]+ \(300 KiB\) `+k+` console=hvc0 root=/dev/ram0`,
		`\(XEN\) Module 1: 0x[0-9a-f]+ - 0x[0-9a-f]+ \(5 KiB\) `+rd,
	)
	r.wantMatch(t, `\(XEN\) Panic on CPU \d+:`) // the CPU main's thread was on
	r.wantLines(t,
		"(XEN) Could not set up DOM0 guest OS: the kernel image is neither an ELF file nor a bzImage: it starts 00 00 00 00 00 00",
		"(XEN) Reboot in five seconds...")
	r.wantExit(t, exitReset)
}

// TestFault: a page fault in gohv's own Go code prints Xen's register dump,
// then a Go traceback through the faulting function, then the panic banner,
// and the machine resets (QEMU's -no-reboot turns that into exit 0).
func TestFault(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "selftest=fault"}})
	r.wantLines(t,
		"(XEN) selftest: taking a page fault in gohv on purpose",
		"(XEN) ----[ gohv x86_64  debug=n  Not tainted ]----",
		"(XEN) FATAL TRAP: vector = 14 (page fault)",
		"(XEN) [error_code=0002]",
		"(XEN) Faulting linear address: 0000000000000010",
		"(XEN) goroutine 1 [running]:",
		"(XEN) ****************************************",
		"(XEN) FATAL TRAP: vector = 14 (page fault)",
		"(XEN) Reboot in five seconds...",
	)
	r.wantMatch(t,
		`\(XEN\) CPU:    \d+`, // the CPU the faulting thread was on (0 without -smp)
		`\(XEN\) Panic on CPU \d+:`,
		`\(XEN\) RIP:    e008:\[<[0-9a-f]{16}>\]`,
		`\(XEN\) cr3: [0-9a-f]{16}   cr2: 0000000000000010`,
		`\(XEN\) panic: gohv fault: vector 14 \(page fault\) at rip 0x[0-9a-f]+, error code 0x2, address 0x10`,
		`\(XEN\) main\.faultVictim\(.*\)`,
		`\(XEN\) main\.runSelfTest\(.*\)`,
	)
	r.wantExit(t, exitReset)
}

// TestPanic: a Go panic prints its traceback on the console, then Xen's
// panic banner and a reset.
func TestPanic(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "selftest=panic"}})
	r.wantLines(t,
		"(XEN) panic: selftest: deliberate Go panic",
		"(XEN) goroutine 1 [running]:",
		"(XEN) main.panicVictim()",
		"(XEN) gohv: Go runtime ended with exit status 2",
		"(XEN) Reboot in five seconds...",
	)
	r.wantMatch(t, `\(XEN\) Panic on CPU \d+:`)
	r.wantExit(t, exitReset)
}

// TestNoReboot: with noreboot a panic halts instead (QEMU keeps running
// until the harness stops it).
func TestNoReboot(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "selftest=panic noreboot"},
		stopAt: "(XEN) Manual reset required ('noreboot' specified)", timeout: time.Minute})
	if !r.stopped {
		t.Errorf("never halted with the noreboot line\n%s", r.serial)
	}
	if strings.Contains(r.serial, "Reboot in five seconds") {
		t.Errorf("rebooted despite noreboot")
	}
}

// TestHeapExhausted: when the Go runtime needs more memory than the
// hypervisor heap has, gohv says so on one line and panics, never hangs.
func TestHeapExhausted(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "selftest=oom"}})
	r.wantMatch(t, `\(XEN\) PANIC: gohv heap exhausted: \d+ KiB of 32768 KiB in use, 511 MiB of RAM`)
	r.wantMatch(t, `\(XEN\) Panic on CPU \d+:`)
	r.wantLines(t, "(XEN) Reboot in five seconds...")
	r.wantExit(t, exitReset)
}

// TestHeapGrows: once settled as after dom0's build (its free frames
// given back but 2 MiB), the heap grows from the domain frame allocator
// while the runtime keeps 16 MiB live, a MiB at a time with a yield every 256 KiB, and takes the dead
// memory back on its free list, then gives what it holds beyond its spare
// back to the domain allocator, on two CPUs so that the dead memory goes
// through the limbo of frames other CPUs may still cache; the domain
// allocator's count matches what the heap took (selftest=heap checks
// each). With growth broken the heap runs out and the machine panics.
// With every frame taken, 16 MiB of garbage must cost collections, not
// frames: the runtime is held to what it uses (holdHeap), and the loan's
// 256 KiB reserve covers the rest (without the hold the heap runs out).
// The account of where the heap's frames are (loglvl=all) is checked
// there too: its parts add up to the frames in use, and the arena holds
// the 16 MiB live.
func TestHeapGrows(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-smp", "2", "-kernel", elf, "-append", "selftest=heap loglvl=all"}})
	r.wantMatch(t, `\(XEN\) selftest: heap: grown by \d+ KiB to \d+ KiB held \(\d+ KiB in use\) with 16 MiB live; \d+ KiB in use after they died, \d+ KiB held once given back`)
	r.wantMatch(t, `\(XEN\) gohv heap use: \d+ KiB in use: mmap window \d+ KiB \(arena (\d{5,}) KiB, other blocks \d+ KiB\), kernel stacks \d+ KiB \(\d+ slots, \d+ threads, at most \d+ KiB deep\), IST stacks \d+ KiB \(at most \d+ KiB deep\), window page tables \d+ KiB; spare: .*`)
	r.wantMatch(t, `\(XEN\) selftest: heap: a domain took \d+ free frames, [1-9]\d* of them lent to the heap; then 16 MiB of garbage took \d+ KiB more and [1-9]\d* collections`)
	r.wantLines(t, "(XEN) selftest: heap: ok", "(XEN) selftest: PASS")
	r.wantExit(t, exitPowerOff)
	for _, l := range strings.Split(r.serial, "\n") {
		if strings.Contains(l, "selftest: heap") {
			t.Log(l)
		}
	}
}

// TestInitMemory: the image's init memory and the direct map's unused
// page tables go to the domain allocator (selftest=initmem, on two CPUs so
// that an AP's boot stack stays and the shootdown reaches it): every
// frame given is free there, the image gives at least the 60 PD pages a
// 512 MiB machine's direct map does not need (it keeps 4 GiB) and the
// trampoline, the direct map reads up to 4 GiB and not past it, grows
// for device memory above, and no AP starts afterwards.
func TestInitMemory(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-smp", "2", "-kernel", elf, "-append", "selftest=initmem"}})
	r.wantMatch(t, `\(XEN\) selftest: initmem: the image gave \d+ KiB in \d+ ranges, the direct map ends at 4 GiB, 6 GiB after a device read above`)
	r.wantLines(t, "(XEN) selftest: initmem: ok", "(XEN) selftest: PASS")
	r.wantExit(t, exitPowerOff)
	for _, l := range strings.Split(r.serial, "\n") {
		if strings.Contains(l, "selftest: initmem") {
			t.Log(l)
		}
	}
}

// TestHeapExhaustedGrown: a settled heap that has grown back to its boot
// size and still runs out says why it could not grow (the grower's
// warning names the boot size and what the domains have free) and how far
// it grew, then panics.
func TestHeapExhaustedGrown(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "selftest=oomgrown"}})
	r.wantMatch(t, `\(XEN\) gohv heap: cannot grow past \d+ KiB \(boot size 32768 KiB, \d+ KiB free for domains\)`)
	r.wantMatch(t, `\(XEN\) PANIC: gohv heap exhausted: \d+ KiB of \d+ KiB in use, 511 MiB of RAM, grown by [1-9]\d* KiB, and could grow no more`)
	r.wantLines(t, "(XEN) Reboot in five seconds...")
	r.wantExit(t, exitReset)
}

// TestNoLongMode: on a CPU without long mode (QEMU's qemu32 model) the
// 32-bit entry says so on the serial port, in Xen's words, and halts.
// Xen 4.17's own entry, run on the same CPU, gives the words: it writes
// them to COM1 bare (no "(XEN) ", no newline) and halts; gohv's line is
// "(XEN) " and the same words.
func TestNoLongMode(t *testing.T) {
	elf, _ := image(t)
	xen := xenForGuests(t)
	args := []string{"-cpu", "qemu32", "-m", "256M", "-kernel"}
	vm := startDom0(t, append(args, xen))
	var words string
	errRe := regexp.MustCompile(`ERR: [^\r\n]*!`)
	for end := time.Now().Add(time.Minute); words == "" && time.Now().Before(end) && !vm.exited(); time.Sleep(20 * time.Millisecond) {
		words = errRe.FindString(vm.log())
	}
	xlog, _ := vm.stop(0)
	if words == "" {
		t.Fatalf("Xen on qemu32 printed no \"ERR: ...!\"\n--- Xen serial ---\n%s", xlog)
	}
	t.Logf("Xen 4.17 on qemu32: %q", xlog)
	r := run(t, boot{args: append(args, elf), stopAt: words, timeout: time.Minute})
	r.wantLines(t, "(XEN) "+words)
	if !r.stopped {
		t.Errorf("no line about the CPU")
	}
}

// TestDom0LimitLines: a third boot module and a dom0_mem above the
// machine's memory each give one line, on gohv as on Xen 4.17 with the
// same modules and command line (the hello test guest as dom0, which
// prints its result and powers off): Xen's "Multiple initrd candidates,
// picking module #1" on both, and on gohv "Dom0 memory clipped to <n>
// pages ..." with n the pages dom0 is then given, where Xen clamps the
// amount without a line (its "Dom0 alloc." line shows the clamp).
func TestDom0LimitLines(t *testing.T) {
	elf, _ := image(t)
	guest := filepath.Join(guestsDir(t), "hello.elf")
	dir := t.TempDir()
	rd, extra := filepath.Join(dir, "initrd.bin"), filepath.Join(dir, "extra.bin")
	must(t, os.WriteFile(rd, make([]byte, 5000), 0o644))
	must(t, os.WriteFile(extra, make([]byte, 3000), 0o644))
	const cmdline = "console=com1 com1=115200,8n1 dom0_mem=4G noreboot"
	allocRe := regexp.MustCompile(`(?m)^\(XEN\)  Dom0 alloc\.: +[0-9a-f]{16}->[0-9a-f]{16} \((\d+) pages to be allocated\)$`)
	for _, hv := range []string{"gohv", "xen"} {
		t.Run(hv, func(t *testing.T) {
			t.Parallel()
			kernel := elf
			if hv == "xen" {
				kernel = xenForGuests(t)
			}
			// Xen halts after dom0's poweroff under noreboot; gohv powers off.
			r := run(t, boot{args: []string{"-m", "512M", "-kernel", kernel, "-append", cmdline,
				"-initrd", guest + "," + rd + "," + extra + " extra=1"},
				stopAt: "(XEN) Hardware Dom0 halted: ", timeout: 2 * time.Minute})
			r.wantLines(t, "(XEN) Multiple initrd candidates, picking module #1", "Test result: SUCCESS hello")
			if n := strings.Count(r.serial, "Multiple initrd candidates"); n != 1 {
				t.Errorf("%d lines about the initrd candidates, want 1", n)
			}
			m := allocRe.FindStringSubmatch(r.serial)
			if m == nil {
				t.Fatalf("no \"Dom0 alloc.\" line\n--- serial ---\n%s", r.serial)
			}
			pages, _ := strconv.Atoi(m[1])
			if pages >= 512<<20/4096 {
				t.Errorf("dom0 given %d pages on a 512 MiB machine", pages)
			}
			if hv == "xen" {
				// Xen 4.17 lowers dom0_mem to what it has without a line.
				if strings.Contains(r.serial, "Dom0 memory clipped") {
					t.Errorf("Xen printed a clip line: boot.Dom0Mem.ClipLine's comment is out of date\n--- serial ---\n%s", r.serial)
				}
				return
			}
			clip := r.wantMatch(t, `\(XEN\) Dom0 memory clipped to (\d+) pages \(dom0_mem asks 4096 MiB; \d+ MiB free for domains\)`)
			if len(clip) == 1 && clip[0] != m[1] {
				t.Errorf("clipped to %s pages, but %s pages allocated", clip[0], m[1])
			}
			if n := strings.Count(r.serial, "Dom0 memory clipped"); n != 1 {
				t.Errorf("%d clip lines, want 1", n)
			}
		})
	}
}

// TestENOSYSLines: at loglvl=all the first -ENOSYS a domain gets for a
// hypercall or sub-op gives one "(XEN) d0v0 ..." line naming it, before
// the guest sees the error; at the default loglvl, none. The hello test
// guest calls hypercall 11 (none in Xen 4.17) and console_io's unknown
// cmd 7 and prints what each returned. Xen 4.17 prints nothing for them.
func TestENOSYSLines(t *testing.T) {
	elf, _ := image(t)
	guest := filepath.Join(guestsDir(t), "hello.elf")
	for _, loglvl := range []string{"all", "default"} {
		t.Run(loglvl, func(t *testing.T) {
			t.Parallel()
			cmdline := xenCmdline
			if loglvl == "all" {
				cmdline += " loglvl=all"
			}
			r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", cmdline, "-initrd", guest}})
			r.wantExit(t, exitPowerOff)
			// The guest's own lines, each -ENOSYS line before its call's.
			lines := []string{"hypercall 11 -> -38", "console_io(7) -> -38", "Test result: SUCCESS hello"}
			if loglvl == "all" {
				lines = []string{"(XEN) d0v0 hypercall 11 (unknown): -ENOSYS", lines[0],
					"(XEN) d0v0 hypercall 18 (console_io) cmd 7: -ENOSYS", lines[1], lines[2]}
				if n := strings.Count(r.serial, "ENOSYS"); n != 2 {
					t.Errorf("%d -ENOSYS lines, want 2\n--- serial ---\n%s", n, r.serial)
				}
			} else if strings.Contains(r.serial, "ENOSYS") {
				t.Errorf("an -ENOSYS line below loglvl=all\n--- serial ---\n%s", r.serial)
			}
			r.wantLines(t, lines...)
		})
	}
}

// TestPVH boots the same image through QEMU's PVH loader: with the
// multiboot1 magic blanked, QEMU falls back to the XEN_ELFNOTE_PHYS32_ENTRY
// note mkimage wrote.
func TestPVH(t *testing.T) {
	elf, _ := image(t)
	b, err := os.ReadFile(elf)
	if err != nil {
		t.Fatal(err)
	}
	// Blank every multiboot1 magic in the first 8 KiB (the header's first word).
	n := 0
	for off := 0; off+4 <= 8192 && off+4 <= len(b); off += 4 {
		if b[off] == 0x02 && b[off+1] == 0xB0 && b[off+2] == 0xAD && b[off+3] == 0x1B {
			b[off] = 0
			n++
		}
	}
	if n != 1 {
		t.Fatalf("found %d multiboot1 headers, want 1", n)
	}
	pvh := filepath.Join(t.TempDir(), "gohv-pvh")
	if err := os.WriteFile(pvh, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", pvh, "-append", "selftest"}})
	r.wantMatch(t, `\(XEN\) PVH start info: \(pa [0-9a-f]{8}\)`, `\(XEN\)   version:    1`)
	r.wantLines(t, "(XEN) Command line: selftest", "(XEN) PVH-e820 RAM map:")
	wantSelftestPass(t, r)
	r.wantExit(t, exitPowerOff)
}

// TestSMP boots the selftest with -smp 2 (pc) and -smp 4 (q35), under
// MTTCG (one host thread per CPU, so the CPUs really run at once), and
// -smp 4 with maxcpus=2: gohv reads QEMU's MADT and reports one enabled
// LAPIC per CPU, the IO-APIC and the ISA overrides in Xen's words,
// registers the IO-APIC (its version and pins read from it), allows as
// many CPUs as -smp gives, brings up every AP (INIT-SIPI-SIPI) or as many
// as maxcpus= lets it, each answering an IPI, and the selftest passes
// with GOMAXPROCS the CPU count and every CPU running Go code (its cpus
// line counts each CPU's thread runs) through the stress check, the CPUs
// waking one another by IPIs sent only once the sender has released the
// shim lock.
func TestSMP(t *testing.T) {
	elf, _ := image(t)
	for _, c := range []struct {
		machine string
		cpus    int
		up      int // CPUs brought up
		extra   string
	}{{"pc", 2, 2, ""}, {"q35", 4, 4, ""}, {"q35", 4, 2, " maxcpus=2"}} {
		t.Run(fmt.Sprintf("%s-smp%d%s", c.machine, c.cpus, strings.ReplaceAll(c.extra, " ", "-")), func(t *testing.T) {
			t.Parallel()
			r := run(t, boot{args: []string{"-machine", c.machine, "-smp", strconv.Itoa(c.cpus), "-m", "512M",
				"-kernel", elf, "-append", "selftest" + c.extra}, timeout: 5 * time.Minute})
			for i := 0; i < c.cpus; i++ {
				r.wantLines(t, fmt.Sprintf("(XEN) ACPI: LAPIC (acpi_id[0x%02x] lapic_id[0x%02x] enabled)", i, i))
			}
			if n := strings.Count(r.serial, "(XEN) ACPI: LAPIC ("); n != c.cpus {
				t.Errorf("%d LAPIC lines, want %d", n, c.cpus)
			}
			// Every AP started through the trampoline and answered an IPI.
			for i := 1; i < c.up; i++ {
				r.wantLines(t, fmt.Sprintf("(XEN) CPU%d: APIC ID %d online, scheduling; answered an IPI", i, i))
			}
			if n := strings.Count(r.serial, "online, scheduling"); n != c.up-1 {
				t.Errorf("%d APs online, want %d", n, c.up-1)
			}
			r.wantLines(t, fmt.Sprintf("(XEN) Brought up %d CPUs", c.up))
			r.wantLines(t,
				"(XEN) ACPI: Local APIC address 0xfee00000",
				"(XEN) ACPI: IOAPIC (id[0x00] address[0xfec00000] gsi_base[0])",
				"(XEN) IOAPIC[0]: apic_id 0, version 32, address 0xfec00000, GSI 0-23",
				"(XEN) ACPI: INT_SRC_OVR (bus 0 bus_irq 0 global_irq 2 dfl dfl)",
				"(XEN) ACPI: IRQ0 used by override.",
				"(XEN) Enabling APIC mode.  Using 1 I/O APICs",
				"(XEN) Using ACPI (MADT) for SMP configuration information",
				fmt.Sprintf("(XEN) SMP: Allowing %d CPUs (0 hotplug CPUs)", c.cpus),
			)
			r.wantMatch(t, fmt.Sprintf(`\(XEN\) selftest: cpus: ok \(%d CPUs, GOMAXPROCS %d: CPU0 [1-9]\d* thread runs.*`, c.up, c.up))
			for i := 1; i < c.up; i++ {
				r.wantMatch(t, fmt.Sprintf(`\(XEN\) selftest: cpus: ok .*; CPU%d [1-9]\d* thread runs, .*`, i))
			}
			// The CPUs woke one another, each IPI sent after its sender
			// released the shim lock (rt's shimUnlock).
			r.wantMatch(t, `\(XEN\) selftest: cpus: ok .*; [1-9]\d* wake-up IPIs, 0 sent holding the shim lock\)`)
			wantSelftestPass(t, r)
			r.wantExit(t, exitPowerOff)
		})
	}
}

// TestConsoleCOM2: console=com2 moves the console to the second UART
// (QEMU's second -serial); nothing reaches the first.
func TestConsoleCOM2(t *testing.T) {
	elf, _ := image(t)
	com2 := filepath.Join(t.TempDir(), "com2.log")
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-serial", "file:" + com2,
		"-append", "console=com2 com2=57600,8n1"}})
	b, err := os.ReadFile(com2)
	if err != nil {
		t.Fatal(err)
	}
	c2 := result{serial: strings.ReplaceAll(string(b), "\r\n", "\n")}
	c2.wantLines(t, "(XEN) Command line: console=com2 com2=57600,8n1", "(XEN) gohv ready: no dom0 module given")
	if strings.TrimSpace(r.serial) != "" {
		t.Errorf("COM1 got output with console=com2:\n%s", r.serial)
	}
	r.wantExit(t, exitPowerOff)
}

// TestACPIPowerOff: with no isa-debug-exit device, power-off goes through
// ACPI S5 (the FADT's PM1a_CNT and \_S5 from the DSDT); QEMU then exits 0
// without a reset or a halt message.
func TestACPIPowerOff(t *testing.T) {
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", "loglvl=all"}, noDebugExit: true, timeout: time.Minute})
	r.wantMatch(t, `\(XEN\) ACPI: RSDP [0-9A-F]{8}, 0014 \(r0 BOCHS \)`, `\(XEN\) ACPI: FACP [0-9A-F]{8}, .*`)
	r.wantLines(t, "(XEN) ACPI: S5 power-off through PM1a_CNT 0x604 SLP_TYP 0", "(XEN) gohv ready: no dom0 module given")
	if strings.Contains(r.serial, "System halted") || strings.Contains(r.serial, "Reboot") {
		t.Errorf("did not power off through ACPI:\n%s", r.serial)
	}
	r.wantExit(t, exitReset)
}

// TestConsoleInput types on the serial line (QEMU's stdio chardev): the
// UART's receive interrupt brings the bytes to gohv's input handler.
func TestConsoleInput(t *testing.T) {
	elf, _ := image(t)
	need(t, "qemu-system-x86_64")
	qemuCPUSlots <- struct{}{}
	defer func() { <-qemuCPUSlots }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g := startGroup(t, ctx, "qemu-system-x86_64", "-accel", "tcg", "-display", "none", "-no-reboot",
		"-nodefaults", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-m", "512M", "-kernel", elf, "-append", "selftest=console")
	cmd := g.cmd
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		out.WriteString(l + "\n")
		if l == "(XEN) selftest: console: type a line" {
			io.WriteString(stdin, "serial ok\r") // no debug-key letters (h, m, R)
		}
	}
	err = g.wait()
	r := result{serial: out.String(), exit: -1}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.exit = ee.ExitCode()
	}
	r.wantLines(t, "(XEN) *** Serial input to Xen (type 'CTRL-a' three times to switch input)",
		"(XEN) selftest: console: got 'serial ok'", "(XEN) selftest: PASS")
	r.wantExit(t, exitPowerOff)
}
