package hw

import "math/bits"

// The clocks kmain reads: the CMOS RTC's date registers (MC146818 as the
// PC has it) and the TSC calibrated against the PIT.

// RTC is a CMOS clock reading: registers 0x00 (seconds), 0x02 (minutes),
// 0x04 (hours; bit 7 PM in 12-hour mode), 0x07 (day), 0x08 (month), 0x09
// (year in the century) and status register B (bit 1: 24-hour mode,
// bit 2: binary rather than BCD).
type RTC struct {
	Sec, Min, Hour, Day, Mon, Year, RegB uint8
}

// bcd decodes a BCD byte; ok is false for a digit above 9.
//
//go:nosplit
func bcd(v uint8) (uint8, bool) { return v&15 + v>>4*10, v&15 <= 9 && v>>4 <= 9 }

// Unix returns the reading as seconds since 1970-01-01 UTC, taking the
// year as 20xx; ok is false for a reading that is not a date and time.
//
//go:nosplit
func (r RTC) Unix() (int64, bool) {
	pm := r.Hour&0x80 != 0
	v := [6]uint8{r.Sec, r.Min, r.Hour & 0x7f, r.Day, r.Mon, r.Year}
	if r.RegB&0x04 == 0 {
		for i := range v {
			d, ok := bcd(v[i])
			if !ok {
				return 0, false
			}
			v[i] = d
		}
	}
	sec, min, hour, day, mon, year := v[0], v[1], v[2], v[3], v[4], v[5]
	if r.RegB&0x02 == 0 { // 12-hour: 12 AM is 0, 12 PM is 12
		if hour < 1 || hour > 12 {
			return 0, false
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if sec > 59 || min > 59 || hour > 23 || mon < 1 || mon > 12 || day < 1 || day > monthDays(2000+int64(year), mon) || year > 99 {
		return 0, false
	}
	return UnixTime(2000+int64(year), int64(mon), int64(day), int64(hour), int64(min), int64(sec)), true
}

// monthDays returns the days in month m (1-12) of year y.
//
//go:nosplit
func monthDays(y int64, m uint8) uint8 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// UnixTime converts a UTC civil time (month 1-12) to seconds since
// 1970-01-01, by the days-from-civil count with March as the year's first
// month.
//
//go:nosplit
func UnixTime(y, m, d, hh, mm, ss int64) int64 {
	if m <= 2 {
		y--
		m += 12
	}
	days := 365*y + y/4 - y/100 + y/400 + (153*(m-3)+2)/5 + d - 719469
	return days*86400 + hh*3600 + mm*60 + ss
}

// TSCScale returns the multiplier that turns TSC ticks into nanoseconds
// as ns = ticks * mult >> 32, for a TSC of hz (0 for none).
//
//go:nosplit
func TSCScale(hz uint64) uint64 {
	if hz == 0 {
		return 0
	}
	hi, lo := bits.Mul64(1e9, 1<<32)
	m, _ := bits.Div64(hi, lo, hz)
	return m
}

// TSCNanos returns the nanoseconds of ticks at multiplier mult.
//
//go:nosplit
func TSCNanos(ticks, mult uint64) int64 {
	hi, lo := bits.Mul64(ticks, mult)
	return int64(hi<<32 | lo>>32)
}

// PITSample is one reading of a PIT channel's count, latched between two
// reads of the TSC: the latch happened somewhere in [Before, After].
type PITSample struct {
	Before, After uint64
	Count         uint16
}

// Width is how many TSC ticks the reading took: a few port accesses'
// worth, or much more if the CPU (or the emulator's thread) stalled.
//
//go:nosplit
func (s PITSample) Width() uint64 { return s.After - s.Before }

// TSCHzFromPIT returns the TSC's rate from two readings a and b, in that
// order, of a PIT channel counting down at pitHz without wrapping between
// them: the TSC ticks between the readings' midpoints over the PIT ticks
// between their counts. A stall between two readings moves both clocks
// alike; one inside a reading only widens it, which the caller rejects
// by Width. 0 if the count did not go down or the TSC did not go up.
//
//go:nosplit
func TSCHzFromPIT(a, b PITSample, pitHz uint64) uint64 {
	if b.Count >= a.Count || b.Before < a.After || a.After < a.Before || b.After < b.Before {
		return 0
	}
	pit := uint64(a.Count - b.Count)
	// Midpoints, doubled to stay in integers: (B+A) - (b+a), halved.
	tsc := (b.Before - a.Before + b.After - a.After) / 2
	hi, lo := bits.Mul64(tsc, pitHz)
	if hi >= pit {
		return 0
	}
	q, _ := bits.Div64(hi, lo, pit)
	return q
}

// MedianOf returns the median of r[:n] (the lower middle one for even n),
// sorting r[:n] in place; 0 for n <= 0. n is at most len(r).
//
//go:nosplit
func MedianOf(r *[5]uint64, n int) uint64 {
	n = min(n, len(r))
	if n <= 0 {
		return 0
	}
	for i := 1; i < n; i++ { // insertion sort
		for j := i; j > 0 && r[j] < r[j-1]; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
	return r[(n-1)/2]
}
