package tests

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
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

// dom0BenchRun is what the bench task's runs under one hypervisor gave,
// one figure per run in each slice.
type dom0BenchRun struct {
	hv        string
	initAt    []float64 // ms, QEMU start to dom0init's first line
	handoffAt []float64 // ms, QEMU start to "(XEN) *** Serial input to DOM0" (xen and gohv)
	ownMs     []float64 // gohv's "gohv time: N ms since the TSC was calibrated"
	getppidNs []float64 // dom0init's getppid ns/op
	forkUs    []float64 // dom0init's fork+exec+exit us/op (forkexec's full fork)
	vforkUs   []float64 // dom0init's vfork+exec+exit us/op (Go's vfork-style clone)
	diskMBs   []float64 // dom0init's 64 MiB O_DIRECT virtio-blk read, MB/s
	httpMBs   []float64 // the host's fetch of dom0's /blob, MB/s
	// keptKiB: memory the hypervisor keeps for itself while dom0 runs, one
	// figure per run (see BenchmarkDom0Memory); inUseKiB: gohv's image,
	// heap in use and frame table.
	keptKiB, inUseKiB []float64
}

// dom0BenchResult holds the runs once made (see dom0BenchRuns).
var dom0BenchResult []dom0BenchRun

var (
	benchGetppidRe = regexp.MustCompile(`(?m)^dom0init: bench: getppid ([0-9.]+) ns/op`)
	benchForkRe    = regexp.MustCompile(`(?m)^dom0init: bench: fork\+exec\+exit ([0-9.]+) us/op \(fork\)`)
	benchVforkRe   = regexp.MustCompile(`(?m)^dom0init: bench: vfork\+exec\+exit ([0-9.]+) us/op \(vfork\)`)
	benchDiskRe    = regexp.MustCompile(`(?m)^dom0init: bench: disk read 64 MiB O_DIRECT from /dev/vda: ([0-9.]+) MB/s`)
	benchXenMemRe  = regexp.MustCompile(`(?m)^dom0init: bench: memory: total (\d+) KiB, free (\d+) KiB, dom0 (\d+) KiB`)
	benchGohvTime  = regexp.MustCompile(`(?m)^\(XEN\) gohv time: (\d+) ms since the TSC was calibrated`)
)

// The bench disk and HTTP transfer sizes: dom0init reads 64 MiB
// (its diskBytes) of a disk image of benchDiskBytes; the host fetches a
// /blob of benchHTTPBytes.
const (
	benchDiskBytes = 64 << 20
	benchHTTPBytes = 16 << 20
)

