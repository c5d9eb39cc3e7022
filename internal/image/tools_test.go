package image

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
)

// Checks of the stamped test program with tools that read boot images on
// their own: binutils' readelf and GRUB's grub-file. Each skips when its
// tool is not installed, and fails then under `make test` or CI
// (internal/testenv).

// writeStamped stamps the test program and writes input and output to dir.
func writeStamped(t *testing.T) (plain, stamped string, rep Report, out []byte) {
	t.Helper()
	in := goKernel(t)
	out, rep, err := Stamp(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plain = filepath.Join(dir, "plain.elf")
	stamped = filepath.Join(dir, "stamped.elf")
	if err := os.WriteFile(plain, in, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stamped, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return plain, stamped, rep, out
}

// TestGrubFile: GRUB's own header scan (grub-file --is-x86-multiboot and
// --is-x86-multiboot2: magic and checksum at GRUB's alignment within GRUB's
// search window) finds both headers in the stamped image and neither in the
// plain one.
func TestGrubFile(t *testing.T) {
	grubFile := testenv.NeedTool(t, "grub-file")[0]
	plain, stamped, _, _ := writeStamped(t)
	for _, kind := range []string{"--is-x86-multiboot", "--is-x86-multiboot2"} {
		if err := exec.Command(grubFile, kind, stamped).Run(); err != nil {
			t.Errorf("grub-file %s stamped: %v", kind, err)
		}
		if err := exec.Command(grubFile, kind, plain).Run(); err == nil {
			t.Errorf("grub-file %s accepts the unstamped image", kind)
		}
	}
}

// TestReadelf checks the stamped image with binutils' readelf. readelf -n
// lists notes by section when section headers exist, so the PVH note (which
// has no section) is checked twice: in the -l listing, and decoded by -n on
// a copy whose section header table is dropped (then readelf reads PT_NOTE).
func TestReadelf(t *testing.T) {
	readelf := testenv.NeedTool(t, "readelf")[0]
	_, stamped, rep, out := writeStamped(t)
	noSections := filepath.Join(filepath.Dir(stamped), "nosections.elf")
	ns := bytes.Clone(out)
	clear(ns[0x28:0x30]) // e_shoff
	clear(ns[0x3c:0x40]) // e_shnum, e_shstrndx
	if err := os.WriteFile(noSections, ns, 0o644); err != nil {
		t.Fatal(err)
	}

	got, err := exec.Command(readelf, "-W", "-n", "-l", stamped).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, got)
	}
	noteLine := fieldLine(string(got), "NOTE")
	wantOff := fmt.Sprintf("0x%06x", rep.PVHOffset)
	if !strings.Contains(noteLine, wantOff) || !strings.Contains(noteLine, "0x000014 0x000014") {
		t.Errorf("readelf -l NOTE line %q, want offset %s size 0x14", noteLine, wantOff)
	}
	if !strings.Contains(string(got), "GO BUILDID") {
		t.Error("readelf -n no longer shows the Go build id note section")
	}

	got, err = exec.Command(readelf, "-W", "-n", noSections).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, got)
	}
	if !regexp.MustCompile(`Xen\s+0x00000004`).Match(got) {
		t.Errorf("readelf -n (by segment) does not show the Xen note:\n%s", got)
	}
	t.Logf("readelf -n by segment:\n%s", got)
}

// fieldLine returns the first line of s whose first field is word.
func fieldLine(s, word string) string {
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == word {
			return l
		}
	}
	return ""
}
