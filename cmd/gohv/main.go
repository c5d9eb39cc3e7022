// Command gohv is the hypervisor image's main program: it wires the metal
// (arch/amd64/rt) to the pure core. It runs as an ordinary Go program on
// the runtime shim, in ring 0, with no OS under it. Build it with
// `make` (see the Makefile for the linker flags and cmd/mkimage).
//
// default.pgo is a CPU profile of kernel/xz decoding Debian's kernel
// (BenchmarkDecodeVmlinuz; `go generate` remakes it, GOHV_VMLINUZ set):
// go build uses it for profile-guided optimisation, which inlines the
// LZMA2 decoder's literal, length and distance decoders into their hot
// callers: 4% fewer instructions unpacking dom0's kernel (4.19 G against
// 4.34 G without it, counted under QEMU -icount).
package main

//go:generate sh -c "go test -run '^$' -bench DecodeVmlinuz -benchtime 3x -cpuprofile default.pgo ../../kernel/xz && rm -f xz.test"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gohv/gohv/arch/amd64/hw"
	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/internal/selftest"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/pci"
)

// Version is gohv's version string; the PV ABI it speaks is Xen 4.17's.
const Version = "0.1"

var log = klog.New(os.Stdout, func() int64 { return time.Since(start).Nanoseconds() })

var start = time.Now()

// physMem reads boot structures through the direct map.
type physMem struct{}

func (physMem) ReadPhys(addr uint64, p []byte) bool { return rt.ReadPhys(addr, p) }

func main() {
	proto, infoAddr := rt.BootProtocol()
	var (
		info *boot.Info
		err  error
	)
	switch proto {
	case rt.ProtoMultiboot1:
		info, err = boot.ParseMultiboot1(physMem{}, infoAddr)
	case rt.ProtoMultiboot2:
		info, err = boot.ParseMultiboot2(physMem{}, infoAddr)
	default:
		info, err = boot.ParsePVH(physMem{}, infoAddr)
	}
	if err != nil {
		rt.Panic(fmt.Sprintf("cannot read the %s boot information: %v", proto, err))
	}

	xenCmdline, _ := boot.CookCmdline(info.Cmdline, info.Loader, info.Protocol == "pvh")
	opts, warnings := boot.ParseCmdline(xenCmdline)
	setupConsole(&opts)
	rt.SetNoReboot(opts.NoReboot)
	log.SetLevels(klog.Thresholds(opts.LogLevel), klog.Thresholds(opts.GuestLogLevel))
	heapUseAll = opts.LogLevel.Lower > int(klog.Debug)

	log.Lines([]string{
		fmt.Sprintf("gohv %s (Xen 4.17 PV ABI), built with %s", Version, runtime.Version()),
	})
	log.Lines(info.Lines())
	log.Lines(warnings)
	log.Lines(opts.LogLevelLines())
	log.Lines([]string{fmt.Sprintf("Detected %d.%03d MHz processor.", rt.TSCHz()/1000000, rt.TSCHz()/1000%1000)})

	pmTimer := setupPowerOff(info)
	madt, madtOK := readMADT(info)
	if madtOK {
		physCPUs = bringUpCPUs(madt, info, &opts)
	}
	input := &consoleInput{irq: int(consoleSerial(&opts).IRQ)}
	go input.run()
	frames := frameAllocator(info)
	log.Lines([]string{frames.Summary()})
	bootHeapBytes = heapBytes()
	debug.SetMemoryLimit(int64(bootHeapBytes) * 3 / 4)

	if opts.SelfTest == "console" {
		consoleSelfTest(input)
	}
	if opts.SelfTest != "" {
		runSelfTest(opts.SelfTest, frames, info)
		return
	}
	bus := pci.NewBus(ports{}, deviceMemory{hostMemoryMap(info)})
	irqs := newIRQController(madt, madtOK, bus)
	msiDump = irqs.dumpMSI
	machine, err := newMachine(frames, opts.NoReboot, xenCmdline, consoleSerial(&opts).IOBase, pmTimer, hostMemoryMap(info), irqs, bus)
	if err != nil {
		rt.Panic("cannot set up domain memory: " + err.Error())
	}
	exitDump = machine.ExitReport
	machine.CountExits(opts.LogLevel.Lower >= int(klog.Debug))
	countingExits, countExits = machine.CountingExits, func() { machine.CountExits(true) }
	irqs.attach(machine.IRQs())
	go irqs.run()
	if len(info.Modules) == 0 {
		ready("no dom0 module given", frames, 0)
		rt.PowerOff(0)
	}
	_, dom0Extra := boot.CookCmdline(info.Cmdline, info.Loader, info.Protocol == "pvh")
	// Xen sizes dom0 by the CPUs online (maxcpus= and nosmp count), not
	// by those the MADT lists.
	d, err := startDom0(machine, frames, info, &opts, dom0Extra, rt.OnlineCPUs())
	if err != nil {
		rt.Panic("Could not set up DOM0 guest OS: " + err.Error())
	}
	keptNow = func() string { return keptLine(frames, d.Pages()) }
	freeInitMemory(frames, info)
	input.machine, input.toDom0 = machine, true
	ready(fmt.Sprintf("dom0 running (%d MiB)", d.Pages()*mm.PageSize>>20), frames, d.Pages())
	input.announce()
	if e := d.UpVCPU(0); e != 0 {
		rt.Panic("Could not start DOM0's vCPU 0: " + e.Error())
	}
	select {} // the vCPU goroutines run the machine from here
}

// consoleSerial is the console's UART settings: the first serial port
// console= names (com1 when none is named, as gohv always has one).
func consoleSerial(o *boot.Options) boot.SerialConfig {
	for _, c := range o.Console {
		if strings.HasPrefix(c, "com2") {
			return o.Com2
		}
		if strings.HasPrefix(c, "com1") {
			break
		}
	}
	return o.Com1
}

// consoleSelfTest waits for a line typed on the serial console (to gohv)
// and echoes it: the receive interrupt and the input path work.
func consoleSelfTest(in *consoleInput) {
	in.announce()
	log.Lines([]string{"selftest: console: type a line"})
	select {
	case l := <-keyLine:
		log.Lines([]string{fmt.Sprintf("selftest: console: got '%s'", l)})
	case <-time.After(30 * time.Second):
		log.Lines([]string{"selftest: console: FAIL: no input in 30 s"})
		rt.PowerOff(1)
	}
}

// setupConsole programs the console UART as console= and com1=/com2= say.
func setupConsole(o *boot.Options) {
	cfg := consoleSerial(o)
	baud := cfg.Baud
	if baud == boot.BaudAuto {
		baud = boot.DefaultBaud
	}
	lcr := uint8(cfg.DataBits-5) & 3
	if cfg.StopBits == 2 {
		lcr |= 1 << 2
	}
	switch cfg.Parity {
	case 'o':
		lcr |= 0x08
	case 'e':
		lcr |= 0x18
	case 'm':
		lcr |= 0x28
	case 's':
		lcr |= 0x38
	}
	rt.SetSerial(cfg.IOBase, baud, lcr)
}

