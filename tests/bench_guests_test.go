package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Guest benchmarks: the PV test guests of tests/guests booted as dom0 of
// Debian's Xen 4.17 and of gohv, interleaved, medians reported with the
// gohv/Xen ratio. Run by `make bench` (go test -bench), never by `make test`.
// A gohv run that gives no result line makes gohv's figures unavailable
// (b.Log) instead of failing the benchmark, and gohv is not tried again.

// guestBenchOps are the bench guest's metrics: the name in its
// "bench: <metric> cycles_per_op=<n> ops=<n>" line and the short name of
// the reported metrics (xen-<short>-cycles, gohv-<short>-cycles,
// <short>-ratio).
var guestBenchOps = []struct{ metric, short string }{
	{"null_hypercall", "null"},
	{"evtchn_send", "evtchn"},
	{"grant_copy_4k", "grant"},
}

// benchLineRe matches a bench guest figure; not anchored at the line start
// so a hypervisor's console prefix (Xen gives dom0 none) does not hide it.
var (
	benchLineRe = regexp.MustCompile(`(?m)bench: (\w+) cycles_per_op=(\d+) ops=(\d+)\r?$`)
	benchKHzRe  = regexp.MustCompile(`(?m)bench: tsc_khz=(\d+)\r?$`)
)

// guestFigures is what one run of the bench guest printed.
type guestFigures struct {
	cycles map[string]uint64 // metric -> cycles per op
	tscKHz uint64            // 0 if the guest printed none
}

// parseBenchGuest reads the bench guest's figures from a serial log. It
// fails (with the reason) unless the guest said SUCCESS and gave every
// metric of guestBenchOps.
func parseBenchGuest(serial string) (guestFigures, error) {
	f := guestFigures{cycles: map[string]uint64{}}
	if !strings.Contains(serial, "Test result: SUCCESS bench\n") {
		if m := resultRe.FindStringSubmatch(serial); m != nil {
			return f, fmt.Errorf("bench guest: Test result: %s %s", m[1], m[2])
		}
		return f, fmt.Errorf("no \"Test result: SUCCESS bench\" line")
	}
	for _, m := range benchLineRe.FindAllStringSubmatch(serial, -1) {
		n, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			return f, fmt.Errorf("%q: %v", m[0], err)
		}
		f.cycles[m[1]] = n
	}
	for _, op := range guestBenchOps {
		if _, ok := f.cycles[op.metric]; !ok {
			return f, fmt.Errorf("no \"bench: %s\" line", op.metric)
		}
	}
	if m := benchKHzRe.FindStringSubmatch(serial); m != nil {
		f.tscKHz, _ = strconv.ParseUint(m[1], 10, 64)
	}
	return f, nil
}

// softTB passes everything to the benchmark except Errorf, which it
// records: a gohv run that times out makes gohv's figures unavailable
// rather than failing the benchmark.
type softTB struct {
	testing.TB
	errs []string
}

