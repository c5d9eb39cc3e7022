package mm

import (
	"reflect"
	"testing"
)

// TestPageInfoSize: the frame table holds one PageInfo per machine frame in
// gohv's own heap (4 MiB a GiB of RAM at 16 bytes); a field added or moved
// so that the struct grows shows here.
func TestPageInfoSize(t *testing.T) {
	if n := reflect.TypeFor[PageInfo]().Size(); n != 16 {
		t.Errorf("PageInfo is %d bytes, want 16", n)
	}
}