// setupPowerOff finds ACPI's S5 sleep type and PM1 control ports, the way
// gohv powers the machine off (QEMU's isa-debug-exit first, when present).
// It returns the FADT's PM timer port (0: none found), which dom0 is
// refused.
func setupPowerOff(info *boot.Info) uint16 {
	rsdp, err := boot.FindRSDP(physMem{}, info.RSDP)
	if err != nil {
		log.Printf(klog.Warning, "ACPI: %v: power-off will halt instead", err)
		return 0
	}
	p, err := boot.ParseS5(physMem{}, rsdp)
	log.Lines(p.Lines)
	if err != nil {
		log.Printf(klog.Warning, "ACPI: %v: power-off will halt instead", err)
		return 0
	}
	rt.SetACPIPowerOff(p.PM1aCnt, p.PM1bCnt, p.SlpTypA, p.SlpTypB)
	return p.PMTmr
}

func heapBytes() uint64 {
	h := rt.Heap()
	return h.End - h.Start
}

// ramFrames counts the whole frames of RAM in the memory map, reserved or
// not (what Xen's XEN_SYSCTL_physinfo calls total_pages). Set by
// frameAllocator.
var ramFrames uint64

// frameAllocator builds the domain frame allocator over the RAM the memory
// map reports, minus what gohv itself and the boot loader occupy.
func frameAllocator(info *boot.Info) *mm.Allocator {
	var ram, reserved []mm.Range
	for _, r := range info.Sanitize() {
		if r.Type == boot.E820RAM {
			ram = append(ram, mm.Range{Start: mm.Maddr(r.Base), End: mm.Maddr(r.Base + r.Length)})
		}
	}
	for _, r := range mm.NormalizeRanges(ram) {
		if r.Start < mm.MaxRAMAddr {
			f, e := (mm.Range{Start: r.Start, End: min(r.End, mm.MaxRAMAddr)}).InnerFrames()
			ramFrames += uint64(e - f)
		}
	}
	add := func(start, end uint64) {
		if end > start {
			reserved = append(reserved, mm.Range{Start: mm.Maddr(start), End: mm.Maddr(end)})
		}
	}
	for _, r := range keptRanges() {
		add(r.Start, r.End)
	}
	for _, m := range info.Modules {
		add(m.Start, m.End)
	}
	return mm.NewAllocator(ram, reserved)
}

// keptRanges are the physical ranges gohv keeps from the domain allocator
// for good: the real-mode area (BIOS, option ROMs), its image, its heap,
// and the boot information page.
func keptRanges() []rt.Range {
	_, infoAddr := rt.BootProtocol()
	return []rt.Range{{Start: 0, End: 1 << 20}, rt.Image(), rt.Heap(),
		{Start: uint64(infoAddr), End: uint64(infoAddr) + 4096}}
}

// Once dom0 is built the heap keeps at most heapSpare bytes of free
// frames of its own (freeInitMemory, shrinkIdleHeap) and grows from a
// loan: a heapChunk run the domain frame allocator lends it, whose frames
// it takes as the runtime needs them; the frames it has not taken stay
// free for domains (rt.LendHeap, mm.Allocator.SetLoan). When its spare
// frames, loan included, fall below heapLowWater the grower lends it a
// new run (growHeap). heapLowWater is what the runtime may take between
// the grower's wake-up and its run; heapSpare is what the heap may keep
// on its free list before the idle grower gives the rest back (a frame
// taken from the loan costs no more than one from the free list, so the
// heap keeps little: each frame it keeps is one no domain may have, and
// 512 KiB of them were most of what it held spare while dom0 ran).
const (
	heapSpare    = 128 << 10
	heapLowWater = 2 << 20
	heapChunk    = 4 << 20
)

// keptLineStep is how much the heap takes from its loans between two of
// the grower's kept lines (keptNow), at most one a second.
const keptLineStep = 256 << 10

// heapLoanReserve is the part of the heap's loan a domain cannot have:
// with every other frame taken by domains, the runtime still finds this
// much, beside the heap's spare, before an allocation panics the machine
// (Xen's own allocations fail and are refused; the runtime's cannot be).
// It was 1 MiB, the runtime's collection goal above its live heap: what
// its garbage may take between collections. The grower now holds the
// runtime to what it uses once it cannot lend (holdHeap), which turns
// garbage into collections; what is left is what the limit lets through
// (at most 144 KiB measured, see holdHeap) and live growth while every
// frame is taken, which no reserve bounds. Measured while dom0 runs (the
// bench task, at loglvl=all: the heap-use lines' peak since the heap
// settled), the heap's use rises about 350 KiB above its trough between
// collections, none of which is live. Each frame of it is one a domain
// may not have and that gohv keeps (keptLine).
const heapLoanReserve = 256 << 10

// loanFree counts the frames of the heap's loan a domain may have: its
// untaken frames beyond heapLoanReserve.
func loanFree() uint64 {
	_, free := loanParts()
	return free
}

// loanParts splits the heap's untaken loan frames (one reading of
// rt.LoanLeft) into the reserve the heap keeps (heapLoanReserve) and the
// rest, which a domain may have.
func loanParts() (reserved, free uint64) {
	left := rt.LoanLeft()
	reserved = min(left, heapLoanReserve/mm.PageSize)
	return reserved, left - reserved
}

// bootHeapPeak is the most frames the heap had in use before it settled
// (settleHeap): the boot's peak, which the ready line reports; the heap's
// peak counts from the settled heap on (the heap-use lines).
var bootHeapPeak uint64

// bootHeapBytes is the heap's size as kmain chose it (a sixteenth of RAM,
// 32-256 MiB): the most it may grow back to, and what the runtime's
// memory limit is set from.
var bootHeapBytes uint64

// freeInitMemory gives back to the domain allocator, once dom0 is built,
// what gohv needed only to build it, as Xen frees its init memory and
// boot modules: the boot modules' frames that dom0 did not take (the
// kernel's module, an initrd that was copied, modules beyond the second),
// the image's pages nothing uses again and the direct map's page tables
// beyond the machine's highest address (rt.FreeInitMemory; every AP is
// up by now, and gohv starts none later), and the part of the heap the
// boot no longer uses: after a collection, the range it never reached
// (rt.TrimHeap) and the frames the runtime freed, but for heapSpare
// (rt.ShrinkHeap). From then on growHeap grows the heap on demand. It
// prints Xen's "Freed ..." line.
func freeInitMemory(frames *mm.Allocator, info *boot.Info) {
	kept := keptRanges()
	var mods uint64
	for _, m := range info.Modules {
		first, end := (mm.Range{Start: mm.Maddr(m.Start), End: mm.Maddr(m.End)}).OuterFrames()
	page:
		for f := first; f < end; f++ {
			a := uint64(f.Addr())
			for _, r := range kept {
				if r.Start < a+mm.PageSize && a < r.End {
					continue page // shares a page with what gohv keeps
				}
			}
			// An initrd dom0 was given in place is managed (Adopt
			// fails): it is dom0's. So is a page freed already, shared
			// by two modules.
			if frames.Adopt(f, 1) == nil {
				if err := frames.Free(f); err != nil {
					rt.Panic(fmt.Sprintf("freeing boot module frame %#x: %v", f, err))
				}
				mods += mm.PageSize
			}
		}
	}
	var img uint64
	rs, err := rt.FreeInitMemory(machineTop(info))
	if err != nil {
		rt.Panic("freeing gohv's init memory: " + err.Error())
	}
	for _, r := range rs {
		giveHeapFrames(frames, r)
		img += r.End - r.Start
	}
	gave := settleHeap(frames)
	log.Lines([]string{fmt.Sprintf("Freed %dkB init memory (boot modules %dkB, image %dkB, hypervisor heap %dkB)",
		(mods+img+gave)>>10, mods>>10, img>>10, gave>>10)})
}

