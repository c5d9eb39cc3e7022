package tests

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohv/gohv/internal/testenv"
)

// guestTests are the PV test guests of tests/guests (built by
// `make -C tests/guests` into build/guests). Each prints exactly one
// "Test result: <want> <name>[: reason]" line and then powers off with
// SCHEDOP_shutdown. want is the result the guest gives on Xen 4.17 as dom0;
// the same table can drive a run on gohv. want "CRASH" is a guest whose
// case Xen answers by crashing the domain: it prints no result line, and
// wantGuestCrash asserts the crash instead.
var guestTests = []struct {
	name string // the <what> of the result line
	elf  string // image, relative to build/guests, and its command line
	want string // SUCCESS, SKIP where the guest cannot run its test there, or CRASH
}{
	{"hello", "hello.elf", "SUCCESS"},
	{"hello-hcpage", "hello-hcpage.elf", "SUCCESS"},
	{"version", "version.elf", "SUCCESS"},
	{"version-hcpage", "version-hcpage.elf", "SUCCESS"},
	{"traps", "traps.elf", "SUCCESS"},
	{"traps-hcpage", "traps-hcpage.elf", "SUCCESS"},
	{"events", "events.elf", "SUCCESS"},
	{"events-hcpage", "events-hcpage.elf", "SUCCESS"},
	{"cpuid", "cpuid.elf", "SUCCESS"},
	{"cpuid-hcpage", "cpuid-hcpage.elf", "SUCCESS"},
	{"usermode", "usermode.elf", "SUCCESS"},
	{"usermode-hcpage", "usermode-hcpage.elf", "SUCCESS"},
	{"grant", "grant.elf", "SUCCESS"},
	{"grant-hcpage", "grant-hcpage.elf", "SUCCESS"},
	{"mmu", "mmu.elf", "SUCCESS"},
	{"mmu-hcpage", "mmu-hcpage.elf", "SUCCESS"},
	{"multicall", "multicall.elf", "SUCCESS"},
	{"multicall-hcpage", "multicall-hcpage.elf", "SUCCESS"},
	{"startinfo", "startinfo.elf", "SUCCESS"},
	{"startinfo-hcpage", "startinfo-hcpage.elf", "SUCCESS"},
	{"gdt", "gdt.elf", "SUCCESS"},
	{"gdt-hcpage", "gdt-hcpage.elf", "SUCCESS"},
	{"timer", "timer.elf", "SUCCESS"},
	{"timer-hcpage", "timer-hcpage.elf", "SUCCESS"},
	{"debugreg", "debugreg.elf", "SUCCESS"},
	{"debugreg-hcpage", "debugreg-hcpage.elf", "SUCCESS"},
	{"fifo", "fifo.elf", "SUCCESS"},
	{"fifo-hcpage", "fifo-hcpage.elf", "SUCCESS"},
	{"grantv2", "grantv2.elf", "SUCCESS"},
	{"grantv2-hcpage", "grantv2-hcpage.elf", "SUCCESS"},
	{"stackfault", "stackfault.elf", "SUCCESS"},
	{"stackfault-hcpage", "stackfault-hcpage.elf", "SUCCESS"},
	{"stackcrash-kernel", "stackcrash.elf kernel", "CRASH"},
	{"stackcrash-kernelsp", "stackcrash.elf kernelsp", "CRASH"},
	{"stackcrash-syscall", "stackcrash.elf syscall", "CRASH"},
	{"stackcrash-hvsp", "stackcrash.elf hvsp", "CRASH"},
	{"stackcrash-iret", "stackcrash.elf iret", "CRASH"},
	{"fsgsbase", "fsgsbase.elf", "SUCCESS"},
	{"fsgsbase-hcpage", "fsgsbase-hcpage.elf", "SUCCESS"},
	{"smp", "smp.elf", "SUCCESS"},
	{"smp-hcpage", "smp-hcpage.elf", "SUCCESS"},
	{"smp4", "smp4.elf", "SUCCESS"},
	{"fair4", "fair4.elf", "SUCCESS"},
	{"fair4pin", "fair4pin.elf", "SUCCESS"},
	{"preempt", "preempt.elf", "SUCCESS"},
	{"preempt-hcpage", "preempt-hcpage.elf", "SUCCESS"},
	{"singleshot", "singleshot.elf", "SUCCESS"},
	{"singleshot-hcpage", "singleshot-hcpage.elf", "SUCCESS"},
	{"smpbench", "smpbench.elf quick", "SUCCESS"},
}