func (s *softTB) Errorf(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

// xenGuestBoot is TestGuestsOnXen's machine with guest as dom0, run until
// stopAt or Xen's "Hardware Dom0" stop line.
func xenGuestBoot(xen, guest, stopAt string) boot {
	if stopAt == "" {
		stopAt = "(XEN) Hardware Dom0 "
	}
	return boot{args: []string{"-m", "512M", "-kernel", xen, "-append", xenCmdline, "-initrd", guest},
		timeout: 2 * time.Minute, stopAt: stopAt}
}

// gohvGuestBoot is gohv's image with guest as boot module 0 (dom0). It
// stops at stopAt, at gohv's "Hardware Dom0" line (Xen's wording), or when
// gohv powers off; a gohv that does neither within the timeout is recorded
// by softTB.
func gohvGuestBoot(gohv, guest, stopAt string) boot {
	if stopAt == "" {
		stopAt = "(XEN) Hardware Dom0 "
	}
	return boot{args: []string{"-m", "512M", "-kernel", gohv, "-initrd", guest, "-append", "dom0_mem=64M loglvl=all"},
		timeout: time.Minute, stopAt: stopAt}
}

// gohvGuestRun boots guest on gohv; it returns the run, or why gohv gave
// no usable result (want: text that must be in the serial log).
func gohvGuestRun(b *testing.B, gohv, guest, stopAt, want string) (result, string) {
	s := &softTB{TB: b}
	r := run(s, gohvGuestBoot(gohv, guest, stopAt))
	switch {
	case len(s.errs) > 0:
		// The harness's timeout message carries the whole serial log.
		why, _, _ := strings.Cut(s.errs[0], "\n")
		return r, fmt.Sprintf("%s; last line: %q", why, lastLine(r.serial))
	case !strings.Contains(r.serial, want):
		return r, fmt.Sprintf("no %q line (QEMU exit %d); last line: %q", want, r.exit, lastLine(r.serial))
	}
	return r, ""
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

func medianU64(v []uint64) uint64 {
	s := append([]uint64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// benchGuestELF builds the guests (bench.elf is part of `all`) and returns
// the bench guest's image.
func benchGuestELF(b *testing.B) string {
	elf := filepath.Join(guestsDir(b), "bench.elf")
	if _, err := os.Stat(elf); err != nil {
		b.Fatalf("bench guest not built: %v", err)
	}
	return elf
}

// BenchmarkGuestOps: the bench guest's cycles per null hypercall, event
// channel send and 4 KiB grant copy, as dom0 of Xen 4.17 and of gohv.
func BenchmarkGuestOps(b *testing.B) {
	need(b, "qemu-system-x86_64")
	guest := benchGuestELF(b)
	xen := xenForGuests(b)
	gohv, _ := image(b)
	xenRuns := map[string][]uint64{}
	gohvRuns := map[string][]uint64{}
	var xenKHz, gohvKHz uint64
	gohvWhy := ""
	for i := 0; i < benchRuns; i++ {
		x := run(b, xenGuestBoot(xen, guest, ""))
		fx, err := parseBenchGuest(x.serial)
		if err != nil {
			b.Fatalf("bench guest on Xen: %v\n--- serial ---\n%s", err, x.serial)
		}
		for m, n := range fx.cycles {
			xenRuns[m] = append(xenRuns[m], n)
		}
		xenKHz = fx.tscKHz
		if gohvWhy != "" {
			continue
		}
		g, why := gohvGuestRun(b, gohv, guest, "", "Test result: ")
		if why == "" {
			fg, err := parseBenchGuest(g.serial)
			if err != nil {
				why = err.Error()
			} else {
				for m, n := range fg.cycles {
					gohvRuns[m] = append(gohvRuns[m], n)
				}
				gohvKHz = fg.tscKHz
			}
		}
		if why != "" {
			gohvWhy = fmt.Sprintf("run %d: %s", i+1, why)
			gohvRuns = map[string][]uint64{}
		}
	}
	if gohvWhy != "" {
		b.Logf("gohv figures unavailable: the bench guest gave no result on gohv (%s)", gohvWhy)
	}
	fmt.Printf("guest ops (bench guest as dom0), median of %d interleaved runs, TSC cycles per op\n", benchRuns)
	fmt.Printf("  %-16s %10s %10s %8s %10s %10s\n", "op", "Xen 4.17", "gohv", "gohv/Xen", "Xen ns", "gohv ns")
	for _, op := range guestBenchOps {
		xm := medianU64(xenRuns[op.metric])
		b.ReportMetric(float64(xm), "xen-"+op.short+"-cycles")
		gCol, rCol, gNs := "n/a", "n/a", "n/a"
		if gohvWhy == "" {
			gm := medianU64(gohvRuns[op.metric])
			ratio := float64(gm) / float64(xm)
			b.ReportMetric(float64(gm), "gohv-"+op.short+"-cycles")
			b.ReportMetric(ratio, op.short+"-ratio")
			gCol, rCol = strconv.FormatUint(gm, 10), fmt.Sprintf("%.2f", ratio)
			if gohvKHz != 0 {
				gNs = fmt.Sprintf("%.1f", float64(gm)*1e6/float64(gohvKHz))
			}
		}
		xNs := "n/a"
		if xenKHz != 0 {
			xNs = fmt.Sprintf("%.1f", float64(xm)*1e6/float64(xenKHz))
		}
		fmt.Printf("  %-16s %10d %10s %8s %10s %10s\n", op.metric, xm, gCol, rCol, xNs, gNs)
	}
	for _, op := range guestBenchOps {
		fmt.Printf("  %s runs: Xen %v gohv %v\n", op.metric, xenRuns[op.metric], gohvRuns[op.metric])
	}
	fmt.Printf("  TSC: Xen tells the guest %d kHz, gohv %d kHz (0: none)\n", xenKHz, gohvKHz)
	if gohvWhy != "" {
		fmt.Printf("  gohv: unavailable (%s)\n", gohvWhy)
	}
}

// BenchmarkGuestBoot: QEMU start to the hello guest's "Test result:" line,
// as dom0 of Xen 4.17 and of gohv (to within the harness's 10 ms poll).
func BenchmarkGuestBoot(b *testing.B) {
	need(b, "qemu-system-x86_64")
	guest := filepath.Join(guestsDir(b), "hello.elf")
	xen := xenForGuests(b)
	gohv, _ := image(b)
	const stop = "Test result: "
	var xenT, gohvT []time.Duration
	gohvWhy := ""
	for i := 0; i < benchRuns; i++ {
		x := run(b, xenGuestBoot(xen, guest, stop))
		if !x.stopped {
			b.Fatalf("hello guest on Xen: no %q line\n--- serial ---\n%s", stop, x.serial)
		}
		if strings.Contains(x.serial, "Test result: FAILURE") {
			b.Fatalf("hello guest failed on Xen\n--- serial ---\n%s", x.serial)
		}
		xenT = append(xenT, x.duration)
		if gohvWhy != "" {
			continue
		}
		g, why := gohvGuestRun(b, gohv, guest, stop, stop)
		if why == "" && strings.Contains(g.serial, "Test result: FAILURE") {
			why = "hello guest failed: " + lastLine(g.serial)
		}
		if why != "" {
			gohvWhy = fmt.Sprintf("run %d: %s", i+1, why)
			gohvT = nil
			continue
		}
		gohvT = append(gohvT, g.duration)
	}
	xm := median(xenT)
	b.ReportMetric(float64(xm.Milliseconds()), "xen-ms")
	fmt.Printf("hello guest, QEMU start to its result line, median of %d interleaved runs\n", benchRuns)
	if gohvWhy != "" {
		b.Logf("gohv figures unavailable: the hello guest gave no result on gohv (%s)", gohvWhy)
		fmt.Printf("  Xen 4.17 %v, gohv n/a (%s)\n", xm, gohvWhy)
		fmt.Printf("  Xen runs %v\n", xenT)
		return
	}
	gm := median(gohvT)
	b.ReportMetric(float64(gm.Milliseconds()), "gohv-ms")
	b.ReportMetric(float64(gm)/float64(xm), "boot-ratio")
	fmt.Printf("  Xen 4.17 %v, gohv %v, gohv/Xen %.2f\n", xm, gm, float64(gm)/float64(xm))
	fmt.Printf("  Xen runs  %v\n  gohv runs %v\n", xenT, gohvT)
}

// SMP guest benchmarks: tests/guests/smpbench.c as dom0 with several vCPUs
// on as many CPUs (QEMU -smp, MTTCG: one host thread per CPU, so the
// figures are wall time on a host shared with whatever else runs).

// smpBenchRe matches a smpbench figure: "bench: <metric> <unit>=<n>", with
// an optional count after it.
var (
	smpBenchRe     = regexp.MustCompile(`(?m)bench: (\w+) \w+=(\d+)(?: \w+=\d+)?\r?$`)
	smpBenchKHzRe  = regexp.MustCompile(`(?m)bench: tsc_khz=(\d+)\r?$`)
	smpBenchVCPURe = regexp.MustCompile(`(?m)bench: vcpus_up=(\d+)\r?$`)
)

// smpBenchMetrics are the figures every full smpbench run must give.
var smpBenchMetrics = []string{"compute_1vcpu", "compute_2vcpu", "compute_speedup", "compute_overlap", "pingpong_spin",
	"pingpong_block"}

// parseSMPBench reads smpbench's figures (metric -> n, and tsc_khz and
// vcpus_up when printed) from a serial log, failing unless the guest said
// SUCCESS and gave each of want.
func parseSMPBench(serial string, want []string) (map[string]uint64, error) {
	f := map[string]uint64{}
	if !strings.Contains(serial, "Test result: SUCCESS smpbench\n") {
		if m := resultRe.FindStringSubmatch(serial); m != nil {
			return f, fmt.Errorf("smpbench guest: Test result: %s %s", m[1], m[2])
		}
		return f, fmt.Errorf("no \"Test result: SUCCESS smpbench\" line; last line: %q", lastLine(serial))
	}
	for _, m := range smpBenchRe.FindAllStringSubmatch(serial, -1) {
		n, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			return f, fmt.Errorf("%q: %v", m[0], err)
		}
		f[m[1]] = n
	}
	for k, re := range map[string]*regexp.Regexp{"tsc_khz": smpBenchKHzRe, "vcpus_up": smpBenchVCPURe} {
		if m := re.FindStringSubmatch(serial); m != nil {
			f[k], _ = strconv.ParseUint(m[1], 10, 64)
		}
	}
	for _, k := range want {
		if _, ok := f[k]; !ok {
			return f, fmt.Errorf("no \"bench: %s\" line", k)
		}
	}
	return f, nil
}

// smpGuestBoot gives bt (xenGuestBoot's or gohvGuestBoot's machine) cpus
// CPUs and its dom0 as many vCPUs (dom0_max_vcpus), and 3 minutes; gohv
// runs without loglvl=all (no exit counting), as Xen runs.
func smpGuestBoot(bt boot, cpus int) boot {
	a := append([]string(nil), bt.args...)
	for i := range a {
		if i > 0 && a[i-1] == "-append" {
			// Without loglvl=all: gohv then counts no exits (two TSC
			// reads and a table update each), as Xen runs with none.
			a[i] = fmt.Sprintf("%s dom0_max_vcpus=%d", strings.Replace(a[i], " loglvl=all", "", 1), cpus)
		}
	}
	bt.args = append(a, "-smp", strconv.Itoa(cpus))
	bt.timeout = 3 * time.Minute
	return bt
}

func smpbenchELF(b *testing.B) string {
	elf := filepath.Join(guestsDir(b), "smpbench.elf")
	if _, err := os.Stat(elf); err != nil {
		b.Fatalf("smpbench guest not built: %v", err)
	}
	return elf
}

func medianF64(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkGuestSMP: smpbench with 2 vCPUs on 2 CPUs, as dom0 of Xen 4.17
// and of gohv: the speed-up of a CPU-bound job split over vCPUs 0 and 1
// against vCPU 0 alone (the guest's compute_speedup, the median of its
// pairs of runs; the benchmark's median over its runs) with the share of
// the split runs' time in which both vCPUs ran at once (compute_overlap:
// near 1 when the hypervisor and the host run the two QEMU CPU threads
// at once, near 0 when either lets only one run at a time), and the
// median TSC cycles of an event's round trip between the two vCPUs, the
// waiter spinning with events unmasked (pingpong_spin) or asleep in
// SCHEDOP_block (pingpong_block).
func BenchmarkGuestSMP(b *testing.B) {
	need(b, "qemu-system-x86_64")
	guest := smpbenchELF(b)
	xen := xenForGuests(b)
	gohv, _ := image(b)
	type figs struct {
		speedup []float64
		overlap []float64 // share of vCPU 0's time vCPU 1 ran too
		rt      map[string][]uint64
		khz     uint64
		runs    []string // per run: median 1-vCPU/2-vCPU cycles
	}
	collect := func(f *figs, m map[string]uint64) {
		f.speedup = append(f.speedup, float64(m["compute_speedup"])/1000)
		f.overlap = append(f.overlap, float64(m["compute_overlap"])/1000)
		for _, k := range []string{"pingpong_spin", "pingpong_block"} {
			f.rt[k] = append(f.rt[k], m[k])
		}
		f.khz = m["tsc_khz"]
		f.runs = append(f.runs, fmt.Sprintf("%d/%d", m["compute_1vcpu"], m["compute_2vcpu"]))
	}
	xf := figs{rt: map[string][]uint64{}}
	gf := figs{rt: map[string][]uint64{}}
	gohvWhy := ""
	for i := 0; i < benchRuns; i++ {
		x := run(b, smpGuestBoot(xenGuestBoot(xen, guest, ""), 2))
		m, err := parseSMPBench(x.serial, smpBenchMetrics)
		if err != nil {
			b.Fatalf("smpbench on Xen: %v\n--- serial ---\n%s", err, x.serial)
		}
		collect(&xf, m)
		if gohvWhy != "" {
			continue
		}
		s := &softTB{TB: b}
		g := run(s, smpGuestBoot(gohvGuestBoot(gohv, guest, ""), 2))
		if len(s.errs) > 0 {
			why, _, _ := strings.Cut(s.errs[0], "\n")
			gohvWhy = fmt.Sprintf("run %d: %s; last line: %q", i+1, why, lastLine(g.serial))
		} else if m, err := parseSMPBench(g.serial, smpBenchMetrics); err != nil {
			gohvWhy = fmt.Sprintf("run %d: %v", i+1, err)
		} else {
			collect(&gf, m)
		}
	}
	fmt.Printf("smpbench guest as dom0, 2 vCPUs on 2 CPUs (MTTCG), median of %d interleaved runs\n", benchRuns)
	fmt.Printf("  %-28s %10s %10s %8s %10s %10s\n", "figure", "Xen 4.17", "gohv", "gohv/Xen", "Xen us", "gohv us")
	xs := medianF64(xf.speedup)
	b.ReportMetric(xs, "xen-speedup")
	gs, gsCol, rsCol := 0.0, "n/a", "n/a"
	if gohvWhy == "" {
		gs = medianF64(gf.speedup)
		b.ReportMetric(gs, "gohv-speedup")
		b.ReportMetric(gs/xs, "speedup-ratio")
		gsCol, rsCol = fmt.Sprintf("%.2f", gs), fmt.Sprintf("%.2f", gs/xs)
	}
	fmt.Printf("  %-28s %10.2f %10s %8s %10s %10s\n", "speed-up 2 vCPUs / 1 vCPU", xs, gsCol, rsCol, "", "")
	xo := medianF64(xf.overlap)
	b.ReportMetric(xo, "xen-overlap")
	goCol := "n/a"
	if gohvWhy == "" {
		gohv := medianF64(gf.overlap)
		b.ReportMetric(gohv, "gohv-overlap")
		goCol = fmt.Sprintf("%.3f", gohv)
	}
	fmt.Printf("  %-28s %10.3f %10s\n", "overlap of the two halves", xo, goCol)
	us := func(cycles, khz uint64) string {
		if khz == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.1f", float64(cycles)*1e3/float64(khz))
	}
	for _, k := range []string{"pingpong_spin", "pingpong_block"} {
		short := strings.TrimPrefix(k, "pingpong_")
		xm := medianU64(xf.rt[k])
		b.ReportMetric(float64(xm), "xen-"+short+"-rt-cycles")
		gCol, rCol, gUs := "n/a", "n/a", "n/a"
		if gohvWhy == "" {
			gm := medianU64(gf.rt[k])
			b.ReportMetric(float64(gm), "gohv-"+short+"-rt-cycles")
			b.ReportMetric(float64(gm)/float64(xm), short+"-rt-ratio")
			gCol, rCol, gUs = strconv.FormatUint(gm, 10), fmt.Sprintf("%.2f", float64(gm)/float64(xm)), us(gm, gf.khz)
		}
		fmt.Printf("  %-28s %10d %10s %8s %10s %10s\n", k+" cycles/round trip", xm, gCol, rCol, us(xm, xf.khz), gUs)
	}
	fmt.Printf("  speed-up runs: Xen %.2f gohv %.2f\n", xf.speedup, gf.speedup)
	fmt.Printf("  overlap runs: Xen %.3f gohv %.3f\n", xf.overlap, gf.overlap)
	fmt.Printf("  compute cycles 1 vCPU/2 vCPUs: Xen %v gohv %v\n", xf.runs, gf.runs)
	for _, k := range []string{"pingpong_spin", "pingpong_block"} {
		fmt.Printf("  %s runs: Xen %v gohv %v\n", k, xf.rt[k], gf.rt[k])
	}
	fmt.Printf("  TSC: Xen tells the guest %d kHz, gohv %d kHz (0: none)\n", xf.khz, gf.khz)
	if gohvWhy != "" {
		b.Logf("gohv figures unavailable: smpbench gave no result on gohv (%s)", gohvWhy)
		fmt.Printf("  gohv: unavailable (%s)\n", gohvWhy)
	}
}

// BenchmarkGuestSMPBoot: QEMU start to smpbench's result line with 4 CPUs
// and dom0_max_vcpus=4, its command line "boot": vCPU 0 brings vCPUs 1-3
// up, each prints that it is up, and vCPU 0 prints the result once all
// have; as dom0 of Xen 4.17 and of gohv (to within the harness's 10 ms
// poll).
func BenchmarkGuestSMPBoot(b *testing.B) {
	need(b, "qemu-system-x86_64")
	guest := smpbenchELF(b) + " boot"
	xen := xenForGuests(b)
	gohv, _ := image(b)
	const stop = "Test result: "
	check := func(serial string) error {
		m, err := parseSMPBench(serial, nil)
		if err == nil && m["vcpus_up"] != 4 {
			err = fmt.Errorf("bench: vcpus_up=%d, want 4", m["vcpus_up"])
		}
		return err
	}
	var xenT, gohvT []time.Duration
	gohvWhy := ""
	for i := 0; i < benchRuns; i++ {
		x := run(b, smpGuestBoot(xenGuestBoot(xen, guest, stop), 4))
		if err := check(x.serial); err != nil {
			b.Fatalf("smpbench boot on Xen: %v\n--- serial ---\n%s", err, x.serial)
		}
		xenT = append(xenT, x.duration)
		if gohvWhy != "" {
			continue
		}
		s := &softTB{TB: b}
		g := run(s, smpGuestBoot(gohvGuestBoot(gohv, guest, stop), 4))
		if len(s.errs) > 0 {
			why, _, _ := strings.Cut(s.errs[0], "\n")
			gohvWhy = fmt.Sprintf("run %d: %s; last line: %q", i+1, why, lastLine(g.serial))
		} else if err := check(g.serial); err != nil {
			gohvWhy = fmt.Sprintf("run %d: %v", i+1, err)
		} else {
			gohvT = append(gohvT, g.duration)
		}
	}
	xm := median(xenT)
	b.ReportMetric(float64(xm.Milliseconds()), "xen-ms")
	fmt.Printf("smpbench boot, 4 vCPUs on 4 CPUs (MTTCG on this host's cores), QEMU start to its result line, median of %d interleaved runs\n", benchRuns)
	if gohvWhy != "" {
		b.Logf("gohv figures unavailable: smpbench boot gave no result on gohv (%s)", gohvWhy)
		fmt.Printf("  Xen 4.17 %v, gohv n/a (%s)\n  Xen runs %v\n", xm, gohvWhy, xenT)
		return
	}
	gm := median(gohvT)
	b.ReportMetric(float64(gm.Milliseconds()), "gohv-ms")
	b.ReportMetric(float64(gm)/float64(xm), "smpboot-ratio")
	fmt.Printf("  Xen 4.17 %v, gohv %v, gohv/Xen %.2f\n", xm, gm, float64(gm)/float64(xm))
	fmt.Printf("  Xen runs  %v\n  gohv runs %v\n", xenT, gohvT)
}

// BenchmarkGuestSMPPingIcount: smpbench's event round trips between two
// vCPUs (command line "ping quick": no compute job, 100 round trips) under QEMU's -icount
// shift=0,sleep=off on single-threaded TCG (boot.icount), as dom0 of Xen
// 4.17 and of gohv: the guest's TSC then counts instructions (1 GHz), so
// the figures are free of the host's load (the CPUs take turns on one host thread; a spinning
// waiter keeps its CPU until QEMU switches or the hypervisor interrupts
// it).
func BenchmarkGuestSMPPingIcount(b *testing.B) {
	need(b, "qemu-system-x86_64")
	// quick: 100 timed round trips, which give the same median under
	// -icount as 400 (its figures hardly vary), in a quarter of the time.
	guest := smpbenchELF(b) + " ping quick"
	xen := xenForGuests(b)
	gohv, _ := image(b)
	want := []string{"pingpong_spin", "pingpong_block"}
	xr := map[string][]uint64{}
	gr := map[string][]uint64{}
	gohvWhy := ""
	for i := 0; i < benchRuns; i++ {
		xb := smpGuestBoot(xenGuestBoot(xen, guest, ""), 2)
		xb.icount, xb.timeout = true, 5*time.Minute
		x := run(b, xb)
		m, err := parseSMPBench(x.serial, want)
		if err != nil {
			b.Fatalf("smpbench ping under -icount on Xen: %v\n--- serial ---\n%s", err, x.serial)
		}
		for _, k := range want {
			xr[k] = append(xr[k], m[k])
		}
		if gohvWhy != "" {
			continue
		}
		gb := smpGuestBoot(gohvGuestBoot(gohv, guest, ""), 2)
		gb.icount, gb.timeout = true, 5*time.Minute
		s := &softTB{TB: b}
		g := run(s, gb)
		if len(s.errs) > 0 {
			why, _, _ := strings.Cut(s.errs[0], "\n")
			gohvWhy = fmt.Sprintf("run %d: %s; last line: %q", i+1, why, lastLine(g.serial))
		} else if m, err := parseSMPBench(g.serial, want); err != nil {
			gohvWhy = fmt.Sprintf("run %d: %v", i+1, err)
		} else {
			for _, k := range want {
				gr[k] = append(gr[k], m[k])
			}
		}
	}
	fmt.Printf("smpbench event round trips, 2 vCPUs on 2 CPUs under -icount (instructions), median of %d interleaved runs\n", benchRuns)
	fmt.Printf("  %-16s %10s %10s %8s\n", "round trip", "Xen 4.17", "gohv", "gohv/Xen")
	for _, k := range want {
		short := strings.TrimPrefix(k, "pingpong_")
		xm := medianU64(xr[k])
		b.ReportMetric(float64(xm), "xen-"+short+"-rt-insns")
		gCol, rCol := "n/a", "n/a"
		if gohvWhy == "" {
			gm := medianU64(gr[k])
			b.ReportMetric(float64(gm), "gohv-"+short+"-rt-insns")
			b.ReportMetric(float64(gm)/float64(xm), short+"-rt-ratio")
			gCol, rCol = strconv.FormatUint(gm, 10), fmt.Sprintf("%.2f", float64(gm)/float64(xm))
		}
		fmt.Printf("  %-16s %10d %10s %8s\n", k, xm, gCol, rCol)
	}
	for _, k := range want {
		fmt.Printf("  %s runs: Xen %v gohv %v\n", k, xr[k], gr[k])
	}
	if gohvWhy != "" {
		b.Logf("gohv figures unavailable: smpbench ping gave no result on gohv (%s)", gohvWhy)
		fmt.Printf("  gohv: unavailable (%s)\n", gohvWhy)
	}
}
