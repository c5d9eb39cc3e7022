package build

import (
	"bytes"
	"os"
	"testing"

	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/mm/mmtest"
)

// TestDebianKernel lays out the real Debian Linux 6.1 kernel named by
// GOHV_VMLINUZ (a bzImage, e.g. vmlinuz-6.1.0-56-amd64) as R0.4's worked
// example (512 MiB domU, no initrd), then builds it into a smaller domain
// and checks the segments landed. It skips when GOHV_VMLINUZ is unset.
func TestDebianKernel(t *testing.T) {
	path := os.Getenv("GOHV_VMLINUZ")
	if path == "" {
		t.Skip("GOHV_VMLINUZ is not set")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	img := ImageFromKernel(k)
	l, err := Plan(Input{Kind: DomU, Image: img, NrPages: 131072})
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, l)
	if l.Kernel.PFN != 0x1000 || l.Kernel.End() != 0x4a00 || l.StartInfo.PFN != 0x4a00 || l.XenStore.PFN != 0x4a01 ||
		l.Console.PFN != 0x4a02 || l.PageTables.PFN != 0x4a03 || l.VEnd != 0xffffffff84c00000 ||
		l.SI.MfnList != 0x8000000000 || l.SI.NrP2MFrames != 259 || l.Entry != 0xffffffff830791c0 || l.HasHypercallPage {
		t.Errorf("worked example differs: %+v", l.Elements())
	}
	if _, err := Plan(Input{Kind: Dom0, Image: img, NrPages: 131072, InitrdLen: 20 << 20}); err != nil {
		t.Errorf("dom0: %v", err)
	}

	const n = 0x4d20
	l, err = Plan(Input{Kind: DomU, Image: img, NrPages: n})
	if err != nil {
		t.Fatal(err)
	}
	mem := mmtest.NewMemory(n + 0x100)
	mfns := shuffled(n, 0x100, 7)
	r, err := Build(l, mem, mfns, Contents{CmdLine: "console=hvc0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range k.Segments {
		if len(s.Data) == 0 {
			continue
		}
		for _, off := range []uint64{0, uint64(len(s.Data)) / 2, uint64(len(s.Data)) - 1} {
			va := s.Dest + off
			e, _, ok := walk(t, mem, r.CR3, va)
			if !ok {
				t.Fatalf("VA %#x unmapped", va)
			}
			var b [1]byte
			mem.Read(mm.Maddr(e&pteAddr)+mm.Maddr(va&0xfff), b[:])
			if !bytes.Equal(b[:], s.Data[off:off+1]) {
				t.Errorf("segment %#x byte %#x differs", s.Paddr, off)
			}
		}
	}
}
