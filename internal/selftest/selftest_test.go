package selftest

import (
	"errors"
	"testing"
)

// TestSuiteOnHost runs the same checks the hypervisor runs at boot. Timer
// lateness here measures the host's load, not gohv, so only an early timer
// fails the host run.
func TestSuiteOnHost(t *testing.T) {
	for _, r := range Run() {
		if errors.Is(r.Err, ErrTimerLate) {
			t.Logf("%s: %v on this host (%s)", r.Name, r.Err, r.Detail)
			continue
		}
		if r.Err != nil {
			t.Errorf("%s: %v (%s)", r.Name, r.Err, r.Detail)
		} else {
			t.Logf("%s: ok %s", r.Name, r.Detail)
		}
	}
}
