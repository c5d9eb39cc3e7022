package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParam(t *testing.T) {
	p := []string{"console=hvc0", "gohv.task=disk", "gohv.then=reboot", "gohv.task=net", "quiet"}
	for _, tc := range []struct{ key, def, want string }{
		{"gohv.task", "shell", "net"}, // the last one counts, as for Linux's own parameters
		{"gohv.then", "poweroff", "reboot"},
		{"gohv.port", "8080", "8080"},
		{"quiet", "x", "x"}, // a bare word has no value
	} {
		if got := param(p, tc.key, tc.def); got != tc.want {
			t.Errorf("param(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestBlob(t *testing.T) {
	b := blob("gohv", 100)
	if len(b) != 100 {
		t.Fatalf("len %d, want 100", len(b))
	}
	for i, want := range [][32]byte{
		sha256.Sum256([]byte("gohv\x00\x00\x00\x00\x00\x00\x00\x00")),
		sha256.Sum256([]byte("gohv\x00\x00\x00\x00\x00\x00\x00\x01")),
		sha256.Sum256([]byte("gohv\x00\x00\x00\x00\x00\x00\x00\x02")),
	} {
		if got := b[32*i : 32*i+32]; string(got) != string(want[:]) {
			t.Errorf("block %d = %x, want %x", i, got, want)
		}
	}
	if got := blob("gohv", 4); len(got) != 4 || string(got) != string(b[:4]) {
		t.Errorf("blob cut to 4 = %x", got)
	}
	if len(blob("x", 0)) != 0 {
		t.Error("blob of size 0 is not empty")
	}
}

func TestKlogLine(t *testing.T) {
	for line, want := range map[string]string{
		"<6>[    7.328582] xen:events: Using FIFO-based ABI":    "xen:events: Using FIFO-based ABI",
		"<7>[   12.000001] xen: --> pirq=16 -> irq=16 (gsi=16)": "xen: --> pirq=16 -> irq=16 (gsi=16)",
		"xen:events: Using FIFO-based ABI":                      "",
		"<6>[    7.328582]":                                     "",
	} {
		got := ""
		if m := klogLine.FindStringSubmatch(line); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}

func TestMSILines(t *testing.T) {
	// Shapes of Linux 6.1's show_interrupts: on a Xen PV dom0 (chip
	// xen-pirq, no hwirq, handler name "msi-x" or "msi") and on bare
	// metal (PCI-MSI, hwirq, "-edge").
	text := "           CPU0       CPU1       \n" +
		"  1:          9          0  xen-pirq    -ioapic-edge  i8042\n" +
		" 24:          0          0  xen-pirq    -msi-x     virtio0-config\n" +
		" 25:        120          3  xen-pirq    -msi-x     virtio0-req.0\n" +
		" 26:         40          0  xen-pirq    -msi       ahci[0000:00:1f.2]\n" +
		" 27:       5000          0  xen-percpu    -virq      timer0\n" +
		" 28:          7          0   PCI-MSI 512000-edge      virtio1-config\n" +
		" 29:          1          0  xen-pirq    -msi-x\n" +
		"NMI:          0          0   Non-maskable interrupts\n"
	want := []string{
		"xen-pirq-msi-x virtio0-config: 0",
		"xen-pirq-msi-x virtio0-req.0: 123",
		"xen-pirq-msi ahci[0000:00:1f.2]: 40",
		"PCI-MSI virtio1-config: 7",
		"xen-pirq-msi-x : 1",
	}
	if got := msiLines(text); !slices.Equal(got, want) {
		t.Errorf("msiLines:\n%q\nwant\n%q", got, want)
	}
	if got := msiLines(""); len(got) != 0 {
		t.Errorf("msiLines(\"\") = %q", got)
	}
}

// TestBenchLoops runs the bench task's loops on the build host: fork and
// exec of a program that exits 0 and of one that fails, and getppid.
func TestBenchLoops(t *testing.T) {
	exit0 := filepath.Join(t.TempDir(), "exit0")
	if err := os.WriteFile(exit0, exitProgram(), 0o755); err != nil {
		t.Fatal(err)
	}
	if us, err := timeForkExec("/bin/true", 20); err != nil || us <= 0 {
		t.Errorf("timeForkExec(/bin/true) = %v us, %v", us, err)
	}
	if _, err := timeForkExec("/bin/false", 1); err == nil {
		t.Error("timeForkExec(/bin/false): no error for exit status 1")
	}
	if _, err := timeForkExec("/nonexistent", 1); err == nil {
		t.Error("timeForkExec(/nonexistent): no error for a failed exec")
	}
	if us, err := timeForkExec(exit0, 20); err != nil || us <= 0 {
		t.Errorf("timeForkExec(exitProgram) = %v us, %v", us, err)
	}
	if ns := timeGetppid(1000); ns <= 0 {
		t.Errorf("timeGetppid = %v ns", ns)
	}
}
