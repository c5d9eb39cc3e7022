package image

import (
	"bytes"
	"testing"

	"github.com/u-root/u-root/pkg/boot/multiboot"
)

// TestURootProbe cross-checks the multiboot1 header with an independent
// parser: u-root's pkg/boot/multiboot. Its field parser (parseHeader) is not
// exported; multiboot.Probe runs it and reports only whether a header with a
// valid magic and checksum and supported flags is in the first 8 KiB, so the
// field values are checked by TestStampGoKernel through Inspect instead.
func TestURootProbe(t *testing.T) {
	in := goKernel(t)
	if err := multiboot.Probe(bytes.NewReader(in)); err == nil {
		t.Error("u-root finds a multiboot header in the unstamped image")
	}
	out, rep, err := Stamp(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := multiboot.Probe(bytes.NewReader(out)); err != nil {
		t.Errorf("u-root rejects the stamped image: %v", err)
	}
	// A broken checksum must make u-root (and every loader) miss it.
	bad := bytes.Clone(out)
	bad[rep.MB1Offset+8] ^= 1
	if err := multiboot.Probe(bytes.NewReader(bad)); err == nil {
		t.Error("u-root accepts a multiboot1 header with a bad checksum")
	}
	// Flags u-root does not know (bits 3-15) are refused by it: check that
	// the stamped flags are not among them by setting one.
	unsup := bytes.Clone(out)
	put32(unsup, rep.MB1Offset+4, MB1Flags|0x8)
	put32(unsup, rep.MB1Offset+8, checksum(MULTIBOOT_HEADER_MAGIC, MB1Flags|0x8))
	if err := multiboot.Probe(bytes.NewReader(unsup)); err != multiboot.ErrFlagsNotSupported {
		t.Errorf("u-root on flags %#x: %v, want ErrFlagsNotSupported", MB1Flags|0x8, err)
	}
}
