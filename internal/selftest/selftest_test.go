package selftest

import "testing"

// TestSuiteOnHost runs the same checks the hypervisor runs at boot.
func TestSuiteOnHost(t *testing.T) {
	for _, r := range Run() {
		if r.Err != nil {
			t.Errorf("%s: %v (%s)", r.Name, r.Err, r.Detail)
		} else {
			t.Logf("%s: ok %s", r.Name, r.Detail)
		}
	}
}
