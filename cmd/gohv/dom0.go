package main

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gohv/gohv/arch/amd64/rt"
	"github.com/gohv/gohv/boot"
	"github.com/gohv/gohv/evtchn"
	"github.com/gohv/gohv/hv"
	"github.com/gohv/gohv/internal/klog"
	"github.com/gohv/gohv/kernel"
	"github.com/gohv/gohv/mm"
	"github.com/gohv/gohv/sched"
	"golang.org/x/sys/unix"
)

// dom0Module returns boot module 0 (the dom0 kernel: a bzImage or an ELF
// file) where the boot loader put it, through the direct map: no copy in
// the Go heap. Its frames stay reserved until dom0 is built
// (freeDom0Module); the slice must not be used after that.
func dom0Module(info *boot.Info) ([]byte, error) {
	m := info.Modules[0]
	img, ok := rt.PhysMemory{}.Slice(m.Start, m.End-m.Start)
	if !ok {
		return nil, fmt.Errorf("module 0 at %#x-%#x is not readable", m.Start, m.End)
	}
	return img, nil
}

// dom0Initrd hands boot module 1, dom0's initrd, to domain d as Xen's
// dom0 builder does: the module's own frames, taken back from the
// reserved set (mm.Allocator.Adopt, so they return to the allocator when
// dom0 gives them up) and assigned to d. A module that does not start on
// a page boundary, or shares a page with another module or the boot
// information, is copied into frames from the allocator instead. nil
// without a module 1 or when it is empty.
func dom0Initrd(frames *mm.Allocator, machine *hv.Machine, d *hv.Domain, info *boot.Info) (*hv.Dom0Initrd, error) {
	if len(info.Modules) < 2 || info.Modules[1].End <= info.Modules[1].Start {
		return nil, nil
	}
	m := info.Modules[1]
	n := (m.End - m.Start + mm.PageSize - 1) / mm.PageSize
	first, end := m.Start&^(mm.PageSize-1), (m.End+mm.PageSize-1)&^(mm.PageSize-1)
	own := m.Start%mm.PageSize == 0
	for i, o := range info.Modules {
		if i != 1 && o.Start < end && o.End > first {
			own = false
		}
	}
	if _, infoAddr := rt.BootProtocol(); uint64(infoAddr) < end && uint64(infoAddr)+4096 > first {
		own = false
	}
	rd := &hv.Dom0Initrd{Len: m.End - m.Start}
	if own && frames.Adopt(mm.MFN(m.Start/mm.PageSize), n) == nil {
		for i := uint64(0); i < n; i++ {
			f := mm.MFN(m.Start/mm.PageSize + i)
			if err := machine.Frames().Assign(f, d.ID()); err != nil {
				return nil, fmt.Errorf("initrd frame %#x: %w", f, err)
			}
			rd.Frames = append(rd.Frames, f)
		}
		return rd, nil
	}
	mem := &machineMemory{}
	buf := make([]byte, mm.PageSize)
	for i := uint64(0); i < n; i++ {
		f, ok := frames.Alloc()
		if !ok {
			return nil, fmt.Errorf("no frame for page %d of the %d KiB initrd", i, rd.Len>>10)
		}
		if err := machine.Frames().Assign(f, d.ID()); err != nil {
			return nil, err
		}
		clear(buf)
		part := buf[:min(mm.PageSize, m.End-m.Start-i*mm.PageSize)]
		if !rt.ReadPhys(m.Start+i*mm.PageSize, part) || !mem.Write(f.Addr(), buf) {
			return nil, fmt.Errorf("initrd page %d (module 1 at %#x-%#x) could not be copied", i, m.Start, m.End)
		}
		rd.Frames = append(rd.Frames, f)
	}
	return rd, nil
}

// unpackProgress returns kernel.Load's progress callback: a console line
// at most every two seconds, so the console never stays silent through the
// unpacking (seconds under emulation).
func unpackProgress() func(done, total uint64) {
	last := time.Now()
	return func(done, total uint64) {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		if total > 0 {
			log.Lines([]string{fmt.Sprintf("*** Uncompressing dom0 kernel: %d%% (%d of %d MiB) ...", done*100/total, done>>20, total>>20)})
		} else {
			log.Lines([]string{fmt.Sprintf("*** Uncompressing dom0 kernel: %d MiB ...", done>>20)})
		}
	}
}