// machineTop is the end of the highest range the firmware's memory map
// lists as RAM, ACPI tables or ACPI NVS, or of a boot module: what gohv
// reaches through the direct map above 4 GiB (rt.FreeInitMemory keeps
// the first 4 GiB, where the local APIC, the IO-APICs, MMCONFIG and the
// BIOS tables are, whatever this says). Reserved ranges do not count:
// QEMU lists [1012 GiB, 1 TiB) as reserved (AMD's HyperTransport hole),
// and what gohv reaches in reserved ranges above 4 GiB is device memory,
// which rt maps again on demand (DeviceRead32, DeviceWrite32); a read of
// anything else there fails (rt.ReadPhys says false).
func machineTop(info *boot.Info) uint64 {
	var top uint64
	for _, r := range info.MemMap {
		if r.Type != boot.E820RAM && r.Type != boot.E820ACPI && r.Type != boot.E820NVS {
			continue
		}
		if r.Base+r.Length >= r.Base {
			top = max(top, r.Base+r.Length)
		} else {
			top = math.MaxUint64
		}
	}
	for _, m := range info.Modules {
		top = max(top, m.End)
	}
	return top
}

// settleHeap gives the domain frame allocator what the heap does not use
// once the boot is over (after a collection: the range it never reached,
// rt.TrimHeap, and its free frames but for heapSpare, rt.ShrinkHeap),
// sets GOGC for the settled heap (settledGCPercent) and the runtime's
// memory limit (followHeap), lends the heap its first run (lendHeap) and
// starts the grower (growHeap). It returns how many bytes it gave.
func settleHeap(frames *mm.Allocator) uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	held := rt.Stats().HeapHeldFrames
	for _, r := range frameRuns(rt.ShrinkHeap(heapSpare)) {
		giveHeapFrames(frames, r)
	}
	giveHeapFrames(frames, rt.TrimHeap(heapSpare))
	bootHeapPeak = rt.ResetHeapPeak()
	debug.SetGCPercent(settledGCPercent)
	followHeap()
	frames.SetLoan(loanFree, func() (mm.MFN, uint64) {
		r := rt.ReclaimLoan(heapLoanReserve)
		return mm.MFN(r.Start / mm.PageSize), (r.End - r.Start) / mm.PageSize
	})
	lendHeap(frames) // the first loan, before the grower first runs
	go growHeap(frames)
	return (held - rt.Stats().HeapHeldFrames) * mm.PageSize
}

// giveHeapFrames hands r, frames the heap (or the image: its init
// memory) gave up, to the domain frame allocator: frames of the heap's
// boot range and of the image are reserved there and are adopted first;
// frames the heap grew by were handed out by it and are freed as they
// are (a run may hold both).
func giveHeapFrames(frames *mm.Allocator, r rt.Range) {
	n := (r.End - r.Start) / mm.PageSize
	if n == 0 {
		return
	}
	first := mm.MFN(r.Start / mm.PageSize)
	err := frames.Adopt(first, n)
	if err == nil {
		err = frames.FreeContig(first, n)
	} else if errors.Is(err, mm.ErrInUse) {
		err = nil
		for f := first; f < first+mm.MFN(n) && err == nil; f++ {
			if err = frames.Adopt(f, 1); err == nil || errors.Is(err, mm.ErrInUse) {
				err = frames.Free(f)
			}
		}
	}
	if err != nil {
		rt.Panic(fmt.Sprintf("the heap's frames %#x-%#x: %v", r.Start, r.End, err))
	}
}

// frameRuns sorts the frames at physical addresses pas and joins them
// into runs of contiguous frames.
func frameRuns(pas []uint64) []rt.Range {
	slices.Sort(pas)
	var runs []rt.Range
	for _, p := range pas {
		if n := len(runs); n > 0 && runs[n-1].End == p {
			runs[n-1].End += mm.PageSize
			continue
		}
		runs = append(runs, rt.Range{Start: p, End: p + mm.PageSize})
	}
	return runs
}

// growHeap is the heap's grower (one goroutine, from freeInitMemory on):
// woken by the shim when the heap's spare frames, its loan included, fall
// below heapLowWater, it takes a heapChunk run from the domain frame
// allocator and lends it to the heap, and gives the old loan's untaken
// frames back. When the heap would pass its boot size or the allocator
// has no run, it tells the shim there is none (a heap that runs out then
// panics saying so) and tries again each second. Once a second, when the
// collector has idled (or while it cannot lend), it gives back what the
// heap holds free beyond heapSpare (shrinkIdleHeap).
func growHeap(frames *mm.Allocator) {
	gcs := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(gcs)
	lastGCs, lastAt := gcs[0].Value.Uint64(), time.Now()
	paced := lastGCs
	stuck := false
	printed := rt.Stats().HeapGrownFrames
	for {
		short := rt.HeapWait(heapLowWater/mm.PageSize, time.Second)
		if g := rt.Stats().HeapGrownFrames; g >= printed+keptLineStep/mm.PageSize {
			// The heap takes its loan's frames without the grower:
			// the kept line says so once it has taken another step.
			printed = g
			printKept()
		}
		if !short {
			// Once a second: a collector that has idled (under a cycle
			// a second) lets the heap give back what it holds free.
			metrics.Read(gcs)
			n, at := gcs[0].Value.Uint64(), time.Now()
			if n != paced {
				// A collection ended since the last pass: its sweep is
				// over by now, and the goal it left may come down
				// (repaceHeap).
				repaceHeap()
				paced = n
			}
			if at.Sub(lastAt) >= time.Second {
				if float64(n-lastGCs) < at.Sub(lastAt).Seconds() {
					shrinkIdleHeap(frames)
				}
				lastGCs, lastAt = n, at
			}
			continue
		}
		lent := lendHeap(frames)
		if lent == 0 {
			// None: the heap keeps what is left of its loan and stops
			// waking the grower, which tries again each second (domains
			// may free memory).
			rt.LendHeap(rt.Range{})
			if !stuck {
				log.Printf(klog.Warning, "gohv heap: cannot grow past %d KiB (boot size %d KiB, %d KiB free for domains)",
					rt.Stats().HeapHeldFrames*4, bootHeapBytes>>10, frames.FreeFrames()*4)
				holdHeap()
			}
			stuck = true
			time.Sleep(time.Second)
			shrinkIdleHeap(frames)
			continue
		}
		stuck = false
		followHeap()
		log.Printf(klog.Debug, "gohv heap lent %d KiB, %d KiB held (spare frames below the low-water mark)", lent>>10, rt.Stats().HeapHeldFrames*4)
		printKept()
	}
}

