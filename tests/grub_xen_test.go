package tests

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gohv/gohv/internal/testenv"
)

// grubXenCmdline gives dom0 8 MiB: Debian's grub-x86_64-xen.bin is built
// to be a domU (pvgrub2). As dom0 it first copies its boot page tables
// to the top of its memory, but the dom0 builder (Xen's and gohv's) maps
// only the first 8 MiB for it: with more memory it crashes in that copy. With 8 MiB it gets past it and crashes later on both, in its TSC
// clock code: it reads the time scale of vcpu_info[0] (offset 0x38 of the
// shared info page) through a pointer to 0x801000, which is not mapped.
// That is the furthest point a GRUB-Xen dom0 reaches on Xen 4.17 here; it
// never prints anything.
const grubXenCmdline = "console=com1 com1=115200,8n1 dom0_mem=8M noreboot loglvl=all guest_loglvl=all"

var (
	unhandledRe = regexp.MustCompile(`(?m)^\(XEN\) d0v0 Unhandled: vec (\d+), (#[A-Z]+)\[`)
	ripRe       = regexp.MustCompile(`(?m)^\(XEN\) RIP: +([0-9a-f]{4}):\[<([0-9a-f]{16})>\]`)
	gprRe       = regexp.MustCompile(`\b(rax|rbx|rcx|rdx|rsi|rdi|rbp|rsp|r8|r9|r10|r11|r12|r13|r14|r15): +([0-9a-f]{16})\b`)
)

// crashSignature is what a hypervisor's dump says about dom0's crash:
// the exception it could not deliver, where, and the general registers.
type crashSignature struct {
	vector, mnemonic string
	cs, rip          string
	regs             map[string]string
}

// dom0Crash reads the crash of dom0's vCPU 0 from a serial log (Xen's
// format, which gohv's dump follows), or says what is missing.
func dom0Crash(serial string) (crashSignature, string) {
	var c crashSignature
	i := strings.Index(serial, "(XEN) Domain 0 (vcpu#0) crashed on cpu#0:\n")
	if i < 0 {
		return c, "no \"Domain 0 (vcpu#0) crashed\" line"
	}
	m := unhandledRe.FindStringSubmatch(serial[:i])
	if m == nil {
		return c, "no \"d0v0 Unhandled: vec\" line before the crash"
	}
	c.vector, c.mnemonic = m[1], m[2]
	dump := serial[i:]
	if end := strings.Index(dump, "(XEN) Hardware Dom0 "); end >= 0 {
		dump = dump[:end]
	}
	m = ripRe.FindStringSubmatch(dump)
	if m == nil {
		return c, "no RIP line in the crash dump"
	}
	c.cs, c.rip = m[1], m[2]
	c.regs = map[string]string{}
	for _, m := range gprRe.FindAllStringSubmatch(dump, -1) {
		if _, seen := c.regs[m[1]]; !seen {
			c.regs[m[1]] = m[2]
		}
	}
	if len(c.regs) != 16 {
		return c, "the crash dump lacks general registers"
	}
	return c, ""
}

// TestGRUBXenDom0 boots Debian's GRUB for Xen PV (grub-x86_64-xen.bin from
// grub-xen-host, GOHV_GRUB_XEN, which `make test` fetches with
// scripts/fetch-grub-xen.sh) as dom0 of Xen 4.17 and of gohv, and holds
// gohv to what Xen's run shows: the same console output from GRUB, and
// the same end. On Xen 4.17 that end is a crash (see grubXenCmdline); gohv
// must crash on the same exception at the same RIP with the same
// general registers, after running the same code with the same hypercall
// results. Three things of the dumps are not compared: rsp (Xen dumps it
// after it began pushing the bounce frame onto the guest stack), and
// rdx and RFLAGS, which hold the TSC: just before the fault GRUB runs
// RDTSC, shifts the high half in rdx left by 32 and ORs it with the low
// half, so rdx is the TSC's high half << 32 and PF is the parity of its
// low byte.
func TestGRUBXenDom0(t *testing.T) {
	grubXen := testenv.NeedEnv(t, "GOHV_GRUB_XEN", "`make test` sets it from scripts/fetch-grub-xen.sh")
	elf, _ := image(t)
	xen := xenForGuests(t)
	xr := run(t, boot{args: []string{"-m", "512M", "-kernel", xen, "-append", grubXenCmdline, "-initrd", grubXen},
		timeout: 2 * time.Minute, stopAt: "(XEN) Hardware Dom0 "})
	gr := run(t, boot{args: []string{"-m", "512M", "-kernel", elf, "-append", grubXenCmdline, "-initrd", grubXen},
		timeout: 2 * time.Minute, stopAt: "(XEN) Hardware Dom0 "})
	if !xr.stopped {
		t.Fatalf("Xen never reported dom0 stopping\n--- Xen serial ---\n%s", xr.serial)
	}
	if !gr.stopped {
		t.Fatalf("gohv never reported dom0 stopping\n--- gohv serial ---\n%s", gr.serial)
	}
	// GRUB's own console output (dom0's lines carry no prefix), in order.
	var guest []string
	for _, l := range strings.Split(xr.serial, "\n") {
		if l != "" && !strings.HasPrefix(l, "(XEN)") {
			guest = append(guest, l)
		}
	}
	gr.wantLines(t, guest...)

	want, why := dom0Crash(xr.serial)
	if why != "" {
		// Xen's run no longer ends in this crash: the markers below are
		// then wrong, whatever gohv does.
		t.Fatalf("Xen's run: %s; this test expects GRUB-Xen to crash as Xen 4.17's dom0\n--- Xen serial ---\n%s", why, xr.serial)
	}
	got, why := dom0Crash(gr.serial)
	if why != "" {
		t.Fatalf("gohv's run: %s; Xen's dom0 crashed with vec %s at %s:%s\n--- gohv serial ---\n%s",
			why, want.vector, want.cs, want.rip, gr.serial)
	}
	if got.vector != want.vector || got.mnemonic != want.mnemonic || got.cs != want.cs || got.rip != want.rip {
		t.Errorf("gohv: dom0 crashed with vec %s %s at %s:%s; Xen: vec %s %s at %s:%s",
			got.vector, got.mnemonic, got.cs, got.rip, want.vector, want.mnemonic, want.cs, want.rip)
	}
	for r, v := range want.regs {
		if r != "rsp" && r != "rdx" && got.regs[r] != v {
			t.Errorf("gohv: %s %s at the crash, Xen: %s", r, got.regs[r], v)
		}
	}
	t.Logf("both: GRUB-Xen dom0 crashed with vec %s %s at %s:%s", want.vector, want.mnemonic, want.cs, want.rip)
	if t.Failed() {
		t.Logf("--- Xen serial ---\n%s\n--- gohv serial ---\n%s", xr.serial, gr.serial)
	}
}
