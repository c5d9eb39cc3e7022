package rt

import (
	"github.com/gohv/gohv/arch/amd64"
	"github.com/gohv/gohv/arch/amd64/hw"
)

// Time: the TSC, calibrated once against PIT channel 2, is the clock.
// Monotonic time is nanoseconds since calibration; wall time adds the RTC
// reading taken at boot. The local APIC timer, calibrated against the TSC
// in the same windows (pitMeasure), gives the 1 kHz tick that preempts
// kernel threads and wakes the idle loop (apic_unsafe.go).

const (
	pitHz       = 1193182
	calibrateMs = 10 // one calibration window of the TSC and the local APIC timer
	tickHz      = 1000
)

var (
	tscHz    uint64
	tscMult  uint64 // ns = (tsc delta * tscMult) >> 32
	tsc0     uint64
	bootUnix int64 // RTC seconds since 1970 at tsc0
)

// calibrateTSC measures the TSC against PIT channel 2 over up to five
// windows of calibrateMs and keeps the median of those that worked
// (pitMeasure). Each window brackets its two PIT readings with TSC reads
// and rejects a reading a stall widened, so a loaded emulator host that
// deschedules the CPU mid-measurement (which threw an earlier
// count-to-expiry method off by up to 6x) costs a retry, not a wrong
// clock. The local APIC timer, counting down from lapicFreeRun (lapicInit
// made it count, masked), is read at each window's ends as well, so its
// rate comes from the same windows (the median of theirs, hw.LAPICTimerHz
// against the TSC's median): its own five windows of calibrateMs against
// the TSC, as before, were 50 ms of every boot spent waiting.
//
//go:nosplit
func calibrateTSC() {
	var runs, lapicRuns [5]uint64
	var windows [5]lapicWindow
	n := 0
	for try := 0; try < 10 && n < len(runs); try++ {
		if hz, w := pitMeasure(); hz != 0 {
			runs[n], windows[n] = hz, w
			n++
		}
	}
	tscHz = hw.MedianOf(&runs, n)
	if tscHz < 1000000 {
		tscHz = 1000000000 // implausible reading: assume 1 GHz rather than divide by ~0
	}
	tscMult = hw.TSCScale(tscHz)
	tsc0 = amd64.Rdtsc()
	m := 0
	for _, w := range windows[:n] {
		if hz, ok := hw.LAPICTimerHz(w.counts, w.tscDelta, tscHz); ok {
			lapicRuns[m] = hz
			m++
		}
	}
	lapicHz = hw.MedianOf(&lapicRuns, m)
	lapicWrite(hw.LAPIC_TMICT, 0)
}

// lapicWindow is the local APIC timer's count over one calibration
// window and the TSC ticks between its two readings.
type lapicWindow struct{ counts, tscDelta uint64 }

// lapicSample reads the free-running local APIC timer's current count,
// then the TSC: the same order at both ends of a window, so the reads'
// own cost cancels.
//
//go:nosplit
func lapicSample() (count uint32, tsc uint64) {
	count = lapicRead(hw.LAPIC_TMCCT)
	return count, amd64.Rdtsc()
}

// pitSample latches PIT channel 2's count between two TSC reads.
//
//go:nosplit
func pitSample() hw.PITSample {
	var s hw.PITSample
	s.Before = amd64.Rdtsc()
	amd64.Outb(0x43, 0x80) // counter latch, channel 2
	lo := amd64.Inb(0x42)
	hi := amd64.Inb(0x42)
	s.After = amd64.Rdtsc()
	s.Count = uint16(hi)<<8 | uint16(lo)
	return s
}

