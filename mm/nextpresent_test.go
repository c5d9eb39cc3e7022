package mm

import (
	"math/rand/v2"
	"testing"
)

// TestNextPresent compares nextPresent with a plain scan over tables with
// present entries at random places and densities, from every start.
func TestNextPresent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		var tab [ptEntries]uint64
		density := r.IntN(40)
		for i := range tab {
			switch {
			case r.IntN(100) < density:
				tab[i] = uint64(r.Uint32())<<12 | _PAGE_PRESENT
			case r.IntN(4) == 0:
				tab[i] = uint64(r.Uint32())<<12 | _PAGE_RW // not present
			}
		}
		if n%7 == 0 {
			tab[ptEntries-1] |= _PAGE_PRESENT
		}
		for i := 0; i <= ptEntries; i++ {
			want := i
			for want < ptEntries && !present(tab[want]) {
				want++
			}
			if got := nextPresent(&tab, i); got != want {
				t.Fatalf("table %d: nextPresent(%d) = %d, want %d", n, i, got, want)
			}
		}
	}
}

func BenchmarkNextPresent(b *testing.B) {
	var tab [ptEntries]uint64
	for _, i := range []int{0, 1, 2, 100, 101, 300, 511} {
		tab[i] = _PAGE_PRESENT
	}
	for b.Loop() {
		for i := nextPresent(&tab, 0); i < ptEntries; i = nextPresent(&tab, i+1) {
		}
	}
}
