package tests

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
	"github.com/gohv/gohv/internal/testenv"
)

// linuxFailures are the lines after which a Linux dom0 run has failed,
// whatever else it prints: Linux's panic, oops and warning prints, and
// gohv's (Xen's) prints for a crashed domain or a hypervisor panic.
var linuxFailures = regexpsOf(
	// Linux
	`Kernel panic - not syncing`,
	`\bBUG: `,
	`kernel BUG at`,
	`\bOops: `,
	`general protection fault`,
	`invalid opcode: `,
	`double fault: `,
	`stack segment: `,
	`Unable to handle kernel`,
	`WARNING: CPU: `,
	`Call Trace:`,
	// gohv (Xen's wording), the Go runtime under it
	`^\(XEN\) .*\bUnhandled: vec `,
	`^\(XEN\) .*domain crash: `,
	`crashed on cpu#`,
	`Hardware Dom0 crashed`,
	`^\(XEN\) Panic on CPU`,
	`FATAL`,
	`PANIC`,
	`(^|\) )(panic|fatal error): `,
)

func regexpsOf(exprs ...string) []*regexp.Regexp {
	res := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		res[i] = regexp.MustCompile(e)
	}
	return res
}

// vmlinuxOf extracts the ELF kernel of a bzImage with the system's xz:
// the payload (boot protocol 2.08+: payload_offset at 0x248 from the start
// of the protected-mode code, payload_length at 0x24c) is an XZ stream
// followed by Linux's 4-byte size trailer.
func vmlinuxOf(t *testing.T, bz []byte) []byte {
	t.Helper()
	xz := testenv.NeedTool(t, "xz")[0]
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		t.Fatalf("not a bzImage (no HdrS)")
	}
	setupSects := int(bz[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	off := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[0x248:]))
	n := int(binary.LittleEndian.Uint32(bz[0x24c:]))
	if off+n > len(bz) || !bytes.HasPrefix(bz[off:], []byte("\xfd7zXZ\x00")) {
		t.Fatalf("bzImage payload at %#x (%#x bytes) is not XZ", off, n)
	}
	cmd := exec.Command(xz, "--decompress", "--stdout", "--single-stream")
	cmd.Stdin = bytes.NewReader(bz[off : off+n])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v\n%s", err, stderr.String())
	}
	return out
}

// dom0Layout is what a Xen-style dom0 builder prints for a kernel, worked
// out here from the kernel's ELF program headers and Xen notes and the
// layout rules of Xen's PV dom0 builder (x86 pv/dom0_build.c), not from
// gohv's code.
type dom0Layout struct {
	pstart, pend       uint64 // lowest p_paddr, highest p_paddr+p_memsz of PT_LOAD
	kstart, kend       uint64 // the same, virtual (VIRT_BASE - PADDR_OFFSET added)
	entry              uint64 // XEN_ELFNOTE_ENTRY
	p2m, p2mEnd        uint64 // XEN_ELFNOTE_INIT_P2M, and its end for nrPages
	ptStart, ptEnd     uint64 // the initial page tables
	vstart, vend       uint64 // the whole initial mapping
	startInfoPages     uint64
	virtBase, paddrOff uint64
	pae                bool // XEN_ELFNOTE_PAE_MODE says yes or bimodal
}

// paeText is what Xen's "Dom0 kernel:" line says of PAE.
func (l dom0Layout) paeText() string {
	if l.pae {
		return ", PAE"
	}
	return ""
}

// forXenNotes calls fn with the type and descriptor of each "Xen" ELF
// note in the kernel's PT_NOTE segments.
func forXenNotes(t *testing.T, f *elf.File, fn func(typ uint32, desc []byte)) {
	t.Helper()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			t.Fatalf("PT_NOTE: %v", err)
		}
		for len(b) >= 12 {
			nsz, dsz, typ := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
			align4 := func(x uint32) int { return int((x + 3) &^ 3) }
			if 12+align4(nsz)+align4(dsz) > len(b) {
				t.Fatalf("truncated ELF note")
			}
			if string(bytes.TrimRight(b[12:12+nsz], "\x00")) == "Xen" {
				fn(typ, b[12+align4(nsz):12+align4(nsz)+int(dsz)])
			}
			b = b[12+align4(nsz)+align4(dsz):]
		}
	}
}

