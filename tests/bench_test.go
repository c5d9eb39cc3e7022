package tests

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gohv/gohv/internal/testenv"
)

// Benchmarks compare gohv with Debian's Xen 4.17 booted in the same
// harness. They report medians of interleaved runs and the gohv/Xen
// ratio; they are run by `make bench`, never as timed tests.

// benchRuns is 5; GOHV_BENCH_RUNS=n sets another count for a quick look.
var benchRuns = func() int {
	if n, err := strconv.Atoi(os.Getenv("GOHV_BENCH_RUNS")); err == nil && n > 0 {
		return n
	}
	return 5
}()

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

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchRatio reports and prints ms[num]/ms[den] when both are there.
func benchRatio(b *testing.B, ms map[string]float64, num, den, unit string) {
	n, ok1 := ms[num]
	d, ok2 := ms[den]
	if !ok1 || !ok2 || d == 0 {
		return
	}
	b.ReportMetric(n/d, unit)
	fmt.Printf("%s: %.2f\n", unit, n/d)
}

// dom0BenchRun is what the bench task's runs under one hypervisor gave.
type dom0BenchRun struct {
	hv        string
	initAt    []time.Duration // QEMU start to dom0init's first line
	handoffAt []time.Duration // QEMU start to "(XEN) *** Serial input to DOM0" (xen and gohv)
	ownMs     []float64       // gohv's "gohv time: N ms since the TSC was calibrated"
	getppidNs []float64       // dom0init's getppid ns/op
	forkUs    []float64       // dom0init's fork+exec+exit us/op
	// keptKiB: memory the hypervisor keeps for itself while dom0 runs, one
	// figure per run (see BenchmarkDom0Memory); inUseKiB: gohv's image and
	// heap in use.
	keptKiB, inUseKiB []float64
}

// dom0BenchResult holds the runs once made (see dom0BenchRuns).
var dom0BenchResult []dom0BenchRun

var (
	benchGetppidRe = regexp.MustCompile(`(?m)^dom0init: bench: getppid ([0-9.]+) ns/op`)
	benchForkRe    = regexp.MustCompile(`(?m)^dom0init: bench: fork\+exec\+exit ([0-9.]+) us/op`)
	benchGohvTime  = regexp.MustCompile(`(?m)^\(XEN\) gohv time: (\d+) ms since the TSC was calibrated`)
)

// dom0BenchRuns boots, benchRuns times in turn, each hypervisor of
// dom0Hypervisors with dom0init's bench task (gohv.task=bench) and parses
// the serial log; the Dom0 benchmarks share these runs, made by the
// first of them that runs (benchmarks run one at a time).
func dom0BenchRuns(b *testing.B) []dom0BenchRun {
	b.Helper()
	if dom0BenchResult != nil {
		return dom0BenchResult
	}
	kernel, initramfs := dom0Inputs(b)
	runs := make([]dom0BenchRun, len(dom0Hypervisors))
	for i := 0; i < benchRuns; i++ {
		for j, hv := range dom0Hypervisors {
			r := &runs[j]
			r.hv = hv.name
			if err := dom0BenchOne(b, hv, kernel, initramfs, r); err != nil {
				b.Fatalf("%s, run %d: %v", hv.name, i+1, err)
			}
		}
	}
	dom0BenchResult = runs
	return runs
}

// dom0BenchOne boots hv once with the bench task and appends its figures
// to r.
func dom0BenchOne(b *testing.B, hv dom0Hypervisor, kernel, initramfs string, r *dom0BenchRun) error {
	vm := startDom0(b, hv.qemu(b, kernel, initramfs, "console="+hv.console+" gohv.task=bench"))
	if hv.xen || hv.gohv {
		if _, at, ok := vm.await(`\(XEN\) \*\*\* Serial input to DOM0 .*`, 6*time.Minute); ok {
			r.handoffAt = append(r.handoffAt, at)
		} else {
			serial, _ := vm.stop(0)
			return fmt.Errorf("no \"Serial input to DOM0\" line\n--- serial ---\n%s", serial)
		}
	}
	_, at, ok := vm.await(`dom0init: /init reached: .*`, 6*time.Minute)
	if !ok {
		serial, _ := vm.stop(0)
		return fmt.Errorf("dom0 never reached /init\n--- serial ---\n%s", serial)
	}
	r.initAt = append(r.initAt, at)
	_, _, ok = vm.await(hv.poweroffEnd, 15*time.Minute)
	serial, _ := vm.stop(time.Minute)
	if !ok {
		return fmt.Errorf("no power-off line\n--- serial ---\n%s", serial)
	}
	if strings.Contains(serial, "dom0init: FAIL") {
		return fmt.Errorf("dom0init reports a failure\n--- serial ---\n%s", serial)
	}
	num := func(re *regexp.Regexp, n int) []float64 {
		m := re.FindStringSubmatch(serial)
		if m == nil {
			return nil
		}
		v := make([]float64, n)
		for k := range v {
			v[k], _ = strconv.ParseFloat(m[k+1], 64)
		}
		return v
	}
	g, f := num(benchGetppidRe, 1), num(benchForkRe, 1)
	if g == nil || f == nil {
		return fmt.Errorf("no bench lines\n--- serial ---\n%s", serial)
	}
	r.getppidNs = append(r.getppidNs, g[0])
	r.forkUs = append(r.forkUs, f[0])
	if hv.gohv {
		kept, inUse, err := gohvKept(serial)
		t := num(benchGohvTime, 1)
		if err != nil || t == nil {
			return fmt.Errorf("gohv's kept memory (%v) or time line\n--- serial ---\n%s", err, serial)
		}
		r.keptKiB = append(r.keptKiB, kept)
		r.inUseKiB = append(r.inUseKiB, inUse)
		r.ownMs = append(r.ownMs, t[0])
	}
	return nil
}

