package klog

import (
	"bytes"
	"strings"
	"testing"
)

func TestThresholds(t *testing.T) {
	cases := []struct {
		name  string
		th    Thresholds
		lv    Level
		guest bool
		want  bool
	}{
		{"error under warning", Thresholds{2, 2}, Err, false, true},
		{"warning under warning", Thresholds{2, 2}, Warning, false, true},
		{"info under warning", Thresholds{2, 2}, Info, false, false},
		{"debug under all", Thresholds{4, 4}, Debug, false, true},
		{"none drops errors", Thresholds{0, 0}, Err, false, false},
		{"guest rate-limited band", Thresholds{0, 2}, Warning, true, true},
		{"guest above band", Thresholds{0, 2}, Info, true, false},
	}
	for _, c := range cases {
		var b bytes.Buffer
		l := New(&b, func() int64 { return 0 })
		l.SetLevels(c.th, c.th)
		if c.guest {
			l.Guestf(1, 0, c.lv, "x")
		} else {
			l.Printf(c.lv, "x")
		}
		if got := b.Len() > 0; got != c.want {
			t.Errorf("%s: printed=%v want %v (%q)", c.name, got, c.want, b.String())
		}
	}
}

func TestGuestTagAndOneLine(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, func() int64 { return 0 })
	l.Guestf(3, 1, Err, "bad pte %#x\n", 0x1000)
	if got := b.String(); got != "d3v1 bad pte 0x1000\n" {
		t.Fatalf("got %q", got)
	}
}

func TestRateLimit(t *testing.T) {
	var b bytes.Buffer
	now := int64(0)
	l := New(&b, func() int64 { return now })
	for i := 0; i < 25; i++ {
		l.Guestf(1, 0, Err, "line %d", i) // guest errors sit in the rate-limited band
	}
	if n := strings.Count(b.String(), "\n"); n != RateBurst {
		t.Fatalf("burst: %d lines, want %d:\n%s", n, RateBurst, b.String())
	}
	now += RateWindowNs
	b.Reset()
	l.Guestf(1, 0, Err, "after")
	want := "printk: 15 messages suppressed.\nd1v0 after\n"
	if b.String() != want {
		t.Fatalf("got %q want %q", b.String(), want)
	}
	// Hypervisor lines below the lower threshold are never limited.
	b.Reset()
	for i := 0; i < 30; i++ {
		l.Printf(Err, "x")
	}
	if n := strings.Count(b.String(), "\n"); n != 30 {
		t.Fatalf("unlimited lines: %d", n)
	}
}