// xenNotes returns the kernel's 8-byte Xen notes by type.
func xenNotes(t *testing.T, f *elf.File) map[uint32]uint64 {
	t.Helper()
	notes := map[uint32]uint64{}
	forXenNotes(t, f, func(typ uint32, desc []byte) {
		if len(desc) == 8 {
			notes[typ] = binary.LittleEndian.Uint64(desc)
		}
	})
	return notes
}

// xenPAEMode returns the string of the kernel's XEN_ELFNOTE_PAE_MODE note
// ("" without one).
func xenPAEMode(t *testing.T, f *elf.File) string {
	t.Helper()
	mode := ""
	forXenNotes(t, f, func(typ uint32, desc []byte) {
		if typ == abi.XEN_ELFNOTE_PAE_MODE {
			mode = string(bytes.TrimRight(desc, "\x00"))
		}
	})
	return mode
}

func computeDom0Layout(t *testing.T, vmlinux []byte, nrPages uint64) dom0Layout {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		t.Fatalf("vmlinux: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 {
		t.Fatalf("vmlinux is %v %v %v, want a 64-bit LSB x86-64 ELF", f.Class, f.Data, f.Machine)
	}
	var l dom0Layout
	l.pstart = ^uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			l.pstart = min(l.pstart, p.Paddr)
			l.pend = max(l.pend, p.Paddr+p.Memsz)
		}
	}
	notes := xenNotes(t, f)
	mode := xenPAEMode(t, f)
	l.pae = strings.HasPrefix(mode, "yes") || mode == "bimodal"
	for _, n := range []uint32{abi.XEN_ELFNOTE_ENTRY, abi.XEN_ELFNOTE_VIRT_BASE, abi.XEN_ELFNOTE_INIT_P2M} {
		if _, ok := notes[n]; !ok {
			t.Fatalf("vmlinux has no 8-byte Xen note %d", n)
		}
	}
	const page, mib4 = 4096, 4 << 20
	l.virtBase, l.paddrOff = notes[abi.XEN_ELFNOTE_VIRT_BASE], notes[abi.XEN_ELFNOTE_PADDR_OFFSET]
	off := l.virtBase - l.paddrOff
	l.kstart, l.kend, l.entry = l.pstart+off, l.pend+off, notes[abi.XEN_ELFNOTE_ENTRY]
	// INIT_P2M: the P2M list is mapped at that address, apart from the
	// initial mapping, one 8-byte entry per page.
	l.p2m = notes[abi.XEN_ELFNOTE_INIT_P2M]
	l.p2mEnd = l.p2m + (nrPages*8+page-1)&^(page-1)
	// No initrd: after the kernel come start_info (with the dom0 VGA
	// console info) and then the page tables, each page-aligned.
	infoSize := uint64(reflect.TypeFor[abi.StartInfo]().Size() + reflect.TypeFor[abi.Dom0VgaConsoleInfo]().Size())
	l.startInfoPages = (infoSize + page - 1) / page
	l.ptStart = (l.kend+page-1)&^(page-1) + l.startInfoPages*page
	l.vstart = l.virtBase
	// The page tables must map [vstart, vend), vend being the end of the
	// tables plus a one-page boot stack, rounded up to 4 MiB with at least
	// 512 KiB to spare; so try counts until one L4, and the L3, L2 and L1
	// tables spanning that range, fit.
	tables := func(lo, hi uint64, shift uint) uint64 { return ((hi - 1) >> shift) - (lo >> shift) + 1 }
	for n := uint64(1); ; n++ {
		end := l.ptStart + n*page + page
		vend := (end + 512<<10 + mib4 - 1) &^ (mib4 - 1)
		if 1+tables(l.vstart, vend, 39)+tables(l.vstart, vend, 30)+tables(l.vstart, vend, 21) <= n {
			l.ptEnd, l.vend = l.ptStart+n*page, vend
			break
		}
		if n > 4096 {
			t.Fatal("no page-table count fits")
		}
	}
	return l
}