// lendHeap lends the heap a heapChunk run, or the largest smaller one
// (down to 64 KiB) when free memory is that fragmented, unless the heap
// would then pass its boot size; the old loan's untaken frames go back
// to the allocator. It returns the bytes lent, 0 when it found no run.
func lendHeap(frames *mm.Allocator) uint64 {
	if rt.Stats().HeapHeldFrames*mm.PageSize+heapChunk > bootHeapBytes {
		return 0
	}
	for size := uint64(heapChunk); size >= 64<<10; size /= 2 {
		_, ok, err := frames.LendContig(size/mm.PageSize, mm.Maddr(hw.DirectMapEnd), func(first mm.MFN) (mm.MFN, uint64, error) {
			old, err := rt.LendHeap(rt.Range{Start: uint64(first.Addr()), End: uint64(first.Addr()) + size})
			return mm.MFN(old.Start / mm.PageSize), (old.End - old.Start) / mm.PageSize, err
		})
		if err != nil {
			rt.Panic(fmt.Sprintf("lending the heap %d KiB: %v", size>>10, err))
		}
		if ok {
			return size
		}
	}
	return 0
}

// shrinkIdleHeap gives the domain frame allocator the heap's free frames
// beyond heapSpare once the collector has been idle (under a cycle a
// second): what a busy spell made it take goes back when it is over. It
// forces no collection: the runtime's scavenger returns the pages it no
// longer needs to the heap's free list on its own. Context: the grower.
func shrinkIdleHeap(frames *mm.Allocator) {
	st := rt.Stats()
	if (st.HeapHeldFrames-st.HeapFrames)*mm.PageSize <= 2*heapSpare {
		return
	}
	var gave uint64
	for _, r := range frameRuns(rt.ShrinkHeap(heapSpare)) {
		giveHeapFrames(frames, r)
		gave += r.End - r.Start
	}
	if gave == 0 {
		return
	}
	followHeap()
	log.Printf(klog.Debug, "gohv heap gave %d KiB back, %d KiB held (collector idle)", gave>>10, rt.Stats().HeapHeldFrames*4)
	printKept()
}

// keptNow, once dom0 is built, is its kept line (keptLine) as of now: the
// grower prints it after each loan, give-back and keptLineStep the heap
// took, so the last one on the console is
// what gohv keeps while dom0 runs.
var keptNow func() string

// printKept prints the kept line (keptNow), once dom0 is built, and
// under loglvl=all where the heap's frames are (heapUseLines).
func printKept() {
	f := keptNow
	if f == nil {
		return
	}
	log.Lines([]string{f()})
	if heapUseAll {
		log.Lines(heapUseLines())
	}
}

// holdHeap sets the runtime's memory limit, while the heap cannot grow
// (growHeap), to what the runtime uses now (mapped and not released, as
// the limit counts): the collector then runs as often as it must to stay
// there, and the scavenger gives back what it frees, instead of the heap
// growing to its collection goal (up to about 1 MiB above the live heap
// until repaceHeap sets it again) into a reserve that cannot cover that.
// What the limit lets through (allocations while a collection runs, the
// runtime's metadata in memory it mapped before) comes from the loan's
// reserve and the heap's spare: TestHeapGrows's 16 MiB of garbage with
// every frame taken took 32-144 KiB more (six runs; 40-312 KiB with the
// limit 128 KiB higher, and the heap ran out without it). followHeap
// lifts the limit again once a loan comes.
func holdHeap() {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	debug.SetMemoryLimit(int64(s[0].Value.Uint64() - s[1].Value.Uint64()))
}

// followHeap sets the runtime's memory limit to three quarters of the
// most the heap may hold (its boot size), not to what it holds now: the
// collector is paced by GOGC, and the heap grows as the runtime touches
// new memory. A limit that followed the frames held kept the collector
// running almost without pause, and every collection stops each vCPU's
// goroutine until its guest next exits (the runtime's preemption waits
// for the tick): a cross-vCPU blocking event round trip took 890 k
// instructions under QEMU -icount instead of 68 k.
func followHeap() {
	debug.SetMemoryLimit(int64(bootHeapBytes) * 3 / 4)
}

// repaceHeap sets the collector's heap goal again, now that the last
// collection's sweep is over. The runtime ends each collection with a goal
// of at least the heap then live plus 1 MiB (its sweep distance, while
// sweeping goes on), whatever GOGC says, and paces its scavenger to keep
// the heap at that goal plus 10%: with the 400 KiB live heap gohv has
// while dom0 runs, about 1.5 MiB of frames. Setting GOGC again (the same
// value) recomputes the goal with the sweep done, from GOGC alone, and
// paces the scavenger to it, so that the runtime gives back the pages it
// does not need and the heap gives the frames to the domains
// (shrinkIdleHeap). Context: the grower, about once a second.
func repaceHeap() {
	debug.SetGCPercent(settledGCPercent)
}

// settledGCPercent is GOGC once the boot is over (settleHeap). The live heap
// is then small (about 400 KiB on a 1 GiB machine: the frame table lives
// outside it) and gohv's hot paths allocate little (13 MB in the whole
// dom0 bench task), so the default's 4 MiB minimum heap goal only made
// the heap hold garbage: with 25 the goal was about 1.4 MiB, what gohv
// keeps while dom0 runs fell by 2 MiB, and the collector ran 12 times
// in that task instead of 6. The goal counts the stacks and globals the
// collector scans (about 3 MiB) beside the live heap, so at 25 it stayed
// about 1.4 MiB; at 10, with the goal set again once the sweep is over
// (repaceHeap), it is about 550 KiB, the heap holds about 500 KiB less
// with dom0 at /init, and the collector ran 18 times to /init + 20 s
// instead of 14. The boot keeps the default, where the kernel unpack
// allocates much.
const settledGCPercent = 10

// keptLine says what gohv keeps for itself, as Xen's figure would count
// it (XEN_SYSCTL_physinfo's total_pages - free_pages - dom0's pages):
// every frame of RAM that is neither free for domains nor dom0's, with
// its parts: the image, the heap (its frames and its loan's reserve,
// heapLoanReserve; and how much is in use), the
// frame table when it is outside the heap (frameTableStorage) and the
// rest (the real-mode area, the M2P and its tables, pages gohv shares
// with guests, the boot information page); and how much of the free
// memory is the heap's loan (loanFree).
func keptLine(frames *mm.Allocator, dom0Pages uint64) string {
	ram, free := ramFrames*mm.PageSize, frames.FreeFrames()*mm.PageSize
	dom0 := dom0Pages * mm.PageSize
	kept := ram - free - dom0
	img := rt.Image()
	image := img.End - img.Start
	image = (image+mm.PageSize-1)&^(mm.PageSize-1) - rt.ImageFreed()
	st := rt.Stats()
	reserved, lent := loanParts()
	heap := (st.HeapHeldFrames + reserved) * mm.PageSize
	table := frameTableFrames * mm.PageSize
	return fmt.Sprintf("gohv keeps %d KiB for itself: RAM %d KiB - free %d KiB - dom0 %d KiB; image %d KiB, heap %d KiB (%d KiB in use), frame table %d KiB, other %d KiB; free counts %d KiB lent to the heap",
		kept>>10, ram>>10, free>>10, dom0>>10, image>>10, heap>>10, st.HeapFrames*4, table>>10, (kept-image-heap-table)>>10, lent*4)
}

