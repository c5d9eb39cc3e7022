package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gohv/gohv/internal/testenv"
)

// repoRoot is the module root (tests/..).
var repoRoot = func() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(f))
}()

// need skips (a plain `go test` on a developer's machine) or fails
// (GOHV_REQUIRE=1 from `make test`, or CI=true) when a tool is missing.
func need(tb testing.TB, tools ...string) {
	tb.Helper()
	testenv.NeedTool(tb, tools...)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// image returns build/gohv and build/gohv.gz, building them once with make.
func image(tb testing.TB) (elf, gz string) {
	tb.Helper()
	need(tb, "make", "gzip")
	buildOnce.Do(func() {
		cmd := exec.Command("make", "-s", "all")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("make all: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return filepath.Join(repoRoot, "build", "gohv"), filepath.Join(repoRoot, "build", "gohv.gz")
}

// boot describes one QEMU run.
type boot struct {
	args    []string      // machine arguments (-kernel/-cdrom, -m, ...)
	timeout time.Duration // whole run
	// noDebugExit leaves out isa-debug-exit: gohv must power off through ACPI.
	noDebugExit bool
	// icount runs single-threaded TCG with -icount shift=0,sleep=off
	// instead of MTTCG: guest time (and the TSC, 1 GHz) counts
	// instructions and jumps to the next timer when every CPU is idle,
	// free of the host's load; the CPUs take turns on one host thread.
	icount bool
	// stopAt ends the run (killing QEMU) once the serial log has this
	// text and the rest of its line: for configurations that halt instead
	// of exiting, and to time a boot to a line (result.duration, to within
	// the 10 ms poll).
	stopAt string
	// failOn ends the run (killing QEMU) the moment a serial line matches
	// one of these: a crash or panic print after which waiting is useless.
	// The line is result.failure.
	failOn []*regexp.Regexp
}

// result is what a run produced.
type result struct {
	serial   string
	exit     int  // QEMU's exit status; -1 if killed
	stopped  bool // the stopAt text appeared
	duration time.Duration
	failure  string // the first line that matched boot.failOn
}

// group is a command run in a process group of its own (Setpgid), so
// that whatever ends the test ends every process it started, not only the
// direct child (exec.CommandContext kills only that one): the group is
// killed when the context is done (cmd.Cancel), as soon as Wait returns
// (grandchildren left behind), and in tb.Cleanup if the command was never
// waited for (the test failed, called FailNow or panicked in between).
// Pdeathsig also kills the direct child if the test binary itself dies
// (go test -timeout), when no cleanup runs.
type group struct {
	cmd    *exec.Cmd
	reaped atomic.Bool // Wait returned: the pgid may belong to someone else now
}

func startGroup(tb testing.TB, ctx context.Context, name string, args ...string) *group {
	tb.Helper()
	g := &group{cmd: exec.CommandContext(ctx, name, args...)}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	g.cmd.Cancel = g.kill
	// Wait returns this long after the kill even if a grandchild still
	// holds an output pipe.
	g.cmd.WaitDelay = 5 * time.Second
	tb.Cleanup(func() {
		if !g.reaped.Load() {
			g.kill()
		}
	})
	return g
}

// wait waits for the command, then kills what is left of its group.
func (g *group) wait() error {
	err := g.cmd.Wait()
	g.kill()
	g.reaped.Store(true)
	return err
}

// kill sends SIGKILL to the whole process group (its pgid is the leader's
// pid). It is a no-op before Start.
func (g *group) kill() error {
	if g.cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// qemuBase is the machine every test boots: TCG, multi-threaded (MTTCG:
// with -smp the CPUs run in parallel), no display, the serial console in
// a file, reset ends QEMU, and isa-debug-exit so gohv's power-off gives
// exit status (code<<1)|1. GOHV_TEST_SMP=n gives every boot n CPUs (a
// test's own -smp, later on the command line, wins): the whole suite on
// an SMP machine.
func qemuBase(serial string, debugExit bool) []string {
	a := append(qemuCPUs(), "-display", "none", "-no-reboot", "-nodefaults", "-serial", "file:"+serial)
	if debugExit {
		a = append(a, "-device", "isa-debug-exit,iobase=0xf4,iosize=4")
	}
	return a
}

// qemuCPUs is the accelerator (MTTCG) and, with GOHV_TEST_SMP, -smp.
func qemuCPUs() []string {
	a := []string{"-accel", "tcg,thread=multi"}
	if n := os.Getenv("GOHV_TEST_SMP"); n != "" {
		a = append(a, "-smp", n)
	}
	return a
}

// qemuCPUSlots bounds concurrent QEMU runs to one per core of the 2-core
// machines this runs on: an emulator starved of CPU makes guest time (and
// the selftest's timer figures) meaningless.
var qemuCPUSlots = make(chan struct{}, 2)

// slotsMu makes takeCPUSlots take its slots as one step, so that two
// runs each holding part of what they need cannot wait on each other.
var slotsMu sync.Mutex

// takeCPUSlots takes the qemuCPUSlots a run needs: all of them for a
// machine with more than two CPUs (its own -smp; under MTTCG each CPU is
// a host thread, and two such machines at once starve each other's
// timers on two cores), else one. It returns how many it took.
func takeCPUSlots(args []string) int {
	n := 1
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-smp" {
			if c, err := strconv.Atoi(args[i+1]); err == nil && c > 2 {
				n = cap(qemuCPUSlots)
			}
		}
	}
	slotsMu.Lock()
	defer slotsMu.Unlock()
	for i := 0; i < n; i++ {
		qemuCPUSlots <- struct{}{}
	}
	return n
}

func run(tb testing.TB, b boot) result {
	tb.Helper()
	need(tb, "qemu-system-x86_64")
	n := takeCPUSlots(b.args)
	defer func() {
		for i := 0; i < n; i++ {
			<-qemuCPUSlots
		}
	}()
	if b.timeout == 0 {
		b.timeout = 3 * time.Minute
	}
	serial := filepath.Join(tb.TempDir(), "serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	base := qemuBase(serial, !b.noDebugExit)
	if b.icount {
		for i, a := range base {
			if a == "tcg,thread=multi" {
				base[i] = "tcg,thread=single"
			}
		}
		base = append(base, "-icount", "shift=0,sleep=off")
	}
	g := startGroup(tb, ctx, "qemu-system-x86_64", append(base, b.args...)...)
	cmd := g.cmd
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.wait() }()
	res := result{exit: -1}
	// The run stops once the line holding stopAt is complete, so that the
	// assertions see all of it.
	var stopRe, stopLineRe *regexp.Regexp
	if b.stopAt != "" {
		stopRe = regexp.MustCompile(regexp.QuoteMeta(b.stopAt))
		stopLineRe = regexp.MustCompile(regexp.QuoteMeta(b.stopAt) + `[^\n]*\n`)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	scanned := 0 // bytes of the serial log that failOn has seen, whole lines
wait:
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case err == nil:
				res.exit = 0
			case errors.As(err, &ee) && ctx.Err() == nil:
				res.exit = ee.ExitCode()
			}
			break wait
		case <-tick.C:
			if stopLineRe == nil && len(b.failOn) == 0 {
				continue
			}
			s, _ := os.ReadFile(serial)
			l, n := firstMatch(s[min(scanned, len(s)):], b.failOn)
			scanned += n
			if l != "" {
				res.failure = l
				g.kill()
				<-done
				break wait
			}
			if stopLineRe != nil && stopLineRe.Match(s) {
				res.stopped = true
				g.kill()
				<-done
				break wait
			}
		}
	}
	res.duration = time.Since(t0)
	s, _ := os.ReadFile(serial)
	res.serial = strings.ReplaceAll(string(s), "\r\n", "\n")
	// QEMU may exit (power-off) before the poll saw the line.
	if stopRe != nil && !res.stopped && stopRe.MatchString(res.serial) {
		res.stopped = true
	}
	if res.failure == "" {
		res.failure, _ = firstMatch([]byte(res.serial+"\n"), b.failOn)
	}
	if ctx.Err() != nil {
		tb.Errorf("QEMU timed out after %v; serial:\n%s\nstderr: %s", b.timeout, res.serial, stderr.String())
	}
	tb.Logf("QEMU %v: exit %d in %v", b.args, res.exit, res.duration.Round(time.Millisecond))
	return res
}

// firstMatch returns the first complete line of log that matches one of
// res ("" if none), and how many bytes of whole lines it looked at.
func firstMatch(log []byte, res []*regexp.Regexp) (string, int) {
	n := 0
	for len(res) > 0 {
		i := bytes.IndexByte(log[n:], '\n')
		if i < 0 {
			break // an incomplete line: wait for the rest
		}
		line := bytes.TrimRight(log[n:n+i], "\r")
		n += i + 1
		for _, re := range res {
			if re.Match(line) {
				return string(line), n
			}
		}
	}
	return "", n
}

// wantLines asserts that every line in want appears in the serial log as a
// whole line, in order.
func (r result) wantLines(tb testing.TB, want ...string) {
	tb.Helper()
	lines := strings.Split(r.serial, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && lines[i] != w {
			i++
		}
		if i == len(lines) {
			tb.Errorf("serial lacks line %q (in order)\n--- serial ---\n%s", w, r.serial)
			return
		}
		i++
	}
}

// wantMatch asserts that some line matches each regular expression.
func (r result) wantMatch(tb testing.TB, res ...string) []string {
	tb.Helper()
	var subs []string
	for _, re := range res {
		m := regexp.MustCompile("(?m)^" + re + "$").FindStringSubmatch(r.serial)
		if m == nil {
			tb.Errorf("no serial line matches %q\n--- serial ---\n%s", re, r.serial)
			continue
		}
		subs = append(subs, m[1:]...)
	}
	return subs
}

func (r result) wantExit(tb testing.TB, code int) {
	tb.Helper()
	if r.exit != code {
		tb.Errorf("QEMU exit status %d, want %d\n--- serial ---\n%s", r.exit, code, r.serial)
	}
}

// Exit statuses: isa-debug-exit maps gohv's power-off code c to (c<<1)|1;
// a reset under -no-reboot ends QEMU with 0.
const (
	exitPowerOff = 1
	exitFailure  = 3
	exitReset    = 0
)