// TestLinuxDom0 boots Debian's Linux 6.1 bzImage (GOHV_VMLINUZ, which
// `make test` fetches) as gohv's dom0 with no initrd. gohv unpacks it (XZ
// with the x86 BCJ filter) straight into dom0's memory and lays it out as
// Xen's dom0 builder does; the layout lines are computed from the kernel
// image itself (decompressed with the system's xz, read with debug/elf) by
// Xen's layout rules. Linux's xen_start_kernel must run to its last line,
// "about to get started...", and the run fails the moment a panic, oops,
// warning or domain crash line appears (linuxFailures). The run stops
// there; TestLinuxDom0Initrd follows Linux further.
func TestLinuxDom0(t *testing.T) {
	k := testenv.NeedEnv(t, "GOHV_VMLINUZ", "`make test` sets it from scripts/fetch-kernel.sh")
	bz, err := os.ReadFile(k)
	must(t, err)
	const memMiB = 512
	l := computeDom0Layout(t, vmlinuxOf(t, bz), memMiB<<20/4096)
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "1G", "-kernel", elf, "-append", fmt.Sprintf("dom0_mem=%dM loglvl=all noreboot", memMiB),
		"-initrd", k + " console=hvc0 earlyprintk=xen"},
		stopAt: "about to get started...", timeout: 5 * time.Minute, failOn: linuxFailures})
	if r.failure != "" {
		t.Fatalf("failure line %q\n--- serial ---\n%s", r.failure, r.serial)
	}
	r.wantLines(t,
		fmt.Sprintf("(XEN)  Dom0 kernel: 64-bit%s, lsb, paddr %#x -> %#x", l.paeText(), l.pstart, l.pend),
		fmt.Sprintf("(XEN)  Loaded kernel: %016x->%016x", l.kstart, l.kend),
		fmt.Sprintf("(XEN)  Phys-Mach map: %016x->%016x", l.p2m, l.p2mEnd),
		fmt.Sprintf("(XEN)  Page tables:   %016x->%016x", l.ptStart, l.ptEnd),
		fmt.Sprintf("(XEN)  TOTAL:         %016x->%016x", l.vstart, l.vend),
		fmt.Sprintf("(XEN)  ENTRY ADDRESS: %016x", l.entry),
		fmt.Sprintf("(XEN) gohv ready: dom0 running (%d MiB)", memMiB),
		"mapping kernel into physical memory",
		"about to get started...",
	)
	if !r.stopped {
		t.Errorf("Linux never reached the end of xen_start_kernel")
	}
}

// TestLinuxFailureLines: each kind of failure print is caught, and the
// lines of a good run are not.
func TestLinuxFailureLines(t *testing.T) {
	for _, bad := range []string{
		"[    0.000000] Kernel panic - not syncing: Attempted to kill the idle task!",
		"[    1.234567] BUG: kernel NULL pointer dereference, address: 0000000000000000",
		"[    0.000000] kernel BUG at arch/x86/xen/mmu_pv.c:123!",
		"[    0.000000] Oops: 0002 [#1] PREEMPT SMP NOPTI",
		"[    0.000000] general protection fault, probably for non-canonical address 0xdead: 0000 [#1]",
		"[    0.000000] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
		"[    0.000000] WARNING: CPU: 0 PID: 0 at arch/x86/xen/enlighten_pv.c:1 xen_start_kernel+0x1/0x2",
		"[    0.000000] Call Trace:",
		"(XEN) d0v0 Unhandled: vec 14, #PF[0002]",
		"(XEN) d0v0 domain crash: Unhandled page fault fault/trap [#14, ec=0002]",
		"(XEN) Domain 0 (vcpu#0) crashed on cpu#0:",
		"(XEN) Hardware Dom0 crashed: 'noreboot' set - not rebooting.",
		"(XEN) Panic on CPU 0:",
		"(XEN) FATAL TRAP: vector = 13 (general protection fault)",
		"(XEN) PANIC: gohv heap exhausted: 1 pages",
		"panic: runtime error: index out of range [3] with length 3",
		"(XEN) fatal error: all goroutines are asleep - deadlock!",
	} {
		if l, _ := firstMatch([]byte(bad+"\n"), linuxFailures); l != bad {
			t.Errorf("failure line not caught: %q", bad)
		}
	}
	for _, good := range []string{
		"(XEN)  Dom0 kernel: 64-bit, PAE, lsb, paddr 0x1000000 -> 0x4a00000",
		"(XEN) gohv ready: dom0 running (512 MiB)",
		"(XEN) *** Serial input to DOM0 (type 'CTRL-a' three times to switch input)",
		"mapping kernel into physical memory",
		"about to get started...",
		"[    0.000000] Linux version 6.1.0-57-amd64 (debian-kernel@lists.debian.org)",
	} {
		if l, _ := firstMatch([]byte(good+"\n"), linuxFailures); l != "" {
			t.Errorf("a good line counts as a failure: %q", good)
		}
	}
}