// dom0Frames gives dom0 its memory: dom0_mem of the free frames (Xen's
// default: all but min(1/16, 128 MiB)), each assigned to domain 0 in the
// frame table, lowest first (AllocN and AssignAll: one lock each, not two
// a frame).
func dom0Frames(frames *mm.Allocator, machine *hv.Machine, d *hv.Domain, opts *boot.Options) ([]mm.MFN, uint64, error) {
	avail := frames.FreeFrames() * mm.PageSize
	amount, maxRes := opts.Dom0Mem.Compute(avail)
	// Xen clamps an amount it cannot give silently; gohv says so, once.
	if l := opts.Dom0Mem.ClipLine(avail); l != "" {
		log.Lines([]string{l})
	}
	n := amount / mm.PageSize
	if n < 256 {
		return nil, 0, fmt.Errorf("dom0_mem leaves dom0 %d KiB", amount>>10)
	}
	mfns := frames.AllocN(make([]mm.MFN, 0, n), n)
	if _, err := machine.Frames().AssignAll(mfns, d.ID()); err != nil {
		return nil, 0, err
	}
	return mfns, maxRes, nil
}

// startDom0 builds domain 0 from module 0 (the kernel; its command line,
// less the file name where the loader put one there (CookDom0Cmdline),
// plus the " -- " extras of gohv's own line) and module 1, its initrd
// (whose command line, as on Xen, is not used; more modules are left
// alone, with Xen's warning). The caller starts its vCPU 0
// (Domain.UpVCPU).
//
// dom0 gets dom0_max_vcpus vCPUs of pcpus, the CPUs the machine has
// (Xen's dom0_max_vcpus(): as many as there are CPUs, raised to the
// option's minimum and lowered to its maximum, at most 32); vCPU 0 is
// built running, the others are down until dom0 brings them up
// (VCPUOP_initialise, VCPUOP_up). With dom0_vcpus_pin, vCPU i is pinned
// to CPU i mod pcpus.
func startDom0(machine *hv.Machine, frames *mm.Allocator, info *boot.Info, opts *boot.Options, extra string, pcpus int) (*hv.Domain, error) {
	img, err := dom0Module(info)
	if err != nil {
		return nil, err
	}
	if len(info.Modules) > 2 {
		log.Printf(klog.Warning, "Multiple initrd candidates, picking module #1")
	}
	// The vm_assist types the kernel asks for are set by the build
	// (BuildDom0Unpacked), once its notes are read.
	nvcpus := min(int(opts.Dom0MaxVCPUs.Clamp(uint32(max(pcpus, 1)))), evtchn.LegacyVCPUs)
	d, err := machine.CreateDomain(hv.DomainConfig{ID: 0, VCPUs: nvcpus, Hardware: true, IO: dom0IO(info)})
	if err != nil {
		return nil, err
	}
	if opts.Dom0VCPUsPin {
		// Xen places dom0's vCPU i on the CPUs in turn (dom0_setup_vcpu's
		// cpumask_cycle), so with more vCPUs than CPUs it wraps; pinning
		// makes that CPU its hard affinity.
		for i := 0; i < nvcpus; i++ {
			if err := d.SetVCPUAffinity(i, sched.CPUMaskOf(i%max(pcpus, 1))); err != nil {
				return nil, fmt.Errorf("dom0_vcpus_pin: vCPU %d: %w", i, err)
			}
		}
	}
	// Every vCPU's context on the metal exists before any vCPU runs or
	// an event is sent: backend.Kick reads BackendState from any
	// goroutine, so it is written only here.
	for i := range nvcpus {
		context(d.VCPU(i))
	}
	mfns, maxRes, err := dom0Frames(frames, machine, d, opts)
	if err != nil {
		return nil, err
	}
	initrd, err := dom0Initrd(frames, machine, d, info)
	if err != nil {
		return nil, err
	}
	maxPages := maxRes / mm.PageSize
	if initrd != nil {
		maxPages += uint64(len(initrd.Frames))
	}
	d.SetMaxPages(maxPages)
	log.Lines([]string{"*** Building a PV Dom0 ***"})
	t0 := time.Now()
	rt.SetHeapNote(fmt.Sprintf("unpacking dom0's kernel (module 0, %d KiB)", len(img)>>10))
	uk, err := d.UnpackDom0(img, mfns, unpackProgress())
	rt.SetHeapNote("")
	if err != nil {
		return nil, err
	}
	k := uk.Image // the module's copy in the heap is garbage from here
	pae := ""
	if k.Parms.PAE != kernel.XEN_PAE_NO {
		pae = ", PAE"
	}
	cmdline := boot.CookDom0Cmdline(info.Modules[0].Cmdline, info.Loader, info.Protocol == "pvh")
	if extra != "" {
		cmdline = strings.TrimSpace(cmdline + " " + extra)
	}
	if k.Compression != kernel.CompressionNone {
		log.Lines([]string{fmt.Sprintf("*** Uncompressed dom0 kernel (%v): %d KiB placed in dom0's memory in %d ms",
			k.Compression, (k.PEnd-k.PStart)>>10, time.Since(t0).Milliseconds())})
	}
	log.Lines([]string{
		" Xen  kernel: 64-bit, lsb",
		fmt.Sprintf(" Dom0 kernel: 64-bit%s, lsb, paddr %#x -> %#x", pae, k.PStart, k.PEnd),
		"PHYSICAL MEMORY ARRANGEMENT:",
		fmt.Sprintf(" Dom0 alloc.:   %016x->%016x (%d pages to be allocated)",
			uint64(mfns[0].Addr()), uint64(mfns[len(mfns)-1].Addr())+mm.PageSize, len(mfns)),
	})
	if initrd != nil {
		a := uint64(initrd.Frames[0].Addr())
		log.Lines([]string{fmt.Sprintf(" Init. ramdisk: %016x->%016x", a, a+initrd.Len)})
	}
	l, err := d.BuildDom0Unpacked(uk, mfns, cmdline, initrd)
	if err != nil {
		return nil, err
	}
	log.Lines(l.Lines())
	log.Lines([]string{fmt.Sprintf("Dom0 has maximum %d VCPUs", nvcpus)})
	return d, nil
}

