package kernel

import (
	"os"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/gohv/gohv/abi"
)

// TestParseKernelDebian parses a real Debian Linux 6.1 bzImage (for example
// /boot/vmlinuz-6.1.0-56-amd64 from linux-image-6.1.0-56-amd64-unsigned) named
// by GOHV_VMLINUZ, and checks it against the facts in pv-abi-ladder.md R0.2
// and R0.3. It skips when GOHV_VMLINUZ is unset. If GOHV_VMLINUX names the
// same kernel's vmlinux as extracted by `xz -dc`, the decompressed image must
// be byte-identical to it.
func TestParseKernelDebian(t *testing.T) {
	path := os.Getenv("GOHV_VMLINUZ")
	if path == "" {
		t.Skip("GOHV_VMLINUZ is not set")
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	k, err := Parse(img)
	took := time.Since(t0)
	runtime.ReadMemStats(&m1)
	t.Logf("Parse allocated %d MiB in total", (m1.TotalAlloc-m0.TotalAlloc)>>20)
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	t.Logf("%s: %d-byte bzImage (protocol %#x), %v payload, %d-byte ELF, parsed in %v",
		path, len(img), k.BootProtocol, k.Compression, len(k.ELF), took)
	if ref := os.Getenv("GOHV_VMLINUX"); ref != "" {
		want, err := os.ReadFile(ref)
		if err != nil {
			t.Fatal(err)
		}
		if string(want) != string(k.ELF) {
			t.Fatalf("decompressed ELF (%d bytes) differs from %s (%d bytes)", len(k.ELF), ref, len(want))
		}
		// The extracted vmlinux parses to the same parameters.
		kv, err := Parse(want)
		if err != nil {
			t.Fatalf("Parse(%s): %v", ref, err)
		}
		if kv.Compression != CompressionNone || kv.BzImage || !reflect.DeepEqual(kv.Parms, k.Parms) || len(kv.Segments) != len(k.Segments) {
			t.Errorf("the plain vmlinux parses differently: %+v", kv.Parms)
		}
	}
	if !k.BzImage || k.BootProtocol < 0x020f || k.Compression != CompressionXZ {
		t.Errorf("BzImage %v, protocol %#x, compression %v; want a 2.15+ bzImage with an xz payload", k.BzImage, k.BootProtocol, k.Compression)
	}
	for i, s := range k.Segments {
		t.Logf("segment %d: paddr %#x vaddr %#x filesz %#x memsz %#x dest %#x", i, s.Paddr, s.Vaddr, s.Filesz, s.Memsz, s.Dest)
	}
	p := &k.Parms
	t.Logf("notes (%v): entry %#x virt_base %#x paddr_offset %#x kstart %#x kend %#x init_p2m %#x hv_start_low %#x phys32_entry %#x",
		p.Source, p.VirtEntry, p.VirtBase, p.ElfPaddrOffset, p.VirtKStart, p.VirtKEnd, p.P2MBase, p.VirtHVStartLow, p.PhysEntry)
	t.Logf("GUEST_OS %q GUEST_VERSION %q XEN_VERSION %q LOADER %q FEATURES %q supported %#x required %#x L1_MFN_VALID %+v",
		p.GuestOS, p.GuestVersion, p.XenVersion, p.Loader, p.Features, p.FeaturesSupported, p.FeaturesRequired, p.L1MFNValid)

	// R0.2: four loadable segments; the percpu one has p_vaddr 0.
	if len(k.Segments) != 4 || k.Segments[2].Vaddr != 0 || k.Segments[0].Paddr != 0x1000000 {
		t.Errorf("segments: %+v; want 4 with the text at paddr 0x1000000 and percpu at vaddr 0", len(k.Segments))
	}
	// R0.3 (the ENTRY value moves between kernel builds; it must be inside the text).
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"VIRT_BASE", p.VirtBase, 0xffffffff80000000},
		{"PADDR_OFFSET", p.ElfPaddrOffset, 0},
		{"virt_kstart", p.VirtKStart, 0xffffffff81000000},
		{"INIT_P2M", p.P2MBase, 0x8000000000},
		{"HV_START_LOW", p.VirtHVStartLow, 0xffff800000000000},
		{"SUPPORTED_FEATURES", uint64(p.FeaturesSupported[0]), 0x8801 | 1<<abi.XENFEAT_pae_pgdir_above_4gb},
		{"FeaturesRequired", uint64(p.FeaturesRequired[0]), 1 << abi.XENFEAT_writable_page_tables},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if p.Source != NotesPhdr || p.GuestOS != "linux" || p.GuestVersion != "2.6" || p.XenVersion != "xen-3.0" ||
		p.Loader != "generic" || p.PAE != XEN_PAE_EXTCR3 || p.Features != "!writable_page_tables|pae_pgdir_above_4gb" {
		t.Errorf("string notes differ from R0.3: %+v", p)
	}
	if !p.SuspendCancel || !p.UnmappedInitrd || len(p.L1MFNValid) != 1 || p.L1MFNValid[0] != (L1MFNValid{1, 1}) {
		t.Errorf("SUSPEND_CANCEL %v MOD_START_PFN %v L1_MFN_VALID %+v; want 1, 1, mask 1 value 1", p.SuspendCancel, p.UnmappedInitrd, p.L1MFNValid)
	}
	if p.VirtHypercall != UnsetAddr || p.PhysEntry == UnsetAddr32 {
		t.Errorf("HYPERCALL_PAGE %#x (want absent), PHYS32_ENTRY %#x (want present)", p.VirtHypercall, p.PhysEntry)
	}
	if p.VirtEntry < p.VirtKStart || p.VirtEntry >= p.VirtKEnd || k.EEntry != 0x1000000 {
		t.Errorf("entry %#x outside [%#x, %#x) or e_entry %#x != 0x1000000", p.VirtEntry, p.VirtKStart, p.VirtKEnd, k.EEntry)
	}
	if err := k.CheckDom0(); err != nil {
		t.Errorf("CheckDom0: %v", err)
	}
}