// TestLinuxDom0In384M boots the same kernel on a 384 MiB machine with
// dom0_mem left to its default, where Xen 4.17 boots it too: the kernel is
// unpacked straight into dom0's memory, read from its boot module where
// the loader put it and decoded with its XZ dictionary in dom0's frames
// (gohv's heap holds neither), with progress on the console; then the
// module and the heap gohv did not use go back to the domain allocator
// (Xen's "Freed ... init memory"), and gohv's kept line, the figure
// BenchmarkDom0Memory reports, adds up and agrees with dom0's size.
func TestLinuxDom0In384M(t *testing.T) {
	k := testenv.NeedEnv(t, "GOHV_VMLINUZ", "`make test` sets it from scripts/fetch-kernel.sh")
	bz, err := os.ReadFile(k)
	must(t, err)
	l := computeDom0Layout(t, vmlinuxOf(t, bz), 0)
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "384M", "-kernel", elf, "-append", "loglvl=all noreboot",
		"-initrd", k + " console=hvc0 earlyprintk=xen"},
		stopAt: "about to get started...", timeout: 5 * time.Minute, failOn: linuxFailures})
	if r.failure != "" {
		t.Fatalf("failure line %q\n--- serial ---\n%s", r.failure, r.serial)
	}
	r.wantLines(t,
		"(XEN) *** Building a PV Dom0 ***",
		"(XEN)  Xen  kernel: 64-bit, lsb",
		fmt.Sprintf("(XEN)  Dom0 kernel: 64-bit%s, lsb, paddr %#x -> %#x", l.paeText(), l.pstart, l.pend),
		fmt.Sprintf("(XEN)  Loaded kernel: %016x->%016x", l.kstart, l.kend),
		fmt.Sprintf("(XEN)  ENTRY ADDRESS: %016x", l.entry),
		"mapping kernel into physical memory",
		"about to get started...",
	)
	r.wantMatch(t, fmt.Sprintf(`\(XEN\) \*\*\* Uncompressed dom0 kernel \(xz\): %d KiB placed in dom0's memory in \d+ ms`, (l.pend-l.pstart)>>10))
	kept, _, err := gohvKept(r.serial)
	if err != nil {
		t.Fatal(err)
	}
	var dom0KiB, freedKiB, imageKiB int
	fmt.Sscanf(gohvKeptRe.FindStringSubmatch(r.serial)[4], "%d", &dom0KiB)
	r.wantLines(t, fmt.Sprintf("(XEN) gohv ready: dom0 running (%d MiB)", dom0KiB>>10))
	// The kernel's module, every page of it, comes back to the domain
	// allocator; gohv keeps less than a tenth of the machine.
	if m := regexp.MustCompile(`\(XEN\) Freed \d+kB init memory \(boot modules (\d+)kB, image (\d+)kB, hypervisor heap \d+kB\)`).FindStringSubmatch(r.serial); m != nil {
		fmt.Sscanf(m[1], "%d", &freedKiB)
		fmt.Sscanf(m[2], "%d", &imageKiB)
	}
	// The image's init memory goes too: at least the direct map's PD
	// pages beyond the 4 GiB a 384 MiB machine needs (60 of 64).
	if imageKiB < 60*4 {
		t.Errorf("%d KiB of the image freed, want at least %d", imageKiB, 60*4)
	}
	if pages := (len(bz) + 4095) / 4096; freedKiB < pages*4 {
		t.Errorf("%d KiB of boot modules freed, the kernel's module is %d pages", freedKiB, pages)
	}
	if kept > 384*1024/10 {
		t.Errorf("gohv keeps %.0f KiB of 384 MiB", kept)
	}
	if !r.stopped {
		t.Errorf("Linux never reached the end of xen_start_kernel")
	}
}

