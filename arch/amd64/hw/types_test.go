package hw

import (
	"reflect"
	"testing"
)

func TestPointerFree(t *testing.T) {
	type flat struct {
		A uint32
		B bool
		C [4]uint16
		D struct{ E, F int8 }
	}
	type withPtr struct {
		A uint64
		P *int
	}
	type deep struct {
		A [2]struct{ S []byte }
	}
	type iface struct{ X any }
	for _, tc := range []struct {
		t    reflect.Type
		want bool
	}{
		{reflect.TypeFor[uint64](), true},
		{reflect.TypeFor[flat](), true},
		{reflect.TypeFor[[8]flat](), true},
		{reflect.TypeFor[[0]*int](), true}, // holds nothing at all
		{reflect.TypeFor[struct{}](), true},
		{reflect.TypeFor[*int](), false},
		{reflect.TypeFor[withPtr](), false},
		{reflect.TypeFor[deep](), false},
		{reflect.TypeFor[iface](), false},
		{reflect.TypeFor[string](), false},
		{reflect.TypeFor[map[int]int](), false},
		{reflect.TypeFor[chan int](), false},
		{reflect.TypeFor[func()](), false},
		{reflect.TypeFor[[3]string](), false},
		{reflect.TypeFor[uintptr](), true}, // an address, not a pointer the collector follows
	} {
		if got := PointerFree(tc.t); got != tc.want {
			t.Errorf("PointerFree(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}