// BenchmarkDom0Userspace: dom0init's bench task under each hypervisor of
// dom0Hypervisors (the runs of dom0BenchRuns): 1,000,000 getppid calls
// and 1,000 vfork+exec+exit of a 129-byte static program (a full fork of
// dom0init oopses gohv's dom0 in copy_page_range), medians of the per-run means,
// with the gohv/Xen and gohv/plain ratios.
func BenchmarkDom0Userspace(b *testing.B) {
	runs := dom0BenchRuns(b)
	v := map[string]float64{}
	for _, r := range runs {
		g, f := medianF(r.getppidNs), medianF(r.forkUs)
		v[r.hv+"-getppid"], v[r.hv+"-fork"] = g, f
		b.ReportMetric(g, r.hv+"-getppid-ns/op")
		b.ReportMetric(f, r.hv+"-fork+exec+exit-us/op")
		fmt.Printf("dom0 userspace, %s: getppid %.1f ns/op (runs %v), fork+exec+exit %.1f us/op (runs %v)\n",
			r.hv, g, r.getppidNs, f, r.forkUs)
	}
	benchRatio(b, v, "gohv-getppid", "xen-getppid", "getppid-gohv/xen")
	benchRatio(b, v, "gohv-getppid", "none-getppid", "getppid-gohv/none")
	benchRatio(b, v, "gohv-fork", "xen-fork", "fork-gohv/xen")
	benchRatio(b, v, "gohv-fork", "none-fork", "fork-gohv/none")
}

// gohvKeptRe is gohv's line, printed with its ready line, on what it keeps
// for itself: Xen's own measure (XEN_SYSCTL_physinfo's total_pages -
// free_pages - dom0's pages), with gohv's parts of it.
var gohvKeptRe = regexp.MustCompile(`(?m)^\(XEN\) gohv keeps (\d+) KiB for itself: RAM (\d+) KiB - free (\d+) KiB - dom0 (\d+) KiB; image (\d+) KiB, heap (\d+) KiB \((\d+) KiB in use\), other (\d+) KiB$`)

// gohvKept reads gohv's kept line in serial: the memory it keeps for
// itself (what BenchmarkDom0Memory reports) and its image plus heap in
// use, in KiB. The line's figures must add up: kept = RAM - free - dom0
// = image + heap + other.
func gohvKept(serial string) (kept, inUse float64, err error) {
	m := gohvKeptRe.FindStringSubmatch(serial)
	if m == nil {
		return 0, 0, fmt.Errorf("no \"gohv keeps ... for itself\" line")
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	k, ram, free, dom0, img, heap, use, other := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	// Each figure is rounded down to a KiB from whole pages: exact.
	if k != ram-free-dom0 || k != img+heap+other || use > heap {
		return 0, 0, fmt.Errorf("the kept line does not add up: %q", m[0])
	}
	return float64(k), float64(img + use), nil
}

// BenchmarkDom0Memory: memory gohv keeps for itself while dom0 runs
// (1 GiB machine, dom0_mem=512M), from the runs of dom0BenchRuns: as Xen
// counts it, RAM - free - dom0's pages, from gohv's kept line (gohvKept):
// its image, its heap after the boot gave back what it did not use, and
// the rest (real-mode area, M2P and its tables, pages shared with
// guests); also reported, image plus heap in use. Xen's figure (the same
// measure, from XEN_SYSCTL_physinfo and XENMEM_current_reservation) needs
// a privcmd hypercall with a pointer, that is unsafe, which only the
// metal packages may use; it is not taken here.
func BenchmarkDom0Memory(b *testing.B) {
	runs := dom0BenchRuns(b)
	v := map[string]float64{}
	for _, r := range runs {
		if len(r.keptKiB) == 0 {
			continue
		}
		k := medianF(r.keptKiB)
		v[r.hv] = k
		b.ReportMetric(k, r.hv+"-kept-KiB")
		fmt.Printf("memory %s keeps for itself while dom0 runs: median %.0f KiB, runs %v\n", r.hv, k, r.keptKiB)
		if len(r.inUseKiB) > 0 {
			b.ReportMetric(medianF(r.inUseKiB), r.hv+"-in-use-KiB")
			fmt.Printf("  %s image and heap in use: median %.0f KiB\n", r.hv, medianF(r.inUseKiB))
		}
	}
}