// pitMeasure returns the TSC's rate from one window of at least
// calibrateMs of PIT channel 2 counting down from 0xFFFF (mode 0, 55 ms
// to its end), or 0 if the window is unusable, and the local APIC
// timer's count over the window (lapicSample at both ends; counts 0 when
// the timer stopped or ran out). The narrowest of eight readings sets
// what an undisturbed reading costs; the window starts and ends with
// readings at most twice that wide; hw.TSCHzFromPIT divides. A window in
// which the count reached zero (OUT high) is thrown away.
//
//go:nosplit
func pitMeasure() (uint64, lapicWindow) {
	const ticks = pitHz * calibrateMs / 1000
	var lw lapicWindow
	amd64.Outb(0x61, amd64.Inb(0x61)&^0x03) // gate off, speaker off
	amd64.Outb(0x43, 0xB0)                  // ch2, lobyte/hibyte, mode 0
	amd64.Outb(0x42, 0xFF)
	amd64.Outb(0x42, 0xFF)
	amd64.Outb(0x61, amd64.Inb(0x61)|0x01) // gate on: counting starts
	best := pitSample()
	for i := 0; i < 7; i++ {
		if s := pitSample(); s.Width() < best.Width() {
			best = s
		}
	}
	limit := 2*best.Width() + 1
	var a hw.PITSample
	for i := 0; ; i++ {
		if i == 1000 {
			return 0, lw
		}
		if a = pitSample(); a.Width() <= limit {
			break
		}
	}
	l0, lt0 := lapicSample()
	for i := 0; i < 10000000; i++ {
		s := pitSample()
		if amd64.Inb(0x61)&0x20 != 0 || s.Count > a.Count {
			return 0, lw // the count ran out: the window is too long to trust
		}
		if uint64(a.Count-s.Count) >= ticks && s.Width() <= limit {
			l1, lt1 := lapicSample()
			if l1 != 0 && l1 < l0 {
				lw = lapicWindow{counts: uint64(l0 - l1), tscDelta: lt1 - lt0}
			}
			return hw.TSCHzFromPIT(a, s, pitHz), lw
		}
	}
	return 0, lw
}

// nanotime returns nanoseconds since calibration.
//
//go:nosplit
func nanotime() int64 { return tscTime(amd64.Rdtsc()) }

// tscTime is nanotime at TSC reading tsc.
//
//go:nosplit
func tscTime(tsc uint64) int64 { return hw.TSCNanos(tsc-tsc0, tscMult) }

// startPIT programs PIT channel 0 as a tickHz rate generator. Its IRQ 0
// reaches no CPU (the 8259s and every IO-APIC pin are masked): the tick is
// the local APIC timer's (apic_unsafe.go); channel 0 only keeps counting
// for jitter's entropy rounds.
//
//go:nosplit
func startPIT() {
	var div uint32 = (pitHz + tickHz/2) / tickHz
	amd64.Outb(0x43, 0x34)
	amd64.Outb(0x40, uint8(div))
	amd64.Outb(0x40, uint8(div>>8))
}

//go:nosplit
func cmos(reg uint8) uint8 {
	amd64.Outb(0x70, reg)
	return amd64.Inb(0x71)
}

// readRTC sets bootUnix from the CMOS clock (read twice until stable, as
// the clock may tick mid-read; hw.RTC decodes it). A reading that is no
// date leaves the wall clock at 1970.
//
//go:nosplit
func readRTC() {
	var s, mi, h, d, mo, y [2]uint8
	for try := 0; try < 8; try++ {
		for i := 0; i < 100000 && cmos(0x0A)&0x80 != 0; i++ {
		}
		s[0], mi[0], h[0], d[0], mo[0], y[0] = cmos(0), cmos(2), cmos(4), cmos(7), cmos(8), cmos(9)
		for i := 0; i < 100000 && cmos(0x0A)&0x80 != 0; i++ {
		}
		s[1], mi[1], h[1], d[1], mo[1], y[1] = cmos(0), cmos(2), cmos(4), cmos(7), cmos(8), cmos(9)
		if s[0] == s[1] && mi[0] == mi[1] && h[0] == h[1] && d[0] == d[1] && mo[0] == mo[1] && y[0] == y[1] {
			break
		}
	}
	r := hw.RTC{Sec: s[1], Min: mi[1], Hour: h[1], Day: d[1], Mon: mo[1], Year: y[1], RegB: cmos(0x0B)}
	if t, ok := r.Unix(); ok {
		bootUnix = t
	}
}
