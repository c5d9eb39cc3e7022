package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
)

// isoModule is a file a GRUB menu entry loads as a module, with the
// command line GRUB passes with it.
type isoModule struct{ file, cmdline string }

// grubISO makes a BIOS-bootable ISO with grub-mkrescue whose only menu entry
// loads the hypervisor image (gohv.gz or Xen's xen.gz, under /boot by its
// own name) with cmdline through `multiboot` (mb=1) or `multiboot2`
// (mb=2), and then each module, in order, through `module` or `module2`.
func grubISO(tb testing.TB, image string, mb int, cmdline string, mods ...isoModule) string {
	tb.Helper()
	need(tb, "grub-mkrescue", "xorriso", "mformat")
	if _, err := os.Stat("/usr/lib/grub/i386-pc/multiboot2.mod"); err != nil {
		testenv.Missing(tb, "GRUB i386-pc modules missing (grub-pc-bin): %v", err)
	}
	dir := tb.TempDir()
	root := filepath.Join(dir, "iso")
	must(tb, os.MkdirAll(filepath.Join(root, "boot", "grub"), 0o755))
	kernel, module := "multiboot", "module"
	if mb == 2 {
		kernel, module = "multiboot2", "module2"
	}
	var entry strings.Builder
	add := func(cmd, file, args string) {
		name := "/boot/" + filepath.Base(file)
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			tb.Fatalf("two files named %s on the ISO", name)
		}
		b, err := os.ReadFile(file)
		must(tb, err)
		must(tb, os.WriteFile(filepath.Join(root, name), b, 0o644))
		fmt.Fprintf(&entry, "\t%s\n", strings.TrimSpace(cmd+" "+name+" "+args))
	}
	add(kernel, image, cmdline)
	for _, m := range mods {
		add(module, m.file, m.cmdline)
	}
	cfg := fmt.Sprintf("set timeout=0\nset default=0\nmenuentry \"%s\" {\n%s\tboot\n}\n", filepath.Base(image), entry.String())
	must(tb, os.WriteFile(filepath.Join(root, "boot", "grub", "grub.cfg"), []byte(cfg), 0o644))
	iso := filepath.Join(dir, "boot.iso")
	out, err := exec.Command("grub-mkrescue", "-o", iso, root).CombinedOutput()
	if err != nil {
		tb.Fatalf("grub-mkrescue: %v\n%s", err, out)
	}
	return iso
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestGRUB boots gohv.gz from GRUB by multiboot1 and multiboot2, with 512 MiB
// and 4 GiB, and runs the selftest suite there.
func TestGRUB(t *testing.T) {
	_, gz := image(t)
	dir := t.TempDir()
	mods := []isoModule{{filepath.Join(dir, "dom0.bin"), "console=hvc0 earlyprintk=xen"}, {filepath.Join(dir, "initrd.bin"), ""}}
	must(t, os.WriteFile(mods[0].file, make([]byte, 100<<10), 0o644))
	must(t, os.WriteFile(mods[1].file, make([]byte, 3<<10), 0o644))
	for _, mb := range []int{1, 2} {
		for _, mem := range []string{"512M", "4G"} {
			t.Run(fmt.Sprintf("multiboot%d-%s", mb, mem), func(t *testing.T) {
				t.Parallel()
				iso := grubISO(t, gz, mb, "selftest loglvl=all", mods...)
				r := run(t, boot{args: []string{"-m", mem, "-cdrom", iso, "-boot", "d"}})
				r.wantMatch(t, `\(XEN\) Bootloader: GRUB 2\.[0-9].*`)
				r.wantLines(t, "(XEN) Command line: selftest loglvl=all", "(XEN) Multiboot-e820 RAM map:")
				r.wantMatch(t,
					`\(XEN\) Module 0: 0x[0-9a-f]+ - 0x[0-9a-f]+ \(100 KiB\) console=hvc0 earlyprintk=xen`,
					`\(XEN\) Module 1: 0x[0-9a-f]+ - 0x[0-9a-f]+ \(3 KiB\)`,
				)
				wantSelftestPass(t, r)
				r.wantExit(t, exitPowerOff)
			})
		}
	}
}

