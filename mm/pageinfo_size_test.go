package mm

import (
	"reflect"
	"testing"
)

// TestPageInfoSize: the frame table holds one PageInfo per machine frame
// (4 MiB a GiB of RAM at 16 bytes), and the metal sizes its storage by
// PageInfoSize (FrameTableBytes); a field added or moved so that the
// struct grows shows here.
func TestPageInfoSize(t *testing.T) {
	if n := reflect.TypeFor[PageInfo]().Size(); n != PageInfoSize {
		t.Errorf("PageInfo is %d bytes, want %d (PageInfoSize)", n, PageInfoSize)
	}
}