// benchDisk writes the bench disk image into dir: benchDiskBytes, each
// 4 KiB block starting with its own byte offset (8 bytes big-endian), the
// pattern dom0init's disk read checks.
func benchDisk(b *testing.B, dir string) string {
	img := make([]byte, benchDiskBytes)
	for off := 0; off < len(img); off += 4096 {
		binary.BigEndian.PutUint64(img[off:], uint64(off))
	}
	p := filepath.Join(dir, "bench-disk.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// dom0BenchRuns boots, benchRuns times in turn, each hypervisor of
// dom0Hypervisors with dom0init's bench task (gohv.task=bench), the same
// kernel, initramfs and devices (the bench disk, read-only, on
// virtio-blk; an e1000 on QEMU's restricted user network), fetches dom0's
// /blob over HTTP and parses the serial log; the Dom0 benchmarks share
// these runs, made by the first of them that runs (benchmarks run one at
// a time).
func dom0BenchRuns(b *testing.B) []dom0BenchRun {
	b.Helper()
	if dom0BenchResult != nil {
		return dom0BenchResult
	}
	kernel, initramfs := dom0Inputs(b)
	disk := benchDisk(b, b.TempDir())
	seed := randHex(b, 8)
	want := sha256.Sum256(dom0Blob(seed, benchHTTPBytes))
	runs := make([]dom0BenchRun, len(dom0Hypervisors))
	t0 := time.Now()
	for i := 0; i < benchRuns; i++ {
		for j, hv := range dom0Hypervisors {
			r := &runs[j]
			r.hv = hv.name
			if err := dom0BenchOne(b, hv, kernel, initramfs, disk, seed, want, r); err != nil {
				b.Fatalf("%s, run %d: %v", hv.name, i+1, err)
			}
		}
		fmt.Printf("dom0 bench: round %d of %d done after %v\n", i+1, benchRuns, time.Since(t0).Round(time.Second))
	}
	dom0BenchResult = runs
	return runs
}

// dom0BenchOne boots hv once with the bench task and appends its figures
// to r.
func dom0BenchOne(b *testing.B, hv dom0Hypervisor, kernel, initramfs, disk, seed string, want [32]byte, r *dom0BenchRun) error {
	port := freePort(b)
	cmdline := fmt.Sprintf("console=%s gohv.task=bench gohv.disk=vda gohv.port=%d gohv.seed=%s gohv.size=%d",
		hv.console, port, seed, benchHTTPBytes)
	args := append(hv.qemu(b, kernel, initramfs, cmdline),
		"-drive", "file="+disk+",format=raw,if=virtio,readonly=on",
		"-nic", fmt.Sprintf("user,model=e1000,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d", port, port))
	vm := startDom0(b, args)
	failed := func(format string, a ...any) error {
		serial, _ := vm.stop(0)
		return fmt.Errorf(format+"\n--- serial ---\n%s\nstderr: %s", append(a, serial, vm.stderr.String())...)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if hv.xen || hv.gohv {
		_, at, ok := vm.await(`\(XEN\) \*\*\* Serial input to DOM0 .*`, 6*time.Minute)
		if !ok {
			return failed("no \"Serial input to DOM0\" line")
		}
		r.handoffAt = append(r.handoffAt, ms(at))
	}
	_, at, ok := vm.await(`dom0init: /init reached: .*`, 6*time.Minute)
	if !ok {
		return failed("dom0 never reached /init")
	}
	r.initAt = append(r.initAt, ms(at))
	if _, _, ok := vm.await(fmt.Sprintf("dom0init: net: http on port %d", port), 20*time.Minute); !ok {
		return failed("dom0 never served HTTP")
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	t0 := time.Now()
	got, err := httpGet(base+"/blob", 5*time.Minute)
	d := time.Since(t0)
	if err != nil {
		return failed("GET /blob: %v", err)
	}
	if sum := sha256.Sum256(got); sum != want {
		return failed("/blob: %d bytes, sha256 %x, want %d bytes, %x", len(got), sum, benchHTTPBytes, want)
	}
	r.httpMBs = append(r.httpMBs, float64(len(got))/d.Seconds()/1e6)
	if _, err := httpGet(base+"/poweroff", time.Minute); err != nil {
		return failed("GET /poweroff: %v", err)
	}
	_, _, ok = vm.await(hv.poweroffEnd, 5*time.Minute)
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
	g, f, vf, dk := num(benchGetppidRe, 1), num(benchForkRe, 1), num(benchVforkRe, 1), num(benchDiskRe, 1)
	if g == nil || f == nil || vf == nil || dk == nil {
		return fmt.Errorf("missing bench lines\n--- serial ---\n%s", serial)
	}
	r.getppidNs = append(r.getppidNs, g[0])
	r.forkUs = append(r.forkUs, f[0])
	r.vforkUs = append(r.vforkUs, vf[0])
	r.diskMBs = append(r.diskMBs, dk[0])
	if hv.xen {
		m := num(benchXenMemRe, 3)
		if m == nil {
			return fmt.Errorf("no Xen memory line\n--- serial ---\n%s", serial)
		}
		r.keptKiB = append(r.keptKiB, m[0]-m[1]-m[2])
	}
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

// benchTable prints a figure of the dom0 bench runs as a table, one line
// per hypervisor that has it: the median of its runs and the runs in
// order, and on gohv's line the ratios gohv/xen and gohv/none (plain
// Linux) of the medians. It reports each median as the metric
// "<hv>-<key>-<unit>" and the ratios as "gohv/xen-<key>" and
// "gohv/none-<key>" (key: a short name without spaces).
func benchTable(b *testing.B, runs []dom0BenchRun, key, title, unit, better string, get func(*dom0BenchRun) []float64) {
	med := map[string]float64{}
	for i := range runs {
		if v := get(&runs[i]); len(v) > 0 {
			med[runs[i].hv] = medianF(v)
		}
	}
	fmt.Printf("%s, %s (%s is better), median of %d interleaved rounds:\n", title, unit, better, benchRuns)
	for i := range runs {
		r := &runs[i]
		v := get(r)
		if len(v) == 0 {
			continue
		}
		m := med[r.hv]
		b.ReportMetric(m, r.hv+"-"+key+"-"+unit)
		line := fmt.Sprintf("  %-5s %12.1f  runs %s", r.hv, m, fmtRuns(v))
		if r.hv == "gohv" {
			for _, ref := range []string{"xen", "none"} {
				if d, ok := med[ref]; ok && d != 0 {
					b.ReportMetric(m/d, "gohv/"+ref+"-"+key)
					line += fmt.Sprintf("  gohv/%s %.2f", ref, m/d)
				}
			}
		}
		fmt.Println(line)
	}
}

func fmtRuns(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// BenchmarkDom0Userspace: dom0init's bench task under each hypervisor of
// dom0Hypervisors (the runs of dom0BenchRuns): the mean of 1,000,000
// getppid calls; of 1,000 fork+exec+exit of a 129-byte static program
// by forkexec, a static C program whose fork copies its address space;
// and of 1,000 vfork+exec+exit of the same program by dom0init (Go's
// vfork-style clone). Medians of the per-run means, with the gohv/Xen
// and gohv/plain ratios.
func BenchmarkDom0Userspace(b *testing.B) {
	runs := dom0BenchRuns(b)
	benchTable(b, runs, "getppid", "getppid", "ns/op", "lower", func(r *dom0BenchRun) []float64 { return r.getppidNs })
	benchTable(b, runs, "fork", "fork+exec+exit", "us/op", "lower", func(r *dom0BenchRun) []float64 { return r.forkUs })
	benchTable(b, runs, "vfork", "vfork+exec+exit", "us/op", "lower", func(r *dom0BenchRun) []float64 { return r.vforkUs })
}

// BenchmarkDom0Disk: dom0init's read of the first 64 MiB of the bench
// disk (virtio-blk, raw image on the host, read-only) with O_DIRECT in
// 1 MiB requests, timed in dom0, in MB/s (10^6 bytes a second), from the
// runs of dom0BenchRuns.
func BenchmarkDom0Disk(b *testing.B) {
	runs := dom0BenchRuns(b)
	benchTable(b, runs, "disk", "disk read", "MB/s", "higher", func(r *dom0BenchRun) []float64 { return r.diskMBs })
}

// BenchmarkDom0HTTP: the host's fetch of dom0init's 16 MiB /blob over
// HTTP (dom0's e1000 on QEMU's user network, hostfwd on 127.0.0.1), timed
// on the host from the request to the last byte and checked by its
// SHA-256, in MB/s (10^6 bytes a second), from the runs of dom0BenchRuns.
func BenchmarkDom0HTTP(b *testing.B) {
	runs := dom0BenchRuns(b)
	benchTable(b, runs, "http", "HTTP transfer", "MB/s", "higher", func(r *dom0BenchRun) []float64 { return r.httpMBs })
}

// gohvKeptRe is gohv's line, printed with its ready line, on what it keeps
// for itself: Xen's own measure (XEN_SYSCTL_physinfo's total_pages -
// free_pages - dom0's pages), with gohv's parts of it.
var gohvKeptRe = regexp.MustCompile(`(?m)^\(XEN\) gohv keeps (\d+) KiB for itself: RAM (\d+) KiB - free (\d+) KiB - dom0 (\d+) KiB; image (\d+) KiB, heap (\d+) KiB \((\d+) KiB in use\), frame table (\d+) KiB, other (\d+) KiB; free counts \d+ KiB lent to the heap$`)

// gohvKept reads gohv's last kept line in serial: the memory it keeps for
// itself (what BenchmarkDom0Memory reports) and its image, heap in use
// and frame table, in KiB. gohv prints the line when dom0 is built and again each
// time its heap grows or gives frames back, so the last is what it keeps
// while dom0 runs. The line's figures must add up: kept = RAM - free -
// dom0 = image + heap + frame table + other.
func gohvKept(serial string) (kept, inUse float64, err error) {
	all := gohvKeptRe.FindAllStringSubmatch(serial, -1)
	if all == nil {
		return 0, 0, fmt.Errorf("no \"gohv keeps ... for itself\" line")
	}
	m := all[len(all)-1]
	var v [9]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	k, ram, free, dom0, img, heap, use, table, other := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]
	// Each figure is rounded down to a KiB from whole pages: exact.
	if k != ram-free-dom0 || k != img+heap+table+other || use > heap {
		return 0, 0, fmt.Errorf("the kept line does not add up: %q", m[0])
	}
	return float64(k), float64(img + use + table), nil
}

// BenchmarkDom0Memory: memory the hypervisor keeps for itself while dom0
// runs (1 GiB machine, dom0_mem=512M), from the runs of dom0BenchRuns:
// RAM that neither dom0 has nor another domain could get, the same
// measure on both. Xen's: its XEN_SYSCTL_physinfo total_pages -
// free_pages - dom0's XENMEM_current_reservation, as dom0init asks them
// through privcmd (Xen's image, heaps, frame table and M2P, and what its
// allocations took). gohv's: RAM - free - dom0's pages from its kept line
// (gohvKept): its image, its heap after the boot gave back what it did
// not use, and the rest (real-mode area, M2P and its tables, pages shared
// with guests). Also reported for gohv: image plus heap in use.
func BenchmarkDom0Memory(b *testing.B) {
	runs := dom0BenchRuns(b)
	benchTable(b, runs, "kept", "memory the hypervisor keeps while dom0 runs (RAM - free - dom0)", "KiB", "lower",
		func(r *dom0BenchRun) []float64 { return r.keptKiB })
	benchTable(b, runs, "in-use", "gohv image + heap in use + frame table while dom0 runs", "KiB", "lower",
		func(r *dom0BenchRun) []float64 { return r.inUseKiB })
}