// startVCPU runs vCPU v on its own goroutine, which keeps its kernel
// thread for the vCPU's lifetime (the thread is the vCPU): hv's
// Config.StartVCPU, called when the vCPU first comes up (the dom0
// builder's vCPU 0, VCPUOP_up for the others).
//
// While the guest runs, the runtime sees that goroutine running (the
// guest is entered by a call, not a system call): it holds its P. One P
// more than the vCPUs keeps gohv's own goroutines (timers behind the
// guests' VIRQ_TIMER, the console) running beside them, as soon as the
// shim's next tick gives their thread the CPU, instead of when the
// runtime preempts a vCPU goroutine (10 ms).
func startVCPU(v *hv.VCPU) {
	n := int(vcpus.Add(1)) + 1
	if runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	started.Lock()
	started.v = append(started.v, v)
	started.Unlock()
	go func() {
		runtime.LockOSThread()
		v.Run()
	}()
}

// vcpus counts the vCPUs started (startVCPU); started lists them, for
// the power-off report (cpuReport).
var (
	vcpus   atomic.Int32
	started struct {
		sync.Mutex
		v []*hv.VCPU
	}
)

// setThreadCPU binds the calling goroutine's thread (a vCPU's, locked to
// it by startVCPU) to physical CPU cpu (-1: every CPU online), through
// the shim's sched_setaffinity: hv's Config.SetCPU. A refusal (a CPU gone
// offline) is reported once; the thread then runs where the shim puts
// it.
func setThreadCPU(cpu int) {
	var set unix.CPUSet
	if cpu >= 0 {
		set.Set(cpu)
	} else {
		for c := 0; c < rt.OnlineCPUs(); c++ {
			set.Set(c)
		}
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil && !affinityWarned.Swap(true) {
		log.Printf(klog.Warning, "vCPU thread not bound to CPU%d: %v", cpu, err)
	}
}

// affinityWarned: setThreadCPU has reported a refusal.
var affinityWarned atomic.Bool
