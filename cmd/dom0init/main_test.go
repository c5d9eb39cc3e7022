package main

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gohv/gohv/internal/testenv"
	"golang.org/x/sys/unix"
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

// TestBenchLoops runs the bench task's loops on the build host: the
// forkexec helper (compiled here with gcc -static, as mkinitramfs does)
// and the vfork-style loop, each with a program that exits 0, one that
// fails and one that does not exist; getppid; and the disk read on a file
// with the bench disk's pattern, and on one without it.
func TestBenchLoops(t *testing.T) {
	dir := t.TempDir()
	exit0 := filepath.Join(dir, "exit0")
	if err := os.WriteFile(exit0, exitProgram(), 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.NeedTool(t, "gcc")
	helper := filepath.Join(dir, "forkexec")
	if out, err := exec.Command("gcc", "-static", "-O2", "-Wall", "-Werror", "-o", helper, "forkexec/forkexec.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc forkexec.c: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		timer func(string, int) (float64, error)
	}{
		{"fork", func(p string, n int) (float64, error) { return timeFork(helper, p, n) }},
		{"vfork", timeVforkExec},
	} {
		if us, err := tc.timer(exit0, 20); err != nil || us <= 0 {
			t.Errorf("%s: exitProgram: %v us, %v", tc.name, us, err)
		}
		if us, err := tc.timer("/bin/true", 5); err != nil || us <= 0 {
			t.Errorf("%s: /bin/true: %v us, %v", tc.name, us, err)
		}
		if _, err := tc.timer("/bin/false", 1); err == nil {
			t.Errorf("%s: /bin/false: no error for exit status 1", tc.name)
		}
		if _, err := tc.timer("/nonexistent", 1); err == nil {
			t.Errorf("%s: /nonexistent: no error for a failed exec", tc.name)
		}
	}
	if _, err := timeFork(filepath.Join(dir, "none"), exit0, 1); err == nil {
		t.Error("timeFork with no helper: no error")
	}
	if ns := timeGetppid(1000); ns <= 0 {
		t.Errorf("timeGetppid = %v ns", ns)
	}
	const size = 4 * diskChunk
	img := make([]byte, size)
	for off := 0; off < size; off += diskBlock {
		binary.BigEndian.PutUint64(img[off:], uint64(off))
	}
	disk := filepath.Join(dir, "disk")
	if err := os.WriteFile(disk, img, 0o644); err != nil {
		t.Fatal(err)
	}
	// tmpfs refuses O_DIRECT (EINVAL); the build host's disk may too.
	if mbs, err := readDisk(disk, size); err != nil && !errors.Is(err, unix.EINVAL) {
		t.Errorf("readDisk: %v", err)
	} else if err == nil && mbs <= 0 {
		t.Errorf("readDisk = %v MB/s", mbs)
	}
	binary.BigEndian.PutUint64(img[2*diskChunk+diskBlock:], 0)
	if err := checkDiskPattern(img[2*diskChunk:3*diskChunk], 2*diskChunk); err == nil {
		t.Error("checkDiskPattern: no error for a block that does not start with its offset")
	}
	if err := checkDiskPattern(img[diskChunk:2*diskChunk], diskChunk); err != nil {
		t.Errorf("checkDiskPattern: %v", err)
	}
}

func TestCount(t *testing.T) {
	p := []string{"gohv.forks=3", "gohv.vforks=0", "gohv.getppids=-1", "gohv.x=ten"}
	for _, tc := range []struct {
		key     string
		want    int
		wantErr bool
	}{
		{"gohv.forks", 3, false},
		{"gohv.vforks", 0, false},
		{"gohv.none", 7, false}, // the default
		{"gohv.getppids", 0, true},
		{"gohv.x", 0, true},
	} {
		got, err := count(p, tc.key, 7)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("count(%q) = %d, %v; want %d, error %v", tc.key, got, err, tc.want, tc.wantErr)
		}
	}
}