// ready prints the line that says gohv is up, with what it keeps for
// itself (dom0Pages: dom0's, 0 without dom0) and its own time.
func ready(what string, frames *mm.Allocator, dom0Pages uint64) {
	st := rt.Stats()
	img := rt.Image()
	log.Lines([]string{
		keptLine(frames, dom0Pages),
		fmt.Sprintf("gohv memory: image %d KiB, heap %d KiB in use (peak %d KiB) of %d KiB held (%d KiB grown)",
			(img.End-img.Start)>>10, st.HeapFrames*4, max(st.HeapPeakFrames, bootHeapPeak)*4, st.HeapHeldFrames*4, st.HeapGrownFrames*4),
		fmt.Sprintf("gohv time: %d ms since the TSC was calibrated (kmain), %d ms in main",
			rt.Uptime().Milliseconds(), time.Since(start).Milliseconds()),
		fmt.Sprintf("gohv ready: %s", what),
	})
	if heapUseAll {
		log.Lines(heapUseLines())
	}
}

func runSelfTest(which string, frames *mm.Allocator, info *boot.Info) {
	switch which {
	case "fault":
		log.Lines([]string{"selftest: taking a page fault in gohv on purpose"})
		var p *[4]uint64
		faultVictim(p)
	case "panic":
		log.Lines([]string{"selftest: Go panic on purpose"})
		panicVictim()
	case "oom":
		log.Lines([]string{"selftest: keeping every allocation until the heap runs out"})
		exhaustHeap()
	case "heap":
		heapSelfTest(frames)
	case "initmem":
		initMemSelfTest(frames, info)
	case "oomgrown":
		log.Lines([]string{fmt.Sprintf("selftest: heap settled, %d KiB given back; keeping every allocation until it can grow no more", settleHeap(frames)>>10)})
		exhaustHeap()
	case "all", "console":
	default:
		log.Lines([]string{fmt.Sprintf("selftest: unknown test '%s', running all", which)})
	}
	failed := 0
	before := rt.CPUStats()
	for _, r := range selftest.Run() {
		line := "selftest: " + r.Name + ": ok"
		if r.Err != nil {
			line = "selftest: " + r.Name + ": FAIL: " + r.Err.Error()
			failed++
		}
		if r.Detail != "" {
			line += " (" + r.Detail + ")"
		}
		log.Lines([]string{line})
	}
	if d, err := cpusCheck(before, rt.CPUStats()); err != nil {
		log.Lines([]string{"selftest: cpus: FAIL: " + err.Error() + " (" + d + ")"})
		failed++
	} else {
		log.Lines([]string{"selftest: cpus: ok (" + d + ")"})
	}
	if d, err := wallClockCheck(); err != nil {
		log.Lines([]string{"selftest: wallclock: FAIL: " + err.Error()})
		failed++
	} else {
		log.Lines([]string{"selftest: wallclock: ok (" + d + ")"})
	}
	if d, err := vdsoCheck(); err != nil {
		log.Lines([]string{"selftest: vdso: FAIL: " + err.Error() + " (" + d + ")"})
		failed++
	} else {
		log.Lines([]string{"selftest: vdso: ok (" + d + ")"})
	}
	if d, err := munmapCheck(); err != nil {
		log.Lines([]string{"selftest: munmap: FAIL: " + err.Error() + " (" + d + ")"})
		failed++
	} else {
		log.Lines([]string{"selftest: munmap: ok (" + d + ")"})
	}
	if d, err := ring3Check(frames); err != nil {
		log.Lines([]string{"selftest: ring3: FAIL: " + err.Error()})
		failed++
	} else {
		log.Lines([]string{"selftest: ring3: ok (" + d + ")"})
	}
	st := rt.Stats()
	log.Lines([]string{fmt.Sprintf("selftest: shim: %d syscalls, %d unknown, %d ticks, %d switches, %d threads, %d preemption signals, heap peak %d KiB",
		st.Syscalls, st.UnknownSyscalls, st.Ticks, st.Switches, st.Threads, st.Signals, st.HeapPeakFrames*4)})
	if failed > 0 || st.UnknownSyscalls > 0 {
		log.Lines([]string{fmt.Sprintf("selftest: FAIL (%d checks failed, %d unknown syscalls)", failed, st.UnknownSyscalls)})
		rt.PowerOff(1)
	}
	log.Lines([]string{"selftest: PASS"})
	rt.PowerOff(0)
}

// cpusCheck: every online CPU ran the runtime's threads during the
// suite (switched to a kernel thread at least once), every CPU answers a
// shootdown (rt.FlushCaches returns), GOMAXPROCS is the number of CPUs
// online, and with several CPUs the wake-up IPIs the suite made CPUs
// send to one another (threads made runnable for an idle CPU) all left
// after their sender had released the shim lock, so the woken CPU did
// not wait on it through the sender's ICR write (rt's shimUnlock).
func cpusCheck(before, after []rt.CPUStat) (string, error) {
	var parts []string
	var idle []string
	online := 0
	var wakes, locked uint64
	for i, a := range after {
		if !a.Online {
			continue
		}
		online++
		wakes += a.WakeIPIs - before[i].WakeIPIs
		locked += a.LockedWakeIPIs - before[i].LockedWakeIPIs
		runs := a.Runs - before[i].Runs
		parts = append(parts, fmt.Sprintf("CPU%d %d thread runs, %d ticks, %d IPIs", i, runs, a.Ticks-before[i].Ticks, a.IPIs-before[i].IPIs))
		if runs == 0 {
			idle = append(idle, fmt.Sprintf("CPU%d", i))
		}
	}
	// A shootdown every CPU must acknowledge: WBINVD and a TLB flush on each.
	done := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		rt.FlushCaches()
		done <- time.Since(t0)
	}()
	var took time.Duration
	select {
	case took = <-done:
	case <-time.After(5 * time.Second):
		return strings.Join(parts, "; "), fmt.Errorf("a cache flush on every CPU was not acknowledged in 5 s")
	}
	d := fmt.Sprintf("%d CPUs, GOMAXPROCS %d: %s; WBINVD on all in %v; %d wake-up IPIs, %d sent holding the shim lock",
		online, runtime.GOMAXPROCS(0), strings.Join(parts, "; "), took.Round(time.Microsecond), wakes, locked)
	if len(idle) > 0 {
		return d, fmt.Errorf("no Go code ran on %s", strings.Join(idle, ", "))
	}
	if runtime.GOMAXPROCS(0) != online {
		return d, fmt.Errorf("GOMAXPROCS is not the CPU count")
	}
	if online > 1 && wakes == 0 {
		return d, fmt.Errorf("no CPU woke another with an IPI")
	}
	if locked != 0 {
		return d, fmt.Errorf("%d wake-up IPIs sent while the sender held the shim lock", locked)
	}
	return d, nil
}

// wallClockCheck: time.Now is the RTC reading at boot plus the TSC's
// monotonic time since, so it must be after the boot reading and close to
// it, and the RTC must hold a plausible date.
func wallClockCheck() (string, error) {
	boot := time.Unix(rt.BootWallClock(), 0).UTC()
	now := time.Now().UTC()
	d := fmt.Sprintf("RTC at boot %s, now %s", boot.Format(time.DateTime), now.Format(time.DateTime))
	if boot.Year() < 2020 {
		return d, fmt.Errorf("implausible RTC year %d", boot.Year())
	}
	if since := now.Sub(boot); since < 0 || since > 10*time.Minute {
		return d, fmt.Errorf("wall clock moved %v since boot", since)
	}
	return d, nil
}

