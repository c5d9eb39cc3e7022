package tests

import (
	"path/filepath"
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
				// Its user syscall, irets to user mode and user #PFs take
				// the fast path.
				r.wantMatch(t, `\(XEN\) gohv d0v0 fast path: [1-9][0-9]* syscall bounces, [1-9][0-9]* irets, [1-9][0-9]* page faults`)
			}
		})
	}
}