// grubDom0 is hv booted from a GRUB multiboot2 ISO instead of QEMU's
// -kernel: hv's own machine arguments with -kernel replaced by image (the
// same hypervisor, as GRUB loads it: gohv.gz, Xen's xen.gz), the -append
// line as its command line, and each file of -initrd (QEMU's
// "file args,file args") with its command line as a module2, in order.
// So the ISO boots what the direct boot does, with what the direct boot
// gives it.
func grubDom0(hv dom0Hypervisor, image string) dom0Hypervisor {
	direct := hv.qemu
	hv.name = "grub-" + hv.name
	hv.qemu = func(tb testing.TB, kernel, initramfs, cmdline string) []string {
		tb.Helper()
		var args []string
		var hvCmdline string
		var mods []isoModule
		seen := 0
		a := direct(tb, kernel, initramfs, cmdline)
		for i := 0; i < len(a); i++ {
			flag := a[i]
			if flag != "-kernel" && flag != "-append" && flag != "-initrd" {
				args = append(args, flag)
				continue
			}
			if i+1 == len(a) {
				tb.Fatalf("%s without a value in %q", flag, a)
			}
			i++
			seen++
			switch flag {
			case "-append":
				hvCmdline = a[i]
			case "-initrd":
				if strings.Contains(a[i], ",,") {
					tb.Fatalf("-initrd %q has an escaped comma, which grubDom0 does not split", a[i])
				}
				for _, m := range strings.Split(a[i], ",") {
					file, line, _ := strings.Cut(m, " ")
					mods = append(mods, isoModule{file, line})
				}
			}
		}
		if seen != 3 {
			tb.Fatalf("%s's machine arguments %q lack one of -kernel, -append, -initrd", hv.name, a)
		}
		return append(args, "-cdrom", grubISO(tb, image, 2, hvCmdline, mods...), "-boot", "d")
	}
	return hv
}

// TestGRUBDom0 boots Debian's Linux with the dom0 initramfs from a BIOS
// GRUB ISO (multiboot2 for the hypervisor, module2 for the kernel and the
// initramfs) on gohv (gohv.gz) and on Debian's Xen 4.17 (its xen.gz), each
// with the machine and command lines of its direct boot in
// dom0Hypervisors, and runs the shell task there: the same markers
// (dom0Markers) as the direct boots, after GRUB's Bootloader line and the
// hypervisor's command line as given.
func TestGRUBDom0(t *testing.T) {
	kernel, initramfs := dom0Inputs(t)
	for _, name := range []string{"gohv", "xen"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			i := slices.IndexFunc(dom0Hypervisors, func(hv dom0Hypervisor) bool { return hv.name == name })
			if i < 0 {
				t.Fatalf("no %s in dom0Hypervisors", name)
			}
			var gz string
			if name == "gohv" {
				_, gz = image(t)
			} else {
				xenForGuests(t) // skips or fails as the direct Xen boots do
				gz = xenGuestsGz
			}
			hv := grubDom0(dom0Hypervisors[i], gz)
			serial := dom0Shell(t, hv, kernel, initramfs)
			r := result{serial: serial}
			r.wantMatch(t, `\(XEN\) Bootloader: GRUB 2\.[0-9].*`)
			r.wantLines(t, "(XEN) Command line: "+hvArg(t, dom0Hypervisors[i], kernel, initramfs, "-append"))
		})
	}
}

// hvArg returns the value of flag among hv's direct machine arguments.
func hvArg(tb testing.TB, hv dom0Hypervisor, kernel, initramfs, flag string) string {
	tb.Helper()
	a := hv.qemu(tb, kernel, initramfs, "")
	if i := slices.Index(a, flag); i >= 0 && i+1 < len(a) {
		return a[i+1]
	}
	tb.Fatalf("%s's machine arguments %q lack %s", hv.name, a, flag)
	return ""
}