// munmapCheck: unmapping a reservation walks only the page tables that
// exist (the shim's release skips an absent table's whole span), as the
// runtime's start needs: each heap-arena hint it fails to get costs a
// 64 MiB munmap of pages it never committed. A 1 GiB PROT_NONE mapping
// with one page committed and written in its middle is unmapped: that
// page's table and those its ends may share with its neighbours are at
// most 3 x 512 walks, the absent ones one each per 2 MiB or GiB, and the
// count may take in what other threads release meanwhile (the
// scavenger's madvise), so the bound is 8192, against 262,144 a page at
// a time; the count before, the boot's and the suite's, is reported
// beside it.
func munmapCheck() (string, error) {
	const size = 1 << 30
	boot := rt.Stats().ReleaseWalks
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_NONE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return "", fmt.Errorf("mmap of 1 GiB: %v", err)
	}
	mid := b[size/2 : size/2+4096]
	if err := syscall.Mprotect(mid, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return "", fmt.Errorf("mprotect: %v", err)
	}
	mid[0] = 1
	v0 := rt.Stats().ReleaseWalks
	if err := syscall.Munmap(b); err != nil {
		return "", fmt.Errorf("munmap: %v", err)
	}
	walks := rt.Stats().ReleaseWalks - v0
	d := fmt.Sprintf("1 GiB, one page backed: %d page-table walks (%d before, the boot's and the suite's)", walks, boot)
	if walks == 0 || walks > 8192 {
		return d, fmt.Errorf("munmap made %d page-table walks, want 1 to 8192", walks)
	}
	return d, nil
}

// vdsoCheck: the runtime reads its clocks through the vDSO (rt's
// AT_SYSINFO_EHDR), not the shim: vdsoNows time.Now calls, each a
// CLOCK_REALTIME and a CLOCK_MONOTONIC reading, make almost no system
// calls (other threads' calls count too, so up to a tenth of one per
// call is allowed; through the shim it would be two per call), and time
// never goes back over them. The vDSO's clocks agree with the shim's:
// every clock id it serves, called directly, reads between two shim
// readings taken around it, as do time.Now's wall clock and the
// monotonic span of the loop, and gettimeofday's microseconds with a
// UTC zone; an id it does not serve (CLOCK_PROCESS_CPUTIME_ID) is the
// shim's system call.
func vdsoCheck() (string, error) {
	const vdsoNows = 10000
	const realtime, monotonic = 0, 1
	d := fmt.Sprintf("vDSO at %#x", rt.VDSO())
	m0 := rt.ClockShim(monotonic)
	s0 := rt.Stats().Syscalls
	t0 := time.Now()
	prev := t0
	for i := 0; i < vdsoNows; i++ {
		t := time.Now()
		if t.Before(prev) {
			return d, fmt.Errorf("time.Now went back by %v", prev.Sub(t))
		}
		prev = t
	}
	calls := rt.Stats().Syscalls - s0
	m1 := rt.ClockShim(monotonic)
	d = fmt.Sprintf("%d time.Now, %d system calls; %s", vdsoNows, calls, d)
	if calls > vdsoNows/10 {
		return d, fmt.Errorf("time.Now still enters the shim")
	}
	if span := prev.Sub(t0); span < 0 || span > time.Duration(m1-m0) {
		return d, fmt.Errorf("time.Now's monotonic span %v outside the shim's %v", span, time.Duration(m1-m0))
	}
	for _, id := range []int32{realtime, monotonic, 4, 5, 6, 7} {
		a := rt.ClockShim(id)
		b, errno := rt.ClockVDSO(id)
		c := rt.ClockShim(id)
		if errno != 0 || b < a || b > c {
			return d, fmt.Errorf("clock %d: vDSO %d (errno %d) not within the shim's [%d, %d]", id, b, errno, a, c)
		}
	}
	a := rt.ClockShim(realtime)
	now := time.Now().UnixNano()
	c := rt.ClockShim(realtime)
	if now < a || now > c {
		return d, fmt.Errorf("time.Now %d not within the shim's wall clock [%d, %d]", now, a, c)
	}
	a = rt.ClockShim(realtime)
	us, tz := rt.GettimeofdayVDSO()
	c = rt.ClockShim(realtime)
	if us < a/1000 || us > c/1000 || tz != [2]int32{0, 0} {
		return d, fmt.Errorf("gettimeofday %d us, zone %v; the shim's wall clock [%d, %d] ns", us, tz, a, c)
	}
	s0 = rt.Stats().Syscalls
	if _, errno := rt.ClockVDSO(2); errno != 0 || rt.Stats().Syscalls == s0 {
		return d, fmt.Errorf("CLOCK_PROCESS_CPUTIME_ID did not reach the shim (errno %d)", errno)
	}
	return d, nil
}

// faultVictim dereferences p (nil): a page fault in gohv's own code.
//
//go:noinline
func faultVictim(p *[4]uint64) {
	p[2] = 1
}

// exhaustHeap keeps allocating live memory; the hypervisor heap runs out
// and the shim panics (the runtime never sees an error from mmap).
// yieldToGrower is the selftests' allocation loops' yield, every 256 KiB
// they write: while the grower has been woken and has not lent yet
// (rt.HeapShort) the loop sleeps, at most a second, so that the grower's
// thread takes the CPU and a P at once; otherwise runtime.Gosched. A
// Gosched alone left the grower to the shim's next tick for its thread
// and to the loop's next Gosched for its P: on one CPU of a loaded host
// the loop sometimes wrote the last 2 MiB of spare frames first and the
// machine panicked ("the grower did not run before the spare frames were
// gone": selftest=heap in 1 run of 8 on a loaded host, oomgrown once in
// a make test). The workloads gohv runs, vCPUs, give way on
// rt.HeapShort at each entry (backend.Run).
func yieldToGrower() {
	if !rt.HeapShort() {
		runtime.Gosched()
		return
	}
	for end := time.Now().Add(time.Second); rt.HeapShort() && time.Now().Before(end); {
		time.Sleep(100 * time.Microsecond)
	}
}

func exhaustHeap() {
	debug.SetMemoryLimit(math.MaxInt64)
	var keep [][]byte
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
			if i%(256<<10) == 0 {
				yieldToGrower() // a settled heap's grower gets its turn
			}
		}
		keep = append(keep, b)
	}
}

