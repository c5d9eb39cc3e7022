package hw

import (
	"testing"
	"time"
)

func TestRTC(t *testing.T) {
	date := func(y, mo, d, h, mi, s int) int64 {
		return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC).Unix()
	}
	for _, tc := range []struct {
		name string
		r    RTC
		want int64
		ok   bool
	}{
		{"BCD 24-hour", RTC{0x59, 0x16, 0x15, 0x06, 0x12, 0x26, 0x02}, date(2026, 12, 6, 15, 16, 59), true},
		{"binary 24-hour", RTC{59, 16, 15, 6, 12, 26, 0x06}, date(2026, 12, 6, 15, 16, 59), true},
		{"BCD 12-hour PM", RTC{0, 0x30, 0x83, 0x01, 0x01, 0x00, 0x00}, date(2000, 1, 1, 15, 30, 0), true},
		{"12 AM is midnight", RTC{0, 0, 0x12, 0x29, 0x02, 0x24, 0x00}, date(2024, 2, 29, 0, 0, 0), true},
		{"12 PM is noon", RTC{0, 0, 0x92, 0x31, 0x12, 0x99, 0x00}, date(2099, 12, 31, 12, 0, 0), true},
		{"binary 12-hour PM", RTC{0, 0, 0x80 | 11, 1, 7, 30, 0x04}, date(2030, 7, 1, 23, 0, 0), true},
		{"bad BCD digit", RTC{0x5a, 0, 0, 1, 1, 0, 0x02}, 0, false},
		{"hour 24", RTC{0, 0, 0x24, 1, 1, 0, 0x02}, 0, false},
		{"12-hour hour 0", RTC{0, 0, 0x00, 1, 1, 0, 0x00}, 0, false},
		{"month 13", RTC{0, 0, 0, 1, 0x13, 0, 0x02}, 0, false},
		{"29 February 2023", RTC{0, 0, 0, 0x29, 0x02, 0x23, 0x02}, 0, false},
		{"31 April", RTC{0, 0, 0, 31, 4, 26, 0x06}, 0, false},
		{"day 0", RTC{0, 0, 0, 0, 1, 26, 0x06}, 0, false},
		{"year 100", RTC{0, 0, 0, 1, 1, 100, 0x06}, 0, false},
	} {
		if got, ok := tc.r.Unix(); got != tc.want || ok != tc.ok {
			t.Errorf("%s: %d %v, want %d %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzRTC: any register contents decode without a panic, and a reading
// accepted as a date is the date the time package computes.
func FuzzRTC(f *testing.F) {
	f.Add([]byte{0x59, 0x16, 0x15, 0x06, 0x12, 0x26, 0x02})
	f.Add([]byte{0, 0, 0x92, 0x31, 0x12, 0x99, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 7 {
			return
		}
		r := RTC{b[0], b[1], b[2], b[3], b[4], b[5], b[6]}
		got, ok := r.Unix()
		if !ok {
			return
		}
		u := time.Unix(got, 0).UTC()
		if u.Year() < 2000 || u.Year() > 2099 {
			t.Fatalf("%+v: %v", r, u)
		}
		// Re-encode what time says and decode again: the same instant.
		back := RTC{uint8(u.Second()), uint8(u.Minute()), uint8(u.Hour()), uint8(u.Day()), uint8(u.Month()), uint8(u.Year() - 2000), 0x06}
		if again, ok := back.Unix(); !ok || again != got {
			t.Fatalf("%+v: %v decodes again as %d %v", r, u, again, ok)
		}
	})
}

func TestUnixTime(t *testing.T) {
	for _, d := range []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 6, 15, 16, 0, 0, time.UTC),
	} {
		if got := UnixTime(int64(d.Year()), int64(d.Month()), int64(d.Day()), int64(d.Hour()), int64(d.Minute()), int64(d.Second())); got != d.Unix() {
			t.Errorf("%v: %d, want %d", d, got, d.Unix())
		}
	}
}

func TestTSC(t *testing.T) {
	for _, hz := range []uint64{1e6, 2_400_000_000, 3_999_999_999, 1e9} {
		m := TSCScale(hz)
		// Truncating the multiplier loses at most one part in m, and
		// the product at most a nanosecond: a second and an hour of
		// ticks are that close to a second and an hour, never above.
		for _, secs := range []int64{1, 3600} {
			want := secs * 1e9
			if ns := TSCNanos(hz*uint64(secs), m); ns > want || want-ns > want/int64(m)+1 {
				t.Errorf("%d Hz: %d s of ticks is %d ns", hz, secs, ns)
			}
		}
	}
	if TSCScale(0) != 0 {
		t.Error("TSCScale(0)")
	}
	if r := [5]uint64{9, 1, 7, 3, 5}; MedianOf(&r, 5) != 5 {
		t.Errorf("MedianOf(9 1 7 3 5) = %d", MedianOf(&r, 5))
	}
	if r := [5]uint64{4, 4, 1, 100, 4}; MedianOf(&r, 5) != 4 {
		t.Errorf("MedianOf(4 4 1 100 4) = %d", MedianOf(&r, 5))
	}
}

func TestTSCHzFromPIT(t *testing.T) {
	const pit = 1193182
	for _, c := range []struct {
		name string
		a, b PITSample
		want uint64
	}{
		// 11932 PIT ticks (10.0001 ms) and 24,000,000 TSC ticks
		// between the midpoints: 24e6 * 1193182 / 11932 Hz.
		{"exact", PITSample{1000, 1100, 60000}, PITSample{1000 + 24000000, 1100 + 24000000, 60000 - 11932}, 2399963794},
		{"wide end reading counts its midpoint", PITSample{1000, 1100, 60000}, PITSample{1000 + 24000000 - 500, 1100 + 24000000 + 500, 60000 - 11932}, 2399963794},
		{"count went up (wrapped)", PITSample{0, 10, 100}, PITSample{1000, 1010, 200}, 0},
		{"no PIT tick", PITSample{0, 10, 100}, PITSample{1000, 1010, 100}, 0},
		{"readings out of order", PITSample{1000, 1010, 100}, PITSample{0, 10, 50}, 0},
		{"TSC went backwards in a reading", PITSample{10, 0, 100}, PITSample{1000, 1010, 50}, 0},
		{"overflow", PITSample{0, 0, 2}, PITSample{1 << 62, 1 << 62, 1}, 0},
	} {
		if got := TSCHzFromPIT(c.a, c.b, pit); got != c.want {
			t.Errorf("%s: TSCHzFromPIT = %d, want %d", c.name, got, c.want)
		}
	}
}

func TestMedianOf(t *testing.T) {
	for _, c := range []struct {
		r    [5]uint64
		n    int
		want uint64
	}{
		{[5]uint64{9, 1, 7, 3, 5}, 5, 5},
		{[5]uint64{9, 1, 7, 0, 0}, 3, 7},
		{[5]uint64{9, 1, 0, 0, 0}, 2, 1},
		{[5]uint64{9, 0, 0, 0, 0}, 1, 9},
		{[5]uint64{9, 0, 0, 0, 0}, 0, 0},
		{[5]uint64{9, 8, 7, 6, 5}, 7, 7},
	} {
		r := c.r
		if got := MedianOf(&r, c.n); got != c.want {
			t.Errorf("MedianOf(%v, %d) = %d, want %d", c.r, c.n, got, c.want)
		}
	}
}
