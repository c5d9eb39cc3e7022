package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gohv/gohv/internal/image"
	"github.com/gohv/gohv/internal/testenv"
)

// The test binary itself is a Go ELF64 with the same layout rules as gohv
// (first PT_LOAD at offset 0, one vaddr-offset, headers then padding in the
// first page), so it serves as a real input for the command.
func testInput(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		testenv.Missing(t, "os.Executable: %v", err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := image.Stamp(b, 0); err != nil {
		testenv.Missing(t, "test binary is not stampable on this host (%v); internal/image covers Stamp", err)
	}
	in := filepath.Join(t.TempDir(), "in.elf")
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestRun(t *testing.T) {
	in := testInput(t)
	var buf bytes.Buffer
	stdout = &buf
	defer func() { stdout = os.Stdout }()

	out := filepath.Join(filepath.Dir(in), "out.elf")
	if err := run(in, out, 0); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, w := range []string{"mkimage: mb1 @0x", " mb2 @0x", " pvh @0x", " load 0x", " bss-end 0x", " entry 0x"} {
		if !strings.Contains(line, w) {
			t.Errorf("output %q lacks %q", line, w)
		}
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("output: %v, mode %v", err, st.Mode())
	}
	first, _ := os.ReadFile(out)

	// In place, on its own output: same bytes, reported as already stamped.
	buf.Reset()
	if err := run(out, out, 0); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(first, again) {
		t.Error("second run changed the image")
	}
	if !strings.Contains(buf.String(), "(already stamped)") {
		t.Errorf("second run printed %q", buf.String())
	}
	checkNoTemps(t, filepath.Dir(out))
}

func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "notelf")
	if err := os.WriteFile(in, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.elf")
	err := run(in, out, 0)
	if !errors.Is(err, image.ErrNotKernelELF) {
		t.Fatalf("err = %v, want ErrNotKernelELF", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused run created %s (%v)", out, err)
	}
	if err := run(filepath.Join(dir, "missing"), out, 0); err == nil {
		t.Error("missing input accepted")
	}
	checkNoTemps(t, dir)
}

func checkNoTemps(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, ".mkimage-*"))
	if len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
