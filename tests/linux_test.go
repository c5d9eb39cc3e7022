package tests

import (
	"os"
	"testing"
	"time"
)

// TestLinuxDom0 boots Debian's Linux 6.1 bzImage (GOHV_VMLINUZ, which
// `make test` fetches) as gohv's dom0 with no initrd and asserts the lines
// it reaches: gohv unpacks it (XZ with the x86 BCJ filter) straight into
// dom0's memory, lays it out as Xen's dom0 builder does (INIT_P2M), and Linux's xen_start_kernel runs to
// its last line, "about to get started...". Linux gets no further yet
// (hypercalls it needs next still return -ENOSYS); the run stops there.
func TestLinuxDom0(t *testing.T) {
	k := os.Getenv("GOHV_VMLINUZ")
	if k == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GOHV_VMLINUZ is not set (make test sets it from scripts/fetch-kernel.sh)")
		}
		t.Skip("GOHV_VMLINUZ is not set")
	}
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "1G", "-kernel", elf, "-append", "dom0_mem=512M loglvl=all noreboot",
		"-initrd", k + " console=hvc0 earlyprintk=xen"},
		stopAt: "about to get started...", timeout: 5 * time.Minute})
	r.wantLines(t,
		"(XEN)  Dom0 kernel: 64-bit, PAE, lsb, paddr 0x1000000 -> 0x4a00000",
		"(XEN)  Loaded kernel: ffffffff81000000->ffffffff84a00000",
		"(XEN)  Phys-Mach map: 0000008000000000->0000008000100000",
		"(XEN)  Page tables:   ffffffff84a01000->ffffffff84a2a000",
		"(XEN)  TOTAL:         ffffffff80000000->ffffffff84c00000",
		"(XEN)  ENTRY ADDRESS: ffffffff830791c0",
		"(XEN) gohv ready: dom0 running (512 MiB)",
		"mapping kernel into physical memory",
		"about to get started...",
	)
	if !r.stopped {
		t.Errorf("Linux never reached the end of xen_start_kernel")
	}
}

// TestLinuxDom0In384M boots the same kernel on a 384 MiB machine with
// dom0_mem left to its default, where Xen 4.17 boots it too: the kernel is
// unpacked straight into dom0's memory (gohv's heap keeps only the module
// and the XZ dictionary), with progress on the console.
func TestLinuxDom0In384M(t *testing.T) {
	k := os.Getenv("GOHV_VMLINUZ")
	if k == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("GOHV_VMLINUZ is not set (make test sets it from scripts/fetch-kernel.sh)")
		}
		t.Skip("GOHV_VMLINUZ is not set")
	}
	elf, _ := image(t)
	r := run(t, boot{args: []string{"-m", "384M", "-kernel", elf, "-append", "loglvl=all noreboot",
		"-initrd", k + " console=hvc0 earlyprintk=xen"},
		stopAt: "about to get started...", timeout: 5 * time.Minute})
	r.wantMatch(t, `\(XEN\) gohv keeps \d+ MiB for itself: image \d+ KiB, heap \d+ MiB reserved \(\d+ KiB in use\)`)
	r.wantLines(t,
		"(XEN) *** Building a PV Dom0 ***",
		"(XEN)  Xen  kernel: 64-bit, lsb",
		"(XEN)  Dom0 kernel: 64-bit, PAE, lsb, paddr 0x1000000 -> 0x4a00000",
		"(XEN)  Loaded kernel: ffffffff81000000->ffffffff84a00000",
		"(XEN)  ENTRY ADDRESS: ffffffff830791c0",
		"mapping kernel into physical memory",
		"about to get started...",
	)
	r.wantMatch(t, `\(XEN\) \*\*\* Uncompressed dom0 kernel \(xz\): 59392 KiB placed in dom0's memory in \d+ ms`)
	r.wantMatch(t, `\(XEN\) gohv ready: dom0 running \(2\d\d MiB\)`)
	if !r.stopped {
		t.Errorf("Linux never reached the end of xen_start_kernel")
	}
}
