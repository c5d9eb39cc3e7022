package tests

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGuestsOnGohv boots each PV test guest as gohv's dom0, with the
// command line the Xen run uses, and asserts the result line Xen 4.17
// gives (guestTests), dom0's power-off, and that gohv then powered the
// machine off; for a CRASH guest, the crash lines Xen prints.
func TestGuestsOnGohv(t *testing.T) {
	elf, _ := image(t)
	dir := guestsDir(t)
	for _, tt := range guestTests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := boot{args: guestArgs(tt.name, elf, filepath.Join(dir, tt.elf)), timeout: 2 * time.Minute}
			if tt.want == "CRASH" {
				// noreboot: gohv halts after dom0's crash.
				b.stopAt = "(XEN) Hardware Dom0 "
			}
			r := run(t, b)
			if tt.want == "CRASH" {
				r.wantLines(t, "(XEN) gohv ready: dom0 running (64 MiB)")
				// gohv names the cause as Xen's d0v0 lines do.
				r.wantMatch(t, `\(XEN\) d0v0 domain crash: .+`)
				wantGuestCrash(t, r)
				return
			}
			ms := resultRe.FindAllStringSubmatch(r.serial, -1)
			if len(ms) != 1 {
				t.Fatalf("%d \"Test result:\" lines, want 1\n--- serial ---\n%s", len(ms), r.serial)
			}
			if got, what := ms[0][1], ms[0][2]; got != tt.want || (what != tt.name && !strings.HasPrefix(what, tt.name+": ")) {
				t.Errorf("result %q %q, want %s %s\n--- serial ---\n%s", got, what, tt.want, tt.name, r.serial)
			}
			r.wantMatch(t, `\(XEN\)  Loaded kernel: 0000000000100000->[0-9a-f]{16}`)
			r.wantLines(t, "(XEN) gohv ready: dom0 running (64 MiB)",
				"Test result: "+tt.want+" "+tt.name,
				"(XEN) Hardware Dom0 halted: powering off machine")
			r.wantExit(t, exitPowerOff)
			if strings.HasPrefix(tt.name, "usermode") {
				// Its user syscall, irets to user mode, user #PFs and its
				// context switch's hypercalls take the fast path.
				r.wantMatch(t, `\(XEN\) gohv d0v0 fast path: [1-9][0-9]* syscall bounces, [1-9][0-9]* irets, [1-9][0-9]* page faults, [1-9][0-9]* hypercalls`)
			}
			if strings.HasPrefix(tt.name, "singleshot") {
				// Its set_singleshot_timer calls for vCPU 0 at a readable
				// address take the fast path.
				r.wantMatch(t, `\(XEN\) gohv d0v0 fast path: [0-9]+ syscall bounces, [0-9]+ irets, [0-9]+ page faults, [1-9][0-9]* hypercalls`)
			}
			if tt.name == "smpbench" {
				wantRuntimeOffBusyCPUs(t, r)
			}
		})
	}
}

// cpuRuntimeRe matches gohv's power-off count, per CPU, of what brought
// the runtime's threads to it or to others (cmd/gohv's cpuReport).
var cpuRuntimeRe = regexp.MustCompile(`\(XEN\) gohv CPU(\d+) runtime: (\d+) vCPU preemptions; tick IPIs sent (\d+) for threads, (\d+) for signals; (\d+) futex wakes, (\d+) eventfd signals, (\d+) epoll waits`)

// maxEventfdSignals bounds the netpoller wake-ups (the runtime's
// netpollBreak, an eventfd write) of a smpbench quick run on two CPUs:
// 1-4 in all (8 runs) with a slice timed only while a vCPU waits for the
// CPU (sched's setSliceLocked), 15-47 (10 runs) with every slice timed
// (each reset of the timer earlier than the netpoller's sleep wakes it).
const maxEventfdSignals = 8

// wantRuntimeOffBusyCPUs: in smpbench (two vCPUs on two CPUs, each busy
// in its guest for long runs), gohv's own work stays off the busy vCPUs'
// CPUs where it can, as Xen's does: no CPU sends another an IPI to run a
// runtime thread it can run itself (rt's kick: 4-30 per CPU a run when it
// did), which only a vCPU thread bound to the other CPU needs (neither
// vCPU moved between CPUs); and a lone vCPU's slice takes no Go timer
// (maxEventfdSignals).
func wantRuntimeOffBusyCPUs(t *testing.T, r result) {
	t.Helper()
	ms := cpuRuntimeRe.FindAllStringSubmatch(r.serial, -1)
	if len(ms) != 2 {
		t.Errorf("%d \"gohv CPU<n> runtime:\" lines, want 2\n--- serial ---\n%s", len(ms), r.serial)
		return
	}
	moved := !strings.Contains(r.serial, "(XEN) gohv d0v0: ") || !strings.Contains(r.serial, "(XEN) gohv d0v1: ") ||
		strings.Count(r.serial, ", 0 moves between CPUs") != 2
	var eventfd uint64
	for _, m := range ms {
		threadIPIs, _ := strconv.ParseUint(m[3], 10, 64)
		n, _ := strconv.ParseUint(m[6], 10, 64)
		eventfd += n
		if threadIPIs != 0 && !moved {
			t.Errorf("CPU%s sent %d IPIs to bring a busy CPU's tick forward for a runtime thread it could run itself: %s", m[1], threadIPIs, m[0])
		}
	}
	if eventfd > maxEventfdSignals {
		t.Errorf("%d netpoller eventfd signals, want at most %d (a lone vCPU's slice timed by a Go timer?)", eventfd, maxEventfdSignals)
	}
	t.Logf("%s\n%s", ms[0][0], ms[1][0])
}
