package testenv

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB whose Fatalf and Skipf record the outcome and
// end the calling goroutine, as the real ones do.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// outcome runs f with a recorder in its own goroutine.
func outcome(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		require, ci string
		want        bool
	}{
		{"", "", false},
		{"0", "", false},
		{"1", "", true},
		{"", "true", true},
		{"", "1", false},
		{"1", "true", true},
	} {
		t.Setenv("GOHV_REQUIRE", tc.require)
		t.Setenv("CI", tc.ci)
		if got := Required(); got != tc.want {
			t.Errorf("GOHV_REQUIRE=%q CI=%q: Required() = %v, want %v", tc.require, tc.ci, got, tc.want)
		}
	}
}

func TestNeedToolMissing(t *testing.T) {
	const tool = "gohv-no-such-tool-xyzzy"
	t.Setenv("CI", "")
	t.Setenv("GOHV_REQUIRE", "")
	if r := outcome(func(tb testing.TB) { NeedTool(tb, tool) }); !r.skipped || r.failed {
		t.Errorf("developer machine: skipped %v failed %v, want a skip", r.skipped, r.failed)
	}
	t.Setenv("GOHV_REQUIRE", "1")
	r := outcome(func(tb testing.TB) { NeedTool(tb, tool) })
	if !r.failed || r.skipped {
		t.Errorf("GOHV_REQUIRE=1: skipped %v failed %v, want a failure", r.skipped, r.failed)
	}
	t.Setenv("GOHV_REQUIRE", "")
	t.Setenv("CI", "true")
	if r := outcome(func(tb testing.TB) { NeedTool(tb, tool) }); !r.failed {
		t.Errorf("CI=true: not failed (%q)", r.msg)
	}
}

func TestNeedToolPresent(t *testing.T) {
	t.Setenv("GOHV_REQUIRE", "1")
	var got []string
	r := outcome(func(tb testing.TB) { got = NeedTool(tb, "sh") })
	if r.failed || r.skipped || len(got) != 1 || got[0] == "" {
		t.Errorf("sh: failed %v skipped %v paths %q", r.failed, r.skipped, got)
	}
}

func TestNeedEnv(t *testing.T) {
	t.Setenv("GOHV_REQUIRE", "1")
	t.Setenv("GOHV_TESTENV_X", "")
	if r := outcome(func(tb testing.TB) { NeedEnv(tb, "GOHV_TESTENV_X", "nothing sets it") }); !r.failed {
		t.Error("empty variable under GOHV_REQUIRE=1 did not fail")
	}
	t.Setenv("GOHV_TESTENV_X", "/some/path")
	var v string
	if r := outcome(func(tb testing.TB) { v = NeedEnv(tb, "GOHV_TESTENV_X", "") }); r.failed || r.skipped || v != "/some/path" {
		t.Errorf("set variable: failed %v skipped %v value %q", r.failed, r.skipped, v)
	}
}