// TestParseKernelGrubXen parses Debian's GRUB for Xen PV (grub-xen-host,
// /usr/lib/grub-xen/grub-x86_64-xen.bin) named by GOHV_GRUB_XEN, a second
// real guest with the R2.3 notes: GUEST_OS "GRUB", ENTRY 0, VIRT_BASE 0, no
// hypercall page. It skips when GOHV_GRUB_XEN is unset.
func TestParseKernelGrubXen(t *testing.T) {
	path := os.Getenv("GOHV_GRUB_XEN")
	if path == "" {
		t.Skip("GOHV_GRUB_XEN is not set")
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Parse(img)
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	p := &k.Parms
	t.Logf("%s: %d segments, kernel %#x-%#x, entry %#x, notes %v", path, len(k.Segments), p.VirtKStart, p.VirtKEnd, p.VirtEntry, p.Source)
	if k.BzImage || k.Compression != CompressionNone || p.Source != NotesPhdr {
		t.Errorf("BzImage %v, compression %v, notes from %v", k.BzImage, k.Compression, p.Source)
	}
	if p.GuestOS != "GRUB" || p.Loader != "generic" || p.XenVersion != "xen-3.0" || p.VirtEntry != 0 || p.VirtBase != 0 ||
		p.VirtKStart != 0 || p.VirtHypercall != UnsetAddr || p.P2MBase != UnsetAddr || p.Has(abi.XEN_ELFNOTE_SUPPORTED_FEATURES) {
		t.Errorf("notes differ from R2.3: %+v", p)
	}
	// No SUPPORTED_FEATURES note: Xen's dom0 check does not apply.
	if err := k.CheckDom0(); err != nil {
		t.Errorf("CheckDom0: %v", err)
	}
}