// newcCPIO is a cpio archive in the "newc" format the kernel's initramfs
// unpacker reads: each file (name, contents) as a regular file, then the
// trailer.
func newcCPIO(files [][2]string) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry := func(ino int, mode uint32, name, data string) {
		fmt.Fprintf(&b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		pad()
		b.WriteString(data)
		pad()
	}
	for i, f := range files {
		entry(i+1, 0o100644, f[0], f[1])
	}
	entry(0, 0, "TRAILER!!!", "")
	return b.Bytes()
}

// TestLinuxDom0Initrd boots the same kernel with a second boot module, a
// gzip'd cpio archive: gohv hands the module's frames to dom0 as its
// initrd (Xen's PHYSICAL MEMORY ARRANGEMENT line names them; Linux takes
// mod_start as a PFN, XEN_ELFNOTE_MOD_START_PFN) and Linux unpacks it as
// its initramfs. On the way Linux reads the DMI tables at 0xF0000 (I/O
// memory dom0 may map) and enumerates PCI through 0xCF8/0xCFC (gohv's
// mediation); the run stops when Linux frees the initrd, and fails on any
// failure line before.
func TestLinuxDom0Initrd(t *testing.T) {
	k := testenv.NeedEnv(t, "GOHV_VMLINUZ", "`make test` sets it from scripts/fetch-kernel.sh")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(newcCPIO([][2]string{{"gohv-initrd", "dom0's initrd from gohv\n"}}))
	must(t, zw.Close())
	rd := filepath.Join(t.TempDir(), "initrd.cpio.gz")
	must(t, os.WriteFile(rd, gz.Bytes(), 0o644))
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "1G", "-kernel", elf, "-append", "dom0_mem=512M loglvl=all noreboot",
		"-initrd", k + " console=hvc0 earlyprintk=xen," + rd + " ignored=1"},
		stopAt: "Freeing initrd memory:", timeout: 8 * time.Minute, failOn: linuxFailures})
	if r.failure != "" {
		t.Fatalf("failure line %q\n--- serial ---\n%s", r.failure, r.serial)
	}
	m := regexp.MustCompile(`\(XEN\)  Init\. ramdisk: ([0-9a-f]{16})->([0-9a-f]{16})\n`).FindStringSubmatch(r.serial)
	if m == nil {
		t.Fatalf("no Init. ramdisk line\n--- serial ---\n%s", r.serial)
	}
	var start, end uint64
	fmt.Sscanf(m[1], "%x", &start)
	fmt.Sscanf(m[2], "%x", &end)
	if start%4096 != 0 || end-start != uint64(gz.Len()) {
		t.Errorf("Init. ramdisk %#x->%#x for a module of %d bytes", start, end, gz.Len())
	}
	r.wantLines(t, "[    0.000000] Command line: console=hvc0 earlyprintk=xen")
	ts := `\[ *\d+\.\d{6}\] `
	r.wantMatch(t,
		ts+`DMI: QEMU Standard PC .*`,
		ts+`RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]`,
		// hvc0 (after the boot console) ends its lines with CR LF.
		ts+`pci 0000:00:00\.0: \[8086:1237\] type 00 class 0x060000\r?`,
		ts+`Trying to unpack rootfs image as initramfs\.\.\.\r?`,
	)
	if strings.Contains(r.serial, "Initramfs unpacking failed") {
		t.Errorf("Linux could not unpack the initrd\n--- serial ---\n%s", r.serial)
	}
	if !r.stopped {
		t.Errorf("Linux never freed its initrd")
	}
}