// guestCPU is the QEMU CPU model of the guests that need one (the default,
// qemu64, lacks the feature they test); both hypervisors run them on it.
var guestCPU = map[string]string{
	"fsgsbase":        "qemu64,+fsgsbase",
	"fsgsbase-hcpage": "qemu64,+fsgsbase",
}

// guestVCPUs are the guests that run with several vCPUs: each boots with
// dom0_max_vcpus=<n> on a machine of two CPUs (QEMU -smp 2), on Xen and
// on gohv alike.
var guestVCPUs = map[string]int{"smp": 2, "smp-hcpage": 2, "smp4": 4, "fair4": 4, "fair4pin": 4, "preempt": 2, "preempt-hcpage": 2, "smpbench": 2}

// guestOptions are more hypervisor options some guests boot with, on Xen
// and on gohv alike.
var guestOptions = map[string]string{"fair4pin": "dom0_vcpus_pin"}

// guestArgs are the QEMU arguments that boot guest elf (with its command
// line) as the dom0 of kernel: the hypervisor's command line (with
// guestOptions), the CPU model (guestCPU) and the CPUs (guestVCPUs) the
// guest needs.
func guestArgs(name, kernel, elf string) []string {
	cmdline := xenCmdline
	if n := guestVCPUs[name]; n > 0 {
		cmdline = fmt.Sprintf("%s dom0_max_vcpus=%d", xenCmdline, n)
	}
	if o := guestOptions[name]; o != "" {
		cmdline += " " + o
	}
	a := []string{"-m", "512M", "-kernel", kernel, "-append", cmdline, "-initrd", elf}
	if guestVCPUs[name] > 0 {
		a = append(a, "-smp", "2")
	}
	if cpu := guestCPU[name]; cpu != "" {
		a = append(a, "-cpu", cpu)
	}
	return a
}

// crashMarkRe is the line a CRASH guest prints last: the RIP and RSP the
// hypervisor's dump of the crashed vCPU must show.
var crashMarkRe = regexp.MustCompile(`(?m)^\S+: .*\(crash at rip 0x([0-9a-f]+) rsp 0x([0-9a-f]+)\)$`)

// wantGuestCrash asserts what Xen 4.17 prints when it crashes dom0 (as
// domain_crash does): no result line, then after the guest's marker the
// crash of d0v0 with the marker's RIP and RSP in the register dump, and
// the noreboot halt. gohv prints the same lines.
func wantGuestCrash(t *testing.T, r result) {
	t.Helper()
	if n := len(resultRe.FindAllString(r.serial, -1)); n != 0 {
		t.Fatalf("%d \"Test result:\" lines, want none (the domain crashes)\n--- serial ---\n%s", n, r.serial)
	}
	m := crashMarkRe.FindStringSubmatch(r.serial)
	if m == nil {
		t.Fatalf("no \"(crash at rip ... rsp ...)\" line\n--- serial ---\n%s", r.serial)
	}
	rip, _ := strconv.ParseUint(m[1], 16, 64)
	rsp, _ := strconv.ParseUint(m[2], 16, 64)
	r.wantLines(t, m[0], "(XEN) Domain 0 (vcpu#0) crashed on cpu#0:")
	r.wantMatch(t, regexp.QuoteMeta(fmt.Sprintf("(XEN) RIP:    e033:[<%016x>]", rip)),
		fmt.Sprintf(`\(XEN\) rbp: [0-9a-f]{16}   rsp: %016x   r8:  [0-9a-f]{16}`, rsp))
	r.wantLines(t, "(XEN) Domain 0 (vcpu#0) crashed on cpu#0:", "(XEN) Hardware Dom0 crashed: 'noreboot' set - not rebooting.")
}

