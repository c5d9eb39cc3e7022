package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
)

// grubISO makes a BIOS-bootable ISO with grub-mkrescue whose only menu entry
// loads build/gohv.gz with cmdline through `multiboot` (mb=1) or
// `multiboot2` (mb=2), plus two modules with command lines.
func grubISO(t *testing.T, gz string, mb int, cmdline string) string {
	t.Helper()
	need(t, "grub-mkrescue", "xorriso", "mformat")
	if _, err := os.Stat("/usr/lib/grub/i386-pc/multiboot2.mod"); err != nil {
		testenv.Missing(t, "GRUB i386-pc modules missing (grub-pc-bin): %v", err)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "iso")
	must(t, os.MkdirAll(filepath.Join(root, "boot", "grub"), 0o755))
	img, err := os.ReadFile(gz)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(root, "boot", "gohv.gz"), img, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "boot", "dom0.bin"), make([]byte, 100<<10), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "boot", "initrd.bin"), make([]byte, 3<<10), 0o644))
	kernel, module := "multiboot", "module"
	if mb == 2 {
		kernel, module = "multiboot2", "module2"
	}
	cfg := fmt.Sprintf(`set timeout=0
set default=0
menuentry "gohv" {
	%s /boot/gohv.gz %s
	%s /boot/dom0.bin console=hvc0 earlyprintk=xen
	%s /boot/initrd.bin
	boot
}
`, kernel, cmdline, module, module)
	must(t, os.WriteFile(filepath.Join(root, "boot", "grub", "grub.cfg"), []byte(cfg), 0o644))
	iso := filepath.Join(dir, "gohv.iso")
	out, err := exec.Command("grub-mkrescue", "-o", iso, root).CombinedOutput()
	if err != nil {
		t.Fatalf("grub-mkrescue: %v\n%s", err, out)
	}
	return iso
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestGRUB boots gohv.gz from GRUB by multiboot1 and multiboot2, with 512 MiB
// and 4 GiB, and runs the selftest suite there.
func TestGRUB(t *testing.T) {
	_, gz := image(t)
	for _, mb := range []int{1, 2} {
		for _, mem := range []string{"512M", "4G"} {
			t.Run(fmt.Sprintf("multiboot%d-%s", mb, mem), func(t *testing.T) {
				t.Parallel()
				iso := grubISO(t, gz, mb, "selftest loglvl=all")
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