// heapSelfTest settles the heap as it is once dom0 is built, then keeps
// heapTestBytes live, a MiB at a time (each written through as it comes,
// yielding every 256 KiB), well past the spare frames: the heap must grow from the domain frame
// allocator while the runtime allocates, or the machine panics ("gohv heap
// exhausted"). Then it drops them and collects: the runtime's pages go
// back on the heap's free list, and the heap gives what it holds beyond
// its spare back to the domain allocator (on SMP, frames freed while
// other CPUs may cache them too, once they have flushed). The domain
// allocator's free frames must account for every frame the heap took.
// Last a domain takes every free frame: the heap's loan must come back
// for it. Powers off with 0 on success.
func heapSelfTest(frames *mm.Allocator) {
	const heapTestBytes = 16 << 20
	gave := settleHeap(frames)
	st0, free0 := rt.Stats(), frames.FreeFrames()
	log.Lines([]string{fmt.Sprintf("selftest: heap: settled, %d KiB given back, %d KiB held (%d KiB in use); keeping %d MiB live",
		gave>>10, st0.HeapHeldFrames*4, st0.HeapFrames*4, heapTestBytes>>20)})
	var keep [][]byte
	for len(keep) < heapTestBytes>>20 {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = byte(len(keep))
			if i%(256<<10) == 0 {
				yieldToGrower() // where the grower, once woken, gets its turn
			}
		}
		keep = append(keep, b)
	}
	bad := 0
	for i, b := range keep {
		for j := 0; j < len(b); j += 4096 {
			if b[j] != byte(i) {
				bad++
			}
		}
	}
	st1, free1 := rt.Stats(), frames.FreeFrames()
	var live []uintptr
	for _, b := range keep {
		live = append(live, reflect.ValueOf(b).Pointer())
	}
	useErr := heapUseCheck(live, heapTestBytes)
	log.Lines(heapUseLines(live...))
	keep = nil
	runtime.GC()
	debug.FreeOSMemory()
	st2 := rt.Stats()
	// Then what the heap holds beyond its spare goes back, as when the
	// collector idles (shrinkIdleHeap): the dead MiB with it, also those
	// a release on SMP left in limbo.
	for _, r := range frameRuns(rt.ShrinkHeap(heapSpare)) {
		giveHeapFrames(frames, r)
	}
	st3 := rt.Stats()
	line := fmt.Sprintf("selftest: heap: grown by %d KiB to %d KiB held (%d KiB in use) with %d MiB live; %d KiB in use after they died, %d KiB held once given back",
		st1.HeapGrownFrames*4, st1.HeapHeldFrames*4, st1.HeapFrames*4, heapTestBytes>>20, st2.HeapFrames*4, st3.HeapHeldFrames*4)
	var fail []string
	if st1.HeapHeldFrames*mm.PageSize < heapTestBytes {
		fail = append(fail, "the heap holds less than what is live")
	}
	if took := free0 - free1; took != st1.HeapGrownFrames-st0.HeapGrownFrames {
		fail = append(fail, fmt.Sprintf("the domain allocator lost %d frames, the heap grew by %d", took, st1.HeapGrownFrames-st0.HeapGrownFrames))
	}
	if bad > 0 {
		fail = append(fail, fmt.Sprintf("%d pages read back wrong", bad))
	}
	if useErr != "" {
		fail = append(fail, useErr)
	}
	if st2.HeapFrames >= st1.HeapFrames-heapTestBytes/mm.PageSize/2 {
		fail = append(fail, "the dead MiB did not go back to the heap's free list")
	}
	// Spare frames left: at most heapSpare on the free list, and at most
	// heapSpare never used (settleHeap's trim).
	if spare := (st3.HeapHeldFrames - st3.HeapFrames) * mm.PageSize; spare > 2*heapSpare {
		fail = append(fail, fmt.Sprintf("%d KiB spare still held after giving back (at most %d)", spare>>10, 2*heapSpare>>10))
	}
	// Domains come first: an allocation that finds no other frame takes
	// the loan's untaken frames back from the heap, so a domain can have
	// every frame FreeFrames counts, lent ones included.
	dst := make([]mm.MFN, frames.FreeFrames()+1024)
	// The list's 1 MiB is backed now, before the domain takes every
	// frame: it is the test's, not a burst of the runtime's for the
	// loan's reserve to cover.
	for i := range dst {
		dst[i] = mm.MFN(i)
	}
	dst = dst[:0]
	g0, lent, promised := rt.Stats().HeapGrownFrames, loanFree(), frames.FreeFrames()
	got := frames.AllocN(dst, promised)
	g1, left, after := rt.Stats().HeapGrownFrames, loanFree(), frames.FreeFrames()
	line2 := fmt.Sprintf("selftest: heap: a domain took %d free frames, %d of them lent to the heap", len(got), lent)
	// What the heap took meanwhile came from the loan before the domain
	// took it back, or from the reserve after: the domain gets at least
	// what was counted free less that, never more, and nothing counts as
	// free once it has all.
	if n := uint64(len(got)); n > promised || n+(g1-g0) < promised || left != 0 || after != 0 || lent == 0 {
		fail = append(fail, fmt.Sprintf("%d frames counted free (%d lent), a domain got %d, the heap took %d meanwhile, %d still lent, %d still counted free", promised, lent, n, g1-g0, left, after))
	}
	// With every frame taken the grower finds no run and holds the
	// runtime to what it uses (holdHeap): garbage, 16 MiB of it, then
	// costs collections, not frames beyond the reserve (with the limit
	// left where it was the heap grows towards its goal and panics).
	limit0 := int64(bootHeapBytes) * 3 / 4
	for t0 := time.Now(); debug.SetMemoryLimit(-1) >= limit0 && time.Since(t0) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
	}
	if debug.SetMemoryLimit(-1) >= limit0 {
		fail = append(fail, "the runtime's memory limit stayed up with every frame taken")
	}
	gc0 := gcCycles()
	rt.ResetHeapPeak()
	hf0 := rt.Stats().HeapFrames
	for i := 0; i < 256; i++ {
		b := make([]byte, 64<<10)
		b[i] = byte(i)
		garbageSink = b
	}
	garbageSink = nil
	line2 += fmt.Sprintf("; then 16 MiB of garbage took %d KiB more and %d collections", (max(rt.Stats().HeapPeakFrames, hf0)-hf0)*4, gcCycles()-gc0)
	for _, m := range got {
		if err := frames.Free(m); err != nil {
			fail = append(fail, fmt.Sprintf("freeing frame %#x: %v", m, err))
			break
		}
	}
	if len(fail) > 0 {
		log.Lines([]string{line, line2, "selftest: heap: FAIL: " + strings.Join(fail, "; ")})
		rt.PowerOff(1)
	}
	log.Lines([]string{line, line2, "selftest: heap: ok", "selftest: PASS"})
	rt.PowerOff(0)
}

