package klog

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Level is a message's severity, numbered as Xen's XENLOG_* levels.
type Level int

const (
	Err     Level = 0 // XENLOG_ERR
	Warning Level = 1 // XENLOG_WARNING
	Info    Level = 2 // XENLOG_INFO
	Debug   Level = 3 // XENLOG_DEBUG
)

// Thresholds is a loglvl= setting: a message of level L is printed when
// L < Lower, printed subject to the rate limit when Lower <= L < Upper, and
// dropped when L >= Upper (Xen's console.c semantics).
type Thresholds struct{ Lower, Upper int }

// Xen's printk rate limit: at most RateBurst rate-limited lines per
// RateWindowNs; the next line after a suppressed run reports the count.
const (
	RateBurst    = 10
	RateWindowNs = 5_000_000_000
)

// Logger writes console lines. Its zero value is not usable; use New.
type Logger struct {
	mu         sync.Mutex // guards everything below and serialises writes
	w          io.Writer
	now        func() int64 // monotonic ns
	std, guest Thresholds
	winStart   int64
	inWindow   int
	suppressed int
}

// New returns a logger writing to w with Xen's release-build defaults
// (loglvl=warning, guest_loglvl=none/warning). now is a monotonic clock in
// nanoseconds, used by the rate limit.
func New(w io.Writer, now func() int64) *Logger {
	return &Logger{w: w, now: now, std: Thresholds{2, 2}, guest: Thresholds{0, 2}}
}

// SetLevels replaces the thresholds for hypervisor and guest lines.
func (l *Logger) SetLevels(std, guest Thresholds) {
	l.mu.Lock()
	l.std, l.guest = std, guest
	l.mu.Unlock()
}

// Printf logs a hypervisor line at level lv.
func (l *Logger) Printf(lv Level, format string, args ...any) {
	l.emit(false, lv, "", format, args)
}

// Guestf logs a line caused by domain dom's vCPU vcpu, tagged d<dom>v<vcpu>
// and thresholded by guest_loglvl.
func (l *Logger) Guestf(dom, vcpu int, lv Level, format string, args ...any) {
	l.emit(true, lv, fmt.Sprintf("d%dv%d ", dom, vcpu), format, args)
}

// Lines writes pre-formatted lines unconditionally (boot reports).
func (l *Logger) Lines(lines []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range lines {
		io.WriteString(l.w, strings.TrimRight(s, "\n")+"\n")
	}
}

func (l *Logger) emit(guest bool, lv Level, prefix, format string, args []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.std
	if guest {
		t = l.guest
	}
	if int(lv) >= t.Upper && int(lv) >= t.Lower {
		return
	}
	if int(lv) >= t.Lower && !l.allow() {
		return
	}
	if l.suppressed > 0 {
		fmt.Fprintf(l.w, "printk: %d messages suppressed.\n", l.suppressed)
		l.suppressed = 0
	}
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	io.WriteString(l.w, prefix+msg+"\n")
}

// allow applies the rate limit; l.mu is held.
func (l *Logger) allow() bool {
	now := l.now()
	if now-l.winStart >= RateWindowNs || now < l.winStart {
		l.winStart, l.inWindow = now, 0
	}
	if l.inWindow < RateBurst {
		l.inWindow++
		return true
	}
	l.suppressed++
	return false
}