// xenGuestsGz is Debian's xen-hypervisor-4.17-amd64 image; QEMU's multiboot
// loader takes the decompressed ELF32.
const xenGuestsGz = "/boot/xen-4.17-amd64.gz"

// xenCmdline: console on COM1; noreboot keeps Xen from resetting the
// machine after a dom0 crash, so every run ends at a "Hardware Dom0" line.
const xenCmdline = "console=com1 com1=115200,8n1 dom0_mem=64M noreboot"

var (
	guestsOnce   sync.Once
	guestsErr    error
	xenOnce      sync.Once
	xenGuestsELF string
	xenErr       error
	// qemuSlots bounds the Xen runs in flight, whatever -parallel says:
	// the machine has two cores.
	qemuSlots = make(chan struct{}, 2)
)

// guestsDir builds the test guests once and returns build/guests.
func guestsDir(tb testing.TB) string {
	tb.Helper()
	need(tb, "make", "gcc", "ld")
	guestsOnce.Do(func() {
		cmd := exec.Command("make", "-s", "-C", filepath.Join(repoRoot, "tests", "guests"), "all")
		if out, err := cmd.CombinedOutput(); err != nil {
			guestsErr = fmt.Errorf("make -C tests/guests: %v\n%s", err, out)
		}
	})
	if guestsErr != nil {
		tb.Fatal(guestsErr)
	}
	return filepath.Join(repoRoot, "build", "guests")
}

// xenForGuests decompresses xenGuestsGz once into build/xen/xen-4.17.elf.
func xenForGuests(tb testing.TB) string {
	tb.Helper()
	if _, err := os.Stat(xenGuestsGz); err != nil {
		testenv.Missing(tb, "%s not installed (xen-hypervisor-4.17-amd64)", xenGuestsGz)
	}
	xenOnce.Do(func() {
		xenGuestsELF = filepath.Join(repoRoot, "build", "xen", "xen-4.17.elf")
		xenErr = gunzip(xenGuestsGz, xenGuestsELF)
	})
	if xenErr != nil {
		tb.Fatal(xenErr)
	}
	return xenGuestsELF
}

func gunzip(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %v", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".xen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, zr); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %v", src, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

var resultRe = regexp.MustCompile(`(?m)^Test result: (\S+) (.*)$`)

// TestGuestsOnXen boots each PV test guest as dom0 of Debian's Xen 4.17 and
// asserts its result line, then that Xen saw dom0 power off. It is the
// reference the same guests are held to on gohv.
func TestGuestsOnXen(t *testing.T) {
	need(t, "qemu-system-x86_64")
	dir := guestsDir(t)
	xen := xenForGuests(t)
	for _, tt := range guestTests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			qemuSlots <- struct{}{}
			defer func() { <-qemuSlots }()
			r := run(t, boot{
				args:    guestArgs(tt.name, xen, filepath.Join(dir, tt.elf)),
				timeout: 2 * time.Minute,
				stopAt:  "(XEN) Hardware Dom0 ",
			})
			if !r.stopped {
				t.Errorf("Xen never reported dom0 stopping\n--- serial ---\n%s", r.serial)
				return
			}
			if tt.want == "CRASH" {
				wantGuestCrash(t, r)
				return
			}
			ms := resultRe.FindAllStringSubmatch(r.serial, -1)
			if len(ms) != 1 {
				t.Fatalf("%d \"Test result:\" lines, want 1\n--- serial ---\n%s", len(ms), r.serial)
			}
			got, what := ms[0][1], ms[0][2]
			if got != tt.want || (what != tt.name && !strings.HasPrefix(what, tt.name+": ")) {
				t.Errorf("result %q %q, want %s %s\n--- serial ---\n%s", got, what, tt.want, tt.name, r.serial)
			}
			if tt.want == "SUCCESS" {
				r.wantLines(t, "Test result: SUCCESS "+tt.name)
			}
			if !strings.Contains(r.serial, "(XEN) Hardware Dom0 halted: halting machine\n") {
				t.Errorf("dom0 did not power off\n--- serial ---\n%s", r.serial)
			}
		})
	}
}