// initMemSelfTest frees the init memory as freeInitMemory does and checks
// it: every frame rt.FreeInitMemory gave up is free in the domain
// allocator afterwards, and the free count grew by them; the image gave
// at least the direct map's PD pages beyond its first hw.DirectMapGiBFor
// GiBs and the AP trampoline; the direct map ends where it should,
// reads below its end and refuses them at it, and grows for device
// memory above (DeviceRead32);
// gohv starts no AP and frees nothing a second time from then on. Then
// it powers off: 0 when all held, 1 on a FAIL line.
func initMemSelfTest(frames *mm.Allocator, info *boot.Info) {
	var fail []string
	free0 := frames.FreeFrames()
	top := machineTop(info)
	rs, err := rt.FreeInitMemory(top)
	if err != nil {
		fail = append(fail, "FreeInitMemory: "+err.Error())
	}
	var gave uint64
	for _, r := range rs {
		giveHeapFrames(frames, r)
		gave += r.End - r.Start
		for a := r.Start; a < r.End; a += mm.PageSize {
			if !frames.IsFree(mm.MFN(a / mm.PageSize)) {
				fail = append(fail, fmt.Sprintf("frame %#x of the image's init memory is not free for domains", a))
				break
			}
		}
	}
	if got := frames.FreeFrames() - free0; got != gave/mm.PageSize {
		fail = append(fail, fmt.Sprintf("the domain allocator gained %d frames, the image gave %d", got, gave/mm.PageSize))
	}
	if gave != rt.ImageFreed() {
		fail = append(fail, fmt.Sprintf("rt counts %d bytes of the image freed, its ranges hold %d", rt.ImageFreed(), gave))
	}
	dmGiB := hw.DirectMapGiBFor(top)
	if least := (hw.DirectMapGiB-dmGiB)*mm.PageSize + uint64(rt.TrampolineRange().End-rt.TrampolineRange().Start); gave < least {
		fail = append(fail, fmt.Sprintf("the image gave %d KiB, at least %d KiB expected", gave>>10, least>>10))
	}
	end := rt.DirectMapEnd()
	var b [8]byte
	if end != dmGiB<<30 {
		fail = append(fail, fmt.Sprintf("the direct map ends at %#x, want %#x", end, dmGiB<<30))
	} else if !rt.ReadPhys(end-8, b[:]) || rt.ReadPhys(end-4, b[:]) {
		fail = append(fail, "the direct map does not read just below its end, or reads across it")
	}
	dev := end + 1<<30 + 0x1000
	if _, ok := rt.DeviceRead32(dev); !ok {
		fail = append(fail, fmt.Sprintf("device memory at %#x above the direct map cannot be read", dev))
	} else if grown := rt.DirectMapEnd(); grown != end+2<<30 || !rt.ReadPhys(dev, b[:]) {
		fail = append(fail, fmt.Sprintf("the direct map grew to %#x for %#x", grown, dev))
	}
	if err := rt.StartAP(rt.OnlineCPUs(), 0x7e); !errors.Is(err, syscall.EBUSY) {
		fail = append(fail, fmt.Sprintf("StartAP after the init memory went: %v", err))
	}
	if _, err := rt.FreeInitMemory(top); !errors.Is(err, syscall.EBUSY) {
		fail = append(fail, fmt.Sprintf("FreeInitMemory a second time: %v", err))
	}
	line := fmt.Sprintf("selftest: initmem: the image gave %d KiB in %d ranges, the direct map ends at %d GiB, %d GiB after a device read above",
		gave>>10, len(rs), end>>30, rt.DirectMapEnd()>>30)
	if len(fail) > 0 {
		log.Lines([]string{line, "selftest: initmem: FAIL: " + strings.Join(fail, "; ")})
		rt.PowerOff(1)
	}
	log.Lines([]string{line, "selftest: initmem: ok", "selftest: PASS"})
	rt.PowerOff(0)
}

// garbageSink keeps the heap selftest's garbage from being optimised away.
var garbageSink []byte

// gcCycles is how many collections the runtime has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

//go:noinline
func panicVictim() {
	panic("selftest: deliberate Go panic")
}

// heapUseAll is set by loglvl=all: the grower then prints where the
// heap's frames are (heapUseLines) with each kept line.
var heapUseAll bool

// heapUseMetrics are the runtime's own figures heapUseLines sets beside
// the shim's.
var heapUseMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mcache/free:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/os-stacks:bytes",
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/gc/cycles/total:gc-cycles",
	"/sched/goroutines:goroutines",
}

// heapUseCheck checks heapUseLines' account against the shim's count,
// with live bytes of the Go heap live at the addresses objs: the frames
// it finds behind the mmap window, the stacks and the window's page
// tables add up to the frames in use, and the blocks holding objs (the
// arenas) hold at least live. "" when they do; it retries while the
// runtime's other threads change the count under the walk.
func heapUseCheck(objs []uintptr, live uint64) string {
	for try := 0; try < 20; try++ {
		f0 := rt.Stats().HeapFrames
		u := rt.ReadHeapUse()
		if rt.Stats().HeapFrames != f0 {
			continue
		}
		var sum, arena uint64
		for _, b := range u.Blocks {
			sum += b.Frames
			if inArena(b, objs) {
				arena += b.Frames
			}
		}
		sum += u.KStackFrames + u.ISTFrames + u.TableFrames
		if sum != f0 {
			return fmt.Sprintf("heap use: %d KiB found behind the window, stacks and tables, %d KiB in use", sum*4, f0*4)
		}
		if arena*mm.PageSize < live {
			return fmt.Sprintf("heap use: %d KiB found in the arenas with %d KiB live", arena*4, live>>10)
		}
		return ""
	}
	return "heap use: the frames in use changed under every walk"
}

// inArena reports whether block b holds one of the heap objects at objs:
// then it is a Go heap arena (the runtime reserves each as one aligned
// 64 MiB block).
func inArena(b rt.HeapBlock, objs []uintptr) bool {
	for _, p := range objs {
		if p&^(1<<26-1) == b.VA {
			return true
		}
	}
	return false
}

// heapUseLines says where the frames the heap holds are (rt.ReadHeapUse):
// the mmap window's 64 MiB blocks (those holding heap objects, objs and
// two fresh ones, are Go heap arenas, the others mostly the runtime's
// metadata), the kernel and IST
// stacks, the window's page tables and the spare frames; and, for
// comparison, the runtime's own account of its memory (runtime/metrics),
// in KiB. For loglvl=all and debug key 'm'.
func heapUseLines(objs ...uintptr) []string {
	// Heap objects of a small and a large size class: their blocks are
	// arenas (the caller may name more).
	objs = append(objs, reflect.ValueOf(new([64]byte)).Pointer(), reflect.ValueOf(new([40 << 10]byte)).Pointer())
	u := rt.ReadHeapUse()
	st := rt.Stats()
	var window, arena uint64
	var blocks []string
	for _, b := range u.Blocks {
		window += b.Frames
		tag := ""
		if inArena(b, objs) {
			arena += b.Frames
			tag = " (arena)"
		}
		blocks = append(blocks, fmt.Sprintf("%#x %d%s", b.VA, b.Frames*4, tag))
	}
	s := make([]metrics.Sample, len(heapUseMetrics))
	for i, n := range heapUseMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	kib := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			kib[i] = s[i].Value.Uint64()
			if strings.HasSuffix(s[i].Name, ":bytes") {
				kib[i] >>= 10
			}
		}
	}
	return []string{
		fmt.Sprintf("gohv heap use: %d KiB in use: mmap window %d KiB (arena %d KiB, other blocks %d KiB), kernel stacks %d KiB (%d slots, %d threads, at most %d KiB deep), IST stacks %d KiB (at most %d KiB deep), window page tables %d KiB; spare: free list %d KiB, limbo %d KiB, loan %d KiB; peak %d KiB in use since the heap settled",
			st.HeapFrames*4, window*4, arena*4, (window-arena)*4, u.KStackFrames*4, u.KStackSlots, st.Threads, (u.KStackDeepest+1023)>>10, u.ISTFrames*4, (u.ISTDeepest+1023)>>10,
			u.TableFrames*4, u.FreeFrames*4, u.LimboFrames*4, u.LoanFrames*4, st.HeapPeakFrames*4),
		fmt.Sprintf("gohv heap use: runtime (KiB): heap objects %d, unused %d, free %d, released %d, stacks %d; metadata mspan %d+%d free, mcache %d+%d free, other %d; buckets %d, other %d, os-stacks %d; live heap %d, goal %d; %d collections, %d goroutines",
			kib[0], kib[1], kib[2], kib[3], kib[4], kib[5], kib[6], kib[7], kib[8], kib[9], kib[10], kib[11], kib[12], kib[13], kib[14], kib[15], kib[16]),
		"gohv heap use: window blocks (KiB): " + strings.Join(blocks, ", "),
	}
}
