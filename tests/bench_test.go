package tests

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/gohv/gohv/internal/testenv"
)

// Benchmarks compare gohv with Debian's Xen 4.17 booted in the same
// harness. They report medians of interleaved runs and the gohv/Xen
// ratio; they are run by `make bench`, never as timed tests.

const benchRuns = 5

// xenImage decompresses Debian's xen.gz (an ELF32 multiboot image QEMU's
// -kernel loads) into dir.
func xenImage(b *testing.B, dir string) (elf, gz string) {
	gz = "/boot/xen-4.17-amd64.gz"
	f, err := os.Open(gz)
	if err != nil {
		testenv.Missing(b, "Xen 4.17 not installed (xen-hypervisor-4.17-amd64): %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	elf = filepath.Join(dir, "xen-4.17.elf")
	out, err := os.Create(elf)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, zr); err != nil {
		b.Fatal(err)
	}
	return elf, gz
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkBootToReady: QEMU start to gohv's ready line (no dom0 module),
// against QEMU start to the line where Xen 4.17, given no dom0 module,
// stops ("dom0 kernel not specified"). Xen stops there before building
// its heap and domains, so the comparison favours Xen.
func BenchmarkBootToReady(b *testing.B) {
	gohvELF, gohvGz := image(b)
	xenELF, xenGz := xenImage(b, b.TempDir())
	var gohvT, xenT []time.Duration
	var heapKiB, peakKiB, imageKiB int
	memRe := regexp.MustCompile(`gohv memory: image (\d+) KiB, heap (\d+) KiB in use \(peak (\d+) KiB\)`)
	for i := 0; i < benchRuns; i++ {
		r := run(b, boot{args: []string{"-m", "512M", "-kernel", gohvELF, "-append", "console=com1"},
			stopAt: "(XEN) gohv ready: no dom0 module given"})
		if !r.stopped {
			b.Fatalf("gohv never got ready:\n%s", r.serial)
		}
		gohvT = append(gohvT, r.duration)
		if m := memRe.FindStringSubmatch(r.serial); m != nil {
			imageKiB, _ = strconv.Atoi(m[1])
			heapKiB, _ = strconv.Atoi(m[2])
			peakKiB, _ = strconv.Atoi(m[3])
		}
		x := run(b, boot{args: []string{"-m", "512M", "-cpu", "max,-smap", "-kernel", xenELF,
			"-append", "console=com1 com1=115200,8n1 noreboot"},
			stopAt: "dom0 kernel not specified"})
		if !x.stopped {
			b.Fatalf("Xen never reached its no-dom0 line:\n%s", x.serial)
		}
		xenT = append(xenT, x.duration)
	}
	gm, xm := median(gohvT), median(xenT)
	gs, xs := fileSize(b, gohvGz), fileSize(b, xenGz)
	b.ReportMetric(float64(gm.Milliseconds()), "gohv-ms")
	b.ReportMetric(float64(xm.Milliseconds()), "xen-ms")
	b.ReportMetric(float64(gm)/float64(xm), "boot-ratio")
	b.ReportMetric(float64(gs), "gohv.gz-bytes")
	b.ReportMetric(float64(xs), "xen.gz-bytes")
	b.ReportMetric(float64(gs)/float64(xs), "size-ratio")
	b.ReportMetric(float64(heapKiB), "gohv-heap-KiB")
	fmt.Printf("boot to ready, median of %d interleaved: gohv %v, Xen 4.17 %v, gohv/Xen %.2f\n", benchRuns, gm, xm, float64(gm)/float64(xm))
	fmt.Printf("  gohv runs %v\n  Xen runs  %v\n", gohvT, xenT)
	fmt.Printf("image size: gohv.gz %d bytes, xen.gz %d bytes, gohv/Xen %.2f\n", gs, xs, float64(gs)/float64(xs))
	fmt.Printf("gohv memory at ready: image %d KiB, heap %d KiB in use (peak %d KiB)\n", imageKiB, heapKiB, peakKiB)
}

func fileSize(b *testing.B, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}
